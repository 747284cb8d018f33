"""Retention under Airflow, as the statistics team meets it: a round landed (with a correction and
a blocked file) and published, files blocked for a personnummer and a file sent before its round
closed in the inbox, then the su_retention DAG. And the policy as a property: of uploads of any
status and age, exactly the parts past their period go, and nothing of an upload in force."""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import scalar, store_round_decisions, stored_keys, wipe_warehouse
from sukvinnofrid import airflow_local, intake, pipeline, retention, transform, versioned
from sukvinnofrid.config import get_settings
from sukvinnofrid.privacy import contains_personnummer, luhn_check_digit
from sukvinnofrid.synthetic import generate_round_files

ROUND = "2023-06"
# Made up, Luhn-valid: a personnummer in a file's name.
NUMBER = f"811128-912{luhn_check_digit('811128912')}"
LONG_AGO = 800  # days: past every default period


def _published(directory: Path) -> dict[str, bytes]:
    """A publication version's files but the time it was written."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != versioned.PUBLISHED_AT
    }


def _upload_ids(engine, **where) -> dict[str, int]:
    """{kommun: upload_id} of the uploads with the given status (the latest per kommun)."""
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.text(
                    "SELECT kommun_kod, max(upload_id) FROM raw.uploads WHERE status = :status"
                    " GROUP BY kommun_kod"
                ),
                where,
            ).all()
        )


def _without_case_dates(path: Path) -> None:
    """No row's case can be read (datum för aktualisering blank): the gate rejects every row and
    blocks the file, whose rows stay in raw."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    column = rows[0].index("v5_datum_aktualisering")
    for row in rows[1:]:
        row[column] = ""
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=";").writerows(rows)


def _backdate_airflow_run(dag_id: str) -> str:
    """Make the DAG's only run in Airflow's metadata DB a run of long ago; returns its run_id."""
    home = Path(airflow_local.airflow_environment()["AIRFLOW_HOME"])
    with closing(sqlite3.connect(airflow_local.metadata_db(home))) as db, db:
        (run_id,) = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY start_date DESC LIMIT 1",
            (dag_id,),
        ).fetchone()
        shift = f"-{LONG_AGO} days"
        for table, column in (
            ("dag_run", "start_date"),
            ("task_instance", "start_date"),
            ("task_instance_history", "start_date"),
            ("xcom", "timestamp"),
        ):
            db.execute(
                f"UPDATE {table} SET {column} = strftime('%Y-%m-%d %H:%M:%f', {column}, ?)"
                " WHERE dag_id = ? AND run_id = ?",
                (shift, dag_id, run_id),
            )
    return run_id


def _airflow_runs(dag_id: str) -> set[str]:
    home = Path(airflow_local.airflow_environment()["AIRFLOW_HOME"])
    with closing(sqlite3.connect(airflow_local.metadata_db(home))) as db:
        return {
            row[0] for row in db.execute("SELECT run_id FROM dag_run WHERE dag_id = ?", (dag_id,))
        }


