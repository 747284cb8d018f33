"""The statistics of a round, published as of itself: the case funnel (Diagram 1) and the
national figures (Diagrams 2-27) per kommun, län and riket, every cell protected by the same
disclosure rule as the Kolada key figures (`sukvinnofrid.disclosure`).

    output/statistik/<round_id>/v001/
        tratt.csv              Diagram 1 per area and kön (Swedish Excel: ';', UTF-8 with BOM,
                               decimal comma; withheld cells '..')
        nationella_figurer.csv every national figure per period, area, breakdown and category
        statistik.json         the same two tables for machines (numbers as numbers, null when
                               withheld, with the status of every value)
        definitioner.json      each figure's definition as the report states it, with its
                               summary categories' parts ("delar")
        manifest.json          round, whether it is preliminary, the disclosure rule in words,
                               counts, sha256 of the files and of the inputs (the round's mart
                               rows, the code, the rule, whether it is preliminary)
        published_at.txt

A round whose Kolada key figures are published with approximate population figures is
preliminary (`kolada.publish.round_is_preliminary`), and so are its statistics, though no count
here depends on the population: each CSV row says so in a last column (`publicering` =
`preliminär`; the header stays the first row), the JSON files with "preliminar" and the reason.
A final publication's files have none of it.

Publishing again with the same inputs returns the latest version without reading the rows
again; different inputs that give the same files also reuse it (`sukvinnofrid.versioned`).
A suppressed release's withheld cells are decided and audited once per decision key (the
inputs, the audit's passes, the version before) and stored in the warehouse
(ops.disclosure_protections, ops.disclosure_decisions): the draft a person approves and its
publication format the same decisions, and the publication does not audit again.

Everything is read from the marts (fct_case_funnel, fct_national_figures, dim_national_figures):
no figure is computed again here, only withheld. Relations the disclosure control protects
(each a set of counts any one of which follows from the others):
- kön: T = K + M + (kön saknas), per area, phase and figure category;
- geography: a län = its kommuner, riket = its län;
- the funnel's phases: aktualiserade = med_insats + utan_insats = avslutade + pågående;
  avslutade = med_måluppföljning + utan = med_brukarenkät + utan; and each "utan"-count of a
  phase with its (unpublished) complement;
- a figure's N = its categories (single answer); its population = N + uppgift saknas; a summary
  category (helt eller delvis) = its codes; a multiple-choice category with its (unpublished)
  complement N - category, and its n svar = its answers; a breakdown's values + the cases
  without a value = 'alla'; figures of the same population have the same n population.
The unpublished cases without kön (funnel) or without a breakdown's value hide nothing where
there are fewer than min_count of them (every phase's or category's are a part of them), so
there K + M or the breakdown's values pin the total and are protected as such; there the round's
figure kön shows its uppgift saknas whatever its size (it is that T - K - M).
A share is withheld with its count; when a figure's N is withheld, so are all its shares and
its mean (a share and its count give the N away).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections import Counter, defaultdict, namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import __version__, audit, cellkey, reference
from .catalogue.figures import load_figures
from .config import get_settings
from .disclosure import (
    AUDIT,
    EARLIER,
    Bound,
    Protection,
    Relation,
    is_sensitive,
    protect,
    smallest_first,
    widening_cells,
)
from .formats import swedish_number
from .kolada.disclosure import SIZE_GROUPINGS
from .kolada.publish import (
    PublicationError,
    check_round_due,
    git_commit,
    round_is_preliminary,
)
from .readers import ROUND_ID
from .revisions import (
    LOG_FILE,
    STATISTICS_TABLES,
    Delivery,
    changed_deliveries,
    deliveries_in_force,
    revision_log,
)
from .versioned import (
    code_digest,
    json_bytes,
    latest_manifest,
    same_content,
    sha256_hex,
    write_version,
)

log = logging.getLogger(__name__)

WITHHELD = ".."
MANIFEST = "manifest.json"
# the marking of a preliminary publication, here and in the round site's downloads
PRELIMINARY_COLUMN, PRELIMINARY = "publicering", "preliminär"
PRELIMINARY_TEXT = (
    "Preliminär publicering: nyckeltalen per 10 000 invånare bygger på en uppskattad befolkning "
    "18 år och äldre, inte SCB:s folkmängd, och kan ändras när omgången publiceras på nytt med "
    "SCB:s siffror. Antal, andelar och medelvärden bygger inte på befolkningen."
)
# Diagram 1's columns, and its additive relations (total, parts); a name starting with '~' is a
# complement that is not published (derivable as total minus the published part)
_FUNNEL = load_figures().funnel
FUNNEL_COLUMNS = _FUNNEL.columns
FUNNEL_SUMS = _FUNNEL.sums
KON = ("T", "K", "M")
LEVEL_NAMES = {"kommun": "kommun", "lan": "län", "riket": "riket"}
PERIOD_NAMES = {"round": "omgång", "year": "år"}
# the pseudo-categories of a figure group's N, population and number of answers
N, POPULATION, SVAR = "#n", "#population", "#svar"
SVAR_WITH_N = "secondary-svar"  # why an n svar is withheld: its n is


@dataclass(frozen=True)
class StatisticsPublication:
    round_id: str
    version: str
    directory: Path
    reused: bool
    withheld: int  # cells withheld (primary and secondary)
    notes: tuple[str, ...]
    revision_log: Path | None = None  # a revision's revisionslogg.csv


# ---------------------------------------------------------------------------------------------
# reading


def _rows(conn, sql: str, **params) -> list[dict]:
    result = conn.execute(sa.text(sql), params)
    columns = list(result.keys())
    return [dict(zip(columns, row, strict=True)) for row in result]


class FigureRow(
    namedtuple(
        "FigureRow",
        (
            "figure_id",
            "category",
            "level",
            "area_code",
            "period_type",
            "period",
            "breakdown",
            "breakdown_value",
            "numerator",
            "share_pct",
            "mean_value",
            "n",
            "n_population",
            "n_saknas",
            "n_answers",
            "about",
        ),
    )
):
    """A row of fct_national_figures; what belongs to its figure and category (kind, diagram,
    title, category_label, sort_order, category_parts) is shared by every row of it (`about`):
    a national round's figures are a quarter of a million rows."""

    __slots__ = ()

    def __getattr__(self, name: str):
        return getattr(self.about, name)

    @property
    def group(self) -> tuple:
        """The group of rows one figure, area, period and breakdown value share."""
        return (
            self.period_type,
            self.period,
            self.figure_id,
            self.level,
            self.area_code,
            self.breakdown,
            self.breakdown_value,
        )


def _figure_rows(conn, round_id: str) -> list[FigureRow]:
    about = {
        (row.figure_id, row.category): row
        for row in conn.execute(
            sa.text(
                "SELECT DISTINCT figure_id, category, kind, diagram, title, category_label, "
                "sort_order,"
                " category_parts FROM marts.fct_national_figures WHERE round_id = :r"
            ),
            {"r": round_id},
        )
    }
    result = conn.execute(
        sa.text(
            "SELECT figure_id, category, level, area_code, period_type, period, breakdown,"
            " breakdown_value, numerator, share_pct::float8, mean_value::float8, n, n_population,"
            " n_saknas, n_answers FROM marts.fct_national_figures WHERE round_id = :r"
            " ORDER BY period_type, period, figure_id, level, area_code, breakdown, "
            "breakdown_value,"
            " sort_order, category"
        ),
        {"r": round_id},
    )
    texts: dict[str, str] = {}  # one object per distinct text, not one per row
    rows = []
    for values in result:
        values = [texts.setdefault(v, v) if isinstance(v, str) else v for v in values]
        rows.append(FigureRow(*values, about[(values[0], values[1])]))
    return rows


MARTS = (
    "marts.fct_case_funnel",
    "marts.fct_national_figures",
    "marts.dim_national_figures",
)


def _check_marts(conn) -> None:
    for table in MARTS:
        if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": table}).scalar() is None:
            raise PublicationError(f"{table} finns inte: kör dbt build först.")


def input_digest(engine: Engine, round_id: str) -> str:
    """A digest of every mart row a round's statistics are made of (a sum of 64-bit row hashes
    and the row counts: one scan, no sort) and of the Kolada counts protected with them
    (kolada_counts: not the Kolada values, whose population may change alone), so an
    unchanged round is not protected again."""
    parts: list = [sorted(astuple(count) for count in kolada_counts(engine, round_id))]
    with engine.connect() as conn:
        _check_marts(conn)
        for table in MARTS:
            where = "" if table.startswith("marts.dim_") else " WHERE round_id = :r"
            parts.append(
                conn.execute(
                    sa.text(
                        f"SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text"
                        f" FROM {table} t{where}"
                    ),
                    {"r": round_id},
                ).one()
            )
    return sha256_hex(repr(parts).encode())


def read_round(engine: Engine, round_id: str) -> tuple[list[dict], list[FigureRow], list[dict]]:
    """The funnel, the national figures and the figure definitions of one round."""
    with engine.connect() as conn:
        _check_marts(conn)
        funnel = _rows(
            conn,
            "SELECT * FROM marts.fct_case_funnel WHERE round_id = :r"
            " ORDER BY level, area_code, kon",
            r=round_id,
        )
        if not funnel:
            raise PublicationError(
                f"Omgång {round_id} har inga godkända uppladdningar: det finns inget att publicera."
            )
        figures = _figure_rows(conn, round_id)
        definitions = _rows(conn, "SELECT * FROM marts.dim_national_figures ORDER BY figure_id")
    return funnel, figures, definitions


# ---------------------------------------------------------------------------------------------
# disclosure


