"""Disclosure control of the Kolada cells (pure functions) on the shared rule of
`sukvinnofrid.disclosure` (primary and secondary suppression, stated there exactly).

A *cell* is one KPI, unit (kommun, or a stadsdel published as Kolada OU data), year and gender
with its case count and its value (antal/10 000 vuxna invånare). Since the adult population is
public (SCB), a published value gives away the case count, so the rules are stated on counts.
Suppression is decided per KPI and year; cells of different KPIs or years never influence each
other. The relations, in the order each pass checks them:

a. Gender, per unit (``T = K + M``), when the unit has all of T, K and M. A gender that is not
   published is an unknown of the relation but never withheld: with only T published, K and M
   are both unknown and nothing happens; with T and K published and M sensitive, T or K is
   withheld (reason ``secondary-gender``).
b. Stadsdelar, per kommun reporting by stadsdel and gender: the kommun's value is the mean of its
   stadsdelar' values, so the kommun cell and its stadsdel cells form one relation
   (``secondary-ou``).
c. Län, per published gender (when ``"lan"`` is in ``aggregate_levels``): the län total (the sum
   over its kommuner with a cell) may be published elsewhere, so the kommun cells of a län form a
   relation (``secondary-lan``).
d. Riket, per published gender (``"riket"``): all kommun cells (``secondary-riket``).
e. Size groups (``"storleksgrupp"``, ``"befolkningsgrupp"``), per published gender: the kommun
   cells of a size group, in riket and in each län (``secondary-group``). The national
   statistics publish each year's cases by the kommuner's size groups (figures storleksgrupp and
   befolkningsgrupp, at län and riket), so those totals are public. A kommun alone in its group
   in riket (say Stockholm) is that national total itself: it is never chosen as a
   complementary cell, since withholding it hides nothing.
f. The national statistics (``withheld_totals``): the län's, riket's and size groups' year
   totals of a key figure that counts a population of the statistics by the same year (U30750:
   every case, by the year of aktualisering), and a kommun's own count where the statistics
   publish year cells of kommuner, are the statistics' year cells of that
   population, decided first over all their relations. A total the statistics withhold is a
   withheld cell of its relation in c-e (reason ``in-statistics``): the kommun cells must not
   give it away, so one of them is withheld with it. A total the statistics publish stays a
   known total, as in c-e; a kommun alone in its size group hides the group's withheld total.
   The statistics' protection decides those kommun counts (T) with its year cells, as cells
   of the same relations: a count it withholds (``withheld_cells``) is withheld here before
   a-e are checked (reason ``with-statistics``).
Län comes before riket: a län complement also protects the riket total, so fewer cells are lost.
A cell an earlier version withheld (``withheld_before``: the round's version before a
revision, or for a first version the latest version of the round before, for the years both
publish) is withheld again before a-f are checked (reason ``earlier-version``).
Complementary cells: the smallest count first, zeros last; ties by kommun code (b-d) or by the
gender order T, K, M (a).

A cell that its unit does not cover (the kommun has not reported the whole year: macro
year_covered of the dbt project) is not a count at all: it is published without a value, with
`not_covered_status`, and is in no relation. A published cell gets its value rounded half up
to ``decimals`` and status ``""``; a withheld cell gets value ``None`` and status
``withheld_status``. Cells of a gender that is not published are returned with ``in_output``
False (value None, status "").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from ..disclosure import EARLIER, PRIMARY, Relation, protect

GENDER_ORDER = ("T", "K", "M")

PUBLISHED = "published"
NOT_PUBLISHED_GENDER = "gender-not-published"
NOT_COVERED = "not-covered"
SECONDARY_GENDER = "secondary-gender"
SECONDARY_OU = "secondary-ou"
SECONDARY_LAN = "secondary-lan"
SECONDARY_RIKET = "secondary-riket"
SECONDARY_GROUP = "secondary-group"
IN_STATISTICS = "in-statistics"  # a total (no cell of the Kolada files) the statistics withhold
WITH_STATISTICS = "with-statistics"  # a kommun's count the statistics' protection withholds
WITHHELD_REASONS = (
    PRIMARY,
    EARLIER,
    WITH_STATISTICS,
    SECONDARY_GENDER,
    SECONDARY_OU,
    SECONDARY_LAN,
    SECONDARY_RIKET,
    SECONDARY_GROUP,
)
SIZE_GROUPINGS = ("storleksgrupp", "befolkningsgrupp")


@dataclass(frozen=True)
class Cell:
    kpi: str
    kommun: str  # the kommun (of a stadsdel, for an OU cell)
    year: int
    gender: str
    case_count: int
    value: Decimal | float | None  # antal/10 000 vuxna invånare, unrounded
    lan: str = ""  # län code; defaults to the first two digits of the kommun code
    ou: str = ""  # Kolada OU id of a stadsdel; empty for a kommun cell
    covered: bool = True  # the unit covers the whole year (dbt macro year_covered)
    by_stadsdel: bool = False  # a kommun cell whose value is the mean of its stadsdelar
    # the kommun's size groups, grouping -> code (marts.dim_reporting_units), e.g.
    # (("befolkningsgrupp", "5"), ("storleksgrupp", "3"))
    size_groups: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> tuple[str, int, str, str, str]:
        return (self.kpi, self.year, self.kommun, self.ou, self.gender)

    @property
    def lan_code(self) -> str:
        return self.lan or self.kommun[:2]


@dataclass(frozen=True)
class CellDecision:
    cell: Cell
    in_output: bool  # the gender is published: the cell goes into the Kolada files
    value: float | None
    status: str
    reason: str  # one of PUBLISHED, NOT_PUBLISHED_GENDER, NOT_COVERED, WITHHELD_REASONS
    detail: str = ""

    @property
    def withheld(self) -> bool:
        return self.reason in WITHHELD_REASONS


@dataclass(frozen=True)
class DisclosureResult:
    decisions: tuple[CellDecision, ...]
    notes: tuple[str, ...]


def round_value(value: Decimal | float, decimals: int) -> float:
    """Round half up (not banker's rounding) to `decimals` and return a float."""
    quantum = Decimal(1).scaleb(-decimals)
    return float(Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP))


