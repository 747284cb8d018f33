"""The DAGs as Airflow parses them, and what a task failure under Airflow does: the statistics
team gets an e-mail (a real SMTP server on localhost), with no personnummer in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import scalar
from local_servers import SmtpSink, smtp_connection
from sukvinnofrid import airflow_local, pipeline, reference
from sukvinnofrid.privacy import contains_personnummer, luhn_check_digit
from sukvinnofrid.synthetic import generate_round_files

PARSE = r"""
import json
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.bases.notifier import BaseNotifier

def callbacks(value):
    values = value if isinstance(value, list) else [value]
    return [
        {
            "name": f"{type(c).__module__}.{type(c).__qualname__}",
            "notifier": isinstance(c, BaseNotifier),
        }
        for c in values
        if c is not None
    ]

def scheduled_on(dag):
    condition = getattr(dag.timetable, "asset_condition", None)
    return [asset.name for asset in condition.objects] if condition is not None else []

bag = DagBag()
print(json.dumps({"errors": bag.import_errors, "dags": {dag.dag_id: {
    "doc_md": dag.doc_md,
    "scheduled_on": scheduled_on(dag),
    "max_active_runs": dag.max_active_runs,
    "tasks": {task.task_id: {
        "upstream": sorted(task.upstream_task_ids),
        "outlets": [asset.name for asset in task.outlets],
        "timeout": task.execution_timeout.total_seconds() if task.execution_timeout else None,
        "map_index_template": getattr(task, "map_index_template", None),
        "on_failure": callbacks(task.on_failure_callback),
        "doc_md": task.doc_md,
    } for task in dag.tasks}} for dag in bag.dags.values()}}))
"""


@pytest.fixture(scope="module")
def parsed() -> dict:
    """The project's DAG folder parsed by Airflow's DagBag, in a process of its own (Airflow reads
    its configuration once per process)."""
    result = subprocess.run(
        [sys.executable, "-c", PARSE],
        env=airflow_local.airflow_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_dag_parses_without_errors(parsed):
    assert parsed["errors"] == {}
    assert set(parsed["dags"]) == {
        "su_intake",
        "su_feedback",
        "su_round",
        "su_retention",
        "su_reminders",
    }
    assert set(parsed["dags"]["su_intake"]["tasks"]) == {
        "find_new_uploads",
        "land_uploads",
        "announce",
    }
    assert set(parsed["dags"]["su_feedback"]["tasks"]) == {
        "quality_gate",
        "write_feedback",
        "notify_kommuner",
    }
    assert set(parsed["dags"]["su_round"]["tasks"]) == {
        "gate_remaining",
        "dbt_build",
        "publish_kolada",
        "report",
    }
    assert set(parsed["dags"]["su_retention"]["tasks"]) == {
        "clear_inbox",
        "remove_expired",
        "clean_airflow_metadata",
    }
    assert set(parsed["dags"]["su_reminders"]["tasks"]) == {"send_reminders"}


def test_feedback_follows_each_landing_in_a_dag_that_waits_for_no_round(parsed):
    """su_intake's landing triggers su_feedback (gate, then each kommun's report), whose gate
    triggers su_round: feedback is upstream of the build, the approval and the publication,
    never behind them."""
    dags = parsed["dags"]
    (landed,) = dags["su_intake"]["tasks"]["announce"]["outlets"]
    assert dags["su_feedback"]["scheduled_on"] == [landed] == [pipeline.RAW_ASSET]
    feedback = dags["su_feedback"]["tasks"]
    assert feedback["write_feedback"]["upstream"] == ["quality_gate"]
    assert feedback["notify_kommuner"]["upstream"] == ["write_feedback"]
    (decided,) = feedback["quality_gate"]["outlets"]
    assert dags["su_round"]["scheduled_on"] == [decided] == [pipeline.QUALITY_ASSET]
    assert not any(
        task["outlets"] for name, task in feedback.items() if name != "quality_gate"
    ) and not any(
        landed in dags[d]["scheduled_on"] for d in ("su_round", "su_retention", "su_reminders")
    )
    # one run at a time: a queued run gates everything landed meanwhile
    assert dags["su_feedback"]["max_active_runs"] == 1


def test_every_dag_and_task_is_described_in_swedish_for_the_statistics_team(parsed):
    for dag in parsed["dags"].values():
        assert (
            "### SU-Kvinnofrid" in dag["doc_md"] and "får statistikteamet e-post" in dag["doc_md"]
        )
        for task_id, task in dag["tasks"].items():
            assert task["doc_md"] and task["doc_md"].strip(), task_id


def test_every_task_has_a_time_limit_and_mails_the_team_when_it_fails(parsed):
    for dag in parsed["dags"].values():
        for task_id, task in dag["tasks"].items():
            assert task["timeout"] and 0 < task["timeout"] <= 2 * 3600, task_id
            # Airflow's notifier (a BaseNotifier that sends with the SMTP provider's)
            assert task["on_failure"] == [
                {"name": "sukvinnofrid.notify.TaskFailureNotifier", "notifier": True}
            ], task_id


def test_the_mapped_intake_task_is_labelled_with_its_file_names(parsed):
    tasks = parsed["dags"]["su_intake"]["tasks"]
    assert tasks["land_uploads"]["map_index_template"] == (
        "{{ task.op_kwargs['paths'] | shown_file_names }}"
    )
    assert all(
        t["map_index_template"] is None for name, t in tasks.items() if name != "land_uploads"
    )


FAILING_DAG = """
from datetime import timedelta
import time

