"""Disclosure control of published counts: primary and secondary suppression (pure functions).

Every published figure (the Kolada key figures, the funnel, the national figures) is a table of
counts of cases, some of which add up to others: T = K + M, the kommuner of a län add up to the
län, the categories of a figure add up to its N, a kommun's value is the mean of its
stadsdelar. A published share, mean or value per 10 000 gives its count away (the N and the
population are public), so the rules are stated on counts.

The rule, exactly as `protect` implements it:

1. Primary suppression: a published cell whose count is 1 .. min_count-1 is withheld. A count of
   0 is a true zero and is published.
2. Secondary suppression, repeated until nothing changes (the withheld set only grows, so it
   ends), relation by relation in the order given: a relation is a set of cells of which any one
   can be computed from the others (a sum or a mean with a known total). A cell of it is
   *unknown* when it is withheld or not published at all (unless the caller says a reader knows
   it anyway: `known`). When exactly one cell of a relation is
   unknown and that cell is withheld or sensitive (1 .. min_count-1), the others would give it
   away: one more published cell of the relation is withheld, the one first in `order` (callers
   put the smallest count first and zeros last: withholding a true zero protects nothing, since a
   reader who guesses it learns the withheld cell exactly).
   A relation with a lone unknown cell and no published cell left to withhold cannot be
   protected inside the publication: it is reported in `notes`, so that its total is not
   published elsewhere.

With `bounds` (the round's statistics: every relation is a sum, its first cell the total of
the others, and no count is negative), a reader also bounds each withheld count, and two more
steps follow step 2, repeated with it until nothing changes:

3. Bounds: a reader's lowest and highest value of every unknown cell, from one relation at a
   time, repeated while a bound tightens (a part is at most its total less the other parts' lows;
   a total at least the sum of its parts' lows; ...). A sensitive withheld count bounded to one
   value, or to within 1 .. min_count-1, gets one more withheld cell: the first in `order` of
   the first relation (in their order) that gives the bound and has a cell left to withhold,
   or else of the nearest relation behind it (one that bounds another unknown cell of that
   relation).
4. Once nothing changes, a withheld count that is not sensitive and that the bounds fix to one
   value is published after all: a reader works it out anyway, so publishing it tells nothing
   new, and a withheld value never turns out to be computable.

Bounds from one relation at a time are what a reader gets by hand; solving many relations
together (linear programming) can still narrow a withheld count. `sukvinnofrid.audit` is that
reader, written apart from this module.

So a withheld 6 or 10 is one of the "further values withheld so that none can be derived".
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

PRIMARY = "primary"
EARLIER = "earlier-version"  # withheld because a version before this one withheld it
AUDIT = "secondary-audit"  # withheld because the audit (linear programming) pinned a count


@dataclass(frozen=True)
class Relation:
    """Cells of which any one can be derived from the others (e.g. a total and its parts, or
    the parts of a total that is published elsewhere)."""

    members: tuple[Hashable, ...]
    reason: str  # why a cell withheld for this relation is withheld, e.g. 'secondary-lan'
    label: str  # what the relation is, for notes and decisions


@dataclass(frozen=True)
class Protection:
    withheld: dict[Hashable, tuple[str, str]]  # cell -> (reason, detail)
    notes: tuple[str, ...]


def is_sensitive(count: int, min_count: int) -> bool:
    return 1 <= count < min_count


def smallest_first(
    counts: Mapping[Hashable, int], tie: Callable[[Hashable], tuple] = lambda key: (key,)
) -> Callable:
    """The usual order of complementary cells: the smallest count first, zeros last."""
    return lambda key: (counts[key] == 0, counts[key], *tie(key))


def protect(
    counts: Mapping[Hashable, int],
    relations: Iterable[Relation],
    *,
    min_count: int,
    published: Callable[[Hashable], bool] = lambda key: True,
    known: Callable[[Hashable], bool] = lambda key: False,
    order: Callable[[Hashable], tuple] | None = None,
    primary_detail: Callable[[Hashable], str] | None = None,
    bounds: bool = False,
    describe: Callable[[Hashable], str] = repr,
    withheld_before: Iterable[Hashable] = (),
    also_withheld: Mapping[Hashable, tuple[str, str]] | None = None,
    shown_anyway: Callable[[Hashable], bool] = lambda key: False,
) -> Protection:
    """Decide which cells are withheld (see the module docstring).

    `counts` holds every cell's count, published or not; `published(key)` says whether the cell
    is in the publication at all (e.g. a gender that is not published is an unknown of its
    relations, but is never withheld); `known(key)` says that an unpublished cell is one a
    reader can work out or bound to fewer than min_count values anyway (say the cases without
    kön where there are fewer than min_count of them): it hides nothing, so it is no unknown of
    its relations, and is never withheld either (a published cell that is `known` is published
    elsewhere too, e.g. a kommun alone in its size group: never a complementary cell); `order`
    sorts the complementary candidates; `describe` names a cell in the notes.

    `bounds`: every relation is a sum, its first member the total of the others, and counts are
    never negative; a reader then bounds each withheld count by the whole set of relations
    (step 3 of the module docstring).

    `withheld_before`: the cells an earlier version of the same publication withheld. They are
    withheld again (reason EARLIER) before step 2, so a revision never lets out a value a
    version before it hid (its relations there would give the hidden cells away).

    `also_withheld`: further cells withheld from the start, with their (reason, detail): the
    complementary cells the publication's audit asked for (see `statistics.protect_round`).

    `shown_anyway(key)`: a published cell that is published whatever its count, because the
    publication gives it away on purpose elsewhere (the cases without kön of an area, T - K - M
    of its funnel, where there are fewer than min_count of them): never withheld, and known to
    a reader in its relations.
    """
    if min_count < 1:
        raise ValueError("min_count must be at least 1")
    relations: Sequence[Relation] = list(relations)
    order = order or smallest_first(counts)
    hidden, fixed = set(), set()
    withheld: dict[Hashable, tuple[str, str]] = {}
    for key, count in counts.items():
        if count is None or count < 0:
            raise ValueError(f"count must be a non-negative integer for {key!r}")
        if not published(key):
            (fixed if known(key) else hidden).add(key)
        elif shown_anyway(key):
            fixed.add(key)
        elif is_sensitive(count, min_count):
            withheld[key] = (
                PRIMARY,
                primary_detail(key) if primary_detail else f"count {count} < {min_count}",
            )
        elif known(key):
            fixed.add(key)  # published elsewhere too: withholding it here would hide nothing
    for key in withheld_before:
        if key in counts and published(key) and key not in withheld and key not in fixed:
            withheld[key] = (EARLIER, "withheld in an earlier version")
    for key, decision in (also_withheld or {}).items():
        if key in counts and published(key) and key not in withheld and key not in fixed:
            withheld[key] = decision
    of_cell: dict[Hashable, list[int]] = defaultdict(list)
    seeds: list[int] = []
    for index, relation in enumerate(relations):
        seed = False  # a relation to start from: it has a sensitive or withheld cell
        for key in relation.members:
            count = counts.get(key)
            if count is None:
                raise ValueError(f"{relation.label}: cell without a count {key!r}")
            seed = seed or is_sensitive(count, min_count) or key in withheld
            of_cell[key].append(index)
        if seed:
            seeds.append(index)
        if bounds and counts[relation.members[0]] != sum(
            counts[key] for key in relation.members[1:]
        ):
            raise ValueError(f"{relation.label}: the first cell is not the sum of the others")
    notes: list[str] = []
    sums = _Sums(counts, relations) if bounds else None
    for _ in range(MAX_BOUND_ROUNDS if bounds else 1):
        _complement(
            counts, relations, of_cell, seeds, withheld, hidden, fixed, order, min_count, notes
        )
        if not bounds:
            break
        added, pinned, bounded = _repair_bounds(
            counts, relations, sums, withheld, hidden, fixed, order, min_count
        )
        if not added:
            notes.extend(
                f"{describe(key)}: a reader bounds this withheld count; do not publish it"
                for key in pinned
            )
            # step 4: a count a reader works out anyway is published (it tells nothing new)
            for key in bounded.one_value():
                if key in withheld and not is_sensitive(counts[key], min_count):
                    del withheld[key]
            break
        seeds = sorted({index for key in added for index in of_cell[key]})
    else:
        notes.append("the bounds of some withheld counts did not settle; do not publish")
    return Protection(withheld=withheld, notes=tuple(notes))


MAX_BOUND_ROUNDS = 40
MAX_REACH = 64  # relations searched behind a pinned count for a complementary cell


def _complement(
    counts, relations, of_cell, seeds, withheld, hidden, excluded, order, min_count, notes
) -> None:
    """Step 2 of the module docstring from the relations `seeds` on: passes over the relations in
    the order given, repeated until one withholds nothing. A relation's outcome depends only on
    which of its members are withheld, so a pass visits only the relations that could act: at
    first the seeds (those with a sensitive member), then those with a member withheld since
    they were last visited. The same decisions as visiting every relation every pass, in time
    proportional to the changes."""
    this_pass = list(seeds)
    heapq.heapify(this_pass)
    pending = set(this_pass)
    next_pass: list[int] = []
    while this_pass:
        index = heapq.heappop(this_pass)
        pending.discard(index)
        relation = relations[index]
        unknown = [key for key in relation.members if key in withheld or key in hidden]
        if len(unknown) == 1 and (
            unknown[0] in withheld or is_sensitive(counts[unknown[0]], min_count)
        ):
            candidate = _complementary(relation, withheld, hidden, excluded, order)
            if candidate is None:
                note = (
                    f"{relation.label}: a withheld cell has no complementary cell; "
                    "do not publish this total"
                )
                if note not in notes:
                    notes.append(note)
            else:
                withheld[candidate] = (relation.reason, relation.label)
                for other in of_cell[candidate]:
                    if other in pending:
                        continue
                    pending.add(other)  # later in this pass, or else in the next one
                    heapq.heappush(this_pass if other > index else next_pass, other)
        if not this_pass:
            this_pass, next_pass = next_pass, []


def _complementary(relation, withheld, hidden, excluded, order) -> Hashable | None:
    """The relation's next complementary cell: the first in `order` of its published cells that
    are neither withheld nor excluded (None: there is none)."""
    candidates = [
        key
        for key in relation.members
        if key not in hidden and key not in excluded and key not in withheld
    ]
    return min(candidates, key=order) if candidates else None


INFINITY = float("inf")
MAX_SWEEPS = 10_000  # bounds of whole counts tighten by at least 1 a sweep, up to the largest total


class _Sums:
    """The relations as arrays of terms (every relation is a sum, its first member the total of
    the others), built once for the bounds of `protect`'s repeated steps.

    Relations that share no cell, directly or through others, fall into components whose bounds
    do not touch each other; `protect` adds a few unknown cells a step, mostly in one component,
    so each call of `bounds` computes afresh only the components whose unknown cells changed and
    keeps the others' bounds from the call before."""

    def __init__(self, counts, relations) -> None:
        self.cells: list[Hashable] = []
        self.index: dict[Hashable, int] = {}
        term_relation, term_cell, term_sign = [], [], []
        for number, relation in enumerate(relations):
            for position, key in enumerate(relation.members):
                if key not in self.index:
                    self.index[key] = len(self.cells)
                    self.cells.append(key)
                term_relation.append(number)
                term_cell.append(self.index[key])
                term_sign.append(1.0 if position == 0 else -1.0)
        self.relations = len(relations)
        self.term_relation = np.array(term_relation, dtype=np.int64)
        self.term_cell = np.array(term_cell, dtype=np.int64)
        self.term_sign = np.array(term_sign)
        self.term_count = np.array([counts[key] for key in self.cells], dtype=float)[self.term_cell]
        # each cell's terms in relation order: cell_terms[cell_start[c] : cell_start[c + 1]]
        self.cell_terms = np.argsort(self.term_cell, kind="stable")
        self.cell_start = np.searchsorted(
            self.term_cell[self.cell_terms], np.arange(len(self.cells) + 1)
        )
        self.component = _components(len(self.cells), term_relation, term_cell)
        self.last: _Bounds | None = None

    def bounds(self, unknown: set) -> _Bounds:
        """What a reader bounds each unknown cell to from the sums alone (counts are never
        negative), one relation at a time and repeated while a bound tightens.

        Each sweep applies every relation to the bounds of the previous one at once, so the
        result is the fixed point whatever the order, and a component's bounds depend only on
        its own unknown cells."""
        is_unknown = np.zeros(len(self.cells), dtype=bool)
        is_unknown[[self.index[key] for key in unknown if key in self.index]] = True
        low = np.where(is_unknown, 0.0, np.nan)
        high = np.where(is_unknown, np.inf, np.nan)
        setting = np.zeros(len(self.term_cell), dtype=bool)  # the terms that give the bounds
        if self.last is not None:  # the components whose unknown cells did not change: kept
            changed = np.unique(self.component[is_unknown != self.last.is_unknown])
            active = np.isin(self.component, changed)
            low[~active], high[~active] = self.last.low[~active], self.last.high[~active]
            setting = self.last.setting.copy()
            active_term = active[self.term_cell]
            setting[active_term] = False
        else:
            active_term = np.ones(len(self.term_cell), dtype=bool)
        open_term = is_unknown[self.term_cell]
        # each relation as: sum of its unknown terms (sign * x) = constant
        closed = active_term & ~open_term
        constants = -np.bincount(
            self.term_relation[closed],
            (self.term_sign * self.term_count)[closed],
            self.relations,
        )
        open_term &= active_term
        rows, col = self.term_relation[open_term], self.term_cell[open_term]
        positive = self.term_sign[open_term] > 0
        constant, m = constants[rows], self.relations

        def implied() -> tuple[np.ndarray, np.ndarray]:
            """Each term's bounds on its cell from its relation and the others' bounds."""
            least = np.where(positive, low[col], -high[col])  # sign * x lies in [least, most]
            most = np.where(positive, high[col], -low[col])
            open_least, open_most = np.isinf(least), np.isinf(most)
            finite_least, finite_most = np.where(open_least, 0, least), np.where(open_most, 0, most)
            rest_least = np.where(
                np.bincount(rows, open_least, m)[rows] > open_least,
                -np.inf,
                np.bincount(rows, finite_least, m)[rows] - finite_least,
            )
            rest_most = np.where(
                np.bincount(rows, open_most, m)[rows] > open_most,
                np.inf,
                np.bincount(rows, finite_most, m)[rows] - finite_most,
            )
            # sign * x = constant - (the other terms)
            from_low, from_high = constant - rest_most, constant - rest_least
            return (
                np.where(positive, from_low, -from_high),
                np.where(positive, from_high, -from_low),
            )

        for _ in range(MAX_SWEEPS):
            term_low, term_high = implied()
            new_low, new_high = low.copy(), high.copy()
            np.maximum.at(new_low, col, term_low)
            np.minimum.at(new_high, col, term_high)
            if np.array_equal(new_low, low, equal_nan=True) and np.array_equal(
                new_high, high, equal_nan=True
            ):
                break
            low, high = new_low, new_high
        term_low, term_high = implied()
        setting[open_term] = ((term_low == low[col]) & (low[col] > 0)) | (
            (term_high == high[col]) & np.isfinite(high[col])
        )
        self.last = _Bounds(self, is_unknown, low, high, setting)
        return self.last