def total_key(kpi: str, year: int, area: str, gender: str) -> tuple[str, int, str, str, str]:
    """The key of a total over kommun cells (relations c-e), shaped as Cell.key: `area` is
    "kommun 0180", "län 01", "riket" or "<grouping> <code> riket|län <code>"."""
    return (kpi, year, "", f"total {area}", gender)


def _relations(
    group: list[Cell],
    published: set[str],
    aggregate_levels: Sequence[str],
    withheld_totals: Collection[tuple] = (),
) -> list[Relation]:
    """The relations of one KPI and year, in checking order (see the module docstring); a
    total in `withheld_totals` (total_key) is the first member of its relation."""
    kpi, year = group[0].kpi, group[0].year
    relations: list[Relation] = []

    def over_kommuner(cells: list[Cell], area: str, gender: str, reason: str, label: str):
        total = total_key(kpi, year, area, gender)
        keys = tuple(c.key for c in cells)
        relations.append(
            Relation((total, *keys) if total in withheld_totals else keys, reason, label)
        )

    by_unit: dict[tuple[str, str], dict[str, Cell]] = defaultdict(dict)
    for cell in group:
        by_unit[(cell.kommun, cell.ou)][cell.gender] = cell
    for cell in group:  # a kommun's own year cell the statistics withhold (relation f)
        total = total_key(kpi, year, f"kommun {cell.kommun}", cell.gender)
        if not cell.ou and total in withheld_totals:
            relations.append(Relation((total, cell.key), IN_STATISTICS, f"kommun {cell.kommun}"))
    for (kommun, ou), triple in sorted(by_unit.items()):
        if set(triple) == set(GENDER_ORDER):
            unit = f"stadsdel {ou}" if ou else f"kommun {kommun}"
            relations.append(
                Relation(
                    tuple(triple[g].key for g in GENDER_ORDER),
                    SECONDARY_GENDER,
                    f"{unit} T = K + M",
                )
            )
    for gender in GENDER_ORDER:
        by_kommun: dict[str, list[Cell]] = defaultdict(list)
        for cell in group:
            if cell.gender == gender:
                by_kommun[cell.kommun].append(cell)
        for kommun, cells in sorted(by_kommun.items()):
            if any(c.by_stadsdel for c in cells) and any(c.ou for c in cells):
                relations.append(
                    Relation(
                        tuple(c.key for c in sorted(cells, key=lambda c: c.ou)),
                        SECONDARY_OU,
                        f"kommun {kommun} medel av stadsdelar, gender {gender}",
                    )
                )
    for level, reason in (("lan", SECONDARY_LAN), ("riket", SECONDARY_RIKET)):
        if level not in aggregate_levels:
            continue
        for gender in GENDER_ORDER:
            if gender not in published:
                continue
            members: dict[str, list[Cell]] = defaultdict(list)
            for cell in group:
                if cell.gender == gender and not cell.ou:
                    members[cell.lan_code if level == "lan" else "riket"].append(cell)
            for name, cells in sorted(members.items()):
                area = f"län {name}" if level == "lan" else "riket"
                over_kommuner(cells, area, gender, reason, f"{area} total, gender {gender}")
    for grouping in SIZE_GROUPINGS:
        if grouping not in aggregate_levels:
            continue
        for gender in GENDER_ORDER:
            if gender not in published:
                continue
            members = defaultdict(list)
            for cell in group:
                code = dict(cell.size_groups).get(grouping)
                if cell.gender == gender and not cell.ou and code is not None:
                    members[("riket", code)].append(cell)
                    members[(cell.lan_code, code)].append(cell)
            for (area, code), cells in sorted(members.items()):
                where = f"{grouping} {code} {'riket' if area == 'riket' else 'län ' + area}"
                over_kommuner(
                    cells, where, gender, SECONDARY_GROUP, f"{where} total, gender {gender}"
                )
    return relations


