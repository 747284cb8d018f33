"""Shared fixtures: one embedded Postgres for the whole session, wiped between tests."""

from __future__ import annotations

import atexit
import csv
import io
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

# Settings are read once per process: point them at throwaway locations before any import.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="sukf-test-"))


def _remove_session_dir() -> None:
    """The session's warehouse, inbox, archive and output (about 150 MB) go when the process
    ends; tests make some of their files and folders read-only."""

    def writable_then_retry(function, path, _):
        try:
            os.chmod(os.path.dirname(path), stat.S_IRWXU)
            os.chmod(path, stat.S_IRWXU)
            function(path)
        except OSError:
            pass  # gone already, or never ours to remove

    shutil.rmtree(_SESSION_DIR, onerror=writable_then_retry)


atexit.register(_remove_session_dir)

# A pytest-xdist worker (scripts/test.sh) inherits the controller's environment, so the places
# of its own session are set, not defaulted; the same for dbt's target inside the project,
# where dbt writes its manifest and partial parse.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
_session_place = os.environ.__setitem__ if _WORKER else os.environ.setdefault
_session_place("SUKF_PGDATA", str(_SESSION_DIR / "pgdata"))
os.environ["SUKF_INBOX"] = str(_SESSION_DIR / "inbox")
os.environ["SUKF_ARCHIVE"] = str(_SESSION_DIR / "archive")
os.environ["SUKF_OUTPUT"] = str(_SESSION_DIR / "output")
# the kommuner's download folders: not the project's var/, which every worker would share
os.environ["SUKF_FEEDBACK_DOWNLOAD"] = str(_SESSION_DIR / "download")
os.environ.setdefault("SUKF_PSEUDONYM_KEY", "test-key-not-a-secret")
if _WORKER:
    os.environ["DBT_TARGET_PATH"] = f"target-{_WORKER}"
# The shipped population seeds are approximations: tests publish with them, marked preliminary.
os.environ.setdefault("SUKF_ALLOW_APPROXIMATE_POPULATION", "1")

import sqlalchemy as sa  # noqa: E402

from sukvinnofrid import warehouse  # noqa: E402
from sukvinnofrid.catalogue import load_catalogue  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]


# The modules that read report_round(), in the order they run, one after another on one xdist
# worker (scripts/test.sh): the round is built once for them all, not once per module. Approval
# last: it lands the next round, which the others' round must not have.
REPORT_ROUND_MODULES = (
    "test_report.py",
    "test_browser.py",
    "test_audit.py",
    "test_backup.py",
    "test_report_approval.py",
)


def _group(module: str) -> str:
    """A module's (its name or path) unit of work: "report_round" for the modules that share
    that round, else the module itself."""
    return "report_round" if Path(module).name in REPORT_ROUND_MODULES else module


def pytest_collection_modifyitems(items) -> None:
    """The modules in the order the workers take them (xdist hands out the modules of a
    collection in its order with --no-loadscope-reorder): the report_round() modules together,
    and the groups with a slow test first, the larger first, so that no slow module is left for
    the end while the other worker idles."""
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        groups.setdefault(_group(item.path.name), []).append(item)
    if "report_round" in groups:
        groups["report_round"].sort(key=lambda item: REPORT_ROUND_MODULES.index(item.path.name))

    def cost(group: list[pytest.Item]) -> tuple[bool, int]:
        return not any(item.get_closest_marker("slow") for item in group), -len(group)

    items[:] = [item for group in sorted(groups.values(), key=cost) for item in group]


