"""The round calendar: the one home of a collection round and its dates.

A round `ÅÅÅÅ-MM` is a collection of every unit's cumulative extract as of the last day of that
month (`closes`: no date in a file may be later). Files are received from the next day
(`opens`); those received by 23:59 Stockholm time on the `last_delivery_day` make the first
publication, which is written once, at the `publication` time (08:00 Europe/Stockholm, as SCB
publishes). A file received later, or a correction after the first publication, makes a
revision (policy `revise`), or is left for the next round (`frozen`).

The dates of a round are in `reference/rounds.yaml` (the statistics team's calendar). A round
not listed there follows the default rule (`default_round`):
- opens the day after its month;
- last delivery day: the last weekday of the following month; of the second month for a June
  round (July is the holiday month);
- reminders 14 and 3 days before the last delivery day, each moved back to a weekday;
- publication at 08:00 Stockholm time on the first weekday on or after the 15th of the month
  after the last delivery day;
- revision policy `revise`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from .config import get_settings
from .readers import ROUND_ID

STOCKHOLM = ZoneInfo("Europe/Stockholm")
CALENDAR = Path(__file__).resolve().parent / "reference" / "rounds.yaml"
REVISION_POLICIES = ("revise", "frozen")
PUBLICATION_TIME = dt.time(8, 0)
REMINDER_DAYS_BEFORE = (14, 3)


@dataclass(frozen=True)
class Round:
    round_id: str
    opens: dt.date
    last_delivery_day: dt.date
    reminder_days: tuple[dt.date, ...]
    publication_date: dt.date
    publication_time: dt.time
    revision_policy: str
    listed: bool  # in the calendar file (else by the default rule)

    @property
    def closes(self) -> dt.date:
        """The last day of the round's month: the date the extract is as of."""
        return round_close(self.round_id)

    @property
    def delivery_end(self) -> dt.datetime:
        """The first moment after the last delivery day (midnight Stockholm time): a file
        received before it is on time."""
        return _stockholm(self.last_delivery_day + dt.timedelta(days=1), dt.time(0, 0))

    @property
    def publication(self) -> dt.datetime:
        """When the round is published (aware, Stockholm time)."""
        return _stockholm(self.publication_date, self.publication_time)

    def on_time(self, received: dt.datetime) -> bool:
        """Whether a file received at `received` (aware) is in the first publication."""
        return received < self.delivery_end

    def delivery_over(self, now: dt.datetime | None = None) -> bool:
        """Whether the last delivery day has passed: the first publication's files are in, so
        its draft can be reviewed and approved ahead of the publication time."""
        return (now or get_settings().now) >= self.delivery_end

    def is_due(self, now: dt.datetime | None = None) -> bool:
        """Whether the publication time has come."""
        return (now or get_settings().now) >= self.publication

    def days_left(self, today: dt.date | None = None) -> int:
        """Days of delivery left, today included (0 once the last delivery day has passed)."""
        return max((self.last_delivery_day - (today or get_settings().today)).days + 1, 0)

    def validate(self) -> None:
        """Refuses dates out of order (ValueError, in Swedish: the team edits the calendar)."""
        problems = []
        if self.opens <= self.closes:
            problems.append(f"öppnar {self.opens} men omgångens månad slutar {self.closes}")
        if self.last_delivery_day < self.opens:
            problems.append(f"sista leveransdag {self.last_delivery_day} är före {self.opens}")
        if any(not self.opens <= day < self.last_delivery_day for day in self.reminder_days):
            problems.append("påminnelsedagarna ska ligga från öppnandet till före sista dagen")
        if self.publication_date <= self.last_delivery_day:
            problems.append(f"publiceringen {self.publication_date} är inte efter sista dagen")
        if self.revision_policy not in REVISION_POLICIES:
            problems.append(f"revisionspolicyn {self.revision_policy!r} är okänd")
        if problems:
            raise ValueError(f"omgång {self.round_id} i kalendern: " + "; ".join(problems))