def _alone_in_a_size_group(
    group: list[Cell],
    published: set[str],
    aggregate_levels: Sequence[str],
    withheld_totals: Collection[tuple] = (),
) -> set[tuple]:
    """Kommun cells alone in their size group in riket (say Stockholm): the group's national
    total, which the statistics publish, is the cell itself (unless they withhold it)."""
    members: dict[tuple, list[tuple]] = defaultdict(list)
    for cell in group:
        if cell.ou or cell.gender not in published:
            continue
        for grouping, code in cell.size_groups:
            total = total_key(cell.kpi, cell.year, f"{grouping} {code} riket", cell.gender)
            if grouping in aggregate_levels and total not in withheld_totals:
                members[(grouping, code, cell.gender)].append(cell.key)
    return {keys[0] for keys in members.values() if len(keys) == 1}


def apply_disclosure(
    cells: Iterable[Cell],
    *,
    published_genders: Sequence[str],
    min_count: int,
    withheld_status: str = "..",
    not_covered_status: str = "-",
    decimals: int = 1,
    aggregate_levels: Sequence[str] = ("lan", "riket"),
    withheld_totals: Collection[tuple] = (),
    withheld_cells: Collection[tuple] = (),
    withheld_before: Collection[tuple] = (),
) -> DisclosureResult:
    """Decide, for each cell, whether it is published and why (see the module docstring).
    `withheld_totals`: the totals (total_key) the national statistics withhold, and
    `withheld_cells`: the cells (Cell.key) their protection withholds (relation f).
    `withheld_before`: the cells (Cell.key) an earlier version withheld (the round's version
    before, or the round before for the same years): withheld again (reason earlier-version),
    so that no version lets out what another hid.

    `published_genders` applies to every cell given; call once per KPI when KPIs differ.
    Decisions come back sorted by KPI, year, kommun and gender order T, K, M.
    """
    if min_count < 1:
        raise ValueError("min_count must be at least 1")
    published = set(published_genders)
    cells = list(cells)
    by_key: dict[tuple, Cell] = {}
    for cell in cells:
        if cell.gender not in GENDER_ORDER:
            raise ValueError(f"unknown gender {cell.gender!r} in {cell.key}")
        if cell.case_count is None or cell.case_count < 0:
            raise ValueError(f"case_count must be a non-negative integer in {cell.key}")
        if cell.key in by_key:
            raise ValueError(f"duplicate cell {cell.key}")
        by_key[cell.key] = cell

    reasons: dict[tuple, tuple[str, str]] = {}
    notes: list[str] = []
    groups: dict[tuple[str, int], list[Cell]] = defaultdict(list)
    for cell in by_key.values():
        if cell.covered:
            groups[(cell.kpi, cell.year)].append(cell)
    for (kpi, year), group in sorted(groups.items()):
        counts = {cell.key: cell.case_count for cell in group}
        relations = _relations(group, published, aggregate_levels, withheld_totals)
        totals = {r.members[0]: r.members[1:] for r in relations if r.members[0] in withheld_totals}
        counts |= {total: sum(counts[key] for key in parts) for total, parts in totals.items()}
        result = protect(
            counts,
            relations,
            min_count=min_count,
            published=lambda key: key[4] in published,
            # the statistics withhold the group's total with such a cell, if they have it
            known=(
                _alone_in_a_size_group(group, published, aggregate_levels, withheld_totals)
                - set(withheld_cells)
            ).__contains__,
            also_withheld=dict.fromkeys(
                totals, (IN_STATISTICS, "withheld in the national statistics")
            )
            | {
                key: (WITH_STATISTICS, "withheld with the national statistics' year cells")
                for key in withheld_cells
                if key in counts
            },
            order=lambda key, counts=counts: (
                counts[key] == 0,
                counts[key],
                key[2],
                key[3],
                GENDER_ORDER.index(key[4]),
            ),
            primary_detail=lambda key, counts=counts: f"case_count {counts[key]} < {min_count}",
            withheld_before=[key for key in withheld_before if key in counts],
        )
        reasons.update((key, why) for key, why in result.withheld.items() if key not in totals)
        notes.extend(sorted(f"{kpi} {year} {note}" for note in result.notes))

    decisions = []
    for cell in sorted(
        by_key.values(), key=lambda c: (c.kpi, c.year, c.kommun, c.ou, GENDER_ORDER.index(c.gender))
    ):
        if cell.gender not in published:
            decisions.append(CellDecision(cell, False, None, "", NOT_PUBLISHED_GENDER))
        elif not cell.covered:
            decisions.append(CellDecision(cell, True, None, not_covered_status, NOT_COVERED))
        elif cell.key in reasons:
            reason, detail = reasons[cell.key]
            decisions.append(CellDecision(cell, True, None, withheld_status, reason, detail))
        else:
            if cell.value is None:
                raise ValueError(f"published cell {cell.key} has no value")
            decisions.append(
                CellDecision(cell, True, round_value(cell.value, decimals), "", PUBLISHED)
            )
    return DisclosureResult(decisions=tuple(decisions), notes=tuple(notes))