@pytest.hookimpl(optionalhook=True)  # xdist's hook: pytest runs without xdist too (-p no:xdist)
def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile, but the report_round() modules are one unit: xdist gives a unit's tests
    to one worker, so a module's fixtures serve all its tests and report_round() is built once.
    (xdist's own grouping, --dist loadgroup, names a test's group in its node id, which pytest 9
    no longer lets a plugin change.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ModuleGroups(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(super()._split_scope(nodeid))

    return ModuleGroups(config, log)


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """dbt_project/ with the fixture reference seeds (tests/fixtures/dbt/reference) in place of
    the real ones."""
    copy = tmp_path / "dbt_project"
    shutil.copytree(
        PROJECT_ROOT / "dbt_project",
        copy,
        ignore=shutil.ignore_patterns("target*", "logs", "dbt_packages"),
    )
    reference = copy / "seeds" / "reference"
    shutil.rmtree(reference, ignore_errors=True)
    shutil.copytree(PROJECT_ROOT / "tests" / "fixtures" / "dbt" / "reference", reference)
    return copy


@pytest.fixture(scope="session")
def warehouse_engine():
    warehouse.ensure_schema()
    yield warehouse.engine()
    warehouse.engine().dispose()
    if "SUKF_WAREHOUSE_URL" not in os.environ:
        warehouse.stop_embedded()


@pytest.fixture
def clean_warehouse(warehouse_engine):
    """An empty warehouse: raw and quality tables truncated, dbt-built schemas dropped."""
    wipe_warehouse(warehouse_engine)
    return warehouse_engine


def wipe_warehouse(engine) -> None:
    with engine.begin() as conn:
        for schema in ("staging", "intermediate", "marts", "snapshots", "seeds", "kolada"):
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.exec_driver_sql(
            "TRUNCATE ops.dbt_builds, ops.dbt_tested_rounds, ops.retention_log,"
            " ops.publication_approvals, ops.notices,"
            " quality.row_findings, quality.expectation_results, quality.validation_runs,"
            " raw.case_records, raw.inbox_files,"
            " raw.uploads RESTART IDENTITY CASCADE"
        )
    for var in ("SUKF_INBOX", "SUKF_ARCHIVE", "SUKF_OUTPUT"):
        path = Path(os.environ[var])
        if path.exists():
            for child in path.rglob("*"):
                child.chmod(0o700 if child.is_dir() else 0o600)
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)


def csv_bytes(rows, *, delimiter=";", encoding="utf-8", columns=None) -> bytes:
    """An upload in CSV: the catalogue header (or `columns`) and one line per row dict."""
    columns = columns or load_catalogue().column_names
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return buffer.getvalue().encode(encoding)


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


_session_place("SUKF_AIRFLOW_HOME", str(_SESSION_DIR / "airflow"))


def land_generated(folder: Path, cases: dict[str, int], round_id: str, seed: int) -> list[dict]:
    """Generated files of the units (`cases`: unit -> cases since 2023) for the round, written
    to `folder`, copied into the inbox and landed (their intake results)."""
    import datetime as dt

    from sukvinnofrid import pipeline
    from sukvinnofrid.synthetic import generate_round_files

    generate_round_files(
        folder,
        list(cases),
        [round_id],
        cases_per_kommun=cases,
        seed=seed,
        since=dt.date(2023, 1, 1),
    )
    inbox = Path(os.environ["SUKF_INBOX"])
    for path in folder.iterdir():
        shutil.copyfile(path, inbox / path.name)
    return pipeline.land_new_files()


def store_round_decisions(engine, round_id: str, ages: dict[str, float]) -> list[str]:
    """Disclosure decisions of the round stored as the publication stores them, one per key
    (`ages`: key -> days since it was decided, as of now), each withholding one funnel cell."""
    from sukvinnofrid.disclosure import Protection
    from sukvinnofrid.statistics import store_decisions

    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "DELETE FROM ops.disclosure_decisions WHERE decision_key IN (SELECT decision_key"
                " FROM ops.disclosure_protections WHERE round_id = :r)"
            ),
            {"r": round_id},
        )
        conn.execute(
            sa.text("DELETE FROM ops.disclosure_protections WHERE round_id = :r"), {"r": round_id}
        )
    cell = Protection(withheld={("kommun", "0580", "T", "med_insats"): ("primär", "")}, notes=())
    for key, days in ages.items():
        store_decisions(engine, key, round_id, cell, Protection(withheld={}, notes=()))
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE ops.disclosure_protections SET decided_at = now()"
                    " - make_interval(secs => :secs) WHERE decision_key = :k"
                ),
                {"k": key, "secs": days * 86400},
            )
    return list(ages)


def stored_keys(engine, round_id: str) -> set[str]:
    """The keys of the round's stored disclosure decisions that still have their cells."""
    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.text(
                    "SELECT p.decision_key FROM ops.disclosure_protections p WHERE round_id = :r"
                    " AND EXISTS (SELECT FROM ops.disclosure_decisions d"
                    " WHERE d.decision_key = p.decision_key)"
                ),
                {"r": round_id},
            ).scalars()
        )
