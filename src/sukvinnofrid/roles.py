"""Separate Postgres roles per stage, created by the warehouse owner.

    ensure_roles()                  group roles and their grants (idempotent)
    ensure_roles(passwords=...)     also LOGIN users `<role>_login` for the roles given a password
    passwords_from_env()            {role: password} from SUKF_INTAKE_PASSWORD etc.
    login_url("sukf_publish")       the warehouse URL as sukf_publish_login (password from env)
    role_engine("sukf_publish")     admin connection with SET ROLE (tests, checks)

Group roles (NOLOGIN; privileges are granted to these, people and services log in as members):

| role             | may                                                                        |
| ---------------- | -------------------------------------------------------------------------- |
| `sukf_intake`    | INSERT/SELECT raw.uploads, INSERT only on raw.case_records (it never reads  |
|                  | a case back), the upload id sequence; SELECT/INSERT/DELETE raw.inbox_files  |
| `sukf_quality`   | SELECT raw.*, UPDATE of the decision columns of raw.uploads, everything in  |
|                  | schema quality (including its unlogged work tables); SELECT/INSERT          |
|                  | ops.notices (the feedback notices sent)                                     |
| `sukf_transform` | SELECT raw.* and quality.*, CREATE on the database (dbt creates and owns    |
|                  | staging, intermediate, marts, seeds, snapshots), read/write ops.dbt_builds, |
|                  | ops.dbt_tested_rounds and secrets.pseudonym_key (the key the staging hash   |
|                  | reads)                                                                      |
| `sukf_publish`   | SELECT on the marts tables; SELECT/INSERT/UPDATE ops.publication_approvals; |
|                  | SELECT/INSERT ops.disclosure_protections and ops.disclosure_decisions       |
| `sukf_retention` | SELECT raw.uploads, UPDATE of its archive_path; DELETE on raw.case_records  |
|                  | and the three quality tables, reading only their keys (upload_id, run_id,   |
|                  | and a run's started_at and Data Docs page); DELETE on ops.disclosure_*      |
|                  | (reading a key's round and date); INSERT/SELECT ops.retention_log           |

A login user `<role>_login` is a member of its group and has `role` set to the group at login,
so what it creates (dbt models, quality work tables) is owned by the group role and the default
privileges below apply whichever login ran the build.

Passwords are never stored in the repository: they are read from the environment
(SUKF_INTAKE_PASSWORD, SUKF_QUALITY_PASSWORD, SUKF_TRANSFORM_PASSWORD, SUKF_PUBLISH_PASSWORD,
SUKF_RETENTION_PASSWORD),
hashed on the client (SCRAM, `psycopg2.extensions.encrypt_password`) so the plain text is never
sent in a statement, and never logged or returned.
"""

from __future__ import annotations

import logging
import os

import sqlalchemy as sa
from psycopg2 import sql
from psycopg2.extensions import encrypt_password
from sqlalchemy.engine import URL, Engine

log = logging.getLogger(__name__)

INTAKE = "sukf_intake"
QUALITY = "sukf_quality"
TRANSFORM = "sukf_transform"
PUBLISH = "sukf_publish"
RETENTION = "sukf_retention"
GROUP_ROLES = (INTAKE, QUALITY, TRANSFORM, PUBLISH, RETENTION)

# The environment variable holding each login user's password (never a file in the repo).
PASSWORD_ENV = {
    INTAKE: "SUKF_INTAKE_PASSWORD",
    QUALITY: "SUKF_QUALITY_PASSWORD",
    TRANSFORM: "SUKF_TRANSFORM_PASSWORD",
    PUBLISH: "SUKF_PUBLISH_PASSWORD",
    RETENTION: "SUKF_RETENTION_PASSWORD",
}

# Schemas built by dbt (dbt_project.yml); owned by sukf_transform.
DBT_SCHEMAS = ("staging", "intermediate", "marts", "seeds", "snapshots")
# Schemas created by warehouse.ensure_schema and owned by the warehouse owner.
OWNER_SCHEMAS = ("raw", "quality", "ops", "secrets")
# Columns of raw.uploads the quality gate decides.
UPLOAD_DECISION_COLUMNS = ("status", "status_reason", "decided_at", "superseded_by")
# The column of raw.uploads retention clears when it removes the archived original.
UPLOAD_RETENTION_COLUMNS = ("archive_path",)
# What retention reads of the tables it deletes from: the keys its deletes select by, never a
# case or a finding.
RETENTION_READS = {
    "raw.case_records": ("upload_id",),
    "quality.validation_runs": ("run_id", "upload_id", "started_at", "data_docs_path"),
    "quality.expectation_results": ("run_id",),
    "quality.row_findings": ("run_id",),
    "ops.disclosure_protections": ("decision_key", "round_id", "decided_at"),
    "ops.disclosure_decisions": ("decision_key",),
}

