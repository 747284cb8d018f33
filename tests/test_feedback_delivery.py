"""The feedback reaches the kommun: into the download folder of the SFTP account that delivered
the upload (never where the file's own claims would send it), and, where a contact is
configured, an e-mail notice through Airflow's SMTP notifier to a real SMTP server on
localhost."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import scalar
from local_servers import SmtpSink, smtp_connection
from sukvinnofrid import airflow_local, pipeline
from sukvinnofrid.privacy import find_personnummer
from sukvinnofrid.quality.feedback import report_path
from sukvinnofrid.synthetic import generate_round_files

ROUND = "2023-12"
KOMMUN, OTHER = "0580", "2380"  # Linköping, Östersund
CONTACT = "statistik@linkoping.example"


@pytest.fixture
def download(clean_warehouse, tmp_path, monkeypatch) -> Path:
    """The kommuner's download folders and contacts, as the quality worker has them."""
    folders = tmp_path / "nedladdning"
    contacts = tmp_path / "kontakter.csv"
    contacts.write_text(f"kod,e-post\n{KOMMUN},{CONTACT}\n{OTHER},s@ostersund.example\n")
    monkeypatch.setenv("SUKF_FEEDBACK_DOWNLOAD", str(folders))
    monkeypatch.setenv("SUKF_CONTACTS", str(contacts))
    monkeypatch.setenv("SUKF_SFTP_ADDRESS", "sftp.sukf.example:2022")
    return folders


def deliver(account: str, kommun: str, workdir: Path, seed: int, defects=()) -> Path:
    """A generated upload of `kommun` put into the inbox folder of `account`, as the SFTP
    server writes it (an upload under the same name replaces the earlier one)."""
    (generated,) = generate_round_files(
        workdir / f"{account}-{kommun}-{seed}",
        [kommun],
        [ROUND],
        cases_per_kommun=15,
        seed=seed,
        defects={(kommun, ROUND): list(defects)} if defects else None,
    )
    folder = Path(os.environ["SUKF_INBOX"]) / account if account else Path(os.environ["SUKF_INBOX"])
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(generated.path, folder / generated.path.name))


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_the_delivering_account_gets_the_feedback_whatever_the_file_claims(download, tmp_path):
    """A file in 0580's folder that says it is 2380's is blocked, and its feedback goes to 0580
    (who sent it), not to 2380; a file blocked for a personnummer gets feedback that does not
    repeat it; a file outside every account's folder gets none in a download folder."""
    deliver(KOMMUN, OTHER, tmp_path, seed=1)
    personal = deliver(OTHER, OTHER, tmp_path, seed=2, defects=["personnummer_in_klient"])
    (number,) = {
        personal.read_text(encoding="utf-8")[start:end]
        for start, end in find_personnummer(personal.read_text(encoding="utf-8"))
    }
    deliver("", KOMMUN, tmp_path, seed=3)  # the inbox itself: no account delivered it

    landed = pipeline.land_new_files()
    assert sorted((r["kommun"], r["status"]) for r in landed) == [
        (KOMMUN, "landed"),
        (OTHER, "blocked"),
        (OTHER, "blocked"),
    ]
    pipeline.gate_landed()
    written = {r["upload_id"]: r for r in pipeline.write_missing_feedback()}
    (claimed,) = [
        written[r["upload_id"]] for r in landed if "leveransmappen" in (r["message"] or "")
    ]
    (blocked,) = [written[r["upload_id"]] for r in landed if "personnummer" in (r["message"] or "")]
    unsent = written[next(r["upload_id"] for r in landed if r["kommun"] == KOMMUN)]
    assert (claimed["kommun"], claimed["account"]) == (OTHER, KOMMUN)
    assert (blocked["kommun"], blocked["account"]) == (OTHER, OTHER)
    assert (unsent["account"], unsent["download"]) == (None, None)

    files = tree(download)
    assert set(files) == {
        f"{KOMMUN}/{ROUND}/upload_{claimed['upload_id']}.html",
        f"{KOMMUN}/{ROUND}/upload_{claimed['upload_id']}.md",
        f"{OTHER}/{ROUND}/upload_{blocked['upload_id']}.html",
        f"{OTHER}/{ROUND}/upload_{blocked['upload_id']}.md",
    }
    assert claimed["download"] == f"aterkoppling/{ROUND}/upload_{claimed['upload_id']}.html"
    page = files[f"{KOMMUN}/{ROUND}/upload_{claimed['upload_id']}.html"].decode()
    assert f"leveransmappen för {KOMMUN} men gäller {OTHER}" in page
    # the kommun's copy is the statistics team's report, byte for byte
    internal = report_path(claimed["upload_id"], OTHER, ROUND).with_suffix(".html")
    assert internal.read_text(encoding="utf-8") == page
    personal_page = files[f"{OTHER}/{ROUND}/upload_{blocked['upload_id']}.html"].decode()
    assert "personnummer" in personal_page
    digits = number.replace("-", "").replace("+", "")
    assert all(
        number not in text.decode() and digits not in text.decode() for text in files.values()
    )


