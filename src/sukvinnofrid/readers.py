"""Reading kommun uploads: CSV (`;` or `,`, UTF-8 with or without BOM, Windows-1252) and XLSX.

Before anything reads an upload for its rows, `screen_upload` screens every byte the kommun sent:
the file name, the sidecar, the raw bytes of the file in every plausible encoding and, for an
XLSX, every part of the zip package (every sheet, hidden ones too, shared strings, comments,
defined names, document properties, ...) and every cell of every sheet as the reader renders it.
It also bounds what a file may make the machine do (size, zip members, decompressed size and
ratio, rows, columns, cells, characters in a cell, time) before anything parses it.

Rows are streamed, never held in memory as a whole. Anything that makes a file unreadable raises
`UploadError` with a Swedish message naming the file and, where there is one, the row and
variable. No message ever repeats a personnummer, and no exception text from a parser (which can
quote the file) is shown or logged.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import html
import json
import os
import pyexpat
import re
import struct
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .catalogue import load_catalogue
from .privacy import ByteScreen, TextScreen, contains_personnummer, mask_personnummer

FILE_NAME = re.compile(
    r"(?P<kommun>[0-9]{4}(?:-[A-ZÅÄÖ0-9]{2,6})?)_(?P<round>[0-9]{4}-[0-9]{2})"
    r"(?![0-9])"
)
ROUND_ID = re.compile(r"^(?P<year>[0-9]{4})-(?P<month>0[1-9]|1[0-2])\Z")
# A kommun code, or a stadsdel code (kommun code plus suffix), as in FILE_NAME.
KOMMUN_KOD = re.compile(r"^[0-9]{4}(?:-[A-ZÅÄÖ0-9]{2,6})?\Z")
SHEET_NAME = "Ärenden"
KOMMUN_COLUMN = "v2_kommun"
# The bytes Windows-1252 leaves undefined: a file containing them is in neither encoding we accept.
_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
# UTF-8 read as Windows-1252 and saved again as UTF-8 ("Ã¥" for "å"); the second byte of "Å", "Ä",
# "Ö", "É" is 0x80-0x9F, which Windows-1252 maps to "…", "„", "–", "‰" (not to U+0080-U+009F).
_DOUBLE_ENCODED = re.compile("Ã[\u0080-\u00bf€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ]")

# Bounds on one upload. A real upload (one kommun's cases, 130 template columns) stays far below
# them; a file beyond them is blocked before it is parsed, and never archived.
MAX_FILE_BYTES = 100 * 2**20
MAX_SIDECAR_BYTES = 64 * 2**10
MAX_ROWS = 100_000  # data rows of one sheet
MAX_COLUMNS = 1_000  # columns of one row
MAX_CELLS = 3_000_000  # cells (and shared strings) of a whole workbook
MAX_CELL_CHARS = 100_000  # one field or cell (Excel's own limit is 32 767)
MAX_LINE_BYTES = 4 * 2**20  # one line of a CSV file
MAX_ZIP_MEMBERS = 1_000
MAX_PART_BYTES = 100 * 2**20  # one part of an XLSX package, decompressed
MAX_UNPACKED_BYTES = 200 * 2**20  # all parts together, decompressed
# Deflate compresses ordinary sheet XML 5-30 times; a zip bomb about a thousand times.
MAX_COMPRESSION_RATIO = 200
RATIO_CHECKED_FROM_BYTES = 2**20  # tiny parts may compress to almost nothing
MAX_READ_SECONDS = 600  # screening and reading one file
_CHUNK = 2**20
# Joins values that must not run into each other when screened together (not a separator a
# personnummer can be written with).
SEP = "\x1f"


class UploadError(Exception):
    """An upload that cannot be landed. `message` is Swedish and names file, row and variable.

    `identity` is what could be read of the kommun and round when the error is about them (so
    the message can still reach the kommun)."""

    def __init__(
        self,
        file_name: str,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        code: str = "unreadable",
        identity: UploadIdentity | None = None,
    ):
        self.file_name = file_name
        self.row = row
        self.column = column
        self.code = code
        self.identity = identity
        where = [f"filen {file_name}"]
        if row is not None:
            where.append(f"rad {row}")
        if column is not None:
            where.append(f"variabel {describe_column(column)}")
        # A message can quote a cell (e.g. the kommun column); it must never repeat a personnummer.
        self.message = mask_personnummer(f"{', '.join(where)}: {message}")
        super().__init__(self.message)


def describe_column(column: str) -> str:
    """'v14_kon' → 'Kön (14), kolumn v14_kon' — how a kommun recognises the variable."""
    catalogue = load_catalogue()
    for candidate in catalogue.columns:
        if candidate.name == column:
            return f"{catalogue.variable(candidate.suv).label}, kolumn {column}"
    return f"kolumn {column}"


def _quote(value: str, limit: int = 40) -> str:
    """A value from the file in a message: quoted, and cut short (a sidecar can say anything)."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _swedish_int(n: int) -> str:
    return f"{n:,}".replace(",", "\u00a0")


