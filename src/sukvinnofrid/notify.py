"""E-mail in Swedish, sent with Airflow's SMTP notifier (the SMTP provider's `SmtpNotifier`)
over Airflow's connection `smtp_default`. Every text that leaves the pipeline by e-mail is here:

- to the statistics team when a pipeline task has failed for good (`task_failed`, every task's
  `on_failure_callback`): DAG, task, file and run, and the error with any personnummer masked;
- to a kommun's contacts when the feedback on its upload is in its SFTP download folder
  (`notify_kommuner`): where to fetch it; nothing from the file, its cases or any credential;
- to a kommun's contacts on the round calendar's reminder days when it has not delivered
  (`remind_kommuner`): the round, its last delivery day and publication, how to deliver.

The mail server is Airflow's connection (`AIRFLOW_CONN_SMTP_DEFAULT`: host, port, login,
password; in its extra `from_email`, and `disable_ssl`/`disable_tls` as the server needs). The
recipients are the project's: `SUKF_ALERT_EMAIL` (comma-separated) for the team, the contacts
file (`config.Settings.contacts_file`) for the kommuner. Without the connection or recipients
the log says that no e-mail was sent.
"""

from __future__ import annotations

import csv
import html
import logging
import os
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from airflow.providers.common.compat.notifier import BaseNotifier
from airflow.providers.common.compat.sdk import AirflowNotFoundException
from airflow.providers.smtp.hooks.smtp import SmtpHook
from airflow.providers.smtp.notifications.smtp import SmtpNotifier

from .config import get_settings
from .formats import MONTHS, swedish_date
from .privacy import mask_personnummer
from .readers import KOMMUN_KOD

log = logging.getLogger(__name__)

CONN_ID = "smtp_default"
MAX_ERROR_CHARS = 2000
# One address, as a contacts file line gives it (no display name, no list).
ADDRESS = re.compile(r"^[^@\s,;<>\"']+@[^@\s,;<>\"']+\.[^@\s,;<>\"']+\Z")
CONTACT_COLUMNS = ["kod", "e-post"]


def _smtp_configured() -> bool:
    try:
        SmtpHook.get_connection(CONN_ID)
    except AirflowNotFoundException:
        return False
    return True


def _paragraphs(*blocks: str | tuple[str]) -> str:
    """HTML of paragraphs (a 1-tuple: preformatted), every text escaped."""
    return "\n".join(
        f"<pre>{html.escape(block[0])}</pre>"
        if isinstance(block, tuple)
        else f"<p>{html.escape(block)}</p>"
        for block in blocks
    )


# --- the statistics team: a task failed --------------------------------------------------------


def alert_recipients() -> list[str]:
    return [a.strip() for a in os.environ.get("SUKF_ALERT_EMAIL", "").split(",") if a.strip()]


@dataclass(frozen=True)
class TaskFailure:
    dag_id: str
    task_id: str
    run_id: str
    map_label: str | None  # the mapped task's file name (or index); None if not mapped
    try_number: int
    error: str  # exception type and message, personnummer masked
    log_url: str | None


def failure_of(context) -> TaskFailure:
    """What an Airflow failure callback's context says about the failed task."""
    ti = context["ti"]
    error = context.get("exception")
    described = (
        f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    )
    map_label = None
    if ti.map_index is not None and ti.map_index >= 0:
        map_label = ti.rendered_map_index or str(ti.map_index)
    return TaskFailure(
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        map_label=mask_personnummer(map_label) if map_label else None,
        try_number=ti.try_number,
        error=mask_personnummer(described)[:MAX_ERROR_CHARS],
        log_url=getattr(ti, "log_url", None),
    )


def failure_message(failure: TaskFailure, now: datetime | None = None) -> tuple[str, str]:
    """Subject and HTML body of the e-mail to the statistics team."""
    now = now or datetime.now(ZoneInfo("Europe/Stockholm"))
    task = failure.task_id + (f" ({failure.map_label})" if failure.map_label else "")
    blocks: list[str | tuple[str]] = [
        (
            f"Uppgiften {task} i flödet {failure.dag_id} misslyckades {now:%Y-%m-%d %H:%M} "
            f"(försök {failure.try_number}). Airflow försöker inte igen av sig självt."
        ),
        (f"Flöde (DAG):  {failure.dag_id}\nUppgift:      {task}\nKörning:      {failure.run_id}",),
        "Fel:",
        (failure.error,),
    ]
    if failure.log_url:
        blocks.append(f"Loggen: {failure.log_url}")
    blocks.append(
        "Åtgärda orsaken och kör om uppgiften i Airflow (Clear). Stegen går att köra om: "
        "det som redan är gjort görs inte en gång till."
    )
    return f"SU-Kvinnofrid: {failure.dag_id}.{task} misslyckades", _paragraphs(*blocks)