import pendulum
from airflow.sdk import dag, task

from sukvinnofrid import notify


@dag(dag_id="sukf_failing", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False,
     default_args={"retries": 0, "on_failure_callback": notify.task_failed})
def sukf_failing():
    @task(map_index_template="{{ task.op_kwargs['name'] }}")
    def unreadable(name: str) -> None:
        raise ValueError("rad 3: kunde inte läsa 19121212-1212 i kolumnen v4_klient")

    @task(execution_timeout=timedelta(seconds=2))
    def too_slow() -> None:
        time.sleep(120)

    unreadable.expand(name=["sukf_0580_2023-12.csv"])
    too_slow()


sukf_failing()
"""


@pytest.mark.slow
def test_a_task_that_fails_or_times_out_under_airflow_mails_the_team(tmp_path, monkeypatch):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "sukf_failing.py").write_text(textwrap.dedent(FAILING_DAG), encoding="utf-8")
    with SmtpSink() as sink:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(sink.port))
        monkeypatch.setenv("SUKF_ALERT_EMAIL", "statistik@socialstyrelsen.example")
        with pytest.raises(airflow_local.DagRunFailed) as failed:
            airflow_local.run_dag("sukf_failing", dags_folder=dags)
    report = failed.value.report
    assert report.state == "failed"
    assert {(t.task_id, t.label, t.state, t.try_number) for t in report.tasks} == {
        ("unreadable", "sukf_0580_2023-12.csv", "failed", 1),
        ("too_slow", None, "failed", 1),
    }
    mails = {mail.subject: mail for mail in sink.received}
    assert set(mails) == {
        "SU-Kvinnofrid: sukf_failing.unreadable (sukf_0580_2023-12.csv) misslyckades",
        "SU-Kvinnofrid: sukf_failing.too_slow misslyckades",
    }
    unreadable = mails[
        "SU-Kvinnofrid: sukf_failing.unreadable (sukf_0580_2023-12.csv) misslyckades"
    ]
    assert "ValueError: rad 3: kunde inte läsa ÅÅMMDD-XXXX" in unreadable.body
    assert "19121212" not in unreadable.body
    assert report.run_id in unreadable.body and "/dags/sukf_failing/runs/" in unreadable.body
    assert "AirflowTaskTimeout" in mails["SU-Kvinnofrid: sukf_failing.too_slow misslyckades"].body


@pytest.mark.slow
def test_without_smtp_settings_the_task_log_says_no_e_mail_was_sent(tmp_path, monkeypatch):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "sukf_failing.py").write_text(textwrap.dedent(FAILING_DAG), encoding="utf-8")
    for variable in ("AIRFLOW_CONN_SMTP_DEFAULT", "SUKF_ALERT_EMAIL"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(airflow_local.DagRunFailed) as failed:
        airflow_local.run_dag("sukf_failing", dags_folder=dags)
    assert failed.value.report.output.count("Ingen e-post skickades om felet") == 2


FLAKY_DAG = """
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import dag, task


@dag(dag_id="sukf_flaky", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False,
     default_args={"retries": 1, "retry_delay": timedelta(seconds=0)})
def sukf_flaky():
    @task
    def first_try_fails(marker: str) -> str:
        if not Path(marker).exists():
            Path(marker).touch()
            raise RuntimeError("the first try fails")
        return "second try"

    first_try_fails(MARKER)


sukf_flaky()
"""


@pytest.mark.slow
def test_a_run_that_succeeds_only_on_a_retry_is_a_failure(tmp_path):
    """What `sukvinnofrid demo` and the end-to-end test rely on: the run's final state is
    success, but run_dag fails it because a task needed a second try."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "sukf_flaky.py").write_text(
        textwrap.dedent(FLAKY_DAG).replace("MARKER", repr(str(tmp_path / "tried"))),
        encoding="utf-8",
    )
    with pytest.raises(airflow_local.DagRunFailed) as failed:
        airflow_local.run_dag("sukf_flaky", dags_folder=dags)
    report = failed.value.report
    assert report.state == "success"
    (task,) = report.tasks
    assert (task.state, task.try_number, task.result) == ("success", 2, "second try")
    assert report.problems() == ["first_try_fails: status success, försök 2"]
    assert "first_try_fails: status success, försök 2" in str(failed.value).splitlines()[0]


