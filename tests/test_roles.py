"""Stage roles: intake writes only raw, the quality gate decides, dbt owns the models, publication
reads only marts. Checked on the embedded server through SET ROLE (roles.role_engine)."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path

import psycopg2.errors
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import ProgrammingError

from conftest import scalar, store_round_decisions, stored_keys
from sukvinnofrid import roles, warehouse
from sukvinnofrid.quality.gate import run_quality_gate

LOGINS = tuple(roles.login_name(role) for role in roles.GROUP_ROLES)


def _drop_roles(engine) -> None:
    with engine.begin() as conn:
        existing = set(
            conn.execute(
                sa.text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:names)"),
                {"names": [*LOGINS, *roles.GROUP_ROLES]},
            ).scalars()
        )
        for name in (*LOGINS, *roles.GROUP_ROLES):
            if name in existing:
                conn.exec_driver_sql(f'DROP OWNED BY "{name}" CASCADE')
                conn.exec_driver_sql(f'DROP ROLE "{name}"')


@pytest.fixture
def roled(clean_warehouse):
    """The clean warehouse with the stage roles and a small marts table; roles dropped after."""
    _drop_roles(clean_warehouse)
    engines: dict[str, sa.Engine] = {}
    with clean_warehouse.begin() as conn:  # as dbt would have built it (before the roles)
        conn.exec_driver_sql("CREATE SCHEMA marts")
        conn.exec_driver_sql(
            "CREATE TABLE marts.fct_kolada_key_figures (kpi text, kommun_kod text, value numeric)"
        )
        conn.exec_driver_sql("INSERT INTO marts.fct_kolada_key_figures VALUES ('U1', '0180', 3)")
    roles.ensure_roles(clean_warehouse)

    def as_role(role: str) -> sa.Engine:
        if role not in engines:
            engines[role] = roles.role_engine(role)
        return engines[role]

    yield as_role
    for eng in engines.values():
        eng.dispose()
    _drop_roles(clean_warehouse)
    with clean_warehouse.begin() as conn:
        for schema in roles.DBT_SCHEMAS:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@contextmanager
def denied():
    """The statement fails with a real permission error (not e.g. a missing table)."""
    with pytest.raises(ProgrammingError) as info:
        yield
    assert isinstance(info.value.orig, psycopg2.errors.InsufficientPrivilege), info.value.orig


def run(engine, statement: str, **params):
    with engine.begin() as conn:
        result = conn.execute(sa.text(statement), params)
        return result.all() if result.returns_rows else result.rowcount


def new_upload(engine, sha: str = "a" * 64) -> int:
    with engine.begin() as conn:
        upload_id = conn.execute(
            sa.text(
                "INSERT INTO raw.uploads (file_name, sha256, kommun_kod, round_id, row_count, "
                "status)"
                " VALUES ('sukf_0180_2023-06.csv', :s, '0180', '2023-06', 1, 'landed')"
                " RETURNING upload_id"
            ),
            {"s": sha},
        ).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO raw.case_records (upload_id, source_row, v2_kommun) VALUES (:u, "
                "2, '0180')"
            ),
            {"u": upload_id},
        )
    return upload_id


# --- intake ------------------------------------------------------------------------------------


def test_intake_inserts_raw_rows_and_uses_the_upload_sequence(roled, clean_warehouse):
    intake = roled(roles.INTAKE)
    upload_id = new_upload(intake)
    assert run(intake, "SELECT nextval('raw.uploads_upload_id_seq')")[0][0] > upload_id
    assert scalar(clean_warehouse, "SELECT count(*) FROM raw.case_records") == 1


def test_intake_cannot_read_the_cases_it_wrote(roled):
    """Insert-only, as the README says: a stolen intake login reads no case."""
    intake = roled(roles.INTAKE)
    new_upload(intake)
    with denied():
        run(intake, "SELECT count(*) FROM raw.case_records")


def test_intake_cannot_change_or_delete_raw_rows(roled):
    intake = roled(roles.INTAKE)
    upload_id = new_upload(intake)
    with denied():
        run(intake, "UPDATE raw.uploads SET status = 'accepted' WHERE upload_id = :u", u=upload_id)
    with denied():
        run(intake, "DELETE FROM raw.uploads WHERE upload_id = :u", u=upload_id)
    with denied():
        run(intake, "DELETE FROM raw.case_records")
    with denied():
        run(intake, "TRUNCATE raw.case_records")


def test_intake_keeps_its_memory_of_the_inbox_as_its_role(roled, clean_warehouse, tmp_path):
    """The poll reads, adds and prunes raw.inbox_files as the intake role, and changes no row."""
    from sukvinnofrid import intake as intake_module

    intake = roled(roles.INTAKE)
    inbox = tmp_path / "inbox"
    (inbox / "0180").mkdir(parents=True)
    (inbox / "0180" / "sukf_0180_2023-06.csv").write_text("v2_kommun\n0180\n")
    assert len(intake_module.new_files(inbox, intake)) == 1
    (inbox / "0180" / "sukf_0180_2023-06.csv").unlink()
    (inbox / "0180" / "sukf_0180_2023-12.csv").write_text("v2_kommun\n0180\n")
    assert len(intake_module.new_files(inbox, intake)) == 1
    assert run(intake, "SELECT location FROM raw.inbox_files") == [("0180/sukf_0180_2023-12.csv",)]
    with denied():
        run(intake, "UPDATE raw.inbox_files SET sha256 = :s", s="b" * 64)


def test_intake_has_no_access_to_quality_marts_or_ops(roled):
    intake = roled(roles.INTAKE)
    with denied():
        run(intake, "SELECT * FROM quality.validation_runs")
    with denied():
        run(intake, "INSERT INTO quality.row_findings VALUES (1, 1, 2, 'r', 'warn')")
    with denied():
        run(intake, "CREATE TABLE marts.intruder (x int)")
    with denied():
        run(intake, "SELECT * FROM marts.fct_kolada_key_figures")
    with denied():
        run(intake, "SELECT * FROM ops.dbt_builds")
    with denied():
        run(intake, "SELECT * FROM secrets.pseudonym_key")
    with denied():
        run(intake, "CREATE TABLE raw.intruder (x int)")
    with denied():
        run(intake, "CREATE TABLE public.intruder (x int)")
    with denied():
        run(intake, "CREATE SCHEMA intruder")


# --- quality -----------------------------------------------------------------------------------


def test_quality_decides_uploads_but_cannot_delete_raw_rows(roled):
    upload_id = new_upload(roled(roles.INTAKE))
    quality = roled(roles.QUALITY)
    assert (
        run(
            quality,
            "UPDATE raw.uploads SET status = 'blocked', status_reason = 'x',"
            " decided_at = now() WHERE upload_id = :u",
            u=upload_id,
        )
        == 1
    )
    with denied():
        run(quality, "UPDATE raw.uploads SET kommun_kod = '0181' WHERE upload_id = :u", u=upload_id)
    with denied():
        run(quality, "DELETE FROM raw.case_records")
    with denied():
        run(quality, "UPDATE raw.case_records SET v2_kommun = '0181'")
    with denied():
        run(
            quality,
            "INSERT INTO raw.uploads (file_name, sha256, kommun_kod, round_id, status)"
            " VALUES ('f', :s, '0180', '2023-06', 'landed')",
            s="b" * 64,
        )
    with denied():
        run(quality, "SELECT * FROM marts.fct_kolada_key_figures")
    # the feedback notices it sent: recorded and read, never changed or removed
    run(
        quality,
        "INSERT INTO ops.notices (upload_id, recipient, account) VALUES (1, 'a@b.se', '0180')",
    )
    assert run(quality, "SELECT upload_id, recipient FROM ops.notices") == [(1, "a@b.se")]
    with denied():
        run(quality, "DELETE FROM ops.notices")
    with denied():
        run(quality, "SELECT * FROM ops.publication_approvals")


def test_quality_gate_runs_as_the_quality_role(roled):
    upload_id = new_upload(roled(roles.INTAKE))
    result = run_quality_gate(upload_id, roled(roles.QUALITY))
    assert result.outcome in ("accepted", "blocked")
    with warehouse.engine().connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT status FROM raw.uploads WHERE upload_id = :u"), {"u": upload_id}
            ).scalar()
            == result.outcome
        )
        assert conn.execute(sa.text("SELECT count(*) FROM quality.validation_runs")).scalar() == 1
        # the unlogged work table was created and dropped by the quality role
        assert (
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'quality'"
                    " AND tablename LIKE 'gate_batch_%'"
                )
            ).scalar()
            == 0
        )


# --- transform ---------------------------------------------------------------------------------


def test_transform_reads_raw_and_quality_and_owns_the_models(roled):
    new_upload(roled(roles.INTAKE))
    transform = roled(roles.TRANSFORM)
    assert run(transform, "SELECT count(*) FROM raw.case_records")[0][0] == 1
    assert run(transform, "SELECT count(*) FROM quality.validation_runs")[0][0] == 0
    run(transform, "INSERT INTO ops.dbt_builds (fingerprint) VALUES (:f)", f="f" * 64)
    run(transform, "DELETE FROM ops.dbt_builds")
    run(transform, "INSERT INTO ops.dbt_tested_rounds VALUES ('2023-12', 'inputs')")
    run(transform, "DELETE FROM ops.dbt_tested_rounds")
    # dbt: a new schema, tables in the dbt schemas, replacing a table built before the roles
    run(transform, "CREATE SCHEMA IF NOT EXISTS sukf_scratch")
    run(transform, "CREATE TABLE sukf_scratch.t AS SELECT 1 AS x")
    run(transform, "CREATE VIEW staging.stg_cases AS SELECT upload_id FROM raw.case_records")
    run(transform, "CREATE TABLE marts.fct_new AS SELECT count(*) AS n FROM staging.stg_cases")
    run(
        transform,
        "ALTER TABLE marts.fct_kolada_key_figures RENAME TO fct_kolada_key_figures__dbt_backup",
    )
    run(
        transform,
        "CREATE TABLE marts.fct_kolada_key_figures AS"
        " SELECT * FROM marts.fct_kolada_key_figures__dbt_backup",
    )
    run(transform, "DROP TABLE marts.fct_kolada_key_figures__dbt_backup")
    with denied():
        run(transform, "INSERT INTO raw.case_records (upload_id, source_row) VALUES (1, 99)")
    with denied():
        run(transform, "UPDATE raw.uploads SET status = 'accepted'")
    with denied():
        run(transform, "INSERT INTO quality.row_findings VALUES (1, 1, 2, 'r', 'warn')")
    # publication reads what the transform role built (default privileges)
    publish = roled(roles.PUBLISH)
    assert run(publish, "SELECT n FROM marts.fct_new") == [(1,)]
    assert run(publish, "SELECT value FROM marts.fct_kolada_key_figures") == [(3,)]
    with warehouse.engine().begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA sukf_scratch CASCADE")


def test_only_the_transform_stage_stores_and_reads_the_pseudonym_key(
    roled, clean_warehouse, monkeypatch
):
    """The key the staging hash reads: the transform stage stores it before each dbt run and dbt
    (as that stage) reads it; no other stage may read, write or even look up the table."""
    from sukvinnofrid import transform

    monkeypatch.setenv(transform.PSEUDONYM_KEY_ENV, "key-for-the-roles-test")
    for role in (roles.INTAKE, roles.QUALITY, roles.PUBLISH):
        engine = roled(role)
        for statement in (
            "SELECT key FROM secrets.pseudonym_key",
            "INSERT INTO secrets.pseudonym_key (key) VALUES ('stolen')",
            "DELETE FROM secrets.pseudonym_key",
        ):
            with denied():
                run(engine, statement)
        with pytest.raises(ProgrammingError):
            transform.store_pseudonym_key(engine)
    transform_engine = roled(roles.TRANSFORM)
    with clean_warehouse.begin() as conn:
        conn.exec_driver_sql("DELETE FROM secrets.pseudonym_key")
    assert transform.store_pseudonym_key(transform_engine) is True
    assert transform.store_pseudonym_key(transform_engine) is False
    assert run(transform_engine, "SELECT key FROM secrets.pseudonym_key") == [
        ("key-for-the-roles-test",)
    ]
    with clean_warehouse.connect() as conn:
        owner = conn.execute(sa.text("SELECT current_user")).scalar()
        grantees = set(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT grantee FROM information_schema.table_privileges"
                    " WHERE table_schema = 'secrets'"
                )
            ).scalars()
        )
        schema_users = {
            role
            for role in roles.GROUP_ROLES
            if conn.execute(
                sa.text("SELECT has_schema_privilege(:r, 'secrets', 'USAGE')"), {"r": role}
            ).scalar()
        }
    assert grantees <= {owner, roles.TRANSFORM}
    assert schema_users == {roles.TRANSFORM}


# --- publish -----------------------------------------------------------------------------------


def test_publish_reads_only_marts_and_writes_only_approvals(roled):
    new_upload(roled(roles.INTAKE))
    publish = roled(roles.PUBLISH)
    assert run(publish, "SELECT kpi, kommun_kod FROM marts.fct_kolada_key_figures") == [
        ("U1", "0180")
    ]
    for table in (
        "raw.case_records",
        "raw.uploads",
        "quality.validation_runs",
        "quality.row_findings",
        "quality.expectation_results",
        "ops.dbt_builds",
        "ops.dbt_tested_rounds",
        "secrets.pseudonym_key",
    ):
        with denied():
            run(publish, f"SELECT * FROM {table}")
    with denied():
        run(publish, "INSERT INTO marts.fct_kolada_key_figures VALUES ('U2', '0180', 1)")
    with denied():
        run(publish, "DELETE FROM marts.fct_kolada_key_figures")
    with denied():
        run(publish, "CREATE TABLE marts.intruder (x int)")
    # the approvals it publishes by: recorded and marked published, never removed
    run(
        publish,
        "INSERT INTO ops.publication_approvals (round_id, inputs_sha256, approved_at)"
        " VALUES ('2023-12', :i, now())",
        i="c" * 64,
    )
    run(publish, "UPDATE ops.publication_approvals SET published_at = now(), version = 'v001'")
    with denied():
        run(publish, "DELETE FROM ops.publication_approvals")
    # the audited protection it stores once and every later publication of its key formats
    run(
        publish,
        "INSERT INTO ops.disclosure_protections (decision_key, round_id, cells_withheld, notes)"
        " VALUES (:k, '2023-12', 0, '[[], []]')",
        k="d" * 64,
    )
    run(publish, "SELECT * FROM ops.disclosure_decisions")
    for table in ("ops.disclosure_protections", "ops.disclosure_decisions"):
        with denied():
            run(publish, f"DELETE FROM {table}")
    with denied():
        run(publish, "SELECT * FROM ops.notices")
    run(roled(roles.TRANSFORM), "CREATE VIEW staging.stg_x AS SELECT 1 AS x")
    with denied():
        run(publish, "SELECT * FROM staging.stg_x")


def test_publish_reads_marts_tables_the_owner_builds_after_setup(roled):
    with warehouse.engine().begin() as conn:
        conn.exec_driver_sql("CREATE TABLE marts.fct_later AS SELECT 2 AS x")
    assert run(roled(roles.PUBLISH), "SELECT x FROM marts.fct_later") == [(2,)]


# --- setup -------------------------------------------------------------------------------------


# --- retention ---------------------------------------------------------------------------------


def test_retention_deletes_rows_and_results_but_reads_no_case(roled):
    upload_id = new_upload(roled(roles.INTAKE))
    retention_role = roled(roles.RETENTION)
    for statement in (
        "SELECT v4_klient FROM raw.case_records",
        "INSERT INTO raw.case_records (upload_id, source_row) VALUES (:u, 3)",
        "UPDATE raw.case_records SET v2_kommun = '0181' WHERE upload_id = :u",
        "UPDATE raw.uploads SET status = 'accepted' WHERE upload_id = :u",
        "DELETE FROM raw.uploads WHERE upload_id = :u",
        "SELECT rule_id, source_row FROM quality.row_findings",
        "SELECT outcome_reason FROM quality.validation_runs",
        "INSERT INTO quality.validation_runs (upload_id, suite_name) VALUES (:u, 's')",
        "DELETE FROM ops.retention_log",
        "UPDATE ops.retention_log SET reason = 'x'",
        "SELECT * FROM ops.dbt_builds",
        "SELECT * FROM secrets.pseudonym_key",
        "SELECT * FROM marts.fct_kolada_key_figures",
        "CREATE TABLE raw.intruder (x int)",
        "SELECT notes FROM ops.disclosure_protections",
        "SELECT cell, reason FROM ops.disclosure_decisions",
        "UPDATE ops.disclosure_decisions SET reason = 'x'",
        "INSERT INTO ops.disclosure_protections VALUES ('k', '2023-06', 0, '[]', now())",
    ):
        with denied():
            run(retention_role, statement, u=upload_id)
    assert (
        run(retention_role, "DELETE FROM raw.case_records WHERE upload_id = :u", u=upload_id) == 1
    )
    assert (
        run(
            retention_role,
            "UPDATE raw.uploads SET archive_path = NULL WHERE upload_id = :u",
            u=upload_id,
        )
        == 1
    )


def test_retention_runs_as_the_retention_role(roled, clean_warehouse):
    """An upload blocked long ago, landed from the inbox by the intake role and gated by the
    quality role: the retention role moves its file out of the inbox and removes its rows, gate
    run and archived original, and logs it."""
    from sukvinnofrid import intake, retention
    from sukvinnofrid.synthetic import generate_round_files

    (generated,) = generate_round_files(
        Path(os.environ["SUKF_INBOX"]), ["0580"], ["2023-06"], cases_per_kommun=5, seed=8
    )
    landed = intake.land_upload(generated.path, roled(roles.INTAKE))
    run_quality_gate(landed.upload_id, roled(roles.QUALITY))
    with clean_warehouse.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE raw.uploads SET status = 'blocked', decided_at = now() - interval"
                " '10 years' WHERE upload_id = :u"
            ),
            {"u": landed.upload_id},
        )
    archived = Path(
        scalar(
            clean_warehouse,
            "SELECT archive_path FROM raw.uploads WHERE upload_id = :u",
            u=landed.upload_id,
        )
    )
    # a round's disclosure decisions: one decided ten years ago, one later
    keys = store_round_decisions(clean_warehouse, "1998-06", {"x" * 64: 3650, "y" * 64: 0})
    retention_role = roled(roles.RETENTION)
    moved = retention.clear_inbox(retention_role)
    removed = retention.remove_expired(retention_role)
    assert [r.what for r in moved] == ["inkorgsfil"] and not generated.path.exists()
    # the gate run was the upload's alone: its Data Docs page and GX result go too; the old
    # decision goes, the round's latest stays
    assert sorted(r.what for r in removed) == [
        "arkivfil",
        "gx-resultat",
        "gx-resultat",
        "kvalitetsresultat",
        "rader",
        "skyddsbeslut",
    ]
    assert stored_keys(clean_warehouse, "1998-06") == {keys[1]}
    assert not archived.exists()
    assert scalar(clean_warehouse, "SELECT count(*) FROM raw.case_records") == 0
    assert scalar(clean_warehouse, "SELECT count(*) FROM quality.validation_runs") == 0
    assert scalar(clean_warehouse, "SELECT count(*) FROM ops.retention_log") == 1 + len(removed)
    assert scalar(clean_warehouse, "SELECT count(*) FROM raw.uploads") == 1


def test_ensure_roles_is_idempotent_and_hands_dbt_schemas_to_transform(roled, clean_warehouse):
    first = roles.ensure_roles(clean_warehouse)
    second = roles.ensure_roles(clean_warehouse)
    assert first == second == list(roles.GROUP_ROLES)
    with clean_warehouse.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles"
                " WHERE rolname LIKE 'sukf\\_%' ORDER BY rolname"
            )
        ).all()
        assert [tuple(r) for r in rows] == [
            (name, False, False, False, False) for name in sorted(roles.GROUP_ROLES)
        ]
        owners = dict(
            conn.execute(
                sa.text(
                    "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace"
                    " WHERE nspname = ANY(:s)"
                ),
                {"s": list(roles.DBT_SCHEMAS)},
            ).all()
        )
        assert owners == dict.fromkeys(roles.DBT_SCHEMAS, roles.TRANSFORM)
        assert (
            conn.execute(
                sa.text(
                    "SELECT tableowner FROM pg_tables WHERE schemaname = 'marts'"
                    " AND tablename = 'fct_kolada_key_figures'"
                )
            ).scalar()
            == roles.TRANSFORM
        )
    # still exactly the intended privileges after the second run
    intake = roled(roles.INTAKE)
    new_upload(intake)
    with denied():
        run(intake, "DELETE FROM raw.uploads")
    with denied():
        run(intake, "SELECT * FROM raw.case_records")


def test_login_users_from_passwords_without_leaking_them(roled, clean_warehouse, caplog):
    secrets = {roles.INTAKE: "intake-S3cret!pw", roles.PUBLISH: "publish-'quoted\"-pw"}
    assert (
        roles.passwords_from_env(
            {
                "SUKF_INTAKE_PASSWORD": secrets[roles.INTAKE],
                "SUKF_PUBLISH_PASSWORD": secrets[roles.PUBLISH],
                "SUKF_QUALITY_PASSWORD": "",
            }
        )
        == secrets
    )
    with caplog.at_level(logging.DEBUG):
        touched = roles.ensure_roles(clean_warehouse, passwords=secrets)
        again = roles.ensure_roles(clean_warehouse, passwords=secrets)
    assert touched == again == [*roles.GROUP_ROLES, "sukf_intake_login", "sukf_publish_login"]
    for text in (repr(touched), caplog.text):
        for password in secrets.values():
            assert password not in text
    with clean_warehouse.connect() as conn:
        logins = dict(
            conn.execute(
                sa.text(
                    "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE "
                    "'sukf\\_%\\_login'"
                )
            ).all()
        )
        assert logins == {"sukf_intake_login": True, "sukf_publish_login": True}
        member_of = conn.execute(
            sa.text("SELECT pg_has_role('sukf_publish_login', 'sukf_publish', 'MEMBER')")
        ).scalar()
        assert member_of
        stored = conn.execute(
            sa.text("SELECT rolpassword FROM pg_authid WHERE rolname = 'sukf_intake_login'")
        ).scalar()
        assert stored.startswith(("SCRAM-SHA-256$", "md5")) and secrets[roles.INTAKE] not in stored
    # a login session acts as its group role (what it creates belongs to the group)
    login_engine = sa.create_engine(roles.login_url(roles.PUBLISH, {}))
    try:
        with login_engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_user")).scalar() == roles.PUBLISH
            assert (
                conn.execute(sa.text("SELECT count(*) FROM marts.fct_kolada_key_figures")).scalar()
                == 1
            )
            with denied():
                conn.execute(sa.text("SELECT * FROM raw.uploads"))
    finally:
        login_engine.dispose()


def test_unknown_role_is_refused():
    with pytest.raises(ValueError):
        roles.role_engine("postgres")
    with pytest.raises(ValueError):
        roles.login_name("sukf_admin")


# --- dbt as the transform login ------------------------------------------------------------------


def test_dbt_builds_as_the_transform_login_and_publish_reads_the_mart(
    roled, clean_warehouse, tmp_path, monkeypatch
):
    """The whole dbt project runs as sukf_transform_login (the embedded server trusts local
    connections, so no password is needed here) and replaces a mart built before the roles."""
    import shutil

    from conftest import PROJECT_ROOT
    from sukvinnofrid import transform

    roles.ensure_roles(clean_warehouse, passwords={roles.TRANSFORM: "only-for-this-test"})
    project = tmp_path / "dbt_project"
    shutil.copytree(
        PROJECT_ROOT / "dbt_project",
        project,
        ignore=shutil.ignore_patterns("target*", "logs", "dbt_packages"),
    )
    shutil.rmtree(project / "seeds" / "reference", ignore_errors=True)
    shutil.copytree(
        PROJECT_ROOT / "tests" / "fixtures" / "dbt" / "reference", project / "seeds" / "reference"
    )
    as_admin = warehouse.dbt_environment
    monkeypatch.setattr(
        warehouse,
        "dbt_environment",
        lambda: {**as_admin(), "SUKF_PGUSER": "sukf_transform_login", "SUKF_PGPASSWORD": ""},
    )

    # a mart of another shape is replaced by a full refresh, as build_warehouse does after an
    # upgrade of the project (the facts are incremental)
    transform.build(project_dir=project, full_refresh=True)

    with clean_warehouse.connect() as conn:
        owners = set(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace "
                    "n"
                    " ON n.oid = c.relnamespace WHERE n.nspname = ANY(:s) AND c.relkind IN ('r', "
                    "'v')"
                ),
                {"s": list(roles.DBT_SCHEMAS)},
            ).scalars()
        )
    assert owners == {roles.TRANSFORM}
    publish = roled(roles.PUBLISH)
    assert run(publish, "SELECT count(*) FROM marts.fct_kolada_key_figures") == [(0,)]
    with denied():
        run(publish, "SELECT * FROM intermediate.int_cases")


def test_login_url_takes_the_password_from_the_environment():
    url = roles.login_url(roles.INTAKE, {"SUKF_INTAKE_PASSWORD": "pw-from-env"})
    assert url.username == "sukf_intake_login" and url.password == "pw-from-env"
    assert "pw-from-env" not in str(url)  # str() masks the password
    assert url.database == warehouse.warehouse_url().database
    assert roles.login_url(roles.PUBLISH, {}).password is None  # never the owner's password
    with pytest.raises(ValueError):
        roles.login_url("postgres")


@pytest.mark.slow
def test_a_whole_round_runs_with_each_stage_on_its_own_login(clean_warehouse, monkeypatch):
    """Production wiring: with the stage passwords set, every stage connects as its own login."""
    from sukvinnofrid import pipeline
    from sukvinnofrid.synthetic import generate_round_files

    _drop_roles(clean_warehouse)
    passwords = {variable: f"pw-{role}" for role, variable in roles.PASSWORD_ENV.items()}
    roles.ensure_roles(
        clean_warehouse, passwords=dict(zip(roles.PASSWORD_ENV, passwords.values(), strict=True))
    )
    for variable, password in passwords.items():
        monkeypatch.setenv(variable, password)
    warehouse.stage_engine.cache_clear()
    try:
        assert warehouse.stage_url("intake").username == "sukf_intake_login"
        assert warehouse.dbt_environment()["SUKF_PGUSER"] == "sukf_transform_login"
        generate_round_files(
            Path(os.environ["SUKF_INBOX"]),
            ["0580", "2380"],
            ["2023-12"],
            cases_per_kommun=40,
            seed=5,
        )
        result = pipeline.run_round("2023-12")
        assert [r["status"] for r in result["landed"]] == ["landed", "landed"]
        assert [r["outcome"] for r in result["gated"]] == ["accepted", "accepted"]
        assert Path(result["published"]["directory"], "data.json").exists()
        with (
            pytest.raises(ProgrammingError) as denied,
            warehouse.stage_engine("publish").connect() as conn,
        ):
            conn.execute(sa.text("SELECT count(*) FROM raw.uploads"))
        assert isinstance(denied.value.orig, psycopg2.errors.InsufficientPrivilege)
        with clean_warehouse.connect() as conn:
            owner = conn.execute(
                sa.text(
                    "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = "
                    "'marts.fct_kolada_key_figures'::regclass"
                )
            ).scalar()
        assert owner == roles.TRANSFORM
    finally:
        for eng in {
            warehouse.stage_engine(s) for s in ("intake", "quality", "transform", "publish")
        }:
            if eng is not warehouse.engine():
                eng.dispose()
        warehouse.stage_engine.cache_clear()
        monkeypatch.undo()
        _drop_roles(clean_warehouse)
