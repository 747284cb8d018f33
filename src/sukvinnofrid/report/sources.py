"""What the site is made from: the round's protected publications and the report marts.

Publications (the latest version of each round, `sukvinnofrid.versioned`):
    <statistik>/<round>/vNNN/  statistik.json (funnel and national figures, withheld = '..'),
                               definitioner.json, tratt.csv, nationella_figurer.csv, manifest.json
    <kolada>/<round>/vNNN/     data.json, oudata.json, kpi.json, manifest.json
Marts (schema marts, all the publish stage may read): dim_reporting_units, fct_round_deliveries,
fct_key_figure_comparisons (the last two are withheld here, `sukvinnofrid.report.protection`).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..kolada.publish import PublicationError
from ..readers import ROUND_ID
from ..statistics import FUNNEL_COLUMNS, WITHHELD
from ..versioned import PUBLISHED_AT, code_digest, sha256_hex, versions

KON = ("T", "K", "M")


class ReportError(PublicationError):
    """The site cannot be written (Swedish message: the statistics team reads it)."""


class RoundNotPublished(ReportError):
    """The round has no publication to show."""


def latest_version(round_dir: Path) -> Path | None:
    found = versions(round_dir)
    return found[-1][1] if found else None


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# the statistics publication


@dataclass
class Statistics:
    """One round's statistics publication, indexed for the pages."""

    round_id: str
    directory: Path
    manifest: dict
    published_at: str
    areas: dict[str, dict[str, str]]  # level ('kommun', 'län', 'riket') -> code -> name
    funnel: dict[tuple[str, str, str], dict]  # (level, area, kön) -> column -> count or '..'
    # (period type, period, level, area, figure, breakdown, breakdown value) -> rows
    figures: dict[tuple, list[dict]] = field(default_factory=dict)
    definitions: dict[str, dict] = field(default_factory=dict)  # figure -> definition

    @property
    def suppression(self) -> str:
        return self.manifest["suppression"]

    @property
    def disclosure(self) -> str:
        """'suppression' or 'ckm' (the Cell Key Method; sukvinnofrid.cellkey)."""
        return self.manifest.get("disclosure", "suppression")

    @property
    def min_count(self) -> int:
        return int(self.manifest["min_count"])

    def group(
        self,
        figure: str,
        level: str = "riket",
        area: str = "00",
        breakdown: str = "alla",
        value: str = "alla",
        period: str | None = None,
    ) -> list[dict]:
        """The rows of one figure group (default: riket, the round)."""
        key = ("omgång", self.round_id) if period is None else ("år", period)
        return self.figures.get((*key, level, area, figure, breakdown, value), [])

    def years(self) -> list[str]:
        return sorted({key[1] for key in self.figures if key[0] == "år"})

    def breakdown_values(
        self, figure: str, breakdown: str, level: str = "riket", area: str = "00"
    ) -> list[str]:
        """The values a breakdown takes for a figure in the round."""
        if not hasattr(self, "_values"):
            self._values: dict[tuple, set[str]] = defaultdict(set)
            for key in self.figures:
                if key[0] == "omgång":
                    self._values[key[2:6]].add(key[6])
        return sorted(self._values.get((level, area, figure, breakdown), ()))


def _columns(table: dict) -> list[dict]:
    names = table["kolumner"]
    return [dict(zip(names, row, strict=True)) for row in table["rader"]]


def read_statistics(directory: Path, riket_round_only: bool = False) -> Statistics:
    """A statistics publication, with the national figures the site shows: riket with every
    breakdown, kommun and län for the round without a breakdown (`riket_round_only`: riket for
    the round only, as a previous round is shown). Rows are filtered before they become dicts:
    a national round's file has hundreds of thousands."""
    document = _json(directory / "statistik.json")
    funnel = {
        (row["niva"], row["omrade_kod"], row["kon"]): row for row in _columns(document["tratt"])
    }
    table = document["nationella_figurer"]
    names = table["kolumner"]
    period, level, breakdown = (names.index(c) for c in ("period_typ", "niva", "uppdelning"))

    def shown(row: list) -> bool:
        if riket_round_only:
            return row[level] == "riket" and row[period] == "omgång"
        return row[level] == "riket" or (row[period] == "omgång" and row[breakdown] == "alla")

    figures: dict[tuple, list[dict]] = defaultdict(list)
    for values in table["rader"]:
        if shown(values):
            row = dict(zip(names, values, strict=True))
            figures[
                (
                    row["period_typ"],
                    row["period"],
                    row["niva"],
                    row["omrade_kod"],
                    row["figur"],
                    row["uppdelning"],
                    row["uppdelning_varde"],
                )
            ].append(row)
    definitions = {d["figure_id"]: d for d in _json(directory / "definitioner.json")["figurer"]}
    return Statistics(
        round_id=document["omgang"],
        directory=directory,
        manifest=_json(directory / "manifest.json"),
        published_at=(directory / PUBLISHED_AT).read_text(encoding="ascii").strip(),
        areas=document["omraden"],
        funnel=funnel,
        figures=dict(figures),
        definitions=definitions,
    )


