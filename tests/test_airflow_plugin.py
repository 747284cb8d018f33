"""The pipeline's Airflow plugin under a real Airflow api-server (started here, SimpleAuthManager,
SQLite metadata DB): the statistics team's pages only for a signed-in user who may read the
round DAG, and SFTPGo's upload hook, which starts su_intake through Airflow's REST API with the
hook account's own JWT; then a run of su_intake lands the uploaded file."""

from __future__ import annotations

import secrets

import httpx
import pytest
import sqlalchemy as sa

from local_servers import AirflowApiServer
from sukvinnofrid import airflow_local
from sukvinnofrid.airflow_plugin import URL_PREFIX, page_url
from sukvinnofrid.config import get_settings
from sukvinnofrid.synthetic import generate_round_files

ROUND = "2023-12"
USERS = {
    "team": ("viewer", secrets.token_hex(8)),  # reads DAGs: the statistics team
    "hook": ("user", secrets.token_hex(8)),  # may trigger DAG runs: the upload hook
    "outsider": ("", secrets.token_hex(8)),  # an account with no role
    "admin": ("admin", secrets.token_hex(8)),
}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with AirflowApiServer(USERS, tmp_path_factory.mktemp("api")) as server:
        yield server


@pytest.fixture
def pages(clean_warehouse):
    """An internal root, a draft under review, and a published Kolada file beside them."""
    output = get_settings().output
    internal = output / "intern" / ROUND
    internal.mkdir(parents=True)
    (internal / "index.html").write_text("<h1>Start (intern)</h1>", encoding="utf-8")
    (internal / "tom").mkdir()
    draft = output / "granskning" / "2024-06" / "intern"
    draft.mkdir(parents=True)
    (draft / "index.html").write_text("<h1>Utkast</h1>", encoding="utf-8")
    kolada = output / "kolada" / ROUND / "v001"
    kolada.mkdir(parents=True)
    (kolada / "data.json").write_text("{}", encoding="utf-8")
    (internal / "kolada.json").symlink_to(kolada / "data.json")
    return internal


def get(api, path: str, *, user: str | None = None, **kwargs) -> httpx.Response:
    headers = kwargs.pop("headers", {})
    if user:
        headers["Authorization"] = f"Bearer {api.token(user)}"
    return httpx.get(f"{api.url}{URL_PREFIX}{path}", headers=headers, **kwargs)


