"""Withholding of the counts the site shows beside the round's publications, by the rule of
`sukvinnofrid.disclosure` (primary and secondary suppression; the same min_count as the
round's statistics publication).

Two tables are new on the site; each adds sums to cells the Kolada files or the statistics
publication have already decided:
- key figures of län, size group and riket (fct_key_figure_comparisons): an area's count is the
  sum of its kommuner's Kolada cells, so an area value could give away a kommun cell the Kolada
  files withhold, and riket is the sum of the län and of the size groups;
- missing registrations per reporting unit (fct_round_deliveries): a unit's phase counts add up
  within the unit like the funnel's (statistics.FUNNEL_SUMS), and the units of a kommun add up
  to the kommun's funnel cell of the published funnel.
A cell the other publication published is a known number: it leaves its relations (a known term
of a sum reveals nothing). A cell it withheld stays withheld and is protected like one of ours.
A share is shown only when both its count and its phase count are published; a count of a round
whose statistics are not published is not shown at all (no decision to be consistent with).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping

from ..catalogue.figures import load_figures
from ..disclosure import Relation, protect
from ..kolada.definitions import load_definitions
from ..statistics import FUNNEL_SUMS, WITHHELD
from .sources import ReportError

Decisions = dict[Hashable, tuple[str, str]]  # withheld cell -> (reason, detail)


def protect_beside(
    counts: Mapping[Hashable, int],
    relations: Iterable[Relation],
    *,
    min_count: int,
    withheld_elsewhere: Iterable[Hashable],
    published: Callable[[Hashable], bool] = lambda key: True,
    order: Callable[[Hashable], tuple] | None = None,
) -> Decisions:
    """`disclosure.protect` for new cells whose relations include cells another publication has
    withheld: such a cell enters as a sensitive count (protect() decides from counts alone), so
    it is withheld from the start and a relation where it is the only unknown gets a
    complementary cell among ours. Returns the decisions on our cells; a relation that cannot be
    protected stops the site (nothing is shown that could give a cell away)."""
    elsewhere = set(withheld_elsewhere)
    entered = {**counts, **dict.fromkeys(elsewhere, 1)}
    order = order or (lambda key: (entered[key] == 0, entered[key], str(key)))
    result = protect(entered, relations, min_count=min_count, published=published, order=order)
    if result.notes:
        raise ReportError(
            "sekretesskyddet av webbplatsens egna tabeller kunde inte ordnas: "
            + "; ".join(result.notes)
        )
    return {key: decision for key, decision in result.withheld.items() if key not in elsewhere}


# ---------------------------------------------------------------------------------------------
# key figures of the areas a kommun is compared with

AREA_LEVELS = ("lan", "storleksgrupp", "riket")


def protect_comparisons(
    rows: list[dict],
    withheld_kommuner: Mapping[tuple[str, int], set[str]],
    units: Mapping[str, dict],
    min_count: int,
) -> Decisions:
    """Decisions on fct_key_figure_comparisons cells (figure, level, area, year), gender T.

    `withheld_kommuner`: (KPI id, year) -> the kommun codes whose cell the Kolada files withhold.
    Per figure and year: each area = its kommuner (the withheld ones are the unknowns), riket =
    its län = its size groups. Riket is chosen as a complement last."""
    kpi_of = {kpi.figure: kpi.id for kpi in load_definitions().kpis}
    by_group: dict[tuple[str, int], dict[tuple[str, str], dict]] = defaultdict(dict)
    for row in rows:
        by_group[(row["figure"], row["year"])][(row["level"], row["area_code"])] = row
    decisions: Decisions = {}
    for (figure, year), areas in sorted(by_group.items()):
        hidden = sorted(withheld_kommuner.get((kpi_of[figure], year), ()))
        counts: dict[Hashable, int] = {
            (figure, level, area, year): int(row["case_count"])
            for (level, area), row in areas.items()
        }
        relations = []
        unknown_parts: dict[tuple[str, str], list] = defaultdict(list)
        for kommun in hidden:
            unit = units.get(kommun, {})
            for level, area in (
                ("lan", unit.get("lan_kod")),
                ("storleksgrupp", unit.get("storleksgrupp_kod")),
                ("riket", "00"),
            ):
                if (level, area) in areas:
                    unknown_parts[(level, area)].append(("kolada", kommun, year))
        for (level, area), parts in sorted(unknown_parts.items()):
            relations.append(
                Relation(
                    ((figure, level, area, year), *parts),
                    f"secondary-{level}",
                    f"{figure} {year} {level} {area} = dess kommuner",
                )
            )
        riket = areas.get(("riket", "00"))
        for level in ("lan", "storleksgrupp"):
            members = [(level, area) for (lvl, area) in areas if lvl == level]
            if riket is None or sum(areas[m]["units"] for m in members) != riket["units"]:
                continue  # not every kommun of riket has an area of this level
            varying = [(figure, *m, year) for m in sorted(members) if m in unknown_parts]
            if varying:
                relations.append(
                    Relation(
                        ((figure, "riket", "00", year), *varying),
                        f"secondary-{level}",
                        f"{figure} {year} riket = summan av {level}",
                    )
                )
        decisions.update(
            protect_beside(
                counts,
                relations,
                min_count=min_count,
                withheld_elsewhere=[part for parts in unknown_parts.values() for part in parts],
                order=lambda key, counts=counts: (
                    key[1] == "riket",
                    counts.get(key, 0) == 0,
                    counts.get(key, 0),
                    str(key),
                ),
            )
        )
    return decisions


def withheld_kolada_kommuner(cells: Iterable) -> dict[tuple[str, int], set[str]]:
    """(KPI, year) -> kommun codes whose T cell the Kolada files withhold."""
    withheld: dict[tuple[str, int], set[str]] = defaultdict(set)
    for cell in cells:
        if cell.status == WITHHELD and cell.unit.isdigit():
            withheld[(cell.kpi, cell.year)].add(cell.unit)
    return withheld


# ---------------------------------------------------------------------------------------------
# missing registrations per reporting unit

# each missing registration and the phase it is a share of (fct_round_deliveries' andel_*)
MISSING_SHARES = load_figures().funnel.missing_shares
UNPUBLISHED_ROUND = "omgångens statistik är inte publicerad"


def protect_deliveries(
    rows: list[dict], funnels: Mapping[str, Mapping], min_count: int
) -> dict[tuple[str, str], set[str]]:
    """(round, unit) -> the missing-registration shares (names of MISSING_SHARES) not shown.

    Per round with a published funnel (`funnels`: round -> (level, area, kön) -> column ->
    count or '..'): each unit's phase counts (FUNNEL_SUMS, with the unpublished complements),
    and per kommun and column the kommun's funnel cell = the sum of its units' cells."""
    hidden: dict[tuple[str, str], set[str]] = {}
    all_shares = {name for name, _ in MISSING_SHARES}
    by_round: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row["aktualiserade"] is not None:
            by_round[row["round_id"]].append(row)
    for round_id, round_rows in sorted(by_round.items()):
        funnel = funnels.get(round_id)
        if funnel is None:
            hidden.update({(round_id, row["unit_kod"]): set(all_shares) for row in round_rows})
            continue
        counts: dict[Hashable, int] = {}
        relations = []
        elsewhere = []
        units_of: dict[str, list[str]] = defaultdict(list)
        for row in round_rows:
            unit = row["unit_kod"]
            units_of[row["kommun_kod"]].append(unit)
            for total, parts in FUNNEL_SUMS:
                for part in (total, *parts):
                    if part.startswith("~"):
                        shown = next(p for p in parts if not p.startswith("~"))
                        counts[(unit, part)] = row[total] - row[shown]
                    else:
                        counts[(unit, part)] = row[part]
                relations.append(
                    Relation(
                        tuple((unit, c) for c in (total, *parts)),
                        "secondary-fas",
                        f"{round_id} {unit}: {total}",
                    )
                )
        for kommun, units in sorted(units_of.items()):
            cells = funnel.get(("kommun", kommun, "T"), {})
            for column in {
                c for total, parts in FUNNEL_SUMS for c in (total, *parts) if not c.startswith("~")
            }:
                members = [(unit, column) for unit in sorted(units)]
                if cells.get(column, WITHHELD) == WITHHELD:
                    members.append(("tratt", kommun, column))
                    elsewhere.append(("tratt", kommun, column))
                relations.append(
                    Relation(
                        tuple(members), "secondary-kommun", f"{round_id} kommun {kommun} {column}"
                    )
                )
        decisions = protect_beside(
            counts,
            relations,
            min_count=min_count,
            withheld_elsewhere=elsewhere,
            published=lambda key: not str(key[-1]).startswith("~"),
        )
        for row in round_rows:
            unit = row["unit_kod"]
            hidden[(round_id, unit)] = {
                name
                for name, phase in MISSING_SHARES
                if (unit, name) in decisions or (unit, phase) in decisions
            }
    return hidden


def riket_shares_hidden(funnel: Mapping | None) -> set[str]:
    """The riket missing-registration shares whose count or phase count the published funnel
    withholds (all of them when the round's statistics are not published)."""
    if funnel is None:
        return {name for name, _ in MISSING_SHARES}
    cells = funnel.get(("riket", "00", "T"), {})
    return {
        name
        for name, phase in MISSING_SHARES
        if WITHHELD in (cells.get(name, WITHHELD), cells.get(phase, WITHHELD))
    }
