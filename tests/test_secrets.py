"""The pseudonymisation key stays in the warehouse: no file dbt writes, no log line, no Airflow
task log holds it, and the pseudonyms are still sha256(key || '|' || btrim(value))."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import PROJECT_ROOT
from sukvinnofrid import airflow_local, pipeline, transform
from sukvinnofrid.config import get_settings
from sukvinnofrid.synthetic import generate_round_files

ROUND = "2023-12"


def _probe_key(label: str) -> str:
    """A key no earlier run can have written anywhere, with quotes and a non-ASCII letter so
    escaping and encoding are exercised too; it ends in 32 random hex digits (see _secret_part)."""
    return f"probe-{label}-'å\"-{secrets.token_hex(16)}"


def _secret_part(key: str) -> str:
    """The random tail of a probe key: found however a file escapes the quotes or the å."""
    return key.rsplit("-", 1)[1]


def _leaks(roots: list[Path], keys: list[str]) -> list[str]:
    """Every file under `roots` (recursively) holding one of the keys, as 'path: key'."""
    needles = {key: _secret_part(key).encode() for key in keys}
    found = []
    for root in roots:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in paths:
            content = path.read_bytes()
            found += [f"{path}: {key}" for key, needle in needles.items() if needle in content]
    return found


def _in_text(text: str, keys: list[str]) -> list[str]:
    return [key for key in keys if _secret_part(key) in text]


def _expected_pseudonyms(engine, key: str) -> tuple[list, list]:
    """(staged pseudonyms, the same computed in Python from raw) in one row order."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT s.klient_pseudonym, s.handlaggare_pseudonym, r.v4_klient, r.v3_handlaggare"
                " FROM staging.stg_raw__case_records s JOIN raw.case_records r USING (upload_id, "
                "source_row)"
                " ORDER BY upload_id, source_row"
            )
        ).all()

    def keyed(value: str | None) -> str | None:
        value = (value or "").strip(" ")  # btrim trims spaces only
        return hashlib.sha256(f"{key}|{value}".encode()).hexdigest() if value else None

    staged = [(row.klient_pseudonym, row.handlaggare_pseudonym) for row in rows]
    computed = [(keyed(row.v4_klient), keyed(row.v3_handlaggare)) for row in rows]
    return staged, computed


@pytest.fixture
def landed_round(clean_warehouse):
    """Two synthetic uploads landed and gated: what dbt builds from."""
    generate_round_files(
        Path(os.environ["SUKF_INBOX"]), ["0580", "2380"], [ROUND], cases_per_kommun=25, seed=11
    )
    pipeline.land_new_files()
    assert [r["outcome"] for r in pipeline.quality_gate()] == ["accepted", "accepted"]
    return clean_warehouse