@pytest.fixture(scope="module")
def landed(warehouse_engine):
    """The round through the intake DAG and the gate: 0580 and 2380 corrected (0580's original
    replaced long ago, 2380's today), 0126 blocked by the gate long ago in a gate run of its own;
    published; then the inbox gets a file with a personnummer in a cell, one with a personnummer
    in its name and one for a round that has not closed, which the intake DAG registers."""
    engine = warehouse_engine
    wipe_warehouse(engine)
    inbox = get_settings().inbox
    generate_round_files(inbox, ["0580", "2380"], [ROUND], cases_per_kommun=20, seed=21)
    airflow_local.run_dag("su_intake")
    first_intake_run = _backdate_airflow_run("su_intake")
    pipeline.quality_gate()
    originals = _upload_ids(engine, status="accepted")
    (unreadable,) = generate_round_files(inbox, ["0126"], [ROUND], cases_per_kommun=20, seed=22)
    _without_case_dates(unreadable.path)
    # the corrections overwrite the originals in the inbox, as a kommun's SFTP upload does
    generate_round_files(inbox, ["0580", "2380"], [ROUND], cases_per_kommun=24, seed=23)
    pipeline.land_new_files(paths=[unreadable.path])
    pipeline.quality_gate()
    pipeline.land_new_files()
    pipeline.quality_gate()
    blocked = _upload_ids(engine, status="blocked")
    corrections = _upload_ids(engine, status="accepted")
    assert set(blocked) == {"0126"} and _upload_ids(engine, status="superseded") == originals
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE raw.uploads SET decided_at = decided_at - make_interval(days => :days)"
                " WHERE upload_id = ANY(:ids)"
            ),
            {"days": LONG_AGO, "ids": [corrections["0580"], blocked["0126"]]},
        )
    pipeline.build_warehouse()
    published = pipeline.publish(ROUND)

    (in_cell,) = generate_round_files(
        inbox / "1984",
        ["1984"],
        [ROUND],
        cases_per_kommun=10,
        seed=24,
        defects={("1984", ROUND): ["personnummer_in_klient"]},
    )
    (named,) = generate_round_files(inbox, ["0380"], [ROUND], cases_per_kommun=10, seed=25)
    named = named.path.rename(inbox / f"sukf_0380_{ROUND}_{NUMBER}.csv")
    early_round = f"{get_settings().today.year + 1}-06"
    (early,) = generate_round_files(inbox, ["1280"], [early_round], cases_per_kommun=10, seed=26)
    privacy = {intake.sha256_of(path) for path in (in_cell.path, named)}
    airflow_local.run_dag("su_intake")
    with engine.connect() as conn:
        codes = dict(conn.execute(sa.text("SELECT kommun_kod, status_code FROM raw.uploads")).all())
    assert (codes["1984"], codes["0380"], codes["1280"]) == ("privacy", "privacy", "round_open")
    with engine.connect() as conn:
        archive_paths = dict(
            conn.execute(sa.text("SELECT upload_id, archive_path FROM raw.uploads")).all()
        )
    return {
        "originals": originals,
        "corrections": corrections,
        "blocked": blocked,
        "publication": {
            key: _published(Path(published[key])) for key in ("directory", "statistics_directory")
        },
        "privacy": privacy,
        "early": early.path,
        "first_intake_run": first_intake_run,
        "uploads": scalar(engine, "SELECT count(*) FROM raw.uploads"),
        "archive": archive_paths,
    }


@pytest.fixture(scope="module")
def retained(landed, warehouse_engine):
    """The retention DAG's first run over the landed round."""
    return airflow_local.run_dag("su_retention")


def _log(engine) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(row._mapping)
            for row in conn.execute(
                sa.text(
                    "SELECT what, location, reason, upload_id, row_count, byte_count, removed_at"
                    " FROM ops.retention_log ORDER BY entry_id"
                )
            )
        ]


@pytest.mark.slow
def test_the_inbox_keeps_only_the_file_waiting_for_its_round(landed, retained):
    assert intake.inbox_files() == [landed["early"]]
    archived = {
        intake.sha256_of(path) for path in get_settings().archive.rglob("*") if path.is_file()
    }
    # the personnummer files were never archived; the landed ones are, byte for byte
    assert archived and not archived & landed["privacy"]
    assert retained.results("clear_inbox")[0]["inkorgsfil"]["antal"] == 5


