"""The disclosure rule (sukvinnofrid.disclosure.protect) on random tables of counts: what it
protects, and that it decides as the rule is written (every relation visited pass after pass
until nothing changes), however the relations overlap."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sukvinnofrid.disclosure import (
    PRIMARY,
    Bound,
    Relation,
    _Sums,
    is_sensitive,
    protect,
    smallest_first,
    widening_cells,
)

MIN_COUNT = 5


def protect_as_written(counts, relations, min_count, published):
    """The module docstring's rule, literally: every relation, in order, pass after pass."""
    order = smallest_first(counts)
    withheld = {
        key: PRIMARY
        for key, count in counts.items()
        if published(key) and is_sensitive(count, min_count)
    }
    notes = []
    changed = True
    while changed:
        changed = False
        for relation in relations:
            unknown = [k for k in relation.members if k in withheld or not published(k)]
            if len(unknown) != 1:
                continue
            if unknown[0] not in withheld and not is_sensitive(counts[unknown[0]], min_count):
                continue
            candidates = sorted(
                (k for k in relation.members if published(k) and k not in withheld), key=order
            )
            if not candidates:
                if relation.label not in notes:
                    notes.append(relation.label)
                continue
            withheld[candidates[0]] = relation.reason
            changed = True
    return withheld, notes