def read_funnel_csv(directory: Path) -> dict[tuple[str, str, str], dict]:
    """The funnel of a publication from its tratt.csv (small, unlike statistik.json):
    (level, area, kön) -> column -> count or '..'."""
    text = (directory / "tratt.csv").read_text(encoding="utf-8-sig")
    funnel = {}
    for row in csv.DictReader(io.StringIO(text), delimiter=";"):
        values = {
            c: (WITHHELD if row[c] == WITHHELD else int(row[c].replace("\u00a0", "")))
            for c in FUNNEL_COLUMNS
        }
        funnel[(row["nivå"], row["områdeskod"], row["kön"])] = values
    return funnel


def known_funnel(directory: Path) -> dict[tuple[str, str, str], dict]:
    """The funnel's counts as a reader knows them, for the protection of the site's own tables:
    as published, but under the Cell Key Method (manifest 'disclosure': 'ckm') no count is
    known exactly (each has its noise), so every cell is as good as withheld."""
    funnel = read_funnel_csv(directory)
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("disclosure") == "ckm":
        return {key: dict.fromkeys(cells, WITHHELD) for key, cells in funnel.items()}
    return funnel


# ---------------------------------------------------------------------------------------------
# the Kolada publication


@dataclass(frozen=True)
class KoladaCell:
    kpi: str
    unit: str  # kommun code or OU id
    year: int
    value: float | None
    status: str  # '' published, '..' withheld, '-' not reported for the whole year


@dataclass
class Kolada:
    round_id: str
    directory: Path
    manifest: dict
    kpis: list[dict]  # kpi.json values, in order
    cells: dict[tuple[str, str, int], KoladaCell]  # (kpi, unit, year) -> the published T cell

    @property
    def suppression(self) -> str:
        return self.manifest["suppression"]

    @property
    def preliminary(self) -> bool:
        return bool(self.manifest.get("preliminary"))

    def years(self) -> list[int]:
        return sorted({cell.year for cell in self.cells.values()})


def read_kolada(directory: Path) -> Kolada:
    cells = {}
    for name, unit_key in (("data.json", "municipality"), ("oudata.json", "ou")):
        for item in _json(directory / name)["values"]:
            for value in item["values"]:
                if value["gender"] != "T":
                    continue
                cell = KoladaCell(
                    item["kpi"],
                    item[unit_key],
                    int(item["period"]),
                    value["value"],
                    value["status"],
                )
                cells[(cell.kpi, cell.unit, cell.year)] = cell
    return Kolada(
        round_id=_json(directory / "manifest.json")["round"],
        directory=directory,
        manifest=_json(directory / "manifest.json"),
        kpis=_json(directory / "kpi.json")["values"],
        cells=cells,
    )


# ---------------------------------------------------------------------------------------------
# the marts


def _rows(conn, sql: str, **params) -> list[dict]:
    return [
        {k: (float(v) if isinstance(v, Decimal) else v) for k, v in row._mapping.items()}
        for row in conn.execute(sa.text(sql), params)
    ]


REPORT_MARTS = (
    "marts.dim_reporting_units",
    "marts.fct_round_deliveries",
    "marts.fct_key_figure_comparisons",
)


@dataclass
class Marts:
    units: dict[str, dict]  # unit code -> dim_reporting_units row
    deliveries: list[dict]  # fct_round_deliveries rows of the rounds up to the round
    comparisons: list[dict]  # fct_key_figure_comparisons rows of the round, gender T


