"""Failures half-way: the warehouse going away, re-runs, corrected uploads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from conftest import scalar
from sukvinnofrid import pipeline, warehouse
from sukvinnofrid.kolada import publish as publish_kolada
from sukvinnofrid.synthetic import generate_round_files

ROUND = "2023-12"


def test_unreachable_warehouse_gives_retries_then_a_clear_failure():
    url = make_url("postgresql+psycopg2://sukf:not-shown@127.0.0.1:1/warehouse")
    with pytest.raises(warehouse.WarehouseUnavailable) as failure:
        warehouse.ensure_available(url, attempts=3, delay=0.01)
    message = str(failure.value)
    assert "127.0.0.1:1/warehouse" in message and "after 3 attempts" in message
    assert "not-shown" not in message


@pytest.mark.slow
def test_warehouse_going_away_leaves_no_half_publication_and_the_next_run_converges(
    clean_warehouse,
):
    if os.environ.get("SUKF_WAREHOUSE_URL"):
        pytest.skip("stops the embedded warehouse")
    inbox = Path(os.environ["SUKF_INBOX"])
    generate_round_files(inbox, ["0580", "2380"], [ROUND], cases_per_kommun=60, seed=3)
    first = pipeline.run_round(ROUND)["published"]
    kolada_dir = Path(first["directory"]).parent
    files_before = sorted(p.relative_to(kolada_dir) for p in kolada_dir.rglob("*"))

    warehouse.stop_embedded()
    with pytest.raises(OperationalError):
        publish_kolada(ROUND)  # no retry here: the server is gone
    assert sorted(p.relative_to(kolada_dir) for p in kolada_dir.rglob("*")) == files_before

    # The next run brings the embedded server back and converges on the same publication.
    again = pipeline.publish(ROUND)
    assert again["directory"] == first["directory"] and again["reused"]

    warehouse.stop_embedded()
    rerun = pipeline.run_round(ROUND)
    assert rerun["landed"] == [] and rerun["published"]["directory"] == first["directory"]
    assert (
        scalar(clean_warehouse, "SELECT count(*) FROM raw.uploads WHERE status = 'accepted'") == 2
    )


@pytest.mark.slow
def test_corrected_upload_replaces_the_earlier_one_everywhere_downstream(clean_warehouse):
    inbox = Path(os.environ["SUKF_INBOX"])
    (original,) = generate_round_files(inbox, ["0580"], [ROUND], cases_per_kommun=60, seed=4)
    pipeline.run_round(ROUND)
    counted = scalar(
        clean_warehouse,
        "SELECT sum(case_count) FROM marts.fct_kolada_key_figures "
        "WHERE figure = 'aktualiserade' AND gender = 'T'",
    )
    assert counted == original.rows

    # The kommun corrects its file: fewer cases, same kommun and round, new bytes.
    lines = original.path.read_bytes().splitlines(keepends=True)
    original.path.write_bytes(b"".join(lines[:-10]))
    result = pipeline.run_round(ROUND)
    assert [r["status"] for r in result["landed"]] == ["landed"]
    assert (
        scalar(clean_warehouse, "SELECT count(*) FROM raw.uploads WHERE status = 'superseded'") == 1
    )
    assert (
        scalar(
            clean_warehouse,
            "SELECT sum(case_count) FROM marts.fct_kolada_key_figures "
            "WHERE figure = 'aktualiserade' AND gender = 'T'",
        )
        == original.rows - 10
    )
    assert (
        scalar(
            clean_warehouse,
            "SELECT max(aktualiserade) FROM marts.fct_case_funnel "
            "WHERE level = 'riket' AND kon = 'T'",
        )
        == original.rows - 10
    )


def test_a_new_pseudonym_key_rebuilds_every_model_from_scratch(clean_warehouse, monkeypatch):
    """The models are incremental, so a new key (or a changed dbt project) must not leave rows
    pseudonymised with the old one: build_warehouse then runs a full refresh."""
    inbox = Path(os.environ["SUKF_INBOX"])
    generate_round_files(inbox, ["0580"], [ROUND], cases_per_kommun=20, seed=5)
    pipeline.run_round(ROUND)
    pseudonyms = "SELECT string_agg(klient_pseudonym, ',' ORDER BY source_row) FROM {}"
    staged = scalar(clean_warehouse, pseudonyms.format("staging.stg_raw__case_records"))
    versions = scalar(clean_warehouse, pseudonyms.format("intermediate.int_case_versions"))
    assert pipeline.build_warehouse() is False  # nothing changed

    monkeypatch.setenv("SUKF_PSEUDONYM_KEY", "a-rotated-key")
    assert pipeline.build_warehouse() is True
    rotated = scalar(clean_warehouse, pseudonyms.format("staging.stg_raw__case_records"))
    assert rotated != staged and len(rotated) == len(staged)
    assert scalar(clean_warehouse, pseudonyms.format("intermediate.int_case_versions")) not in (
        versions,
        None,
    )
    assert pipeline.build_warehouse() is False
