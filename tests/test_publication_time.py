"""Publication at its time with approval (SUKF_REQUIRE_APPROVAL), under Airflow on one landed
round: once the last delivery day has passed, su_round drafts the round and asks for the
approval ahead of the publication time; approved at 07:00, the run publishes nothing; a run at
07:30 asks nobody and publishes nothing; the run at 08:00 (su_round's cron at every
publication time) publishes what was approved, without asking again. A revision approved after
its publication time is published at the approval, and the time is recorded."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from approval import answer, start_round, wait_for_approval
from conftest import land_generated, scalar
from sukvinnofrid import airflow_local, pipeline, warehouse
from sukvinnofrid.synthetic import generate_round_files
from sukvinnofrid.versioned import PUBLISHED_AT

pytestmark = pytest.mark.slow
ROUND = "2023-12"  # last delivery day 31 January 2024, publication 15 February 2024 08:00
UNITS = {"0126": 40, "0580": 40, "2380": 30}
CORRECTING = "0580"
IN_WINDOW = "2024-01-20T10:00:00+01:00"
APPROVED = "2024-02-15T07:00:00+01:00"
HALF_PAST = "2024-02-15T07:30:00+01:00"
AT_PUBLICATION = "2024-02-15T08:00:00+01:00"
CORRECTED = "2024-02-20T09:00:00+01:00"
REVISION_APPROVED = "2024-02-20T10:00:00+01:00"


def _approved_run(env: dict[str, str], printed: Path):
    """su_round until it asks, the person's Godkänn, then the run to its end."""
    process = start_round(env, printed)
    try:
        home = Path(env["AIRFLOW_HOME"])
        run_id = wait_for_approval(process, home, printed)
        answer(env, run_id)
        assert process.wait(timeout=900) == 0, printed.read_text()[-4000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return airflow_local.read_dag_run("su_round", run_id, home)


def _states(run) -> dict[str, tuple[str, int]]:
    return {t.task_id: (t.state, t.try_number) for t in run.tasks}


@pytest.fixture(scope="module")
def timeline(warehouse_engine, tmp_path_factory):
    from conftest import wipe_warehouse

    wipe_warehouse(warehouse_engine)
    output = Path(os.environ["SUKF_OUTPUT"])
    inbox = Path(os.environ["SUKF_INBOX"])
    patch = pytest.MonkeyPatch()
    try:
        patch.setenv("SUKF_NOW", IN_WINDOW)
        generate_round_files(
            inbox, list(UNITS), [ROUND], cases_per_kommun=UNITS, seed=5, since=dt.date(2023, 1, 1)
        )
        assert {r["status"] for r in pipeline.land_new_files()} == {"landed"}
        pipeline.quality_gate()
        patch.setenv("SUKF_REQUIRE_APPROVAL", "1")
        runs, published = {}, {}
        for moment, now in (("approved", APPROVED), ("half_past", HALF_PAST)):
            patch.setenv("SUKF_NOW", now)
            if moment == "approved":
                printed = tmp_path_factory.mktemp("approved") / "dags-test.log"
                runs[moment] = _approved_run(airflow_local.airflow_environment(), printed)
            else:
                runs[moment] = airflow_local.run_dag("su_round")
            # the versions published and the public site, not the draft's (output/granskning/)
            published[moment] = sorted(
                str(p.relative_to(output))
                for folder in ("kolada", "statistik")
                for p in (output / folder).glob("*/v0*")
            ) + sorted(str(p.relative_to(output)) for p in (output / "rapport").glob("*"))
        patch.setenv("SUKF_NOW", AT_PUBLICATION)
        runs["at_publication"] = airflow_local.run_dag("su_round")
        # a correction after the publication, approved after the revision's time has come
        patch.setenv("SUKF_NOW", CORRECTED)
        landed = land_generated(tmp_path_factory.mktemp("later"), {CORRECTING: 55}, ROUND, seed=6)
        assert {r["status"] for r in landed} == {"landed"}
        pipeline.quality_gate()
        patch.setenv("SUKF_NOW", REVISION_APPROVED)
        printed = tmp_path_factory.mktemp("revision") / "dags-test.log"
        runs["revision"] = _approved_run(airflow_local.airflow_environment(), printed)
        yield {"runs": runs, "published": published, "output": output}
    finally:
        patch.undo()


def test_approved_at_07_00_nothing_is_published_before_08_00(timeline):
    run = timeline["runs"]["approved"]
    states = _states(run)
    asked = ("gate_remaining", "dbt_build", "plan_publication", "review")
    asked += ("approve_publication", "record_approval", "publish_kolada", "report")
    assert {task: states[task] for task in asked} == dict.fromkeys(asked, ("success", 1))
    assert states["approved_earlier"][0] == "skipped"
    (reviewed,) = run.results("review")
    assert reviewed["round_id"] == ROUND and reviewed["publication"] == "2024-02-15 kl. 08.00"
    (recorded,) = run.results("record_approval")
    assert recorded["round_id"] == ROUND
    assert dt.datetime.fromisoformat(recorded["approved_at"]) == dt.datetime.fromisoformat(APPROVED)
    assert run.results("publish_kolada") == [
        {"round_id": None, "waiting_until": "2024-02-15T08:00:00+01:00"}
    ]
    (site,) = run.results("report")
    assert (site["round_id"], site["written"]) == (None, False)
    assert timeline["published"]["approved"] == []
    # the draft is there for the reviewers, the round is not published
    draft = timeline["output"] / "granskning" / ROUND / "intern" / "granskning.html"
    assert draft.exists()


def test_at_07_30_nobody_is_asked_and_nothing_is_published(timeline):
    run = timeline["runs"]["half_past"]
    states = _states(run)
    assert {t: states[t] for t in ("gate_remaining", "dbt_build", "plan_publication")} == (
        dict.fromkeys(("gate_remaining", "dbt_build", "plan_publication"), ("success", 1))
    )
    rest = ("review", "approve_publication", "record_approval", "approved_earlier")
    rest += ("publish_kolada", "report")
    assert {states[t][0] for t in rest} == {"skipped"}
    assert timeline["published"]["half_past"] == []


def test_at_08_00_what_was_approved_is_published_without_asking_again(timeline):
    run = timeline["runs"]["at_publication"]
    states = _states(run)
    ran = ("gate_remaining", "dbt_build", "plan_publication", "approved_earlier")
    ran += ("publish_kolada", "report")
    assert {task: states[task] for task in ran} == dict.fromkeys(ran, ("success", 1))
    assert {states[t][0] for t in ("review", "approve_publication", "record_approval")} == {
        "skipped"
    }
    (published,) = run.results("publish_kolada")
    assert (published["round_id"], published["version"], published["statistics_version"]) == (
        ROUND,
        "v001",
        "v001",
    )
    at = dt.datetime.fromisoformat(AT_PUBLICATION)
    assert dt.datetime.fromisoformat(published["published_at"]) == at
    statistik = Path(published["statistics_directory"])
    assert (statistik / PUBLISHED_AT).read_text() == "2024-02-15T07:00:00Z\n"
    assert (Path(published["directory"]) / PUBLISHED_AT).read_text() == "2024-02-15T07:00:00Z\n"
    (site,) = run.results("report")
    assert site["round_id"] == ROUND and Path(site["index"]).exists()
    engine = warehouse.engine()
    assert (
        scalar(
            engine,
            "SELECT published_at FROM ops.publication_approvals"
            " WHERE round_id = :r AND version = :v",
            r=ROUND,
            v="v001",
        )
        == at
    )


def test_a_revision_approved_after_its_time_is_published_at_the_approval(timeline):
    run = timeline["runs"]["revision"]
    states = _states(run)
    assert all(
        states[task] == ("success", 1)
        for task in ("review", "approve_publication", "record_approval", "publish_kolada")
    ), states
    (published,) = run.results("publish_kolada")
    assert (published["version"], published["statistics_version"]) == ("v002", "v002")
    approved = dt.datetime.fromisoformat(REVISION_APPROVED)
    assert dt.datetime.fromisoformat(published["published_at"]) == approved
    assert published["revision_log"] is not None
    assert (Path(published["statistics_directory"]) / PUBLISHED_AT).read_text() == (
        "2024-02-20T09:00:00Z\n"
    )
