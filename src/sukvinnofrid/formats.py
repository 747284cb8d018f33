"""Swedish number formats for everything a kommun or the statistics team reads: a space
(U+00A0, no break) between thousands and a decimal comma, e.g. 3 070 and 85,4 %."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

THOUSANDS = "\u00a0"


def swedish_int(n: int) -> str:
    """3070 -> '3 070' (no-break space)."""
    return f"{int(n):,}".replace(",", THOUSANDS)


def swedish_number(value: float | Decimal, decimals: int = 1) -> str:
    """2.45 -> '2,5' (rounded half up, as the published figures are)."""
    quantum = Decimal(1).scaleb(-decimals)
    rounded = Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    whole, _, fraction = f"{abs(rounded):f}".partition(".")
    text = swedish_int(int(whole)) + ("," + fraction if fraction else "")
    return ("-" if rounded < 0 else "") + text


def swedish_percent(share: float, decimals: int = 0) -> str:
    """0.854 -> '85 %' (a share of 1, shown in percent)."""
    return swedish_number(Decimal(str(share)) * 100, decimals) + "\u00a0%"


MONTHS = (
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
)
WEEKDAYS = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")


def swedish_date(day: dt.date) -> str:
    """2024-01-31 -> 'onsdag 31 januari 2024'."""
    return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"