def _components(cells: int, term_relation: list[int], term_cell: list[int]) -> np.ndarray:
    """Each cell's component: cells in one relation, directly or through others, share one."""
    parent = list(range(cells))

    def root(cell: int) -> int:
        while parent[cell] != cell:
            parent[cell] = parent[parent[cell]]
            cell = parent[cell]
        return cell

    first: dict[int, int] = {}  # each relation's first cell
    for relation, cell in zip(term_relation, term_cell, strict=True):
        a, b = root(first.setdefault(relation, cell)), root(cell)
        if a != b:
            parent[b] = a
    return np.array([root(cell) for cell in range(cells)], dtype=np.int64)


class _Bounds:
    """A reader's bounds of the unknown cells (`_Sums.bounds`), read cell by cell: a cell that
    is not an unknown of some relation has none (0 to infinity)."""

    def __init__(self, sums: _Sums, is_unknown, low, high, setting) -> None:
        self.sums, self.is_unknown, self.setting = sums, is_unknown, setting
        self.low, self.high = low, high

    def of(self, key: Hashable) -> tuple[float, float]:
        index = self.sums.index.get(key)
        if index is None or not self.is_unknown[index]:
            return 0.0, INFINITY
        return float(self.low[index]), float(self.high[index])

    def bound_by(self, key: Hashable) -> list[int]:
        """The relations that give the cell its bounds, in their order."""
        index = self.sums.index.get(key)
        if index is None or not self.is_unknown[index]:
            return []
        start, end = self.sums.cell_start[index], self.sums.cell_start[index + 1]
        terms = self.sums.cell_terms[start:end]
        return self.sums.term_relation[terms[self.setting[terms]]].tolist()

    def one_value(self) -> set[Hashable]:
        """The unknown cells a reader bounds to one value."""
        cells = self.sums.cells
        return {cells[i] for i in np.flatnonzero(self.is_unknown & (self.low == self.high))}


