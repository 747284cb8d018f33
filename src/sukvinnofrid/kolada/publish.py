"""Publish the key figures of a round as Kolada v3 files in a new, immutable, versioned directory.

    output/kolada/<round_id>/v001/
        data.json        Kolada v3 data envelope (all published kommun cells, one page)
        data.csv         the same cells flat: kpi;municipality;period;gender;value;status
        oudata.json      Kolada v3 OU data envelope: the Stockholm/Göteborg stadsdelar
        oudata.csv       the same cells flat: kpi;ou;period;gender;value;status
        kpi.json         Kolada v3 KPI envelope (catalogue metadata of the published KPIs)
        manifest.json    round, code version, settings, population source, suppression rule,
                         row counts, sha256 of the data files
        published_at.txt when this version was written (UTC); the only non-reproducible file

A round is published as of itself: only the mart rows of that round (fct_kolada_key_figures is
computed per round from the uploads in force for it), so re-publishing an earlier round after
later rounds arrived gives the same bytes. A round with no accepted upload, or one whose
publication time (the round calendar, sukvinnofrid.rounds) has not come, is refused.
Everything except published_at.txt is a pure function of the mart, kpis.yaml and the code
version, so publishing an unchanged round again gives byte-identical files; `publish` then
returns the latest version instead of writing a new one. A version is written into a temporary
directory next to it and renamed into place, so a failure never leaves a half publication.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import re
import subprocess
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .. import __version__, reference
from ..catalogue.figures import load_figures
from ..config import get_settings
from ..disclosure import is_sensitive
from ..formats import swedish_int
from ..readers import ROUND_ID
from ..reference import Kommun, read_kommuner
from ..revisions import (
    KOLADA_TABLES,
    LOG_FILE,
    changed_deliveries,
    deliveries_in_force,
    revision_log,
)
from ..rounds import calendar_round
from ..versioned import json_bytes, latest_manifest, same_content, sha256_hex, write_version
from .definitions import Definitions, KpiDefinition, load_definitions
from .disclosure import (
    GENDER_ORDER,
    NOT_COVERED,
    PRIMARY,
    PUBLISHED,
    SIZE_GROUPINGS,
    WITHHELD_REASONS,
    Cell,
    CellDecision,
    apply_disclosure,
    round_value,
    total_key,
)

log = logging.getLogger(__name__)

MART_TABLE = "marts.fct_kolada_key_figures"
DATA_FILES = ("data.json", "data.csv", "oudata.json", "oudata.csv", "kpi.json")
MANIFEST = "manifest.json"
CSV_COLUMNS = ("kpi", "municipality", "period", "gender", "value", "status")
OU_CSV_COLUMNS = ("kpi", "ou", "period", "gender", "value", "status")
_KOMMUN_KOD = re.compile(r"^\d{4}$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class PublicationError(RuntimeError):
    """The round cannot be published (no mart, no such round, bad reference data). The message
    is Swedish: the statistics team reads it."""


class ReferenceDataError(PublicationError):
    """A kommun in the mart is not in the reference kommun list (or its code is malformed)."""


@dataclass(frozen=True)
class MissingPopulation:
    kommun_kod: str
    kommun_namn: str | None
    year: int
    gender: str
    kpis: tuple[str, ...]

    def __str__(self) -> str:
        name = f" {self.kommun_namn}" if self.kommun_namn else ""
        return f"{self.kommun_kod}{name} {self.year} {self.gender} ({', '.join(self.kpis)})"


class MissingPopulationError(PublicationError):
    """Population 18+ (or the value) is missing for cells that would be published."""

    SHOWN = 10  # the message names this many; `missing` holds them all

    def __init__(self, missing: Iterable[MissingPopulation]):
        self.missing = tuple(missing)
        listed = "; ".join(str(m) for m in self.missing[: self.SHOWN])
        more = len(self.missing) - self.SHOWN
        years = sorted({m.year for m in self.missing})
        super().__init__(
            f"Befolkning 18+ saknas för {len(self.missing)} kombinationer av kommun, år och kön "
            f"som skulle publiceras (år {', '.join(map(str, years))}): {listed}"
            + (f" och {more} till" if more > 0 else "")
            + ". Lägg till befolkningen i dbt_project/seeds/reference (sukvinnofrid "
            "refresh-population) och bygg om."
        )


@dataclass(frozen=True)
class Publication:
    round_id: str
    version: str  # "v001"
    directory: Path
    reused: bool  # True: the content equalled the latest version, which is returned unchanged
    sha256: dict[str, str]  # file name -> sha256 of DATA_FILES
    decisions: tuple[CellDecision, ...]  # every cell read, with its disclosure decision
    notes: tuple[str, ...]  # relations secondary suppression could not protect
    preliminary: bool = False  # published with approximate population figures
    revision_log: Path | None = None  # a revision's revisionslogg.csv against the version before

    @property
    def files(self) -> dict[str, Path]:
        return {name: self.directory / name for name in (*DATA_FILES, MANIFEST)}


# ----------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class MartRow:
    figure: str
    area_type: str  # kommun | ou
    kommun_kod: str
    kolada_id: str  # the kommun code, or a stadsdel's Kolada OU id
    year: int
    gender: str
    covered: bool  # the unit covers the whole year (dbt macro year_covered)
    case_count: int
    population_18plus: int | None
    population_source: str | None  # scb | approximation
    value_per_10000: Any
    value_method: str  # kvot | medel_stadsdelar


def read_mart(engine: Engine, round_id: str) -> list[MartRow]:
    """The mart rows of one round (the round as of itself); refuses a round the marts lack."""
    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": MART_TABLE}).scalar() is None:
            raise PublicationError(f"{MART_TABLE} finns inte: kör dbt build först.")
        result = conn.execute(
            sa.text(
                f"SELECT figure, area_type, kommun_kod, kolada_id, year, gender, covered,"
                f" case_count, population_18plus, population_source, value_per_10000,"
                f" value_method FROM {MART_TABLE} WHERE round_id = :round"
            ),
            {"round": round_id},
        )
        rows = [MartRow(*row) for row in result]
        if (
            not rows
            and not conn.execute(
                sa.text(
                    "SELECT EXISTS (SELECT 1 FROM marts.fct_case_funnel WHERE round_id = :round)"
                ),
                {"round": round_id},
            ).scalar()
        ):
            raise PublicationError(
                f"Omgång {round_id} har inga godkända uppladdningar: det finns inget att publicera."
            )
        return rows


def kommuner_with_cases(engine: Engine, round_id: str) -> set[str]:
    """The kommuner with a case in the round (directly or through a stadsdel): the kommun areas
    of the round's funnel, which counts every case in force for the round."""
    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT area_code FROM marts.fct_case_funnel"
                    " WHERE round_id = :round AND level = 'kommun'"
                ),
                {"round": round_id},
            ).scalars()
        )


