"""The figure catalogue (catalogue/figures.yaml) is checked when it is read: a mistake in an
entry stops generate-artifacts with a message naming it, instead of generating a rule dbt reads
wrongly. (That the generated files are in step: tests/test_artifacts.py; that a new breakdown
comes out of dbt: tests/test_dbt_models.py::test_a_new_breakdown_is_one_catalogue_entry.)
The funnel's relations are checked on Diagram 1 counted by hand (tests/test_figures_by_hand.py)."""

from __future__ import annotations

import pytest

from sukvinnofrid import audit
from sukvinnofrid.catalogue.figures import Funnel, figures_path, load_figures, parse_figures
from sukvinnofrid.figure_artifacts import figure_catalogue_macro
from test_figures_by_hand import EXPECTED_FUNNEL, FUNNEL, R1


def _text() -> str:
    return figures_path().read_text(encoding="utf-8")


def test_the_catalogue_defines_each_figure_once():
    figures = load_figures()
    assert len(figures.figures) == 31
    assert figures.breakdowns[0].id == "alla"
    # "helt eller delvis": the national figure's summary category and Kolada's U30752 count the
    # same answer codes, in two populations the catalogue states side by side
    maluppfoljning = figures.figure("maluppfoljning")
    helt_delvis = next(c for c in maluppfoljning.derived if c.id == "helt_delvis")
    assert (helt_delvis.parts, helt_delvis.when) == ("1|2", "maluppfoljning in (1, 2)")
    assert maluppfoljning.population_sql == "is_closed"
    kolada = figures.kolada_figure("mal_helt_delvis")
    assert kolada.kpi == "U30752"
    assert kolada.cases_sql == "has_insats and is_closed and maluppfoljning in (1, 2)"
    assert (kolada.year_date, kolada.year_suv) == ("datum_avslut", 256)


def test_default_n_is_visible_sql():
    """A figure without n.sql gets its default written out in the generated rule: a category,
    or at least one of the variable's answers."""
    macro = figure_catalogue_macro()
    assert "'answered': \"(kon) is not null\"," in macro
    assert "'answered': \"(utovare_1 or utovare_2 or utovare_3 or utovare_4 or utovare_5" in macro


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "  - {id: kon_aldersgrupp, title: Kön och ålder, of: [kon, aldersgrupp],",
            "  - {id: kon_aldersgrupp, title: Kön och ålder, of: [kon, alder],",
            "crosses unknown breakdowns",
        ),
        ("only_figures: [riskforandring]", "only_figures: [riskforandringar]", "unknown figures"),
        ("levels: [lan, riket]", "levels: [lan, land]", "unknown level"),
        ("    year_date: datum_avslut", "    year_date: avslutsorsak", "is not a date"),
        ("    category: kon\n", "    category: kon\n    chosen: kon\n", "not both"),
        ("  - id: aldersgrupp\n", "  - id: kon\n", "two figures with one id"),
        ("    - {figure: med_insats, category:", "    - {figure: insats, category:", "site"),
        ("    kind: missing\n", "    kind: saknas\n", "kind is one of"),
        ("    part_of: aktualiserade\n", "    part_of: utan_insats\n", "part_of is a phase"),
        ("    other_part: med_insats\n", "    other_part: pagaende\n", "is no phase"),
        ("    other_part: avslutade\n", "    other_part: med_insats\n", "other part of two"),
        ("    short: Utan insats\n", "", "missing \\['short'\\]"),
        (
            "population: ärenden med stöd/insats\n  - id: avslutade",
            "population: ärenden med insats\n  - id: avslutade",
            "no figure has the population",
        ),
        ("  - id: avslutade_utan_brukarenkat\n", "  - id: utan_insats\n", "two counts with one id"),
    ],
)
def test_a_mistake_is_named(old, new, message):
    text = _text()
    assert old in text
    with pytest.raises(ValueError, match=message):
        parse_figures(text.replace(old, new, 1))


def _broken_relations(funnel: Funnel) -> list[tuple]:
    """The catalogue's funnel relations that Diagram 1 counted by hand contradicts: a phase is
    its two published parts exactly, and a missing registration with an unpublished complement
    is at most its phase."""
    broken = []
    for key, values in EXPECTED_FUNNEL.items():
        row = dict(zip(FUNNEL, values, strict=True))
        for total, (part, other) in funnel.sums:
            if other.startswith("~"):
                holds = 0 <= row[part] <= row[total]
            else:
                holds = row[part] + row[other] == row[total]
            if not holds:
                broken.append((key, total, part, other))
    return broken


def test_the_funnel_relations_hold_on_the_hand_counted_funnel():
    """The funnel's columns are the hand-written ones in their order (tratt.csv's), and every
    relation the catalogue states (part_of = other_part + the missing registration), which the
    protection and the site use, holds on Diagram 1 counted by hand from the fixture's cases; a
    relation stated wrongly is caught."""
    funnel = load_figures().funnel
    assert funnel.columns == FUNNEL
    assert len(funnel.sums) == len(funnel.missing) == 7
    assert _broken_relations(funnel) == []
    # utan_insats said to be a part of avslutade: R1 riket has 4 avslutade, 6 med insats and 3
    # without an insats
    old = "    part_of: aktualiserade\n    other_part: med_insats\n"
    assert old in _text()
    wrong = parse_figures(_text().replace(old, old.replace("aktualiserade", "avslutade"))).funnel
    assert ((R1, "riket", "00", "T"), "avslutade", "med_insats", "utan_insats") in (
        _broken_relations(wrong)
    )


def test_the_attacker_knows_the_funnel_relations():
    """The audit (the outside attacker) keeps its own list of the funnel's relations and reads
    only what is published, never the catalogue; a count added to the catalogue must be added
    there by hand too, and this says so."""
    funnel = load_figures().funnel
    assert tuple(s for s in funnel.sums if not s[1][1].startswith("~")) == audit.FUNNEL_IDENTITIES
    assert tuple((m.id, m.part_of) for m in funnel.missing_only) == audit.FUNNEL_SUBSETS
    assert funnel.population_columns == audit.POPULATION_IN_FUNNEL
