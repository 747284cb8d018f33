"""su_round with SUKF_REQUIRE_APPROVAL under `airflow dags test`, in a process of its own: the
run waits in Airflow's `awaiting_input` state until a person's answer comes from outside, here
through Airflow's own HITL REST endpoint (the Core API app with the local simple auth manager),
as the UI's Required Actions page sends it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

from sukvinnofrid import airflow_local

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


def task_states(home: Path, run_id: str) -> dict[str, str | None]:
    with closing(sqlite3.connect(airflow_local.metadata_db(home))) as db:
        return dict(
            db.execute(
                "SELECT task_id, state FROM task_instance WHERE dag_id = 'su_round' AND run_id = ?",
                (run_id,),
            )
        )


def running_run(home: Path) -> str | None:
    with closing(sqlite3.connect(airflow_local.metadata_db(home))) as db:
        row = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = 'su_round' AND state = "
            "'running' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return row[0] if row else None


def start_round(env: dict[str, str], printed: Path, conf: dict | None = None) -> subprocess.Popen:
    """`airflow dags test su_round` in a process of its own, its output into `printed`."""
    airflow_local.ensure_metadata_db(env)
    args = [str(Path(sys.executable).with_name("airflow")), "dags", "test", "su_round"]
    if conf:
        args += ["--conf", json.dumps(conf)]
    return subprocess.Popen(args, env=env, stdout=printed.open("w"), stderr=subprocess.STDOUT)


def wait_for_approval(process: subprocess.Popen, home: Path, printed: Path, seconds=900) -> str:
    """The run's id once its approval task awaits a person's answer."""
    deadline = time.monotonic() + seconds
    run_id = None
    while time.monotonic() < deadline:
        run_id = run_id or running_run(home)
        if run_id and task_states(home, run_id).get("approve_publication") == "awaiting_input":
            return run_id
        if process.poll() is not None:
            raise AssertionError(printed.read_text()[-4000:])
        time.sleep(1)
    raise AssertionError("su_round never reached the approval")


def answer(env: dict[str, str], run_id: str, option: str = "Approve") -> None:
    """A person's answer to the run's approval, as the Required Actions page sends it."""
    responder_env = dict(env, AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RESPOND), run_id, option],
        env=responder_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout.strip().splitlines()[-1].startswith("200 "), (
        result.stdout[-3000:] + result.stderr[-3000:]
    )
