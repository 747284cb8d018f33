"""Reference data: län, kommuner, stadsdelar, size groups and adult population.

The single copy lives in the dbt seeds under ``dbt_project/seeds/reference/``; these loaders read
the same CSV files so Python and the warehouse never disagree. Every code is kept as text
(``"0114"``, ``"01"``, ``"0180-EAV"``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..config import get_settings

KOMMUN_CODE = re.compile(r"^\d{4}$")
STADSDEL_CODE = re.compile(r"^(\d{4})-[A-Z]{3}$")
KON = ("K", "M")


@dataclass(frozen=True)
class Kommun:
    kod: str
    namn: str
    lan_kod: str


@dataclass(frozen=True)
class Stadsdel:
    kod: str
    kommun_kod: str
    namn: str
    kolada_ou_id: str | None
    kolada_ou_id_status: str | None = None  # 'provisional' (our placeholder) or 'rka'


@dataclass(frozen=True)
class Storleksgrupp:
    kod: str
    namn: str
    min_invanare: int
    max_invanare: int | None

    def contains(self, invanare: int) -> bool:
        return invanare >= self.min_invanare and (
            self.max_invanare is None or invanare <= self.max_invanare
        )


def reference_dir() -> Path:
    """Directory of the reference seeds."""
    return get_settings().dbt_project_dir / "seeds" / "reference"


def _rows(name: str) -> list[dict[str, str]]:
    with open(reference_dir() / name, newline="", encoding="utf-8") as f:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]


@cache
def lan() -> dict[str, str]:
    """Länskod → län name (21)."""
    return {row["lan_kod"]: row["lan_namn"] for row in _rows("lan.csv")}


def read_kommuner(path: Path) -> dict[str, Kommun]:
    """Kommunkod → Kommun from a file laid out like kommuner.csv."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        return {
            row["kommun_kod"].strip(): Kommun(
                row["kommun_kod"].strip(), row["kommun_namn"].strip(), row["lan_kod"].strip()
            )
            for row in csv.DictReader(f)
        }


@cache
def kommuner() -> dict[str, Kommun]:
    """Kommunkod → Kommun (290)."""
    return read_kommuner(reference_dir() / "kommuner.csv")


@cache
def stadsdelar() -> dict[str, Stadsdel]:
    """Stadsdel code (``0180-EAV``) → Stadsdel."""
    return {
        row["stadsdel_kod"]: Stadsdel(
            row["stadsdel_kod"],
            row["kommun_kod"],
            row["stadsdel_namn"],
            row.get("kolada_ou_id") or None,
            row.get("kolada_ou_id_status") or None,
        )
        for row in _rows("stadsdelar.csv")
    }


@cache
def kommun_of_kolada_ou() -> dict[str, str]:
    """Kolada OU id of a stadsdel → its kommun code."""
    return {sd.kolada_ou_id: sd.kommun_kod for sd in stadsdelar().values() if sd.kolada_ou_id}


@cache
def kommungrupper() -> dict[str, Storleksgrupp]:
    """Size group code → Storleksgrupp, in ascending order of size."""
    return {
        row["storleksgrupp_kod"]: Storleksgrupp(
            row["storleksgrupp_kod"],
            row["storleksgrupp_namn"],
            int(row["min_invanare"]),
            int(row["max_invanare"]) if row["max_invanare"] else None,
        )
        for row in _rows("kommungrupper.csv")
    }


def storleksgrupp(invanare: int) -> Storleksgrupp:
    """The size group of a kommun with this number of inhabitants."""
    for group in kommungrupper().values():
        if group.contains(invanare):
            return group
    raise ValueError(f"no kommun size group for {invanare} inhabitants")


def reporting_unit_kommun(code: str) -> str | None:
    """The kommun code of a reporting unit: a kommun code or a stadsdel code; None if unknown."""
    code = (code or "").strip()
    if KOMMUN_CODE.match(code):
        return code if code in kommuner() else None
    stadsdel = stadsdelar().get(code.upper())
    return stadsdel.kommun_kod if stadsdel else None


@cache
def population_18plus() -> dict[tuple[str, int, str], int]:
    """(kommun_kod, year, kon) → inhabitants aged 18+ on 31 December; kon is ``K`` or ``M``."""
    return {
        (row["kommun_kod"], int(row["year"]), row["kon"]): int(row["population"])
        for row in _rows("population_18plus.csv")
    }


@cache
def kolada_population() -> dict[tuple[str, int, str], int]:
    """(Kolada unit, year, kön) → inhabitants aged 18+, as a reader of the Kolada files knows
    them: the unit a kommun code or a stadsdel's Kolada OU id, kön T (= K + M, where both are
    known), K or M; the same seeds, and the same T, as the key figures' mart (dbt macro
    population_by_gender)."""
    ou_of = {sd.kod: sd.kolada_ou_id for sd in stadsdelar().values() if sd.kolada_ou_id}
    units = [(row["kommun_kod"], row) for row in _rows("population_18plus.csv")] + [
        (ou_of[row["stadsdel_kod"]], row)
        for row in _rows("population_18plus_stadsdelar.csv")
        if row["stadsdel_kod"] in ou_of
    ]
    population: dict[tuple[str, int, str], int] = {}
    for unit, row in units:
        population[(unit, int(row["year"]), row["kon"])] = int(row["population"])
    for unit, year, _ in list(population):
        if all((unit, year, kon) in population for kon in KON):
            population[(unit, year, "T")] = sum(population[(unit, year, kon)] for kon in KON)
    return population


@cache
def size_groups() -> dict[str, dict[str, str]]:
    """Kommun → {"storleksgrupp": code, "befolkningsgrupp": code}, by its total inhabitants in
    the latest year of seed population_total (as dbt's int_kommun_storleksgrupper)."""
    latest: dict[str, tuple[int, int]] = {}
    for row in _rows("population_total.csv"):
        if row["population"]:
            year = int(row["year"])
            if row["kommun_kod"] not in latest or year > latest[row["kommun_kod"]][0]:
                latest[row["kommun_kod"]] = (year, int(row["population"]))
    groupings = {
        "storleksgrupp": _rows("kommungrupper.csv"),
        "befolkningsgrupp": _rows("befolkningsgrupper.csv"),
    }
    return {
        kommun: {
            grouping: row[f"{grouping}_kod"]
            for grouping, rows in groupings.items()
            for row in rows
            if int(row["min_invanare"]) <= invanare
            and (not row["max_invanare"] or invanare <= int(row["max_invanare"]))
        }
        for kommun, (_, invanare) in latest.items()
    }


def clear_cache() -> None:
    """Forget loaded files (after a refresh rewrote a seed, or in tests)."""
    for loader in (
        lan,
        kommuner,
        stadsdelar,
        kommungrupper,
        population_18plus,
        kolada_population,
        size_groups,
    ):
        loader.cache_clear()


__all__ = [
    "KON",
    "Kommun",
    "Stadsdel",
    "Storleksgrupp",
    "clear_cache",
    "kolada_population",
    "kommuner",
    "kommungrupper",
    "lan",
    "population_18plus",
    "reference_dir",
    "reporting_unit_kommun",
    "size_groups",
    "stadsdelar",
    "storleksgrupp",
]