def test_a_corrected_upload_reaches_its_kommuns_folder_and_contact_under_airflow(
    download, clean_warehouse, tmp_path, monkeypatch
):
    """The kommun corrects its file (the same name, sent again into its folder): su_intake
    lands it, su_feedback writes its feedback into the kommun's download folder and nowhere
    else and e-mails the kommun's contact where to fetch it, every task on its first try."""
    deliver(KOMMUN, KOMMUN, tmp_path, seed=5, defects=["kon_invalid"])
    deliver(OTHER, OTHER, tmp_path, seed=6)
    pipeline.land_new_files()
    pipeline.gate_landed()
    pipeline.write_missing_feedback()
    before = tree(download)
    assert {name.split("/")[0] for name in before} == {KOMMUN, OTHER}

    corrected = deliver(KOMMUN, KOMMUN, tmp_path, seed=5)
    with SmtpSink() as sink:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(sink.port))
        intake = airflow_local.run_dag("su_intake")
        (landed,) = [v for verdicts in intake.results("land_uploads") for v in verdicts]
        assert (landed["kommun"], landed["status"]) == (KOMMUN, "landed")
        feedback = airflow_local.run_dag("su_feedback")
    for run in (intake, feedback):
        assert {(t.state, t.try_number) for t in run.tasks} == {("success", 1)}, run.dag_id
    assert {t.task_id for t in feedback.tasks} == {
        "quality_gate",
        "write_feedback",
        "notify_kommuner",
    }
    upload = landed["upload_id"]
    download_name = f"aterkoppling/{ROUND}/upload_{upload}.html"
    ((written,),) = feedback.results("write_feedback")
    assert (written["upload_id"], written["account"], written["status"]) == (
        upload,
        KOMMUN,
        "accepted",
    )
    assert written["download"] == download_name
    assert feedback.results("notify_kommuner") == [
        [{"upload_id": upload, "account": KOMMUN, "recipients": 1}]
    ]

    # in the kommun's folder and nowhere else: the other kommun's folder is as it was
    after = tree(download)
    new = {name: content for name, content in after.items() if name not in before}
    assert set(new) == {
        f"{KOMMUN}/{ROUND}/upload_{upload}.html",
        f"{KOMMUN}/{ROUND}/upload_{upload}.md",
    }
    assert {name: after[name] for name in before} == before
    internal = Path(written["feedback_report"])
    assert new[f"{KOMMUN}/{ROUND}/upload_{upload}.md"] == internal.read_bytes()
    assert f"Fil: {corrected.name}" in new[f"{KOMMUN}/{ROUND}/upload_{upload}.html"].decode()

    received = scalar(
        clean_warehouse,
        "SELECT extract(epoch FROM received_at) FROM raw.uploads WHERE upload_id = :u",
        u=upload,
    )
    seconds = (download / KOMMUN / ROUND / f"upload_{upload}.html").stat().st_mtime - float(
        received
    )
    print(f"landing to the kommun's download folder: {seconds:.1f} s")

    (mail,) = sink.received
    assert mail.recipients == [CONTACT] and mail.sender == "pipeline@scb.example"
    assert mail.subject == f"SU-Kvinnofrid: återkoppling på er fil för omgång {ROUND}"
    assert f"med kontot {KOMMUN}" in mail.body and f"hämta filen {download_name}" in mail.body
    assert f"sftp -P 2022 {KOMMUN}@sftp.sukf.example\nget {download_name}" in mail.body
    # nothing of the file: neither its name nor any of its values
    assert corrected.name not in mail.body
    values = {
        cell
        for line in corrected.read_text(encoding="utf-8-sig").splitlines()[1:]
        for cell in line.split(";")
        if len(cell) >= 4 and cell not in {KOMMUN, ROUND}
    }
    assert values and not any(value in mail.body for value in values)