def _stockholm(day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=STOCKHOLM)


def _parts(round_id: str) -> tuple[int, int]:
    match = ROUND_ID.match(round_id or "")
    if not match:
        raise ValueError(f"round id {round_id!r} is not ÅÅÅÅ-MM")
    return int(match["year"]), int(match["month"])


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)


def round_close(round_id: str) -> dt.date:
    """A round 'ÅÅÅÅ-MM' is as of the last day of that month."""
    return _month_end(*_parts(round_id))


def _weekday_on_or_before(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=max(day.weekday() - 4, 0))


def _weekday_on_or_after(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=(7 - day.weekday()) % 7 if day.weekday() > 4 else 0)


def default_round(round_id: str) -> Round:
    """A round's dates by the default rule (module docstring)."""
    year, month = _parts(round_id)
    months = 2 if month == 6 else 1  # July is the holiday month
    last_month = (month - 1 + months) % 12 + 1
    last_year = year + (month - 1 + months) // 12
    last_day = _weekday_on_or_before(_month_end(last_year, last_month))
    publication = _weekday_on_or_after(
        dt.date(last_year + last_month // 12, last_month % 12 + 1, 15)
    )
    return Round(
        round_id=round_id,
        opens=round_close(round_id) + dt.timedelta(days=1),
        last_delivery_day=last_day,
        reminder_days=tuple(
            _weekday_on_or_before(last_day - dt.timedelta(days=days))
            for days in REMINDER_DAYS_BEFORE
        ),
        publication_date=publication,
        publication_time=PUBLICATION_TIME,
        revision_policy="revise",
        listed=False,
    )


@cache
def listed_rounds(path: Path = CALENDAR) -> dict[str, Round]:
    """The rounds of the calendar file, each checked."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    rounds = {}
    for round_id, entry in (document.get("rounds") or {}).items():
        _parts(str(round_id))
        time = str(entry.get("publication_time", "08:00"))
        hour, minute = (int(part) for part in time.split(":"))
        found = Round(
            round_id=str(round_id),
            opens=entry["opens"],
            last_delivery_day=entry["last_delivery_day"],
            reminder_days=tuple(entry.get("reminder_days") or ()),
            publication_date=entry["publication"],
            publication_time=dt.time(hour, minute),
            revision_policy=entry.get("revision_policy", "revise"),
            listed=True,
        )
        found.validate()
        rounds[found.round_id] = found
    return rounds


def calendar_round(round_id: str) -> Round:
    """The round's dates: from the calendar file, else by the default rule."""
    return listed_rounds().get(round_id) or default_round(round_id)


def rounds_around(today: dt.date) -> list[Round]:
    """The calendar's rounds and, by the default rule, the June and December rounds of this
    year and the two before (the rounds a reminder or the team's calendar page may concern)."""
    round_ids = set(listed_rounds()) | {
        f"{year}-{month:02d}" for year in range(today.year - 2, today.year + 1) for month in (6, 12)
    }
    return [calendar_round(round_id) for round_id in sorted(round_ids)]


def due_rounds(round_ids, now: dt.datetime | None = None) -> list[str]:
    """The given rounds whose publication time has come, latest first."""
    now = now or get_settings().now
    return sorted((r for r in set(round_ids) if calendar_round(r).is_due(now)), reverse=True)


def delivered_rounds(round_ids, now: dt.datetime | None = None) -> list[str]:
    """The given rounds whose last delivery day has passed, latest first."""
    now = now or get_settings().now
    return sorted((r for r in set(round_ids) if calendar_round(r).delivery_over(now)), reverse=True)


def publication_crons() -> list[str]:
    """Cron expressions (Stockholm time) for every publication time the calendar uses, for the
    su_round DAG to run at: the default 08:00 and any other time a listed round has."""
    times = {PUBLICATION_TIME} | {r.publication_time for r in listed_rounds().values()}
    return [f"{t.minute} {t.hour} * * *" for t in sorted(times)]
