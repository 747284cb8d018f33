"""Granskning before publication: with SUKF_REQUIRE_APPROVAL set, su_round writes a draft and
its Granskning, then waits for a person's approval (Airflow 3's human-in-the-loop
ApprovalOperator) before the Kolada files, the statistics and the site are published; without
it (the demo, the other tests) the round publishes straight away.

The real DAG runs under `airflow dags test`, which keeps the approval task in Airflow's
`awaiting_input` state until a response arrives from outside: here the person's "Godkänn" is
sent through Airflow's own HITL REST endpoint (the Core API app, in a process of its own, with
the local simple auth manager), as the UI's Required Actions page does."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

import pytest

from report_round import FORMATS, ROUNDS, UNITS, report_round
from sukvinnofrid import airflow_local, pipeline
from sukvinnofrid.synthetic import generate_round_files

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
NEW_ROUND = "2024-06"

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
    assert set(plain["tasks"]) == {"quality_gate", "dbt_build", "publish_kolada", "report"}
    assert plain["tasks"]["publish_kolada"]["upstream"] == ["dbt_build"]
    assert plain["tasks"]["report"]["upstream"] == ["publish_kolada"]
    assert plain["tasks"]["report"]["outlets"] == ["su_kvinnofrid_round_site"]
    assert plain["tasks"]["report"]["queue"] == "publish"

    gated = parse_round_dag(approval=True)
    assert gated["errors"] == {}
    tasks = gated["tasks"]
    assert tasks["review"]["upstream"] == ["dbt_build"]
    assert tasks["approve_publication"] == {
        **tasks["approve_publication"],
        "type": "ApprovalOperator",
        "upstream": ["review"],
    }
    assert tasks["publish_kolada"]["upstream"] == ["approve_publication"]
    assert tasks["report"]["upstream"] == ["publish_kolada"]
    assert {t["queue"] for t in tasks.values()} == {"quality", "transform", "publish"}


RESPOND = r"""
import os, sys
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app
client = TestClient(create_app("core"))
response = client.patch(
    f"/api/v2/dags/su_round/dagRuns/{sys.argv[1]}/taskInstances/approve_publication/-1/hitlDetails",
    json={"chosen_options": [sys.argv[2]], "params_input": {}})
print(response.status_code, response.text)
"""


def _task_states(home: Path, run_id: str) -> dict[str, str | None]:
    with closing(sqlite3.connect(airflow_local.metadata_db(home))) as db:
        return dict(
            db.execute(
                "SELECT task_id, state FROM task_instance WHERE dag_id = 'su_round' AND run_id = ?",
                (run_id,),
            )
        )


def _running_run(home: Path) -> str | None:
    with closing(sqlite3.connect(airflow_local.metadata_db(home))) as db:
        row = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = 'su_round' AND state = "
            "'running' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return row[0] if row else None


def test_nothing_is_published_before_a_person_approves(tmp_path):
    built = report_round()
    # the next round's uploads arrive (cumulative extracts of the same kommuner)
    files = generate_round_files(
        tmp_path,
        list(UNITS),
        [*ROUNDS, NEW_ROUND],
        cases_per_kommun=UNITS,
        seed=11,
        formats=FORMATS,
        since=dt.date(2022, 1, 1),
    )
    inbox = Path(os.environ["SUKF_INBOX"])
    for generated in files:
        if generated.round_id == NEW_ROUND:
            shutil.copyfile(generated.path, inbox / generated.path.name)
    assert {r["status"] for r in pipeline.land_new_files()} == {"landed"}

    env = airflow_local.airflow_environment()
    env["SUKF_REQUIRE_APPROVAL"] = "1"
    airflow_local.ensure_metadata_db(env)
    home = Path(env["AIRFLOW_HOME"])
    printed = tmp_path / "dags-test.log"  # a file, not a pipe: Airflow prints a lot
    run = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("airflow")),
            "dags",
            "test",
            "su_round",
            "--conf",
            json.dumps({"round_id": NEW_ROUND}),
        ],
        env=env,
        stdout=printed.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 900
        run_id = None
        while time.monotonic() < deadline:
            run_id = run_id or _running_run(home)
            if run_id and _task_states(home, run_id).get("approve_publication") == "awaiting_input":
                break
            assert run.poll() is None, printed.read_text()[-4000:]
            time.sleep(1)
        else:
            pytest.fail("su_round never reached the approval")
        time.sleep(3)  # a publish that (wrongly) followed would have started by now
        states = _task_states(home, run_id)
        assert states["review"] == "success"
        assert states.get("publish_kolada") is None and states.get("report") is None, states
        output = built.output
        assert not (output / "kolada" / NEW_ROUND).exists()
        assert not (output / "rapport" / NEW_ROUND).exists()
        assert not (output / "intern" / NEW_ROUND).exists()
        draft = output / "granskning" / NEW_ROUND / "intern" / "granskning.html"
        assert "Utkast för granskning" in draft.read_text(encoding="utf-8")

        responder_env = dict(env, AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True")
        answer = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(RESPOND), run_id, "Approve"],
            env=responder_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert answer.stdout.strip().splitlines()[-1].startswith("200 "), (
            answer.stdout[-3000:] + answer.stderr[-3000:]
        )
        run.wait(timeout=900)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, printed.read_text()[-4000:]
    report = airflow_local.read_dag_run("su_round", run_id, home)
    states = {task.task_id: task.state for task in report.tasks}
    assert states == {
        "quality_gate": "success",
        "dbt_build": "success",
        "review": "success",
        "approve_publication": "success",
        "publish_kolada": "success",
        "report": "success",
    }
    (published,) = report.results("publish_kolada")
    assert published["round_id"] == NEW_ROUND and published["version"] == "v001"
    (site,) = report.results("report")
    assert Path(site["index"]) == output / "rapport" / NEW_ROUND / "index.html"
    assert Path(site["index"]).exists()