def _geography(levels: dict[str, set[str]]) -> dict[str, list[str]]:
    """The areas that add up to each län and to riket ('00'), among the areas present."""
    kommuner = reference.kommuner()
    parts: dict[str, list[str]] = defaultdict(list)
    for kommun in sorted(levels.get("kommun", ())):
        lan = kommuner[kommun].lan_kod if kommun in kommuner else kommun[:2]
        parts[("lan", lan)].append(("kommun", kommun))
    for lan in sorted(levels.get("lan", ())):
        parts[("riket", "00")].append(("lan", lan))
    return parts


def _funnel_cells(funnel: list[dict], min_count: int):
    """The funnel's cells (level, area, kon, column), its relations and the unpublished cells
    a reader knows anyway (see `protect_round`)."""
    counts: dict[tuple, int] = {}
    areas: dict[str, set[str]] = defaultdict(set)
    by_area: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for row in funnel:
        areas[row["level"]].add(row["area_code"])
        by_area[(row["level"], row["area_code"])][row["kon"]] = row
        for column in FUNNEL_COLUMNS:
            counts[(row["level"], row["area_code"], row["kon"], column)] = row[column]
    relations: list[Relation] = []
    for (level, area), by_kon in sorted(by_area.items()):
        for kon in KON:
            row = by_kon.get(kon)
            if row is None:
                continue
            for total, parts in FUNNEL_SUMS:
                for part in parts:
                    if part.startswith("~"):
                        published_part = next(p for p in parts if not p.startswith("~"))
                        counts[(level, area, kon, part)] = row[total] - row[published_part]
                relations.append(
                    Relation(
                        tuple((level, area, kon, c) for c in (total, *parts)),
                        "secondary-fas",
                        f"{level} {area} {kon}: {total} = {' + '.join(parts)}",
                    )
                )
        if all(k in by_kon for k in KON):
            for column in FUNNEL_COLUMNS:
                counts[(level, area, "~X", column)] = (
                    by_kon["T"][column] - by_kon["K"][column] - by_kon["M"][column]
                )
                relations.append(
                    Relation(
                        tuple((level, area, kon, column) for kon in (*KON, "~X")),
                        "secondary-kon",
                        f"{level} {area} {column}: T = K + M + kön saknas",
                    )
                )
    for (level, area), parts in sorted(_geography(areas).items()):
        for kon in KON:
            for column in FUNNEL_COLUMNS:
                members = [(level, area, kon, column)] + [(*p, kon, column) for p in parts]
                if all(m in counts for m in members):
                    relations.append(
                        Relation(
                            tuple(members),
                            f"secondary-{level}",
                            f"{kon} {column}: {level} {area} = summan",
                        )
                    )
    # the cases without kön of an area bound every phase's (each phase is a subset of the
    # aktualiserade): fewer than min_count of them hide nothing, so K + M pins T there
    few_without_kon = {
        (level, area)
        for (level, area, kon, column), count in counts.items()
        if kon == "~X" and column == "aktualiserade" and count < min_count
    }
    known = {key for key in counts if key[2] == "~X" and key[:2] in few_without_kon}
    return counts, relations, known


def protect_funnel(funnel: list[dict], min_count: int) -> Protection:
    """Disclosure decisions of the funnel alone: (level, area, kon, column) -> (reason, detail)."""
    return protect_round(funnel, [], {}, min_count)[0]


# the cross-tabulations: breakdown -> the breakdowns it crosses (catalogue/figures.yaml)
CROSS_BREAKDOWNS = {b.id: b.of for b in load_figures().breakdowns if b.of}


def _sums(groups: Iterable[tuple]) -> list[tuple[tuple, list[tuple], str]]:
    """(total group, part groups, what the parts are): geography (kommuner of a län, län of
    riket) and breakdowns (the values of a breakdown, and the cases without one, add up to
    'alla'; a cross-tabulation's cells add up to each of its two breakdowns' cells)."""
    present = set(groups)
    areas: dict[str, set[str]] = defaultdict(set)
    by_area: dict[tuple, list[tuple]] = defaultdict(list)
    for group in present:
        areas[group[3]].add(group[4])
        by_area[group[:5]].append(group)
    sums = []
    geography = _geography(areas)
    for group in sorted(present):
        period_type, period, figure, level, area, breakdown, value = group
        parts = [
            (period_type, period, figure, *p, breakdown, value)
            for p in geography.get((level, area), [])
        ]
        parts = [p for p in parts if p in present]
        if parts:
            sums.append((group, parts, "geografi"))
        if breakdown == "alla":
            by_breakdown: dict[str, list[tuple]] = defaultdict(list)
            for other in by_area[group[:5]]:
                if other[5] != "alla" and other[5] not in CROSS_BREAKDOWNS:
                    by_breakdown[other[5]].append(other)
            sums += [(group, sorted(parts), name) for name, parts in sorted(by_breakdown.items())]
        elif breakdown in CROSS_BREAKDOWNS:
            continue
        else:
            for cross, dimensions in CROSS_BREAKDOWNS.items():
                if breakdown not in dimensions:
                    continue
                position = dimensions.index(breakdown)
                parts = [
                    other
                    for other in by_area[group[:5]]
                    if other[5] == cross and other[6].split("|")[position] == value
                ]
                if parts:
                    sums.append((group, sorted(parts), cross))
    return sums


def _figure_cells(figures: list[FigureRow], definitions: dict[str, dict], min_count: int):
    """The national figures' cells (group number, category), their relations, the unpublished
    cells a reader knows anyway and the groups by number (see `protect_round`)."""
    answer_types = {figure: d["answer_type"] for figure, d in definitions.items()}
    by_group: dict[tuple, list[dict]] = defaultdict(list)
    for row in figures:
        by_group[row.group].append(row)
    # cells are (group number, category) while deciding: cheap to hash, sorted as the groups
    groups = sorted(by_group)
    number = {group: i for i, group in enumerate(groups)}
    counts: dict[tuple, int] = {}
    categories: dict[int, list[str]] = {}
    relations: list[Relation] = []
    for g, group in enumerate(groups):
        rows = by_group[group]
        first = rows[0]
        label = "/".join(str(part) for part in group)
        counts[(g, N)] = first.n
        counts[(g, POPULATION)] = first.n_population
        counts[(g, "saknas")] = first.n_saknas
        categories[g] = [N, POPULATION, "saknas"]
        relations.append(
            Relation(
                ((g, POPULATION), (g, N), (g, "saknas")),
                "secondary-saknas",
                f"{label}: population = N + saknas",
            )
        )
        if first.kind == "mean":
            continue  # its category holds a sum of counts, not cases: protected through its N
        answers = [row for row in rows if row.category != "saknas"]
        for row in answers:
            counts[(g, row.category)] = row.numerator
            categories[g].append(row.category)
        codes = [row.category for row in answers if row.sort_order < 100]
        if answer_types.get(first.figure_id) == "multiple" and first.n_answers is not None:
            counts[(g, SVAR)] = first.n_answers  # n svar: every answer once
            categories[g].append(SVAR)
            relations.append(
                Relation(
                    tuple((g, c) for c in [SVAR, *codes]),
                    "secondary-kategori",
                    f"{label}: n svar = summan av svaren",
                )
            )
        if answer_types.get(first.figure_id) == "multiple" or len(codes) == 1:
            for row in answers:  # each answer with its complement: the N minus the answer
                rest = (g, "~ej " + row.category)
                counts[rest] = first.n - row.numerator
                relations.append(
                    Relation(
                        ((g, N), (g, row.category), rest),
                        "secondary-kategori",
                        f"{label}: N = {row.category} + övriga",
                    )
                )
        else:
            relations.append(
                Relation(
                    tuple((g, c) for c in [N, *codes]),
                    "secondary-kategori",
                    f"{label}: N = summan av kategorierna",
                )
            )
            for row in answers:
                if row.category_parts:
                    parts = row.category_parts.split("|")
                    relations.append(
                        Relation(
                            ((g, row.category), *((g, p) for p in parts)),
                            "secondary-kategori",
                            f"{label}: {row.category} = {' + '.join(parts)}",
                        )
                    )
                    # the two sums together: N = the summary + the codes outside it
                    rest = [c for c in codes if c not in parts]
                    relations.append(
                        Relation(
                            ((g, N), (g, row.category), *((g, c) for c in rest)),
                            "secondary-kategori",
                            f"{label}: N = {row.category} + {' + '.join(rest) or '0'}",
                        )
                    )
    # figures of the same population (definitioner.json) publish the same n population
    same_population: dict[tuple, list[int]] = defaultdict(list)
    for g, group in enumerate(groups):
        population = definitions.get(group[2], {}).get("population")
        same_population[(*group[:2], *group[3:], population)].append(g)
    for key, numbers in sorted(same_population.items(), key=lambda item: item[1]):
        for other in numbers[1:]:
            relations.append(
                Relation(
                    ((numbers[0], POPULATION), (other, POPULATION)),
                    "secondary-population",
                    f"{'/'.join(map(str, key))}: samma population",
                )
            )
    for total, parts, name in _sums(groups):
        t, part_numbers = number[total], [number[p] for p in parts]
        for category in categories[t]:
            members = [(t, category)] + [
                (p, category) for p in part_numbers if (p, category) in counts
            ]
            if len(members) < 2:
                continue
            if name != "geografi":  # the cases without a value of the breakdown
                rest = (t, f"~utan {name}: {category}")
                counts[rest] = counts[(t, category)] - sum(counts[m] for m in members[1:])
                members.append(rest)
            relations.append(
                Relation(
                    tuple(members),
                    f"secondary-{name}",
                    f"{'/'.join(map(str, total))} {category}: summan över {name}",
                )
            )
    # the cases without a breakdown's value bound each category's (a subset of them): fewer
    # than min_count of them hide nothing, so the breakdown's values pin 'alla' there
    few_without = {
        (key[0], key[1].split(": ")[0])
        for key, count in counts.items()
        if key[1].startswith("~utan ") and key[1].endswith(f": {POPULATION}") and count < min_count
    }
    known = {key for key in counts if (key[0], key[1].split(": ")[0]) in few_without}
    # every kommun has its size groups (public reference data): a size-group figure's cases
    # without one are a known 0 wherever there are none
    known |= {
        (g, "saknas")
        for g, group in enumerate(groups)
        if group[2] in SIZE_GROUPINGS and counts.get((g, "saknas")) == 0
    }
    return counts, relations, known, groups


