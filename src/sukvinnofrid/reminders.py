"""Reminders before a round's last delivery day: on each of the round calendar's reminder days,
each unit the participation register expects in the round that has not delivered (no file
received for the round, or only blocked ones) is e-mailed at its contacts
(`notify.remind_kommuner`: the contacts file, Airflow's SMTP connection).
"""

from __future__ import annotations

import csv
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import notify, reference
from .config import get_settings
from .rounds import Round, rounds_around


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


def unit_name(unit_kod: str) -> str:
    kommun = reference.kommuner().get(unit_kod)
    if kommun:
        return f"{kommun.namn} kommun"
    stadsdel = reference.stadsdelar().get(unit_kod)
    return stadsdel.namn if stadsdel else unit_kod


def due_reminders(engine: Engine, today: dt.date | None = None) -> list[notify.DeliveryReminder]:
    """The reminders of every round with a reminder day today, one per unit not delivered."""
    today = today or get_settings().today
    reminders = []
    for dates in rounds_to_remind(today):
        delivered = delivered_units(engine, dates.round_id)
        reminders += [
            notify.DeliveryReminder(
                unit,
                unit_name(unit),
                dates.round_id,
                dates.closes,
                dates.last_delivery_day,
                dates.publication,
            )
            for unit in expected_units(dates.round_id)
            if unit not in delivered
        ]
    return reminders


def send_reminders(engine: Engine, today: dt.date | None = None) -> list[dict]:
    """Send today's reminders; per unit reminded, whether its e-mail went out."""
    return notify.remind_kommuner(due_reminders(engine, today))
