"""Running the real DAGs locally: a project-local AIRFLOW_HOME on SQLite.

    run_dag(dag_id, conf)   `airflow dags test` one run; returns what every task did (state,
                            try, XCom result) as read back from Airflow's metadata DB, and raises
                            if the run failed or a task needed a retry
    standalone(port)        the Airflow UI with scheduler and DAG processor (`airflow standalone`)

Airflow 3.3 keeps a run's tasks in the metadata DB tables `dag_run` (run_id, state),
`task_instance` (one row per task and map index: the latest try's state, try_number from 1,
rendered_map_index, duration in seconds) and `xcom` (key 'return_value' is the task's result,
stored as JSON).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import get_settings

_FINISHED = re.compile(r"DagRun Finished: dag_id=\S+, .*?run_id=(\S+), .*?state=(\w+)")


def airflow_environment() -> dict[str, str]:
    settings = get_settings()
    home = Path(os.environ.get("SUKF_AIRFLOW_HOME", settings.home / ".airflow"))
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(settings.home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{metadata_db(home)}",
            # retention's `airflow db clean` (a task's own Airflow has no metadata DB)
            "SUKF_AIRFLOW_DB_CONN": f"sqlite:///{metadata_db(home)}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "SUKF_HOME": str(settings.home),
        }
    )
    return env


def metadata_db(home: Path) -> Path:
    return home / "airflow.db"


def _airflow_executable() -> Path:
    return Path(sys.executable).with_name("airflow")


# The `airflow` command as its console script runs it, with CPython's garbage collector set for a
# process that builds a large heap and lives for one DAG run: the CLI, the DAGs and the in-process
# execution API (`dags test` builds its versioned routes at the first task) leave a few hundred
# MB of long-lived objects, which the default thresholds (700, 10, 10) traverse again and again
# (about 1.2 s of each run's start), and the interpreter's last collections at exit traverse once
# more (2.5-3 s after the run has finished). The young generation is collected every 10 000
# allocations instead, and at exit, once the atexit handlers have run (registered first, frozen
# last), the heap is frozen and left to the operating system.
_AIRFLOW_CLI = (
    "import atexit, gc, sys; gc.set_threshold(10_000, 10, 10); "
    "atexit.register(gc.freeze); sys.argv[0] = 'airflow'; "
    "from airflow.__main__ import main; sys.exit(main())"
)


def _airflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _AIRFLOW_CLI, *args], env=env, capture_output=True, text=True
    )


def ensure_metadata_db(env: dict[str, str]) -> None:
    stamp = Path(env["AIRFLOW_HOME"]) / ".migrated"
    if stamp.exists():
        return
    result = _airflow("db", "migrate", env=env)
    if result.returncode != 0:
        raise RuntimeError(
            f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    stamp.touch()


@dataclass(frozen=True)
class TaskRun:
    """One task (one map index of a mapped task) of a DAG run, as Airflow recorded it."""

    task_id: str
    map_index: int  # -1 unless mapped
    label: str | None  # the rendered map_index_template (a mapped task's file name)
    state: str | None
    try_number: int  # 1 for the first try; 0 if it never ran
    result: Any  # the XCom return_value, None if the task returned nothing
    seconds: float | None = None  # how long its latest try ran; None if it never ran

    @property
    def as_expected(self) -> bool:
        """Succeeded on its first try, or skipped without trying (a task mapped over no files,
        and what follows it)."""
        return (self.state == "success" and self.try_number == 1) or (
            self.state == "skipped" and self.try_number <= 1
        )


@dataclass(frozen=True)
class DagRunReport:
    dag_id: str
    run_id: str
    state: str
    tasks: tuple[TaskRun, ...]
    output: str  # what `airflow dags test` printed
    seconds: float | None = None  # from the run's start to its end, as Airflow recorded them

    def results(self, task_id: str) -> list[Any]:
        """The XCom results of a task that succeeded, one per map index."""
        return [
            task.result
            for task in self.tasks
            if task.task_id == task_id and task.state == "success"
        ]

    def problems(self) -> list[str]:
        """Every task that failed or needed a retry, described (in Swedish)."""
        return [
            f"{task.task_id}"
            + (f" ({task.label or task.map_index})" if task.map_index >= 0 else "")
            + f": status {task.state}, försök {task.try_number}"
            for task in self.tasks
            if not task.as_expected
        ]


class DagRunFailed(RuntimeError):
    """A local DAG run failed, or a task in it needed a retry; `report` is what the metadata DB
    says of the run (None if it did not finish)."""

    def __init__(self, message: str, report: DagRunReport | None = None) -> None:
        super().__init__(message)
        self.report = report


def read_dag_run(dag_id: str, run_id: str, home: Path, output: str = "") -> DagRunReport:
    """A finished run's tasks and their results from the metadata DB."""
    with closing(sqlite3.connect(metadata_db(home))) as db:
        state, seconds = db.execute(
            "SELECT state, (julianday(end_date) - julianday(start_date)) * 86400 FROM dag_run "
            "WHERE dag_id = ? AND run_id = ?",
            (dag_id, run_id),
        ).fetchone()
        results = {
            (task_id, map_index): value
            for task_id, map_index, value in db.execute(
                "SELECT task_id, map_index, value FROM xcom "
                "WHERE dag_id = ? AND run_id = ? AND key = 'return_value'",
                (dag_id, run_id),
            )
        }
        rows = db.execute(
            "SELECT task_id, map_index, rendered_map_index, state, try_number, duration "
            "FROM task_instance WHERE dag_id = ? AND run_id = ? ORDER BY task_id, map_index",
            (dag_id, run_id),
        ).fetchall()
    tasks = tuple(
        TaskRun(
            task_id,
            map_index,
            label,
            ti_state,
            try_number,
            _json_value(results.get((task_id, map_index))),
            duration,
        )
        for task_id, map_index, label, ti_state, try_number, duration in rows
    )
    return DagRunReport(dag_id, run_id, state, tasks, output, seconds)