def _repair_bounds(counts, relations, sums, withheld, hidden, excluded, order, min_count):
    """Step 3: a sensitive withheld count a reader pins to one value or within
    1 .. min_count-1 gets one more withheld cell: in a relation that gives the bound, or else in
    the nearest relation behind it (the one that bounds another unknown of that relation).
    Returns the cells newly withheld, the pinned counts left without one and the bounds."""
    bounds = sums.bounds(set(withheld) | hidden)
    added: set[Hashable] = set()
    pinned: list[Hashable] = []
    for key in sorted(withheld, key=repr):
        if not is_sensitive(counts[key], min_count):
            continue
        least, most = bounds.of(key)
        if not (least == most or (least >= 1 and most < min_count)):
            continue
        queue = bounds.bound_by(key)
        seen = set(queue)
        for index in queue:  # grows while it is read: breadth first
            relation = relations[index]
            candidate = _complementary(relation, withheld, hidden, excluded, order)
            if candidate is not None:
                withheld[candidate] = (relation.reason, relation.label)
                added.add(candidate)
                break
            for other in relation.members:
                for behind in bounds.bound_by(other):
                    if behind not in seen and len(seen) < MAX_REACH:
                        seen.add(behind)
                        queue.append(behind)
        else:
            pinned.append(key)
    return added, pinned, bounds


