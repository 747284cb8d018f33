"""Detection and masking of Swedish personal identity numbers (personnummer, samordningsnummer).

A value counts as a personnummer when it has 10 or 12 digits in the usual layouts (ÅÅMMDD-NNNN,
ÅÅMMDD+NNNN, ÅÅÅÅMMDD-NNNN), with or without a separator between the date and the last four
digits (hyphen, plus, en dash and the other Unicode dashes, spaces), a real date of birth (the
day plus 60 for a samordningsnummer) and a valid Luhn check digit. The date and Luhn checks keep
ordinary numbers (counts, codes, dates, amounts) from being flagged. Found values are never
stored or logged: callers get only the masked text.

`TextScreen` and `ByteScreen` look for one in a stream (text pieces, or raw bytes in every
encoding a kommun's file can plausibly be in), so a file is screened without being held in
memory.
"""

from __future__ import annotations

import calendar
import codecs
import re

# Spaces a person (or a word processor) puts in a number: not tab or newline, which separate
# fields and lines; not the control characters used to join cells for one search.
_SPACE = "[ \u00a0\u2000-\u200a\u202f\u205f\u3000]"
# Hyphen-minus, plus, the Unicode hyphens and dashes (en dash U+2013, em dash, minus sign, ...),
# their small and fullwidth forms, and U+FFFD (a dash from a file in another encoding).
_DASH = "[-+\u2010-\u2015\u2212\u2043\ufe58\ufe63\uff0b\uff0d\ufffd]"
# `\d` is any Unicode decimal digit (fullwidth too); int() reads them all.
_CANDIDATE = re.compile(
    r"(?<!\d)(?P<century>\d\d)?(?P<year>\d\d)(?P<month>\d\d)(?P<day>\d\d)"
    rf"{_SPACE}{{0,2}}{_DASH}?{_SPACE}{{0,2}}(?P<serial>\d{{3}})(?P<check>\d)(?!\d)"
)
# Every personnummer has its date of birth as six digits in a row: a much cheaper search rules
# out most text.
_SIX_DIGITS = re.compile(r"\d{6}")
MASK = "ÅÅMMDD-XXXX"
# Longer than any match plus one character of context on each side.
_LONGEST_MATCH = 24


def luhn_check_digit(nine_digits: str) -> int:
    total = 0
    for index, char in enumerate(nine_digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def _is_date(century: str | None, year: str, month: int, day: int) -> bool:
    """A real date of birth in some century the number allows (10 digits: 1800s to 2000s)."""
    if not 1 <= month <= 12 or (century and int(century) not in (18, 19, 20)):
        return False
    centuries = [int(century)] if century else [18, 19, 20]
    return any(1 <= day <= calendar.monthrange(c * 100 + int(year), month)[1] for c in centuries)


def _is_personnummer(match: re.Match[str]) -> bool:
    month, day = int(match["month"]), int(match["day"])
    if day > 60:  # samordningsnummer: the day of birth plus 60
        day -= 60
    if not _is_date(match["century"], match["year"], month, day):
        return False
    nine = f"{match['year']}{match['month']}{match['day']}{match['serial']}"
    return luhn_check_digit(nine) == int(match["check"])


def _matches(text: str, pos: int = 0, complete: bool = True):
    """Personnummer matches in `text` from `pos`; with complete=False, a match that reaches the
    end is left out (more text may follow and extend its digits)."""
    for match in _CANDIDATE.finditer(text, pos):
        if (complete or match.end() < len(text)) and _is_personnummer(match):
            yield match


def find_personnummer(text: str) -> list[tuple[int, int]]:
    """Spans of every personnummer in `text`."""
    return [match.span() for match in _matches(text)]


def contains_personnummer(text: str) -> bool:
    return next(_matches(text), None) is not None


def mask_personnummer(text: str) -> str:
    spans = find_personnummer(text)
    for start, end in reversed(spans):
        text = text[:start] + MASK + text[end:]
    return text


class TextScreen:
    """Looks for a personnummer in text that arrives in pieces (a number may span two pieces).

    Only the last few characters are kept between pieces. Pieces meant to be separate (two
    cells) must be fed with a separator between them, e.g. "\\x1f"."""

    def __init__(self) -> None:
        self.found = False
        self._tail = ""
        self._tail_is_start = True  # the tail begins at the start of the stream

    def feed(self, text: str) -> bool:
        if self.found or not text:
            return self.found
        window = self._tail + text
        # The first character of a cut tail is only context for the look-behind.
        start = 0 if self._tail_is_start else 1
        self.found = (
            _SIX_DIGITS.search(window, start) is not None
            and next(_matches(window, start, complete=False), None) is not None
        )
        if len(window) > _LONGEST_MATCH:
            self._tail, self._tail_is_start = window[-_LONGEST_MATCH:], False
        else:
            self._tail = window
        return self.found

    def close(self) -> bool:
        """True if the stream held a personnummer (a number at its very end included)."""
        if not self.found and self._tail:
            start = 0 if self._tail_is_start else 1
            self.found = next(_matches(self._tail, start), None) is not None
        self._tail = ""
        return self.found


class ByteScreen:
    """Looks for a personnummer in bytes of unknown encoding, read piece by piece.

    The bytes are decoded as UTF-8 and as Windows-1252 (text files: a dash is a different byte
    in each), and as UTF-16 in both byte orders (Windows' "Unicode" text, the strings of binary
    files). Little-endian UTF-16 is also read from the second byte: a string in a binary file
    may start at an odd offset (for digits and ASCII separators, that also reads big-endian
    text at an odd offset)."""

    _DECODINGS = (("utf-8", 0), ("cp1252", 0), ("utf-16-le", 0), ("utf-16-le", 1), ("utf-16-be", 0))

    def __init__(self) -> None:
        self._decoders = [
            (codecs.getincrementaldecoder(encoding)(errors="replace"), skip, TextScreen())
            for encoding, skip in self._DECODINGS
        ]
        self._started = False

    def feed(self, data: bytes) -> bool:
        for decoder, skip, screen in self._decoders:
            piece = data[skip:] if not self._started else data
            screen.feed(decoder.decode(piece))
        self._started = self._started or bool(data)
        return self.found

    def close(self) -> bool:
        for decoder, skip, screen in self._decoders:
            # The shifted UTF-16 decoder lacks the last byte of the last character (big-endian
            # text read as little-endian from the second byte): a NUL completes it.
            screen.feed(decoder.decode(b"\x00" * skip, final=True))
            screen.close()
        return self.found

    @property
    def found(self) -> bool:
        return any(screen.found for _, _, screen in self._decoders)