@pytest.mark.slow
def test_what_is_past_its_period_is_removed_and_logged(landed, retained, warehouse_engine):
    engine = warehouse_engine
    gone = {landed["originals"]["0580"], landed["blocked"]["0126"]}
    kept = {landed["originals"]["2380"], *landed["corrections"].values()}
    with engine.connect() as conn:
        with_rows = set(
            conn.execute(sa.text("SELECT DISTINCT upload_id FROM raw.case_records")).scalars()
        )
        gated = set(
            conn.execute(sa.text("SELECT upload_id FROM quality.validation_runs")).scalars()
        )
        archived = dict(
            conn.execute(sa.text("SELECT upload_id, archive_path FROM raw.uploads")).all()
        )
    assert with_rows & (gone | kept) == kept and gated & (gone | kept) == kept
    for upload_id in gone:
        assert archived[upload_id] is None and not Path(landed["archive"][upload_id]).exists()
    for upload_id in kept:
        assert Path(archived[upload_id]).exists()
    # the registry keeps every upload, the personnummer files' names masked
    assert scalar(engine, "SELECT count(*) FROM raw.uploads") == landed["uploads"]
    with engine.connect() as conn:
        names = conn.execute(sa.text("SELECT file_name FROM raw.uploads")).scalars().all()
    assert f"sukf_0380_{ROUND}_ÅÅMMDD-XXXX.csv" in names
    assert not any(contains_personnummer(name) for name in names)
    log = _log(engine)
    for what in ("rader", "kvalitetsresultat", "arkivfil", "aterkoppling"):
        assert {e["upload_id"] for e in log if e["what"] == what} == gone, what
    assert all(e["row_count"] for e in log if e["what"] in ("rader", "kvalitetsresultat"))
    assert all(
        e["byte_count"] for e in log if e["what"] in ("inkorgsfil", "arkivfil", "aterkoppling")
    )
    # the feedback on an upload out of force goes with its quality results; on one kept it stays
    reports = {
        int(path.stem.removeprefix("upload_")): path
        for path in (get_settings().output / "aterkoppling").rglob("upload_*.md")
    }
    assert kept <= set(reports) and not gone & set(reports)
    # 0126's gate run was its own: its Data Docs page and GX result went with it
    assert sorted(e["location"].split("/")[0] for e in log if e["what"] == "gx-resultat") == [
        "data_docs",
        "gx",
    ]
    assert any(e["what"] == "airflow-metadata" and e["location"] == "Airflow: dag_run" for e in log)
    assert landed["first_intake_run"] not in _airflow_runs("su_intake")
    assert _airflow_runs("su_intake") and retained.run_id in _airflow_runs("su_retention")
    for entry in log:
        assert not contains_personnummer(" ".join(str(value) for value in entry.values()))


@pytest.mark.slow
def test_a_second_run_removes_nothing_more(retained, warehouse_engine):
    before = _log(warehouse_engine)
    again = airflow_local.run_dag("su_retention")
    assert _log(warehouse_engine) == before
    for task_id in ("clear_inbox", "remove_expired", "clean_airflow_metadata"):
        assert again.results(task_id) == [{}]


@pytest.mark.slow
def test_the_published_round_is_rebuilt_byte_identically_from_what_is_kept(
    landed, retained, warehouse_engine, tmp_path, monkeypatch
):
    """The typed copies of the removed rows go at the next build; the marts made again from
    scratch out of what retention left, and the round published into an empty output: the same
    bytes as the publication before retention."""
    typed = "SELECT DISTINCT upload_id FROM staging.stg_raw__case_records"
    with warehouse_engine.connect() as conn:
        before = set(conn.execute(sa.text(typed)).scalars())
    transform.build(select=["stg_raw__case_records"], seeds=False)
    with warehouse_engine.connect() as conn:
        after = set(conn.execute(sa.text(typed)).scalars())
    assert before - after == {landed["originals"]["0580"], landed["blocked"]["0126"]}
    with warehouse_engine.begin() as conn:
        for schema in ("staging", "intermediate", "marts", "snapshots", "seeds"):
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.exec_driver_sql("TRUNCATE ops.dbt_builds, ops.dbt_tested_rounds")
    monkeypatch.setenv("SUKF_OUTPUT", str(tmp_path / "output"))
    assert pipeline.build_warehouse()
    again = pipeline.publish(ROUND)
    for key, files in landed["publication"].items():
        assert Path(again[key]).is_relative_to(tmp_path)
        assert _published(Path(again[key])) == files


# --- the policy, property-based ----------------------------------------------------------------