WIDENING_REACH = (2, 4, 6)  # relations around a found cell the second table may change


@dataclass(frozen=True)
class Bound:
    """A relation a reader knows besides the sums: low <= sum of coefficient x count <= high
    (say K + M <= T where the cases without kön are not published)."""

    terms: tuple[tuple[Hashable, float], ...]
    low: float
    high: float


def widening_cells(
    counts: Mapping[Hashable, int],
    relations: Sequence[Relation],
    found: Iterable[Hashable],
    *,
    unknown: set,
    fixed: set,
    min_count: int,
    bounds: Sequence[Bound] = (),
) -> dict[Hashable, Hashable]:
    """Published cells whose withholding lets each found count be min_count or more, or else
    0, for a reader: for each found count, the cells in which a second table differs from the
    true one, where that table keeps every relation (every relation is a sum, its first member
    the total of the others) and every bound, every count non-negative, every `fixed` cell
    (known to a reader) as it is, and the found count at min_count or more (or else at 0).
    With those cells withheld too, a reader cannot tell the true table from the second one, so
    the found count is neither exact nor within 1 .. min_count-1; withholding more later only
    widens what a reader can work out.

    The second table is the one that changes the published counts least in sum (a linear
    program, HiGHS). It may change only the cells of the relations within a few steps of the
    found count, widened while no table is found. The found counts are taken one by one, each
    treating the cells chosen for the ones before as withheld (they are free to change), so a
    later count often needs none. `unknown`: the cells a reader does not see (withheld or never
    published), free to change too. Returns the cells to withhold, each with the found count it
    is withheld for; a found count with no second table within reach gives none."""
    found = sorted((key for key in found if key in unknown), key=repr)
    if not found:
        return {}
    rows = [
        Bound(tuple((key, 1.0 if i == 0 else -1.0) for i, key in enumerate(r.members)), 0.0, 0.0)
        for r in relations
    ]
    rows += bounds
    of_cell: dict[Hashable, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        for key, _ in row.terms:
            of_cell[key].append(index)
    unknown = set(unknown)
    chosen: dict[Hashable, Hashable] = {}
    for key in found:
        changed = _second_table(counts, rows, of_cell, key, unknown, fixed, min_count)
        chosen.update(dict.fromkeys(changed, key))
        unknown |= changed
    return chosen


def _second_table(counts, rows, of_cell, found, unknown, fixed, min_count) -> set:
    """`widening_cells`' linear programs for one found cell: the published cells changed by the
    least-changing second table within the smallest reach that has one (the found count at
    min_count or more, else at 0), or none."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    near: set[int] = set()
    frontier = {found}
    for reach in range(1, WIDENING_REACH[-1] + 1):
        indices = {i for key in frontier for i in of_cell.get(key, ())} - near
        near |= indices
        frontier = {key for i in indices for key, _ in rows[i].terms}
        if reach not in WIDENING_REACH:
            continue
        # a cell may change only when all its sums are in reach (the others keep theirs); the
        # inequalities on the cells that may change are kept wherever they reach
        column: dict[Hashable, int] = {}
        costs, lows, highs, changeable = [], [], [], []
        for key in sorted({key for i in near for key, _ in rows[i].terms}, key=repr):
            if key in fixed or not all(
                i in near or rows[i].low != rows[i].high for i in of_cell[key]
            ):
                continue
            column[key] = len(costs)
            if key in unknown:  # a reader does not see it: any count
                costs.append(0.0)
                lows.append(0.0)
                highs.append(None)
            else:  # published: the count plus an increase less a decrease, each costing 1
                changeable.append(key)
                costs += [1.0, 1.0]
                lows += [0.0, 0.0]
                highs += [None, float(counts[key])]
        if found not in column:
            continue
        entries: list[tuple[int, int, float]] = []
        right = []
        kept = near | {i for key in column for i in of_cell[key]}
        for row, index in enumerate(sorted(kept)):
            constant = 0.0
            for key, coefficient in rows[index].terms:
                if key not in column or key not in unknown:
                    constant += coefficient * counts[key]
                if key in column:
                    entries.append((row, column[key], coefficient))
                    if key not in unknown:
                        entries.append((row, column[key] + 1, -coefficient))
            low, high = rows[index].low - constant, rows[index].high - constant
            if low != high:  # an inequality: the row less a slack within its bounds is 0
                entries.append((row, len(costs), -1.0))
                costs.append(0.0)
                lows.append(None if low == -np.inf else low)
                highs.append(None if high == np.inf else high)
                low = 0.0
            right.append(low)
        matrix = coo_matrix(
            ([e[2] for e in entries], ([e[0] for e in entries], [e[1] for e in entries])),
            shape=(len(right), len(costs)),
        ).tocsr()
        for least, most in ((float(min_count), None), (0.0, 0.0)):
            lows[column[found]], highs[column[found]] = least, most
            result = linprog(
                costs,
                A_eq=matrix,
                b_eq=right,
                bounds=list(zip(lows, highs, strict=True)),
                method="highs",
            )
            if result.status == 0:
                x = result.x
                return {
                    key for key in changeable if abs(x[column[key]] - x[column[key] + 1]) > 1e-6
                }
    return set()
