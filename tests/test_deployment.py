"""The production deployment, checked without a Docker engine: docker-compose.yml against the code
(secrets that stop the start when missing, one login per stage worker, the owner login in
airflow-init only, health checks, log and data volumes, the auth manager), the cluster policy
that routes each task to its stage's worker, and .dockerignore."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from local_servers import SMTP_VARIABLES
from sukvinnofrid import airflow_local, pipeline, roles
from sukvinnofrid.airflow_plugin import INTERNAL_ROOTS, URL_PREFIX
from sukvinnofrid.config import INTERNAL_SITE_ROOT, PUBLIC_SITE_ROOT
from sukvinnofrid.readers import MAX_FILE_BYTES

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "sftp_accounts", ROOT / "infra" / "sftp" / "accounts.py"
)
accounts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(accounts)
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
# The definitions compose interpolates (comments aside); $$ is a literal $, left to the shell.
DEFINITIONS = json.dumps(COMPOSE)
INTERPOLATED = DEFINITIONS.replace("$$", "")
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "infra" / "airflow.Dockerfile").read_text(encoding="utf-8")

WORKERS = {name for name in SERVICES if name.startswith("airflow-worker")}
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    *WORKERS,
}
# Secrets without which nothing may start. The only optional one is the mail server's login.
REQUIRED_SECRETS = {
    "WAREHOUSE_USER",
    "WAREHOUSE_PASSWORD",
    "WAREHOUSE_DB",
    "AIRFLOW_DB_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_SECRET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_ADMIN_USER",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW_ADMIN_EMAIL",
    "SUKF_PSEUDONYM_KEY",
    "SUKF_SFTP_ACCOUNTS_DIR",
    "AIRFLOW_UPLOAD_HOOK_USER",
    "AIRFLOW_UPLOAD_HOOK_PASSWORD",
    *roles.PASSWORD_ENV.values(),
}
OPTIONAL_SECRETS: set[str] = set()
SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY")
REFERENCE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?P<op>:\?|:-|\?|-)?(?P<arg>[^}]*)\}")
ENV_EXAMPLE = dict(
    line.split("=", 1)
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    if line and not line.startswith("#")
)


def env(service: str) -> dict[str, str]:
    return {
        name: str(value) for name, value in (SERVICES[service].get("environment") or {}).items()
    }


def stage_of(worker: str) -> str:
    """The Celery queue a worker serves (`celery worker --queues <stage>`)."""
    match = re.fullmatch(r"celery worker --queues (\w+)", SERVICES[worker]["command"])
    assert match, f"{worker} must serve exactly one stage queue: {SERVICES[worker]['command']}"
    return match[1]


def password_of(queue: str) -> str:
    """The login a queue's worker holds: its stage's, the queue's name up to a '_'
    (retention_inbox: the retention stage's)."""
    return roles.PASSWORD_ENV[f"sukf_{queue.split('_')[0]}"]


QUEUES = {"intake", "quality", "transform", "publish", "retention", "retention_inbox"}
CALLBACK_RUNNERS = WORKERS | {"airflow-dag-processor", "airflow-triggerer"}
INBOX_WRITER = "airflow-worker-inbox"


def volumes(service: str) -> dict[str, tuple[str, bool]]:
    """{mount target: (source, read_only)} of a service's volumes (short or long syntax)."""
    mounts = {}
    for spec in SERVICES[service].get("volumes", []):
        if isinstance(spec, dict):
            mounts[spec["target"]] = (spec["source"], spec.get("read_only", False))
            continue
        read_only = spec.endswith(":ro")
        source, target = spec.removesuffix(":ro").removesuffix(":rw").rsplit(":", 1)
        mounts[target] = (source, read_only)
    return mounts


class MissingSecret(Exception):
    pass


def interpolate(text: str, environ: dict[str, str]) -> str:
    """Compose's interpolation of ${VAR}, ${VAR:-default} and ${VAR:?message} (`$$` is a `$`)."""

    def substitute(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        value = environ.get(name)
        if op == ":?" and not value:
            raise MissingSecret(f"{name}: {arg}")
        if op == ":-" and not value:
            return arg
        return value or ""

    return REFERENCE.sub(substitute, text.replace("$$", "\0")).replace("\0", "$")


# --- secrets -------------------------------------------------------------------------------------


def test_every_secret_stops_the_start_when_missing_or_empty():
    references = list(REFERENCE.finditer(INTERPOLATED))
    named = {m["name"] for m in references}
    assert named >= REQUIRED_SECRETS, REQUIRED_SECRETS - named
    for match in references:
        name = match["name"]
        if name in REQUIRED_SECRETS:
            assert match["op"] == ":?" and match["arg"].strip(), match[0]
        else:  # anything else that looks like a secret must be declared optional on purpose
            assert not SECRET_NAME.search(name) or name in OPTIONAL_SECRETS, match[0]

    complete = dict.fromkeys(named, "x")
    interpolate(DEFINITIONS, complete)
    for secret in sorted(REQUIRED_SECRETS):
        for missing in (
            {k: v for k, v in complete.items() if k != secret},
            {**complete, secret: ""},
        ):
            with pytest.raises(MissingSecret, match=secret):
                interpolate(DEFINITIONS, missing)


def test_env_example_lists_every_variable_and_leaves_every_secret_to_fill_in():
    used = {m["name"] for m in REFERENCE.finditer(INTERPOLATED)}
    assert used <= set(ENV_EXAMPLE), used - set(ENV_EXAMPLE)
    # A copied but unfilled .env must not start: every secret is empty in the example.
    secrets = {name for name in REQUIRED_SECRETS | OPTIONAL_SECRETS if SECRET_NAME.search(name)}
    assert {name: ENV_EXAMPLE[name] for name in secrets} == dict.fromkeys(secrets, "")


def test_only_airflow_init_has_the_warehouse_owner_login():
    owner_variables = {"WAREHOUSE_USER", "WAREHOUSE_PASSWORD"}
    for name, service in SERVICES.items():
        text = json.dumps(service.get("environment") or {})
        uses_owner = any(f"${{{variable}:" in text for variable in owner_variables)
        assert uses_owner == (name in {"airflow-init", "warehouse"}), name
    init_url = urlsplit(
        interpolate(
            env("airflow-init")["SUKF_WAREHOUSE_URL"],
            {"WAREHOUSE_USER": "owner", "WAREHOUSE_PASSWORD": "pw", "WAREHOUSE_DB": "db"},
        )
    )
    assert (init_url.username, init_url.hostname, init_url.path) == ("owner", "warehouse", "/db")
    # airflow-init creates every stage login, so it has every stage password
    assert set(roles.PASSWORD_ENV.values()) <= set(env("airflow-init"))


def test_each_worker_has_its_own_stage_login_and_nothing_more():
    assert {stage_of(worker) for worker in WORKERS} == QUEUES
    for worker in WORKERS:
        stage, environment = stage_of(worker), env(worker)
        url = urlsplit(interpolate(environment["SUKF_WAREHOUSE_URL"], {"WAREHOUSE_DB": "db"}))
        assert (url.username, url.password, url.hostname) == (None, None, "warehouse"), worker
        passwords = {name for name in environment if name in roles.PASSWORD_ENV.values()}
        assert passwords == {password_of(stage)}, worker
        assert ("SUKF_PSEUDONYM_KEY" in environment) == (stage == "transform"), worker
    # the other services hold no pipeline setting but the two every DAG parse needs (and the
    # services that run callbacks, the e-mail settings; the api-server, whose plugin serves the
    # team's pages, where the outputs are)
    for service in AIRFLOW_SERVICES - WORKERS:
        assert {n for n in env(service) if n.startswith("SUKF_")} <= {
            "SUKF_HOME",
            "SUKF_REQUIRE_APPROVAL",
            *({"SUKF_ALERT_EMAIL"} if service in CALLBACK_RUNNERS else ()),
            *(["SUKF_OUTPUT"] if service == "airflow-apiserver" else ()),
        }, service
    assert {env(service)["SUKF_REQUIRE_APPROVAL"] for service in AIRFLOW_SERVICES} == {
        "${SUKF_REQUIRE_APPROVAL:-1}"
    }


def test_every_service_that_runs_a_callback_can_send_the_e_mail_and_no_other():
    """A task's failure callback runs on its worker, or, when the task died without running it
    (a lost worker, a failed trigger), on the DAG processor; the triggerer runs async callbacks.
    Each has Airflow's SMTP connection and the team's address; the scheduler and the API server,
    which run no callback, have no mail login."""
    notify_source = (ROOT / "src" / "sukvinnofrid" / "notify.py").read_text(encoding="utf-8")
    assert 'CONN_ID = "smtp_default"' in notify_source and "SUKF_ALERT_EMAIL" in notify_source
    for service in AIRFLOW_SERVICES:
        environment = env(service)
        has_mail = set(environment) >= SMTP_VARIABLES
        assert has_mail == (service in CALLBACK_RUNNERS), service
        if has_mail:
            assert environment["AIRFLOW_CONN_SMTP_DEFAULT"] == "${AIRFLOW_CONN_SMTP_DEFAULT:-}"
        else:
            assert not SMTP_VARIABLES & set(environment), service
    # the connection carries the mail password: unfilled in the example
    assert ENV_EXAMPLE["AIRFLOW_CONN_SMTP_DEFAULT"] == ""
    assert not any(name.startswith("SUKF_SMTP_") for name in ENV_EXAMPLE)


def test_environment_variables_are_ones_the_code_reads():
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src").rglob("*.py"))
    read_by_code = set(re.findall(r"\b(SUKF_[A-Z_]+)\b", source))
    for name in SERVICES:
        configured = {variable for variable in env(name) if variable.startswith("SUKF_")}
        assert configured <= read_by_code, (name, configured - read_by_code)


# --- Airflow -------------------------------------------------------------------------------------


def test_services_for_a_celery_deployment():
    assert AIRFLOW_SERVICES | {
        "warehouse",
        "airflow-db",
        "redis",
        "airflow-init",
        "data-init",
        "sftp",
    } <= set(SERVICES)
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        environment = env(name)
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert environment["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
        assert "@airflow-db:5432/" in environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert environment["AIRFLOW__CORE__FERNET_KEY"].startswith("${AIRFLOW_FERNET_KEY:?")
    # Workers are scaled with --scale, so none may pin a container name or a host port.
    for worker in WORKERS:
        assert "container_name" not in SERVICES[worker] and "ports" not in SERVICES[worker]


def test_retention_reaches_airflows_metadata_db_from_its_task():
    """Airflow 3 takes the metadata DB away from every task process, so `airflow db clean`
    (su_retention.clean_airflow_metadata, on the retention worker) is given it on its own."""
    environment = env("airflow-worker-retention")
    assert environment["SUKF_AIRFLOW_DB_CONN"] == environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert {w for w in WORKERS if "SUKF_AIRFLOW_DB_CONN" in env(w)} == {"airflow-worker-retention"}


def test_a_production_auth_manager_with_an_admin_from_the_environment():
    assert "SIMPLE_AUTH_MANAGER" not in COMPOSE_TEXT
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        assert env(name)["AIRFLOW__CORE__AUTH_MANAGER"] == (
            "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
        )
    assert "apache-airflow-providers-fab" in DOCKERFILE and '"apache-airflow==3.3.2"' in DOCKERFILE
    init = SERVICES["airflow-init"]["command"][-1]
    assert "airflow db migrate" in init and "airflow users create" in init
    # compose leaves the password to the container's shell: it is not written into the command
    assert '--password "${AIRFLOW_ADMIN_PASSWORD}"' in interpolate(init, {})
    assert init.index("sukvinnofrid warehouse init") < init.index("sukvinnofrid warehouse roles")


def test_every_airflow_service_has_a_health_check():
    expected = {
        "airflow-apiserver": "/api/v2/monitor/health",
        "airflow-scheduler": ":8974/health",
        "airflow-dag-processor": "DagProcessorJob",
        "airflow-triggerer": "TriggererJob",
        **dict.fromkeys(WORKERS, "inspect ping"),
    }
    for name, probe in expected.items():
        check = SERVICES[name]["healthcheck"]
        assert probe in " ".join(check["test"]) and check["retries"] >= 3, name
    assert env("airflow-scheduler")["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    # workers start only once the API server (their execution API) is healthy
    for worker in WORKERS:
        assert SERVICES[worker]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


def test_task_logs_are_on_a_volume_every_airflow_service_shares():
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        folder = env(name)["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]
        assert volumes(name)[folder] == ("airflow-logs", False), name
    assert "airflow-logs" in COMPOSE["volumes"]


def _chowned() -> dict[str, str]:
    """{path: owner uid} as data-init sets them."""
    chowned = {}
    for line in SERVICES["data-init"]["command"][0].splitlines():
        parts = line.split("&&")[0].split()
        if parts and parts[0] == "chown":
            chowned.update(dict.fromkeys(parts[2:], parts[1].split(":")[0]))
    return chowned


def test_data_volumes_are_mounted_where_the_stages_look_and_writable_by_their_owner():
    chowned = _chowned()
    init_mounts = {source: target for target, (source, _) in volumes("data-init").items()}
    for worker in WORKERS:
        for variable in ("SUKF_INBOX", "SUKF_ARCHIVE", "SUKF_OUTPUT"):
            path = env(worker).get(variable)
            if path is None:
                continue
            source, read_only = volumes(worker)[path]
            assert source in COMPOSE["volumes"], (worker, variable)
            # the intake only reads the inbox, which only the inbox's retention worker writes,
            # and that one only reads the archive; the rest belongs to the airflow user
            writes_inbox = worker == INBOX_WRITER
            # the build only looks up which rounds have had their first publication
            reads_publications = worker == "airflow-worker-transform" and variable == "SUKF_OUTPUT"
            assert read_only == (
                ((variable == "SUKF_INBOX") != writes_inbox) or reads_publications
            ), (worker, variable)
            if not read_only:
                owner = chowned[init_mounts[source]]
                assert SERVICES[worker]["user"] == f"{owner}:0", (worker, variable)
                assert owner == ("1000" if writes_inbox else "50000"), (worker, variable)
    assert SERVICES["data-init"]["user"] == "0:0"
    assert all(SERVICES[name]["user"] == "50000:0" for name in AIRFLOW_SERVICES - {INBOX_WRITER})
    # every worker writes the task logs, whatever its user: they are group 0's
    assert "chmod 0775 /opt/airflow/logs" in SERVICES["data-init"]["command"][0]
    assert "chown -R airflow:root /data" in DOCKERFILE
    assert all(
        SERVICES[w]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        for w in WORKERS
    )
    assert SERVICES["airflow-init"]["depends_on"]["data-init"]["condition"] == (
        "service_completed_successfully"
    )


def test_the_intake_reads_the_inbox_and_only_the_retention_worker_writes_it():
    """Kommuner's files are written by the SFTP server and removed only by retention's inbox
    worker, as the SFTP server's user (uid 1000 owns the kommun folders); the intake, which
    handles the untrusted bytes, mounts the inbox read-only."""
    inbox_volume = volumes("sftp")[accounts.INBOX][0]
    writers = {
        name
        for name in SERVICES
        if any(
            source == inbox_volume and not read_only for source, read_only in volumes(name).values()
        )
    }
    assert writers == {"sftp", "data-init", INBOX_WRITER}
    intake_inbox = env("airflow-worker-intake")["SUKF_INBOX"]
    assert volumes("airflow-worker-intake")[intake_inbox] == (inbox_volume, True)
    assert stage_of(INBOX_WRITER) == "retention_inbox"
    inbox_at_init = next(
        target for target, (source, _) in volumes("data-init").items() if source == inbox_volume
    )
    assert _chowned()[inbox_at_init] == "1000" and SERVICES[INBOX_WRITER]["user"] == "1000:0"


def test_dag_folder_and_image_match_the_repository():
    environment = env("airflow-scheduler")
    home = environment["SUKF_HOME"]
    assert environment["AIRFLOW__CORE__DAGS_FOLDER"] == f"{home}/dags"
    assert f"./dags:{home}/dags:ro" in SERVICES["airflow-scheduler"]["volumes"]
    dockerfile = ROOT / SERVICES["airflow-scheduler"]["build"]["dockerfile"]
    assert dockerfile.exists() and home == "/opt/sukvinnofrid" and home in DOCKERFILE
    assert "requirements.lock" in DOCKERFILE
    assert (
        "COPY --chown=airflow:root infra/airflow_local_settings.py "
        "/opt/airflow/config/airflow_local_settings.py"
    ) in DOCKERFILE
    assert {p.stem for p in (ROOT / "dags").glob("su_*.py")} == {
        "su_intake",
        "su_feedback",
        "su_round",
        "su_retention",
        "su_reminders",
    }


PARSE_WITH_POLICY = r"""
import json
from airflow.dag_processing.dagbag import DagBag

bag = DagBag()
stray = DagBag(dag_folder={stray!r})
print(json.dumps({{"errors": bag.import_errors, "stray_errors": list(stray.import_errors.values()),
                   "queues": {{dag.dag_id: {{t.task_id: t.queue for t in dag.tasks}}
                              for dag in bag.dags.values()}}}}))
"""

STRAY_DAG = """
import pendulum
from airflow.sdk import dag, task

@dag(dag_id="su_intake", schedule=None, start_date=pendulum.datetime(2026, 1, 1))
def stray():
    @task
    def not_a_stage_task():
        return 1
    not_a_stage_task()

stray()
"""


def test_the_cluster_policy_sends_every_task_to_the_worker_with_its_stage_login(tmp_path):
    """The DAG folder parsed by Airflow with the image's airflow_local_settings: every task gets
    its stage's queue, which exactly one worker serves, holding that stage's password; a task
    the policy does not know is refused at parse time instead of waiting on a dead queue."""
    (tmp_path / "stray.py").write_text(STRAY_DAG, encoding="utf-8")
    environment = airflow_local.airflow_environment()
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT / "infra"), environment.get("PYTHONPATH")])
    )
    # as docker-compose.yml parses the DAGs: su_round with its approval tasks
    environment["SUKF_REQUIRE_APPROVAL"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", PARSE_WITH_POLICY.format(stray=str(tmp_path))],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    queues = {queue for tasks in parsed["queues"].values() for queue in tasks.values()}
    assert set(parsed["queues"]) == {
        "su_intake",
        "su_feedback",
        "su_round",
        "su_retention",
        "su_reminders",
    }
    assert queues == QUEUES
    for dag_id, tasks in parsed["queues"].items():
        for task_id, queue in tasks.items():
            serving = [worker for worker in WORKERS if stage_of(worker) == queue]
            assert len(serving) == 1, (dag_id, task_id, queue)
            assert password_of(queue) in env(serving[0]), (dag_id, task_id)
    # the worker that may write the inbox runs the inbox's retention and nothing else
    assert [
        (dag_id, task_id)
        for dag_id, tasks in parsed["queues"].items()
        for task_id, queue in tasks.items()
        if queue == stage_of(INBOX_WRITER)
    ] == [("su_retention", "clear_inbox")]
    assert len(parsed["stray_errors"]) == 1 and "not_a_stage_task" in parsed["stray_errors"][0]
    assert "has no pipeline stage" in parsed["stray_errors"][0]


# --- kommuner's delivery -------------------------------------------------------------------------


def test_the_sftp_service_writes_into_the_inbox_the_intake_reads():
    sftp, inbox = SERVICES["sftp"], accounts.INBOX
    assert re.fullmatch(r"ghcr\.io/drakkan/sftpgo:\d+\.\d+\.x", sftp["image"])
    mounts = volumes("sftp")
    intake_inbox = env("airflow-worker-intake")["SUKF_INBOX"]
    assert mounts[inbox] == (volumes("airflow-worker-intake")[intake_inbox][0], False)
    environment = env("sftp")
    temp = environment["SFTPGO_COMMON__TEMP_PATH"]
    # atomic uploads through a hidden folder on the same volume: the intake never sees a partial
    # file
    assert environment["SFTPGO_COMMON__UPLOAD_MODE"] == "1"
    assert Path(temp).parent == Path(inbox) and Path(temp).name.startswith(".")
    assert environment["SFTPGO_HTTPD__BINDINGS__0__PORT"] == "0"  # no web admin or REST API
    assert environment["SFTPGO_SFTPD__PASSWORD_AUTHENTICATION"] == "false"
    read_only = [target for target, (_, ro) in mounts.items() if ro]
    accounts_file = Path(environment["SFTPGO_DATA_PROVIDER__NAME"])
    assert read_only == [str(accounts_file.parent), accounts.DOWNLOAD]
    assert accounts_file.name == accounts.ACCOUNTS_FILE
    assert mounts[read_only[0]][0].startswith("${SUKF_SFTP_ACCOUNTS_DIR:?")
    # the SFTP server never sees the archive or the outputs
    assert {source for source, _ in mounts.values()} & {"sukf-archive", "sukf-output"} == set()
    data_init = SERVICES["data-init"]["command"][0]
    data_inbox = {t: s for t, (s, _) in volumes("data-init").items()}
    inbox_at_init = next(t for t, s in data_inbox.items() if s == mounts[inbox][0])
    assert f"{inbox_at_init}/{Path(temp).name}" in data_init


# --- where people reach their results -----------------------------------------------------------


def test_the_web_server_serves_only_the_public_site_read_only():
    """The public site's root, read-only, is the only thing of the outputs the web server has; it
    lists no folder and runs on a read-only file system."""
    web = SERVICES["web"]
    assert web["image"].startswith("nginx:") and web["read_only"] is True
    conf = (ROOT / "infra" / "web" / "nginx.conf").read_text(encoding="utf-8")
    root = re.search(r"^\s*root\s+(\S+);", conf, re.MULTILINE)[1]
    assert re.search(r"^\s*autoindex\s+off;", conf, re.MULTILINE)
    mounts = {m["target"]: m for m in web["volumes"]}
    assert set(mounts) == {root, "/etc/nginx/conf.d/default.conf"}
    site = mounts[root]
    assert (site["type"], site["source"], site["read_only"]) == ("volume", "sukf-output", True)
    assert site["volume"] == {"subpath": PUBLIC_SITE_ROOT}
    config = mounts["/etc/nginx/conf.d/default.conf"]
    assert (config["source"], config["read_only"]) == ("./infra/web/nginx.conf", True)
    # published through the organisation's web front, as the Airflow UI
    assert all(port.startswith("127.0.0.1:") for port in web["ports"])
    listen = re.search(r"^\s*listen\s+(\d+);", conf, re.MULTILINE)[1]
    assert {port.rsplit(":", 1)[1] for port in web["ports"]} == {listen}
    # the subpath exists before the web server starts, and the publication may write it
    output_at_init = next(t for t, (s, _) in volumes("data-init").items() if s == "sukf-output")
    assert _chowned()[f"{output_at_init}/{PUBLIC_SITE_ROOT}"] == "50000"
    assert web["depends_on"]["data-init"]["condition"] == "service_completed_successfully"
    # no other service is a web server on the outputs
    others = [n for n in SERVICES if n != "web" and "nginx" in str(SERVICES[n].get("image", ""))]
    assert others == []


def test_the_team_pages_are_the_api_servers_behind_airflows_login():
    """The internal pages are served by the project's Airflow plugin in the api-server, which
    reads the outputs read-only (tests/test_airflow_plugin.py runs it under a real one)."""
    assert tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "entry-points"
    ]["airflow.plugins"] == {"sukvinnofrid": "sukvinnofrid.airflow_plugin:SukvinnofridPlugin"}
    output = env("airflow-apiserver")["SUKF_OUTPUT"]
    assert volumes("airflow-apiserver")[output] == ("sukf-output", True)
    assert INTERNAL_SITE_ROOT in INTERNAL_ROOTS and PUBLIC_SITE_ROOT in INTERNAL_ROOTS


def test_each_upload_starts_the_intake_through_the_hook_account():
    """SFTPGo calls the plugin's hook on every upload with the hook account, which airflow-init
    creates with the role that su_intake's access_control gives that DAG only."""
    sftp = env("sftp")
    assert sftp["SFTPGO_COMMON__ACTIONS__EXECUTE_ON"] == "upload"
    assert "SFTPGO_COMMON__ACTIONS__EXECUTE_SYNC" not in sftp  # the upload does not wait
    hook = interpolate(
        sftp["SFTPGO_COMMON__ACTIONS__HOOK"],
        {"AIRFLOW_UPLOAD_HOOK_USER": "krok", "AIRFLOW_UPLOAD_HOOK_PASSWORD": "hemligt"},
    )
    port = SERVICES["airflow-apiserver"]["ports"][0].rsplit(":", 1)[1]
    assert hook == f"http://krok:hemligt@airflow-apiserver:{port}{URL_PREFIX}/hooks/upload"
    init = SERVICES["airflow-init"]["command"][-1]
    assert f"airflow roles create {pipeline.UPLOAD_HOOK_ROLE}\n" in init
    assert f"--role {pipeline.UPLOAD_HOOK_ROLE} " in init
    assert '--password "$${AIRFLOW_UPLOAD_HOOK_PASSWORD}"' in init
    assert set(env("airflow-init")) >= {"AIRFLOW_UPLOAD_HOOK_USER", "AIRFLOW_UPLOAD_HOOK_PASSWORD"}
    intake_dag = (ROOT / "dags" / "su_intake.py").read_text(encoding="utf-8")
    assert "access_control={\n        pipeline.UPLOAD_HOOK_ROLE: {" in intake_dag
    # the intake is started by the hook; its schedule is only the safety net
    assert "schedule=pipeline.INTAKE_POLL" in intake_dag


# --- .dockerignore -------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as Docker matches it (Go filepath.Match plus `**`)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


DOCKERIGNORE = [
    line.strip()
    for line in (ROOT / ".dockerignore").read_text().splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]
RULES = [
    (line.startswith("!"), _pattern_regex(line.lstrip("!").strip("/"))) for line in DOCKERIGNORE
]


def in_image(path: str) -> bool:
    """Whether the build context sends `path`: the last rule matching it or a parent decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    sent = True
    for negated, regex in RULES:
        if any(regex.match(candidate) for candidate in candidates):
            sent = negated
    return sent


NEVER_IN_IMAGE = [
    ".venv/bin/python",
    ".venv/lib/python3.11/site-packages/airflow/__init__.py",
    "var/inbox/0180/sukf_0180_2023-12.csv",
    "var/inbox/sukf_0180_2023-12.xlsx",
    "var/archive/0180/2023-12/0123456789abcdef/sukf_0180_2023-12.csv",
    ".warehouse/pseudonym.key",
    ".warehouse/pgdata/PG_VERSION",
    ".warehouse/pgdata/log",
    ".airflow/simple_auth_manager_passwords.json.generated",
    ".airflow/airflow.db",
    ".airflow/logs/dag_id=su_round/run_id=x/task_id=dbt_build/attempt=1.log",
    ".env",
    ".env.production",
    "src/.env",
    "dags/.env.local",
    "output/kolada/2023-12/v001/data.json",
    "output/aterkoppling/0180/2023-12/upload_1.md",
    "output/data_docs/index.html",
    "dbt_project/target/manifest.json",
    "dbt_project/target/partial_parse.msgpack",
    "dbt_project/target/compiled/sukvinnofrid/models/staging/stg_raw__case_records.sql",
    "dbt_project/logs/dbt.log",
    "dbt_project/dbt_packages/dbt_utils/dbt_project.yml",
    ".git/config",
    ".git/objects/ab/cdef",
    ".hypothesis/examples/x",
    ".pytest_cache/v/cache",
    "src/sukvinnofrid/__pycache__/cli.cpython-311.pyc",
    "src/sukvinnofrid.egg-info/PKG-INFO",
    "expectations/uncommitted/config.yml",
    "bench/results.json",
    "tests/fixtures/dbt/round1.csv",
    "infra/sftp/konton.key",
    "dbt_project/.warehouse/pseudonym.key",
    "src/var/inbox/x.csv",
]
NEEDED_IN_IMAGE = [
    "pyproject.toml",
    "requirements.lock",
    "src/sukvinnofrid/__init__.py",
    "src/sukvinnofrid/catalogue/variables.yaml",
    "src/sukvinnofrid/kolada/kpis.yaml",
    "dags/su_intake.py",
    "dags/su_feedback.py",
    "dags/su_round.py",
    "dbt_project/dbt_project.yml",
    "dbt_project/profiles.yml",
    "dbt_project/macros/casts.sql",
    "dbt_project/models/staging/stg_raw__case_records.sql",
    "dbt_project/seeds/reference/kommuner.csv",
    "infra/airflow_local_settings.py",
]


@pytest.mark.parametrize("path", NEVER_IN_IMAGE)
def test_dockerignore_keeps_personal_data_secrets_and_local_state_out(path):
    assert not in_image(path)


@pytest.mark.parametrize("path", NEEDED_IN_IMAGE)
def test_dockerignore_sends_what_the_image_runs(path):
    assert in_image(path)


def test_dockerignore_against_the_checkout():
    """Every file of the working tree: what the pipeline runs is sent, nothing under a local
    state or data directory is, and whatever the Dockerfile COPYs exists in the context."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    runtime = ("src/", "dags/", "dbt_project/", "infra/")
    for path in tracked:
        if path.startswith(runtime) and "/__pycache__/" not in path:
            assert in_image(path), path
    local_state = (
        ".venv/",
        "var/",
        "output/",
        ".warehouse/",
        ".airflow/",
        ".git/",
        "dbt_project/target/",
        "dbt_project/logs/",
        ".hypothesis/",
        ".pytest_cache/",
    )
    present = [
        p.relative_to(ROOT).as_posix()
        for top in local_state
        if (ROOT / top).exists()
        for p in list((ROOT / top).rglob("*"))[:2000]
        if p.is_file()
    ]
    assert [path for path in present if in_image(path)] == []
    for source in re.findall(r"^COPY (?:--\S+ )*(\S+) ", DOCKERFILE, flags=re.M):
        if source != ".":
            assert in_image(source) and (ROOT / source).exists(), source


def test_dockerignore_matching_follows_docker_semantics():
    """The matcher itself: the cases Docker documents (`*` stops at '/', `**` crosses it, a
    later `!` re-includes, a matching parent directory decides for its files)."""
    assert _pattern_regex("*.md").match("README.md") and not _pattern_regex("*.md").match("a/b.md")
    assert _pattern_regex("**/*.md").match("a/b/c.md") and _pattern_regex("**/*.md").match("c.md")
    assert _pattern_regex("temp?").match("temp1") and not _pattern_regex("temp?").match("temp/")
    assert not in_image("README.md") and not in_image("docs/architecture.md")
    assert in_image("src/sukvinnofrid/cli.py") and not in_image("src/sukvinnofrid/x.pyc")


# --- kommun accounts of the SFTP service ----------------------------------------------------------


def _openssh_key(kind: str = "ed25519", bits: int = 3072) -> tuple[str, str]:
    """(public key line, private key text) of a fresh key pair."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    private = (
        ed25519.Ed25519PrivateKey.generate()
        if kind == "ed25519"
        else rsa.generate_private_key(public_exponent=65537, key_size=bits)
    )
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    secret = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    return public, secret


KEY_POOL = [_openssh_key()[0] for _ in range(36)]
REPORTING_UNITS = sorted(accounts.known_codes() or [])


def _run_accounts(keys_dir: Path, accounts_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "infra" / "sftp" / "accounts.py"),
            str(keys_dir),
            str(accounts_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@st.composite
def _keys_by_code(draw) -> dict[str, list[str]]:
    """Up to 12 reporting units (kommuner and stadsdelar) with 1-3 keys of their own each."""
    codes = draw(st.lists(st.sampled_from(REPORTING_UNITS), min_size=1, max_size=12, unique=True))
    pool = iter(draw(st.permutations(KEY_POOL)))
    return {code: [next(pool) for _ in range(draw(st.integers(1, 3)))] for code in codes}


@settings(max_examples=40, deadline=None)
@given(_keys_by_code(), st.sampled_from(["", "# IT-avdelningen\n", "\n\n"]))
def test_each_account_may_only_upload_into_its_own_inbox_folder(keys_by_code, preamble):
    with tempfile.TemporaryDirectory() as keys, tempfile.TemporaryDirectory() as out:
        for code, lines in keys_by_code.items():
            text = preamble + "\n".join(f"{key} it@kommun{code}" for key in lines) + "\n"
            (Path(keys) / f"{code}.pub").write_text(text)
        result = _run_accounts(Path(keys), Path(out))
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in Path(out).iterdir()) == [accounts.ACCOUNTS_FILE]
        data = json.loads((Path(out) / accounts.ACCOUNTS_FILE).read_text())
    users = data["users"]
    assert [user["username"] for user in users] == sorted(keys_by_code)
    homes = [Path(user["home_dir"]) for user in users]
    folders = {folder["name"]: folder for folder in data["folders"]}
    assert len(folders) == len(data["folders"]) == len(users)
    for user, home in zip(users, homes, strict=True):
        code = user["username"]
        assert home == Path(accounts.INBOX) / code  # the folder the intake reads for this code
        assert not any(home in other.parents for other in homes)  # no account inside another's
        assert user["public_keys"] == keys_by_code[code]  # the comments dropped, nothing added
        # the inbox upload only; the download folder (the feedback the pipeline writes for
        # this code, outside every home) list and download only
        (download,) = user["virtual_folders"]
        assert download["virtual_path"] == "/aterkoppling"
        mapped = folders[download["name"]]
        assert mapped["filesystem"] == {"provider": 0}
        assert Path(mapped["mapped_path"]) == Path(accounts.DOWNLOAD) / code
        assert not any(Path(accounts.INBOX) in p.parents for p in [Path(mapped["mapped_path"])])
        assert user["permissions"] == {
            "/": ["list", "upload", "overwrite", "delete"],
            "/aterkoppling": ["list", "download"],
        }
        filters = user["filters"]
        assert filters["file_patterns"] == [{"path": "/", "denied_patterns": [".*"]}]
        assert set(filters["denied_protocols"]) == {"FTP", "DAV", "HTTP"}
        assert {"password", "keyboard-interactive"} <= set(filters["denied_login_methods"])
        assert filters["max_upload_file_size"] > MAX_FILE_BYTES and "password" not in user


@cache
def _bad_key_files():
    public, private = _openssh_key()
    ed25519_data = public.split()[1]
    short_rsa = _openssh_key("rsa", 2048)[0]
    return {
        "private key sent by mistake": ("0180.pub", private),
        "not base64": ("0180.pub", "ssh-ed25519 AAAA!!!not-base64"),
        "type and content differ": ("0180.pub", f"ssh-rsa {ed25519_data}"),
        "unknown key type": ("0180.pub", f"ssh-dss {ed25519_data}"),
        "RSA shorter than 3072 bits": ("0180.pub", short_rsa),
        "no key at all": ("0180.pub", "# bara en kommentar\n"),
        "a code that is not a kommun or stadsdel": ("9999.pub", public),
        "a file not named by its code": ("Stockholm.pub", public),
        "a lower-case stadsdel suffix": ("0180-rki.pub", public),
        "another kommun's key": ("0180.pub", KEY_POOL[0]),
    }


@pytest.mark.parametrize("case", sorted(_bad_key_files()))
def test_a_bad_key_file_changes_no_account_and_says_which_file(case, tmp_path):
    name, content = _bad_key_files()[case]
    keys, out = tmp_path / "nycklar", tmp_path / "konton"
    keys.mkdir(), out.mkdir()
    (keys / "2380.pub").write_text(KEY_POOL[0] + "\n")
    assert _run_accounts(keys, out).returncode == 0
    before = (out / accounts.ACCOUNTS_FILE).read_bytes()
    (keys / name).write_text(content)  # a bad one next to the good one
    result = _run_accounts(keys, out)
    assert result.returncode == 1 and "Kontofilen skrevs inte" in result.stderr
    assert name in result.stderr
    assert (out / accounts.ACCOUNTS_FILE).read_bytes() == before  # all or nothing
    assert sorted(p.name for p in out.iterdir()) == [accounts.ACCOUNTS_FILE]


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1).filter(lambda line: line.strip() and not line.lstrip().startswith("#")))
def test_no_arbitrary_line_becomes_a_key(line):
    with pytest.raises(accounts.AccountError):
        accounts.parse_public_key(line.strip(), "0180.pub rad 1")


def test_a_kommun_may_share_its_key_with_its_stadsdelar(tmp_path):
    (tmp_path / "0180.pub").write_text(KEY_POOL[1] + "\n")
    (tmp_path / "0180-RKI.pub").write_text(KEY_POOL[1] + "\n")
    result = _run_accounts(tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr
    users = json.loads((tmp_path / accounts.ACCOUNTS_FILE).read_text())["users"]
    assert [(u["username"], u["home_dir"]) for u in users] == [
        ("0180", f"{accounts.INBOX}/0180"),
        ("0180-RKI", f"{accounts.INBOX}/0180-RKI"),
    ]


def test_an_rsa_key_of_3072_bits_is_accepted(tmp_path):
    public = _openssh_key("rsa", 3072)[0]
    (tmp_path / "0180-RKI.pub").write_text(public + "\n")
    result = _run_accounts(tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr
    users = json.loads((tmp_path / accounts.ACCOUNTS_FILE).read_text())["users"]
    assert users[0]["public_keys"] == [" ".join(public.split()[:2])]


def test_the_feedback_the_quality_worker_writes_is_what_each_account_downloads():
    """The quality worker writes `<SUKF_FEEDBACK_DOWNLOAD>/<account>/…` on the volume the SFTP
    service mounts read-only where each account's download folder maps (accounts.DOWNLOAD),
    and only they and retention (which removes old reports, at the same path) mount it; the
    folder name the notice gives is the accounts' own."""
    from sukvinnofrid.quality import feedback

    quality = "airflow-worker-quality"
    download = env(quality)["SUKF_FEEDBACK_DOWNLOAD"]
    volume, read_only = volumes(quality)[download]
    assert not read_only and volumes("sftp")[accounts.DOWNLOAD] == (volume, True)
    assert {n for n in SERVICES if volume in {s for s, _ in volumes(n).values()}} == {
        quality,
        "sftp",
        "data-init",
        "airflow-worker-retention",
    }
    retention = "airflow-worker-retention"
    assert volumes(retention)[env(retention)["SUKF_FEEDBACK_DOWNLOAD"]] == (volume, False)
    download_at_init = next(t for t, (s, _) in volumes("data-init").items() if s == volume)
    assert _chowned()[download_at_init] == "50000"
    assert f"/{feedback.SFTP_FOLDER}" == accounts.DOWNLOAD_FOLDER
    # the contacts file sits beside the accounts file, read-only
    contacts = Path(env(quality)["SUKF_CONTACTS"])
    assert volumes(quality)[str(contacts.parent)] == (
        volumes("sftp")[str(Path(env("sftp")["SFTPGO_DATA_PROVIDER__NAME"]).parent)][0],
        True,
    )


def test_files_delivered_into_kommun_folders_are_landed_and_partial_uploads_are_not(
    clean_warehouse,
):
    """The layout the SFTP service writes: <inbox>/<code>/<file>, partial uploads in the hidden
    temp folder (and hidden names) until complete. The intake lands each kommun's file."""
    from sukvinnofrid import intake, pipeline
    from sukvinnofrid.synthetic import generate_round_files

    inbox = Path(os.environ["SUKF_INBOX"])
    delivered = []
    for code in ("0580", "2380"):
        (generated,) = generate_round_files(
            inbox / code, [code], ["2023-12"], cases_per_kommun=15, seed=int(code)
        )
        delivered.append(generated.path)
    partial = inbox / ".uploading"
    partial.mkdir()
    content = delivered[0].read_bytes()
    (partial / f".sftpgo-upload.x1.{delivered[0].name}").write_bytes(content[: len(content) // 2])
    (inbox / "0580" / ".~lock.sukf_0580_2023-12.csv#").write_bytes(b"")

    assert intake.inbox_files() == sorted(delivered)
    landed = pipeline.land_new_files()
    assert sorted((r["kommun"], r["status"]) for r in landed) == [
        ("0580", "landed"),
        ("2380", "landed"),
    ]
    assert pipeline.land_new_files() == []  # nothing new on the next run