_LOCK_KEY = 74658  # warehouse.ensure_schema uses 74657


def login_name(role: str) -> str:
    """The LOGIN user of a group role, e.g. sukf_intake_login."""
    _check_role(role)
    return f"{role}_login"


def passwords_from_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """{group role: password} for every SUKF_<STAGE>_PASSWORD that is set and not empty."""
    environ = os.environ if environ is None else environ
    return {role: environ[var] for role, var in PASSWORD_ENV.items() if environ.get(var)}


def _check_role(role: str) -> None:
    if role not in GROUP_ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(GROUP_ROLES)}")


def ensure_roles(
    engine: Engine | None = None, passwords: dict[str, str] | None = None
) -> list[str]:
    """Create or update the group roles, their grants and (with passwords) their login users.

    Run as the warehouse owner (the admin connection of `warehouse.engine()`); idempotent, and
    re-running it converges the grants of raw/quality/ops to exactly the ones listed here (run it
    again after `warehouse.ensure_schema` added tables). Creates the dbt schemas owned by
    sukf_transform when missing, and hands existing ones (with their relations and functions)
    to sukf_transform. Returns the names of the roles created or updated, never a password.
    """
    from . import warehouse

    eng = engine or warehouse.engine()
    passwords = dict(passwords or {})
    for role in passwords:
        _check_role(role)
    warehouse.ensure_schema(eng)

    touched: list[str] = []
    with eng.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        dbapi = conn.connection.dbapi_connection
        cur = conn.connection.cursor()

        def run(statement, params=None):
            cur.execute(statement, params)

        superuser = conn.execute(
            sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        ).scalar()

        for role in GROUP_ROLES:
            _create_role(run, role, login=False)
            touched.append(role)
        if not superuser:
            # A non-superuser owner (CREATEROLE) must be a member of the role that will own the
            # dbt schemas to hand them over and to set its default privileges.
            run(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(TRANSFORM)))

        db = sql.Identifier(dbapi.info.dbname)
        # Nobody but the owner creates in public (already the default from Postgres 15 on).
        run(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        for role in GROUP_ROLES:
            _revoke_owner_schemas(run, role)
            run(sql.SQL("REVOKE CREATE ON DATABASE {} FROM {}").format(db, sql.Identifier(role)))
            run(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, sql.Identifier(role)))

        # dbt schemas: exist (so grants and default privileges can name them), owned by transform.
        for schema in DBT_SCHEMAS:
            run(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
                    sql.Identifier(schema), sql.Identifier(TRANSFORM)
                )
            )
            run(
                sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(
                    sql.Identifier(schema), sql.Identifier(TRANSFORM)
                )
            )
        _hand_over_dbt_objects(run)

        _grant_intake(run)
        _grant_quality(run)
        _grant_transform(run, db)
        _grant_publish(run)
        _grant_retention(run)

        for role in (r for r in GROUP_ROLES if r in passwords):
            login, password = login_name(role), passwords[role]
            _create_role(run, login, login=True)
            run(sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(login)))
            # Objects a login user creates belong to its group role.
            run(
                sql.SQL("ALTER ROLE {} SET role = {}").format(
                    sql.Identifier(login), sql.Literal(role)
                )
            )
            verifier = encrypt_password(password, login, dbapi)
            run(
                sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                    sql.Identifier(login), sql.Literal(verifier)
                )
            )
            touched.append(login)
    log.info("warehouse roles ensured: %s", ", ".join(touched))
    return touched


def _create_role(run, name: str, login: bool) -> None:
    """CREATE ROLE unless it exists (DO block: no duplicate_object error on a second run)."""
    options = "LOGIN" if login else "NOLOGIN"
    literal = name.replace("'", "''")
    ident = '"' + name.replace('"', '""') + '"'
    run(
        sql.SQL(
            "DO $roles$ BEGIN "
            f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{literal}') THEN "
            f"CREATE ROLE {ident} {options} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            "NOBYPASSRLS; "
            "END IF; END $roles$"
        )
    )
    run(
        sql.SQL(
            "ALTER ROLE {} WITH " + options + " NOSUPERUSER NOCREATEDB NOCREATEROLE"
            " NOREPLICATION NOBYPASSRLS"
        ).format(sql.Identifier(name))
    )


