"""The disclosure rule (sukvinnofrid.disclosure.protect) on random tables of counts: what it
protects, and that it decides as the rule is written (every relation visited pass after pass
until nothing changes), however the relations overlap."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sukvinnofrid.disclosure import PRIMARY, Relation, is_sensitive, protect, smallest_first

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