def upload_name(path: Path) -> str:
    """The file name as stored and shown: a name that is not UTF-8 gets replacement characters,
    and a personnummer in it is masked."""
    name = os.fsencode(path.name).decode("utf-8", errors="replace")
    masked = mask_personnummer(name)
    if masked == name and _name_has_personnummer(path):
        # Seen only in another decoding of the name's bytes: hide every digit.
        masked = re.sub(r"\d", "X", name)
    return masked


def _name_has_personnummer(path: Path) -> bool:
    screen = ByteScreen()
    screen.feed(os.fsencode(path.name))
    return screen.close()


def sidecar_path(path: Path) -> Path:
    """Where an upload's sidecar (kommun and round as JSON) sits: `<file name>.json`."""
    return path.with_name(path.name + ".json")


@dataclass(frozen=True)
class UploadIdentity:
    kommun_kod: str
    round_id: str


def identify(path: Path, file_name: str | None = None) -> UploadIdentity:
    """Kommun and round from the file name and/or a sidecar `<file>.json`; both must agree.

    When the round cannot be used but the kommun code can, the error carries the kommun (with
    an empty round) so that the kommun still gets the message."""
    file_name = file_name or upload_name(path)
    found: list[tuple[str, UploadIdentity]] = []
    match = FILE_NAME.search(path.stem)
    if match:
        found.append(("filnamnet", UploadIdentity(match["kommun"], match["round"])))
    sidecar = sidecar_path(path)
    if sidecar.exists():
        if sidecar.stat().st_size > MAX_SIDECAR_BYTES:
            raise UploadError(
                file_name,
                f"sidofilen är större än {_swedish_int(MAX_SIDECAR_BYTES)} "
                'byte; den ska bara innehålla {"kommun": "0180", "round": "2023-06"}.',
                code="identity",
            )
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            found.append(("sidofilen", UploadIdentity(str(meta["kommun"]), str(meta["round"]))))
        except (ValueError, KeyError, TypeError, RecursionError, OSError) as exc:
            # The exception's class only: its text can quote the sidecar.
            raise UploadError(
                file_name,
                f"sidofilen kunde inte läsas ({type(exc).__name__}); den "
                'ska innehålla {"kommun": "0180", "round": "2023-06"}.',
                code="identity",
            ) from exc
    if not found:
        raise UploadError(
            file_name,
            "kommun och insamlingsomgång framgår inte. Namnge filen "
            "sukf_<kommunkod>_<ÅÅÅÅ-MM>.csv (eller .xlsx), t.ex. sukf_0180_2023-06.csv, "
            "eller bifoga en sidofil med kommun och omgång.",
            code="identity",
        )
    identities = {identity for _, identity in found}
    if len(identities) > 1:
        described = "; ".join(
            f"{src}: kommun {i.kommun_kod}, omgång {i.round_id}" for src, i in found
        )
        raise UploadError(
            file_name,
            f"filnamn och sidofil anger olika kommun eller omgång ({described}).",
            code="identity",
        )
    identity = identities.pop()
    # A sidecar can say anything; the code becomes an archive directory and a table value.
    if not KOMMUN_KOD.match(identity.kommun_kod):
        raise UploadError(
            file_name,
            f"kommunkoden {_quote(identity.kommun_kod)} är inte på formen NNNN "
            "eller NNNN-XXX (t.ex. 0180 eller 0180-EAV).",
            code="identity",
        )
    if not ROUND_ID.match(identity.round_id):
        raise UploadError(
            file_name,
            f"omgången {_quote(identity.round_id)} är ingen giltig månad. Ange "
            "omgången som ÅÅÅÅ-MM med månad 01–12, t.ex. 2023-06.",
            code="identity",
            identity=UploadIdentity(identity.kommun_kod, ""),
        )
    return identity