NOW = dt.datetime(2026, 12, 6, 3, 0, tzinfo=dt.UTC)
DECISION_ROUNDS = ("1998-06", "1998-12")  # rounds no other test stores decisions for
STATUSES = ("accepted", "landed", "superseded", "blocked")


def _insert_upload(conn, status, decided_at, archive_path, superseded_by=None) -> int:
    return conn.execute(
        sa.text(
            "INSERT INTO raw.uploads (file_name, sha256, kommun_kod, round_id, received_at,"
            " archive_path, status, decided_at, superseded_by)"
            " VALUES ('sukf_0580_2023-06.csv', md5(random()::text) || md5(random()::text),"
            " '0580', '2023-06', :at, :path, :status, :decided, :by) RETURNING upload_id"
        ),
        {
            "at": decided_at,
            "path": archive_path,
            "status": status,
            "decided": None if status == "landed" else decided_at,
            "by": superseded_by,
        },
    ).scalar_one()


def _insert_gate_run(conn, upload_id: int, page: Path) -> None:
    run_id = conn.execute(
        sa.text(
            "INSERT INTO quality.validation_runs (upload_id, suite_name, data_docs_path)"
            " VALUES (:u, 'su_kvinnofrid_upload', :page) RETURNING run_id"
        ),
        {"u": upload_id, "page": str(page)},
    ).scalar_one()
    conn.execute(
        sa.text(
            "INSERT INTO quality.expectation_results (run_id, rule_id, expectation_type,"
            " severity, success) VALUES (:r, 'structure.columns', 'x', 'block', true)"
        ),
        {"r": run_id},
    )
    conn.execute(
        sa.text(
            "INSERT INTO quality.row_findings (run_id, upload_id, source_row, rule_id, severity)"
            " VALUES (:r, :u, 2, 'v5.date', 'reject')"
        ),
        {"r": run_id, "u": upload_id},
    )


