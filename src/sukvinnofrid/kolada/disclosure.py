"""Disclosure control of the Kolada cells: primary and secondary suppression (pure functions).

A *cell* is one KPI, kommun, year and gender with its case count and its value (antal/10 000
vuxna invånare). Since the adult population is public (SCB), a published value gives away the
case count, so the rules below are stated on counts. Suppression is decided per KPI and year;
cells of different KPIs or years never influence each other.

Rule, exactly as implemented (`apply_disclosure`):

1. Primary suppression. A cell is *sensitive* when ``1 <= case_count < min_count``. A sensitive
   cell of a published gender is withheld (reason ``primary``). A count of 0 is a true zero and
   is published as 0.0.

2. Secondary suppression, repeated until nothing changes (the withheld set only grows, so it
   ends), each pass in this order and in sorted order within a step:

   a. Gender relation, per kommun (``T = K + M``), only when the kommun has all of T, K and M.
      A member is *hidden* when its gender is not published or it is withheld. If exactly one
      member is hidden and that member is sensitive or withheld, the visible members would give
      it away, so one more published, not yet withheld member is withheld (reason
      ``secondary-gender``). With only T published, K and M are both hidden and nothing happens;
      with T and K published and M sensitive, T or K is withheld.

   b. Län relation, per published gender and län (when ``"lan"`` is in ``aggregate_levels``):
      the län total is the sum over the kommuner of the län that have a cell. If exactly one
      cell of the län is withheld, one more cell of the same län is withheld
      (``secondary-lan``).

   c. Riket relation, per published gender (when ``"riket"`` is in ``aggregate_levels``): the
      riket total is the sum over all kommuner with a cell. If exactly one cell is withheld, one
      more is withheld (``secondary-riket``).

   Län comes before riket: a län complement also protects the riket total, so fewer cells are
   lost than the other way round.

   Choice of the complementary cell (every step): among the candidates (published gender, not
   withheld, in the relation) the smallest count, but counts of 0 last (withholding a true zero
   adds no uncertainty: the attacker would still learn the withheld cell exactly when the zero is
   guessed); ties broken by kommun code (b, c) or by the gender order T, K, M (a).

   A relation with a lone withheld cell and no candidate (e.g. a län where only one kommun has a
   cell) cannot be protected inside the publication; it is reported in ``notes`` so that the
   corresponding total is not published elsewhere.

3. A published cell gets its value rounded half up to ``decimals`` and status ``""``; a withheld
   cell gets value ``None`` and status ``withheld_status`` whatever the marker. Cells of a gender
   that is not published are returned with ``in_output`` False (value None, status "").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

GENDER_ORDER = ("T", "K", "M")

PUBLISHED = "published"
NOT_PUBLISHED_GENDER = "gender-not-published"
PRIMARY = "primary"
SECONDARY_GENDER = "secondary-gender"
SECONDARY_LAN = "secondary-lan"
SECONDARY_RIKET = "secondary-riket"
WITHHELD_REASONS = (PRIMARY, SECONDARY_GENDER, SECONDARY_LAN, SECONDARY_RIKET)


@dataclass(frozen=True)
class Cell:
    kpi: str
    kommun: str
    year: int
    gender: str
    case_count: int
    value: Decimal | float | None  # antal/10 000 vuxna invånare, unrounded
    lan: str = ""  # län code; defaults to the first two digits of the kommun code

    @property
    def key(self) -> tuple[str, int, str, str]:
        return (self.kpi, self.year, self.kommun, self.gender)

    @property
    def lan_code(self) -> str:
        return self.lan or self.kommun[:2]


@dataclass(frozen=True)
class CellDecision:
    cell: Cell
    in_output: bool  # the gender is published: the cell goes into the Kolada files
    value: float | None
    status: str
    reason: str  # one of PUBLISHED, NOT_PUBLISHED_GENDER, WITHHELD_REASONS
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


def is_sensitive(case_count: int, min_count: int) -> bool:
    return 1 <= case_count < min_count


def _complement_order(cell: Cell) -> tuple:
    return (cell.case_count == 0, cell.case_count, cell.kommun, GENDER_ORDER.index(cell.gender))


def apply_disclosure(
    cells: Iterable[Cell],
    *,
    published_genders: Sequence[str],
    min_count: int,
    withheld_status: str = "..",
    decimals: int = 1,
    aggregate_levels: Sequence[str] = ("lan", "riket"),
) -> DisclosureResult:
    """Decide, for each cell, whether it is published and why (see the module docstring).

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
        groups[(cell.kpi, cell.year)].append(cell)

    for (kpi, year), group in sorted(groups.items()):
        group_notes: set[str] = set()
        for cell in group:
            if cell.gender in published and is_sensitive(cell.case_count, min_count):
                reasons[cell.key] = (PRIMARY, f"case_count {cell.case_count} < {min_count}")

        def withheld(cell: Cell) -> bool:
            return cell.key in reasons

        def protect(members: list[Cell], reason: str, label: str) -> bool:
            candidates = sorted(
                (c for c in members if c.gender in published and not withheld(c)),
                key=_complement_order,
            )
            if not candidates:
                group_notes.add(
                    f"{kpi} {year} {label}: a withheld cell has no complementary cell; "
                    "do not publish this total"
                )
                return False
            reasons[candidates[0].key] = (reason, label)
            return True

        by_kommun: dict[str, dict[str, Cell]] = defaultdict(dict)
        for cell in group:
            by_kommun[cell.kommun][cell.gender] = cell

        changed = True
        while changed:
            changed = False
            # (a) gender relation T = K + M per kommun
            for kommun in sorted(by_kommun):
                triple = by_kommun[kommun]
                if set(triple) != set(GENDER_ORDER):
                    continue
                members = [triple[g] for g in GENDER_ORDER]
                hidden = [c for c in members if c.gender not in published or withheld(c)]
                if len(hidden) == 1 and (
                    withheld(hidden[0]) or is_sensitive(hidden[0].case_count, min_count)
                ):
                    changed |= protect(members, SECONDARY_GENDER, f"kommun {kommun} T = K + M")
            # (b) län totals, (c) riket totals, per published gender
            for level, reason in (("lan", SECONDARY_LAN), ("riket", SECONDARY_RIKET)):
                if level not in aggregate_levels:
                    continue
                for gender in GENDER_ORDER:
                    if gender not in published:
                        continue
                    relations: dict[str, list[Cell]] = defaultdict(list)
                    for cell in group:
                        if cell.gender == gender:
                            relations[cell.lan_code if level == "lan" else "riket"].append(cell)
                    for name in sorted(relations):
                        members = relations[name]
                        if sum(1 for c in members if withheld(c)) == 1:
                            label = f"län {name} total, gender {gender}" if level == "lan" else (
                                f"riket total, gender {gender}"
                            )
                            changed |= protect(members, reason, label)
        notes.extend(sorted(group_notes))

    decisions = []
    for cell in sorted(by_key.values(), key=lambda c: (c.kpi, c.year, c.kommun, GENDER_ORDER.index(c.gender))):
        if cell.gender not in published:
            decisions.append(CellDecision(cell, False, None, "", NOT_PUBLISHED_GENDER))
        elif cell.key in reasons:
            reason, detail = reasons[cell.key]
            decisions.append(CellDecision(cell, True, None, withheld_status, reason, detail))
        else:
            if cell.value is None:
                raise ValueError(f"published cell {cell.key} has no value")
            decisions.append(CellDecision(cell, True, round_value(cell.value, decimals), "", PUBLISHED))
    return DisclosureResult(decisions=tuple(decisions), notes=tuple(notes))
