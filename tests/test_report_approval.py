"""Granskning before publication: with SUKF_REQUIRE_APPROVAL set, su_round writes a draft and
its Granskning, then waits for a person's approval (Airflow 3's human-in-the-loop
ApprovalOperator) before the Kolada files, the statistics and the site are published; without
it (the demo, the other tests) the round publishes straight away. While it waits, a kommun's
corrected upload gets its feedback from su_feedback, which waits for no publication.

The real DAG runs under `airflow dags test`, which keeps the approval task in Airflow's
`awaiting_input` state until a response arrives from outside: here the person's "Godkänn" is
sent through Airflow's own HITL REST endpoint (the Core API app, in a process of its own, with
the local simple auth manager), as the UI's Required Actions page does."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from approval import answer, start_round, task_states, wait_for_approval
from conftest import scalar
from report_round import FORMATS, ROUNDS, UNITS, report_round
from sukvinnofrid import airflow_local, pipeline, warehouse
from sukvinnofrid.quality.feedback import report_path
from sukvinnofrid.quality.rules import build_rules
from sukvinnofrid.synthetic import generate_round_files

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
NEW_ROUND = "2024-06"
# the kommun that corrects its new-round file while the publication waits: the correction fixes
# the ages and still has the invalid kön
CORRECTING = "0580"
DEFECTS = {"first": ["age_out_of_range", "kon_invalid"], "corrected": ["kon_invalid"]}

PARSE = r"""
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag()
dag = bag.dags["su_round"]
print(json.dumps({"errors": bag.import_errors, "tasks": {t.task_id: {
    "type": type(t).__name__, "upstream": sorted(t.upstream_task_ids), "queue": t.queue,
    "outlets": [getattr(a, "name", str(a)) for a in t.outlets]} for t in dag.tasks}}))
