"""Where each round stands against the round calendar, for the statistics team:
`<output>/intern/kalender/index.html`, written by every su_round run (at least every morning at the
publication time), so that it is current while a round is collected, before anything of it is
published.

Per round (every round with a file, and every round the calendar has open or still to
publish): when it opens, the last delivery day and the days left, the publication time, the
expected units (participation register) that have delivered (a file not blocked, received by
the last delivery day), delivered late, or are missing, and its published statistics version.
Read from the marts (fct_round_deliveries: the publish stage's own) and the calendar.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..config import get_settings
from ..formats import swedish_date
from ..reminders import expected_units
from ..rounds import calendar_round, rounds_around
from ..versioned import versions
from .site import _render, write_site
from .tables import Column, Table

DELIVERED_STATUSES = ("godkand", "godkand_med_varningar", "sen", "mottagen")


def _deliveries(engine: Engine) -> dict[str, list]:
    with engine.connect() as conn:
        exists = conn.execute(sa.text("SELECT to_regclass('marts.fct_round_deliveries')"))
        if exists.scalar() is None:
            return {}
        rows = conn.execute(
            sa.text(
                "SELECT round_id, unit_kod, expected, status, received_at"
                " FROM marts.fct_round_deliveries ORDER BY round_id, unit_kod"
            )
        ).all()
    found: dict[str, list] = {}
    for row in rows:
        found.setdefault(row.round_id, []).append(row)
    return found


def _open_rounds(today: dt.date) -> set[str]:
    """The rounds the calendar has open or still to publish."""
    return {
        dates.round_id
        for dates in rounds_around(today)
        if dates.opens <= today <= dates.publication_date
    }


def calendar_table(engine: Engine, output: Path, now: dt.datetime) -> Table:
    deliveries = _deliveries(engine)
    table = Table(
        (
            Column("Omgång"),
            Column("Öppnar"),
            Column("Sista leveransdag"),
            Column("Dagar kvar", "antal"),
            Column("Publicering"),
            Column("Förväntade", "antal"),
            Column("Levererat", "antal"),
            Column("Sent levererat", "antal"),
            Column("Saknas", "antal"),
            Column("Saknas (enheter)"),
            Column("Publicerad version"),
        ),
        caption=f"Omgångarna mot kalendern, {now:%Y-%m-%d %H.%M}",
    )
    for round_id in sorted(set(deliveries) | _open_rounds(now.date()), reverse=True):
        dates = calendar_round(round_id)
        rows = deliveries.get(round_id, [])
        expected = {r.unit_kod for r in rows if r.expected} or set(expected_units(round_id))
        delivered = {
            r.unit_kod: r.received_at
            for r in rows
            if r.status in DELIVERED_STATUSES and r.received_at is not None
        }
        late = {unit for unit, at in delivered.items() if not dates.on_time(at)}
        missing = sorted(expected - set(delivered))
        published = versions(output / "statistik" / round_id)
        table.rows.append(
            [
                round_id,
                swedish_date(dates.opens),
                swedish_date(dates.last_delivery_day),
                dates.days_left(now.date()),
                f"{swedish_date(dates.publication_date)} kl. {dates.publication_time:%H.%M}",
                len(expected),
                len((set(delivered) - late) & expected),
                len(late & expected),
                len(missing),
                ", ".join(missing) or "–",
                published[-1][1].name if published else "inte publicerad",
            ]
        )
    table.footnotes = (
        (
            "Levererat: en fil som inte har spärrats, mottagen senast kl. 23.59 sista "
            "leveransdagen; den kommer med i den första publiceringen. Sent levererat: mottagen "
            "därefter; den kommer med i en revidering. Förväntade enheter enligt "
            "deltagarförteckningen."
        ),
    )
    return table


def write_calendar_page(engine: Engine, output: Path | None = None) -> Path:
    """Write <output>/intern/kalender/index.html; returns its path."""
    output = Path(output) if output is not None else get_settings().output
    now = get_settings().now
    page = _render("kalender.html", table=calendar_table(engine, output, now))
    write_site(output / "intern" / "kalender", {"index.html": page})
    return output / "intern" / "kalender" / "index.html"
