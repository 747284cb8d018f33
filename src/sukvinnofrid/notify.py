"""E-mail to the statistics team when a pipeline task has failed for good (its retries spent).

The DAGs set `task_failed` as every task's `on_failure_callback`. SMTP comes from the
environment:

    SUKF_SMTP_HOST       the mail server; unset: no e-mail, the task log says so
    SUKF_SMTP_PORT       default 587 (starttls), 465 (ssl), 25 (none)
    SUKF_SMTP_TLS        starttls (default) | ssl | none
    SUKF_SMTP_USER, SUKF_SMTP_PASSWORD   login, when the server wants one
    SUKF_SMTP_FROM       sender address (default: SUKF_SMTP_USER)
    SUKF_ALERT_EMAIL     the statistics team's address(es), comma-separated

The message names the DAG, task, file and run and quotes the error with any personnummer
masked: an upload's content must not leave the pipeline by e-mail. The same server sends the
round calendar's reminders to the kommuner (`sukvinnofrid.reminders`), to the addresses of the
contacts file (SUKF_CONTACTS).
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from .privacy import mask_personnummer

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: str  # starttls | ssl | none
    user: str | None
    password: str | None
    sender: str
    recipients: tuple[str, ...]

    @classmethod
    def from_env(cls, alerts: bool = True) -> SmtpSettings | None:
        """The settings, or None when no server (or, for `alerts`, no recipient in
        SUKF_ALERT_EMAIL) is configured; a message to others (a reminder to a kommun) names its
        own recipients. Raises ValueError (Swedish) for a setting that cannot be used."""
        host = os.environ.get("SUKF_SMTP_HOST", "").strip()
        recipients = tuple(
            address.strip()
            for address in os.environ.get("SUKF_ALERT_EMAIL", "").split(",")
            if address.strip()
        )
        if not host or (alerts and not recipients):
            return None
        tls = os.environ.get("SUKF_SMTP_TLS", "starttls").strip().lower()
        if tls not in DEFAULT_PORTS:
            raise ValueError(f"SUKF_SMTP_TLS är {tls!r}; tillåtna värden: starttls, ssl, none")
        port_text = os.environ.get("SUKF_SMTP_PORT", "").strip()
        if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
            raise ValueError(f"SUKF_SMTP_PORT är {port_text!r}; ange ett portnummer (1–65535)")
        user = os.environ.get("SUKF_SMTP_USER") or None
        password = os.environ.get("SUKF_SMTP_PASSWORD") or None
        for variable, value in (("SUKF_SMTP_USER", user), ("SUKF_SMTP_PASSWORD", password)):
            if value and not value.isascii():  # smtplib's AUTH sends ASCII only
                raise ValueError(
                    f"{variable} innehåller tecken utanför ASCII (t.ex. å, ä, ö), "
                    "som inte kan skickas vid inloggningen"
                )
        sender = os.environ.get("SUKF_SMTP_FROM") or user
        if not sender:
            raise ValueError("SUKF_SMTP_FROM (avsändaradress) saknas")
        return cls(
            host=host,
            port=int(port_text) if port_text else DEFAULT_PORTS[tls],
            tls=tls,
            user=user,
            password=password,
            sender=sender,
            recipients=recipients,
        )


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


def failure_message(
    failure: TaskFailure, settings: SmtpSettings, now: datetime | None = None
) -> EmailMessage:
    """The e-mail to the statistics team, in Swedish."""
    now = now or datetime.now(ZoneInfo("Europe/Stockholm"))
    task = failure.task_id + (f" ({failure.map_label})" if failure.map_label else "")
    message = EmailMessage()
    message["Subject"] = f"SU-Kvinnofrid: {failure.dag_id}.{task} misslyckades"
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    lines = [
        (
            f"Uppgiften {task} i flödet {failure.dag_id} misslyckades "
            f"{now:%Y-%m-%d %H:%M} (försök {failure.try_number}). Airflow försöker inte igen "
            "av sig självt."
        ),
        "",
        f"Flöde (DAG):  {failure.dag_id}",
        f"Uppgift:      {task}",
        f"Körning:      {failure.run_id}",
        "",
        "Fel:",
        failure.error,
        "",
    ]
    if failure.log_url:
        lines += [f"Loggen: {failure.log_url}", ""]
    lines += [
        (
            "Åtgärda orsaken och kör om uppgiften i Airflow (Clear). Stegen går att köra om: "
            "det som redan är gjort görs inte en gång till."
        )
    ]
    message.set_content("\n".join(lines))
    return message


def send(message: EmailMessage, settings: SmtpSettings, timeout: float = 30) -> None:
    if settings.tls == "ssl":
        smtp = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
    with smtp:
        if settings.tls == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        smtp.send_message(message)


def notify_failure(failure: TaskFailure) -> bool:
    """E-mail the statistics team about a failed task; True if the e-mail went out. Never
    raises: a notification problem is logged and must not hide the task's own error."""
    try:
        settings = SmtpSettings.from_env()
    except ValueError as problem:
        log.error("Ingen e-post skickades om felet: %s", problem)
        return False
    if settings is None:
        log.warning(
            "Ingen e-post skickades om felet: SUKF_SMTP_HOST och SUKF_ALERT_EMAIL är "
            "inte båda satta."
        )
        return False
    try:
        send(failure_message(failure, settings), settings)
    except (OSError, smtplib.SMTPException) as problem:
        log.error(
            "E-post om felet kunde inte skickas via %s:%s: %s",
            settings.host,
            settings.port,
            problem,
        )
        return False
    log.info("E-post om felet skickad till %s", ", ".join(settings.recipients))
    return True


def task_failed(context) -> None:
    """Airflow `on_failure_callback`: runs once the task has failed for good."""
    notify_failure(failure_of(context))