upload_strategy = st.fixed_dictionaries(
    {
        "status": st.sampled_from(STATUSES),
        "age": st.integers(0, 900),  # days out of force (or since decided, when in force)
        # a file sent before its round closed, registered blocked with the same archived file
        "early_twin": st.booleans(),
        "twin_age": st.integers(0, 900),
    }
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    uploads=st.lists(upload_strategy, min_size=1, max_size=6),
    periods=st.tuples(*[st.integers(1, 800)] * 5),
    # per round, the days since each of its stored disclosure decisions was decided
    decisions=st.tuples(*[st.lists(st.integers(0, 900), max_size=4)] * 2),
)
def test_exactly_the_parts_past_their_period_are_removed(
    warehouse_engine, uploads, periods, decisions
):
    engine = warehouse_engine
    wipe_warehouse(engine)
    policy = retention.RetentionPolicy(*periods)
    # ages as of NOW (the run's date below), stored as of the real now
    since_now = (dt.datetime.now(dt.UTC) - NOW) / dt.timedelta(days=1)
    decided = {
        round_id: store_round_decisions(
            engine,
            round_id,
            {
                f"{round_id}{number:02d}".ljust(64, "0"): age + since_now
                for number, age in enumerate(ages)
            },
        )
        for round_id, ages in zip(DECISION_ROUNDS, decisions, strict=True)
    }
    settings_ = get_settings()
    pages = settings_.output / "data_docs" / "validations" / "su_kvinnofrid_upload"
    results = settings_.output / "gx" / "validations" / "su_kvinnofrid_upload"
    made = []
    with engine.begin() as conn:
        for number, upload in enumerate(uploads):
            since = NOW - dt.timedelta(days=upload["age"])
            archived = settings_.archive / "0580" / ROUND / f"{number:016x}" / "sukf.csv"
            archived.parent.mkdir(parents=True)
            archived.write_bytes(b"x" * (number + 1))
            archived.chmod(0o444)
            if upload["status"] == "superseded":
                # replaced by a correction accepted `age` days ago, itself accepted earlier
                correction = _insert_upload(conn, "accepted", since, None)
                upload_id = _insert_upload(
                    conn, "superseded", since - dt.timedelta(days=30), str(archived), correction
                )
            else:
                upload_id = _insert_upload(conn, upload["status"], since, str(archived))
            conn.execute(
                sa.text(
                    "INSERT INTO raw.case_records (upload_id, source_row) VALUES (:u, 2), (:u, 3)"
                ),
                {"u": upload_id},
            )
            page = pages / f"run_{number}" / "20261206T000000Z" / "warehouse-gate_batch.html"
            result = results / page.relative_to(pages).with_suffix(".json")
            for file in (page, result):
                file.parent.mkdir(parents=True)
                file.write_text("{}", encoding="utf-8")
            _insert_gate_run(conn, upload_id, page)
            twin_since = NOW - dt.timedelta(days=upload["twin_age"])
            if upload["early_twin"]:
                _insert_upload(conn, "blocked", twin_since, str(archived))
            made.append((upload_id, upload, since, archived, page, result, twin_since))

    removed = retention.remove_expired(engine, policy, NOW)

    def past(since: dt.datetime, days: int) -> bool:
        return NOW - since > dt.timedelta(days=days)

    with engine.connect() as conn:
        with_rows = set(
            conn.execute(sa.text("SELECT DISTINCT upload_id FROM raw.case_records")).scalars()
        )
        gated = set(
            conn.execute(sa.text("SELECT upload_id FROM quality.validation_runs")).scalars()
        )
    for upload_id, upload, since, archived, page, result, twin_since in made:
        out_of_force = upload["status"] in ("superseded", "blocked")
        expired = {
            name: out_of_force and past(since, days)
            for name, days in zip(("archive", "rows", "quality"), periods[:3], strict=True)
        }
        assert (upload_id not in with_rows) == expired["rows"], upload
        assert (upload_id not in gated) == expired["quality"], upload
        assert page.exists() == result.exists() == (not expired["quality"]), upload
        shared = upload["early_twin"] and not past(twin_since, policy.archive_days)
        assert archived.exists() == (not expired["archive"] or shared), upload
    assert scalar(engine, "SELECT count(*) FROM raw.uploads") == sum(
        1 + (u["status"] == "superseded") + u["early_twin"] for u in uploads
    )
    # a decision goes past its period, unless it is its round's latest (ages are whole days)
    for round_id, ages in zip(DECISION_ROUNDS, decisions, strict=True):
        keys = decided[round_id]
        latest = max(range(len(ages)), key=lambda number: (-ages[number], keys[number]), default=0)
        kept = {
            key
            for number, key in enumerate(keys)
            if number == latest or ages[number] <= policy.disclosure_decisions_days
        }
        assert stored_keys(engine, round_id) == kept, (round_id, ages)
    logged = scalar(engine, "SELECT count(*) FROM ops.retention_log")
    assert logged == len(removed)
    assert retention.remove_expired(engine, policy, NOW) == []
    assert scalar(engine, "SELECT count(*) FROM ops.retention_log") == logged