def test_no_file_dbt_writes_and_no_log_line_holds_the_key(
    landed_round, tmp_path, monkeypatch, caplog, capfd
):
    project = tmp_path / "dbt_project"
    shutil.copytree(
        PROJECT_ROOT / "dbt_project",
        project,
        ignore=shutil.ignore_patterns("target*", "logs", "dbt_packages"),
    )
    monkeypatch.chdir(
        tmp_path
    )  # anything dbt writes relative to the working directory is checked too
    first, rotated = _probe_key("first"), _probe_key("rotated")
    monkeypatch.setenv(transform.PSEUDONYM_KEY_ENV, first)

    with caplog.at_level(logging.DEBUG):
        transform.build(project_dir=project)  # a full parse
        staged, computed = _expected_pseudonyms(landed_round, first)
        assert staged == computed and len(staged) == 50 and all(all(pair) for pair in staged)

        # A rotated key: partial parse, full refresh, every pseudonym follows the new key.
        monkeypatch.setenv(transform.PSEUDONYM_KEY_ENV, rotated)
        transform.build(project_dir=project, full_refresh=True)
        staged_again, computed_again = _expected_pseudonyms(landed_round, rotated)
        assert staged_again == computed_again and set(staged_again).isdisjoint(staged)
        transform.docs_generate(project_dir=project)

    written = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    target = transform.target_dir(project).relative_to(project).as_posix()
    # The files that held the key before it moved to the warehouse are there to be checked.
    assert {"logs/dbt.log"} | {
        f"{target}/{name}"
        for name in (
            "manifest.json",
            "run_results.json",
            "partial_parse.msgpack",
            "catalog.json",
            "compiled/sukvinnofrid/models/staging/stg_raw__case_records.sql",
            "run/sukvinnofrid/models/staging/stg_raw__case_records.sql",
        )
    } <= written
    compiled = (
        transform.target_dir(project)
        / "compiled/sukvinnofrid/models/staging/stg_raw__case_records.sql"
    )
    assert "secrets.pseudonym_key" in compiled.read_text(encoding="utf-8")

    checked = [tmp_path]  # the project copy (target/, logs/, partial parse) and the cwd
    server_log = get_settings().embedded_pgdata / "log"
    if not get_settings().warehouse_url and server_log.exists():
        checked.append(server_log)
    assert _leaks(checked, [first, rotated]) == []
    output = capfd.readouterr()
    for text in (caplog.text, output.out, output.err):
        assert _in_text(text, [first, rotated]) == []
    assert "dbt build" in caplog.text  # the log was captured, not empty


def test_the_key_is_stored_once_and_replaced_when_it_changes(clean_warehouse, monkeypatch):
    def stored() -> list[str]:
        with clean_warehouse.connect() as conn:
            return list(conn.execute(sa.text("SELECT key FROM secrets.pseudonym_key")).scalars())

    # keys that would break a quoted SQL literal or a COPY line if they were not escaped
    for key in [
        "plain",
        "o'neil",
        'say "hi"',
        "tab\there",
        "two\nlines",
        "back\\slash",
        "åäö €",
        "a,b;c|d",
        " spaced ",
    ]:
        monkeypatch.setenv(transform.PSEUDONYM_KEY_ENV, key)
        assert transform.store_pseudonym_key(clean_warehouse) is True
        assert stored() == [key]
        assert transform.store_pseudonym_key(clean_warehouse) is False  # unchanged: not rewritten


def test_dbt_stops_with_a_clear_message_when_the_key_table_is_missing(clean_warehouse, monkeypatch):
    with clean_warehouse.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE secrets.pseudonym_key RENAME TO pseudonym_key_moved")
    try:
        with pytest.raises(transform.DbtError, match="sukvinnofrid warehouse init"):
            transform.run_dbt(["debug"])
    finally:
        with clean_warehouse.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE secrets.pseudonym_key_moved RENAME TO pseudonym_key")


@pytest.mark.slow
def test_the_key_is_in_no_airflow_task_log(clean_warehouse, monkeypatch):
    """The real DAGs under Airflow: neither the task output nor Airflow's log folder nor the dbt
    project's target/ and logs/ hold the key the round was pseudonymised with."""
    key = _probe_key("airflow")
    monkeypatch.setenv(transform.PSEUDONYM_KEY_ENV, key)
    generate_round_files(
        Path(os.environ["SUKF_INBOX"]), ["0580"], [ROUND], cases_per_kommun=20, seed=12
    )
    output = airflow_local.test_dag("su_intake") + airflow_local.test_dag(
        "su_round", {"round_id": ROUND}
    )
    staged, computed = _expected_pseudonyms(clean_warehouse, key)
    assert staged == computed and len(staged) == 20  # the round was built with this key
    assert _in_text(output, [key]) == []
    airflow_home = Path(airflow_local.airflow_environment()["AIRFLOW_HOME"])
    project = get_settings().dbt_project_dir
    assert _leaks([airflow_home, transform.target_dir(project), project / "logs"], [key]) == []