def _revoke_owner_schemas(run, role: str) -> None:
    """Start every stage from nothing in raw, quality and ops, so re-runs converge."""
    r = sql.Identifier(role)
    for schema in OWNER_SCHEMAS:
        s = sql.Identifier(schema)
        run(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(s, r))
        run(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(s, r))
        run(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(s, r))
        run(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} REVOKE ALL ON TABLES FROM {}").format(
                s, r
            )
        )
        run(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} REVOKE ALL ON SEQUENCES FROM {}").format(
                s, r
            )
        )
    # Column privileges are not covered by REVOKE ALL ON ALL TABLES.
    run(
        sql.SQL("REVOKE UPDATE ({}) ON raw.uploads FROM {}").format(
            sql.SQL(", ").join(
                map(sql.Identifier, UPLOAD_DECISION_COLUMNS + UPLOAD_RETENTION_COLUMNS)
            ),
            r,
        )
    )
    for table, columns in RETENTION_READS.items():
        run(
            sql.SQL("REVOKE SELECT ({}) ON {} FROM {}").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)), sql.SQL(table), r
            )
        )


def _hand_over_dbt_objects(run) -> None:
    """Relations and functions already in the dbt schemas (e.g. built by the owner before the
    roles existed) become sukf_transform's, so dbt running as that role can replace them."""
    run(
        sql.SQL(
            "DO $own$ DECLARE obj record; BEGIN "
            "FOR obj IN SELECT c.relkind, quote_ident(n.nspname) || '.' || quote_ident(c.relname) "
            "AS name "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY({schemas}) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
            "AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = {owner}) LOOP "
            "EXECUTE format('ALTER %s %s OWNER TO %I', CASE obj.relkind WHEN 'v' THEN 'VIEW' "
            "WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, "
            "obj.name, {owner}); "
            "END LOOP; "
            "FOR obj IN SELECT p.oid::regprocedure::text AS name, p.prokind FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY({schemas}) "
            "AND p.prokind IN ('f', 'p') "
            "AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = {owner}) LOOP "
            "EXECUTE format('ALTER ROUTINE %s OWNER TO %I', obj.name, {owner}); "
            "END LOOP; END $own$"
        ).format(
            schemas=sql.SQL("ARRAY[{}]::name[]").format(
                sql.SQL(", ").join(sql.Literal(s) for s in DBT_SCHEMAS)
            ),
            owner=sql.Literal(TRANSFORM),
        )
    )


def _grant_intake(run) -> None:
    r = sql.Identifier(INTAKE)
    run(sql.SQL("GRANT USAGE ON SCHEMA raw TO {}").format(r))
    # the registry is read for duplicates; the cases are written and never read back
    run(sql.SQL("GRANT SELECT, INSERT ON raw.uploads TO {}").format(r))
    run(sql.SQL("GRANT INSERT ON raw.case_records TO {}").format(r))
    run(sql.SQL("REVOKE SELECT, UPDATE, DELETE ON raw.case_records FROM {}").format(r))
    run(sql.SQL("GRANT USAGE, SELECT ON SEQUENCE raw.uploads_upload_id_seq TO {}").format(r))
    # its memory of the inbox's files (no case data): read, added to, pruned
    run(sql.SQL("GRANT SELECT, INSERT, DELETE ON raw.inbox_files TO {}").format(r))