def _send(to: Iterable[str], subject: str, html_content: str) -> None:
    """One e-mail by Airflow's SMTP notifier, a fresh one each time (its hook keeps the
    connection it first read)."""
    SmtpNotifier(
        to=list(to), subject=subject, html_content=html_content, smtp_conn_id=CONN_ID
    ).notify({})


class TaskFailureNotifier(BaseNotifier):
    """Every task's `on_failure_callback`: the statistics team's e-mail about the failed task,
    sent by Airflow's SMTP notifier. It runs where Airflow runs the callback (the task's worker;
    the DAG processor for a task that died without running it) and never raises: a mail problem
    is logged and must not hide the task's own error. Nothing is templated: the error can quote
    anything, and none of it may be read as a template."""

    def notify(self, context) -> None:
        recipients = alert_recipients()
        if not recipients or not _smtp_configured():
            log.warning(
                "Ingen e-post skickades om felet: Airflows SMTP-anslutning %s "
                "(AIRFLOW_CONN_SMTP_DEFAULT) och SUKF_ALERT_EMAIL är inte båda satta.",
                CONN_ID,
            )
            return
        try:
            _send(recipients, *failure_message(failure_of(context)))
        except Exception as problem:  # any mail problem: logged, never raised
            log.error("E-post om felet kunde inte skickas via %s: %s", CONN_ID, problem)
            return
        log.info("E-post om felet skickad till %s", ", ".join(recipients))


task_failed = TaskFailureNotifier()


# --- a kommun: its feedback is ready -----------------------------------------------------------


@dataclass(frozen=True)
class FeedbackReady:
    upload_id: int
    account: str  # the SFTP account that delivered the upload (raw.uploads.delivered_by)
    round_id: str
    download: str  # where the account finds the report, e.g. aterkoppling/2023-12/upload_7.html


def kommun_contacts(path: Path | None = None) -> dict[str, list[str]]:
    """The contacts file: per SFTP account (kommun or stadsdel code) its addresses, one line
    each (`kod,e-post`, UTF-8). No file: nobody. A line that cannot be used stops it all
    (ValueError in Swedish, naming the line but not the value)."""
    path = path or get_settings().contacts_file
    if not path.exists():
        return {}
    contacts: dict[str, list[str]] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = [name.strip().lower() for name in next(reader, [])]
        if header != CONTACT_COLUMNS:
            raise ValueError(f"{path.name}: första raden ska vara {','.join(CONTACT_COLUMNS)}")
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            cells = [cell.strip() for cell in row]
            if len(cells) != 2 or not KOMMUN_KOD.match(cells[0]) or not ADDRESS.match(cells[1]):
                raise ValueError(
                    f"{path.name} rad {number}: ska vara en kommun- eller stadsdelskod och "
                    "en e-postadress, t.ex. 0180,statistik@stockholm.se"
                )
            contacts.setdefault(cells[0], []).append(cells[1])
    return contacts


def feedback_message(ready: FeedbackReady) -> tuple[str, str]:
    """Subject and HTML body of the notice to a kommun: where its feedback is, nothing else."""
    address = get_settings().sftp_address
    host, _, port = address.partition(":")
    server = f"SFTP-servern {address}" if address else "SFTP-servern"
    command = f"sftp {f'-P {port} ' if port else ''}{ready.account}@{host}" if address else None
    # A file blocked before its round could be read has none.
    round_text = f" för omgång {ready.round_id}" if ready.round_id else ""
    blocks: list[str | tuple[str]] = [
        "Hej!",
        (
            f"Återkopplingen på er fil till SU-Kvinnofrid{round_text} "
            f"(uppladdning {ready.upload_id}) finns nu att hämta."
        ),
        (
            f"Logga in på {server} med kontot {ready.account}, samma konto och nyckel som ni "
            f"lämnar filerna med, och hämta filen {ready.download} från mappen "
            f"{ready.download.split('/')[0]}. Öppna den i en webbläsare; samma återkoppling "
            "finns bredvid som textfil (.md)."
        ),
    ]
    if command:
        blocks.append((f"{command}\nget {ready.download}",))
    blocks.append(
        "Det här meddelandet innehåller inga uppgifter ur filen; allt står i återkopplingen."
    )
    subject = f"SU-Kvinnofrid: återkoppling på er fil{round_text}"
    return subject, _paragraphs(*blocks)


