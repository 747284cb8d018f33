"""Fuzzed corpus of broken uploads (hypothesis, deterministic) against the readers and intake,
plus property tests of the personnummer screen.

Intake properties, for every generated file:
- `intake.land_upload` never raises; the outcome is `landed`, `blocked` or `duplicate`;
- a blocked result carries a Swedish message naming the file (`filen <name>`), adds no row to
  raw.case_records and at most one row to raw.uploads;
- a landed result adds exactly `result.rows` rows to raw.case_records, all under its upload_id;
- text is stored as received (formula-like text included: escaping happens at output).

The warehouse is wiped once per test (`clean_warehouse`); examples are checked by deltas, and every
example gets a unique file name so the sha256/name dedupe never hides a case.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import itertools
import json
import os
import re
import warnings
from pathlib import Path

import openpyxl
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import csv_bytes
from sukvinnofrid import intake
from sukvinnofrid.catalogue import load_catalogue
from sukvinnofrid.privacy import (
    ByteScreen,
    TextScreen,
    contains_personnummer,
    luhn_check_digit,
    mask_personnummer,
)
from sukvinnofrid.readers import UploadError, open_upload

COLUMNS = list(load_catalogue().column_names)
FREE_TEXT = [c for c in COLUMNS if c.endswith("_kommentar") or c == "v217_klientforslag"]
KOMMUN = "0180"
ROUND = "2023-06"

_counter = itertools.count()

DB_SETTINGS = settings(
    derandomize=True,
    deadline=None,
    max_examples=80,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def unique_name(suffix: str, tag: str = "f") -> str:
    return f"sukf_{KOMMUN}_{ROUND}_{tag}{next(_counter)}{suffix}"


def put(name: str, data: bytes) -> Path:
    inbox = Path(os.environ["SUKF_INBOX"])
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    path.write_bytes(data)
    return path


def counts(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(sa.text("SELECT count(*) FROM raw.case_records")).scalar_one(),
            conn.execute(sa.text("SELECT count(*) FROM raw.uploads")).scalar_one(),
        )


def land_and_check(engine, path: Path) -> intake.IntakeResult:
    """Land one file and assert the invariants that hold whatever the file contains."""
    records_before, uploads_before = counts(engine)
    result = intake.land_upload(path, engine)  # must never raise
    records_after, uploads_after = counts(engine)
    assert result.status in {"landed", "blocked", "duplicate"}
    assert result.file_name == intake.upload_name(path)
    # No message (returned, stored or logged) ever repeats a personnummer.
    assert not contains_personnummer(result.message or "")
    if result.status == "blocked":
        assert result.message and result.message.strip()
        assert f"filen {path.name}" in result.message
        assert records_after == records_before
        assert uploads_after - uploads_before <= 1
        assert result.rows == 0
    elif result.status == "landed":
        assert result.rows > 0
        assert records_after - records_before == result.rows
        assert uploads_after - uploads_before == 1
        with engine.connect() as conn:
            stored = conn.execute(
                sa.text("SELECT count(*) FROM raw.case_records WHERE upload_id = :u"),
                {"u": result.upload_id},
            ).scalar_one()
            status, row_count = conn.execute(
                sa.text("SELECT status, row_count FROM raw.uploads WHERE upload_id = :u"),
                {"u": result.upload_id},
            ).one()
        assert stored == result.rows == row_count
        assert status == "landed"
    else:
        assert records_after == records_before
        assert uploads_after == uploads_before
    return result


# --- building valid files ---------------------------------------------------------------------

# Free text without personnummer-like digit runs; formula starters, quotes, delimiters and
# newlines included. Encodable in Windows-1252.
TEXT_ALPHABET = "abcdefghijklmnopqrstuvwxyzåäöÅÄÖéABCXYZ0123 ;,\"'=+-@|!()/\\.:\n"
FORMULAS = [
    "=cmd|' /C calc'!A0",
    "+SUM(1)",
    "@x",
    "-1+1",
    "=1+1",
    '=HYPERLINK("http://x")',
    "@SUM(A1:A2)",
    "+46 70",
    "-",
    "=",
    "\t=1",
    "=cmd|'/C powershell'!A1;x",
]

text_values = st.one_of(
    st.sampled_from(FORMULAS),
    st.text(TEXT_ALPHABET, max_size=40),
).filter(lambda v: not contains_personnummer(v))


@st.composite
def case_rows(draw, min_size=1, max_size=6):
    rows = []
    for _ in range(draw(st.integers(min_size, max_size))):
        row = {
            "v1_verksamhet": draw(st.sampled_from(["1", "2", "3", "x", ""])),
            "v2_kommun": KOMMUN,
            "v3_handlaggare": draw(text_values),
            "v4_klient": draw(
                st.one_of(
                    st.sampled_from(FORMULAS), st.from_regex(r"KL-[A-ZÅÄÖ0-9]{1,6}", fullmatch=True)
                )
            ),
            "v5_datum_aktualisering": draw(
                st.dates(dt.date(2015, 1, 1), dt.date(2023, 6, 30))
            ).isoformat(),
            "v14_kon": draw(st.sampled_from(["1", "2", "3", ""])),
            "v15_alder": str(draw(st.integers(0, 120))),
        }
        for column in draw(st.lists(st.sampled_from(FREE_TEXT), max_size=4, unique=True)):
            row[column] = draw(text_values)
        for column in draw(st.lists(st.sampled_from(COLUMNS[7:]), max_size=4, unique=True)):
            row.setdefault(column, draw(st.sampled_from(["1", "0", "", "2", "99"])))
        rows.append(row)
    return rows


def xlsx_bytes(rows, columns=COLUMNS) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Ärenden"
    sheet.append(list(columns))
    for r, row in enumerate(rows, start=2):
        for c, column in enumerate(columns, start=1):
            value = row.get(column, "")
            if value:
                cell = sheet.cell(row=r, column=c, value=value)
                cell.data_type = "s"  # text as typed, never a formula
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


dialects = st.sampled_from(
    [
        (";", "utf-8"),
        (",", "utf-8"),
        (";", "utf-8-sig"),
        (",", "utf-8-sig"),
        (";", "cp1252"),
        (",", "cp1252"),
    ]
)


def stored_rows(engine, upload_id: int) -> dict[int, dict[str, str | None]]:
    with engine.connect() as conn:
        result = (
            conn.execute(
                sa.text("SELECT * FROM raw.case_records WHERE upload_id = :u ORDER BY source_row"),
                {"u": upload_id},
            )
            .mappings()
            .all()
        )
    return {row["source_row"]: dict(row) for row in result}


def expected_value(value: str) -> str | None:
    value = value.strip()
    return value or None


# --- intake properties ------------------------------------------------------------------------


@DB_SETTINGS
@given(
    rows=case_rows(),
    dialect=dialects,
    xlsx=st.booleans(),
    xlsx_suffix=st.sampled_from([".xlsx", ".xlsx", ".csv", ".txt", ".xls"]),
)
def test_valid_looking_files_land_verbatim(clean_warehouse, rows, dialect, xlsx, xlsx_suffix):
    """Random valid rows (formula-like text included) land, row for row, exactly as received.
    An XLSX is read by its content, whatever its name ends in."""
    if xlsx:
        path = put(unique_name(xlsx_suffix), xlsx_bytes(rows))
    else:
        delimiter, encoding = dialect
        path = put(unique_name(".csv"), csv_bytes(rows, delimiter=delimiter, encoding=encoding))
    result = land_and_check(clean_warehouse, path)
    assert result.status == "landed", result.message
    assert result.rows == len(rows)
    stored = stored_rows(clean_warehouse, result.upload_id)
    for source_row, row in enumerate(rows, start=2):
        for column in COLUMNS:
            assert stored[source_row][column] == expected_value(row.get(column, "")), column
    # Landing the same bytes again under the same name is a no-op.
    assert land_and_check(clean_warehouse, path).status == "duplicate"


@DB_SETTINGS
@given(
    formula=st.sampled_from(FORMULAS),
    column=st.sampled_from(FREE_TEXT + ["v3_handlaggare", "v4_klient"]),
    xlsx=st.booleans(),
)
@example(formula="=cmd|' /C calc'!A0", column="v58_utovare_kommentar", xlsx=False)
@example(formula="=cmd|' /C calc'!A0", column="v217_klientforslag", xlsx=True)
def test_formula_text_is_stored_verbatim(clean_warehouse, formula, column, xlsx):
    row = {
        "v1_verksamhet": "1",
        "v2_kommun": KOMMUN,
        "v3_handlaggare": "HAB",
        "v4_klient": "KL-1",
        "v5_datum_aktualisering": "2023-02-01",
        "v14_kon": "1",
        "v15_alder": "34",
        column: formula,
    }
    data = xlsx_bytes([row]) if xlsx else csv_bytes([row])
    result = land_and_check(clean_warehouse, put(unique_name(".xlsx" if xlsx else ".csv"), data))
    assert result.status == "landed", result.message
    assert stored_rows(clean_warehouse, result.upload_id)[2][column] == formula.strip()


@settings(DB_SETTINGS, max_examples=150)
@given(rows=case_rows(), dialect=dialects, cut=st.floats(0, 1, exclude_max=True))
def test_truncated_csv(clean_warehouse, rows, dialect, cut):
    delimiter, encoding = dialect
    data = csv_bytes(rows, delimiter=delimiter, encoding=encoding)
    result = land_and_check(clean_warehouse, put(unique_name(".csv"), data[: int(len(data) * cut)]))
    if result.status == "landed":
        assert result.rows <= len(rows)


@DB_SETTINGS
@given(
    rows=case_rows(max_size=3),
    cut=st.floats(0, 1, exclude_max=True),
    suffix=st.sampled_from([".xlsx", ".csv"]),
)
def test_truncated_xlsx(clean_warehouse, rows, cut, suffix):
    data = xlsx_bytes(rows)
    result = land_and_check(clean_warehouse, put(unique_name(suffix), data[: int(len(data) * cut)]))
    assert result.status == "blocked"
    assert "Excel-arbetsbok" in result.message or "filen är tom" in result.message, result.message


@settings(DB_SETTINGS, max_examples=150)
@given(
    data=st.one_of(
        st.binary(max_size=2000),
        st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b),
        st.binary(max_size=200).map(lambda b: b"\xd0\xcf\x11\xe0" + b),
        st.binary(max_size=200).map(lambda b: ";".join(COLUMNS).encode() + b"\n" + b),
    ),
    suffix=st.sampled_from([".csv", ".xlsx", ".txt", ".xls"]),
)
@example(data=bytes(range(256)) * 4, suffix=".csv")
@example(data=b"\x00" * 10, suffix=".csv")
@example(data=b"\xef\xbb\xbf", suffix=".csv")
def test_binary_junk(clean_warehouse, data, suffix):
    land_and_check(clean_warehouse, put(unique_name(suffix), data))


def _mutate(text: str, mutation: tuple, delimiter: str) -> str:
    kind, position, arg = mutation
    lines = text.split("\n")
    line = min(int(position * len(lines)), len(lines) - 1)
    offset = int(position * len(text))
    if kind == "delimiter":
        return text.replace(delimiter, arg)
    if kind == "insert":
        return text[:offset] + arg + text[offset:]
    if kind == "more_fields":
        lines[line] += (delimiter + arg) * 3
    elif kind == "fewer_fields":
        lines[line] = delimiter.join(lines[line].split(delimiter)[:-2])
    elif kind == "huge_field":
        cells = lines[line].split(delimiter)
        cells[min(int(position * len(cells)), len(cells) - 1)] = arg * 100_001
        lines[line] = delimiter.join(cells)
    elif kind == "long_line":
        lines[line] = lines[line] + delimiter.join([arg * 50] * 5_000)
    elif kind == "duplicate_line":
        lines.insert(line, lines[line])
    elif kind == "drop_line":
        del lines[line]
    return "\n".join(lines)


mutations = st.tuples(
    st.sampled_from(
        [
            "delimiter",
            "insert",
            "more_fields",
            "fewer_fields",
            "huge_field",
            "long_line",
            "duplicate_line",
            "drop_line",
        ]
    ),
    st.floats(0, 1, exclude_max=True),
    st.sampled_from(
        [
            "\t",
            "|",
            '"',
            "\x00",
            "\ufeff",
            "\r",
            "\n",
            "x",
            "=cmd|' /C calc'!A0",
            "+SUM(1)",
            '"unbalanced',
            ";",
            ",",
            "\x1a",
            "Ã¥",
        ]
    ),
)


@settings(DB_SETTINGS, max_examples=150)
@given(rows=case_rows(), dialect=dialects, changes=st.lists(mutations, min_size=1, max_size=3))
def test_mutated_csv(clean_warehouse, rows, dialect, changes):
    """Wrong delimiters, NUL bytes, BOM in the middle, unbalanced quotes, more/fewer fields,
    huge fields and very long lines: landed or blocked, never a crash."""
    delimiter, encoding = dialect
    text = csv_bytes(rows, delimiter=delimiter, encoding="utf-8").decode("utf-8")
    for change in changes:
        text = _mutate(text, change, delimiter)
    land_and_check(
        clean_warehouse, put(unique_name(".csv"), text.encode(encoding, errors="replace"))
    )


@DB_SETTINGS
@given(rows=case_rows(), delimiter=st.sampled_from(["\t", "|"]))
def test_wrong_delimiter(clean_warehouse, rows, delimiter):
    result = land_and_check(
        clean_warehouse, put(unique_name(".csv"), csv_bytes(rows, delimiter=delimiter))
    )
    if delimiter == "|":
        assert result.status == "blocked" and "avgränsare" in result.message


@DB_SETTINGS
@given(
    rows=case_rows(),
    dialect=dialects,
    huge=st.sampled_from(FREE_TEXT + ["v3_handlaggare"]),
    size=st.integers(100_001, 150_000),
)
def test_huge_field_is_blocked(clean_warehouse, rows, dialect, huge, size):
    delimiter, encoding = dialect
    rows[0][huge] = "=" + "x" * size
    result = land_and_check(
        clean_warehouse,
        put(unique_name(".csv"), csv_bytes(rows, delimiter=delimiter, encoding=encoding)),
    )
    assert result.status == "blocked"


@DB_SETTINGS
@given(dialect=dialects, blank_lines=st.integers(0, 3), xlsx=st.booleans())
def test_header_only_is_blocked(clean_warehouse, dialect, blank_lines, xlsx):
    delimiter, encoding = dialect
    if xlsx:
        data, suffix = xlsx_bytes([]), ".xlsx"
    else:
        data = (
            csv_bytes([], delimiter=delimiter, encoding=encoding)
            + (delimiter * 3 + "\r\n").encode() * blank_lines
        )
        suffix = ".csv"
    result = land_and_check(clean_warehouse, put(unique_name(suffix), data))
    assert result.status == "blocked" and "inga ärenden" in result.message


SWEDISH = st.text("åäöÅÄÖ", min_size=1, max_size=5)


@DB_SETTINGS
@given(
    rows=case_rows(min_size=2),
    delimiter=st.sampled_from([";", ","]),
    utf8_text=SWEDISH,
    cp1252_text=SWEDISH,
    bom=st.booleans(),
)
@example(
    rows=[{"v2_kommun": KOMMUN, "v4_klient": "KL-1"}, {"v2_kommun": KOMMUN, "v4_klient": "KL-2"}],
    delimiter=";",
    utf8_text="Å",
    cp1252_text="Ä",
    bom=False,
)
def test_mixed_encodings_are_blocked(clean_warehouse, rows, delimiter, utf8_text, cp1252_text, bom):
    """Part UTF-8, part Windows-1252 in one file: blocked, never landed as mojibake."""
    rows[0]["v3_handlaggare"] = utf8_text
    rows[-1]["v3_handlaggare"] = cp1252_text
    text = csv_bytes(rows, delimiter=delimiter).decode("utf-8")
    cut = text.index("\n", text.index("\n") + 1) + 1  # header and first data row in UTF-8
    data = (
        (b"\xef\xbb\xbf" if bom else b"") + text[:cut].encode("utf-8") + text[cut:].encode("cp1252")
    )
    result = land_and_check(clean_warehouse, put(unique_name(".csv"), data))
    assert result.status == "blocked", "mixed encodings landed"


@DB_SETTINGS
@given(
    sidecar=st.one_of(
        st.binary(max_size=60),
        st.fixed_dictionaries(
            {
                "kommun": st.one_of(
                    st.text(max_size=300),
                    st.integers(),
                    st.none(),
                    st.sampled_from(["0180", "../../../tmp/x", "0180/..", "a" * 300]),
                ),
                "round": st.one_of(st.text(max_size=10), st.just(ROUND), st.integers()),
            }
        ).map(lambda d: json.dumps(d).encode()),
        st.recursive(
            st.none() | st.booleans() | st.text(max_size=5),
            lambda c: st.lists(c, max_size=3),
            max_leaves=5,
        ).map(lambda v: json.dumps(v).encode()),
    ),
    named=st.booleans(),
)
@example(sidecar=json.dumps({"kommun": "a" * 300, "round": ROUND}).encode(), named=False)
@example(sidecar=json.dumps({"kommun": "../../outside", "round": ROUND}).encode(), named=False)
@example(sidecar=json.dumps({"kommun": "0180\u0000", "round": ROUND}).encode(), named=False)
@example(sidecar=json.dumps({"kommun": "0180\u0000", "round": ROUND}).encode(), named=True)
@example(sidecar=json.dumps({"kommun": "0180", "round": ROUND + "\n"}).encode(), named=False)
@example(sidecar=json.dumps({"kommun": "0180\n", "round": ROUND}).encode(), named=False)
@example(sidecar=b"[" * 30_000 + b"]" * 30_000, named=False)  # deeper than the JSON parser goes
@example(sidecar=b"{" * 70_000, named=True)  # larger than a sidecar may be
def test_fuzzed_sidecar(clean_warehouse, sidecar, named):
    name = unique_name(".csv") if named else f"uppgifter_{next(_counter)}.csv"
    path = put(name, csv_bytes([{"v2_kommun": KOMMUN, "v4_klient": "KL-1"}]))
    path.with_name(name + ".json").write_bytes(sidecar)
    result = land_and_check(clean_warehouse, path)
    archive = Path(os.environ["SUKF_ARCHIVE"]).resolve()
    with clean_warehouse.connect() as conn:
        archived = conn.execute(
            sa.text("SELECT archive_path FROM raw.uploads WHERE file_name = :n"), {"n": name}
        ).scalar()
    if archived:
        assert Path(archived).resolve().is_relative_to(archive)
    if result.status == "landed":
        assert result.kommun_kod == KOMMUN


@settings(derandomize=True, deadline=None, max_examples=100)
@given(rows=case_rows(max_size=3), dialect=dialects, cut=st.integers(0, 10_000))
def test_readers_raise_only_upload_errors_on_truncated_csv(tmp_path_factory, rows, dialect, cut):
    """The reader itself: a truncated file yields rows or raises UploadError, nothing else."""
    delimiter, encoding = dialect
    data = csv_bytes(rows, delimiter=delimiter, encoding=encoding)
    path = tmp_path_factory.mktemp("r") / unique_name(".csv")
    path.write_bytes(data[: cut % (len(data) + 1)])
    try:
        upload = open_upload(path)
        for source_row, record in upload.rows():
            assert source_row >= 2 and set(record) == set(upload.header)
    except UploadError as error:
        assert error.message.startswith(f"filen {path.name}")


@DB_SETTINGS
@given(
    rows=case_rows(),
    pnr=st.sampled_from(["19811218-9876", "811218-9876", "198112189876", "8112189876"]),
    column=st.sampled_from(COLUMNS + ["lokal_variabel"]),
    xlsx=st.booleans(),
)
@example(rows=[{"v2_kommun": KOMMUN}], pnr="19811218-9876", column="v2_kommun", xlsx=False)
def test_personnummer_in_any_column_never_reaches_a_message(
    clean_warehouse, rows, pnr, column, xlsx
):
    rows[-1][column] = pnr
    columns = COLUMNS + ["lokal_variabel"]
    data = xlsx_bytes(rows, columns) if xlsx else csv_bytes(rows, columns=columns)
    result = land_and_check(clean_warehouse, put(unique_name(".xlsx" if xlsx else ".csv"), data))
    assert "9876" not in (result.message or "")
    with clean_warehouse.connect() as conn:
        dump = (
            conn.exec_driver_sql("SELECT coalesce(status_reason, '') FROM raw.uploads")
            .scalars()
            .all()
        )
    assert not any("9876" in reason for reason in dump)
    # Every column is screened, unknown ones too.
    assert result.status == "blocked" and "personnummer" in result.message


@settings(derandomize=True, deadline=None, max_examples=40)
@given(
    header=st.lists(
        st.sampled_from(COLUMNS[:10] + ["", "x", "v1_verksamhet"]), min_size=1, max_size=8
    ),
    xlsx=st.booleans(),
)
def test_rejected_header_leaves_no_open_file(tmp_path_factory, header, xlsx):
    """A header that fails the contract closes the file before the error is raised."""
    path = tmp_path_factory.mktemp("h") / unique_name(".xlsx" if xlsx else ".csv")
    path.write_bytes(xlsx_bytes([], header) if xlsx else csv_bytes([], columns=header))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            upload = open_upload(path)
            list(upload.rows())
        except UploadError:
            pass
        gc.collect()
    assert not [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def test_file_name_not_in_utf8(clean_warehouse):
    inbox = os.fsencode(os.environ["SUKF_INBOX"])
    raw_name = inbox + b"/sukf_0180_2023-06_Sm\xe5land.csv"
    path = Path(os.fsdecode(raw_name))
    path.write_bytes(csv_bytes([{"v2_kommun": KOMMUN}]))
    result = land_and_check(clean_warehouse, path)
    assert result.file_name == "sukf_0180_2023-06_Sm\ufffdland.csv"
    assert land_and_check(clean_warehouse, path).status == "duplicate"


# --- privacy ----------------------------------------------------------------------------------

NO_DIGITS = st.text(st.characters(exclude_categories=["Nd", "Cs"]), max_size=20)
# Every way a person, a word processor or another encoding separates the date from the last
# four digits.
SEPARATORS = [
    "",
    "-",
    "+",
    "\u2010",
    "\u2011",
    "\u2012",
    "\u2013",
    "\u2014",
    "\u2015",
    "\u2212",
    "\ufe63",
    "\uff0d",
    " ",
    "\u00a0",
    "\u2009",
    "\u202f",
    " - ",
    " \u2013 ",
    "\u00a0-\u00a0",
    "  \u2014  ",
]


@st.composite
def personnummer(draw):
    """(as written, its 10 digits): a personnummer or samordningsnummer, 10 or 12 digits, with
    any separator (Unicode digits too: a fullwidth number is still one)."""
    born = draw(st.dates(dt.date(1850, 1, 1), dt.date(2029, 12, 31)))
    day = born.day + (60 if draw(st.booleans()) else 0)  # samordningsnummer
    serial = draw(st.integers(0, 999))
    nine = f"{born.year % 100:02d}{born.month:02d}{day:02d}{serial:03d}"
    check = luhn_check_digit(nine)
    twelve = draw(st.booleans())
    separator = draw(st.sampled_from(SEPARATORS))
    date_part = f"{born.year}" if twelve else f"{born.year % 100:02d}"
    formatted = f"{date_part}{born.month:02d}{day:02d}{separator}{serial:03d}{check}"
    if draw(st.integers(0, 9)) == 0:  # fullwidth digits
        formatted = formatted.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    return formatted, f"{nine}{check}"


@settings(derandomize=True, deadline=None, max_examples=800)
@given(pnr=personnummer(), before=NO_DIGITS, after=NO_DIGITS)
@example(pnr=("19811218-9876", "8112189876"), before="ring ", after="")
@example(pnr=("811218+9876", "8112189876"), before="", after=" tack")
@example(pnr=("811218\u20139876", "8112189876"), before="pnr ", after="")
@example(pnr=("811278 9873", "8112789873"), before="", after="")
def test_personnummer_is_found_and_masked(pnr, before, after):
    formatted, digits = pnr
    text = f"{before}{formatted}{after}"
    assert contains_personnummer(text)
    masked = mask_personnummer(text)
    assert digits not in masked and formatted not in masked
    assert digits not in re.sub(r"\D", "", masked)
    assert not contains_personnummer(masked)
    assert masked.startswith(before) and masked.endswith(after)


# Characters that never join two digit runs into one number (no spaces, dashes or plus).
JOINERS_EXCLUDED = st.characters(categories=["L"]) | st.sampled_from(list(".,;:!?()/_*#%&\n\t"))


@st.composite
def letters_and_short_numbers(draw):
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        parts.append(draw(st.text(JOINERS_EXCLUDED, min_size=1, max_size=6)))
        parts.append(draw(st.from_regex(r"[0-9]{1,9}", fullmatch=True)))
    return "".join(parts)


@settings(derandomize=True, deadline=None, max_examples=500)
@given(text=letters_and_short_numbers())
def test_letters_and_short_digit_runs_are_never_flagged(text):
    assert not contains_personnummer(text)
    assert mask_personnummer(text) == text


@settings(derandomize=True, deadline=None, max_examples=300)
@given(
    date=st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31)),
    layout=st.sampled_from(["%Y-%m-%d", "%Y%m%d", "%y%m%d", "%d/%m/%Y", "%Y-%m-%d %H:%M"]),
    number=st.integers(0, 99_999_999),
    glue=st.sampled_from([";", ",", "\t", "\x1f", "\n"]),
)
def test_ordinary_values_side_by_side_are_never_flagged(date, layout, number, glue):
    """Dates, amounts and codes in neighbouring cells (joined as cells are for one search)."""
    text = glue.join([date.strftime(layout), str(number), "1", "0180", "2023-06"])
    assert not contains_personnummer(text)


def _pieces(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *sorted(c % (len(text) + 1) for c in cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


DIGITISH = st.text(
    st.sampled_from(list("0123456789") + ["-", "\u2013", " ", "\u00a0", "+", "a", "\x1f", "\n"]),
    max_size=80,
)


@settings(derandomize=True, deadline=None, max_examples=800)
@given(
    text=st.one_of(
        DIGITISH, st.tuples(DIGITISH, personnummer(), DIGITISH).map(lambda t: t[0] + t[1][0] + t[2])
    ),
    cuts=st.lists(st.integers(0, 200), max_size=8),
)
def test_streamed_screen_finds_exactly_what_a_search_of_the_whole_finds(text, cuts):
    """A file is screened in pieces: a number cut in two is still found, and a long digit run
    cut anywhere is still no personnummer."""
    screen = TextScreen()
    for piece in _pieces(text, cuts):
        screen.feed(piece)
    assert screen.close() == contains_personnummer(text)


@settings(derandomize=True, deadline=None, max_examples=400)
@given(
    pnr=personnummer(),
    before=letters_and_short_numbers(),
    after=letters_and_short_numbers(),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16", "utf-16-le", "utf-16-be"]),
    cuts=st.lists(st.integers(0, 400), max_size=5),
    present=st.booleans(),
)
def test_byte_screen_finds_it_in_every_encoding(pnr, before, after, encoding, cuts, present):
    """Raw bytes of unknown encoding (a CSV, a part of an XLSX, a binary): found in UTF-8,
    Windows-1252 and UTF-16 of either byte order, however the bytes are cut; text without one
    stays clean in every decoding."""
    text = f"{before} {pnr[0]} {after}" if present else f"{before} {after}"
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    screen = ByteScreen()
    for a, b in itertools.pairwise([0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]):
        screen.feed(data[a:b])
    assert screen.close() == present
