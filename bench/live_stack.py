"""Live-stack check: the production path through a running Airflow, natively (no Docker).

Usage: .venv/bin/python bench/live_stack.py [--corrections 3] [--workdir DIR]
                                             [--out bench/results.json]

Starts, each as a process of its own on an AIRFLOW_HOME and an embedded warehouse of its own
under the work dir, what docker-compose.yml starts as services: `airflow api-server` (with the
project's plugin: the internal pages and SFTPGo's upload hook), `airflow scheduler` (here with
the LocalExecutor instead of Celery workers), `airflow dag-processor` and `airflow triggerer`,
with SUKF_REQUIRE_APPROVAL=1 as in production; then nginx with infra/web/nginx.conf. SFTPGo is
not run (not installable here); the script does what it does for a completed upload: the file
appears in the account's folder of the inbox by a rename from the hidden partial-upload folder,
then SFTPGo's upload hook is called exactly as docker-compose.yml configures it (HTTP POST of
the event as JSON to /sukvinnofrid/hooks/upload on the api-server, basic auth as the hook user
from the URL).

1. The demo round (the synthetic generator, `cli.generate_demo`) is uploaded account by account,
   each upload calling the hook; timed until every account's feedback is in its download folder
   and until su_round waits for the approval (human-in-the-loop) of the draft.
2. While it waits, one kommun's corrected upload, N times: from the upload to its feedback
   report in the account's download folder (SUKF_FEEDBACK_DOWNLOAD), with the parts as Airflow
   recorded them (REST API), and that su_round still waits at its approval afterwards.
3. The draft is approved through Airflow's HITL REST endpoint as the statistics team's account;
   timed until the round's site is published.
4. nginx serves output/rapport: every public file is served as it is on disk; the internal
   pages (which exist on disk) are not; the api-server's /sukvinnofrid/ pages answer 401 (or a
   redirect to the login for a browser) without credentials and 200 for a team account.

Every finished DAG run's tasks must have succeeded (or been skipped) on their first try. All
processes are stopped at the end, also on failure, and none may be left. The figures go to
`live_stack` in bench/results.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil
from national_round import ROOT, airflow_environment, run_measured, stop_warehouse

from sukvinnofrid import airflow_local
from sukvinnofrid.cli import DEMO_KOMMUNER, DEMO_ROUND, generate_demo
from sukvinnofrid.config import INTERNAL_SITE_ROOT, PUBLIC_SITE_ROOT, get_settings

ROUND = DEMO_ROUND
CORRECTING = "0380"  # Uppsala, as bench/national_round.py corrects it
DAGS = ("su_intake", "su_feedback", "su_round", "su_reminders", "su_retention")
# SimpleAuthManager users (the production compose uses FAB roles instead, see bench/README.md):
# the statistics team (approves), a reader, and the account SFTPGo's hook sends.
TEAM, READER, HOOK = "statistik", "lasare", "uppladdning"
ROLES = {TEAM: "user", READER: "viewer", HOOK: "user"}


class Stack:
    """The running processes, stopped together."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.processes: dict[str, subprocess.Popen] = {}
        (workdir / "logs").mkdir(parents=True, exist_ok=True)

    def start(self, name: str, args: list[str]) -> None:
        log = (self.workdir / "logs" / f"{name}.log").open("w")
        self.processes[name] = subprocess.Popen(
            args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                log = (self.workdir / "logs" / f"{name}.log").read_text()[-3000:]
                raise RuntimeError(f"{name} ended with exit code {process.returncode}:\n{log}")

    def stop(self) -> None:
        """SIGTERM to each process group (the scheduler's task processes are in its group), the
        web server first and the api-server last; SIGKILL after 30 s."""
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            print(f"stopped {name} (exit code {process.returncode})", flush=True)


def stack_environment(workdir: Path, port: int) -> dict[str, str]:
    """The benchmark's warehouse, inbox, archive, outputs, download folders and AIRFLOW_HOME
    under workdir (bench/national_round.py), Airflow configured as airflow_local configures it,
    and the settings docker-compose.yml's x-airflow-env gives every Airflow service."""
    bench = airflow_environment(workdir)
    os.environ.clear()
    os.environ.update(bench)
    get_settings.cache_clear()
    env = airflow_local.airflow_environment()
    passwords = workdir / "passwords.json"
    passwords.write_text(json.dumps({user: secrets.token_urlsafe(16) for user in ROLES}))
    from cryptography.fernet import Fernet

    env.update(
        {
            "SUKF_REQUIRE_APPROVAL": "1",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{user}:{role}" for user, role in ROLES.items()
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    return env


def password(env: dict[str, str], user: str) -> str:
    return json.loads(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).read_text())[
        user
    ]


class Api:
    """Airflow's REST API as the statistics team's account."""

    def __init__(self, url: str, user: str, secret: str) -> None:
        response = httpx.post(f"{url}/auth/token", json={"username": user, "password": secret})
        response.raise_for_status()
        self.token = response.json()["access_token"]
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def get(self, path: str, **params) -> dict:
        response = self.client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def runs(self, dag_id: str) -> list[dict]:
        runs = self.get(f"/api/v2/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]
        return sorted(runs, key=lambda run: run["run_after"])

    def tasks(self, dag_id: str, run_id: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)[
            "task_instances"
        ]

    def result(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1):
        return self.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/"
            "return_value",
            map_index=map_index,
        )["value"]


def wait_for(what: str, check, stack: Stack, seconds: float, every: float = 0.2):
    """check() until it returns something true; the processes must stay up meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        stack.check_alive()
        time.sleep(every)
    raise TimeoutError(f"timed out after {seconds:.0f} s waiting for {what}")


def when(stamp: str | None) -> float | None:
    return dt.datetime.fromisoformat(stamp).timestamp() if stamp else None


def upload(inbox: Path, account: str, source: Path) -> tuple[Path, float]:
    """As SFTPGo with SFTPGO_COMMON__UPLOAD_MODE=1 delivers: written into the hidden partial
    folder, then renamed into the account's folder once complete."""
    partial = inbox / ".uploading"
    partial.mkdir(parents=True, exist_ok=True)
    (inbox / account).mkdir(parents=True, exist_ok=True)
    staged = partial / f"{uuid.uuid4().hex}{source.suffix}"
    shutil.copyfile(source, staged)
    target = inbox / account / source.name
    os.replace(staged, target)
    return target, time.time()


def call_upload_hook(api_url: str, secret: str, account: str, path: Path) -> dict:
    """The call SFTPGo makes after a completed upload (docker-compose.yml:
    SFTPGO_COMMON__ACTIONS__HOOK, credentials in the URL): an HTTP POST of its event as JSON."""
    started = time.time()
    scheme, rest = api_url.split("://")
    response = httpx.post(
        f"{scheme}://{HOOK}:{secret}@{rest}/sukvinnofrid/hooks/upload",
        json={
            "action": "upload",
            "username": account,
            "path": str(path),
            "virtual_path": f"/{path.name}",
            "file_size": path.stat().st_size,
            "fs_provider": 0,
            "status": 1,
            "protocol": "SFTP",
            "ip": "127.0.0.1",
            "session_id": uuid.uuid4().hex,
            "timestamp": time.time_ns(),
        },
        timeout=60,
    )
    if response.status_code != 202:
        raise RuntimeError(f"upload hook answered {response.status_code}: {response.text}")
    return {"seconds": round(time.time() - started, 3), **response.json()}


def reports(download: Path, account: str) -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in (download / account / ROUND).glob("upload_*.html")}


def waiting_round(api: Api) -> str | None:
    """The su_round run that waits at its approval, if any."""
    for run in api.runs("su_round"):
        if run["state"] == "running":
            states = {t["task_id"]: t["state"] for t in api.tasks("su_round", run["dag_run_id"])}
            if states.get("approve_publication") == "awaiting_input":
                return run["dag_run_id"]
    return None


def idle(api: Api, dag_id: str) -> bool:
    return not any(run["state"] in ("queued", "running") for run in api.runs(dag_id))


def land_demo(stack: Stack, api: Api, env: dict[str, str], url: str) -> dict:
    """The demo round uploaded account by account, as SFTPGo delivers it."""
    settings = get_settings()
    generated = Path(tempfile.mkdtemp(dir=stack.workdir, prefix="demo-"))
    files = generate_demo(generated, ROUND, 80, 2023)
    started = time.time()
    hooks = []
    for path in files:
        # the sidecar (kommun and round), if any, before the file it describes
        for part in sorted(path.parent.iterdir(), key=lambda p: p == path):
            landed, _ = upload(settings.inbox, path.parent.name, part)
        hooks.append(call_upload_hook(url, password(env, HOOK), path.parent.name, landed))
    download = settings.feedback_download
    every_report = wait_for(
        "every demo account's feedback",
        lambda: (
            all(reports(download, kommun) for kommun in DEMO_KOMMUNER)
            and max(max(reports(download, k).values()) for k in DEMO_KOMMUNER)
        ),
        stack,
        1800,
        1,
    )
    print(f"demo round: every account's feedback {every_report - started:.1f} s", flush=True)
    run_id = wait_for("su_round at its approval", lambda: waiting_round(api), stack, 3600, 2)
    waiting = time.time()
    print(f"demo round: su_round {run_id} waits for approval {waiting - started:.1f} s", flush=True)
    # what Required Actions shows the reviewer, and whether its link opens the draft
    asked = api.get(
        f"/api/v2/dags/su_round/dagRuns/{run_id}/taskInstances/approve_publication/-1/hitlDetails"
    )
    links = re.findall(r"\]\((\S+?)\)", asked["body"] or "")
    opened = {link: api.client.get(link).status_code for link in links}
    return {
        "files": len(files),
        "hook_calls_seconds": [h["seconds"] for h in hooks],
        "hook_calls_queued": sum(h["queued"] for h in hooks),
        "every_feedback_seconds": round(every_report - started, 1),
        "su_round_awaits_approval_seconds": round(waiting - started, 1),
        "su_round_run": run_id,
        "approval_subject": asked["subject"],
        "approval_links_opened": opened,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def correction(stack: Stack, api: Api, env: dict[str, str], url: str, number: int) -> dict:
    """One kommun's corrected upload while su_round waits at its approval: the seconds from the
    upload to its feedback in the account's download folder, and the parts as Airflow recorded
    them (hook call, the su_intake run it started, the su_feedback run the asset started)."""
    from sukvinnofrid.synthetic import generate_round_files

    settings = get_settings()
    waiting_before = waiting_round(api)
    before = reports(settings.feedback_download, CORRECTING)
    feedback_runs_before = {run["dag_run_id"] for run in api.runs("su_feedback")}
    (corrected,) = generate_round_files(
        stack.workdir / f"correction-{number}",
        [CORRECTING],
        [ROUND],
        cases_per_kommun=80,
        seed=2024 + number,
        formats={CORRECTING: DEMO_KOMMUNER[CORRECTING]},
    )
    load = os.getloadavg()
    path, uploaded = upload(settings.inbox, CORRECTING, corrected.path)
    hook = call_upload_hook(url, password(env, HOOK), CORRECTING, path)
    new = wait_for(
        "the corrected upload's feedback",
        lambda: set(reports(settings.feedback_download, CORRECTING)) - set(before),
        stack,
        900,
    )
    (report,) = new
    arrived = report.stat().st_mtime
    wait_for("su_feedback to finish", lambda: idle(api, "su_feedback"), stack, 600, 0.5)
    intake_run = next(r for r in api.runs("su_intake") if r["dag_run_id"] == hook["dag_run_id"])
    # the su_feedback run that wrote the report: the last new one started before it
    feedback_run = [
        r
        for r in api.runs("su_feedback")
        if r["dag_run_id"] not in feedback_runs_before and when(r["start_date"]) <= arrived
    ][-1]
    verdicts = [
        v
        for t in api.tasks("su_intake", intake_run["dag_run_id"])
        if t["task_id"] == "land_uploads" and t["state"] == "success"
        for v in api.result("su_intake", intake_run["dag_run_id"], "land_uploads", t["map_index"])
    ]
    if [v["status"] for v in verdicts] != ["landed"]:
        raise RuntimeError(f"the corrected upload was not landed: {verdicts}")
    waiting_after = waiting_round(api)
    if not waiting_before or waiting_after != waiting_before:
        raise RuntimeError(
            f"su_round was not waiting at its approval throughout: {waiting_before} -> "
            f"{waiting_after}"
        )
    # su_round is at max_active_runs: the gate's asset events wait for it, not new runs
    queued = api.client.get("/api/v2/dags/su_round/assets/queuedEvents")
    queued_events = queued.json()["total_entries"] if queued.status_code == 200 else 0
    tasks = {t["task_id"]: t for t in api.tasks("su_feedback", feedback_run["dag_run_id"])}
    result = {
        "upload_to_download_folder_seconds": round(arrived - uploaded, 2),
        "report": report.name,
        "hook_call_seconds": hook["seconds"],
        "hook_started_run": not hook["queued"],
        # queued by the hook until the scheduler started it
        "su_intake_queued_seconds": round(when(intake_run["start_date"]) - uploaded, 2),
        "su_intake_run_seconds": round(
            when(intake_run["end_date"]) - when(intake_run["start_date"]), 2
        ),
        # the asset event to the su_feedback run's start: the scheduler's loop
        "su_intake_end_to_su_feedback_start_seconds": round(
            when(feedback_run["start_date"]) - when(intake_run["end_date"]), 2
        ),
        "quality_gate_seconds": round(tasks["quality_gate"]["duration"], 2),
        "write_feedback_seconds": round(tasks["write_feedback"]["duration"], 2),
        "su_feedback_start_to_report_seconds": round(arrived - when(feedback_run["start_date"]), 2),
        "su_round_waiting_at_approval": waiting_after,
        "su_round_queued_asset_events": queued_events,
        "load_average": [round(x, 2) for x in load],
    }
    print(f"correction {number}: {result}", flush=True)
    return result


def ended_state(api: Api, run_id: str) -> str | None:
    (run,) = [r for r in api.runs("su_round") if r["dag_run_id"] == run_id]
    return run["state"] if run["state"] in ("success", "failed") else None


def approve(stack: Stack, api: Api, run_id: str) -> dict:
    """The statistics team's answer, as the Required Actions page sends it; then the run."""
    answered = time.time()
    response = api.client.patch(
        f"/api/v2/dags/su_round/dagRuns/{run_id}/taskInstances/approve_publication/-1/hitlDetails",
        json={"chosen_options": ["Approve"], "params_input": {}},
    )
    if response.status_code != 200:
        raise RuntimeError(f"approval answered {response.status_code}: {response.text}")
    state = wait_for(
        "the approved su_round run to end", lambda: ended_state(api, run_id), stack, 3600, 2
    )
    ended = time.time()
    if state != "success":
        raise RuntimeError(f"the approved su_round run ended {state}")
    published = api.result("su_round", run_id, "publish_kolada")
    site = get_settings().output / PUBLIC_SITE_ROOT / ROUND / "index.html"
    if not site.is_file() or published.get("round_id") != ROUND:
        raise RuntimeError(f"nothing was published: {published}")
    print(f"approved: published {published.get('version')} in {ended - answered:.1f} s")
    return {
        "approval_to_published_seconds": round(ended - answered, 1),
        "published": {k: published.get(k) for k in ("round_id", "version")},
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


NGINX_MAIN = """\
# Generated by bench/live_stack.py: the main configuration of the nginx image (mime types, the
# server block of infra/web/nginx.conf included), with this work dir's paths.
user nobody nogroup;
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    sendfile on;
    include {prefix}/default.conf;
}}
"""


def start_web(stack: Stack, port: int) -> dict:
    """nginx with infra/web/nginx.conf, two lines changed: the port it listens on (localhost)
    and its root (this work dir's output/rapport instead of the mounted volume)."""
    prefix = stack.workdir / "nginx"
    prefix.mkdir()
    product = (ROOT / "infra" / "web" / "nginx.conf").read_text()
    changes = {
        "listen 8080;": f"listen 127.0.0.1:{port};",
        "root /usr/share/nginx/html;": f"root {get_settings().output / PUBLIC_SITE_ROOT};",
    }
    for old, new in changes.items():
        if product.count(old) != 1:
            raise RuntimeError(f"infra/web/nginx.conf no longer has {old!r} once")
        product = product.replace(old, new)
    (prefix / "default.conf").write_text(product)
    (prefix / "nginx.conf").write_text(NGINX_MAIN.format(prefix=prefix))
    checked = subprocess.run(
        ["nginx", "-t", "-c", str(prefix / "nginx.conf"), "-p", str(prefix)],
        capture_output=True,
        text=True,
    )
    if checked.returncode != 0:
        raise RuntimeError(f"nginx -t: {checked.stderr}")
    stack.start("web", ["nginx", "-c", str(prefix / "nginx.conf"), "-p", str(prefix)])
    web = f"http://127.0.0.1:{port}"
    wait_for("nginx", lambda: _answers(f"{web}/healthz"), stack, 30)
    return {"changed_lines": changes, "url": web}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def check_web(web: str) -> dict:
    """Every public file served as it is on disk; the internal pages (on disk) not served."""
    output = get_settings().output
    site = output / PUBLIC_SITE_ROOT
    public = sorted(p for p in site.rglob("*") if p.is_file() and not p.name.startswith("."))
    wrong = []
    with httpx.Client(base_url=web, timeout=30) as client:
        for path in public:
            response = client.get("/" + path.relative_to(site).as_posix())
            if response.status_code != 200 or response.content != path.read_bytes():
                wrong.append(f"{path.relative_to(site)}: {response.status_code}")
        front = client.get(f"/{ROUND}/")
        internal = output / INTERNAL_SITE_ROOT / ROUND
        hidden = {
            "the internal root": internal / "index.html",
            "the round console": internal / "omgang.html",
            "Granskning": internal / "granskning.html",
            "leveranser.csv": internal / "data" / "leveranser.csv",
        }
        missing = [name for name, path in hidden.items() if not path.is_file()]
        if missing:
            raise RuntimeError(f"internal pages not written, nothing to check: {missing}")
        refused = {}
        for name, path in hidden.items():
            inside = path.relative_to(internal).as_posix()
            for address in (
                f"/{path.relative_to(output).as_posix()}",
                f"/{ROUND}/{inside}",
                f"/{ROUND}/intern/{inside}",
                f"/%2e%2e/{path.relative_to(output).as_posix()}",
            ):
                answer = client.get(address)
                # the public round's index.html has the internal root's name, not its content
                leaked = answer.status_code == 200 and answer.content == path.read_bytes()
                refused[f"{name} {address}"] = f"{answer.status_code}{' (the page)' * leaked}"
        listing = client.get(f"/{ROUND}/data/")
    served = {k: v for k, v in refused.items() if "(the page)" in v}
    return {
        "public_files": len(public),
        "public_files_not_served_as_on_disk": wrong,
        "round_folder_status": front.status_code,
        "internal_addresses_refused": refused,
        "internal_addresses_served": served,
        "folder_listing_status": listing.status_code,
    }


def check_internal_pages(url: str, env: dict[str, str]) -> dict:
    """The api-server's /sukvinnofrid/ pages: without credentials 401 (a browser: a redirect to
    Airflow's login); with a team account's token, as a bearer or as the UI's cookie, 200."""
    pages = [
        "/sukvinnofrid/",
        f"/sukvinnofrid/{INTERNAL_SITE_ROOT}/{ROUND}/omgang.html",
        f"/sukvinnofrid/{INTERNAL_SITE_ROOT}/{ROUND}/granskning.html",
        f"/sukvinnofrid/{INTERNAL_SITE_ROOT}/{ROUND}/data/leveranser.csv",
    ]
    # the statistics team's copy of a kommun's feedback report
    output = get_settings().output
    feedback = sorted((output / "aterkoppling" / CORRECTING / ROUND).glob("upload_*.html"))[-1]
    pages.append(f"/sukvinnofrid/{feedback.relative_to(output).as_posix()}")
    tokens = {user: Api(url, user, password(env, user)).token for user in (TEAM, READER, HOOK)}
    found: dict[str, dict] = {}
    with httpx.Client(base_url=url, timeout=30) as client:
        for page in pages:
            anonymous = client.get(page)
            browser = client.get(page, headers={"Accept": "text/html"})
            found[page] = {
                "no_credentials": anonymous.status_code,
                "browser_no_credentials": browser.status_code,
                "browser_redirect": browser.headers.get("location", ""),
                **{
                    f"{user}_bearer": client.get(
                        page, headers={"Authorization": f"Bearer {token}"}
                    ).status_code
                    for user, token in tokens.items()
                },
                "team_cookie": client.get(
                    page, headers={"Cookie": f"_token={tokens[TEAM]}"}
                ).status_code,
            }
        hook = {
            "no_credentials": client.post("/sukvinnofrid/hooks/upload").status_code,
            "wrong_password": client.post(
                "/sukvinnofrid/hooks/upload", auth=(HOOK, "fel-lösenord")
            ).status_code,
        }
    return {"pages": found, "upload_hook": hook}


def first_try_problems(api: Api) -> tuple[int, list[str]]:
    """Every task of every run so far that failed or needed a retry."""
    problems, checked = [], 0
    for dag_id in DAGS:
        for run in api.runs(dag_id):
            for task in api.tasks(dag_id, run["dag_run_id"]):
                checked += 1
                state, tries = task["state"], task["try_number"]
                unfinished = run["state"] in ("queued", "running") and state in (
                    None,
                    "scheduled",
                    "queued",
                    "running",
                    "deferred",
                    "awaiting_input",
                )
                if not (
                    unfinished
                    or (state == "success" and tries == 1)
                    or (state == "skipped" and tries <= 1)
                ):
                    problems.append(
                        f"{dag_id} {run['dag_run_id']} {task['task_id']}[{task['map_index']}]: "
                        f"{state}, try {tries}"
                    )
    return checked, problems


def leftovers(workdir: Path) -> list[str]:
    """Processes still running on this work dir: its Airflow home or its warehouse."""
    mine = str(workdir)
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            environ = process.environ() if mine not in cmdline else {}
        except psutil.Error:
            continue
        if process.info["pid"] == os.getpid():
            continue
        if mine in cmdline or environ.get("AIRFLOW_HOME", "").startswith(mine):
            found.append(f"{process.info['pid']} {cmdline[:160]}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corrections", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
    # stopped from outside (a background job ignores SIGINT): still shut the stack down
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sukf-live-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)  # nginx's workers (user nobody) read output/rapport under it
    api_port, web_port = free_ports()
    env = stack_environment(workdir, api_port)
    url = f"http://127.0.0.1:{api_port}"
    stack = Stack(workdir, env)
    result: dict = {
        "date": dt.date.today().isoformat(),
        "workdir": str(workdir),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        setup = run_measured(
            "from sukvinnofrid import airflow_local, warehouse; warehouse.ensure_schema(); "
            "airflow_local.ensure_metadata_db(airflow_local.airflow_environment())",
            env,
        )
        print(f"metadata DB and warehouse schema {setup}", flush=True)
        # the production image's cluster policy (every task on its stage's queue)
        config = Path(env["AIRFLOW_HOME"]) / "config"
        config.mkdir(exist_ok=True)
        shutil.copyfile(
            ROOT / "infra" / "airflow_local_settings.py", config / "airflow_local_settings.py"
        )
        airflow = str(Path(sys.executable).with_name("airflow"))
        started = time.time()
        for service in ("api-server", "scheduler", "dag-processor", "triggerer"):
            stack.start(service, [airflow, service])
        health = wait_for("every Airflow service healthy", lambda: _healthy(url), stack, 300, 1)
        api = Api(url, TEAM, password(env, TEAM))
        wait_for(
            "the DAGs parsed and unpaused",
            lambda: all(_dag_ready(api, dag_id) for dag_id in DAGS),
            stack,
            300,
            1,
        )
        result["services_up_seconds"] = round(time.time() - started, 1)
        result["health"] = health
        print(f"stack up in {result['services_up_seconds']} s", flush=True)
        result["demo_round"] = land_demo(stack, api, env, url)
        corrections = [
            correction(stack, api, env, url, number) for number in range(args.corrections)
        ]
        latencies = [c["upload_to_download_folder_seconds"] for c in corrections]
        result["corrections"] = corrections
        result["correction_latency_seconds"] = {
            "min": min(latencies),
            "median": statistics.median(latencies),
            "max": max(latencies),
        }
        result["safety_net_interval_seconds"] = _poll_seconds()
        result["approval"] = approve(stack, api, result["demo_round"]["su_round_run"])
        web = start_web(stack, web_port)
        result["web"] = {"changed_lines": web["changed_lines"], **check_web(web["url"])}
        result["internal_pages"] = check_internal_pages(url, env)
        checked, problems = first_try_problems(api)
        result["tasks_checked"], result["task_problems"] = checked, problems
        result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        stack.stop()
        stop_warehouse(env)
        result["left_running"] = wait_for_none(workdir)
    failures = _failures(result)
    result["failures"] = failures
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["live_stack"] = result
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("correction_latency_seconds", "failures")}))
    return 1 if failures else 0


def wait_for_none(workdir: Path) -> list[str]:
    deadline = time.monotonic() + 30
    while (found := leftovers(workdir)) and time.monotonic() < deadline:
        time.sleep(1)
    return found


def _failures(result: dict) -> list[str]:
    failures = list(result.get("task_problems", []))
    failures += [f"left running: {p}" for p in result["left_running"]]
    web = result["web"]
    failures += [f"public file: {w}" for w in web["public_files_not_served_as_on_disk"]]
    failures += [
        f"internal page served: {k} {v}" for k, v in web["internal_addresses_served"].items()
    ]
    if web["folder_listing_status"] not in (403, 404):
        failures.append(f"folder listing answered {web['folder_listing_status']}")
    for page, answers in result["internal_pages"]["pages"].items():
        if answers["no_credentials"] != 401:
            failures.append(f"{page} without credentials: {answers['no_credentials']}")
        if answers["browser_no_credentials"] != 303 or "login" not in answers["browser_redirect"]:
            failures.append(f"{page} browser without credentials: {answers}")
        for key in (f"{TEAM}_bearer", f"{READER}_bearer", "team_cookie"):
            if answers[key] != 200:
                failures.append(f"{page} {key}: {answers[key]}")
    opened = result["demo_round"]["approval_links_opened"]
    if not opened or set(opened.values()) != {200}:
        failures.append(f"the approval's link does not open the draft: {opened}")
    for case, status_code in result["internal_pages"]["upload_hook"].items():
        if status_code != 401:
            failures.append(f"upload hook {case}: {status_code}")
    return failures


def _healthy(url: str) -> dict | None:
    try:
        health = httpx.get(f"{url}/api/v2/monitor/health", timeout=5).json()
    except (httpx.TransportError, ValueError):
        return None
    parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return health if all(health.get(p, {}).get("status") == "healthy" for p in parts) else None


def _dag_ready(api: Api, dag_id: str) -> bool:
    response = api.client.get(f"/api/v2/dags/{dag_id}")
    return response.status_code == 200 and not response.json()["is_paused"]


def _poll_seconds() -> float:
    from sukvinnofrid import pipeline

    return pipeline.INTAKE_POLL.total_seconds()


def free_ports() -> tuple[int, int]:
    import socket

    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))
        second.bind(("127.0.0.1", 0))
        return first.getsockname()[1], second.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