def notify_kommuner(
    ready: list[FeedbackReady],
    sent_before: Collection[tuple[int, str]] = (),
    record: Callable[[FeedbackReady, list[str]], None] | None = None,
) -> list[dict]:
    """E-mail each account's contacts about its feedback; per notice sent its upload, account
    and number of recipients. An account without contacts gets none, and a contact gets no
    notice of an upload it already had one of (`sent_before`: (upload, address) pairs); each
    notice sent is handed to `record` at once, so a retry sends only what was not sent. When a
    notice cannot be sent, the others still are, then RuntimeError (so the task is retried and
    the team told)."""
    contacts = kommun_contacts() if ready else {}
    done = set(sent_before)
    recipients = {
        notice: [a for a in contacts.get(notice.account, []) if (notice.upload_id, a) not in done]
        for notice in ready
    }
    wanted = [notice for notice in ready if recipients[notice]]
    if wanted and not _smtp_configured():
        log.warning(
            "Inga e-postaviseringar till kommunerna skickades: Airflows SMTP-anslutning %s "
            "(AIRFLOW_CONN_SMTP_DEFAULT) saknas.",
            CONN_ID,
        )
        return []
    sent, failed = [], []
    for notice in wanted:
        try:
            _send(recipients[notice], *feedback_message(notice))
        except Exception as problem:  # each notice on its own; raised below
            log.error("Aviseringen till %s kunde inte skickas: %s", notice.account, problem)
            failed.append(notice.account)
            continue
        if record is not None:
            record(notice, recipients[notice])
        sent.append(
            {
                "upload_id": notice.upload_id,
                "account": notice.account,
                "recipients": len(recipients[notice]),
            }
        )
    if failed:
        raise RuntimeError(
            f"E-postaviseringen om återkopplingen kunde inte skickas till {', '.join(failed)}"
        )
    return sent


# --- a kommun: the last delivery day of a round is near ----------------------------------------


@dataclass(frozen=True)
class DeliveryReminder:
    """A unit the participation register expects in a round that has not delivered yet
    (`sukvinnofrid.reminders`), with the round's dates from the calendar."""

    unit_kod: str
    unit_name: str
    round_id: str
    closes: date  # the date the round's extract is as of
    last_delivery_day: date
    publication: datetime  # aware, Stockholm time


def reminder_message(reminder: DeliveryReminder) -> tuple[str, str]:
    """Subject and HTML body of the reminder: the round's dates and how to deliver; no case
    data, no credential."""
    closes = reminder.closes
    blocks: list[str | tuple[str]] = [
        "Hej!",
        (
            f"{reminder.unit_name} ({reminder.unit_kod}) har ännu inte lämnat någon fil till "
            f"SU-Kvinnofrid för omgång {reminder.round_id} (ärendena till och med "
            f"{closes.day} {MONTHS[closes.month - 1]} {closes.year})."
        ),
        (
            f"Sista leveransdag är {swedish_date(reminder.last_delivery_day)}. Filer som kommer "
            "in senast kl. 23.59 den dagen kommer med när omgången publiceras "
            f"{swedish_date(reminder.publication.date())} kl. {reminder.publication:%H.%M}; en "
            "fil som kommer senare kommer med först i en revidering."
        ),
        (
            f"Ladda upp filen sukf_{reminder.unit_kod}_{reminder.round_id}.csv (eller .xlsx) "
            "till SFTP-servern med ert konto, som vanligt. Återkopplingen på filen kommer till "
            "mappen aterkoppling när filen har kontrollerats."
        ),
        "Har ni redan skickat filen i dag kan ni bortse från det här meddelandet.",
    ]
    subject = f"SU-Kvinnofrid: påminnelse om leveransen för omgång {reminder.round_id}"
    return subject, _paragraphs(*blocks)


def remind_kommuner(reminders: list[DeliveryReminder]) -> list[dict]:
    """E-mail each reminded unit's contacts; per unit its round, code, number of recipients and
    whether the e-mail went out (a unit without contacts gets none: the team calls it). When a
    reminder cannot be sent, the others still are, then RuntimeError (the team is told)."""
    contacts = kommun_contacts() if reminders else {}
    if any(contacts.get(r.unit_kod) for r in reminders) and not _smtp_configured():
        log.warning(
            "Inga påminnelser skickades: Airflows SMTP-anslutning %s "
            "(AIRFLOW_CONN_SMTP_DEFAULT) saknas.",
            CONN_ID,
        )
        contacts = {}
    results, failed = [], []
    for reminder in reminders:
        recipients = contacts.get(reminder.unit_kod, [])
        sent = False
        if recipients:
            try:
                _send(recipients, *reminder_message(reminder))
                sent = True
            except Exception as problem:  # each reminder on its own; raised below
                log.error("Påminnelsen till %s kunde inte skickas: %s", reminder.unit_kod, problem)
                failed.append(reminder.unit_kod)
        else:
            log.warning("Ingen kontakt för %s: ingen påminnelse skickades", reminder.unit_kod)
        results.append(
            {
                "round": reminder.round_id,
                "unit": reminder.unit_kod,
                "recipients": len(recipients),
                "sent": sent,
            }
        )
    if failed:
        raise RuntimeError(f"Påminnelsen kunde inte skickas till {', '.join(failed)}")
    return results
