"""Intake against the real embedded Postgres: dialects, encodings, blocked files, idempotence."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import csv_bytes, scalar
from sukvinnofrid import intake
from sukvinnofrid.catalogue import load_catalogue
from sukvinnofrid.readers import UploadError, identify
from sukvinnofrid.rounds import round_close

COLUMNS = load_catalogue().column_names
CASE = {
    "v1_verksamhet": "1",
    "v2_kommun": "0180",
    "v3_handlaggare": "HAB",
    "v4_klient": "KL-ÅÄÖ1",
    "v5_datum_aktualisering": "2023-02-01",
    "v14_kon": "1",
    "v15_alder": "34",
    "v19_funktionsnedsattning_4": "1",
    "v58_utovare_kommentar": "tidigare sambo; bor kvar\nnära",
}


def put(inbox: Path, name: str, data: bytes) -> Path:
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    path.write_bytes(data)
    return path


@pytest.fixture
def inbox(clean_warehouse) -> Path:
    return Path(os.environ["SUKF_INBOX"])


@pytest.mark.parametrize(
    "delimiter,encoding", [(";", "utf-8"), (",", "utf-8-sig"), (";", "cp1252")]
)
def test_csv_dialects_land_with_swedish_text_intact(inbox, clean_warehouse, delimiter, encoding):
    path = put(
        inbox,
        "sukf_0180_2023-06.csv",
        csv_bytes([CASE, dict(CASE, v4_klient="KL-2")], delimiter=delimiter, encoding=encoding),
    )
    result = intake.land_upload(path)
    assert (result.status, result.rows, result.kommun_kod, result.round_id) == (
        "landed",
        2,
        "0180",
        "2023-06",
    )
    assert (
        scalar(clean_warehouse, "SELECT v4_klient FROM raw.case_records WHERE source_row = 2")
        == "KL-ÅÄÖ1"
    )
    assert (
        scalar(
            clean_warehouse,
            "SELECT v58_utovare_kommentar FROM raw.case_records WHERE source_row = 3",
        )
        == CASE["v58_utovare_kommentar"]
    )
    # Blank cells are stored as NULL, not as empty strings.
    assert (
        scalar(clean_warehouse, "SELECT count(*) FROM raw.case_records WHERE v20_ursprung IS NULL")
        == 2
    )


def test_xlsx_lands_and_dates_become_iso(inbox, clean_warehouse):
    import datetime as dt

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Ärenden"
    sheet.append(list(COLUMNS))
    row = [CASE.get(c) for c in COLUMNS]
    row[COLUMNS.index("v5_datum_aktualisering")] = dt.datetime(2023, 2, 1)
    row[COLUMNS.index("v15_alder")] = 34.0
    sheet.append(row)
    path = inbox / "sukf_0180_2023-06.xlsx"
    inbox.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    result = intake.land_upload(path)
    assert result.status == "landed", result.message
    assert (
        scalar(
            clean_warehouse,
            "SELECT v5_datum_aktualisering || '/' || v15_alder FROM raw.case_records",
        )
        == "2023-02-01/34"
    )


def test_original_is_archived_read_only(inbox, clean_warehouse):
    path = put(inbox, "sukf_0180_2023-06.csv", csv_bytes([CASE]))
    result = intake.land_upload(path)
    archived = Path(scalar(clean_warehouse, "SELECT archive_path FROM raw.uploads"))
    assert archived.read_bytes() == path.read_bytes()
    assert not os.access(archived, os.W_OK) or os.geteuid() == 0
    assert archived.stat().st_mode & 0o222 == 0
    assert result.sha256 == intake.sha256_of(archived)


def test_same_file_twice_is_a_no_op(inbox, clean_warehouse):
    path = put(inbox, "sukf_0180_2023-06.csv", csv_bytes([CASE]))
    first = intake.land_upload(path)
    second = intake.land_upload(path)
    assert (first.status, second.status) == ("landed", "duplicate")
    assert second.upload_id == first.upload_id
    assert scalar(clean_warehouse, "SELECT count(*) FROM raw.case_records") == 1
    assert intake.new_files(inbox) == []


@pytest.mark.parametrize(
    "name,data,expected",
    [
        ("sukf_0180_2023-06.csv", b"", "filen är tom"),
        ("sukf_0180_2023-06.csv", "v1;v2\n".encode("utf-16"), "UTF-16"),
        ("sukf_0180_2023-06.csv", bytes(range(256)) * 8, "binära data"),
        ("sukf_0180_2023-06.csv", b"\x81\x8d abc;def\n", "varken giltig UTF-8 eller Windows-1252"),
        ("sukf_0180_2023-06.xlsx", b"PK\x03\x04 not really a zip", "Excel"),
        ("uppgifter.csv", csv_bytes([CASE]), "kommun och insamlingsomgång framgår inte"),
        ("sukf_9999_2023-06.csv", csv_bytes([dict(CASE, v2_kommun="9999")]), "kommunkoden 9999"),
        ("sukf_0180_2023-13.csv", csv_bytes([CASE]), "omgången '2023-13' är ingen giltig månad"),
        ("sukf_0181_2023-06.csv", csv_bytes([CASE]), "rad 2, variabel Kommun/stadsdel (2)"),
        (
            "sukf_0180_2023-06.csv",
            csv_bytes([], columns=[c for c in COLUMNS if c != "v5_datum_aktualisering"]),
            "Datum för aktualisering (5)",
        ),
        ("sukf_0180_2023-06.csv", csv_bytes([]), "inga ärenden"),
        ("sukf_0180_2023-06.csv", csv_bytes([CASE]) + b"1;0180;x\n", "rad 3: raden har 3 fält"),
        (
            "sukf_0180_2023-06.csv",
            csv_bytes([dict(CASE, v217_klientforslag="ring 19811218-9876")]),
            "rad 2, variabel Klientförslag till förbättringar (217)",
        ),
        ("sukf_0180_2023-06.csv", "v1_verksamhet;Ã¥\n".encode(), "fel teckenkodning"),
        ("sukf_0180_2023-06.xlsm", csv_bytes([CASE]), "filtypen (.xlsm) tas inte emot"),
        ("sukf_0180_2023-06.ods", csv_bytes([CASE]), "filtypen (.ods) tas inte emot"),
        (
            "sukf_0180_2099-12.csv",
            csv_bytes([dict(CASE, v5_datum_aktualisering="2099-12-01")]),
            "omgången 2099-12 har inte stängt ännu: den stänger 2099-12-31",
        ),
        (
            "sukf_0180_2023-06.csv",
            csv_bytes([CASE]) + b"\n" + b";" * (5 * 2**20),
            "en rad i filen är längre",
        ),
    ],
)
def test_bad_files_are_blocked_with_a_specific_message(
    inbox, clean_warehouse, name, data, expected
):
    path = put(inbox, name, data)
    result = intake.land_upload(path)
    assert result.status == "blocked"
    assert expected in result.message
    assert f"filen {name}" in result.message
    assert scalar(clean_warehouse, "SELECT count(*) FROM raw.case_records") == 0
    assert scalar(clean_warehouse, "SELECT status FROM raw.uploads") == "blocked"


def test_personnummer_never_reaches_a_table_or_message(inbox, clean_warehouse):
    path = put(
        inbox,
        "sukf_0180_2023-06.csv",
        csv_bytes([CASE, dict(CASE, v4_klient="19811218-9876", v1_verksamhet="2")]),
    )
    result = intake.land_upload(path)
    assert result.status == "blocked" and "personnummer" in result.message
    assert "9876" not in result.message
    with clean_warehouse.connect() as conn:
        dump = (
            conn.exec_driver_sql("SELECT row_to_json(u)::text FROM raw.uploads u").scalars().all()
        )
    assert not any("9876" in row for row in dump)
    assert scalar(clean_warehouse, "SELECT archive_path FROM raw.uploads") is None


def test_blocked_upload_leaves_stored_rows_alone(inbox, clean_warehouse):
    good = intake.land_upload(put(inbox, "sukf_0180_2023-06.csv", csv_bytes([CASE])))
    bad = intake.land_upload(put(inbox, "sukf_0180_2023-06.xlsx", b"garbage"))
    assert (good.status, bad.status) == ("landed", "blocked")
    assert (
        scalar(
            clean_warehouse,
            "SELECT count(*) FROM raw.case_records WHERE upload_id = :u",
            u=good.upload_id,
        )
        == 1
    )


def test_unknown_columns_are_noted_but_not_stored(inbox, clean_warehouse):
    path = put(
        inbox,
        "sukf_0180_2023-06.csv",
        csv_bytes([dict(CASE, lokal_variabel="x")], columns=(*COLUMNS, "lokal_variabel")),
    )
    result = intake.land_upload(path)
    assert result.status == "landed"
    reason = scalar(clean_warehouse, "SELECT status_reason FROM raw.uploads")
    assert intake.unknown_columns_in(reason) == "lokal_variabel"


@given(
    unknown=st.lists(
        st.from_regex(r"[a-zåäö_0-9 ()<>=.-]{1,20}", fullmatch=True), max_size=70, unique=True
    ),
    missing=st.lists(st.sampled_from(COLUMNS), max_size=20, unique=True),
    verdict=st.sampled_from(["", "Godkänd: 3 av 3 rader räknas. ", "Filen stoppades: x. "]),
)
def test_unknown_columns_are_read_back_from_any_status_reason(unknown, missing, verdict):
    """The feedback report lists the columns intake did not save, from the status reason the
    gate writes (its verdict, then intake's notes)."""
    notes = intake._header_notes(unknown, missing)
    listed = intake.unknown_columns_in(verdict + (notes or ""))
    if not unknown:
        assert listed is None
        return
    expected = ", ".join(unknown[: intake.NOTE_MAX_COLUMNS])
    if len(unknown) > intake.NOTE_MAX_COLUMNS:
        expected += f" och {len(unknown) - intake.NOTE_MAX_COLUMNS} till"
    assert listed == expected


def test_sidecar_identity_must_agree_with_file_name(inbox, clean_warehouse):
    path = put(inbox, "sukf_0180_2023-06.csv", csv_bytes([CASE]))
    (inbox / "sukf_0180_2023-06.csv.json").write_text('{"kommun": "0180", "round": "2023-05"}')
    with pytest.raises(UploadError, match="olika kommun eller omgång"):
        identify(path)
    (inbox / "sukf_0180_2023-06.csv.json").write_text('{"kommun": "0180", "round": "2023-06"}')
    assert identify(path).round_id == "2023-06"


@pytest.mark.parametrize(
    "folder, name, verdict",
    [
        ("0180", "sukf_0180_2023-06.csv", "landed"),
        ("0180-eav", "sukf_0180-EAV_2023-06.csv", "landed"),  # folder names in any case
        ("1280", "sukf_0180_2023-06.csv", "blocked"),  # another kommun's folder
        (
            "0180",
            "sukf_0180-EAV_2023-06.csv",
            "blocked",
        ),  # the kommun's folder is not the stadsdel's
        ("0180-EAV", "sukf_0180_2023-06.csv", "blocked"),
    ],
)
def test_a_kommun_delivers_only_its_own_files_into_its_folder(
    inbox, clean_warehouse, folder, name, verdict
):
    """In production each kommun (stadsdel) has an SFTP account confined to `<inbox>/<code>/`:
    a file there must be that kommun's, or one kommun could deliver another's data."""
    unit = name.split("_")[1]
    path = put(inbox / folder, name, csv_bytes([dict(CASE, v2_kommun=unit)]))
    assert path in intake.inbox_files()
    result = intake.land_upload(path)
    assert result.status == verdict, result.message
    if verdict == "blocked":
        assert f"leveransmappen för {folder}" in result.message
        assert scalar(clean_warehouse, "SELECT count(*) FROM raw.case_records") == 0


def test_round_closes_on_last_day_of_month():
    assert str(round_close("2023-06")) == "2023-06-30"
    assert str(round_close("2024-02")) == "2024-02-29"
    assert str(round_close("2023-12")) == "2023-12-31"


def test_killed_landing_leaves_nothing_and_rerun_lands_once(inbox, clean_warehouse, tmp_path):
    """A process killed mid-COPY leaves no partial upload; the re-run lands the file once."""
    rows = [dict(CASE, v4_klient=f"KL-{i}") for i in range(20_000)]
    path = put(inbox, "sukf_0180_2023-06.csv", csv_bytes(rows))
    script = tmp_path / "land.py"
    script.write_text(
        textwrap.dedent(f"""
        import os, signal, threading
        from sukvinnofrid import intake
        import sukvinnofrid.intake as module
        original = module._insert_landed
        def killing_insert(*args, **kwargs):
            # Die inside the transaction, after the registry insert and during COPY.
            threading.Timer(0.05, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
            original(*args, **kwargs)
            import time; time.sleep(5)
        module._insert_landed = killing_insert
        intake.land_upload(__import__("pathlib").Path({str(path)!r}))
    """)
    )
    process = subprocess.run(
        [sys.executable, str(script)], env=dict(os.environ), capture_output=True
    )
    assert process.returncode != 0
    assert scalar(clean_warehouse, "SELECT count(*) FROM raw.uploads") == 0
    assert scalar(clean_warehouse, "SELECT count(*) FROM raw.case_records") == 0
    result = intake.land_upload(path)
    assert result.status == "landed" and result.rows == 20_000
    assert intake.land_upload(path).status == "duplicate"
    assert scalar(clean_warehouse, "SELECT count(*) FROM raw.case_records") == 20_000


def counting_hashes(monkeypatch) -> list[Path]:
    """Every file intake hashes from now on (the real sha256_of, counted)."""
    hashed: list[Path] = []
    real = intake.sha256_of

    def sha256_of(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(intake, "sha256_of", sha256_of)
    return hashed


def test_a_poll_hashes_only_files_it_has_not_seen(inbox, clean_warehouse, monkeypatch):
    from sukvinnofrid import pipeline

    files = [
        put(inbox / "0180", f"sukf_0180_2023-12_{n:02}.csv", csv_bytes([CASE] * (n + 1)))
        for n in range(30)
    ]
    hashed = counting_hashes(monkeypatch)
    assert intake.new_files(inbox, clean_warehouse) == files
    assert sorted(hashed) == files
    assert {r.status for r in intake.land_inbox(inbox, clean_warehouse)} == {"landed"}

    hashed.clear()
    assert pipeline.files_to_land() == [], "the intake DAG's poll finds nothing new"
    assert intake.new_files(inbox, clean_warehouse) == []
    assert hashed == [], "a known inbox is not hashed again"

    # the kommun sends a corrected file under the same name, and one file again as it was
    put(inbox / "0180", files[3].name, csv_bytes([dict(CASE, v15_alder="35")] * 4))
    put(inbox / "0180", files[5].name, files[5].read_bytes())
    files[7].unlink()
    assert intake.new_files(inbox, clean_warehouse) == [files[3]]
    assert sorted(hashed) == [files[3], files[5]]
    assert scalar(clean_warehouse, "SELECT count(*) FROM raw.inbox_files") == 29
    assert (
        scalar(clean_warehouse, "SELECT count(*) FROM raw.inbox_files WHERE location LIKE '0180/%'")
        == 29
    )
    # an inbox emptied (retention moved the files away) leaves nothing remembered
    for path in files:
        path.unlink(missing_ok=True)
    assert intake.new_files(inbox, clean_warehouse) == []
    assert scalar(clean_warehouse, "SELECT count(*) FROM raw.inbox_files") == 0


def test_a_file_sent_before_its_round_closed_and_again_after_lands(
    inbox, clean_warehouse, monkeypatch
):
    early = put(inbox / "0180", "sukf_0180_2023-12.csv", csv_bytes([CASE]))
    monkeypatch.setenv("SUKF_TODAY", "2023-12-20")
    (blocked,) = intake.land_inbox(inbox, clean_warehouse)
    assert (blocked.status, blocked.upload_id) == ("blocked", 1), blocked.message
    assert intake.new_files(inbox, clean_warehouse) == []
    # once the round has closed the kommun sends the same file again (the same bytes)
    monkeypatch.setenv("SUKF_TODAY", "2024-01-02")
    put(inbox / "0180", early.name, early.read_bytes())
    assert intake.new_files(inbox, clean_warehouse) == [early]
    (landed,) = intake.land_inbox(inbox, clean_warehouse)
    assert (landed.status, landed.rows) == ("landed", 1), landed.message
    assert landed.upload_id != blocked.upload_id
    assert intake.new_files(inbox, clean_warehouse) == []
    assert intake.land_upload(early, clean_warehouse).status == "duplicate"
    assert (
        scalar(
            clean_warehouse,
            "SELECT count(*) FROM raw.case_records WHERE upload_id = :u",
            u=landed.upload_id,
        )
        == 1
    )


def test_a_personnummer_in_a_file_name_is_not_remembered(inbox, clean_warehouse):
    from sukvinnofrid import pipeline

    put(inbox / "0180", "sukf_0180_2023-12_19811218-9876.csv", csv_bytes([CASE]))
    assert pipeline.files_to_land() == []  # landed (blocked) at once, out of Airflow's sight
    with clean_warehouse.connect() as conn:
        (location,) = conn.exec_driver_sql("SELECT location FROM raw.inbox_files").scalars()
    assert location.startswith("0180/sukf_0180_2023-12_") and "9876" not in location