def check_round_due(round_id: str, now: dt.datetime | None = None, draft: bool = False) -> None:
    """A round is published at its publication time (the round calendar), not before; its
    draft for review once its last delivery day has passed."""
    dates = calendar_round(round_id)
    if draft and not dates.delivery_over(now):
        raise PublicationError(
            f"Omgång {round_id} har sista leveransdag {dates.last_delivery_day.isoformat()}; "
            "inget utkast kan granskas före det."
        )
    if not draft and not dates.is_due(now):
        raise PublicationError(
            f"Omgång {round_id} stänger {dates.closes.isoformat()} och publiceras "
            f"{dates.publication:%Y-%m-%d kl. %H.%M}; den kan inte publiceras före det."
        )


def last_complete_year(round_id: str) -> int:
    """The last calendar year a round covers completely (the round closes at its month's end)."""
    year, month = (int(part) for part in round_id.split("-"))
    return year if month == 12 else year - 1


# ----------------------------------------------------------------------------------------------
# rendering


def csv_safe(text: str) -> str:
    """Neutralise spreadsheet formula injection: a text starting with = + - @ TAB CR gets a '."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _value_text(value: float | None) -> str:
    return "" if value is None else json.dumps(value)


def render_data(decisions: Iterable[CellDecision], ou: bool = False) -> list[dict]:
    """The v3 data items of the kommun cells (or, `ou`, the stadsdel cells as OU data)."""
    items: dict[tuple, list[CellDecision]] = defaultdict(list)
    for d in decisions:
        if d.in_output and bool(d.cell.ou) == ou:
            items[(d.cell.kpi, d.cell.year, d.cell.ou or d.cell.kommun)].append(d)
    values = []
    for (kpi, year, unit), cells in sorted(items.items()):
        cells.sort(key=lambda d: GENDER_ORDER.index(d.cell.gender))
        values.append(
            {
                "kpi": kpi,
                "ou" if ou else "municipality": unit,
                "period": year,
                "values": [
                    {
                        "gender": d.cell.gender,
                        "count": 1,
                        "status": d.status,
                        "value": d.value,
                        "isdeleted": False,
                    }
                    for d in cells
                ],
            }
        )
    return values


def _envelope(values: list[dict]) -> bytes:
    return json_bytes(
        {"count": len(values), "next_url": None, "previous_url": None, "values": values}
    )


def _flat_csv(values: list[dict], columns: tuple[str, ...]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    unit = columns[1]
    for item in values:
        for v in item["values"]:
            # statuses are our own markers ('..', '-'), not data: no formula neutralising
            writer.writerow(
                [
                    csv_safe(item["kpi"]),
                    csv_safe(item[unit]),
                    str(item["period"]),
                    csv_safe(v["gender"]),
                    _value_text(v["value"]),
                    v["status"],
                ]
            )
    return buf.getvalue().encode("utf-8")


def render_files(
    values: list[dict],
    ou_values: list[dict],
    kpis: Iterable[KpiDefinition],
    descriptions: dict[str, str] | None = None,
) -> dict[str, bytes]:
    """The data files; `descriptions` fills placeholders of the KPI descriptions."""
    catalogue = []
    for kpi in kpis:
        entry = kpi.catalogue_entry()
        for placeholder, text in (descriptions or {}).items():
            entry["description"] = entry["description"].replace(placeholder, text)
        catalogue.append(entry)
    return {
        "data.json": _envelope(values),
        "data.csv": _flat_csv(values, CSV_COLUMNS),
        "oudata.json": _envelope(ou_values),
        "oudata.csv": _flat_csv(ou_values, OU_CSV_COLUMNS),
        "kpi.json": _envelope(catalogue),
    }


def git_commit() -> str | None:
    """The commit of the checkout this code runs from, or None (not a git checkout, no git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if re.fullmatch(r"[0-9a-f]{40}", commit) else None


def render_manifest(
    round_id: str,
    files: dict[str, bytes],
    values: list[dict],
    ou_values: list[dict],
    decisions: tuple[CellDecision, ...],
    definitions: Definitions,
    notes: tuple[str, ...],
    population_text: str,
    preliminary: bool,
    in_force: dict | None = None,
    revision_of: str | None = None,
) -> bytes:
    out = [d for d in decisions if d.in_output]
    withheld = {reason: sum(1 for d in out if d.reason == reason) for reason in WITHHELD_REASONS}
    ou_status = sorted(
        {
            sd.kolada_ou_id_status
            for sd in reference.stadsdelar().values()
            if sd.kolada_ou_id in {item["ou"] for item in ou_values}
        }
    )
    manifest = {
        "round": round_id,
        "code": {"package": "sukvinnofrid", "version": __version__, "git_commit": git_commit()},
        "settings": definitions.settings.as_dict(),
        "kpis": [kpi.id for kpi in definitions.kpis],
        "years": sorted({item["period"] for item in values + ou_values}),
        "preliminary": preliminary,
        "population": population_text,
        "suppression": suppression_rule(definitions.settings),
        "ou_ids": ou_status,
        "rows": {
            "data.json": len(values),
            "data.csv": sum(1 for d in out if not d.cell.ou),
            "oudata.json": len(ou_values),
            "oudata.csv": sum(1 for d in out if d.cell.ou),
            "kpi.json": len(definitions.kpis),
            "cells_published": sum(1 for d in out if d.reason == "published"),
            "cells_withheld": sum(withheld.values()),
            "cells_not_covered": sum(1 for d in out if d.reason == NOT_COVERED),
            "withheld_by_reason": withheld,
        },
        "files": {
            name: {"bytes": len(data), "sha256": sha256_hex(data)} for name, data in files.items()
        },
        # the units' uploads the version is made of, and the version a revision revises: what
        # the next revision's log reads
        "in_force": in_force or {},
        "revision_of": revision_of,
        "notes": list(notes),
    }
    return json_bytes(manifest)


# ----------------------------------------------------------------------------------------------
# the step


def size_groups(engine: Engine) -> dict[str, tuple[tuple[str, str], ...]]:
    """Each kommun's size groups (marts.dim_reporting_units), by which the national statistics
    publish each year's cases: kommun -> ((grouping, code), ...)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT kommun_kod, storleksgrupp_kod, befolkningsgrupp_kod"
                " FROM marts.dim_reporting_units WHERE unit_type = 'kommun'"
            )
        ).all()
    return {
        kommun: tuple(
            (grouping, str(code))
            for grouping, code in zip(SIZE_GROUPINGS, codes, strict=True)
            if code is not None
        )
        for kommun, *codes in rows
    }


def build_cells(
    rows: list[MartRow],
    definitions: Definitions,
    round_id: str,
    kommuner: dict[str, Kommun] | None,
    groups: dict[str, tuple[tuple[str, str], ...]],
) -> dict[str, list[Cell]]:
    """Check the mart rows against definitions and reference data; cells per KPI id (with each
    kommun's size groups from `groups`, see size_groups)."""
    by_figure = definitions.by_figure()
    max_year = last_complete_year(round_id) if definitions.settings.complete_years_only else None
    ou_names = {
        sd.kolada_ou_id: sd.namn for sd in reference.stadsdelar().values() if sd.kolada_ou_id
    }
    cells: dict[str, list[Cell]] = defaultdict(list)
    unknown: set[str] = set()
    missing: dict[tuple[str, int, str], list[str]] = defaultdict(list)
    names: dict[str, str | None] = {}
    skipped_figures: set[str] = set()
    for row in rows:
        kpi = by_figure.get(row.figure)
        if kpi is None:
            skipped_figures.add(row.figure)
            continue
        if max_year is not None and row.year > max_year:
            continue
        kod = (row.kommun_kod or "").strip()
        if not _KOMMUN_KOD.match(kod) or (kommuner is not None and kod not in kommuner):
            unknown.add(kod)
            continue
        ou = row.kolada_id if row.area_type == "ou" else ""
        unit = ou or kod
        names[unit] = ou_names.get(ou) if ou else (kommuner[kod].namn if kommuner else None)
        if (
            row.covered
            and row.gender in kpi.published_genders
            and (
                row.population_18plus is None
                or row.population_18plus <= 0
                or row.value_per_10000 is None
            )
        ):
            missing[(unit, row.year, row.gender)].append(kpi.id)
        cells[kpi.id].append(
            Cell(
                kpi=kpi.id,
                kommun=kod,
                year=int(row.year),
                gender=row.gender,
                case_count=int(row.case_count),
                value=row.value_per_10000,
                lan=kommuner[kod].lan_kod if kommuner is not None else "",
                ou=ou,
                covered=bool(row.covered),
                by_stadsdel=row.value_method == "medel_stadsdelar",
                size_groups=groups.get(kod, ()),
            )
        )
    if skipped_figures:
        log.warning(
            "mart figures without a KPI definition, not published: %s", sorted(skipped_figures)
        )
    if unknown:
        raise ReferenceDataError(
            f"Kommunkoder i {MART_TABLE} som inte finns i referenslistan över kommuner: "
            f"{', '.join(sorted(unknown))}"
        )
    if missing:
        raise MissingPopulationError(
            MissingPopulation(
                kommun_kod=unit,
                kommun_namn=names.get(unit),
                year=year,
                gender=gender,
                kpis=tuple(sorted(set(kpi_ids))),
            )
            for (unit, year, gender), kpi_ids in sorted(
                missing.items(), key=lambda kv: (kv[0][0], kv[0][1], GENDER_ORDER.index(kv[0][2]))
            )
        )
    return cells


def population_sources(rows: list[MartRow], definitions: Definitions) -> set[str]:
    """Where the population behind the cells a round publishes comes from (scb,
    approximation)."""
    by_figure = definitions.by_figure()
    return {
        row.population_source or "approximation"
        for row in rows
        if row.covered
        and row.figure in by_figure
        and row.gender in by_figure[row.figure].published_genders
    }


def round_is_preliminary(engine: Engine, round_id: str) -> bool:
    """Whether the round's Kolada publication (with the key figures of kpis.yaml) is
    preliminary: the round's other publications are marked with it."""
    return population_note(population_sources(read_mart(engine, round_id), load_definitions()))[1]


def population_note(sources: set[str]) -> tuple[str, bool]:
    """The published statement of where the population comes from, and whether it makes the
    publication preliminary (any approximation behind a published value)."""
    preliminary = "approximation" in sources
    text = (
        "Befolkningen 18 år och äldre är SCB:s folkmängd 31 december (tabell BE0101N1) per "
        "kommun; för stadsdelar i Stockholm och Göteborg städernas egen statistik."
    )
    if preliminary:
        text = (
            "PRELIMINÄRA VÄRDEN: befolkningen 18 år och äldre är en uppskattning, inte SCB:s "
            "folkmängd, och värdena ändras när SCB:s siffror läses in."
        )
    return text, preliminary


def _stadsdelar(n: int) -> str:
    return f"{swedish_int(n)} {'stadsdel' if n == 1 else 'stadsdelar'}"


def city_units(
    rows: list[MartRow],
    with_cases: set[str],
    definitions: Definitions,
    round_id: str,
    kommuner: dict[str, Kommun] | None,
) -> str:
    """The published statement of how each city with stadsdelar (Stockholm, Göteborg: the
    kommuner of the stadsdel reference list) reported in the round: through how many stadsdelar
    (OU data), its value the mean of those that reported the whole year (how many each year when
    not all did), as one kommun (a ratio over the whole city, no OU data), no values (cases, but
    no year reported in full) or not at all (no case: not in `with_cases`). From the round's
    rows only, so the round is published as of itself."""
    by_figure = definitions.by_figure()
    max_year = last_complete_year(round_id) if definitions.settings.complete_years_only else None
    published = [
        row
        for row in rows
        if row.figure in by_figure and (max_year is None or row.year <= max_year)
    ]
    covered = [row for row in published if row.covered]
    sentences = []
    for kod in sorted({sd.kommun_kod for sd in reference.stadsdelar().values()}):
        name = kommuner[kod].namn if kommuner and kod in kommuner else kod
        methods = {
            r.value_method for r in covered if r.area_type == "kommun" and r.kommun_kod == kod
        }
        if not methods and kod not in with_cases:
            sentences.append(f"I omgång {round_id} deltog {name} inte.")
        elif not methods:
            sentences.append(
                f"I omgång {round_id} har {name} inga värden: staden har inte rapporterat något "
                "helt år."
            )
        elif "medel_stadsdelar" not in methods:
            sentences.append(
                f"I omgång {round_id} rapporterade {name} som en kommun, och stadens värde är "
                "beräknat för hela staden; stadsdelarna redovisas inte som enhetsdata."
            )
        else:
            per_year: dict[int, set[str]] = defaultdict(set)
            for r in covered:
                if r.area_type == "ou" and r.kommun_kod == kod:
                    per_year[r.year].add(r.kolada_id)
            units = {r.kolada_id for r in published if r.area_type == "ou" and r.kommun_kod == kod}
            text = (
                f"I omgång {round_id} rapporterade {name} genom {_stadsdelar(len(units))}, och "
                "stadens värde är medelvärdet av "
            )
            if all(len(ous) == len(units) for ous in per_year.values()):
                text += "deras värden."
            else:
                years = [
                    f"{_stadsdelar(len(ous))} {year}" for year, ous in sorted(per_year.items())
                ]
                text += (
                    "värdena för de stadsdelar som har rapporterat hela året: "
                    f"{', '.join(years[:-1])} och {years[-1]}."
                )
            sentences.append(text)
    return " ".join(sentences)


def statistics_populations(definitions: Definitions) -> dict[str, str]:
    """Key figure id -> the population of the statistics it counts by the same year
    (FigureCatalogue.statistics_population), for the key figures that count one."""
    catalogue = load_figures()
    populations = {
        kpi.id: catalogue.statistics_population(catalogue.kolada_figure(kpi.figure))
        for kpi in definitions.kpis
    }
    return {kpi: population for kpi, population in populations.items() if population}


def withheld_totals(directory: Path, definitions: Definitions) -> set[tuple]:
    """The totals over kommun cells (disclosure.total_key) that the national statistics version
    in `directory` withholds: for each key figure counting a population of the statistics by the
    same year (FigureCatalogue.statistics_population), its year cells of a kommun, a län and
    riket, by kön and by the kommuner's size groups (disclosure relation f)."""
    from ..statistics import year_totals  # the statistics import this module

    totals: set[tuple] = set()
    for kpi, population in statistics_populations(definitions).items():
        for (year, level, area, breakdown, value), withheld in year_totals(
            directory, population
        ).items():
            if not withheld:
                continue
            where = {"kommun": f"kommun {area}", "lan": f"län {area}"}.get(level, "riket")
            if breakdown in ("alla", "kon"):
                totals.add(total_key(kpi, year, where, "T" if breakdown == "alla" else value))
            else:  # a size group: every case (T)
                totals.add(total_key(kpi, year, f"{breakdown} {value} {where}", "T"))
    return totals


def withheld_with_statistics(directory: Path, definitions: Definitions) -> set[tuple]:
    """The kommun cells (Cell.key, T) that the statistics version in `directory` withholds
    with its year cells (statistics.kolada_withheld_in), for each key figure counting that
    population by the same year (disclosure relation f)."""
    from ..statistics import kolada_withheld_in  # the statistics import this module

    withheld = kolada_withheld_in(directory)
    return {
        (kpi, year, kommun, "", "T")
        for kpi, population in statistics_populations(definitions).items()
        for _, counted, year, kommun in withheld
        if counted == population
    }


def withheld_in(directory: Path, withheld_status: str) -> set[tuple]:
    """The cells (Cell.key) a published Kolada version withheld, read from its data.csv and
    oudata.csv (a stadsdel's kommun from the reference seeds)."""
    kommun_of = reference.kommun_of_kolada_ou()
    withheld: set[tuple] = set()
    for name, column in (("data.csv", "municipality"), ("oudata.csv", "ou")):
        text = (directory / name).read_text("utf-8-sig")
        for row in csv.DictReader(io.StringIO(text), delimiter=";"):
            if row["status"] == withheld_status:
                unit = row[column]
                kommun, ou = (kommun_of.get(unit, ""), unit) if column == "ou" else (unit, "")
                withheld.add((row["kpi"], int(row["period"]), kommun, ou, row["gender"]))
    return withheld


def audited_with_statistics(
    decisions: tuple[CellDecision, ...], statistics: Path, definitions: Definitions
) -> tuple[CellDecision, ...]:
    """The last step before the Kolada files are written: the independent attack on them read
    together with the statistics version in `statistics` (published already, audited on its
    own) and the population a reader knows. A withheld Kolada value it works out exactly, whose
    count is 0 or min_count or more, is published after all (a reader has it anyway; its
    relations are attacked again), at most AUDIT_PASSES times; any other finding, or findings
    left after the passes, raise DisclosureRefused naming the cells. A version perturbed by the
    Cell Key Method has no withheld counts to attack (its year cells are noise)."""
    from ..statistics import (
        AUDIT_PASSES,
        MANIFEST,
        DisclosureRefused,
        audit_with_kolada,
        describe_finding,
    )

    manifest = json.loads((statistics / MANIFEST).read_text())
    if manifest.get("disclosure") != "suppression":
        return decisions
    settings = definitions.settings
    for _ in range(AUDIT_PASSES):
        files = render_files(
            render_data(decisions), render_data(decisions, ou=True), definitions.kpis
        )
        result = audit_with_kolada(statistics, files, manifest["min_count"])
        log.info(
            "Kolada audited with the statistics: %s withheld, %s found",
            result.withheld,
            len(result.findings),
        )
        settled = {
            f.cell
            for f in result.findings
            if f.cell[0] == "kolada"
            and f.low == f.high
            and not is_sensitive(f.low, settings.min_count)
        }
        if not result.findings or len(settled) < len(result.findings):
            break
        decisions = tuple(
            CellDecision(d.cell, True, round_value(d.cell.value, settings.decimals), "", PUBLISHED)
            if _audit_cell(d.cell) in settled
            else d
            for d in decisions
        )
    if not result.findings:
        return decisions
    found = [f for f in result.findings if f.cell not in settled] or result.findings
    raise DisclosureRefused(
        f"Kolada-filerna publiceras inte: tillsammans med statistiken ({statistics.name}) kan "
        f"granskningen räkna fram eller ringa in {len(found)} undanhållna antal: "
        + "; ".join(describe_finding(f) for f in found[:20])
        + (f" med flera ({len(found) - 20} till)" if len(found) > 20 else "")
        + ". Statistiken är publicerad (den prövades för sig); inga Kolada-filer har skrivits."
    )


def _audit_cell(cell: Cell) -> tuple[str, str, str, str, str]:
    """A Kolada cell as the audit names it: ("kolada", kpi, unit, year, kön)."""
    return ("kolada", cell.kpi, cell.ou or cell.kommun, str(cell.year), cell.gender)


def suppression_rule(settings) -> str:
    """The published statement of the disclosure rule (sukvinnofrid.disclosure), in full."""
    return (
        f"Värden som bygger på 1–{settings.min_count - 1} ärenden redovisas inte "
        f"(markeras {settings.withheld_status}). I varje samband där ett sådant värde annars "
        "vore det enda som saknas (kvinnor och män, länet, riket, kommunernas storleksgrupper "
        "i riket och i länet och stadsdelarna i Stockholm och Göteborg) redovisas ytterligare "
        "ett värde inte; en summa för länet, riket eller en storleksgrupp som den nationella "
        "statistiken undanhåller räknas då som ett värde som saknas, och ett värde som "
        "statistikens skydd undanhåller tillsammans med sina årsvärden redovisas inte heller "
        "här. Ett värde som en tidigare version av omgången undanhöll, eller omgången före "
        "för samma år, redovisas inte heller nu. Därför kan även ett värde som "
        f"bygger på {settings.min_count} eller fler ärenden saknas. Skyddet gäller varje "
        "samband för sig och varje nyckeltal för sig. 0 är en verklig nolla. Ett år som "
        f"kommunen inte har rapporterat i sin helhet redovisas utan värde (markeras "
        f"{settings.not_covered_status})."
    )


def publish(
    round_id: str,
    engine: Engine | None = None,
    output_dir: Path | None = None,
    *,
    kommuner_csv: Path | None = None,
    definitions: Definitions | None = None,
    allow_approximate_population: bool | None = None,
    draft: bool = False,
    revision_of: Path | None = None,
    statistics: Callable[[], Path] | None = None,
) -> Publication:
    """Publish the mart's key figures for `round_id` (ÅÅÅÅ-MM) as a new Kolada version.

    `statistics`: publishes the round's national statistics and returns their version's
    directory. It is called once this publication is known not to be refused, before its
    cells are decided: a key figure counting the cases of a population of the statistics by the
    same year keeps the year totals they withhold hidden (withheld_totals, disclosure relation
    f).

    `output_dir` is the Kolada output root (default `<settings.output>/kolada`); the version goes
    to `<output_dir>/<round_id>/vNNN/`. Refuses (PublicationError, before anything is written) a
    round whose publication time has not come or that has no accepted upload, missing population
    (MissingPopulationError) and, unless allowed (SUKF_ALLOW_APPROXIMATE_POPULATION), population
    figures that are approximations; allowed, the publication is marked preliminary. A `draft`
    (for review) may be written once the round's last delivery day has passed. A version after
    the first is a revision: it carries revisionslogg.csv against the latest version under
    `revision_of` (default: this output; a draft compares with the published files).
    """
    if not ROUND_ID.match(round_id or ""):
        raise ValueError(f"round id {round_id!r} is not of the form ÅÅÅÅ-MM")
    check_round_due(round_id, draft=draft)
    if engine is None:
        from ..warehouse import engine as warehouse_engine

        engine = warehouse_engine()
    definitions = definitions or load_definitions()
    settings = definitions.settings
    if allow_approximate_population is None:
        allow_approximate_population = get_settings().allow_approximate_population
    kommuner = read_kommuner(kommuner_csv) if kommuner_csv else reference.kommuner()

    rows = read_mart(engine, round_id)
    cells = build_cells(rows, definitions, round_id, kommuner, size_groups(engine))
    if not cells:
        raise PublicationError(f"Omgång {round_id} har inga värden att publicera.")

    population_text, preliminary = population_note(population_sources(rows, definitions))
    if preliminary and not allow_approximate_population:
        raise PublicationError(
            "Befolkningsuppgifterna är uppskattningar, inte SCB:s siffror: kör "
            "`sukvinnofrid refresh-population` där SCB kan nås, eller publicera preliminärt med "
            "SUKF_ALLOW_APPROXIMATE_POPULATION=1."
        )
    # nothing refused: the statistics are published now, and decide the cells they share
    statistics_dir = statistics() if statistics is not None else None
    shared = withheld_totals(statistics_dir, definitions) if statistics_dir else set()
    with_statistics = (
        withheld_with_statistics(statistics_dir, definitions) if statistics_dir else set()
    )
    root = Path(output_dir) if output_dir is not None else get_settings().output / "kolada"
    revised = latest_manifest((revision_of or root) / round_id, MANIFEST)
    # a revision keeps what the version before withheld, a first version what the round
    # before withheld of the years both publish
    from ..statistics import adjacent_round  # the statistics import this module

    earlier = revised[0] if revised else adjacent_round(revision_of or root, round_id)
    before = withheld_in(earlier, settings.withheld_status) if earlier else set()
    decisions: list[CellDecision] = []
    notes: list[str] = []
    for kpi in definitions.kpis:
        result = apply_disclosure(
            cells.get(kpi.id, []),
            published_genders=kpi.published_genders,
            min_count=settings.min_count,
            withheld_status=settings.withheld_status,
            not_covered_status=settings.not_covered_status,
            decimals=settings.decimals,
            aggregate_levels=settings.aggregate_levels,
            withheld_totals=shared,
            withheld_cells=with_statistics,
            withheld_before=before,
        )
        decisions.extend(result.decisions)
        notes.extend(result.notes)
    decisions_t = tuple(decisions)
    if statistics_dir is not None:
        decisions_t = audited_with_statistics(decisions_t, statistics_dir, definitions)
    notes_t = tuple(notes)
    values = render_data(decisions_t)
    ou_values = render_data(decisions_t, ou=True)
    files = render_files(
        values,
        ou_values,
        definitions.kpis,
        descriptions={
            "{city_units}": city_units(
                rows, kommuner_with_cases(engine, round_id), definitions, round_id, kommuner
            ),
            "{population_source}": population_text,
            "{suppression_rule}": suppression_rule(settings),
        },
    )

    in_force = deliveries_in_force(engine, round_id)
    if revised and not same_content(revised[0], files):  # a revision: its log beside its files
        previous, previous_manifest = revised
        changed = revision_log(
            {name: (previous / name).read_bytes() for name in KOLADA_TABLES},
            files,
            changed_deliveries(previous_manifest.get("in_force", {}), in_force),
            KOLADA_TABLES,
        )
        if changed is not None:
            files[LOG_FILE] = changed
    directory, reused = write_version(
        root / round_id,
        files,
        extra=lambda: {
            MANIFEST: render_manifest(
                round_id,
                files,
                values,
                ou_values,
                decisions_t,
                definitions,
                notes_t,
                population_text,
                preliminary,
                {unit: d.as_manifest() for unit, d in in_force.items()},
                revised[0].name if LOG_FILE in files else None,
            )
        },
    )
    for note in notes_t:
        log.warning("disclosure: %s", note)
    n_primary = sum(1 for d in decisions_t if d.reason == PRIMARY)
    log.info("%d cells withheld by primary suppression", n_primary)
    return Publication(
        round_id=round_id,
        version=directory.name,
        directory=directory,
        reused=reused,
        sha256={name: sha256_hex(data) for name, data in files.items()},
        decisions=decisions_t,
        notes=notes_t,
        preliminary=preliminary,
        revision_log=directory / LOG_FILE if (directory / LOG_FILE).exists() else None,
    )