def _grant_quality(run) -> None:
    r = sql.Identifier(QUALITY)
    run(sql.SQL("GRANT USAGE ON SCHEMA raw TO {}").format(r))
    run(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA raw TO {}").format(r))
    run(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA raw GRANT SELECT ON TABLES TO {}").format(r))
    run(
        sql.SQL("GRANT UPDATE ({}) ON raw.uploads TO {}").format(
            sql.SQL(", ").join(map(sql.Identifier, UPLOAD_DECISION_COLUMNS)), r
        )
    )
    # USAGE for the unlogged work tables quality.gate_batch_<id> and the gate's results.
    run(sql.SQL("GRANT USAGE, CREATE ON SCHEMA quality TO {}").format(r))
    run(sql.SQL("GRANT ALL ON ALL TABLES IN SCHEMA quality TO {}").format(r))
    run(sql.SQL("GRANT ALL ON ALL SEQUENCES IN SCHEMA quality TO {}").format(r))
    run(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA quality GRANT ALL ON TABLES TO {}").format(r))
    run(
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA quality GRANT ALL ON SEQUENCES TO {}").format(r)
    )
    # the feedback notices su_feedback sent, so a retry sends only the rest
    run(sql.SQL("GRANT USAGE ON SCHEMA ops TO {}").format(r))
    run(sql.SQL("GRANT SELECT, INSERT ON ops.notices TO {}").format(r))


def _grant_transform(run, db) -> None:
    r = sql.Identifier(TRANSFORM)
    for schema in ("raw", "quality"):
        s = sql.Identifier(schema)
        run(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r))
        run(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, r))
        run(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                s, r
            )
        )
    run(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(db, r))
    run(sql.SQL("GRANT USAGE ON SCHEMA ops TO {}").format(r))
    run(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ops.dbt_builds TO {}").format(r))
    run(sql.SQL("GRANT SELECT, INSERT, DELETE ON ops.dbt_tested_rounds TO {}").format(r))
    # The pseudonymisation key: the transform stage stores it (transform.store_pseudonym_key)
    # and dbt's staging hash reads it; no other stage may.
    run(sql.SQL("GRANT USAGE ON SCHEMA secrets TO {}").format(r))
    run(sql.SQL("GRANT SELECT, INSERT, DELETE ON secrets.pseudonym_key TO {}").format(r))


def _grant_publish(run) -> None:
    r = sql.Identifier(PUBLISH)
    run(sql.SQL("GRANT USAGE ON SCHEMA marts TO {}").format(r))
    run(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA marts TO {}").format(r))
    # Tables dbt creates later: as sukf_transform (its logins run with role = sukf_transform),
    # and as the owner for builds still run on the admin connection.
    run(
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA marts GRANT SELECT ON TABLES TO {}"
        ).format(sql.Identifier(TRANSFORM), r)
    )
    run(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA marts GRANT SELECT ON TABLES TO {}").format(r))
    # the approvals su_round records and publishes by
    run(sql.SQL("GRANT USAGE ON SCHEMA ops TO {}").format(r))
    run(sql.SQL("GRANT SELECT, INSERT, UPDATE ON ops.publication_approvals TO {}").format(r))
    # the protection decided once and audited, which every publication of its key formats
    for table in ("ops.disclosure_protections", "ops.disclosure_decisions"):
        run(sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(sql.SQL(table), r))


def _grant_retention(run) -> None:
    r = sql.Identifier(RETENTION)
    for schema in ("raw", "quality", "ops"):
        run(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), r))
    # the registry stays (with its status) when an upload's rows, results and original go
    run(sql.SQL("GRANT SELECT ON raw.uploads TO {}").format(r))
    run(
        sql.SQL("GRANT UPDATE ({}) ON raw.uploads TO {}").format(
            sql.SQL(", ").join(map(sql.Identifier, UPLOAD_RETENTION_COLUMNS)), r
        )
    )
    for table, columns in RETENTION_READS.items():
        run(
            sql.SQL("GRANT SELECT ({}), DELETE ON {} TO {}").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)), sql.SQL(table), r
            )
        )
    run(sql.SQL("GRANT SELECT, INSERT ON ops.retention_log TO {}").format(r))
    run(sql.SQL("GRANT USAGE ON SEQUENCE ops.retention_log_entry_id_seq TO {}").format(r))


def login_url(role: str, environ: dict[str, str] | None = None) -> URL:
    """The warehouse URL (SUKF_WAREHOUSE_URL's host, port and database) as the stage's login
    user, with the password from the stage's SUKF_<STAGE>_PASSWORD when set. Render it with
    `render_as_string(hide_password=False)` only where a driver needs the string."""
    from . import warehouse

    environ = os.environ if environ is None else environ
    base = warehouse.warehouse_url()
    # URL.create, not URL.set: set() ignores None and would keep the owner's password.
    return URL.create(
        base.drivername,
        username=login_name(role),
        password=environ.get(PASSWORD_ENV[role]) or None,
        host=base.host,
        port=base.port,
        database=base.database,
        query=base.query,
    )


def role_engine(role: str, url=None) -> Engine:
    """An engine on the warehouse admin connection that runs `SET ROLE <role>` on every new
    connection: each stage's privileges can be checked on the embedded server without
    passwords. For tests and diagnostics, not for production (a session may RESET ROLE)."""
    from . import warehouse

    _check_role(role)
    eng = sa.create_engine(url or warehouse.warehouse_url(), pool_pre_ping=True, future=True)
    statement = sql.SQL("SET ROLE {}").format(sql.Identifier(role))

    @sa.event.listens_for(eng, "connect")
    def _set_role(dbapi_connection, connection_record):
        with dbapi_connection.cursor() as cur:
            cur.execute(statement)
        # Committed, so a later rollback does not undo the SET ROLE.
        dbapi_connection.commit()

    return eng