# a figure's population (definitioner.json) that is a column of the funnel, in the round's figures
POPULATION_IN_FUNNEL = _FUNNEL.population_columns
KON_CODES = {"1": "K", "2": "M"}  # the figure kön's answers


def _figures_beside_funnel(groups: list[tuple], definitions: dict[str, dict], funnel_counts):
    """The round's figures whose population is a funnel column have the funnel's count as
    their n population (per kön for the breakdown by kön), the figure kön's answers are the
    funnel's K and M aktualiserade, and its uppgift saknas is their T - K - M."""
    relations = []
    for g, (period_type, _, figure, level, area, breakdown, value) in enumerate(groups):
        kon = "T" if breakdown == "alla" else value if breakdown == "kon" else None
        if period_type != "round" or kon not in KON:
            continue
        column = POPULATION_IN_FUNNEL.get(definitions.get(figure, {}).get("population"))
        pairs = [(POPULATION, column)] if column else []
        if figure == "kon" and kon == "T":
            pairs += [(code, "aktualiserade") for code in KON_CODES]
            by_kon = [(level, area, k, "aktualiserade") for k in KON]
            if all(cell in funnel_counts for cell in by_kon):  # T = K + M + saknas
                relations.append(
                    Relation(
                        (*by_kon, (g, "saknas")),
                        "secondary-tratt",
                        f"kön saknas {level} {area} = tratten T - K - M",
                    )
                )
        for category, funnel_column in pairs:
            cell_kon = KON_CODES.get(category, kon)
            funnel_cell = (level, area, cell_kon, funnel_column)
            if funnel_cell in funnel_counts:
                relations.append(
                    Relation(
                        ((g, category), funnel_cell),
                        "secondary-tratt",
                        f"{figure} {level} {area} {category} = tratten {cell_kon} {funnel_column}",
                    )
                )
    return relations


@dataclass(frozen=True)
class KoladaCount:
    """A kommun's count of a Kolada key figure that is a population of the statistics
    (FigureCatalogue.statistics_population), for a year the Kolada files publish."""

    population: str
    year: int
    kommun: str
    lan: str
    size_groups: tuple[tuple[str, str], ...]  # (grouping, code)
    count: int
    published: bool  # the Kolada files give the count (not a city's mean of its stadsdelar)


def kolada_counts(engine: Engine, round_id: str) -> list[KoladaCount]:
    """The kommuner's counts (T) of the Kolada key figures that the statistics' year cells add
    up over, for the years the round's Kolada files publish (a city's mean of its stadsdelar
    hides its count: not published)."""
    from .kolada.definitions import load_definitions
    from .kolada.publish import last_complete_year, read_mart, size_groups, statistics_populations

    kolada = load_definitions()
    counted = statistics_populations(kolada)
    populations = {
        kpi.figure: counted[kpi.id]
        for kpi in kolada.kpis
        if kpi.id in counted and "T" in kpi.published_genders
    }
    last_year = last_complete_year(round_id) if kolada.settings.complete_years_only else None
    groups = size_groups(engine)
    return [
        KoladaCount(
            populations[row.figure],
            int(row.year),
            row.kommun_kod,
            row.kommun_kod[:2],
            groups.get(row.kommun_kod, ()),
            int(row.case_count),
            row.value_method != "medel_stadsdelar",
        )
        for row in read_mart(engine, round_id)
        if populations.get(row.figure)
        and row.area_type == "kommun"
        and row.gender == "T"
        and row.covered
        and (last_year is None or row.year <= last_year)
    ]


# the first part of a Kolada count's cell in protect_round: (KOLADA, population, year, kommun)
KOLADA = "kolada"


def _kolada_year_cells(
    kolada: Sequence[KoladaCount],
    groups: list[tuple],
    definitions: dict[str, dict],
    figure_counts: dict[tuple, int],
):
    """The kommuner's Kolada counts as cells of the figures' protection, their relations and
    the figure cells a reader knows to be 0 with them. A count the Kolada files publish is a
    published cell here: withheld as 1 .. min_count-1, or as a further cell when its
    relations need one (the Kolada files then withhold it too); a city's mean hides its count.
    A year cell's N population in a kommun, län, riket or size group is the sum of its
    kommuners' counts of the same population, and a size-group figure's category the sum over
    the kommuner of that group (and of the breakdown's size group: 0 where the area has none).
    A relation that does not hold of
    the counts (a city whose stadsdelar do not all cover the year) is left out and logged: the
    Kolada protection still keeps the totals the statistics withhold hidden."""
    counts: dict[tuple, int] = {}
    hidden: set[tuple] = set()
    known: set[tuple] = set()
    members: dict[tuple, list[tuple]] = defaultdict(list)
    for c in kolada:
        key = (KOLADA, c.population, c.year, c.kommun)
        counts[key] = c.count
        if not c.published:
            hidden.add(key)
        for level, area in (("kommun", c.kommun), ("lan", c.lan), ("riket", "00")):
            members[(c.population, c.year, level, area, "alla", "alla")].append(key)
            for grouping, code in c.size_groups:
                members[(c.population, c.year, level, area, grouping, code)].append(key)
    covered = {key[:4] for key in members}
    relations: list[Relation] = []

    def add(cell: tuple, parts: list[tuple], label: str) -> None:
        if figure_counts[cell] != sum(counts[part] for part in parts):
            log.warning("%s: %s", label, "stämmer inte med kommunernas Kolada-värden, används inte")
        elif parts:
            relations.append(Relation((cell, *parts), "secondary-kolada", label))
        else:
            known.add(cell)  # no kommun of the area counts in it: a reader knows it is 0

    categories: dict[int, list[str]] = defaultdict(list)  # of the size-group figures
    for g, category in figure_counts:
        if groups[g][2] in SIZE_GROUPINGS and not category.startswith(("#", "~")):
            categories[g].append(category)
    done: set[tuple] = set()  # one figure per population cell: the others equal it
    for g, (period_type, period, figure, level, area, breakdown, value) in enumerate(groups):
        population = definitions.get(figure, {}).get("population")
        area_key = (population, int(period) if period_type == "year" else 0, level, area)
        if period_type != "year" or area_key not in covered:
            continue
        label = "/".join(groups[g])
        if (breakdown == "alla" or breakdown in SIZE_GROUPINGS) and (
            *area_key,
            breakdown,
            value,
        ) not in done:
            done.add((*area_key, breakdown, value))
            add(
                (g, POPULATION),
                members.get((*area_key, breakdown, value), []),
                f"{label}: N population = summan av kommunernas Kolada-värden",
            )
        if figure in SIZE_GROUPINGS and (breakdown == "alla" or breakdown in SIZE_GROUPINGS):
            # by a size group too: the kommuner of both groups (none where they differ)
            within = set(members.get((*area_key, breakdown, value), []))
            for category in categories[g]:
                if category != "saknas":
                    add(
                        (g, category),
                        [k for k in members.get((*area_key, figure, category), []) if k in within],
                        f"{label} {category}: summan av kommunernas Kolada-värden",
                    )
    return counts, relations, known, hidden


def _kon_saknas_given_away(groups: list[tuple], funnel_known: set) -> set[tuple]:
    """The round's figure kön's uppgift saknas where the funnel gives it away: there fewer than
    min_count cases of the area lack kön, and T - K - M of the funnel's aktualiserade (published
    so that K + M pins T, see `_funnel_cells`) is that count. Withholding it in the figure would
    hide nothing, so it is shown whatever its size (the published rule says so)."""
    return {
        (g, "saknas")
        for g, (period_type, _, figure, level, area, breakdown, _) in enumerate(groups)
        if period_type == "round"
        and figure == "kon"
        and breakdown == "alla"
        and (level, area, "~X", "aktualiserade") in funnel_known
    }


@dataclass(frozen=True)
class EarlierVersion:
    """What the round's version before a revision published, as a reader has it: the cells it
    withheld, and the cells it published of areas no delivery has changed since (their values
    are the same now). Cells as protect_round names them."""

    withheld: frozenset
    published_unchanged: frozenset


def earlier_version(directory: Path, unchanged_areas: set[tuple[str, str]]) -> EarlierVersion:
    """Read a published version's tables (tratt.csv, nationella_figurer.csv): `unchanged_areas`
    are the (level, area code) whose cells no delivery has changed since it."""
    levels = {name: level for level, name in LEVEL_NAMES.items()}
    withheld, published = set(), set()

    def note(key: tuple, text: str | None, area: tuple[str, str]) -> None:
        if text == WITHHELD:
            withheld.add(key)
        elif text and area in unchanged_areas:
            published.add(key)

    for row in _published_rows(directory / "tratt.csv"):
        area = (levels[row["nivå"]], row["områdeskod"])
        for column in FUNNEL_COLUMNS:
            note((*area, row["kön"], column), row[column], area)
    for key, text, area in _published_figure_cells(directory):
        note(key, text, area)
    return EarlierVersion(frozenset(withheld), frozenset(published))


def _published_figure_cells(directory: Path):
    """(cell as protect_round names it, its published text, its area (level, code)) of every
    count of a version's nationella_figurer.csv."""
    levels = {name: level for level, name in LEVEL_NAMES.items()}
    periods = {name: period for period, name in PERIOD_NAMES.items()}
    for row in _published_rows(directory / "nationella_figurer.csv"):
        area = (levels[row["nivå"]], row["områdeskod"])
        group = (
            periods[row["periodtyp"]],
            row["period"],
            row["figur"],
            *area,
            row["uppdelning"],
            row["uppdelningsvärde"],
        )
        for column, category in (
            ("antal", row["kategori"]),
            ("n", N),
            ("n population", POPULATION),
            ("n svar", SVAR),
        ):
            yield (group, category), row[column], area