@st.composite
def tables(draw):
    cells = draw(st.integers(min_value=2, max_value=40))
    counts = {
        f"c{i}": draw(st.sampled_from([0, 0, 1, 2, 3, 4, 5, 6, 9, 20, 150])) for i in range(cells)
    }
    hidden = draw(st.sets(st.sampled_from(sorted(counts)), max_size=cells // 4))
    relations = [
        Relation(
            tuple(
                draw(st.lists(st.sampled_from(sorted(counts)), min_size=2, max_size=6, unique=True))
            ),
            f"secondary-{i}",
            f"r{i}",
        )
        for i in range(draw(st.integers(min_value=1, max_value=30)))
    ]
    return counts, relations, hidden


@settings(max_examples=400, deadline=None)
@given(tables())
def test_protect_decides_as_the_rule_is_written(table):
    counts, relations, hidden = table

    def published(key):
        return key not in hidden

    protection = protect(counts, relations, min_count=MIN_COUNT, published=published)
    expected, expected_notes = protect_as_written(counts, relations, MIN_COUNT, published)
    assert {k: v[0] for k, v in protection.withheld.items()} == expected
    assert [note.split(":")[0] for note in protection.notes] == expected_notes


@settings(max_examples=400, deadline=None)
@given(tables())
def test_no_withheld_or_sensitive_cell_can_be_derived(table):
    counts, relations, hidden = table

    def published(key):
        return key not in hidden

    protection = protect(counts, relations, min_count=MIN_COUNT, published=published)
    withheld = protection.withheld
    for key, count in counts.items():
        if published(key) and 1 <= count < MIN_COUNT:
            assert withheld[key][0] == PRIMARY
        if not published(key):
            assert key not in withheld
    for relation in relations:
        unknown = [k for k in relation.members if k in withheld or not published(k)]
        if len(unknown) == 1 and (
            unknown[0] in withheld or is_sensitive(counts[unknown[0]], MIN_COUNT)
        ):
            assert any(note.startswith(relation.label + ":") for note in protection.notes)


# ---------------------------------------------------------------------------------------------
# with bounds: sums, and a reader who bounds every withheld count


@st.composite
def sum_tables(draw):
    """Counts with sums over them: totals of random parts (totals of totals too) and copies of
    a cell (the same count published twice, e.g. one population in two figures)."""
    counts = {
        f"c{i}": draw(st.sampled_from([0, 0, 1, 2, 3, 4, 5, 6, 9, 20]))
        for i in range(draw(st.integers(min_value=2, max_value=12)))
    }
    relations = []
    for i in range(draw(st.integers(min_value=1, max_value=14))):
        parts = draw(st.lists(st.sampled_from(sorted(counts)), min_size=1, max_size=4, unique=True))
        total = f"t{i}"
        counts[total] = sum(counts[p] for p in parts)
        relations.append(Relation((total, *parts), f"secondary-{i}", f"r{i}"))
    hidden = draw(st.sets(st.sampled_from(sorted(counts)), max_size=len(counts) // 4))
    return counts, relations, hidden


def reader_bounds(counts, relations, unknown):
    """A reader's bounds on the unknown cells, one sum at a time until nothing tightens (written
    here apart from the module: whole numbers, never negative, each total the sum of its
    parts)."""
    low = dict.fromkeys(unknown, 0)
    high = {key: sum(counts.values()) * 2 + 1 for key in unknown}  # nothing exceeds this

    def value_range(key):
        return (low[key], high[key]) if key in unknown else (counts[key], counts[key])

    changed = True
    while changed:
        changed = False
        for relation in relations:
            total, *parts = relation.members
            ranges = {key: value_range(key) for key in relation.members}
            goals = {total: (sum(ranges[p][0] for p in parts), sum(ranges[p][1] for p in parts))}
            for part in parts:
                others = [p for p in parts if p != part]
                goals[part] = (
                    ranges[total][0] - sum(ranges[p][1] for p in others),
                    ranges[total][1] - sum(ranges[p][0] for p in others),
                )
            for key, (least, most) in goals.items():
                if key in unknown and (least > low[key] or most < high[key]):
                    low[key], high[key] = max(low[key], least), min(high[key], most)
                    changed = True
    return low, high


@settings(max_examples=400, deadline=None)
@given(sum_tables())
def test_with_bounds_no_withheld_count_is_pinned(table):
    counts, relations, hidden = table

    def published(key):
        return key not in hidden

    protection = protect(counts, relations, min_count=MIN_COUNT, published=published, bounds=True)
    withheld = protection.withheld
    low, high = reader_bounds(counts, relations, set(withheld) | hidden)
    for key, count in counts.items():
        if not published(key):
            assert key not in withheld
            continue
        if is_sensitive(count, MIN_COUNT):
            assert withheld[key][0] == PRIMARY
            assert low[key] <= count <= high[key]
            pinned = low[key] == high[key] or (low[key] >= 1 and high[key] < MIN_COUNT)
            # unless the publication is told not to publish it
            assert not pinned or any(repr(key) in note for note in protection.notes), key
        elif key in withheld:  # a count a reader works out anyway is published
            assert low[key] < high[key], key


@settings(max_examples=200, deadline=None)
@given(sum_tables(), sum_tables(), st.data())
def test_bounds_kept_from_the_call_before_are_the_bounds_computed_afresh(first, second, data):
    """protect asks for the bounds again after each step, with a few more unknown cells; the
    components whose unknown cells did not change keep their bounds from the call before. Two
    tables side by side (at least two components), unknown cells added step by step: each call
    gives what a first call on the same unknown cells gives."""
    counts, relations, unknown = {}, [], set()
    for prefix, (table_counts, table_relations, hidden) in (("a", first), ("b", second)):
        counts |= {prefix + key: count for key, count in table_counts.items()}
        relations += [
            Relation(tuple(prefix + key for key in r.members), r.reason, prefix + r.label)
            for r in table_relations
        ]
        unknown |= {prefix + key for key in hidden}
    keys = sorted(counts)
    sums = _Sums(counts, relations)
    for _ in range(4):
        kept = sums.bounds(set(unknown))
        fresh = _Sums(counts, relations).bounds(set(unknown))
        assert [kept.of(key) for key in keys] == [fresh.of(key) for key in keys]
        assert [kept.bound_by(key) for key in keys] == [fresh.bound_by(key) for key in keys]
        assert kept.one_value() == fresh.one_value()
        unknown |= set(data.draw(st.lists(st.sampled_from(keys), max_size=3)))


def test_with_bounds_a_relation_must_be_a_sum():
    with pytest.raises(ValueError, match="not the sum"):
        protect(
            {"a": 3, "b": 1, "c": 1},
            [Relation(("a", "b", "c"), "secondary", "a = b + c")],
            min_count=MIN_COUNT,
            bounds=True,
        )


def test_a_revision_keeps_what_the_version_before_it_withheld():
    """Län L = K1 + K2 + K3 (+ K4, which delivers late). v001: K1 = 3 is withheld and K2 = 6
    (the smallest other) with it; a reader has K1 + K2 = 19 - 10 = 9. v002 adds K4 = 5: alone,
    the protection would take K4 as the complement and publish K2 = 6, and since K1 and K2 did
    not change (the revision log names K4's delivery only), K1 = 9 - 6 = 3. Keeping v001's
    pattern withholds K1 and K2 again."""
    v1 = {"L": 19, "K1": 3, "K2": 6, "K3": 10}
    first = protect(v1, [Relation(("L", "K1", "K2", "K3"), "lan", "L")], min_count=5)
    assert set(first.withheld) == {"K1", "K2"}
    v2 = {**v1, "L": 24, "K4": 5}
    relations = [Relation(("L", "K1", "K2", "K3", "K4"), "lan", "L")]
    alone = protect(v2, relations, min_count=5)
    assert set(alone.withheld) == {"K1", "K4"}
    # the reader, with both versions: K1 + K2 from v001, K2 from v002
    assert (v1["L"] - v1["K3"]) - v2["K2"] == v2["K1"] == 3
    revision = protect(v2, relations, min_count=5, withheld_before=first.withheld)
    assert revision.withheld == {
        "K1": (PRIMARY, "count 3 < 5"),
        "K2": ("earlier-version", "withheld in an earlier version"),
    }
    # from v002 the reader has K1 + K2 = 24 - 10 - 5 = 9 again, as from v001


def test_a_cell_a_reader_has_from_elsewhere_is_never_a_complementary_cell():
    # K2 is published elsewhere (known): K3 is withheld with K1 instead, though K2 is smaller
    counts = {"L": 19, "K1": 3, "K2": 6, "K3": 10}
    decided = protect(
        counts,
        [Relation(("L", "K1", "K2", "K3"), "lan", "L")],
        min_count=5,
        known={"K2"}.__contains__,
    )
    assert set(decided.withheld) == {"K1", "K3"}


@st.composite
def sum_tables_with_bounds(draw):
    """sum_tables, and parts whose sum a reader knows is at most a cell (say the men of a
    cross-tabulation at most the men of the figure), where the counts keep it."""
    counts, relations, hidden = draw(sum_tables())
    keys = sorted(counts)
    bounds = []
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        parts = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique=True))
        least = sum(counts[p] for p in parts)
        # the tightest cells first: a bound with room to spare rarely pins anything
        larger = sorted(
            (k for k in keys if k not in parts and counts[k] >= least), key=lambda k: counts[k]
        )
        if larger:
            total = draw(st.sampled_from(larger[:2]))
            terms = ((total, -1.0), *((p, 1.0) for p in parts))
            bounds.append(Bound(terms, float("-inf"), 0.0))
    return counts, relations, hidden, bounds


def reader_interval(counts, relations, unknown, cell, bounds=()):
    """A reader's smallest and largest value of one unknown cell from all sums (and
    inequalities: `bounds`) at once (linear programming, written here apart from the module:
    counts never negative, each total the sum of its parts, every other cell as published)."""
    from scipy.optimize import linprog

    column = {key: i for i, key in enumerate(sorted(unknown))}
    matrix, right = [], []
    for relation in relations:
        row, constant = [0.0] * len(column), 0.0
        for position, key in enumerate(relation.members):
            sign = 1.0 if position == 0 else -1.0
            if key in column:
                row[column[key]] += sign
            else:
                constant -= sign * counts[key]
        matrix.append(row)
        right.append(constant)
    at_most, most = [], []  # each bound as sum <= high (none here has a low)
    for bound in bounds:
        row, constant = [0.0] * len(column), 0.0
        for key, coefficient in bound.terms:
            if key in column:
                row[column[key]] += coefficient
            else:
                constant += coefficient * counts[key]
        at_most.append(row)
        most.append(bound.high - constant)
    ends = []
    for direction in (1.0, -1.0):
        costs = [0.0] * len(column)
        costs[column[cell]] = direction
        result = linprog(
            costs,
            A_eq=matrix,
            b_eq=right,
            A_ub=at_most or None,
            b_ub=most or None,
            bounds=(0, None),
            method="highs",
        )
        assert result.status in (0, 3), result.message
        ends.append(direction * result.fun if result.status == 0 else float("inf"))
    return ends[0], ends[1]


@settings(max_examples=150, deadline=None)
@given(sum_tables_with_bounds())
def test_the_widening_cells_unpin_every_count_a_reader_pins(table):
    """Whatever sums and inequalities pin a withheld count (solved together, as the audit does),
    withholding the widening cells too leaves a reader a table where it is min_count or more,
    or 0."""
    counts, relations, hidden, bounds = table
    withheld = protect(
        counts,
        relations,
        min_count=MIN_COUNT,
        published=lambda key: key not in hidden,
        bounds=True,
    ).withheld
    unknown = set(withheld) | hidden
    pinned = []
    for key in sorted(key for key in withheld if is_sensitive(counts[key], MIN_COUNT)):
        low, high = reader_interval(counts, relations, unknown, key, bounds)
        if high - low < 1e-6 or (low > 1e-6 and high < MIN_COUNT - 1e-6):
            pinned.append(key)
    chosen = widening_cells(
        counts,
        relations,
        pinned,
        unknown=unknown,
        fixed=set(),
        min_count=MIN_COUNT,
        bounds=bounds,
    )
    widened = set(chosen)
    assert not widened & unknown and set(chosen.values()) <= set(pinned)
    for key in pinned:
        low, high = reader_interval(counts, relations, unknown | widened, key, bounds)
        assert low <= 1e-6 or high >= MIN_COUNT - 1e-6, (key, counts[key], low, high)