# What intake registered of an inbox file: nothing yet, waiting for its round, blocked for a
# personnummer (never archived), blocked unarchived, landed with its archived copy, or landed
# with an archived copy that is not the same bytes.
VERDICTS = ("new", "round_open", "privacy", "unarchived", "archived", "archive_differs")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    files=st.lists(st.tuples(st.sampled_from(VERDICTS), st.booleans(), st.booleans()), max_size=8)
)
def test_exactly_the_decided_files_leave_the_inbox(warehouse_engine, files):
    """Each file (in the inbox or a kommun's folder, with or without a sidecar) leaves the inbox
    iff intake gave it a verdict and it is not the archive's only copy gone astray."""
    engine = warehouse_engine
    wipe_warehouse(engine)
    inbox, archive = get_settings().inbox, get_settings().archive
    expected_gone = set()
    with engine.begin() as conn:
        for number, (verdict, in_folder, with_sidecar) in enumerate(files):
            path = (inbox / "0580" if in_folder else inbox) / f"sukf_0580_2023-06_{number}.csv"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(f"fil {number}".encode())
            if with_sidecar:
                intake.sidecar_path(path).write_text("{}", encoding="utf-8")
            archived = archive / f"{number}.csv"
            archived.write_bytes(
                path.read_bytes() + (b" annan" if verdict == "archive_differs" else b"")
            )
            if verdict == "new":
                continue
            conn.execute(
                sa.text(
                    "INSERT INTO raw.uploads (file_name, sha256, kommun_kod, round_id,"
                    " archive_path, status, status_code) VALUES (:name, :sha, '0580',"
                    " '2023-06', :archived, :status, :code)"
                ),
                {
                    "name": path.name,
                    "sha": intake.sha256_of(path),
                    "archived": None if verdict in ("privacy", "unarchived") else str(archived),
                    "status": "landed" if "archive" in verdict else "blocked",
                    "code": verdict if verdict in ("privacy", "round_open") else None,
                },
            )
            if verdict in ("privacy", "unarchived", "archived"):
                expected_gone.add(path)
    before = set(intake.inbox_files())
    removed = retention.clear_inbox(engine)
    assert set(intake.inbox_files()) == before - expected_gone
    assert not any(intake.sidecar_path(path).exists() for path in expected_gone)
    assert sorted(r.location for r in removed) == sorted(
        f"inkorg/{path.relative_to(inbox)}" for path in expected_gone
    )
    assert retention.clear_inbox(engine) == []
    assert scalar(engine, "SELECT count(*) FROM ops.retention_log") == len(expected_gone)


def test_the_retention_periods_are_read_from_the_environment(monkeypatch):
    get_settings.cache_clear()
    try:
        monkeypatch.setenv("SUKF_RETAIN_ARCHIVE_DAYS", "1000")
        monkeypatch.setenv("SUKF_RETAIN_AIRFLOW_METADATA_DAYS", "30")
        policy = retention.RetentionPolicy.from_settings()
        assert (policy.archive_days, policy.airflow_metadata_days) == (1000, 30)
        monkeypatch.setenv("SUKF_RETAIN_REPLACED_ROWS_DAYS", "0")
        get_settings.cache_clear()
        with pytest.raises(ValueError, match="SUKF_RETAIN_REPLACED_ROWS_DAYS"):
            get_settings()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_airflow_db_clean_runs_in_a_task_process_without_airflows_metadata_db(
    warehouse_engine, monkeypatch
):
    """Under a scheduler (not `airflow dags test`), Airflow 3 gives every task process a
    metadata DB URL that refuses every use; `airflow db clean` then gets the DB from
    SUKF_AIRFLOW_DB_CONN (docker-compose.yml's retention worker), and says so without it."""
    env = airflow_local.airflow_environment()
    airflow_local.ensure_metadata_db(env)
    db = airflow_local.metadata_db(Path(env["AIRFLOW_HOME"]))
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("INSERT INTO log (dttm, event) VALUES ('2020-01-01 00:00:00', 'sukf-old')")
    for name in ("AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "SUKF_AIRFLOW_DB_CONN"):
        monkeypatch.setenv(name, env[name])
    # what airflow.sdk.execution_time.supervisor.block_orm_access sets in a task process
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "airflow-db-not-allowed:///")
    monkeypatch.setenv("AIRFLOW__CORE__SQL_ALCHEMY_CONN", "airflow-db-not-allowed:///")
    policy = retention.RetentionPolicy.from_settings()

    removed = retention.clean_airflow_metadata(warehouse_engine, policy)
    assert any(r.location == "Airflow: log" and r.row_count >= 1 for r in removed)
    with closing(sqlite3.connect(db)) as conn:
        assert not conn.execute("SELECT count(*) FROM log WHERE event = 'sukf-old'").fetchone()[0]

    monkeypatch.delenv("SUKF_AIRFLOW_DB_CONN")
    with pytest.raises(RuntimeError, match="SUKF_AIRFLOW_DB_CONN"):
        retention.clean_airflow_metadata(warehouse_engine, policy)
