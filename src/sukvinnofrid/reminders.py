"""Reminders before a round's last delivery day: on each of the round calendar's reminder days,
an e-mail to each unit the participation register expects in the round that has not delivered
(no file received for the round, or only blocked ones), at the addresses of the contacts file
(`Settings.contacts`, SUKF_CONTACTS), through the pipeline's SMTP server (`sukvinnofrid.notify`).

The message says which round, the last delivery day and the publication, and how to deliver;
it holds no case data and no password. A unit without a configured contact is listed in the
result (and the log) so that the statistics team can call it.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import reference
from .config import get_settings
from .formats import MONTHS, swedish_date
from .notify import SmtpSettings, send
from .rounds import Round, calendar_round, rounds_around

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reminder:
    round_id: str
    unit_kod: str
    recipients: tuple[str, ...]

    def summary(self, sent: bool) -> dict:
        return {
            "round": self.round_id,
            "unit": self.unit_kod,
            "recipients": len(self.recipients),
            "sent": sent,
        }


def rounds_to_remind(today: dt.date) -> list[Round]:
    """The rounds with a reminder day today."""
    return [dates for dates in rounds_around(today) if today in dates.reminder_days]


def expected_units(round_id: str) -> list[str]:
    """The units the participation register expects in the round."""
    with open(reference.reference_dir() / "participation_register.csv", encoding="utf-8") as f:
        return sorted(
            {
                row["unit_kod"]
                for row in csv.DictReader(f)
                if row["first_round"] <= round_id
                and (not row["last_round"] or round_id <= row["last_round"])
            }
        )


def delivered_units(engine: Engine, round_id: str) -> set[str]:
    """Units with a file for the round that was not blocked (landed, accepted or replaced)."""
    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT kommun_kod FROM raw.uploads"
                    " WHERE round_id = :r AND status <> 'blocked'"
                ),
                {"r": round_id},
            ).scalars()
        )


def contacts() -> dict[str, tuple[str, ...]]:
    """Unit code → its e-mail addresses (no file: none)."""
    path = get_settings().contacts
    if not path.exists():
        return {}
    found: dict[str, list[str]] = {}
    with open(path, encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            unit, address = (row.get("unit_kod") or "").strip(), (row.get("e_post") or "").strip()
            if unit and address:
                found.setdefault(unit, []).append(address)
    return {unit: tuple(addresses) for unit, addresses in found.items()}


def unit_name(unit_kod: str) -> str:
    kommun = reference.kommuner().get(unit_kod)
    if kommun:
        return f"{kommun.namn} kommun"
    stadsdel = reference.stadsdelar().get(unit_kod)
    return stadsdel.namn if stadsdel else unit_kod


def reminder_message(dates: Round, unit_kod: str, settings: SmtpSettings, to) -> EmailMessage:
    """The reminder, in Swedish: no case data, no password."""
    message = EmailMessage()
    message["Subject"] = f"SU-Kvinnofrid: påminnelse om leveransen för omgång {dates.round_id}"
    message["From"] = settings.sender
    message["To"] = ", ".join(to)
    closes = dates.closes
    lines = [
        "Hej!",
        "",
        (
            f"{unit_name(unit_kod)} ({unit_kod}) har ännu inte lämnat någon fil till "
            f"SU-Kvinnofrid för omgång {dates.round_id} (ärendena till och med "
            f"{closes.day} {MONTHS[closes.month - 1]} {closes.year})."
        ),
        "",
        (
            f"Sista leveransdag är {swedish_date(dates.last_delivery_day)}. Filer som kommer "
            "in senast kl. 23.59 den dagen kommer med när omgången publiceras "
            f"{swedish_date(dates.publication_date)} kl. "
            f"{dates.publication_time:%H.%M}; en fil som kommer senare kommer med först i en "
            "revidering."
        ),
        "",
        (
            f"Ladda upp filen sukf_{unit_kod}_{dates.round_id}.csv (eller .xlsx) i er mapp på "
            "SFTP-servern som vanligt. Ni får återkoppling på filen direkt efter kontrollen."
        ),
        "",
        "Har ni redan skickat filen i dag kan ni bortse från det här meddelandet.",
        "",
        "Vänliga hälsningar",
        "Statistikteamet för SU-Kvinnofrid",
    ]
    message.set_content("\n".join(lines))
    return message


def due_reminders(engine: Engine, today: dt.date | None = None) -> list[Reminder]:
    """The reminders of every round with a reminder day today, one per unit not delivered."""
    today = today or get_settings().today
    addresses = contacts()
    return [
        Reminder(dates.round_id, unit, addresses.get(unit, ()))
        for dates in rounds_to_remind(today)
        for unit in expected_units(dates.round_id)
        if unit not in delivered_units(engine, dates.round_id)
    ]


def send_reminders(engine: Engine, today: dt.date | None = None) -> list[dict]:
    """Send today's reminders; per unit reminded, whether its e-mail went out. Raises when
    there are reminders to send and no SMTP server (the task then fails and the team hears of
    it); a unit without a contact is logged, not mailed."""
    reminders = due_reminders(engine, today)
    if not reminders:
        return []
    settings = SmtpSettings.from_env(alerts=False)
    if settings is None:
        raise RuntimeError(
            "Påminnelserna kunde inte skickas: SUKF_SMTP_HOST är inte satt "
            f"({len(reminders)} enheter skulle påminnas)."
        )
    results = []
    for reminder in reminders:
        if not reminder.recipients:
            log.warning(
                "Ingen kontakt för %s i %s: ingen påminnelse skickades",
                reminder.unit_kod,
                get_settings().contacts,
            )
            results.append(reminder.summary(False))
            continue
        dates = calendar_round(reminder.round_id)
        message = reminder_message(dates, reminder.unit_kod, settings, reminder.recipients)
        try:
            send(message, settings)
        except (OSError, smtplib.SMTPException) as problem:
            raise RuntimeError(
                f"Påminnelsen till {reminder.unit_kod} kunde inte skickas via "
                f"{settings.host}:{settings.port}: {problem}"
            ) from problem
        results.append(reminder.summary(True))
    return results
