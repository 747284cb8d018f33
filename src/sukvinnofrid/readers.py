"""Reading kommun uploads: CSV (`;` or `,`, UTF-8 with or without BOM, Windows-1252) and XLSX.

Rows are streamed, never held in memory as a whole. Anything that makes a file unreadable raises
`UploadError` with a Swedish message naming the file and, where there is one, the row and
variable.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .catalogue import load_catalogue
from .privacy import mask_personnummer

FILE_NAME = re.compile(r"(?P<kommun>\d{4}(?:-[A-ZÅÄÖ0-9]{2,6})?)_(?P<round>\d{4}-\d{2})(?![0-9])")
ROUND_ID = re.compile(r"^(?P<year>\d{4})-(?P<month>0[1-9]|1[0-2])\Z")
# A kommun code, or a stadsdel code (kommun code plus suffix), as in FILE_NAME.
KOMMUN_KOD = re.compile(r"^\d{4}(?:-[A-ZÅÄÖ0-9]{2,6})?\Z")
SHEET_NAME = "Ärenden"
# The bytes Windows-1252 leaves undefined: a file containing them is in neither encoding we accept.
_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
# UTF-8 read as Windows-1252 and saved again as UTF-8 ("Ã¥" for "å"); the second byte of "Å", "Ä",
# "Ö", "É" is 0x80-0x9F, which Windows-1252 maps to "…", "„", "–", "‰" (not to U+0080-U+009F).
_DOUBLE_ENCODED = re.compile("Ã[\u0080-\u00bf€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ]")
_CSV_FIELD_LIMIT = 100_000


class UploadError(Exception):
    """An upload that cannot be landed. `message` is Swedish and names file, row and variable."""

    def __init__(self, file_name: str, message: str, *, row: int | None = None,
                 column: str | None = None, code: str = "unreadable"):
        self.file_name = file_name
        self.row = row
        self.column = column
        self.code = code
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


@dataclass(frozen=True)
class UploadIdentity:
    kommun_kod: str
    round_id: str


def round_close(round_id: str) -> dt.date:
    """A round 'ÅÅÅÅ-MM' closes on the last day of that month."""
    match = ROUND_ID.match(round_id)
    if not match:
        raise ValueError(f"round id {round_id!r} is not ÅÅÅÅ-MM")
    year, month = int(match["year"]), int(match["month"])
    first_of_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return first_of_next - dt.timedelta(days=1)


def identify(path: Path) -> UploadIdentity:
    """Kommun and round from the file name and/or a sidecar `<file>.json`; both must agree."""
    found: list[tuple[str, UploadIdentity]] = []
    match = FILE_NAME.search(path.stem)
    if match:
        found.append(("filnamnet", UploadIdentity(match["kommun"], match["round"])))
    sidecar = path.with_name(path.name + ".json")
    if sidecar.exists():
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            found.append((sidecar.name, UploadIdentity(str(meta["kommun"]), str(meta["round"]))))
        except (ValueError, KeyError, TypeError) as exc:
            raise UploadError(path.name, f"sidofilen {sidecar.name} kunde inte läsas ({exc}); den "
                              'ska innehålla {"kommun": "0180", "round": "2023-06"}.',
                              code="identity") from exc
    if not found:
        raise UploadError(path.name, "kommun och insamlingsomgång framgår inte. Namnge filen "
                          "sukf_<kommunkod>_<ÅÅÅÅ-MM>.csv (eller .xlsx), t.ex. sukf_0180_2023-06.csv, "
                          "eller bifoga en sidofil med kommun och omgång.", code="identity")
    identities = {identity for _, identity in found}
    if len(identities) > 1:
        described = "; ".join(f"{src}: kommun {i.kommun_kod}, omgång {i.round_id}" for src, i in found)
        raise UploadError(path.name, f"filnamn och sidofil anger olika kommun eller omgång ({described}).",
                          code="identity")
    identity = identities.pop()
    # A sidecar can say anything; the code becomes an archive directory and a table value.
    if not KOMMUN_KOD.match(identity.kommun_kod):
        raise UploadError(path.name, f"kommunkoden {identity.kommun_kod!r} är inte på formen NNNN "
                          "eller NNNN-XXX (t.ex. 0180 eller 0180-EAV).", code="identity")
    if not ROUND_ID.match(identity.round_id):
        raise UploadError(path.name, f"omgången {identity.round_id!r} är inte på formen ÅÅÅÅ-MM.",
                          code="identity")
    return identity


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

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """(source_row, {column: value}) for every non-empty data row; the header is row 1.

        The dict holds every column of the file, unknown ones included (they are screened for
        personal data but never stored)."""
        width = len(self.header)
        for source_row, values in enumerate(self._rows or iter(()), start=2):
            stripped = list(map(str.strip, values))
            if not any(stripped):
                continue
            if len(values) != width:
                raise UploadError(self.file_name, f"raden har {len(values)} fält men rubrikraden har "
                                  f"{width}. Kontrollera avgränsare och citattecken.",
                                  row=source_row, code="structure")
            yield source_row, dict(zip(self.header, stripped))


def _normalise_header(names: list[str]) -> list[str]:
    return [name.strip().lstrip("\ufeff").strip().lower() for name in names]


def _check_header(file_name: str, header: list[str]) -> tuple[list[str], list[str]]:
    catalogue = load_catalogue()
    if not any(header):
        raise UploadError(file_name, "rubrikraden saknas eller är tom.", row=1, code="structure")
    duplicates = sorted({name for name in header if name and header.count(name) > 1})
    if duplicates:
        raise UploadError(file_name, f"kolumnerna {', '.join(duplicates)} förekommer flera gånger i "
                          "rubrikraden.", row=1, code="structure")
    missing_required = [c for c in catalogue.required_columns() if c not in header]
    if missing_required:
        described = "; ".join(describe_column(c) for c in missing_required)
        raise UploadError(file_name, f"obligatoriska kolumner saknas i rubrikraden: {described}. "
                          "Använd mallen för uppladdning.", row=1, column=missing_required[0],
                          code="structure")
    known = set(catalogue.column_names)
    unknown = [name for name in header if name and name not in known]
    missing_optional = [c for c in catalogue.column_names if c not in header]
    return unknown, missing_optional


def _detect_encoding(file_name: str, path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise UploadError(file_name, "filen är kodad som UTF-16, vilket inte stöds. Spara den som "
                              "CSV (UTF-8) eller CSV (Windows-1252).", code="encoding")
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        utf8 = True
        cp1252_undefined = False
        while chunk := handle.read(1 << 20):
            if b"\x00" in chunk:
                raise UploadError(file_name, "filen innehåller binära data (nolltecken) och är ingen "
                                  "textfil. Skicka CSV eller XLSX.", code="encoding")
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
        raise UploadError(file_name, "filen är varken giltig UTF-8 eller Windows-1252. Spara den som "
                          "CSV (UTF-8).", code="encoding")
    return "cp1252"


def _open_csv(path: Path, file_name: str) -> ParsedUpload:
    encoding = _detect_encoding(file_name, path)
    handle = path.open("r", encoding=encoding, newline="")
    first_line = handle.readline()
    counts = {delim: first_line.count(delim) for delim in (";", ",", "\t")}
    delimiter = max(counts, key=counts.get)
    if counts[delimiter] == 0:
        handle.close()
        raise UploadError(file_name, "rubrikraden innehåller ingen avgränsare. Kolumnerna ska skiljas "
                          "åt med semikolon (;) eller komma (,).", row=1, code="structure")
    handle.seek(0)
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = _normalise_header(next(reader))
    except csv.Error as exc:
        handle.close()
        raise UploadError(file_name, f"rubrikraden kunde inte läsas ({exc}).", row=1,
                          code="structure") from exc
    if _DOUBLE_ENCODED.search(first_line):
        handle.close()
        raise UploadError(file_name, "filen verkar ha sparats med fel teckenkodning (t.ex. 'Ã¥' i "
                          "stället för 'å'). Spara den som CSV (UTF-8).", row=1, code="encoding")
    try:
        unknown, missing = _check_header(file_name, header)
    except UploadError:
        handle.close()
        raise

    def rows() -> Iterator[list[str]]:
        try:
            for row_number, values in enumerate(reader, start=2):
                # One search over the joined row (the separator cannot be part of a match).
                if _DOUBLE_ENCODED.search("\x1f".join(values)):
                    raise UploadError(file_name, "texten verkar ha sparats med fel teckenkodning "
                                      "(t.ex. 'Ã¥' i stället för 'å'). Spara filen som CSV (UTF-8).",
                                      row=row_number, code="encoding")
                yield values
        except csv.Error as exc:
            raise UploadError(file_name, f"raden kunde inte tolkas som CSV ({exc}).",
                              row=reader.line_num, code="structure") from exc
        finally:
            handle.close()

    csv.field_size_limit(_CSV_FIELD_LIMIT)
    return ParsedUpload(file_name, "csv", encoding, delimiter, header, unknown, missing, rows())


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


def _open_xlsx(path: Path, file_name: str) -> ParsedUpload:
    import openpyxl

    # Given a path, openpyxl refuses any name not ending in .xlsx/.xlsm; the content decides here
    # (an XLSX renamed to .csv is still an XLSX), so it gets an open file.
    handle = path.open("rb")
    try:
        workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except Exception as exc:
        handle.close()
        if isinstance(exc, (zipfile.BadZipFile, KeyError, OSError, ValueError)):
            raise UploadError(file_name, "filen kunde inte öppnas som Excel-arbetsbok (.xlsx). "
                              "Kontrollera att den inte är skadad eller i ett annat format.",
                              code="unreadable") from exc
        raise

    def close() -> None:
        workbook.close()
        handle.close()

    try:
        sheet = workbook[SHEET_NAME] if SHEET_NAME in workbook.sheetnames else workbook.worksheets[0]
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

    def rows() -> Iterator[list[str]]:
        try:
            for values in iterator:
                cells = [_cell_text(v) for v in values]
                # Trailing empty cells are layout, not data.
                while len(cells) > width and not cells[-1]:
                    cells.pop()
                cells += [""] * (width - len(cells))
                yield cells
        finally:
            close()

    return ParsedUpload(file_name, "xlsx", None, None, header, unknown, missing, rows())


def open_upload(path: Path) -> ParsedUpload:
    """Open an upload for streaming; raises UploadError for empty, unreadable or malformed files."""
    file_name = path.name
    if not path.is_file():
        raise UploadError(file_name, "filen finns inte.", code="unreadable")
    if path.stat().st_size == 0:
        raise UploadError(file_name, "filen är tom (0 byte).", code="empty")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic.startswith(b"PK\x03\x04") or path.suffix.lower() == ".xlsx":
        return _open_xlsx(path, file_name)
    if path.suffix.lower() in {".xls"} or magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise UploadError(file_name, "det äldre Excel-formatet .xls stöds inte. Spara som .xlsx "
                          "eller CSV.", code="unreadable")
    return _open_csv(path, file_name)