class Deadline:
    """The time one file may take to screen and read."""

    def __init__(self, file_name: str, seconds: float | None = None) -> None:
        self.file_name = file_name
        self.seconds = MAX_READ_SECONDS if seconds is None else seconds
        self.end = time.monotonic() + self.seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise UploadError(
                self.file_name,
                f"det tog mer än {_swedish_int(int(self.seconds))} "
                "sekunder att läsa filen, så den har stoppats och inte sparats. "
                "Kontrollera att den följer mallen.",
                code="too_large",
            )


def _too_large(file_name: str, what: str) -> UploadError:
    return UploadError(
        file_name,
        f"{what} Filen har stoppats utan att läsas vidare och har inte "
        "sparats. Skicka en fil enligt mallen (högst "
        f"{_swedish_int(MAX_ROWS)} rader och {_swedish_int(MAX_COLUMNS)} kolumner).",
        code="too_large",
    )


# --- screening: personnummer and hostile structure, before anything parses the file ----------


@dataclass(frozen=True)
class Finding:
    """Where a personnummer was found, as the kommun is told (never the value itself)."""

    place: str | None = None  # e.g. "filnamnet", "bladet 'Dolt'"; None: somewhere in the file
    row: int | None = None
    column: str | None = None


def personnummer_error(file_name: str, finding: Finding) -> UploadError:
    subject = f"{finding.place} innehåller" if finding.place else "innehåller"
    return UploadError(
        file_name,
        f"{subject} något som ser ut som ett personnummer. Hela filen har "
        "stoppats och ingenting har sparats. Ta bort uppgiften, använd "
        "verksamhetens pseudonym och skicka filen igen.",
        row=finding.row,
        column=finding.column,
        code="privacy",
    )


def screen_upload(path: Path, file_name: str, deadline: Deadline | None = None) -> bool:
    """Screen everything the kommun sent with this upload; raise UploadError (code 'privacy')
    if a personnummer is anywhere in it, or (code 'too_large', 'unreadable', 'embedded') if the
    file could not be screened whole within the bounds. Returns whether a copy may be kept:
    True for a text file or an XLSX package (every byte screened as what it is), False for a
    binary or legacy Excel file (only its raw bytes could be searched)."""
    deadline = deadline or Deadline(file_name)
    if _name_has_personnummer(path):
        raise personnummer_error(file_name, Finding("filnamnet"))
    sidecar = sidecar_path(path)
    if sidecar.exists() and _sidecar_has_personnummer(sidecar, file_name):
        raise personnummer_error(file_name, Finding("sidofilen"))
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise _too_large(
            file_name, f"filen är större än {_swedish_int(MAX_FILE_BYTES // 2**20)} MB."
        )
    kind, found = _screen_bytes(path, file_name, deadline)
    if kind == "xlsx":
        part = _screen_package(path, file_name, deadline)
        try:
            cell = _screen_workbook_cells(path, file_name, deadline)
        except UploadError:
            if found or part:  # unreadable, but the kommun must hear about the personnummer
                raise personnummer_error(file_name, Finding(_describe_part(part))) from None
            raise
        if cell or part or found:
            raise personnummer_error(file_name, cell or Finding(_describe_part(part)))
    elif found:
        raise personnummer_error(
            file_name,
            (_locate_in_csv(path, file_name, deadline) if kind == "text" else None) or Finding(),
        )
    return kind in ("text", "xlsx")


_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _sidecar_has_personnummer(sidecar: Path, file_name: str) -> bool:
    """The sidecar's bytes, and its text with JSON's \\uXXXX escapes resolved (a dash or a
    digit can be written that way)."""
    if sidecar.stat().st_size > MAX_SIDECAR_BYTES:
        raise _too_large(
            file_name, f"sidofilen är större än {_swedish_int(MAX_SIDECAR_BYTES)} byte."
        )
    data = sidecar.read_bytes()
    raw, text = ByteScreen(), TextScreen()
    raw.feed(data)
    text.feed(_JSON_ESCAPE.sub(lambda m: chr(int(m[1], 16)), data.decode("utf-8", "replace")))
    return raw.close() | text.close()


