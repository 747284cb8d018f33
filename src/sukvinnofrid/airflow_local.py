"""Running the real DAGs locally: a project-local AIRFLOW_HOME on SQLite and `airflow dags test`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from .config import get_settings

_FINISHED = re.compile(r"DagRun Finished: dag_id=\S+, .*?state=(\w+)")


def airflow_environment() -> dict[str, str]:
    settings = get_settings()
    home = Path(os.environ.get("SUKF_AIRFLOW_HOME", settings.home / ".airflow"))
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "SUKF_HOME": str(settings.home),
    })
    return env


def _airflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).with_name("airflow")
    return subprocess.run([str(executable), *args], env=env, capture_output=True, text=True)


def ensure_metadata_db(env: dict[str, str]) -> None:
    stamp = Path(env["AIRFLOW_HOME"]) / ".migrated"
    if stamp.exists():
        return
    result = _airflow("db", "migrate", env=env)
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    stamp.touch()


def test_dag(dag_id: str, conf: dict | None = None) -> str:
    """`airflow dags test` one DAG run in-process; raises with Airflow's output if it fails."""
    env = airflow_environment()
    ensure_metadata_db(env)
    args = ["dags", "test", dag_id]
    if conf:
        args += ["--conf", json.dumps(conf)]
    result = _airflow(*args, env=env)
    output = result.stdout + result.stderr
    finished = _FINISHED.findall(output)
    if result.returncode != 0 or finished != ["success"]:
        raise RuntimeError(f"DAG {dag_id} did not succeed (state {finished or 'unknown'}):\n"
                           f"{output[-6000:]}")
    return output