def read_marts(engine: Engine, round_id: str) -> Marts:
    with engine.connect() as conn:
        for table in REPORT_MARTS:
            if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": table}).scalar() is None:
                raise ReportError(f"{table} finns inte: kör dbt build först.")
        units = {
            row["unit_kod"]: row
            for row in _rows(conn, "SELECT * FROM marts.dim_reporting_units ORDER BY unit_kod")
        }
        deliveries = _rows(
            conn,
            "SELECT * FROM marts.fct_round_deliveries WHERE round_id <= :r"
            " ORDER BY round_id, unit_kod",
            r=round_id,
        )
        comparisons = _rows(
            conn,
            "SELECT * FROM marts.fct_key_figure_comparisons"
            " WHERE round_id = :r AND gender = 'T'"
            " ORDER BY figure, level, area_code, year",
            r=round_id,
        )
    return Marts(units=units, deliveries=deliveries, comparisons=comparisons)


# ---------------------------------------------------------------------------------------------
# everything of a round


@dataclass
class RoundSources:
    round_id: str
    statistics: Statistics
    kolada: Kolada
    previous: Statistics | None  # the latest earlier round with a statistics publication
    # round -> its published funnel (tratt.csv) as a reader knows it, rounds up to this one
    funnels: dict[str, dict]
    marts: Marts


def inputs_digest(
    round_id: str,
    engine: Engine,
    statistik_root: Path,
    kolada_root: Path,
    output: Path,
    published_statistik_root: Path | None = None,
) -> str:
    """A digest of everything a round's site is made from, so an unchanged round is not read
    and rendered again: the publication versions it reads (immutable directories, so their
    names suffice), the report marts' rows (a sum of row hashes), the feedback reports it links
    to, and the code and reference data (`versioned.code_digest`)."""
    earlier_root = published_statistik_root or statistik_root

    def version(round_dir: Path) -> str | None:  # e.g. '2023-12/v002', wherever the output is
        found = latest_version(round_dir)
        return f"{round_dir.name}/{found.name}" if found else None

    parts: list = [
        round_id,
        code_digest(),
        version(statistik_root / round_id),
        version(kolada_root / round_id),
    ]
    if earlier_root.is_dir():
        parts += sorted(
            str(version(path))
            for path in earlier_root.iterdir()
            if ROUND_ID.match(path.name) and path.name < round_id
        )
    with engine.connect() as conn:
        for table in REPORT_MARTS:
            if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": table}).scalar() is None:
                parts.append(None)
                continue
            parts.append(
                tuple(
                    conn.execute(
                        sa.text(
                            f"SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text"
                            f" FROM {table} t"
                        )
                    ).one()
                )
            )
    feedback = output / "aterkoppling"
    if feedback.is_dir():
        parts += sorted(str(path.relative_to(feedback)) for path in feedback.rglob("*.html"))
    return sha256_hex(repr(parts).encode())


def read_sources(
    round_id: str,
    engine: Engine,
    statistik_root: Path,
    kolada_root: Path,
    published_statistik_root: Path | None = None,
) -> RoundSources:
    """The round's publications under the two roots (a draft's own roots when reviewing) and
    the earlier rounds' statistics under `published_statistik_root` (default: statistik_root)."""
    earlier_root = published_statistik_root or statistik_root
    statistik_dir = latest_version(statistik_root / round_id)
    kolada_dir = latest_version(kolada_root / round_id)
    if statistik_dir is None or kolada_dir is None:
        raise RoundNotPublished(
            f"omgång {round_id} är inte publicerad (ingen statistik i {statistik_root / round_id}"
            f" eller inga Kolada-filer i {kolada_root / round_id}): kör först "
            f"`sukvinnofrid publish --round {round_id}`"
        )
    earlier = sorted(
        path.name
        for path in (earlier_root.iterdir() if earlier_root.is_dir() else ())
        if ROUND_ID.match(path.name) and path.name < round_id and latest_version(path)
    )
    funnels = {name: known_funnel(latest_version(earlier_root / name)) for name in earlier}
    funnels[round_id] = known_funnel(statistik_dir)
    previous = (
        read_statistics(latest_version(earlier_root / earlier[-1]), riket_round_only=True)
        if earlier
        else None
    )
    return RoundSources(
        round_id=round_id,
        statistics=read_statistics(statistik_dir),
        kolada=read_kolada(kolada_dir),
        previous=previous,
        funnels=funnels,
        marts=read_marts(engine, round_id),
    )
