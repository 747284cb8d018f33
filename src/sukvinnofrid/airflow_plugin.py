"""The pipeline's Airflow plugin: a FastAPI app the Airflow api-server mounts at /sukvinnofrid.

    GET  /sukvinnofrid/                 the rounds' internal pages, for a signed-in team member
    GET  /sukvinnofrid/<root>/<path>    a file of the team's output roots (INTERNAL_ROOTS)
    POST /sukvinnofrid/hooks/upload     SFTPGo's upload hook: starts su_intake at once

Airflow mounts a plugin's app without any authentication of its own, so both parts check it
here with Airflow's: the pages take the signed-in user from Airflow's JWT (the UI's cookie or a
bearer token, `airflow.api_fastapi.core_api.security.get_user`) and ask the auth manager whether
that user may read the round DAG (`su_round`); a team member may, the upload hook's account may
not. The hook holds no credential: SFTPGo sends the hook account's name and password (HTTP basic,
from the hook URL), which the hook exchanges for a JWT at Airflow's /auth/token and uses for
Airflow's own REST API, so it can do exactly what that account may (trigger su_intake).

Airflow imports plugins in every process, so this module imports only what the app needs to be
built; Airflow's API security is imported when a request comes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar
from urllib.parse import quote

import httpx
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)

from .config import INTERNAL_SITE_ROOT, PUBLIC_SITE_ROOT, get_settings

URL_PREFIX = "/sukvinnofrid"
INTAKE_DAG = "su_intake"
# Who may read this DAG in Airflow may read the internal pages: the statistics team.
TEAM_DAG = "su_round"
# The output roots a team member may read: the internal pages and the draft under review, the
# public site they link to, every kommun's feedback and the Data Docs. Nothing else of the
# output (not the Kolada files' work or a backup) is served, and no folder is listed.
INTERNAL_ROOTS = (INTERNAL_SITE_ROOT, "granskning", PUBLIC_SITE_ROOT, "aterkoppling", "data_docs")

app = FastAPI(title="SU-Kvinnofrid", docs_url=None, redoc_url=None, openapi_url=None)
_bearer = HTTPBearer(auto_error=False)
_basic = HTTPBasic(auto_error=False)


class _SignIn(Exception):
    """No signed-in user on a browser's request: it is sent to Airflow's login."""


@app.exception_handler(_SignIn)
async def _to_login(request: Request, _: _SignIn) -> Response:
    from airflow.api_fastapi.app import get_auth_manager

    return RedirectResponse(
        get_auth_manager().get_url_login(next_url=str(request.url)),
        status_code=status.HTTP_303_SEE_OTHER,
    )


async def team_member(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
):
    """The signed-in Airflow user, who must be allowed to read the round DAG: 401 without a
    token (a browser is sent to the login instead), 403 for anyone else."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
    from airflow.api_fastapi.core_api.security import get_user

    try:
        user = await get_user(request, None, bearer)
    except HTTPException as error:
        if error.status_code == 401 and "text/html" in request.headers.get("accept", ""):
            raise _SignIn() from error
        raise
    if not get_auth_manager().is_authorized_dag(
        method="GET", details=DagDetails(id=TEAM_DAG), user=user
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Sidorna är statistikteamets.")
    return user


TeamMember = Annotated[object, Depends(team_member)]


@app.get("/", response_class=HTMLResponse)
async def start(_: TeamMember) -> str:
    """Links to each round's internal pages, the latest first."""
    output = get_settings().output
    published = sorted(
        (p.parent.name for p in output.glob(f"{INTERNAL_SITE_ROOT}/*/index.html")), reverse=True
    )
    drafts = sorted(
        (p.parent.parent.name for p in output.glob("granskning/*/intern/index.html")),
        reverse=True,
    )
    items = "".join(
        f'<li><a href="{INTERNAL_SITE_ROOT}/{round_id}/index.html">Omgång {round_id}</a></li>'
        for round_id in published
    ) + "".join(
        f'<li><a href="granskning/{round_id}/intern/index.html">Omgång {round_id}, utkast '
        "under granskning</a></li>"
        for round_id in drafts
    )
    return (
        '<!doctype html><html lang="sv"><meta charset="utf-8"><title>Interna sidor</title>'
        "<h1>SU-Kvinnofrid: interna sidor</h1>"
        f"<ul>{items or '<li>Ingen omgång är publicerad ännu.</li>'}</ul></html>"
    )


@app.get("/{root}/{path:path}")
async def internal_file(root: str, path: str, _: TeamMember) -> FileResponse:
    """A file of an internal root; a folder gives its index.html, never a listing."""
    if root not in INTERNAL_ROOTS:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    base = (get_settings().output / root).resolve()
    target = (base / path).resolve()
    if target.is_dir():
        target = target / "index.html"
    if not target.is_relative_to(base) or not target.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    return FileResponse(target)


def page_url(path: Path) -> str:
    """Where a team member opens a file of an internal root (e.g. the draft's Granskning, linked
    from the approval in Required Actions): this plugin's address under Airflow's base URL
    ([api] base_url, AIRFLOW__API__BASE_URL), or from the server's root when that is not set (the
    UI and the plugin share one host). A path inside the container would open nowhere."""
    from airflow.configuration import conf

    output = get_settings().output.resolve()
    relative = Path(path).resolve().relative_to(output)
    if relative.parts[0] not in INTERNAL_ROOTS:
        raise ValueError(f"{relative} is not served to the team (not in {INTERNAL_ROOTS})")
    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{base}{URL_PREFIX}/{quote(relative.as_posix())}"


def _api_root() -> str:
    """This api-server as seen from itself."""
    from airflow.configuration import conf

    return f"http://127.0.0.1:{conf.getint('api', 'port')}"


@app.post("/hooks/upload", status_code=status.HTTP_202_ACCEPTED)
async def upload_hook(
    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> dict:
    """Start su_intake for an upload, unless a run of it is queued already (it will list the
    inbox when it starts, after this upload). Nothing of the upload (its name can hold a
    personnummer) reaches Airflow: su_intake lists the inbox itself."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "Not authenticated", {"WWW-Authenticate": "Basic"}
        )
    runs = f"/api/v2/dags/{INTAKE_DAG}/dagRuns"
    async with httpx.AsyncClient(base_url=_api_root(), timeout=30) as client:
        login = _answer(
            await client.post(
                "/auth/token",
                json={"username": credentials.username, "password": credentials.password},
            )
        )
        client.headers["Authorization"] = f"Bearer {login['access_token']}"
        queued = _answer(await client.get(runs, params={"state": "queued", "limit": 1}))
        if queued["dag_runs"]:
            return {"dag_run_id": queued["dag_runs"][0]["dag_run_id"], "queued": True}
        started = _answer(await client.post(runs, json={"logical_date": None}))
        return {"dag_run_id": started["dag_run_id"], "queued": False}


def _answer(response: httpx.Response) -> dict:
    """Airflow's answer; its refusal (401, 403, ...) is the hook's, for SFTPGo's log."""
    if not response.is_success:
        raise HTTPException(response.status_code, response.text)
    return response.json()


class SukvinnofridPlugin(AirflowPlugin):
    name = "sukvinnofrid"
    fastapi_apps: ClassVar = [{"app": app, "url_prefix": URL_PREFIX, "name": "SU-Kvinnofrid"}]
    # A link in Airflow's menu to the team's pages (they open in the browser, not in a frame).
    external_views: ClassVar = [
        {"name": "SU-Kvinnofrid: interna sidor", "href": f"{URL_PREFIX}/", "destination": "nav"}
    ]