def earlier_round(directory: Path, figures: list[FigureRow]) -> EarlierVersion:
    """The year cells of another round's latest version (`directory`: the round before; for a
    revision also the round after), as a reader of both rounds has them: each round's extract
    is cumulative, so a year is published again, mostly with the same counts. A year cell it
    withheld stays withheld (as in a revision); one it published with the count it has now is
    known to every reader, so withholding it now would hide nothing. The funnel and the round's
    own period are this round's alone."""
    now = {}
    for row in figures:
        if row.period_type == "year":
            for category, value in (
                (row.category, row.numerator),
                (N, row.n),
                (POPULATION, row.n_population),
                (SVAR, row.n_answers),
            ):
                if value is not None:  # a count the figure has (a mean figure has none)
                    now[(row.group, category)] = str(value)
    withheld, published = set(), set()
    for key, text, _ in _published_figure_cells(directory):
        if key[0][0] != "year":
            continue
        if text == WITHHELD:
            withheld.add(key)
        elif text and now.get(key) == text:
            published.add(key)
    return EarlierVersion(frozenset(withheld), frozenset(published))


# the year cells Kolada's kommun values add up to: by kön (alla is every case) and by the
# kommuner's size groups
KOLADA_SUMS = ("alla", "kon", "storleksgrupp", "befolkningsgrupp")


def year_totals(directory: Path, population: str) -> dict[tuple[int, str, str, str, str], bool]:
    """The year cells of `population` (every figure of it has the same N population) in a
    published version, as a reader has them: (year, level, area code,
    breakdown, value) -> withheld, for the breakdowns a Kolada key figure of the same cases
    (FigureCatalogue.statistics_population) adds up to over its kommuner. A version perturbed
    by the Cell Key Method has noise, not counts: none."""
    if json.loads((directory / MANIFEST).read_text()).get("disclosure") != "suppression":
        return {}
    figures = {f.id for f in load_figures().figures if f.population_text == population}
    cells: dict[tuple[int, str, str, str, str], bool] = {}
    for (group, category), text, _ in _published_figure_cells(directory):
        period_type, period, figure, level, area, breakdown, value = group
        if (
            category == POPULATION
            and period_type == "year"
            and figure in figures
            and breakdown in KOLADA_SUMS
            and text
        ):
            key = (int(period), level, area, breakdown, value)
            cells[key] = cells.get(key, False) or text == WITHHELD
    return cells


def both(first: EarlierVersion, second: EarlierVersion) -> EarlierVersion:
    """What a reader of both versions has: every cell either withheld stays withheld."""
    withheld = first.withheld | second.withheld
    return EarlierVersion(
        withheld, (first.published_unchanged | second.published_unchanged) - withheld
    )


def adjacent_round(root: Path, round_id: str, after: bool = False) -> Path | None:
    """The latest version of the latest round before `round_id` published under `root` (with
    `after`: of the earliest round after it)."""
    names = [p.name for p in root.iterdir() if ROUND_ID.match(p.name)] if root.is_dir() else []
    others = (
        sorted(n for n in names if n > round_id)
        if after
        else sorted((n for n in names if n < round_id), reverse=True)
    )
    for name in others:
        latest = latest_manifest(root / name, MANIFEST)
        if latest:
            return latest[0]
    return None


def decisions_of(directory: Path) -> tuple[Protection, Protection]:
    """The funnel's and the figures' withheld cells of a published version, as protect_round
    names them (the Kolada counts withheld with its year cells from its manifest)."""
    funnel, figures = {}, {}
    for key in earlier_version(directory, set()).withheld:
        (funnel if isinstance(key[0], str) else figures)[key] = (
            EARLIER,
            "withheld in the version before",
        )
    for key in kolada_withheld_in(directory):
        figures[key] = (EARLIER, "withheld in the version before")
    return Protection(withheld=funnel, notes=()), Protection(withheld=figures, notes=())


def kolada_withheld(protection: Protection) -> list[list]:
    """The Kolada counts a figures' protection withholds, as the manifest lists them:
    [population, year, kommun], sorted."""
    return sorted([list(key[1:]) for key in protection.withheld if key[0] == KOLADA])


def kolada_withheld_in(directory: Path) -> set[tuple]:
    """The Kolada counts a published version withheld with its year cells (kolada_withheld),
    as protect_round names them: the Kolada files of the same round withhold them too."""
    listed = json.loads((directory / MANIFEST).read_text()).get("kolada_withheld", [])
    return {(KOLADA, population, int(year), kommun) for population, year, kommun in listed}


def decision_key(
    inputs: str, passes: int, kept: Sequence[Path], in_force: dict[str, Delivery] | None
) -> str:
    """What a suppressed release's decisions are a function of: its inputs digest (the marts'
    rows, the code, the rule), the passes its audit may take, the versions whose cells they keep
    (`kept`: a revision's version before and the latest version of the round after, or the
    latest version of the round before; their manifests) and for a revision the deliveries in
    force now (which areas a delivery changed)."""
    parts = [inputs.encode(), str(passes).encode()]
    parts += [sha256_hex((version / MANIFEST).read_bytes()).encode() for version in kept]
    if in_force is not None:
        parts.append(json_bytes({unit: d.as_manifest() for unit, d in in_force.items()}))
    return sha256_hex(b"\0".join(parts))


def _tuples(value):
    """A cell read back from JSON: its lists as the tuples protect_round names cells by."""
    return tuple(map(_tuples, value)) if isinstance(value, list) else value


DECISION_PARTS = ("tratt", "figurer")


def stored_decisions(engine: Engine, key: str) -> tuple[Protection, Protection] | None:
    """The funnel's and the figures' protection decided for `key` (decision_key), or None."""
    with engine.connect() as conn:
        notes = conn.execute(
            sa.text("SELECT notes FROM ops.disclosure_protections WHERE decision_key = :k"),
            {"k": key},
        ).scalar()
        if notes is None:
            return None
        cells = conn.execute(
            sa.text(
                "SELECT part, cell, reason, detail FROM ops.disclosure_decisions"
                " WHERE decision_key = :k"
            ),
            {"k": key},
        ).all()
    withheld: dict[str, dict] = {part: {} for part in DECISION_PARTS}
    for part, cell, reason, detail in cells:
        withheld[part][_tuples(json.loads(cell))] = (reason, detail)
    funnel_notes, figure_notes = (tuple(n) for n in notes)
    return (
        Protection(withheld=withheld["tratt"], notes=funnel_notes),
        Protection(withheld=withheld["figurer"], notes=figure_notes),
    )


def store_decisions(
    engine: Engine, key: str, round_id: str, funnel: Protection, figures: Protection
) -> None:
    """Keep an audited protection for every later publication of the same key (one
    transaction: the cells and the row that says they are complete)."""
    cells = [
        [part, json.dumps(cell, ensure_ascii=False), reason, detail]
        for part, protection in zip(DECISION_PARTS, (funnel, figures), strict=True)
        for cell, (reason, detail) in protection.withheld.items()
    ]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ops.disclosure_decisions (decision_key, part, cell, reason, detail)"
                " SELECT :k, e->>0, e->>1, e->>2, e->>3"
                " FROM jsonb_array_elements(CAST(:cells AS jsonb)) e"
                " ON CONFLICT DO NOTHING"
            ),
            {"k": key, "cells": json.dumps(cells, ensure_ascii=False)},
        )
        conn.execute(
            sa.text(
                "INSERT INTO ops.disclosure_protections (decision_key, round_id, cells_withheld,"
                " notes) VALUES (:k, :r, :n, CAST(:notes AS jsonb)) ON CONFLICT DO NOTHING"
            ),
            {
                "k": key,
                "r": round_id,
                "n": len(cells) - len(kolada_withheld(figures)),  # the statistics' own cells
                "notes": json.dumps([list(funnel.notes), list(figures.notes)], ensure_ascii=False),
            },
        )


def _published_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")), delimiter=";"))


def _unchanged_areas(
    funnel: list[dict], figures: list[FigureRow], before: dict, after: dict[str, Delivery]
) -> set[tuple[str, str]]:
    """The areas (level, code) whose cells no delivery has changed since the version before
    (`before`: its manifest's in_force; a reader reads the changed deliveries in the revision
    log). With no changed delivery (a recalculation) a reader cannot tell what changed, so no
    area counts as unchanged."""
    changed_units = {
        unit
        for unit in before.keys() | after.keys()
        if before.get(unit, {}).get("upload_id") != getattr(after.get(unit), "upload_id", None)
    }
    if not changed_units:
        return set()
    changed = {("riket", "00")}
    for unit in changed_units:
        kommun = after[unit].kommun_kod if unit in after else before[unit]["kommun"]
        lan = (after[unit].lan_kod if unit in after else before[unit].get("lan")) or kommun[:2]
        changed |= {("kommun", unit), ("kommun", kommun), ("lan", lan)}
    areas = {(row["level"], row["area_code"]) for row in funnel}
    areas |= {(row.level, row.area_code) for row in figures}
    return areas - changed


# passes of "withhold more where the audit found something" before a publication is refused
FURTHER_CELL_REACH = 4  # relations from a found cell searched for a further cell
AUDIT_PASSES = 6


@dataclass(frozen=True)
class AuditReport:
    """The audit of a protection, with cells as protect_round names them outside."""

    found: list[tuple[tuple, str]]  # the cells it works out, with their verdict
    release: audit.Release  # what it read: the published cells and every relation among them


Audit = Callable[[Protection, Protection], AuditReport]


class DisclosureRefused(PublicationError):
    """The audit still works out withheld counts after the passes allowed: nothing is
    published (the message names the cells, in Swedish)."""


