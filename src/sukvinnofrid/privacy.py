"""Detection and masking of Swedish personal identity numbers (personnummer, samordningsnummer).

A value counts as a personnummer when it has 10 or 12 digits in the usual layouts
(ÅÅMMDD-NNNN, ÅÅMMDD+NNNN, ÅÅÅÅMMDDNNNN, with or without separator), a possible date of birth
(day + 60 for samordningsnummer) and a valid Luhn check digit. Found values are never stored or
logged: callers get only the masked text.
"""

from __future__ import annotations

import re

_CANDIDATE = re.compile(
    r"(?<![0-9])(?P<century>(?:18|19|20)[0-9]{2}|[0-9]{2})"
    r"(?P<month>[0-9]{2})(?P<day>[0-9]{2})[-+ ]?(?P<serial>[0-9]{3})(?P<check>[0-9])(?![0-9])"
)
MASK = "ÅÅMMDD-XXXX"


def luhn_check_digit(nine_digits: str) -> int:
    total = 0
    for index, char in enumerate(nine_digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def _is_personnummer(match: re.Match[str]) -> bool:
    month, day = int(match["month"]), int(match["day"])
    if not 1 <= month <= 12:
        return False
    if not (1 <= day <= 31 or 61 <= day <= 91):
        return False
    short_year = match["century"][-2:]
    nine = f"{short_year}{match['month']}{match['day']}{match['serial']}"
    return luhn_check_digit(nine) == int(match["check"])


def find_personnummer(text: str) -> list[tuple[int, int]]:
    """Spans of every personnummer in `text`."""
    return [m.span() for m in _CANDIDATE.finditer(text) if _is_personnummer(m)]


def contains_personnummer(text: str) -> bool:
    return bool(find_personnummer(text))


def mask_personnummer(text: str) -> str:
    spans = find_personnummer(text)
    for start, end in reversed(spans):
        text = text[:start] + MASK + text[end:]
    return text
