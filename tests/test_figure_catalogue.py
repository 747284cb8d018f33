"""The figure catalogue (catalogue/figures.yaml) is checked when it is read: a mistake in an
entry stops generate-artifacts with a message naming it, instead of generating a rule dbt reads
wrongly. (That the generated files are in step: tests/test_artifacts.py; that a new breakdown
comes out of dbt: tests/test_dbt_models.py::test_a_new_breakdown_is_one_catalogue_entry.)"""

from __future__ import annotations

import pytest

from sukvinnofrid.catalogue.figures import figures_path, load_figures, parse_figures
from sukvinnofrid.figure_artifacts import figure_catalogue_macro


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
    ],
)
def test_a_mistake_is_named(old, new, message):
    text = _text()
    assert old in text
    with pytest.raises(ValueError, match=message):
        parse_figures(text.replace(old, new, 1))