def test_a_retried_notice_task_sends_each_notice_once_under_airflow(
    download, clean_warehouse, tmp_path, monkeypatch
):
    """Two kommuner's files land; su_feedback's notify_kommuner sends the first notice and
    cannot send the second (the mail server refuses its address), so the task fails; by its
    retry the server takes the address again, and the retry sends only the second notice: each
    address gets one e-mail, and ops.notices holds one row per upload and address."""
    import sqlite3
    import threading
    import time
    from contextlib import closing

    other_contact = "s@ostersund.example"
    deliver(KOMMUN, KOMMUN, tmp_path, seed=7)
    deliver(OTHER, OTHER, tmp_path, seed=8)
    pipeline.land_new_files()
    home = Path(airflow_local.airflow_environment()["AIRFLOW_HOME"])

    def failed_once() -> bool:
        if not (home / ".migrated").exists():  # run_dag creates the metadata DB first
            return False
        with closing(sqlite3.connect(airflow_local.metadata_db(home))) as db:
            return (
                db.execute(
                    "SELECT 1 FROM task_instance ti JOIN dag_run r ON r.run_id = ti.run_id"
                    " AND r.dag_id = ti.dag_id WHERE ti.dag_id = 'su_feedback'"
                    " AND ti.task_id = 'notify_kommuner' AND r.state = 'running'"
                    " AND ti.state = 'up_for_retry'"
                ).fetchone()
                is not None
            )

    with SmtpSink(reject_recipients=frozenset({other_contact})) as sink:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(sink.port))
        outcome = {}

        def run() -> None:
            try:
                outcome["run"] = airflow_local.run_dag("su_feedback")
            except airflow_local.DagRunFailed as failed:
                outcome["run"] = failed.report

        runner = threading.Thread(target=run)
        runner.start()
        deadline = time.monotonic() + 600
        while runner.is_alive() and not failed_once() and time.monotonic() < deadline:
            time.sleep(0.5)
        received_first_try = [mail.recipients for mail in sink.received]
        sink.reject_recipients = False  # the mail server is back before the retry
        runner.join(timeout=600)
    report = outcome["run"]
    assert report is not None and report.state == "success"
    tries = {t.task_id: (t.state, t.try_number) for t in report.tasks}
    assert tries == {
        "quality_gate": ("success", 1),
        "write_feedback": ("success", 1),
        "notify_kommuner": ("success", 2),
    }
    assert received_first_try == [[CONTACT]]
    assert sorted(address for mail in sink.received for address in mail.recipients) == sorted(
        [CONTACT, other_contact]
    )
    ((sent,),) = report.results("notify_kommuner")
    assert (sent["account"], sent["recipients"]) == (OTHER, 1)
    with clean_warehouse.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT account, recipient, count(*) FROM ops.notices GROUP BY 1, 2 ORDER BY 1"
        ).all()
    assert [tuple(row) for row in rows] == [(KOMMUN, CONTACT, 1), (OTHER, other_contact, 1)]
