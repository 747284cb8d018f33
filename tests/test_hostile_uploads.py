"""Hostile and careless uploads at intake, against the real embedded Postgres.

- A personnummer or samordningsnummer, in any spelling, anywhere a kommun can put bytes (every
  cell, header, blank header, every sheet of an XLSX and its other parts, the file name, the
  sidecar, a cell that breaks the reader, after an earlier blocking row) blocks the file before
  anything is stored or logged: the file is never archived, its name is stored masked, and no
  message, table row or log line repeats the number.
- Hostile structure (zip bombs, a sheet claiming 16 384 × 1 048 576 cells, DTDs, embedded
  objects, endless lines) is blocked with a Swedish message in bounded time and memory (measured
  in a child process, bounds loose on purpose) and never archived.
- Every inbox file gets a verdict; a round that is not a month, or has not closed, is refused;
  a blank kommun code lands, another kommun's code blocks, a kommun code Excel made a number is
  read as its four digits.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import logging
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import hostile_files as hostile
from conftest import csv_bytes, scalar
from sukvinnofrid import intake, readers, reference, rounds, synthetic
from sukvinnofrid.catalogue import load_catalogue
from sukvinnofrid.privacy import contains_personnummer, luhn_check_digit
from sukvinnofrid.readers import Deadline, UploadError, screen_upload

COLUMNS = list(load_catalogue().column_names)
KOMMUN = "0180"
ROUND = "2023-06"
CASE = {
    "v1_verksamhet": "1",
    "v2_kommun": KOMMUN,
    "v3_handlaggare": "HAB",
    "v5_datum_aktualisering": "2023-02-01",
    "v14_kon": "1",
    "v15_alder": "34",
}
_counter = itertools.count()

DB_SETTINGS = settings(
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def inbox() -> Path:
    path = Path(os.environ["SUKF_INBOX"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def put(name: str, data: bytes, sidecar: bytes | None = None) -> Path:
    path = inbox() / name
    path.write_bytes(data)
    if sidecar is not None:
        readers.sidecar_path(path).write_bytes(sidecar)
    return path


def tag() -> str:
    return f"t{next(_counter)}"


def archived_files() -> list[Path]:
    return [p for p in Path(os.environ["SUKF_ARCHIVE"]).rglob("*") if p.is_file()]


def uploads_dump(engine) -> str:
    """Every value of raw.uploads that can come from a file (not its hash or timestamps, whose
    digits could look like anything)."""
    with engine.connect() as conn:
        return "\n".join(
            conn.exec_driver_sql(
                "SELECT concat_ws(' | ', file_name, kommun_kod, round_id, archive_path, "
                "file_format,"
                " encoding, delimiter, status_reason) FROM raw.uploads"
            ).scalars()
        )


def rows_as_lists(header: list[str], rows: list[dict]) -> list[list[object]]:
    return [[row.get(c, "") for c in header] for row in rows]


def table_bytes(fmt: str, header: list[str], rows: list[list[object]], **workbook) -> bytes:
    """A CSV (fmt: its encoding) or an XLSX (fmt 'xlsx') of a header and rows of values."""
    if fmt == "xlsx":
        return hostile.workbook_bytes(rows, header, **workbook)
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerows([header, *rows])
    return buffer.getvalue().encode(fmt)


# --- personnummer in every spelling and position -------------------------------------------------

SEPARATORS = [
    "",
    "-",
    "+",
    "\u2013",
    "\u2014",
    "\u2010",
    "\u2011",
    "\u2212",
    "\ufe63",
    "\uff0d",
    " ",
    "\u00a0",
    "\u202f",
    " - ",
    " \u2013 ",
    "\u2009\u2013\u2009",
    "  -  ",
]


@dataclass(frozen=True)
class Pnr:
    text: str  # as written in the file
    digits: str  # its 10 or 12 digits without separator

    @property
    def number(self) -> int:
        return int(self.digits)


@st.composite
def personnummer(draw, separators=SEPARATORS):
    """A personnummer or samordningsnummer (day + 60), 10 or 12 digits, in one of many
    spellings."""
    born = draw(st.dates(dt.date(1900, 1, 1), dt.date(2024, 12, 31)))
    day = born.day + (60 if draw(st.booleans()) else 0)
    serial = draw(st.integers(0, 999))
    nine = f"{born.year % 100:02d}{born.month:02d}{day:02d}{serial:03d}"
    last = f"{serial:03d}{luhn_check_digit(nine)}"
    date_part = f"{born.year}" if draw(st.booleans()) else f"{born.year % 100:02d}"
    date_part += f"{born.month:02d}{day:02d}"
    return Pnr(f"{date_part}{draw(st.sampled_from(separators))}{last}", f"{date_part}{last}")


def good_rows(n: int = 3) -> list[dict]:
    return [dict(CASE, v4_klient=f"KL-{i}") for i in range(n)]


# Where a personnummer can stand, and in which formats ("csv": any CSV encoding).
POSITIONS = {
    "cell": ("csv", "xlsx"),
    "header": ("csv", "xlsx"),
    "blank_header": ("csv", "xlsx"),
    "first_of_two_blank_headers": ("csv", "xlsx"),
    "file_name": ("csv", "xlsx"),
    "sidecar": ("csv", "xlsx"),
    "after_wrong_kommun_row": ("csv", "xlsx"),
    "after_broken_row": ("csv",),
    "hidden_sheet": ("xlsx",),
    "other_sheet": ("xlsx",),
    "sheet_title": ("xlsx",),
    "comment": ("xlsx",),
    "defined_name": ("xlsx",),
    "document_title": ("xlsx",),
    "page_footer": ("xlsx",),
    "rich_text_runs": ("xlsx",),
    "number_cell": ("xlsx",),
    "scientific_number": ("xlsx",),
    "cell_that_breaks_reader": ("xlsx",),
}
ALL_POSITIONS = tuple(sorted(POSITIONS))
CSV_ENCODINGS = ["utf-8", "utf-8-sig", "cp1252", "utf-16"]


class Placement:
    """One upload with a personnummer in it (shown by name and position, not by its bytes)."""

    def __init__(
        self,
        name: str,
        position: str,
        fmt: str,
        pnr: Pnr,
        data: bytes,
        sidecar: bytes | None = None,
    ) -> None:
        self.name, self.position, self.fmt, self.pnr = name, position, fmt, pnr
        self.data, self.sidecar = data, sidecar

    def __repr__(self) -> str:
        return f"Placement({self.name!r}, {self.position!r}, {self.fmt!r}, {self.pnr!r})"


@st.composite
def placed_personnummer(draw, positions=ALL_POSITIONS) -> Placement:
    """An upload with a personnummer in one of `positions`, in one of the formats there."""
    position = draw(st.sampled_from(positions))
    pnr = draw(personnummer())
    if position in ("number_cell", "scientific_number"):
        # As a number, 0101010008 is 101010008: no personnummer any more.
        pnr = draw(personnummer().filter(lambda p: not p.digits.startswith("0")))
    fmt = draw(st.sampled_from(POSITIONS[position]))
    if fmt == "csv":
        fmt = draw(st.sampled_from(CSV_ENCODINGS))
        try:
            pnr.text.encode(fmt)
        except UnicodeEncodeError:
            fmt = "utf-8"
    suffix = ".xlsx" if fmt == "xlsx" else ".csv"
    header = COLUMNS + ["lokal_variabel"]
    rows = good_rows(draw(st.integers(1, 4)))
    text = draw(st.sampled_from(["{}", "pnr {}", "Klient {} enligt journal", "{}."])).format(
        pnr.text
    )
    name = f"sukf_{KOMMUN}_{ROUND}_{tag()}{suffix}"
    sidecar = None
    workbook: dict = {}
    raw_row = None
    values = rows_as_lists(header, rows)
    if position == "cell":
        row = draw(st.integers(0, len(rows) - 1))
        values[row][draw(st.integers(0, len(header) - 1))] = text
    elif position == "header":
        header[draw(st.integers(len(COLUMNS), len(header) - 1))] = text
    elif position == "blank_header":
        at = draw(st.integers(7, len(header)))
        header.insert(at, "")
        for row in values:
            row.insert(at, "")
        values[-1][at] = text
    elif position == "first_of_two_blank_headers":
        header += ["", ""]
        for row in values:
            row += ["", "x"]
        values[-1][-2] = text
    elif position == "file_name":
        name = f"sukf_{KOMMUN}_{ROUND}_{tag()}_{pnr.text}{suffix}"
    elif position == "sidecar":
        name = f"uppgifter_{tag()}{suffix}"
        sidecar = json.dumps(
            {"kommun": KOMMUN, "round": ROUND, "kontakt": text}, ensure_ascii=draw(st.booleans())
        ).encode()
    elif position == "after_wrong_kommun_row":
        values[0][header.index("v2_kommun")] = "0181"
        values.append(
            rows_as_lists(header, [dict(CASE, v4_klient="KL-X", v58_utovare_kommentar=text)])[0]
        )
    elif position == "after_broken_row":
        values[0] = values[0] + ["extra", "fält"]
        values.append(
            rows_as_lists(header, [dict(CASE, v4_klient="KL-X", v217_klientforslag=text)])[0]
        )
    elif position in ("hidden_sheet", "other_sheet"):
        workbook["other_sheets"] = {"Anteckningar": [["klient", "anteckning"], ["KL-1", text]]}
        workbook["hidden"] = ["Anteckningar"] if position == "hidden_sheet" else []
    elif position == "sheet_title":
        workbook["other_sheets"] = {pnr.text[:31]: [["x"]]}
    elif position == "comment":
        workbook["comment"] = text
    elif position == "defined_name":
        workbook["defined_name"] = text
    elif position == "document_title":
        workbook["title"] = text
    elif position == "page_footer":
        workbook["footer"] = text
    elif position == "number_cell":
        values[-1][header.index("lokal_variabel")] = pnr.number
    elif position == "scientific_number":
        exponent_form = f"{float(pnr.number):.{len(pnr.digits) - 1}E}"  # 8.112189876E+09
        raw_row = f'<row r="40"><c r="B40" t="n"><v>{exponent_form}</v></c></row>'
    elif position == "cell_that_breaks_reader":
        raw_row = f'<row r="40"><c r="B40" t="n"><v>{pnr.text}</v></c></row>'
    data = table_bytes(fmt, header, values, **workbook)
    if raw_row:
        data = hostile.with_sheet_xml(data, raw_row)
    if position == "rich_text_runs":
        cut = draw(st.integers(1, len(text) - 1))
        data = hostile.with_shared_string(data, [text[:cut], text[cut:]])
    return Placement(name, position, fmt, pnr, data, sidecar)


def assert_nothing_kept(engine, result, pnr: Pnr, log_text: str) -> None:
    """The file was blocked for the personnummer and it is nowhere: not in the result, a
    table, the archive or the log."""
    assert result.status == "blocked", result
    assert "personnummer" in result.message, result.message
    for text in (result.message, result.file_name, uploads_dump(engine), log_text):
        assert not contains_personnummer(text), text
        assert pnr.text not in text and pnr.digits not in text
    assert (
        scalar(
            engine, "SELECT archive_path FROM raw.uploads WHERE upload_id = :u", u=result.upload_id
        )
        is None
    )
    assert archived_files() == []
    assert scalar(engine, "SELECT count(*) FROM raw.case_records") == 0


def land_and_check_nothing_kept(engine, caplog, case: Placement) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    result = intake.land_upload(put(case.name, case.data, case.sidecar), engine)
    assert_nothing_kept(engine, result, case.pnr, caplog.text)
    if case.position == "file_name":
        assert "ÅÅMMDD-XXXX" in result.file_name
    if (
        case.position
        in (
            "cell",
            "header",
            "after_wrong_kommun_row",
            "after_broken_row",
            "blank_header",
            "first_of_two_blank_headers",
        )
        and case.fmt != "utf-16"
    ):
        assert ", rad " in result.message  # the kommun is told where (UTF-16 is not read)


@pytest.mark.parametrize("position", sorted(POSITIONS))
@settings(DB_SETTINGS, max_examples=15)
@given(data=st.data())
def test_personnummer_in_every_position_in_every_spelling(clean_warehouse, caplog, position, data):
    land_and_check_nothing_kept(
        clean_warehouse, caplog, data.draw(placed_personnummer(positions=(position,)))
    )


@settings(DB_SETTINGS, max_examples=150)
@given(case=placed_personnummer())
@example(
    case=Placement(
        f"sukf_{KOMMUN}_{ROUND}_dash.csv",
        "cell",
        "utf-8",
        Pnr("811218\u20139876", "8112189876"),
        csv_bytes([dict(CASE, v4_klient="811218\u20139876")]),
        None,
    )
)
def test_personnummer_anywhere_blocks_and_is_never_kept(clean_warehouse, caplog, case):
    """Positions and spellings mixed, one upload after another in one warehouse."""
    land_and_check_nothing_kept(clean_warehouse, caplog, case)


@settings(DB_SETTINGS, max_examples=20)
@given(case=placed_personnummer())
def test_feedback_report_of_a_blocked_file_masks_the_number(clean_warehouse, case):
    from sukvinnofrid.quality import feedback

    result = intake.land_upload(put(case.name, case.data, case.sidecar), clean_warehouse)
    report = feedback.write_feedback(result.upload_id, clean_warehouse)
    for path in (report, report.with_suffix(".html")):
        text = path.read_text(encoding="utf-8")
        assert "personnummer" in text
        assert not contains_personnummer(text) and case.pnr.digits not in text
    assert not contains_personnummer(str(report))


def test_wrong_kommun_row_first_does_not_archive_a_later_personnummer(clean_warehouse):
    """A wrong-kommun row early used to block (and archive) the file before the rest was
    screened: the screen runs over the whole file first."""
    rows = [dict(CASE, v2_kommun="0181", v4_klient="KL-1")] + good_rows(200)
    rows[-1]["v206_positiva_inslag_kommentar"] = "ring 19811218–9876"
    result = intake.land_upload(
        put(f"sukf_{KOMMUN}_{ROUND}_w.csv", csv_bytes(rows)), clean_warehouse
    )
    assert "personnummer" in result.message and "rad 202," in result.message
    assert archived_files() == []


def test_a_file_blocked_for_another_reason_is_archived_once_screened(clean_warehouse):
    rows = [dict(CASE, v2_kommun="0181", v4_klient="KL-1")] + good_rows(3)
    result = intake.land_upload(
        put(f"sukf_{KOMMUN}_{ROUND}_a.csv", csv_bytes(rows)), clean_warehouse
    )
    assert result.status == "blocked" and "0181" in result.message
    assert [p.name for p in archived_files()] == [f"sukf_{KOMMUN}_{ROUND}_a.csv"]


def test_reader_failure_is_logged_without_the_cell(clean_warehouse, caplog):
    """A cell that breaks the XLSX reader: the parser's exception text (which quotes the cell)
    reaches neither the log nor the message."""
    caplog.set_level(logging.DEBUG)
    data = hostile.with_sheet_xml(
        hostile.workbook_bytes(good_rows()),
        '<row r="9"><c r="B9" t="n"><v>hemlig-text-42</v></c></row>',
    )
    result = intake.land_upload(put(f"sukf_{KOMMUN}_{ROUND}_r.xlsx", data), clean_warehouse)
    assert result.status == "blocked" and "Excel-arbetsbok" in result.message
    assert "hemlig" not in caplog.text and "hemlig" not in result.message
    assert archived_files() == []  # not screened whole as the reader renders it


def test_unexpected_reader_error_is_logged_by_class_and_place_only(
    clean_warehouse, caplog, monkeypatch
):
    """Whatever a parser raises, its text (which can quote the file) stays out of the log and
    the message; the class and where it was raised are logged."""

    def broken_reader(*args, **kwargs):
        raise ValueError("could not convert '811218-9876 hemlig text' to float")

    monkeypatch.setattr(intake, "open_upload", broken_reader)
    caplog.set_level(logging.DEBUG)
    result = intake.land_upload(
        put(f"sukf_{KOMMUN}_{ROUND}_e.csv", csv_bytes(good_rows())), clean_warehouse
    )
    assert result.status == "blocked" and "(ValueError)" in result.message
    assert "ValueError at" in caplog.text and "broken_reader" in caplog.text
    for text in (caplog.text, result.message, uploads_dump(clean_warehouse)):
        assert "hemlig" not in text and not contains_personnummer(text)


def test_synthetic_clean_files_are_never_flagged(tmp_path):
    """The false-positive rate of the screen on the generator's clean files is zero (every
    format; many kommuner, two rounds)."""
    codes = sorted(reference.kommuner())[::4]
    formats = dict(zip(codes, itertools.cycle(sorted(synthetic.FORMATS))))
    files = synthetic.generate_round_files(
        tmp_path, codes, ["2023-06", "2023-12"], cases_per_kommun=80, seed=7, formats=formats
    )
    flagged = []
    for generated in files:
        try:
            assert screen_upload(generated.path, generated.path.name)  # archivable
        except UploadError as error:
            flagged.append(error.message)
    assert flagged == []
    assert sum(f.rows for f in files) > 5_000
    assert {f.fmt for f in files} == set(synthetic.FORMATS)


# --- hostile structure: bounded time and memory -------------------------------------------------

# Peak memory of the child's own address space: VmHWM starts afresh at exec, whereas Linux
# carries ru_maxrss over an exec from the (large) pytest process that started the child.
_MEASURE = textwrap.dedent("""
    import json, re, sys, time
    from pathlib import Path
    from sukvinnofrid import intake
    start = time.monotonic()
    result = intake.land_upload(Path(sys.argv[1]))
    peak_kb = int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))
    print(json.dumps({"status": result.status, "message": result.message,
                      "seconds": time.monotonic() - start, "peak_mb": peak_kb / 1024}))
