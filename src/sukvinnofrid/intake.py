"""Intake: register each upload by sha256, archive the original read-only, land its rows in `raw`.

One upload is landed in one transaction (registry row + COPY of all rows), so a crash leaves
nothing half-landed and a re-run lands it once. The same bytes delivered again are a no-op.
Files that cannot be landed (unreadable, wrong structure, personal data, unknown kommun) are
registered as `blocked` with a Swedish reason and no rows.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import reference, warehouse
from .catalogue import load_catalogue
from .config import get_settings
from .privacy import contains_personnummer
from .readers import UploadError, UploadIdentity, identify, open_upload

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = {".csv", ".txt", ".xlsx", ".xls"}


@dataclass(frozen=True)
class IntakeResult:
    file_name: str
    sha256: str
    status: str  # landed | blocked | duplicate
    upload_id: int | None
    kommun_kod: str
    round_id: str
    rows: int
    message: str | None = None  # Swedish, for the kommun


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def inbox_files(inbox: Path | None = None) -> list[Path]:
    """Upload files waiting in the inbox (sidecars excluded), oldest name first."""
    inbox = inbox or get_settings().inbox
    if not inbox.exists():
        return []
    return sorted(p for p in inbox.iterdir() if p.is_file() and p.suffix.lower() in UPLOAD_SUFFIXES)


def new_files(inbox: Path | None = None, engine: Engine | None = None) -> list[Path]:
    """Inbox files whose content has not been registered yet."""
    engine = engine or warehouse.engine()
    files = inbox_files(inbox)
    if not files:
        return []
    with engine.connect() as conn:
        known = {tuple(row) for row in conn.execute(sa.text("SELECT sha256, file_name FROM raw.uploads"))}
    return [p for p in files if (sha256_of(p), upload_name(p)) not in known]


def upload_name(path: Path) -> str:
    """The file name as stored and shown: a name that is not UTF-8 gets replacement characters."""
    return os.fsencode(path.name).decode("utf-8", errors="replace")


def _personnummer_column(record: dict[str, str]) -> str | None:
    """The first column holding a personnummer; one scan of the joined row finds if any does."""
    if not contains_personnummer("\x1f".join(record.values())):
        return None
    return next(column for column, value in record.items() if contains_personnummer(value))


def _check_kommun(file_name: str, identity: UploadIdentity) -> None:
    if reference.reporting_unit_kommun(identity.kommun_kod) is None:
        raise UploadError(file_name, f"kommunkoden {identity.kommun_kod} finns inte bland Sveriges "
                          "kommuner eller stadsdelar. Kontrollera filnamnet.", code="identity")


def _spool_rows(path: Path, name: str, identity: UploadIdentity, upload_id: int, spool):
    """Read, screen and write the rows as COPY-ready CSV; returns (row count, parsed upload)."""
    upload = open_upload(path)
    columns = load_catalogue().column_names
    blanks = itertools.repeat("")  # a column missing from the file is stored empty
    writer = csv.writer(spool)
    count = 0
    for source_row, record in upload.rows():
        # Every column is screened, unknown ones too: a shifted column can carry one anywhere.
        if column := _personnummer_column(record):
            raise UploadError(name, "innehåller något som ser ut som ett personnummer. Hela "
                              "filen har stoppats och ingenting har sparats. Ta bort uppgiften, "
                              "använd verksamhetens pseudonym och skicka filen igen.",
                              row=source_row, column=column, code="privacy")
        kommun = record.get("v2_kommun", "")
        if kommun != identity.kommun_kod:
            raise UploadError(name, f"kommun/stadsdel är {kommun or 'tom'} men filen gäller "
                              f"{identity.kommun_kod}. En fil får bara innehålla den egna kommunens "
                              "(stadsdelens) ärenden.", row=source_row, column="v2_kommun",
                              code="wrong_kommun")
        writer.writerow([upload_id, source_row, *map(record.get, columns, blanks)])
        count += 1
    if count == 0:
        raise UploadError(name, "filen innehåller inga ärenden (bara rubrikrad).", code="empty")
    return count, upload


def _archive(path: Path, identity: UploadIdentity, digest: str) -> Path:
    """Copy the original (and its sidecar) into the archive, read-only; content-addressed."""
    target_dir = get_settings().archive / identity.kommun_kod / identity.round_id / digest[:16]
    target = target_dir / upload_name(path)
    if not target.exists():
        target_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        target.chmod(0o444)
        sidecar = path.with_name(path.name + ".json")
        if sidecar.exists():
            sidecar_copy = target_dir / (target.name + ".json")
            shutil.copyfile(sidecar, sidecar_copy)
            sidecar_copy.chmod(0o444)
    return target


def _register_blocked(engine: Engine, upload_id: int, path: Path, digest: str,
                      identity: UploadIdentity | None, error: UploadError) -> IntakeResult:
    kommun = identity.kommun_kod if identity else ""
    round_id = identity.round_id if identity else ""
    # A file with personal data is not archived: the original stays with the kommun only.
    archive_path = None if error.code == "privacy" or identity is None else str(
        _archive(path, identity, digest))
    # The message can echo file content (a sidecar value); Postgres text cannot hold NUL.
    message = error.message.replace("\x00", "\\x00")
    with engine.begin() as conn:
        conn.execute(
            sa.text("""
                INSERT INTO raw.uploads (upload_id, file_name, sha256, kommun_kod, round_id,
                                         archive_path, status, status_reason, decided_at)
                VALUES (:upload_id, :file_name, :sha256, :kommun, :round_id, :archive_path,
                        'blocked', :reason, now())
                ON CONFLICT (sha256, file_name) DO NOTHING"""),
            dict(upload_id=upload_id, file_name=upload_name(path), sha256=digest, kommun=kommun,
                 round_id=round_id, archive_path=archive_path, reason=message),
        )
    log.warning("blocked at intake: %s", message)
    return IntakeResult(upload_name(path), digest, "blocked", upload_id, kommun, round_id, 0, message)


def land_upload(path: Path, engine: Engine | None = None) -> IntakeResult:
    """Register and land one upload file. Never raises for bad input: it is blocked instead."""
    engine = engine or warehouse.engine()
    name = upload_name(path)
    digest = sha256_of(path)
    with engine.connect() as conn:
        existing = conn.execute(
            sa.text("SELECT upload_id, kommun_kod, round_id, row_count FROM raw.uploads "
                    "WHERE sha256 = :sha256 AND file_name = :file_name"),
            {"sha256": digest, "file_name": name}).first()
    if existing:
        return IntakeResult(name, digest, "duplicate", existing.upload_id, existing.kommun_kod,
                            existing.round_id, existing.row_count,
                            f"filen {name} har redan tagits emot (uppladdning {existing.upload_id}).")
    with engine.connect() as conn:
        # Reserved up front so the spooled rows carry it; a gap after a crash is harmless.
        upload_id = conn.execute(sa.text("SELECT nextval('raw.uploads_upload_id_seq')")).scalar_one()
    identity = None
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spool:
        try:
            identity = identify(path)
            _check_kommun(name, identity)
            rows, upload = _spool_rows(path, name, identity, upload_id, spool)
        except UploadError as error:
            return _register_blocked(engine, upload_id, path, digest, identity, error)
        except Exception as exc:  # a corrupt file can break the parsers in many ways
            log.exception("unreadable upload %s", name)
            error = UploadError(name, f"filen kunde inte läsas ({type(exc).__name__}). "
                                "Kontrollera att den är en CSV- eller XLSX-fil enligt mallen.")
            return _register_blocked(engine, upload_id, path, digest, identity, error)
        archive_path = _archive(path, identity, digest)
        spool.seek(0)
        try:
            _insert_landed(engine, upload_id, path, digest, identity, archive_path, upload, rows,
                           spool)
        except sa.exc.IntegrityError:
            # The same bytes landed concurrently by another worker: theirs stands.
            return IntakeResult(name, digest, "duplicate", None, identity.kommun_kod,
                                identity.round_id, rows, f"filen {name} har redan tagits emot.")
    log.info("landed %s as upload %s (%s rows)", name, upload_id, rows)
    return IntakeResult(name, digest, "landed", upload_id, identity.kommun_kod,
                        identity.round_id, rows)


def _insert_landed(engine: Engine, upload_id: int, path: Path, digest: str,
                   identity: UploadIdentity, archive_path: Path, upload, rows: int, spool) -> None:
    """The registry row and every case row, in one transaction."""
    columns = ", ".join(f'"{c}"' for c in load_catalogue().column_names)
    with engine.begin() as conn:
        conn.execute(
            sa.text("""
                INSERT INTO raw.uploads (upload_id, file_name, sha256, kommun_kod, round_id,
                                         archive_path, file_format, encoding, delimiter,
                                         row_count, status, status_reason)
                VALUES (:upload_id, :file_name, :sha256, :kommun, :round_id, :archive_path,
                        :file_format, :encoding, :delimiter, :rows, 'landed', :reason)"""),
            dict(upload_id=upload_id, file_name=upload_name(path), sha256=digest,
                 kommun=identity.kommun_kod, round_id=identity.round_id,
                 archive_path=str(archive_path), file_format=upload.file_format,
                 encoding=upload.encoding, delimiter=upload.delimiter, rows=rows,
                 reason=_header_notes(upload.unknown_columns, upload.missing_optional_columns)),
        )
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.copy_expert(f"COPY raw.case_records (upload_id, source_row, {columns}) "
                           "FROM STDIN WITH (FORMAT csv)", spool)


def _header_notes(unknown: list[str], missing_optional: list[str]) -> str | None:
    notes = []
    if unknown:
        notes.append(f"Okända kolumner har inte sparats: {', '.join(unknown)}.")
    if missing_optional:
        notes.append(f"{len(missing_optional)} frivilliga kolumner saknades och har lästs som tomma: "
                     f"{', '.join(missing_optional[:10])}{' …' if len(missing_optional) > 10 else ''}.")
    return " ".join(notes) or None


def land_inbox(inbox: Path | None = None, engine: Engine | None = None) -> list[IntakeResult]:
    engine = engine or warehouse.engine()
    warehouse.ensure_schema(engine)
    return [land_upload(path, engine) for path in inbox_files(inbox)]