def test_the_internal_pages_are_only_for_a_signed_in_team_member(api, pages):
    page = "/intern/2023-12/index.html"
    assert get(api, page).status_code == 401
    browser = get(api, page, headers={"Accept": "text/html"})
    assert browser.status_code == 303
    assert browser.headers["location"].startswith("/auth/login")
    assert "next=" in browser.headers["location"]
    assert get(api, page, user="outsider").status_code == 403
    assert get(api, page, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403

    shown = get(api, page, user="team")
    assert shown.status_code == 200
    assert shown.text == "<h1>Start (intern)</h1>"
    # the UI's own sign-in: Airflow's JWT cookie
    cookie = httpx.get(f"{api.url}{URL_PREFIX}{page}", cookies={"_token": api.token("team")})
    assert cookie.status_code == 200 and cookie.text == shown.text
    assert get(api, "/intern/2023-12/", user="team").text == shown.text

    start = get(api, "/", user="team")
    assert start.status_code == 200
    assert 'href="intern/2023-12/index.html"' in start.text
    assert 'href="granskning/2024-06/intern/index.html"' in start.text
    assert get(api, "/", headers={"Accept": "text/html"}).status_code == 303


def test_nothing_outside_the_internal_roots_is_served_and_no_folder_is_listed(api, pages):
    token = {"Authorization": f"Bearer {api.token('team')}"}
    assert (get_settings().output / "kolada" / ROUND / "v001" / "data.json").is_file()
    for path in (
        "/kolada/2023-12/v001/data.json",  # a root that is not the team's pages
        "/intern/2023-12/kolada.json",  # a link out of the root
        "/intern/2023-12/tom/",  # a folder without an index page: no listing
        "/intern/2023-12/%2e%2e/%2e%2e/kolada/2023-12/v001/data.json",
        "/intern/saknas.html",
    ):
        assert get(api, path, headers=token).status_code == 404, path


def test_the_approval_links_to_the_draft_on_the_api_server(api, pages, monkeypatch):
    """The approval's link (pipeline.review's 'granskning') opens the draft for a team member
    through the plugin, not a path inside the container."""
    draft = get_settings().output / "granskning" / "2024-06" / "intern" / "index.html"
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    assert page_url(draft) == f"{URL_PREFIX}/granskning/2024-06/intern/index.html"
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", f"{api.url}/")
    link = page_url(draft)
    assert link == f"{api.url}{URL_PREFIX}/granskning/2024-06/intern/index.html"
    assert httpx.get(link).status_code == 401
    opened = httpx.get(link, headers={"Authorization": f"Bearer {api.token('team')}"})
    assert opened.status_code == 200 and opened.text == "<h1>Utkast</h1>"
    with pytest.raises(ValueError, match="not served"):
        page_url(get_settings().output / "kolada" / ROUND / "v001" / "data.json")
    # the approval's text makes it a link (Markdown, which Required Actions renders)
    source = (get_settings().home / "dags" / "su_round.py").read_text(encoding="utf-8")
    assert "({{ ti.xcom_pull(task_ids='review')['granskning'] }})" in source


def test_an_upload_hook_starts_su_intake_which_lands_the_file(api, clean_warehouse):
    # In production the DAG processor puts su_intake in Airflow's DB; here a run does.
    airflow_local.run_dag("su_intake")
    inbox = get_settings().inbox
    (upload,) = generate_round_files(inbox / "1280", ["1280"], [ROUND], cases_per_kommun=12)
    # what SFTPGo posts on an upload (common.actions with an HTTP hook)
    notification = {
        "action": "upload",
        "username": "1280",
        "path": str(upload.path),
        "file_size": upload.path.stat().st_size,
        "status": 1,
        "protocol": "SFTP",
    }
    hook = f"{api.url}{URL_PREFIX}/hooks/upload"
    assert httpx.post(hook, json=notification).status_code == 401
    assert httpx.post(hook, json=notification, auth=("hook", "wrong")).status_code == 401
    # an account that may not trigger DAG runs cannot through the hook either
    for account in ("team", "outsider"):
        refused = httpx.post(hook, json=notification, auth=(account, USERS[account][1]))
        assert refused.status_code == 403, (account, refused.text)

    first = httpx.post(hook, json=notification, auth=("hook", USERS["hook"][1]))
    assert first.status_code == 202, first.text
    assert first.json()["queued"] is False
    # a second upload while that run waits for the scheduler does not queue another
    second = httpx.post(hook, json=notification, auth=("hook", USERS["hook"][1]))
    assert second.json() == {"dag_run_id": first.json()["dag_run_id"], "queued": True}

    admin = {"Authorization": f"Bearer {api.token('admin')}"}
    run_url = f"{api.url}/api/v2/dags/su_intake/dagRuns/{first.json()['dag_run_id']}"
    run = httpx.get(run_url, headers=admin).json()
    assert (run["state"], run["run_type"], run["triggering_user_name"]) == (
        "queued",
        "manual",
        "hook",
    )
    assert run["conf"] == {}, "nothing of the upload reaches Airflow's metadata"

    # the scheduler would now run it; `dags test` runs su_intake the same way
    report = airflow_local.run_dag("su_intake")
    (verdict,) = [v for verdicts in report.results("land_uploads") for v in verdicts]
    assert (verdict["file_name"], verdict["status"]) == (upload.path.name, "landed")
    assert not report.problems()
    with clean_warehouse.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT status FROM raw.uploads WHERE file_name = :name"),
                {"name": upload.path.name},
            ).scalar_one()
            == "landed"
        )
    assert httpx.delete(run_url, headers=admin).status_code == 204