def _json_value(stored):
    """An XCom value as SQLite returns it: JSON text, except that a bare number is stored as one
    (the column has numeric affinity)."""
    return json.loads(stored) if isinstance(stored, str) else stored


def run_dag(
    dag_id: str, conf: dict | None = None, *, dags_folder: Path | None = None
) -> DagRunReport:
    """`airflow dags test` one DAG run in-process; raises DagRunFailed with Airflow's output if
    the run failed or any task needed more than one try. `dags_folder` replaces the project's."""
    env = airflow_environment()
    if dags_folder is not None:
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    ensure_metadata_db(env)
    args = ["dags", "test", dag_id]
    if conf:
        args += ["--conf", json.dumps(conf)]
    result = _airflow(*args, env=env)
    output = result.stdout + result.stderr
    # `dags test` logs the tasks to its output, not to task log files: kept for reading.
    printed = Path(env["AIRFLOW_HOME"]) / "logs" / f"dags-test-{dag_id}.log"
    printed.parent.mkdir(parents=True, exist_ok=True)
    printed.write_text(output, encoding="utf-8")
    finished = _FINISHED.findall(output)
    if len(finished) != 1:
        raise DagRunFailed(
            f"DAG {dag_id} kördes inte klart (slutkod {result.returncode}); "
            f"Airflows utskrift: {printed}\n{output[-6000:]}"
        )
    ((run_id, state),) = finished
    report = read_dag_run(dag_id, run_id, Path(env["AIRFLOW_HOME"]), output)
    if result.returncode != 0 or state != "success" or report.problems():
        raise DagRunFailed(
            f"DAG {dag_id} (körning {run_id}) slutade med status {state}; "
            f"{'; '.join(report.problems()) or 'alla uppgifter lyckades'}; "
            f"Airflows utskrift: {printed}\n{output[-6000:]}",
            report,
        )
    return report


def test_dag(dag_id: str, conf: dict | None = None) -> str:
    """`run_dag`, returning only what Airflow printed."""
    return run_dag(dag_id, conf).output


def standalone(host: str, port: int) -> None:
    """Replace this process with `airflow standalone` (api-server with the UI, scheduler, DAG
    processor, triggerer) on the project's AIRFLOW_HOME and DAG folder. Ctrl-C stops it."""
    env = airflow_environment()
    base_url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}"
    env.update(
        {
            "AIRFLOW__API__HOST": host,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base_url,
            # standalone starts its components as `airflow …` from PATH: this installation's.
            "PATH": f"{_airflow_executable().parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    executable = str(_airflow_executable())
    os.execve(executable, [executable, "standalone"], env)


def admin_password_file() -> Path:
    """Where `airflow standalone` keeps the generated password of the local `admin` user."""
    return (
        Path(airflow_environment()["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    )