def _screen_bytes(path: Path, file_name: str, deadline: Deadline) -> tuple[str, bool]:
    """Every byte of the file, in every plausible encoding; returns (kind, personnummer found).
    A text file's lines are bounded here, before the CSV reader holds a line in memory."""
    screen = ByteScreen()
    with path.open("rb") as handle:
        head = handle.read(8)
        handle.seek(0)
        kind = (
            "xlsx"
            if head.startswith((b"PK\x03\x04", b"PK\x05\x06"))
            else "ole"
            if head.startswith(b"\xd0\xcf\x11\xe0")
            else "text"
        )
        utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        line = 0
        while chunk := handle.read(_CHUNK):
            deadline.check()
            screen.feed(chunk)
            if kind == "text" and b"\x00" in chunk and not utf16:
                kind = "binary"
            if kind == "text":
                lines = chunk.split(b"\n")
                line += len(lines[0])
                if any(len(part) > MAX_LINE_BYTES for part in lines[1:]) or line > MAX_LINE_BYTES:
                    raise _too_large(
                        file_name,
                        f"en rad i filen är längre än {_swedish_int(MAX_LINE_BYTES // 2**20)} MB.",
                    )
                if len(lines) > 1:
                    line = len(lines[-1])
    return kind, screen.close()


def _locate_in_csv(path: Path, file_name: str, deadline: Deadline) -> Finding | None:
    """Row and column of the first personnummer in a text file, as the CSV reader sees it
    (best effort: a file the reader cannot parse is reported without a place)."""
    try:
        upload = _open_csv(path, file_name, deadline)
    except UploadError:
        return None
    try:
        if (index := _personnummer_index(upload.header)) is not None:
            return Finding(row=1, column=_column_name(upload.header, index))
        for source_row, values in upload.numbered_rows():
            if (index := _personnummer_index(values)) is not None:
                return Finding(row=source_row, column=_column_name(upload.header, index))
    except UploadError:
        return None
    finally:
        upload.close()
    return None


def _personnummer_index(values: list[str]) -> int | None:
    """The index of the first value holding a personnummer; one search over the joined values
    finds whether any does."""
    if not contains_personnummer(SEP.join(values)):
        return None
    return next(i for i, value in enumerate(values) if contains_personnummer(value))


def _column_name(header: list[str], index: int) -> str:
    """A column as the kommun knows it: its header, else its spreadsheet letter."""
    if index < len(header) and header[index]:
        return header[index]
    return _column_letter(index + 1)