def protect_round(
    funnel: list[dict],
    figures: list[FigureRow],
    definitions: dict[str, dict],
    min_count: int,
    earlier: EarlierVersion | None = None,
    audit_release: Audit | None = None,
    passes: int = AUDIT_PASSES,
    kolada: Sequence[KoladaCount] = (),
) -> tuple[Protection, Protection]:
    """Disclosure decisions of the funnel and the national figures together, in one pass (a
    figure's n population is a funnel cell): the funnel's (level, area, kon, column) ->
    (reason, detail), and the figures' (group, category) -> (reason, detail), the group being
    (period_type, period, figure, level, area, breakdown, breakdown_value) and the category an
    answer, 'saknas', or N / POPULATION / SVAR (the group's N, population and, for a
    multiple-choice figure, number of answers). `definitions`: figure id -> its definition
    (answer_type, population). `earlier`: for a revision, what the version before it published
    (a cell it withheld stays withheld; one it published that no delivery has changed is known
    to every reader, so withholding it now would hide nothing).

    `audit_release`: the independent attack on the release these decisions give (it returns
    the withheld cells it works out exactly or to within 1 .. min_count-1, with its verdict,
    and the relations it read). While it finds any, at most `passes` times: a count of 0 or
    min_count or more that it works out exactly is published (a reader has it anyway, as step 4
    of `disclosure`); any other found count gets the cells `disclosure.widening_cells` gives
    (those a second table, where the count is min_count or more or else 0, changes; the table
    keeps the protection's sums and every relation the audit read, its inequalities too); a
    count found again (no second table within reach, or one only in fractions, which the
    audit's whole-number bounds rule out) also every published cell of its relations and of
    theirs, one relation deeper each further time it is found. The round is then protected
    again keeping every cell withheld before but those published as worked out, so a pass
    never lets out what an earlier one protected. An n svar is withheld wherever its n is,
    unless the audit works it out. When findings are left after the last
    pass, the round is decided afresh with single further cells instead: for a found count one
    more cell, the smallest count of min_count or more, not known to a reader, in one of its
    relations (or else in a relation next to one, or else a count of 0), as many as the passes
    it has been found in, and found a third time every published cell of its relations and of
    theirs; each pass protects the round afresh with those. Findings left after that raise
    DisclosureRefused.

    `kolada`: the kommuner's counts of the Kolada key figures published beside the
    statistics (kolada_counts), protected with the year cells they add up to: the figures'
    protection holds the ones withheld, as (KOLADA, population, year, kommun), for the
    Kolada files to withhold (kolada_withheld). A count of 1 .. min_count-1 is withheld; the
    others are published when the round can be protected so (a reader has them: the year
    cells they add up to are protected knowing them), and only when it cannot (the audit
    still finds cells after the passes) is the round protected again with them as cells that
    may be withheld further, the last choice of their relations."""
    arguments = (funnel, figures, definitions, min_count, earlier, audit_release, passes, kolada)
    attempts = [
        (keep_kolada, second_tables)
        for keep_kolada in ((True, False) if kolada else (False,))
        for second_tables in ((True, False) if audit_release else (False,))
    ]
    for keep_kolada, second_tables in attempts[:-1]:
        try:
            return _protect_round(*arguments, keep_kolada, second_tables)
        except DisclosureRefused as refused:
            log.info(
                "%s Skyddas igen %s.",
                refused,
                "med enstaka ytterligare antal"
                if second_tables
                else "med Kolada-värdena som möjliga ytterligare antal",
            )
    return _protect_round(*arguments, *attempts[-1])


def _protect_round(
    funnel: list[dict],
    figures: list[FigureRow],
    definitions: dict[str, dict],
    min_count: int,
    earlier: EarlierVersion | None,
    audit_release: Audit | None,
    passes: int,
    kolada: Sequence[KoladaCount],
    keep_kolada: bool,
    second_tables: bool,
) -> tuple[Protection, Protection]:
    """protect_round, with the Kolada counts of min_count or more never withheld
    (`keep_kolada`) or withheld where their relations need it, and the found counts protected
    by second tables (`second_tables`) or by single further cells."""
    counts, relations, known = _funnel_cells(funnel, min_count)
    figure_counts, figure_relations, figure_known, groups = _figure_cells(
        figures, definitions, min_count
    )
    kolada_cells, kolada_relations, kolada_known, kolada_hidden = _kolada_year_cells(
        kolada, groups, definitions, figure_counts
    )
    relations += figure_relations + _figures_beside_funnel(groups, definitions, counts)
    relations += kolada_relations
    counts.update(figure_counts)
    counts.update(kolada_cells)
    figure_known |= kolada_known
    if keep_kolada:
        figure_known |= kolada_cells.keys() - kolada_hidden
    shown_anyway = _kon_saknas_given_away(groups, known)
    known |= figure_known | shown_anyway
    number = {group: g for g, group in enumerate(groups)}

    def internal(key: tuple) -> tuple | None:
        """A cell as protect_round names it outside -> as it is named while deciding."""
        if isinstance(key[0], str):
            return key
        return (number[key[0]], key[1]) if key[0] in number else None

    def published(key) -> bool:
        return key not in kolada_hidden and not any(
            isinstance(part, str) and part.startswith("~") for part in key[1:]
        )

    # ties: funnel cells before figure cells, each in their own order; a year cell that sums
    # Kolada counts only when its relation has no other cell left, and a Kolada count after
    # that (withholding either withholds a Kolada value: the Kolada files keep what they can)
    smallest = smallest_first(
        counts, tie=lambda key: (0, key, ()) if isinstance(key[0], str) else (1, (), key)
    )
    sums_kolada = {relation.members[0] for relation in kolada_relations}

    def order(key: tuple) -> tuple:
        return (2 if key[0] == KOLADA else key in sums_kolada, *smallest(key))

    def decide(known: set, withheld_before: set, also: dict | None = None) -> Protection:
        protection = protect(
            counts,
            relations,
            min_count=min_count,
            published=published,
            known=known.__contains__,
            bounds=True,
            describe=lambda key: (
                " ".join(map(str, key))
                if isinstance(key[0], str)
                else f"{'/'.join(groups[key[0]])} {key[1]}"
            ),
            order=order,
            withheld_before=withheld_before,
            also_withheld=also,
            shown_anyway=shown_anyway.__contains__,
        )
        # n svar is withheld with its n (published alone, the protection's sums leave more for
        # the audit to find), but where a reader has it anyway (the audit works it out)
        withheld = dict(protection.withheld)
        for key in protection.withheld:
            svar = (key[0], SVAR)
            if key[1:] == (N,) and svar in counts and svar not in withheld and svar not in known:
                withheld[svar] = (SVAR_WITH_N, "n svar visas bara med sitt n")
        return Protection(withheld=withheld, notes=protection.notes)

    def split(protection: Protection) -> tuple[Protection, Protection]:
        funnel_withheld, figure_withheld = {}, {}
        for key, decision in protection.withheld.items():
            if isinstance(key[0], int):
                figure_withheld[(groups[key[0]], key[1])] = decision
            elif key[0] == KOLADA:  # the year cells' counts: with the figures
                figure_withheld[key] = decision
            else:
                funnel_withheld[key] = decision
        return (
            Protection(withheld=funnel_withheld, notes=protection.notes),
            Protection(withheld=figure_withheld, notes=()),
        )

    kept: set = set()
    started = time.monotonic()
    protection = decide(known, kept)
    if earlier is not None:
        kept = {internal(key) for key in earlier.withheld} - {None}
        seen = {internal(key) for key in earlier.published_unchanged} - {None}
        # the round as decided afresh already keeps the version before (say it changed nothing
        # but its preliminary marking): the same decisions as a first publication
        if {key for key in kept if key in counts and published(key)} <= set(
            protection.withheld
        ) and not seen & set(protection.withheld):
            kept = set()
        else:
            known = known | seen
            protection = decide(known, kept)
    if audit_release is None:
        return split(protection)
    log.info("protection 1: %.1f s", time.monotonic() - started)
    of_cell: dict[tuple, list[int]] = defaultdict(list)
    for index, relation in enumerate(relations):
        for key in relation.members:
            of_cell[key].append(index)
    settled: set = set()  # counts the audit works out that are published after all
    forced: dict[tuple, tuple[str, str]] = {}  # the further cells withheld for the audit
    times_found: Counter = Counter()

    def further_cell(cell: tuple, withheld: dict) -> tuple | None:
        """The smallest count of min_count or more a reader does not know, in one of the
        cell's relations, or else in a relation of another unknown of those (breadth first).
        Never one withheld for the audit before: if it is published now, the bounds pinned it
        (step 4 of `disclosure`), so withholding it again would hide nothing."""
        for smallest in (min_count, 0):  # a withheld 0 widens a reader's bounds too: last
            reach, seen_relations = [cell], set()
            for _ in range(FURTHER_CELL_REACH):
                candidates, behind = [], []
                for key in reach:
                    for index in of_cell.get(key, ()):
                        if index in seen_relations:
                            continue
                        seen_relations.add(index)
                        for member in relations[index].members:
                            if member in withheld or not published(member):
                                behind.append(member)
                            elif (
                                (counts[member] >= min_count or counts[member] == smallest)
                                and member not in known
                                and member not in settled
                                and member not in forced
                            ):
                                candidates.append(member)
                if candidates:
                    return min(candidates, key=order)
                reach = behind
        return None

    def surrounding_cells(cell: tuple, steps: int) -> set[tuple]:
        """The published cells a reader does not know anyway in the cell's relations, in the
        relations of those relations' other members, and so on, `steps` relations deep."""
        around, reach = set(), {cell}
        for _ in range(steps):
            members = {
                member
                for key in reach
                for index in of_cell.get(key, ())
                for member in relations[index].members
            }
            around |= {m for m in members if published(m) and m not in known}
            reach = members
        return around

    def reader_bounds(release: audit.Release) -> list[Bound]:
        """The relations the audit read in the release (sums and inequalities), as cells are
        named while deciding."""
        names: dict[tuple, tuple | None] = {}
        bounds = []
        for constraint in release.constraints:
            for cell, _ in constraint.terms:
                if cell not in names:
                    names[cell] = internal(_audit_key(cell))
            terms = tuple((names[cell], coefficient) for cell, coefficient in constraint.terms)
            if all(key in counts for key, _ in terms):
                bounds.append(Bound(terms, constraint.low, constraint.high))
        return bounds

    for done in range(passes + 1):
        started = time.monotonic()
        report = audit_release(*split(protection))
        found: dict[tuple, tuple[tuple, str]] = {}  # a count published twice is one finding
        for key, verdict in report.found:
            found.setdefault(internal(key), (key, verdict))
        log.info(
            "audit %s: %s withheld, %s found, %.1f s",
            done + 1,
            len(protection.withheld),
            len(found),
            time.monotonic() - started,
        )
        if not found:
            return split(protection)
        if done == passes:
            break
        widened = []
        for cell, (key, verdict) in found.items():
            if (
                verdict == "exakt"
                and cell in protection.withheld
                and not is_sensitive(counts[cell], min_count)
            ):
                settled.add(cell)
                forced.pop(cell, None)
                continue
            times_found[cell] += 1
            if not second_tables:
                # one more further cell for every pass it has been found in; found a third
                # time, every published cell around it (the ones published as worked out too:
                # they may be what pins it)
                if times_found[cell] >= 3:
                    for candidate in surrounding_cells(cell, 2):
                        settled.discard(candidate)
                        forced[candidate] = (AUDIT, f"granskningen: {describe_cell(key)}")
                    continue
                for _ in range(times_found[cell]):
                    candidate = further_cell(cell, protection.withheld)
                    if candidate is not None:
                        forced[candidate] = (AUDIT, f"granskningen: {describe_cell(key)}")
                continue
            widened.append((cell, key))
            if times_found[cell] == 1:
                continue
            # found again (no second table within reach, or one only in fractions): so every
            # published cell around it (the ones published as worked out too: they may be what
            # pins it), one relation deeper each time it is found
            for candidate in surrounding_cells(cell, times_found[cell]):
                settled.discard(candidate)
                forced[candidate] = (AUDIT, f"granskningen: {describe_cell(key)}")
        also = forced  # single further cells: the round decided afresh with them
        if second_tables:
            log.info(
                "audit %s findings: %s published as worked out, %s found the first time, "
                "%s found again",
                done + 1,
                len(found) - len(widened),
                sum(times_found[cell] == 1 for cell, _ in widened),
                sum(times_found[cell] > 1 for cell, _ in widened),
            )
            # a withheld count the audit works out is one a reader has: the second table keeps it
            unknown = (set(protection.withheld) - settled) | {
                key for key in counts if not published(key) and key not in known
            }
            named, started = dict(widened), time.monotonic()
            chosen = widening_cells(
                counts,
                relations,
                named,
                unknown=unknown,
                fixed=(set(counts) - unknown) & (known | settled | shown_anyway),
                min_count=min_count,
                bounds=reader_bounds(report.release) if named else (),
            )
            for candidate, cell in chosen.items():
                forced[candidate] = (AUDIT, f"granskningen: {describe_cell(named[cell])}")
            log.info(
                "widening %s: %s cells for %s counts, %.1f s",
                done + 1,
                len(chosen),
                len(set(chosen.values())),
                time.monotonic() - started,
            )
            # what this pass withheld stays withheld, but what the audit works out exactly and
            # is published: withholding more only widens what a reader can work out, so a pass
            # never lets out what an earlier one protected
            also = forced | {
                key: decision for key, decision in protection.withheld.items() if key not in settled
            }
        started = time.monotonic()
        protection = decide(known | settled, kept - settled, also)
        log.info("protection %s: %.1f s", done + 2, time.monotonic() - started)
    raise DisclosureRefused(
        f"Statistiken publiceras inte: granskningen kan räkna fram eller ringa in {len(found)} "
        f"undanhållna antal även efter {passes} varv av ytterligare undanhållande: "
        + "; ".join(describe_cell(key) for key, _ in list(found.values())[:20])
        + (f" med flera ({len(found) - 20} till)" if len(found) > 20 else "")
        + ". Inget har skrivits till publiceringen."
    )