@pytest.mark.slow
def test_a_file_named_with_a_personnummer_never_reaches_airflows_metadata(clean_warehouse):
    """The intake DAG lands such a file within find_new_uploads: its name is in no XCom, task
    argument or map index, nor anywhere else under AIRFLOW_HOME."""
    inbox = Path(os.environ["SUKF_INBOX"])
    (normal,) = generate_round_files(inbox, ["0580"], ["2023-12"], cases_per_kommun=10, seed=3)
    (named,) = generate_round_files(
        inbox / "named", ["2380"], ["2023-12"], cases_per_kommun=10, seed=4
    )
    # Not the number of the failing DAG above, whose source Airflow keeps (dag_code).
    number = f"850709-980{luhn_check_digit('850709980')}"
    named.path.rename(inbox / f"sukf_2380_2023-12_{number}.csv")
    report = airflow_local.run_dag("su_intake")
    assert report.results("find_new_uploads") == [[[str(normal.path)]]]
    assert [task.label for task in report.tasks if task.task_id == "land_uploads"] == [
        normal.path.name
    ]
    assert scalar(clean_warehouse, "SELECT count(*) FROM raw.uploads") == 2
    home = Path(airflow_local.airflow_environment()["AIRFLOW_HOME"])
    holding = [
        path
        for path in home.rglob("*")
        if path.is_file()
        and any(part in path.read_bytes() for part in (b"850709-980", b"850709980"))
    ]
    assert holding == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sizes=st.lists(st.integers(0, 5000), max_size=60), tasks=st.integers(1, 20))
def test_the_new_files_are_shared_out_over_at_most_so_many_landing_tasks(tmp_path, sizes, tasks):
    """Every file in exactly one task; a file a task while there are no more files than tasks;
    the tasks' bytes within the largest file of each other; names in order."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    paths = []
    for number, size in enumerate(sizes):
        path = folder / f"sukf_{number:04d}_2023-12.csv"
        path.write_bytes(b"x" * size)
        paths.append(str(path))
    batches = pipeline.landing_batches(paths, tasks)
    assert sorted(path for batch in batches for path in batch) == sorted(paths)
    assert len(batches) == min(tasks, len(paths)) and all(batches)
    if len(paths) <= tasks:
        assert all(len(batch) == 1 for batch in batches)
    loads = [sum(Path(path).stat().st_size for path in batch) for batch in batches]
    assert not loads or max(loads) - min(loads) <= max(sizes)
    assert batches == sorted(sorted(batch) for batch in batches)


@given(
    names=st.lists(
        st.from_regex(r"sukf_[0-9]{4}_2023-12(_[0-9]{6}-[0-9]{4})?\.csv", fullmatch=True),
        min_size=1,
        max_size=30,
        unique=True,
    ),
    long_name=st.booleans(),
)
def test_a_landing_task_is_labelled_with_its_files_names_and_no_personnummer(names, long_name):
    number = f"850709-980{luhn_check_digit('850709980')}"
    names = sorted([*names, f"sukf_2380_2023-12_{number}_{'x' * 230 * long_name}.csv"])
    for batch in ([names[0]], names):
        label = pipeline.shown_file_names([f"/inkorg/{name}" for name in batch])
        assert len(label) <= 250 and not contains_personnummer(label)
        if len(batch) == 1:
            assert label == pipeline.shown_file_names([batch[0]])
            assert label.startswith(batch[0][:10])
        else:
            assert label.endswith(f" ({len(batch)} filer)") or len(label) == 250
            assert label.startswith(pipeline.shown_file_names([batch[0]])[:20])


@pytest.mark.slow
def test_more_new_files_than_landing_tasks_share_the_tasks(clean_warehouse):
    """17 new files: 16 landing tasks, one of them with two files, labelled with the first and
    the last of their names; every file's verdict in the results (XCom) and landed once."""
    inbox = Path(os.environ["SUKF_INBOX"])
    kommuner = sorted(reference.kommuner())[: pipeline.LANDING_TASKS + 1]
    files = generate_round_files(inbox, kommuner, ["2023-12"], cases_per_kommun=3, seed=5)
    report = airflow_local.run_dag("su_intake")
    landing = [task for task in report.tasks if task.task_id == "land_uploads"]
    assert len(landing) == pipeline.LANDING_TASKS
    assert all(task.state == "success" and task.try_number == 1 for task in report.tasks)
    for task in landing:
        names = [verdict["file_name"] for verdict in task.result]
        assert task.label == (
            names[0] if len(names) == 1 else f"{names[0]} … {names[-1]} ({len(names)} filer)"
        )
    assert sorted(len(task.result) for task in landing) == [1] * 15 + [2]
    verdicts = [verdict for task in landing for verdict in task.result]
    assert sorted(v["file_name"] for v in verdicts) == sorted(f.path.name for f in files)
    assert {verdict["status"] for verdict in verdicts} == {"landed"}
    assert report.results("announce") == [{"landed": len(files)}]
    assert scalar(clean_warehouse, "SELECT count(*) FROM raw.uploads") == len(files)
