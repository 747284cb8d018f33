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

So a withheld 6 or 10 is one of the "further values withheld so that none can be derived".
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

PRIMARY = "primary"


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
) -> Protection:
    """Decide which cells are withheld (see the module docstring).

    `counts` holds every cell's count, published or not; `published(key)` says whether the cell
    is in the publication at all (e.g. a gender that is not published is an unknown of its
    relations, but is never withheld); `known(key)` says that an unpublished cell is one a
    reader can work out or bound to fewer than min_count values anyway (say the cases without
    kön where there are fewer than min_count of them): it hides nothing, so it is no unknown of
    its relations, and is never withheld either; `order` sorts the complementary candidates.
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
        elif is_sensitive(count, min_count):
            withheld[key] = (
                PRIMARY,
                primary_detail(key) if primary_detail else f"count {count} < {min_count}",
            )
    # Passes over the relations in the order given, repeated until one withholds nothing. A
    # relation's outcome depends only on which of its members are withheld, so a pass visits
    # only the relations that could act: at first those with a sensitive member, then those
    # with a member withheld since they were last visited. The same decisions as visiting
    # every relation every pass, in time proportional to the changes.
    of_cell: dict[Hashable, list[int]] = defaultdict(list)
    this_pass: list[int] = []
    for index, relation in enumerate(relations):
        sensitive = False
        for key in relation.members:
            count = counts.get(key)
            if count is None:
                raise ValueError(f"{relation.label}: cell without a count {key!r}")
            sensitive = sensitive or is_sensitive(count, min_count)
            of_cell[key].append(index)
        if sensitive:
            this_pass.append(index)  # ascending, so already a heap
    pending = set(this_pass)
    next_pass: list[int] = []
    notes: list[str] = []
    while this_pass:
        index = heapq.heappop(this_pass)
        pending.discard(index)
        relation = relations[index]
        unknown = [key for key in relation.members if key in withheld or key in hidden]
        if len(unknown) == 1 and (
            unknown[0] in withheld or is_sensitive(counts[unknown[0]], min_count)
        ):
            candidates = sorted(
                (
                    key
                    for key in relation.members
                    if key not in hidden and key not in fixed and key not in withheld
                ),
                key=order,
            )
            if not candidates:
                note = (
                    f"{relation.label}: a withheld cell has no complementary cell; "
                    "do not publish this total"
                )
                if note not in notes:
                    notes.append(note)
            else:
                withheld[candidates[0]] = (relation.reason, relation.label)
                for other in of_cell[candidates[0]]:
                    if other in pending:
                        continue
                    pending.add(other)  # later in this pass, or else in the next one
                    heapq.heappush(this_pass if other > index else next_pass, other)
        if not this_pass:
            this_pass, next_pass = next_pass, []
    return Protection(withheld=withheld, notes=tuple(notes))