def _column_letter(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_number(reference: str) -> int:
    """'AB12' → 28: the column of a cell reference (0 when there is none)."""
    number = 0
    for char in reference:
        if not "A" <= char <= "Z":
            break
        number = number * 26 + ord(char) - 64
    return number


def _describe_part(part: str | None) -> str | None:
    return f"Excel-filens del {part}" if part else None


def _check_zip_directory(path: Path, file_name: str) -> None:
    """Count the package's members from its end record before a zip reader builds its
    directory in memory."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - (22 + 65_535)))
        tail = handle.read()
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) < end + 22:
        return  # not a zip end record: the zip reader reports the file as unreadable
    entries, directory_bytes = struct.unpack("<HI", tail[end + 10 : end + 16])
    if entries == 0xFFFF or entries > MAX_ZIP_MEMBERS or directory_bytes > MAX_ZIP_MEMBERS * 1024:
        raise _too_large(
            file_name, f"Excel-filen består av fler än {_swedish_int(MAX_ZIP_MEMBERS)} delar."
        )


def _unreadable_workbook(file_name: str) -> UploadError:
    return UploadError(
        file_name,
        "filen kunde inte öppnas som Excel-arbetsbok (.xlsx). "
        "Kontrollera att den inte är skadad eller i ett annat format.",
        code="unreadable",
    )


def _screen_package(path: Path, file_name: str, deadline: Deadline) -> str | None:
    """Check the zip package against the bounds, then screen every part; returns the first
    part holding a personnummer. Every part is checked even after a find: the workbook reader
    runs next and must only see a package within the bounds."""
    _check_zip_directory(path, file_name)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _unreadable_workbook(file_name) from exc
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise _too_large(
                file_name, f"Excel-filen består av fler än {_swedish_int(MAX_ZIP_MEMBERS)} delar."
            )
        for info in members:
            if info.flag_bits & 0x1:
                raise UploadError(
                    file_name,
                    "Excel-filen är krypterad eller lösenordsskyddad och "
                    "kan inte granskas. Spara den utan lösenord.",
                    code="unreadable",
                )
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _unreadable_workbook(file_name)
            ratio_checked = info.file_size >= RATIO_CHECKED_FROM_BYTES
            if info.file_size > MAX_PART_BYTES or (
                ratio_checked
                and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1)
            ):
                raise _too_large(
                    file_name,
                    "Excel-filen packas upp till orimligt mycket data "
                    f"(delen {info.filename}: {_swedish_int(info.file_size // 2**20)} MB).",
                )
        if sum(info.file_size for info in members) > MAX_UNPACKED_BYTES:
            raise _too_large(
                file_name,
                "Excel-filen packas upp till mer än "
                f"{_swedish_int(MAX_UNPACKED_BYTES // 2**20)} MB.",
            )
        names = TextScreen()
        names.feed(
            SEP.join(
                [
                    archive.comment.decode("cp437", "replace"),
                    *(f"{i.filename}{SEP}{i.comment.decode('cp437', 'replace')}" for i in members),
                ]
            )
        )
        found = "arkivets namn och kommentarer" if names.close() else None
        counts = _PackageCounts(file_name)
        for info in members:
            try:
                in_part = _screen_part(archive, info, file_name, counts, deadline)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                raise _unreadable_workbook(file_name) from exc
            found = found or (info.filename if in_part else None)
    return found


class _PackageCounts:
    """Rows, columns, cells and shared strings of a whole package, against the bounds."""

    def __init__(self, file_name: str) -> None:
        self.file_name = file_name
        self.cells = 0
        self.strings = 0

    def row(self, number: int) -> None:
        if number > MAX_ROWS + 1:
            raise _too_large(
                self.file_name, f"ett blad har fler än {_swedish_int(MAX_ROWS)} rader."
            )

    def cell(self, reference: str | None) -> None:
        self.cells += 1
        if self.cells > MAX_CELLS:
            raise _too_large(
                self.file_name, f"arbetsboken har fler än {_swedish_int(MAX_CELLS)} celler."
            )
        if reference and _column_number(reference) > MAX_COLUMNS:
            raise _too_large(
                self.file_name, f"ett blad har fler än {_swedish_int(MAX_COLUMNS)} kolumner."
            )

    def string(self) -> None:
        self.strings += 1
        if self.strings > MAX_CELLS:
            raise _too_large(
                self.file_name, f"arbetsboken har fler än {_swedish_int(MAX_CELLS)} texter."
            )


def _screen_part(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    file_name: str,
    counts: _PackageCounts,
    deadline: Deadline,
) -> bool:
    """Screen one part of the package; True if it holds a personnummer."""
    with archive.open(info) as member:
        first = member.read(_CHUNK)
        body = first.lstrip(b"\xef\xbb\xbf \t\r\n")
        if body.startswith(b"<") or first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            try:
                return _XmlScreen(file_name, counts).screen(first, member, deadline)
            except pyexpat.ExpatError:
                pass  # not well-formed: screened as text below
        elif first.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            # An embedded workbook, document or macro project: its content cannot be screened.
            raise UploadError(
                file_name,
                "filen innehåller inbäddade filer eller makron (delen "
                f"{info.filename}), som inte kan granskas. Spara arbetsboken som en "
                "vanlig .xlsx utan makron och inbäddade objekt.",
                code="embedded",
            )
    with archive.open(info) as member:
        return _screen_raw_part(member, deadline)


_TAG = re.compile(r"<[^>]*>")


def _screen_raw_part(member, deadline: Deadline) -> bool:
    """A binary part, or XML that does not parse: its bytes in every encoding, and its text
    with markup removed and character references resolved."""
    raw = ByteScreen()
    text = TextScreen()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while chunk := member.read(_CHUNK):
        deadline.check()
        raw.feed(chunk)
        text.feed(_TAG.sub(SEP, html.unescape(decoder.decode(chunk))))
    text.feed(decoder.decode(b"", final=True))
    return raw.close() | text.close()


class _XmlScreen:
    """Screens one XML part as a stream: every text node, attribute, element name, comment and
    processing instruction, and counts rows and cells against the bounds.

    Text nodes are screened as separate values, except the runs of one rich-text string (a
    shared string, an inline string, a comment, a drawing paragraph), which Excel shows as one
    text: "811218" and "-9876" in two runs are one number. A DTD is refused (entity expansion
    is how XML is made to explode). Pieces are collected and screened in batches: one search
    per callback would cost more than the parse."""

    RICH_TEXT = frozenset({"si", "is", "text", "p"})
    BATCH = 4096  # pieces per search

    def __init__(self, file_name: str, counts: _PackageCounts) -> None:
        self.file_name = file_name
        self.counts = counts
        self.text, self.text_parts = TextScreen(), []
        self.markup, self.markup_parts = TextScreen(), []
        self.rich_depth = 0
        self.run_chars = 0
        self.parents: list[str] = []
        self.row_number = 0
        parser = pyexpat.ParserCreate()
        parser.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.buffer_text = True
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._characters
        parser.CommentHandler = self._markup
        parser.ProcessingInstructionHandler = lambda target, data: self._markup(f"{target} {data}")
        parser.StartDoctypeDeclHandler = self._doctype
        parser.EntityDeclHandler = self._doctype
        self.parser = parser

    def screen(self, first: bytes, member, deadline: Deadline) -> bool:
        chunk = first
        while chunk:
            deadline.check()
            self.parser.Parse(chunk, False)
            chunk = member.read(_CHUNK)
        self.parser.Parse(b"", True)
        self._flush()
        return self.text.close() | self.markup.close()

    def _flush(self) -> None:
        self.text.feed("".join(self.text_parts))
        self.markup.feed("".join(self.markup_parts))
        self.text_parts.clear()
        self.markup_parts.clear()

    def _doctype(self, *_args) -> None:
        raise UploadError(
            self.file_name,
            "Excel-filen innehåller en dokumenttypdefinition (DTD), "
            "som en vanlig arbetsbok aldrig har. Spara den på nytt som .xlsx.",
            code="unreadable",
        )

    def _markup(self, text: str) -> None:
        self.markup_parts += (SEP, text)

    def _boundary(self) -> None:
        self.text_parts.append(SEP)
        self.run_chars = 0
        if len(self.text_parts) > self.BATCH or len(self.markup_parts) > self.BATCH:
            self._flush()

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        self.markup_parts += (SEP, name)
        for key, value in attributes.items():
            self.markup_parts += (SEP, key, SEP, value)
        if self.rich_depth == 0:
            self._boundary()
        if local in self.RICH_TEXT:
            self.rich_depth += 1
        parent = self.parents[-1] if self.parents else ""
        if local == "c" and parent == "row":
            self.counts.cell(attributes.get("r"))
        elif local == "row" and parent == "sheetData":
            reference = attributes.get("r", "")
            self.row_number = int(reference) if reference.isdigit() else self.row_number + 1
            self.counts.row(self.row_number)
        elif local == "si" and parent == "sst":
            self.counts.string()
        self.parents.append(local)

    def _end(self, name: str) -> None:
        local = self.parents.pop()
        if local in self.RICH_TEXT:
            self.rich_depth -= 1
        if self.rich_depth == 0:
            self._boundary()

    def _characters(self, data: str) -> None:
        self.run_chars += len(data)
        if self.run_chars > MAX_CELL_CHARS:
            raise _too_large(
                self.file_name,
                "en cell eller text i Excel-filen är längre än "
                f"{_swedish_int(MAX_CELL_CHARS)} tecken.",
            )
        self.text_parts.append(data)


def _screen_workbook_cells(path: Path, file_name: str, deadline: Deadline) -> Finding | None:
    """Every cell of every sheet (hidden ones too) as the reader renders it: a number such as
    8112189876 stored as 8.112189876E9 is only a personnummer once rendered."""
    workbook, handle = _load_workbook(path, file_name)
    try:
        data_sheet = _data_sheet(workbook)
        for sheet in workbook.worksheets:
            sheet.reset_dimensions()  # a sheet's own claim of its size is not trusted
            header: list[str] = []
            for row_number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                deadline.check()
                cells = [_cell_text(value) for value in values]
                if row_number == 1 and sheet is data_sheet:
                    header = _normalise_header(cells)
                if (index := _personnummer_index(cells)) is not None:
                    place = None if sheet is data_sheet else f"bladet {sheet.title!r}"
                    return Finding(place, row_number, _column_name(header, index))
    except UploadError:
        raise
    except Exception as exc:  # a broken workbook can break the parser in many ways
        raise _unreadable_workbook(file_name) from exc
    finally:
        workbook.close()
        handle.close()
    return None


# --- reading rows -------------------------------------------------------------------------------


@dataclass
class ParsedUpload:
    """A readable upload: its dialect, its header mapped to the catalogue, and streamed rows."""

    file_name: str
    file_format: str
    encoding: str | None
    delimiter: str | None
    header: list[str]
    unknown_columns: list[str] = field(default_factory=list)
    missing_optional_columns: list[str] = field(default_factory=list)
    _rows: Iterator[list[str]] | None = None
    deadline: Deadline | None = None

    def close(self) -> None:
        """Close the file when the rows are not read to the end."""
        if self._rows is not None:
            self._rows.close()

    def numbered_rows(self) -> Iterator[tuple[int, list[str]]]:
        """(source_row, values) for every non-empty data row; the header is row 1."""
        for source_row, values in enumerate(self._rows or iter(()), start=2):
            if self.deadline:
                self.deadline.check()
            if source_row > MAX_ROWS + 1:
                raise _too_large(
                    self.file_name, f"filen har fler än {_swedish_int(MAX_ROWS)} rader."
                )
            if any(value.strip() for value in values):
                yield source_row, values

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """(source_row, {column: value}) for every non-empty data row; the header is row 1."""
        width = len(self.header)
        for source_row, values in self.numbered_rows():
            if len(values) != width:
                raise UploadError(
                    self.file_name,
                    f"raden har {len(values)} fält men rubrikraden har "
                    f"{width}. Kontrollera avgränsare och citattecken.",
                    row=source_row,
                    code="structure",
                )
            yield source_row, dict(zip(self.header, map(str.strip, values), strict=True))


def _normalise_header(names: list[str]) -> list[str]:
    return [name.strip().lstrip("\ufeff").strip().lower() for name in names]


def _check_header(file_name: str, header: list[str]) -> tuple[list[str], list[str]]:
    catalogue = load_catalogue()
    if not any(header):
        raise UploadError(file_name, "rubrikraden saknas eller är tom.", row=1, code="structure")
    if len(header) > MAX_COLUMNS:
        raise _too_large(
            file_name, f"rubrikraden har fler än {_swedish_int(MAX_COLUMNS)} kolumner."
        )
    duplicates = sorted({name for name in header if name and header.count(name) > 1})
    if duplicates:
        raise UploadError(
            file_name,
            f"kolumnerna {', '.join(duplicates)} förekommer flera gånger i rubrikraden.",
            row=1,
            code="structure",
        )
    missing_required = [c for c in catalogue.required_columns() if c not in header]
    if missing_required:
        described = "; ".join(describe_column(c) for c in missing_required)
        raise UploadError(
            file_name,
            f"obligatoriska kolumner saknas i rubrikraden: {described}. "
            "Använd mallen för uppladdning.",
            row=1,
            column=missing_required[0],
            code="structure",
        )
    known = set(catalogue.column_names)
    unknown = [name for name in header if name and name not in known]
    missing_optional = [c for c in catalogue.column_names if c not in header]
    return unknown, missing_optional


def _detect_encoding(file_name: str, path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise UploadError(
                file_name,
                "filen är kodad som UTF-16, vilket inte stöds. Spara den som "
                "CSV (UTF-8) eller CSV (Windows-1252).",
                code="encoding",
            )
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        utf8 = True
        cp1252_undefined = False
        while chunk := handle.read(_CHUNK):
            if b"\x00" in chunk:
                raise UploadError(
                    file_name,
                    "filen innehåller binära data (nolltecken) och är ingen "
                    "textfil. Skicka CSV eller XLSX.",
                    code="encoding",
                )
            cp1252_undefined = cp1252_undefined or bool(_CP1252_UNDEFINED.search(chunk))
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    if cp1252_undefined:
        raise UploadError(
            file_name,
            "filen är varken giltig UTF-8 eller Windows-1252. Spara den som CSV (UTF-8).",
            code="encoding",
        )
    return "cp1252"


def _open_csv(path: Path, file_name: str, deadline: Deadline | None = None) -> ParsedUpload:
    encoding = _detect_encoding(file_name, path)
    handle = path.open("r", encoding=encoding, newline="")
    first_line = handle.readline()
    counts = {delim: first_line.count(delim) for delim in (";", ",", "\t")}
    delimiter = max(counts, key=counts.get)
    if counts[delimiter] == 0:
        handle.close()
        raise UploadError(
            file_name,
            "rubrikraden innehåller ingen avgränsare. Kolumnerna ska skiljas "
            "åt med semikolon (;) eller komma (,).",
            row=1,
            code="structure",
        )
    handle.seek(0)
    csv.field_size_limit(MAX_CELL_CHARS)
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = _normalise_header(next(reader))
    except csv.Error as exc:
        handle.close()
        raise UploadError(
            file_name, "rubrikraden kunde inte läsas som CSV.", row=1, code="structure"
        ) from exc
    if _DOUBLE_ENCODED.search(first_line):
        handle.close()
        raise UploadError(
            file_name,
            "filen verkar ha sparats med fel teckenkodning (t.ex. 'Ã¥' i "
            "stället för 'å'). Spara den som CSV (UTF-8).",
            row=1,
            code="encoding",
        )
    try:
        unknown, missing = _check_header(file_name, header)
    except UploadError:
        handle.close()
        raise

    def rows() -> Iterator[list[str]]:
        try:
            for row_number, values in enumerate(reader, start=2):
                # One search over the joined row (the separator cannot be part of a match).
                if _DOUBLE_ENCODED.search(SEP.join(values)):
                    raise UploadError(
                        file_name,
                        "texten verkar ha sparats med fel teckenkodning "
                        "(t.ex. 'Ã¥' i stället för 'å'). Spara filen som CSV (UTF-8).",
                        row=row_number,
                        code="encoding",
                    )
                yield values
        except csv.Error as exc:
            # The csv module's message can quote the file: the kind of problem is told instead.
            raise UploadError(
                file_name,
                "raden kunde inte tolkas som CSV (t.ex. ett citattecken "
                "som inte avslutas, ett nolltecken eller ett fält längre än "
                f"{_swedish_int(MAX_CELL_CHARS)} tecken).",
                row=reader.line_num,
                code="structure",
            ) from exc
        finally:
            handle.close()

    return ParsedUpload(
        file_name, "csv", encoding, delimiter, header, unknown, missing, rows(), deadline
    )


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _kommun_text(value: object) -> str:
    """A kommun code typed into a General-formatted cell is a number (0126 → 126): read it as
    the four-digit code."""
    if type(value) in (int, float) and float(value).is_integer() and 0 < value < 10_000:
        return f"{int(value):04d}"
    return _cell_text(value)


def _load_workbook(path: Path, file_name: str):
    """The workbook (read-only, cached values, no external links) and its open file."""
    import openpyxl

    # Given a path, openpyxl refuses any name not ending in .xlsx/.xlsm; the content decides here
    # (an XLSX renamed to .csv is still an XLSX), so it gets an open file.
    handle = path.open("rb")
    try:
        return openpyxl.load_workbook(
            handle, read_only=True, data_only=True, keep_links=False
        ), handle
    except Exception as exc:  # not a workbook, or a broken one: the parser's text stays out
        handle.close()
        raise _unreadable_workbook(file_name) from exc


def _data_sheet(workbook):
    return workbook[SHEET_NAME] if SHEET_NAME in workbook.sheetnames else workbook.worksheets[0]


def _open_xlsx(path: Path, file_name: str, deadline: Deadline | None = None) -> ParsedUpload:
    workbook, handle = _load_workbook(path, file_name)

    def close() -> None:
        workbook.close()
        handle.close()

    try:
        if not workbook.worksheets:
            raise UploadError(file_name, "arbetsboken har inga blad.", code="empty")
        sheet = _data_sheet(workbook)
        sheet.reset_dimensions()  # a sheet's own claim of its size is not trusted
        iterator = sheet.iter_rows(values_only=True)
        first = next(iterator, None)
        if first is None:
            raise UploadError(file_name, f"bladet {sheet.title!r} är tomt.", code="empty")
        header = _normalise_header([_cell_text(v) for v in first])
        while header and not header[-1]:
            header.pop()
        unknown, missing = _check_header(file_name, header)
    except BaseException:
        close()
        raise
    width = len(header)
    kommun = header.index(KOMMUN_COLUMN) if KOMMUN_COLUMN in header else None

    def rows() -> Iterator[list[str]]:
        try:
            for values in iterator:
                cells = [
                    _kommun_text(v) if i == kommun else _cell_text(v) for i, v in enumerate(values)
                ]
                # Trailing empty cells are layout, not data.
                while len(cells) > width and not cells[-1]:
                    cells.pop()
                cells += [""] * (width - len(cells))
                yield cells
        finally:
            close()

    return ParsedUpload(file_name, "xlsx", None, None, header, unknown, missing, rows(), deadline)


def open_upload(
    path: Path, file_name: str | None = None, deadline: Deadline | None = None
) -> ParsedUpload:
    """Open an upload for streaming; raises UploadError for empty, unreadable or malformed files.

    Screen the file first (`screen_upload`): the bounds on a package's size are checked there."""
    file_name = file_name or upload_name(path)
    if not path.is_file():
        raise UploadError(file_name, "filen finns inte.", code="unreadable")
    if path.stat().st_size == 0:
        raise UploadError(file_name, "filen är tom (0 byte).", code="empty")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic.startswith(b"PK\x03\x04") or path.suffix.lower() == ".xlsx":
        return _open_xlsx(path, file_name, deadline)
    if path.suffix.lower() in {".xls"} or magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise UploadError(
            file_name,
            "det äldre Excel-formatet .xls stöds inte. Spara som .xlsx eller CSV.",
            code="unreadable",
        )
    return _open_csv(path, file_name, deadline)
