"""The dbt project as dbt users meet it (issue 13 §3), on the embedded warehouse:

- column descriptions: every column of the marts publication reads and of the case-row models
  is described (the case-row models' catalogue columns generated from the variable catalogue,
  fct_case_funnel's counts from the figure catalogue's funnel, dbt_project/case_models.yml +
  sukvinnofrid.codelists); the marts' descriptions reach the
  warehouse and the docs catalogue (persist_docs -> catalog.json);
- model contracts on those marts: the declared types are the built ones, and a change of type
  fails the build;
- dbt unit tests of the figure rules and the answer validity run in `dbt build` and fail when a
  rule changes;
- source freshness on raw.uploads: pass, warn after 200 days, error after 400.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
import yaml

from sukvinnofrid import codelists, transform
from sukvinnofrid.catalogue import load_catalogue
from sukvinnofrid.catalogue.figures import load_figures
from test_dbt_models import _load_round_1

# The marts publication reads (sukvinnofrid.statistics, sukvinnofrid.kolada.publish).
PUBLISHED_MARTS = (
    "fct_case_funnel",
    "fct_kolada_key_figures",
    "fct_national_figures",
    "dim_national_figures",
)
CASE_MODELS = (
    "stg_raw__case_records",
    "int_case_records_in_force",
    "int_case_versions",
    "int_cases",
    "int_case_periods",
)


def _generated_models() -> dict[str, dict]:
    models = {}
    for text in codelists.case_model_properties().values():
        models |= {m["name"]: m for m in yaml.safe_load(text)["models"]}
    return models


def test_catalogue_descriptions_name_every_answer():
    """Each code of the catalogue is described, with its label, on its column of the staging
    model (as typed) and of the counted case rows (with the rule that makes it uppgift saknas)."""
    models = _generated_models()
    assert set(models) == {*CASE_MODELS, "fct_case_funnel"}
    typed = {c["name"]: c["description"] for c in models["stg_raw__case_records"]["columns"]}
    counted = {c["name"]: c["description"] for c in models["int_case_records_in_force"]["columns"]}
    for variable in load_catalogue().variables:
        for code, label in variable.codes.items():
            if variable.type == "code":
                for descriptions in (typed, counted):
                    assert f"{code} = {label}" in descriptions[variable.key]
            elif variable.type == "codes":
                assert label in typed[f"{variable.key}_{code}"]
                assert label in counted[f"{variable.key}_{code}"]
    assert "uppgift saknas" in counted["kon"] and "Null (uppgift saknas)" not in typed["kon"]
    # the answers of the closed phase count only in a closed case, the others in every case
    assert "not closed" in counted["maluppfoljning"] and "not closed" not in counted["ursprung"]
    assert "18–110" in counted["alder"]


def test_funnel_columns_come_from_the_figure_catalogue():
    """fct_case_funnel's contract has a described bigint column per funnel count of the figure
    catalogue, in its order after the keys, and an integer cell key beside each."""
    funnel = load_figures().funnel
    columns = _generated_models()["fct_case_funnel"]["columns"]
    keys = ["round_id", "round_inputs", "level", "area_code", "kon"]
    cell_keys = [f"{c}_cell_key" for c in funnel.columns]
    assert [c["name"] for c in columns] == [*keys, *funnel.columns, *cell_keys]
    by_name = {c["name"]: c for c in columns}
    for count in funnel.counts:
        assert (by_name[count.id]["description"], by_name[count.id]["data_type"]) == (
            count.description,
            "bigint",
        )
    assert {by_name[c]["data_type"] for c in cell_keys} == {"integer"}
    assert by_name["aktualiserade"]["data_tests"] == ["not_null"]


UNIT_TESTS = (
    "case_records_answer_validity",
    "national_figure_single_answer",
    "national_figure_multiple_choice",
    "national_figure_mean",
    "national_figure_breakdowns",
    "national_figure_diagram_17_lengths",
    "national_figure_areas",
    "national_figure_answer_types",
    "kolada_year_coverage",
    "kolada_stockholm_mean_of_stadsdelar",
)


def _replace_once(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_build_unit_tests_documents_and_types_the_marts(clean_warehouse, project_copy):
    """One build of round 1, then:
    - its unit tests ran in `dbt build` with unit tests (run_results.json) and passed, and a
      round's build leaves them out;
    - `dbt docs generate` on the embedded warehouse documents every built column of the published
      marts and the case-row models, and nothing else (manifest.json against catalog.json); the
      marts' descriptions are column comments in catalog.json, and their contracts declare the
      built types;
    - a contract that no longer matches stops the build of its mart (incremental
      fct_national_figures: checked on the incremental run);
    - with the closed-phase rule of valid_registrations and the N of the mean figure
      antal_insatser changed, exactly the unit tests of those rules fail."""
    _load_round_1(clean_warehouse)
    target = transform.target_dir(project_copy)

    def unit_test_results() -> dict[str, str]:
        run_results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
        return {
            r["unique_id"].split(".")[-1]: r["status"]
            for r in run_results["results"]
            if r["unique_id"].startswith("unit_test.")
        }

    transform.build(project_dir=project_copy)
    assert unit_test_results() == {}
    transform.build(project_dir=project_copy, unit_tests=True)
    assert unit_test_results() == dict.fromkeys(UNIT_TESTS, "pass")

    assert transform.docs_generate(project_dir=project_copy) == target
    catalog = json.loads((target / "catalog.json").read_text(encoding="utf-8"))["nodes"]
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    # the docs page loads dbt's usage tracker from the network only when this is on
    assert manifest["metadata"]["send_anonymous_usage_stats"] is False
    nodes = manifest["nodes"]
    for model in (*PUBLISHED_MARTS, *CASE_MODELS):
        node = f"model.sukvinnofrid.{model}"
        documented = nodes[node]["columns"]
        assert set(documented) == set(catalog[node]["columns"]), model
        for name, column in documented.items():
            assert column["description"].strip(), f"{model}.{name} has no description"
    kon = nodes["model.sukvinnofrid.int_case_records_in_force"]["columns"]["kon"]["description"]
    assert "Kön (14)" in kon and "1 = Kvinna" in kon
    for mart in PUBLISHED_MARTS:
        node = f"model.sukvinnofrid.{mart}"
        built = catalog[node]["columns"]
        # the marts' descriptions are in the warehouse too (persist_docs), so in catalog.json
        assert catalog[node]["metadata"]["comment"] == nodes[node]["description"]
        assert {name: c["comment"] for name, c in built.items()} == {
            name: c["description"] for name, c in nodes[node]["columns"].items()
        }, mart
        assert nodes[node]["config"]["contract"]["enforced"], mart
        assert {name: c["type"] for name, c in built.items()} == {
            name: c["data_type"] for name, c in nodes[node]["columns"].items()
        }, mart

    properties = project_copy / "models" / "marts" / "_marts.yml"
    head, tail = properties.read_text(encoding="utf-8").split("      - name: n_answers\n")
    retyped = tail.replace("data_type: bigint", "data_type: integer", 1)
    properties.write_text(head + "      - name: n_answers\n" + retyped, encoding="utf-8")
    with pytest.raises(transform.DbtError, match=r"(?s)contract.*n_answers"):
        transform.run_dbt(["run", "--select", "fct_national_figures"], project_dir=project_copy)

    macros = project_copy / "macros"
    # the answers of the closed phase counted in an open case too
    _replace_once(
        macros / "registrations.sql",
        "v.phase in closed_phases and v.key not in triggers[closed_phase]",
        "false",
    )
    # a case with an insats but none chosen counted as answered (N 4 instead of 3)
    _replace_once(
        macros / "figure_catalogue.sql",
        "'answered': \"antal_insatser > 0\"",
        "'answered': \"true\"",
    )
    with pytest.raises(transform.DbtError) as failure:
        transform.run_dbt(["test", "--select", "test_type:unit"], project_dir=project_copy)
    failed = {
        line.split()[1]
        for line in str(failure.value).splitlines()
        if line.startswith("FAIL unit_test.")
    }
    assert failed == {
        "unit_test.sukvinnofrid.int_case_records_in_force.case_records_answer_validity",
        "unit_test.sukvinnofrid.int_figure_sums.national_figure_mean",
    }


def test_source_freshness_of_uploads(clean_warehouse, project_copy):
    """`dbt source freshness` (sukvinnofrid dbt source freshness) on raw.uploads.received_at:
    fresh after an upload, a warning when the latest upload is older than 200 days (a round has
    not arrived), an error past 400 days (no upload for a year)."""

    def freshness() -> str:
        result = transform.run_dbt(["source", "freshness"], project_dir=project_copy)
        checked = {
            r.node.unique_id: str(r.status)
            for r in result.results
            if r.node.resource_type == "source"
        }
        assert list(checked) == ["source.sukvinnofrid.raw.uploads"]
        assert (transform.target_dir(project_copy) / "sources.json").exists()
        return checked["source.sukvinnofrid.raw.uploads"]

    def latest_upload_days_ago(days: int) -> None:
        with clean_warehouse.begin() as conn:
            conn.execute(
                sa.text("UPDATE raw.uploads SET received_at = now() - make_interval(days => :d)"),
                {"d": days},
            )

    _load_round_1(clean_warehouse)
    assert freshness() == "pass"
    latest_upload_days_ago(250)
    assert freshness() == "warn"
    latest_upload_days_ago(401)
    with pytest.raises(transform.DbtError, match=r"raw\.uploads"):
        freshness()