""")


def land_in_child(path: Path) -> dict:
    """Land one file in a child process (killed after 5 minutes: a regression must not hang
    the suite) and return its result with wall time and peak memory."""
    process = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(process.stdout.strip().splitlines()[-1])


def test_sheet_claiming_every_cell_is_blocked_at_once(clean_warehouse):
    """An 8 KB file: a sheet that claims A1:XFD1048576 and has a cell in that corner. A
    reader that believed it would render 17 billion cells (measured before the fix: 2,3 s per
    1 000 rows, about 40 minutes)."""
    data = hostile.with_dimension(hostile.workbook_bytes(good_rows()), "A1:XFD1048576")
    assert len(data) < 10_000
    measured = land_in_child(put(f"sukf_{KOMMUN}_{ROUND}_dim.xlsx", data))
    assert measured["status"] == "blocked" and "fler än 100\u00a0000 rader" in measured["message"]
    assert measured["seconds"] < 60 and measured["peak_mb"] < 400
    assert archived_files() == []


def test_shared_strings_bomb_is_blocked_without_unpacking(clean_warehouse):
    """A 1,6 MB file whose shared-strings table unpacks to 1,5 GB (before the fix: 1,5 GB of
    memory)."""
    data = hostile.shared_strings_bomb(1500)
    assert len(data) < 2 * 2**20
    measured = land_in_child(put(f"sukf_{KOMMUN}_{ROUND}_sst.xlsx", data))
    assert measured["status"] == "blocked" and "packas upp" in measured["message"]
    assert measured["seconds"] < 60 and measured["peak_mb"] < 400
    assert archived_files() == []


@pytest.mark.parametrize(
    "name,build,expected",
    [
        # The declared size lies (1 KB): the reader stops at the declared size and the CRC fails.
        (
            "lying_size",
            lambda: hostile.bomb_workbook(
                "xl/sharedStrings.xml",
                hostile.SST_HEAD,
                b"<si><t>x</t></si>" * 4096,
                2000,
                hostile.SST_TAIL,
                declared_size=1024,
            ),
            "kunde inte öppnas som Excel-arbetsbok",
        ),
        # 60 MB (under the size bound) at a ratio of about a thousand.
        (
            "ratio",
            lambda: hostile.bomb_workbook(
                "xl/sharedStrings.xml",
                hostile.SST_HEAD,
                b"<si><t>x</t></si>" * 4096,
                900,
                hostile.SST_TAIL,
            ),
            "packas upp till orimligt mycket",
        ),
        (
            "members",
            lambda: hostile.many_members(readers.MAX_ZIP_MEMBERS + 10),
            "fler än 1\u00a0000 delar",
        ),
        (
            "far_column",
            lambda: hostile.with_sheet_xml(
                hostile.workbook_bytes(good_rows()),
                '<row r="5"><c r="XFD5" t="n"><v>1</v></c></row>',
            ),
            "fler än 1\u00a0000 kolumner",
        ),
        (
            "long_cell",
            lambda: hostile.with_sheet_xml(
                hostile.workbook_bytes(good_rows()),
                f'<row r="5"><c r="B5" t="inlineStr"><is><t>{"x" * 150_000}</t></is></c></row>',
            ),
            "längre än 100\u00a0000 tecken",
        ),
        (
            "billion_laughs",
            lambda: hostile.rewrite(
                hostile.workbook_bytes(good_rows()),
                {
                    "docProps/app.xml": b'<?xml version="1.0"?><!DOCTYPE a '
                    b'[<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
                    b"<a>&b;</a>"
                },
            ),
            "DTD",
        ),
        (
            "macros",
            lambda: hostile.rewrite(
                hostile.workbook_bytes(good_rows()),
                add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512},
            ),
            "makron",
        ),
        (
            "embedded_workbook",
            lambda: hostile.rewrite(
                hostile.workbook_bytes(good_rows()),
                add={"xl/embeddings/Microsoft_Excel_Worksheet.xlsx": hostile.workbook_bytes()},
            ),
            "inbäddade",
        ),
    ],
)
def test_hostile_packages_are_blocked_and_not_archived(clean_warehouse, name, build, expected):
    measured = land_in_child(put(f"sukf_{KOMMUN}_{ROUND}_{name}.xlsx", build()))
    assert measured["status"] == "blocked", measured
    assert expected in measured["message"], measured["message"]
    assert measured["message"].startswith(f"filen sukf_{KOMMUN}_{ROUND}_{name}.xlsx: ")
    assert measured["seconds"] < 60 and measured["peak_mb"] < 400
    assert archived_files() == []


@settings(DB_SETTINGS, max_examples=30)
@given(
    bound=st.integers(1, 20),
    extra=st.integers(-2, 2),
    xlsx=st.booleans(),
    what=st.sampled_from(["MAX_ROWS", "MAX_COLUMNS", "MAX_CELLS"]),
)
def test_bounds_block_exactly_above_them(clean_warehouse, monkeypatch, bound, extra, xlsx, what):
    """Rows, columns and cells: a file at a bound lands, one beyond it is blocked (the bounds
    set small here; their real values are far above any kommun's file)."""
    header = COLUMNS[:7]
    rows = 1
    if what == "MAX_ROWS":
        rows, limit = bound + extra, bound
    elif what == "MAX_COLUMNS":
        header = header + [f"lokal_{i}" for i in range(bound + extra + 2)]
        limit = len(header) - extra
    else:
        if not xlsx:
            return  # a CSV has no cell count of its own: its rows and columns bound it
        limit = 2 * len(header) - extra  # the header's cells and one row's
    values = [
        [
            KOMMUN if c == "v2_kommun" else "2023-02-01" if c == "v5_datum_aktualisering" else "1"
            for c in header
        ]
        for _ in range(max(rows, 1))
    ]
    with monkeypatch.context() as patch:  # undone after each example
        patch.setattr(readers, what, limit)
        result = intake.land_upload(
            put(
                f"sukf_{KOMMUN}_{ROUND}_{tag()}.{'xlsx' if xlsx else 'csv'}",
                table_bytes("xlsx" if xlsx else "utf-8", header, values),
            ),
            clean_warehouse,
        )
    if extra > 0:
        assert result.status == "blocked" and "fler än" in result.message, result.message
    else:
        assert result.status == "landed", result.message


def test_endless_csv_line_is_blocked_before_parsing(clean_warehouse):
    data = csv_bytes(good_rows()) + b";" * (readers.MAX_LINE_BYTES + 10)
    measured = land_in_child(put(f"sukf_{KOMMUN}_{ROUND}_line.csv", data))
    assert measured["status"] == "blocked" and "en rad i filen är längre" in measured["message"]
    assert measured["peak_mb"] < 400


def test_time_bound_blocks_a_slow_file(clean_warehouse, monkeypatch):
    monkeypatch.setattr(readers, "MAX_READ_SECONDS", 0)
    result = intake.land_upload(
        put(f"sukf_{KOMMUN}_{ROUND}_slow.csv", csv_bytes(good_rows())), clean_warehouse
    )
    assert result.status == "blocked" and "det tog mer än 0 sekunder" in result.message
    assert archived_files() == []


def test_deadline_counts_from_its_start():
    deadline = Deadline("x.csv", seconds=3600)
    deadline.check()
    with pytest.raises(UploadError, match="det tog mer än -1 sekunder"):
        Deadline("x.csv", seconds=-1).check()


# --- a verdict for every file ---------------------------------------------------------------------


@settings(DB_SETTINGS, max_examples=40)
@given(
    suffix=st.one_of(
        st.sampled_from(
            [
                ".xlsm",
                ".xltx",
                ".ods",
                ".pdf",
                ".docx",
                ".zip",
                ".XLSM",
                "",
                ".csv.bak",
                ".CSV",
                ".Xlsx",
                ".txt",
                ".xls",
            ]
        ),
        st.from_regex(r"\.[a-z0-9]{1,5}", fullmatch=True),
    ),
    xlsx=st.booleans(),
)
def test_every_inbox_file_gets_a_verdict(clean_warehouse, suffix, xlsx):
    data = hostile.workbook_bytes(good_rows()) if xlsx else csv_bytes(good_rows())
    name = f"sukf_{KOMMUN}_{ROUND}_{tag()}{suffix}"
    path = put(name, data)
    if suffix.lower() == ".json":
        assert path not in intake.inbox_files()  # a sidecar is not an upload
        return
    assert path in intake.inbox_files()
    result = intake.land_upload(path, clean_warehouse)
    assert result.status in ("landed", "blocked")
    assert (result.kommun_kod, result.round_id) == (KOMMUN, ROUND)  # the message reaches the kommun
    if suffix.lower() in (".csv", ".txt") or (xlsx and suffix.lower() in intake.UPLOAD_SUFFIXES):
        assert result.status == "landed", result.message
    elif suffix.lower() in intake.UPLOAD_SUFFIXES:  # a CSV named .xlsx or .xls
        assert result.status == "blocked" and "Excel" in result.message, result.message
    else:
        assert result.status == "blocked" and "filtypen" in result.message, result.message


def test_inbox_listing_leaves_out_sidecars_and_hidden_files(clean_warehouse):
    names = [
        "sukf_0180_2023-06.xlsm",
        "sukf_0180_2023-06.csv",
        "sukf_0180_2023-06.csv.json",
        ".sukf_0180_2023-06.csv.filepart",
        "~$sukf_0180_2023-06.xlsx",
        "README",
    ]
    for name in names:
        put(name, b"x")
    assert [p.name for p in intake.inbox_files()] == sorted(
        ["sukf_0180_2023-06.xlsm", "sukf_0180_2023-06.csv", "~$sukf_0180_2023-06.xlsx", "README"]
    )
    results = intake.land_inbox(engine=clean_warehouse)
    assert len(results) == 4 and all(r.message for r in results)


# --- rounds ---------------------------------------------------------------------------------------


@settings(DB_SETTINGS, max_examples=25)
@given(
    year=st.integers(2000, 2099), month=st.sampled_from([0, *range(13, 100)]), sidecar=st.booleans()
)
def test_round_that_is_not_a_month_is_refused_and_reaches_the_kommun(
    clean_warehouse, year, month, sidecar
):
    round_id = f"{year}-{month:02d}"
    if sidecar:
        path = put(
            f"uppgifter_{tag()}.csv",
            csv_bytes(good_rows()),
            json.dumps({"kommun": KOMMUN, "round": round_id}).encode(),
        )
    else:
        path = put(f"sukf_{KOMMUN}_{round_id}_{tag()}.csv", csv_bytes(good_rows()))
    result = intake.land_upload(path, clean_warehouse)
    assert result.status == "blocked" and "ingen giltig månad" in result.message
    assert (result.kommun_kod, result.round_id) == (KOMMUN, "")


@settings(DB_SETTINGS, max_examples=30)
@given(
    close=st.dates(dt.date(2015, 1, 1), dt.date(2030, 12, 1)).map(
        lambda d: rounds.round_close(f"{d.year}-{d.month:02d}")
    ),
    offset=st.integers(-40, 3),
)
def test_upload_for_an_open_round_waits_until_it_closes(
    clean_warehouse, monkeypatch, close, offset
):
    """A file sent before its round closes is told so, stays in the inbox, and lands once the
    round has closed, without being sent again; then it is registered once."""
    today = close + dt.timedelta(days=offset)
    round_id = close.strftime("%Y-%m")
    rows = [dict(row, v5_datum_aktualisering=f"{round_id}-01") for row in good_rows()]
    path = put(f"sukf_{KOMMUN}_{round_id}_{tag()}.csv", csv_bytes(rows))
    with monkeypatch.context() as patch:
        patch.setenv("SUKF_TODAY", today.isoformat())
        result = intake.land_upload(path, clean_warehouse)
        waiting = path in intake.new_files(path.parent, clean_warehouse)
    if today > close:
        assert result.status == "landed", result.message
        assert not waiting
        return
    assert result.status == "blocked", result
    assert f"stänger {close.isoformat()}" in result.message
    assert "du behöver inte skicka den igen" in result.message
    assert not waiting, "an early file is not screened again every poll while its round is open"
    with monkeypatch.context() as patch:
        patch.setenv("SUKF_TODAY", (close + dt.timedelta(days=1)).isoformat())
        assert path in intake.new_files(path.parent, clean_warehouse)
        landed = intake.land_upload(path, clean_warehouse)
        assert landed.status == "landed", landed.message
        assert landed.upload_id != result.upload_id
        assert path not in intake.new_files(path.parent, clean_warehouse)
        assert intake.land_upload(path, clean_warehouse).status == "duplicate"
    assert scalar(
        clean_warehouse,
        "SELECT count(*) FROM raw.case_records WHERE upload_id = :u",
        u=landed.upload_id,
    ) == len(rows)


def test_today_is_stockholm_time_unless_set(monkeypatch):
    from zoneinfo import ZoneInfo

    from sukvinnofrid.config import get_settings

    monkeypatch.delenv("SUKF_TODAY", raising=False)
    assert get_settings().today == dt.datetime.now(ZoneInfo("Europe/Stockholm")).date()
    monkeypatch.setenv("SUKF_TODAY", "2031-01-02")
    assert get_settings().today == dt.date(2031, 1, 2)


# --- kommun codes ---------------------------------------------------------------------------------

STADSDELAR = sorted(reference.stadsdelar())


@settings(DB_SETTINGS, max_examples=40)
@given(
    unit=st.sampled_from([KOMMUN, "1480", *STADSDELAR[:6]]),
    cells=st.lists(
        st.sampled_from(["same", "lower", "blank", "spaces", "other"]), min_size=1, max_size=5
    ),
)
def test_kommun_codes_on_rows(clean_warehouse, unit, cells):
    """A blank kommun code lands (the gate rejects that row); the file's own code in any case
    lands; another kommun's code blocks the whole file."""
    other = "0181" if not unit.startswith("0181") else "1480"
    spelled = {
        "same": unit,
        "lower": unit.lower(),
        "blank": "",
        "spaces": f"  {unit} ",
        "other": other,
    }
    rows = [dict(CASE, v2_kommun=spelled[c], v4_klient=f"KL-{i}") for i, c in enumerate(cells)]
    result = intake.land_upload(
        put(f"sukf_{unit}_{ROUND}_{tag()}.csv", csv_bytes(rows)), clean_warehouse
    )
    if "other" in cells:
        first = cells.index("other") + 2
        assert result.status == "blocked" and f"rad {first}, variabel Kommun" in result.message
    else:
        assert result.status == "landed", result.message
        assert result.rows == len(cells)


@settings(DB_SETTINGS, max_examples=20)
@given(
    code=st.sampled_from(sorted(k for k in reference.kommuner() if k.startswith("0"))),
    as_float=st.booleans(),
)
def test_kommun_code_typed_as_a_number_in_excel_keeps_its_zero(clean_warehouse, code, as_float):
    value = float(code) if as_float else int(code)
    rows = [dict(CASE, v2_kommun=value, v4_klient="KL-1")]
    data = hostile.workbook_bytes(rows)
    result = intake.land_upload(put(f"sukf_{code}_{ROUND}_{tag()}.xlsx", data), clean_warehouse)
    assert result.status == "landed", result.message
    assert (
        scalar(
            clean_warehouse,
            "SELECT v2_kommun FROM raw.case_records WHERE upload_id = :u",
            u=result.upload_id,
        )
        == code
    )


def test_template_code_columns_are_text():
    """The template formats the kommun column and every code column as text, so Excel keeps a
    typed 0126 as 0126."""
    import openpyxl

    from conftest import PROJECT_ROOT

    catalogue = load_catalogue()
    sheet = openpyxl.load_workbook(PROJECT_ROOT / "templates" / "sukf_mall.xlsx")["Ärenden"]
    formats = {
        cell.value: sheet.column_dimensions[cell.column_letter].number_format for cell in sheet[1]
    }
    text_columns = {
        c.name
        for c in catalogue.columns
        if catalogue.variable(c.suv).type in ("kommun", "code", "codes", "text")
        or c.kind in ("choice", "comment", "risk_time_point", "risk_instrument")
    }
    assert "v2_kommun" in text_columns and "v14_kon" in text_columns
    assert {c: formats[c] for c in text_columns} == dict.fromkeys(text_columns, "@")
    assert formats["v5_datum_aktualisering"] != "@"


# --- what reaches Great Expectations' Data Docs and the kommun's report ---------------------------

MARKUP = [
    "<script>alert('sukf')</script>",
    "<img src=x onerror=alert('sukf')>",
    "<b onmouseover=alert('sukf')>x</b>",
    "\"><svg/onload=alert('sukf')>",
]


def test_upload_markup_never_reaches_data_docs_unescaped(clean_warehouse):
    """HTML in any cell (codes the suite checks, free text, identifiers) is not written into
    the Data Docs as markup."""
    from sukvinnofrid.quality import gate

    rows = []
    for i, markup in enumerate(MARKUP):
        rows.append(
            dict(
                CASE,
                v4_klient=f"KL-{i}",
                v14_kon=markup,
                v1_verksamhet=markup,
                v5_datum_aktualisering="2023-02-01",
                v15_alder=markup,
                v58_utovare_kommentar=markup,
                v217_klientforslag=markup,
            )
        )
    rows += good_rows(40)  # few enough rejected rows that the file is decided, not just blocked
    result = intake.land_upload(
        put(f"sukf_{KOMMUN}_{ROUND}_html.csv", csv_bytes(rows)), clean_warehouse
    )
    assert result.status == "landed", result.message
    decided = gate.run_pending(clean_warehouse)
    docs = decided[0].data_docs_path.parent
    pages = [p for p in docs.rglob("*") if p.suffix in (".html", ".json", ".js")]
    assert pages, "no Data Docs written"
    for page in pages:
        text = page.read_text(encoding="utf-8", errors="replace")
        assert "alert('sukf')" not in text and "alert(&#39;sukf&#39;)" not in text, page


def test_feedback_report_lists_the_columns_not_saved(clean_warehouse):
    from sukvinnofrid.quality import feedback, gate

    header = COLUMNS + ["lokal_variabel", "handläggarens <b>egen</b> kolumn", "=summa(a1)"]
    rows = [dict(row, lokal_variabel="x") for row in good_rows(5)]
    result = intake.land_upload(
        put(f"sukf_{KOMMUN}_{ROUND}_extra.csv", csv_bytes(rows, columns=header)), clean_warehouse
    )
    assert result.status == "landed", result.message
    gate.run_pending(clean_warehouse)
    report = feedback.write_feedback(result.upload_id, clean_warehouse)
    text = report.read_text(encoding="utf-8")
    section = text[text.index("## Kolumner som inte sparades") :].split("\n## ")[0]
    assert (
        "lokal\\_variabel, handläggarens &lt;b&gt;egen&lt;/b&gt; kolumn, =summa(a1)." in section
    ), section
    html_text = report.with_suffix(".html").read_text(encoding="utf-8")
    assert "Kolumner som inte sparades" in html_text
    assert "handläggarens &lt;b&gt;egen&lt;/b&gt; kolumn" in html_text
    assert "<b>egen" not in html_text