def describe_cell(key: tuple) -> str:
    """A cell as protect_round names it, in the words of the published files."""
    if isinstance(key[0], str):
        level, area, kon, column = key
        area_name = f"{_area_name(level, area)} ({LEVEL_NAMES[level]} {area})"
        return f"{area_name}, tratten, kön {kon}, {column}"
    (period_type, period, figure, level, area, breakdown, value), category = key
    category = {N: "n", POPULATION: "n population", SVAR: "n svar"}.get(category, category)
    return (
        f"{_area_name(level, area)} ({LEVEL_NAMES[level]} {area}), figur {figure}, "
        f"{PERIOD_NAMES[period_type]} {period}, {breakdown}={value}, kategori {category}"
    )


# ---------------------------------------------------------------------------------------------
# rendering


def _area_name(level: str, code: str) -> str:
    if level == "riket":
        return "Riket"
    if level == "lan":
        return reference.lan().get(code, code)
    kommun = reference.kommuner().get(code)
    return kommun.namn if kommun else code


def _number(value, decimals: int = 1) -> str:
    return "" if value is None else swedish_number(Decimal(str(value)), decimals)


def excel_csv(header: list[str], rows: Iterable[list[str]]) -> bytes:
    """CSV that Swedish Excel opens as it is: ';', UTF-8 with BOM, decimal comma (the values
    are formatted by the caller)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def funnel_table(funnel: list[dict], withheld: dict) -> list[dict]:
    """The funnel rows; a withheld count is '..'."""
    table = []
    for row in funnel:
        key = (row["level"], row["area_code"], row["kon"])
        values = {
            column: WITHHELD if (*key, column) in withheld else row[column]
            for column in FUNNEL_COLUMNS
        }
        table.append(
            {
                "niva": LEVEL_NAMES[row["level"]],
                "omrade_kod": row["area_code"],
                "omrade": _area_name(row["level"], row["area_code"]),
                "kon": row["kon"],
                **values,
            }
        )
    return table


PublishedFigure = namedtuple(
    "PublishedFigure",
    (
        "period_typ",
        "period",
        "niva",
        "omrade_kod",
        "omrade",
        "figur",
        "diagram",
        "titel",
        "uppdelning",
        "uppdelning_varde",
        "kategori",
        "kategori_namn",
        "antal",
        "n",
        "andel_procent",
        "medelvarde",
        "n_population",
        "n_svar",
    ),
)


def figures_table(figures: list[FigureRow], withheld: dict) -> list[PublishedFigure]:
    """The national-figure rows. A value is a number, '..' when withheld, or None when it does
    not apply (a mean figure has no count or share, a share figure no mean). A withheld count
    takes its share with it; a withheld N every share and the mean of its group."""
    table = []
    for row in figures:
        group = row.group
        saknas = row.category == "saknas"
        base = POPULATION if saknas else N
        counted = row.kind == "share" or saknas

        def shown(key, value):
            return WITHHELD if key in withheld else value

        count = shown((group, row.category), row.numerator) if counted else None
        share = None
        if counted:
            share = WITHHELD if WITHHELD in (count, shown((group, base), 0)) else row.share_pct
        mean = None if counted else shown((group, N), row.mean_value)
        table.append(
            PublishedFigure(
                PERIOD_NAMES[row.period_type],
                row.period,
                LEVEL_NAMES[row.level],
                row.area_code,
                _area_name(row.level, row.area_code),
                row.figure_id,
                row.diagram,
                row.title,
                row.breakdown,
                row.breakdown_value,
                row.category,
                row.category_label,
                count,
                shown((group, N), row.n),
                share,
                mean,
                shown((group, POPULATION), row.n_population),
                None if row.n_answers is None else shown((group, SVAR), row.n_answers),
            )
        )
    return table


def _cell(value, decimals: int | None = None) -> str:
    if value is None:
        return ""
    if value == WITHHELD or decimals is None:
        return str(value)
    return _number(value, decimals)


def preliminary_fields(preliminary: bool) -> dict:
    """What a JSON file of a preliminary publication says of it (a final one's: nothing)."""
    return {"preliminar": True, "preliminar_text": PRELIMINARY_TEXT} if preliminary else {}


def render_files(
    round_id: str,
    funnel: list[dict],
    figures: list[PublishedFigure],
    definitions: list[dict],
    preliminary: bool = False,
) -> dict[str, bytes]:
    marking = [PRELIMINARY] if preliminary else []
    marking_header = [PRELIMINARY_COLUMN] if preliminary else []
    funnel_header = [
        "omgång",
        "nivå",
        "områdeskod",
        "område",
        "kön",
        *FUNNEL_COLUMNS,
        *marking_header,
    ]
    funnel_csv = excel_csv(
        funnel_header,
        (
            [
                round_id,
                r["niva"],
                r["omrade_kod"],
                r["omrade"],
                r["kon"],
                *(_cell(r[c]) for c in FUNNEL_COLUMNS),
                *marking,
            ]
            for r in funnel
        ),
    )
    figure_header = [
        "omgång",
        "periodtyp",
        "period",
        "nivå",
        "områdeskod",
        "område",
        "figur",
        "diagram",
        "titel",
        "uppdelning",
        "uppdelningsvärde",
        "kategori",
        "kategorinamn",
        "antal",
        "n",
        "andel (%)",
        "medelvärde",
        "n population",
        "n svar",
        *marking_header,
    ]
    figures_csv = excel_csv(
        figure_header,
        (
            [
                round_id,
                r.period_typ,
                r.period,
                r.niva,
                r.omrade_kod,
                r.omrade,
                r.figur,
                _cell(r.diagram),
                r.titel,
                r.uppdelning,
                r.uppdelning_varde,
                r.kategori,
                r.kategori_namn,
                _cell(r.antal),
                _cell(r.n),
                _cell(r.andel_procent, 1),
                _cell(r.medelvarde, 1),
                _cell(r.n_population),
                _cell(r.n_svar),
                *marking,
            ]
            for r in figures
        ),
    )
    return {
        "tratt.csv": funnel_csv,
        "nationella_figurer.csv": figures_csv,
        "statistik.json": json_bytes(
            {**statistics_document(round_id, funnel, figures), **preliminary_fields(preliminary)},
            compact=True,
        ),
        "definitioner.json": json_bytes(
            {**definitions_document(definitions, figures), **preliminary_fields(preliminary)}
        ),
    }


FUNNEL_JSON_COLUMNS = ("niva", "omrade_kod", "kon", *FUNNEL_COLUMNS)
FIGURE_JSON_COLUMNS = (
    "period_typ",
    "period",
    "niva",
    "omrade_kod",
    "figur",
    "uppdelning",
    "uppdelning_varde",
    "kategori",
    "antal",
    "n",
    "andel_procent",
    "medelvarde",
    "n_population",
    "n_svar",
)


def statistics_document(round_id: str, funnel: list[dict], figures: list[PublishedFigure]) -> dict:
    """Both tables column-wise (one list per row, names in 'kolumner'), the area names once."""
    areas: dict[str, dict[str, str]] = defaultdict(dict)
    for row in funnel:
        areas[row["niva"]][row["omrade_kod"]] = row["omrade"]
    for figure in figures:
        areas[figure.niva][figure.omrade_kod] = figure.omrade
    positions = [PublishedFigure._fields.index(c) for c in FIGURE_JSON_COLUMNS]
    return {
        "omgang": round_id,
        "omraden": {level: dict(sorted(names.items())) for level, names in sorted(areas.items())},
        "tratt": {
            "kolumner": list(FUNNEL_JSON_COLUMNS),
            "rader": [[row[c] for c in FUNNEL_JSON_COLUMNS] for row in funnel],
        },
        "nationella_figurer": {
            "kolumner": list(FIGURE_JSON_COLUMNS),
            "rader": [[row[i] for i in positions] for row in figures],
        },
    }


def with_summary_parts(definitions: list[dict], figures: list[FigureRow]) -> list[dict]:
    """Each definition with its summary categories (sort order 100-998, e.g. helt eller
    delvis) and their parts as "delar" (an empty list where the parts are not single codes):
    what a reader needs to add the categories up, and what the audit reads."""
    parts: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for row in figures:
        if row.category_parts or 100 <= row.sort_order < 999:
            parts[row.figure_id][row.category] = (
                row.category_parts.split("|") if row.category_parts else []
            )
    return [{**d, "delar": parts.get(d["figure_id"], {})} for d in definitions]


def definitions_document(definitions: list[dict], figures: list[PublishedFigure]) -> dict:
    """Each figure's definition as the report states it, with its categories and labels."""
    categories: dict[str, dict[str, str]] = defaultdict(dict)
    for row in figures:
        categories[row.figur][row.kategori] = row.kategori_namn
    return {
        "figurer": [
            {**definition, "kategorier": categories.get(definition["figure_id"], {})}
            for definition in definitions
        ]
    }


def suppression_text(min_count: int) -> str:
    """The published statement of the rule, true of what `disclosure.protect` does with bounds:
    each relation on its own, then the bounds a reader gets from the relations one at a time,
    then, for the funnel and the national figures, the audit of all relations together before
    anything is written (`protect_round`, `release_audit`, with the kommuner's Kolada counts as
    cells, `kolada_counts`; the Kolada files audited with the statistics after, `kolada.publish`),
    a revision audited together with the version before it, and a first version keeping what
    the round before withheld of the same years, and a revision also what the round after
    withheld (`earlier_round`; not audited together)."""
    small = f"1–{min_count - 1}"
    return (
        f"Antal som är {small} redovisas inte (markeras {WITHHELD}). I varje samband "
        "där ett sådant antal annars vore det enda som saknas (kvinnor och män, kommunerna i ett "
        "län och länen i riket, trattens faser, en figurs kategorier och dess N, "
        "uppdelningarnas värden) redovisas ytterligare ett antal inte. Kan ett sådant antal "
        f"ändå ringas in till ett enda värde eller till {small} med sambanden ett i taget (en "
        "del är högst summan, summan minst delarna), redovisas ytterligare ett antal inte. "
        f"Därför kan även ett antal som är {min_count} eller större saknas; ett sådant antal som "
        "ändå kan räknas fram ur sambanden ett i taget redovisas i stället. Tratten och de "
        "nationella figurerna prövas innan de publiceras med alla sambanden samtidigt, som en "
        "utomstående läsare kan lösa dem (linjärprogrammering): ett antal som då kan räknas fram "
        f"eller ringas in till {small} får ytterligare antal undanhållna, och ett undanhållet "
        f"antal som då kan räknas fram och är 0 eller minst {min_count} redovisas i stället; går "
        "det inte, publiceras de inte. Kommunernas Kolada-värden för årets aktualiserade "
        "ärenden skyddas i samma samband: länens, rikets och storleksgruppernas antal för ett "
        "år är summan av dem, så ett Kolada-värde som bygger på "
        f"1–{min_count - 1} ärenden eller som behöver undanhållas för att ett av statistikens "
        "antal inte ska kunna räknas fram redovisas inte heller i Kolada-filerna (ett sådant "
        "värde väljs sist). Kolada-filerna skyddas sedan med sina egna samband: ett års antal "
        "som statistiken undanhåller räknas där som ett värde som saknas, och filerna prövas "
        "tillsammans med statistiken (med den kända befolkningen 18 år och äldre) innan de "
        "publiceras; ett undanhållet Kolada-värde som då kan räknas fram och bygger på 0 eller "
        f"minst {min_count} ärenden redovisas i stället, och går något annat att räkna fram "
        "publiceras Kolada-filerna inte. En ny version "
        "av en omgång undanhåller allt som versionen före den undanhöll, utom det som ändå kan "
        "räknas fram, och prövas tillsammans med den: den som jämför versionerna kan inte ringa "
        "in något "
        f"undanhållet antal till {small}, men kan i vissa fall räkna fram ett antal som är 0 "
        f"eller minst {min_count} i den tidigare versionen. Ett år redovisas i varje omgång som "
        "täcker det: ett antal för ett år som den senaste versionen av omgången före undanhöll "
        "undanhålls även nu (utom det som ändå kan räknas fram), och ett antal som den "
        "publicerade med samma värde räknas som känt och döljer inget; en ny version av en "
        "omgång gör detsamma med omgången efter den, när den redan är publicerad. "
        "Omgångarna prövas inte tillsammans med varandra. En andel redovisas inte när dess "
        "antal inte gör det, och när en figurs N inte redovisas gör inte heller dess andelar, "
        "medelvärde och antal svar det (antalet svar redovisas ändå när det kan räknas fram och "
        f"är 0 eller minst {min_count}). "
        "I omgångens figur Kön redovisas antalet ärenden där kön saknas även när "
        f"det är {small}: det är trattens totalt minus kvinnor och män bland de aktualiserade "
        "ärendena, och skyddet av tratten räknar med att läsaren känner det. 0 är en verklig nolla."
    )


def _inputs(marts: str, min_count: int, preliminary: bool) -> str:
    """The inputs digest of a publication: `marts` (input_digest), the code and the rule."""
    method = ""
    if get_settings().disclosure == "ckm":  # the noise is the ptable's
        method = f" ckm {cellkey.ptable().sha256}"
    digest = f"{marts} {code_digest()} {min_count} {preliminary}"
    return sha256_hex(f"{digest}{method}".encode())


def current_inputs(round_id: str, engine: Engine) -> str:
    """The digest of what the round's statistics would be published from now (the marts, the
    code, the rule): what a person approves, recorded with the approval."""
    min_count = get_settings().min_publish_count
    return _inputs(
        input_digest(engine, round_id), min_count, round_is_preliminary(engine, round_id)
    )


def is_current(round_id: str, engine: Engine, inputs: str | None = None) -> bool:
    """Whether the round's latest statistics version is of the marts as they stand (so
    publishing again changes nothing); `inputs`: current_inputs, when the caller has it."""
    latest = latest_manifest(get_settings().output / "statistik" / round_id, MANIFEST)
    if latest is None:
        return False
    return latest[1].get("inputs_sha256") == (inputs or current_inputs(round_id, engine))


def protected_files(
    round_id: str,
    funnel: list[dict],
    figures: list[FigureRow],
    definitions: list[dict],
    preliminary: bool,
    funnel_protection: Protection,
    figure_protection: Protection,
) -> dict[str, bytes]:
    """The release's tables with what the two protections withhold."""
    return render_files(
        round_id,
        funnel_table(funnel, funnel_protection.withheld),
        figures_table(figures, figure_protection.withheld),
        definitions,
        preliminary,
    )


AUDITED_FILES = (audit.FUNNEL_FILE, audit.FIGURES_FILE, audit.DEFINITIONS_FILE)


def kolada_reader() -> tuple[dict, dict, dict]:
    """What a reader of the Kolada files knows besides them (public; our copy in the reference
    seeds): the population aged 18+ per unit, year and kön, each stadsdel's kommun (by Kolada OU
    id) and each kommun's size groups (audit.read_kolada)."""
    return (
        reference.kolada_population(),
        reference.kommun_of_kolada_ou(),
        reference.size_groups(),
    )


def describe_finding(finding: audit.Finding) -> str:
    """An audit's finding in the words of the published files, with the interval it gives."""
    low, high = swedish_number(finding.low, 0), finding.high
    interval = low if high == finding.low else f"{low}–{swedish_number(high, 0)}"
    return f"{audit.describe(finding.cell)} ({interval} ärenden)"


def audit_with_kolada(
    directory: Path, kolada_files: Mapping[str, bytes], min_count: int
) -> audit.AuditResult:
    """The independent attack (`sukvinnofrid.audit`) on the statistics version in `directory`
    read together with a Kolada version's files (data.csv, oudata.csv) as a reader has them."""
    release = audit.read_statistics(
        {name: (directory / name).read_bytes() for name in AUDITED_FILES}
    )
    audit.read_kolada(release, kolada_files, *kolada_reader())
    return audit.attack(release, min_count)


LEVEL_OF_NAME = {name: level for level, name in LEVEL_NAMES.items()}
PERIOD_OF_NAME = {name: period for period, name in PERIOD_NAMES.items()}
CATEGORY_OF_FIELD = {"n": N, "n_population": POPULATION, "n_svar": SVAR}


def _audit_key(cell: tuple) -> tuple:
    """A cell as the audit names it -> as protect_round does (of versions read together: the
    cell of the version being published)."""
    if isinstance(cell[0], int):
        cell = cell[1:]
    if cell[0] == "tratt":
        _, level, area, kon, column = cell
        return (LEVEL_OF_NAME[level], area, kon, column)
    _, period_type, period, level, area, figure, breakdown, value, name, category = cell
    group = (PERIOD_OF_NAME[period_type], period, figure, LEVEL_OF_NAME[level], area, breakdown)
    return ((*group, value), category if name == "antal" else CATEGORY_OF_FIELD[name])


def release_audit(
    round_id: str,
    funnel: list[dict],
    figures: list[FigureRow],
    definitions: list[dict],
    preliminary: bool,
    min_count: int,
    revised: tuple[Path, dict] | None,
    in_force: dict[str, Delivery],
) -> Audit:
    """The audit of the release a protection gives, on the bytes it would publish
    (`sukvinnofrid.audit`, which shares no code with the protection), for `protect_round`.
    A revision is also read together with the version before it (`audit.read_versions`):
    there a finding counts when it is a cell of this version, or a count of 1 .. min_count-1
    of the version before that the version before did not give away alone (what it gave away
    is published already; a count of 0 or min_count or more it gave away stays so)."""
    cache: dict = {}
    previous, given_away = None, set()
    if revised is not None:
        previous = {name: (revised[0] / name).read_bytes() for name in AUDITED_FILES}
        previous[audit.MANIFEST_FILE] = (revised[0] / MANIFEST).read_bytes()
        given_away = {
            (0, *f.cell)
            for f in audit.attack(audit.read_statistics(previous), min_count, cache=cache).findings
        }
    manifest = json_bytes({"in_force": {unit: d.as_manifest() for unit, d in in_force.items()}})

    def run(funnel_protection: Protection, figure_protection: Protection):
        files = protected_files(
            round_id,
            funnel,
            figures,
            definitions,
            preliminary,
            funnel_protection,
            figure_protection,
        )
        release = audit.read_statistics(files)
        found = audit.attack(release, min_count, cache=cache).findings
        if previous is not None:
            together = audit.read_versions([previous, {**files, audit.MANIFEST_FILE: manifest}])
            found += [
                f
                for f in audit.attack(together, min_count, cache=cache).findings
                if f.cell[0] == 1
                or (f.cell not in given_away and f.low >= 1 and (f.high or min_count) < min_count)
            ]
        return AuditReport([(_audit_key(f.cell), f.verdict) for f in found], release)

    return run


def publish_statistics(
    round_id: str,
    engine: Engine | None = None,
    output_dir: Path | None = None,
    min_count: int | None = None,
    revision_of: Path | None = None,
    draft: bool = False,
    passes: int = AUDIT_PASSES,
) -> StatisticsPublication:
    """Publish the round's funnel and national figures (see the module docstring); counts
    below `min_count` (default SUKF_MIN_PUBLISH_COUNT) are withheld, or with SUKF_DISCLOSURE=ckm
    every count is perturbed by the Cell Key Method (`sukvinnofrid.cellkey`). Preliminary when the
    round's Kolada key figures are. A version after the first is a revision: it carries
    revisionslogg.csv against the latest version under `revision_of` (default: this output;
    a draft compares with the published statistics). A `draft` may be written once the round's
    last delivery day has passed. A suppressed release is audited before anything is written
    (`protect_round`, `release_audit`): DisclosureRefused when `passes` passes of withholding
    more leave a withheld count the audit works out."""
    if not ROUND_ID.match(round_id or ""):
        raise ValueError(f"round id {round_id!r} is not of the form ÅÅÅÅ-MM")
    check_round_due(round_id, draft=draft)
    if engine is None:
        from .warehouse import engine as warehouse_engine

        engine = warehouse_engine()
    min_count = min_count or get_settings().min_publish_count
    root = Path(output_dir) if output_dir is not None else get_settings().output / "statistik"
    preliminary = round_is_preliminary(engine, round_id)
    marts = input_digest(engine, round_id)
    inputs = _inputs(marts, min_count, preliminary)
    latest = latest_manifest(root / round_id, MANIFEST)
    if latest and latest[1].get("inputs_sha256") == inputs:
        directory, manifest = latest  # the same rows, code and rule: the same bytes
        log_file = directory / LOG_FILE
        return StatisticsPublication(
            round_id,
            directory.name,
            directory,
            True,
            manifest["cells_withheld"],
            tuple(manifest["notes"]),
            log_file if log_file.exists() else None,
        )
    funnel, figures, definitions = read_round(engine, round_id)
    definitions = with_summary_parts(definitions, figures)
    in_force = deliveries_in_force(engine, round_id)
    revised = latest_manifest((revision_of or root) / round_id, MANIFEST)
    method = get_settings().disclosure
    if method == "ckm":  # consistent noise, nothing withheld but means of few cases
        funnel, figures, withheld = cellkey.perturb_round(
            engine, round_id, funnel, figures, FUNNEL_COLUMNS, min_count, WITHHELD
        )
        funnel_protection = figure_protection = Protection(withheld={}, notes=())
        rule = cellkey.method_text(min_count)
    elif revised and revised[1].get("inputs_sha256") == _inputs(
        marts, min_count, bool(revised[1].get("preliminary"))
    ):
        # the same rows, code and rule as the version before, which only its preliminary
        # marking separates from this one: its decisions, audited when it was published
        funnel_protection, figure_protection = decisions_of(revised[0])
        withheld = revised[1]["cells_withheld"]
        rule = suppression_text(min_count)
    else:
        # a revision keeps what the version before it published and the year cells of the
        # round after (published since); a first version the year cells of the round before
        before = revised[0] if revised else adjacent_round(revision_of or root, round_id)
        after = adjacent_round(revision_of or root, round_id, after=True) if revised else None
        kept = [version for version in (before, after) if version is not None]
        key = decision_key(inputs, passes, kept, in_force if revised else None)
        stored = stored_decisions(engine, key)
        if stored is not None:  # decided and audited before (the draft a person approved)
            funnel_protection, figure_protection = stored
        else:
            earlier = None
            if revised:
                earlier = earlier_version(
                    revised[0],
                    _unchanged_areas(funnel, figures, revised[1].get("in_force", {}), in_force),
                )
                if after is not None:
                    earlier = both(earlier, earlier_round(after, figures))
            elif before is not None:
                earlier = earlier_round(before, figures)
            funnel_protection, figure_protection = protect_round(
                funnel,
                figures,
                {d["figure_id"]: d for d in definitions},
                min_count,
                earlier,
                release_audit(
                    round_id,
                    funnel,
                    figures,
                    definitions,
                    preliminary,
                    min_count,
                    revised,
                    in_force,
                ),
                passes,
                kolada_counts(engine, round_id),
            )
            store_decisions(engine, key, round_id, funnel_protection, figure_protection)
        withheld = len(funnel_protection.withheld) + len(figure_protection.withheld)
        withheld -= len(kolada_withheld(figure_protection))
        rule = suppression_text(min_count)
    files = protected_files(
        round_id, funnel, figures, definitions, preliminary, funnel_protection, figure_protection
    )
    if method == "ckm":
        files[cellkey.PTABLE_FILE] = cellkey.ptable().data
    notes = funnel_protection.notes + figure_protection.notes
    if revised and not same_content(revised[0], files):
        previous, previous_manifest = revised
        changed = revision_log(
            {name: (previous / name).read_bytes() for name in STATISTICS_TABLES},
            files,
            changed_deliveries(previous_manifest.get("in_force", {}), in_force),
        )
        if changed is not None:
            files[LOG_FILE] = changed

    def manifest() -> dict[str, bytes]:
        return {
            MANIFEST: json_bytes(
                {
                    "round": round_id,
                    "code": {
                        "package": "sukvinnofrid",
                        "version": __version__,
                        "git_commit": git_commit(),
                    },
                    "inputs_sha256": inputs,
                    "preliminary": preliminary,
                    "min_count": min_count,
                    "disclosure": method,
                    "suppression": rule,
                    "cells_withheld": withheld,
                    "kolada_withheld": kolada_withheld(figure_protection),
                    "rows": {"tratt.csv": len(funnel), "nationella_figurer.csv": len(figures)},
                    "files": {
                        name: {"bytes": len(data), "sha256": sha256_hex(data)}
                        for name, data in files.items()
                    },
                    "in_force": {unit: d.as_manifest() for unit, d in in_force.items()},
                    "revision_of": revised[0].name if LOG_FILE in files else None,
                    "notes": list(notes),
                }
            )
        }

    directory, reused = write_version(root / round_id, files, extra=manifest)
    log.info("statistics of round %s: %s (%s cells withheld)", round_id, directory, withheld)
    log_file = directory / LOG_FILE
    return StatisticsPublication(
        round_id,
        directory.name,
        directory,
        reused,
        withheld,
        notes,
        log_file if log_file.exists() else None,
    )