"""


def parse_round_dag(approval: bool) -> dict:
    env = airflow_local.airflow_environment()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "infra"), env.get("PYTHONPATH")]))
    env.pop("SUKF_REQUIRE_APPROVAL", None)
    if approval:
        env["SUKF_REQUIRE_APPROVAL"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", PARSE], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_round_waits_for_approval_only_when_it_is_required():
    plain = parse_round_dag(approval=False)
    assert plain["errors"] == {}
    assert set(plain["tasks"]) == {"gate_remaining", "dbt_build", "publish_kolada", "report"}
    assert plain["tasks"]["publish_kolada"]["upstream"] == ["dbt_build"]
    assert plain["tasks"]["report"]["upstream"] == ["publish_kolada"]
    assert plain["tasks"]["report"]["outlets"] == ["su_kvinnofrid_round_site"]
    assert plain["tasks"]["report"]["queue"] == "publish"

    gated = parse_round_dag(approval=True)
    assert gated["errors"] == {}
    tasks = gated["tasks"]
    assert tasks["plan_publication"]["upstream"] == ["dbt_build"]
    assert tasks["plan_publication"]["type"] == "_BranchPythonDecoratedOperator"
    assert tasks["review"]["upstream"] == ["plan_publication"]
    assert tasks["approve_publication"] == {
        **tasks["approve_publication"],
        "type": "ApprovalOperator",
        "upstream": ["review"],
    }
    assert tasks["record_approval"]["upstream"] == ["approve_publication", "review"]
    assert tasks["approved_earlier"]["upstream"] == ["plan_publication"]
    assert tasks["publish_kolada"]["upstream"] == ["approved_earlier", "record_approval"]
    assert tasks["report"]["upstream"] == ["publish_kolada"]
    assert {t["queue"] for t in tasks.values()} == {"quality", "transform", "publish"}


def new_round_files(folder: Path, defects: list[str]):
    """The next round's uploads (cumulative extracts of the same kommuner), CORRECTING's file
    with `defects`."""
    files = generate_round_files(
        folder,
        list(UNITS),
        [*ROUNDS, NEW_ROUND],
        cases_per_kommun=UNITS,
        seed=11,
        formats=FORMATS,
        since=dt.date(2022, 1, 1),
        defects={(CORRECTING, NEW_ROUND): defects},
    )
    return [generated for generated in files if generated.round_id == NEW_ROUND]


@dataclass
class WaitingRound:
    """su_round's run for NEW_ROUND (under `airflow dags test`, in a process of its own),
    paused at the approval."""

    process: subprocess.Popen
    run_id: str
    env: dict[str, str]
    home: Path
    printed: Path
    output: Path
    started: dt.datetime  # the warehouse's clock when the run started


@pytest.fixture(scope="module")
def waiting_round(tmp_path_factory):
    """The landed round, then the next round's uploads landed (not yet gated: su_round's
    safety net gates them) and su_round run with SUKF_REQUIRE_APPROVAL until it waits."""
    built = report_round()
    inbox = Path(os.environ["SUKF_INBOX"])
    for generated in new_round_files(tmp_path_factory.mktemp("first"), DEFECTS["first"]):
        shutil.copyfile(generated.path, inbox / generated.path.name)
    assert {r["status"] for r in pipeline.land_new_files()} == {"landed"}

    env = airflow_local.airflow_environment()
    env["SUKF_REQUIRE_APPROVAL"] = "1"
    home = Path(env["AIRFLOW_HOME"])
    printed = tmp_path_factory.mktemp("airflow") / "dags-test.log"  # a file: Airflow prints a lot
    started = scalar(warehouse.engine(), "SELECT now()")
    process = start_round(env, printed, {"round_id": NEW_ROUND})
    try:
        run_id = wait_for_approval(process, home, printed)
        yield WaitingRound(process, run_id, env, home, printed, built.output, started)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _still_waiting(waiting: WaitingRound) -> None:
    states = task_states(waiting.home, waiting.run_id)
    assert waiting.process.poll() is None, waiting.printed.read_text()[-4000:]
    assert states["approve_publication"] == "awaiting_input", states
    assert states.get("publish_kolada") is None and states.get("report") is None, states


def test_a_corrected_upload_gets_its_feedback_while_the_publication_waits(waiting_round, tmp_path):
    """The kommun's corrected file lands (su_intake) while su_round waits for the approval:
    su_feedback gates it and writes its report, every task on its first try, and su_round
    still waits."""
    _still_waiting(waiting_round)
    engine = warehouse.engine()
    first_upload = scalar(
        engine,
        "SELECT upload_id FROM raw.uploads WHERE kommun_kod = :k AND round_id = :r",
        k=CORRECTING,
        r=NEW_ROUND,
    )
    (corrected,) = [
        generated
        for generated in new_round_files(tmp_path, DEFECTS["corrected"])
        if generated.kommun_kod == CORRECTING
    ]
    # the kommun uploads its file again under the same name
    shutil.copyfile(corrected.path, Path(os.environ["SUKF_INBOX"]) / corrected.path.name)

    intake = airflow_local.run_dag("su_intake")
    (landed,) = [v for verdicts in intake.results("land_uploads") for v in verdicts]
    assert (landed["kommun"], landed["round"], landed["status"]) == (
        CORRECTING,
        NEW_ROUND,
        "landed",
    )
    feedback = airflow_local.run_dag("su_feedback")
    assert {(t.task_id, t.state, t.try_number) for t in feedback.tasks} == {
        ("quality_gate", "success", 1),
        ("write_feedback", "success", 1),
        ("notify_kommuner", "success", 1),
    }
    ((gated,),) = feedback.results("quality_gate")
    assert (gated["upload_id"], gated["kommun"], gated["round"], gated["status"]) == (
        landed["upload_id"],
        CORRECTING,
        NEW_ROUND,
        "accepted",
    )
    assert (gated["rows_received"], gated["rows_rejected"]) == (corrected.rows, 0)
    ((written,),) = feedback.results("write_feedback")
    assert written == {
        "upload_id": landed["upload_id"],
        "kommun": CORRECTING,
        "round": NEW_ROUND,
        "status": "accepted",
        "feedback_report": gated["feedback_report"],
        "account": None,  # put into the inbox itself, not by an SFTP account
        "download": None,
    }
    # the report names the corrected file and its finding (the row, the rule, the value); the
    # first file's too young klienter are gone from it
    report = Path(written["feedback_report"]).with_suffix(".html").read_text(encoding="utf-8")
    first_report = report_path(first_upload, CORRECTING, NEW_ROUND).with_suffix(".html")
    rules = {rule.rule_id: rule for rule in build_rules()}
    (kon_row,) = [defect.source_row for defect in corrected.defects]
    assert f"<li>Fil: {corrected.path.name}</li>" in report
    assert (
        f"<td>{kon_row}</td>\n  <td>{rules['v14_kon.in_set'].message} Felaktiga värden: ”3”.</td>"
    ) in report
    too_young = rules["v15_alder.out_of_scope"].message
    assert too_young in first_report.read_text(encoding="utf-8") and too_young not in report
    # the correction counts instead of the first file
    assert (
        scalar(engine, "SELECT superseded_by FROM raw.uploads WHERE upload_id = :u", u=first_upload)
        == (landed["upload_id"])
    )

    received = scalar(
        engine,
        "SELECT extract(epoch FROM received_at) FROM raw.uploads WHERE upload_id = :u",
        u=landed["upload_id"],
    )
    seconds = Path(written["feedback_report"]).stat().st_mtime - float(received)
    print(f"landing to feedback: {seconds:.1f} s (su_feedback's run {feedback.seconds:.1f} s)")
    _still_waiting(waiting_round)


def test_nothing_is_published_before_a_person_approves(waiting_round):
    run, run_id, home = waiting_round.process, waiting_round.run_id, waiting_round.home
    time.sleep(3)  # a publish that (wrongly) followed would have started by now
    _still_waiting(waiting_round)
    assert task_states(home, run_id)["review"] == "success"
    output = waiting_round.output
    assert not (output / "kolada" / NEW_ROUND).exists()
    assert not (output / "rapport" / NEW_ROUND).exists()
    assert not (output / "intern" / NEW_ROUND).exists()
    draft = output / "granskning" / NEW_ROUND / "intern" / "granskning.html"
    assert "Utkast för granskning" in draft.read_text(encoding="utf-8")

    answer(waiting_round.env, run_id)
    run.wait(timeout=900)
    assert run.returncode == 0, waiting_round.printed.read_text()[-4000:]
    report = airflow_local.read_dag_run("su_round", run_id, home)
    states = {task.task_id: task.state for task in report.tasks}
    assert states == {
        "gate_remaining": "success",
        "dbt_build": "success",
        "plan_publication": "success",
        "review": "success",
        "approve_publication": "success",
        "record_approval": "success",
        "approved_earlier": "skipped",
        "publish_kolada": "success",
        "report": "success",
    }
    # no su_feedback ran before this su_round: its safety net gated the new round's uploads
    (gated,) = report.results("gate_remaining")
    assert {(g["kommun"], g["round"]) for g in gated} == {(unit, NEW_ROUND) for unit in UNITS}
    assert all(Path(g["feedback_report"]).exists() for g in gated)
    (published,) = report.results("publish_kolada")
    assert published["round_id"] == NEW_ROUND and published["version"] == "v001"
    # the publication formats the cells the draft's audit decided (stored once, by their key)
    draft = output / "granskning" / NEW_ROUND / "statistik" / NEW_ROUND / "v001"
    statistics_files = Path(published["statistics_directory"])
    for name in ("tratt.csv", "nationella_figurer.csv"):
        assert (statistics_files / name).read_bytes() == (draft / name).read_bytes(), name
    # (decided by this run: another module on the worker may have published the round before)
    decided = "FROM ops.disclosure_protections WHERE round_id = :r AND decided_at >= :since"
    engine, since = warehouse.engine(), waiting_round.started
    assert scalar(engine, f"SELECT count(*) {decided}", r=NEW_ROUND, since=since) == 1
    assert (
        scalar(engine, f"SELECT cells_withheld {decided}", r=NEW_ROUND, since=since)
        == json.loads((statistics_files / "manifest.json").read_text(encoding="utf-8"))[
            "cells_withheld"
        ]
    )
    (site,) = report.results("report")
    assert Path(site["index"]) == output / "rapport" / NEW_ROUND / "index.html"
    assert Path(site["index"]).exists()
