"""Intake: screen each upload, register it by sha256, archive the original read-only, land its
rows in `raw`.

Every file in the inbox (sidecars and hidden files aside) gets a verdict and a Swedish message.
Before anything is stored or logged, the whole upload is screened (`readers.screen_upload`): a
personnummer anywhere in it (every sheet, header, cell, part of an XLSX, the file name, the
sidecar) blocks it, and such a file is never archived; its name is stored masked. A file that
could not be screened whole (beyond the size bounds, binary, unreadable as a workbook) is not
archived either. One upload is landed in one transaction (registry row + COPY of all rows), so a
crash leaves nothing half-landed and a re-run lands it once. The same bytes delivered again are
a no-op. Files that cannot be landed are registered as `blocked` with a Swedish reason and no
rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import itertools
import logging
import shutil
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import reference, warehouse
from .catalogue import load_catalogue
from .config import get_settings
from .readers import (
    KOMMUN_COLUMN,
    KOMMUN_KOD,
    Deadline,
    UploadError,
    UploadIdentity,
    identify,
    open_upload,
    screen_upload,
    sidecar_path,
    upload_name,
)
from .rounds import calendar_round, round_close

log = logging.getLogger(__name__)

# The extensions a kommun's upload may have (the content then decides how it is read: an XLSX
# named .xls is read, a real .xls is refused); any other file is blocked with a message.
UPLOAD_SUFFIXES = {".csv", ".txt", ".xlsx", ".xls"}
SIDECAR_SUFFIX = ".json"
UNKNOWN_COLUMNS_NOTE = "Okända kolumner har inte sparats: "
NOTE_MAX_COLUMNS = 50
ROUND_OPEN = "round_open"  # UploadError.code of a file sent before its round closed


@dataclass(frozen=True)
class IntakeResult:
    file_name: str  # as stored: a personnummer in it is masked
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
    """Every file waiting in the inbox or in a folder of it (in production each kommun delivers
    into its own folder: docker-compose.yml's sftp service), by name: each gets a verdict.
    Sidecars (`.json`) travel with their upload; hidden files (a name starting with '.', as
    partial transfers are named) and symbolic links are not uploads."""
    inbox = inbox or get_settings().inbox
    if not inbox.exists():
        return []
    folders = [
        p
        for p in inbox.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
    ]
    return sorted(
        p
        for p in itertools.chain(inbox.iterdir(), *(f.iterdir() for f in folders))
        if p.is_file()
        and not p.is_symlink()
        and not p.name.startswith(".")
        and p.suffix.lower() != SIDECAR_SUFFIX
    )


def new_files(inbox: Path | None = None, engine: Engine | None = None) -> list[Path]:
    """Inbox files whose content has not been registered yet.

    A file is hashed once: its sha256 is remembered with its place, inode, size and times
    (`raw.inbox_files`), and a later poll that finds it unchanged reads the hash from there.
    A file written again (an upload over it) has new times and is hashed again."""
    engine = engine or warehouse.engine()
    files = inbox_files(inbox)
    digests = _digests(files, engine)
    if not files:
        return []
    with engine.connect() as conn:
        known = {
            (row.sha256, row.file_name)
            for row in conn.execute(
                sa.text("SELECT sha256, file_name, status_code, round_id FROM raw.uploads")
            )
            if not _waits_no_longer(row)
        }
    return [p for p in files if (digests[p], upload_name(p)) not in known]


def _inbox_key(path: Path) -> tuple:
    """A file's place and version as raw.inbox_files keeps them: its kommun folder and name as
    stored (a personnummer masked), inode, size, modification and change times (the change
    time cannot be set by the uploader, and an atomic upload is a new inode)."""
    stat = path.stat()
    return (
        f"{path.parent.name}/{upload_name(path)}",
        stat.st_ino,
        stat.st_size,
        stat.st_mtime_ns,
        stat.st_ctime_ns,
    )


def _digests(files: list[Path], engine: Engine) -> dict[Path, str]:
    """The sha256 of every file: remembered ones read, the others hashed and remembered; rows
    of files no longer in the inbox are removed."""
    keys = {path: _inbox_key(path) for path in files}
    columns = "location, inode, size_bytes, mtime_ns, ctime_ns"
    with engine.begin() as conn:
        remembered = {
            tuple(row[:5]): row.sha256
            for row in conn.execute(sa.text(f"SELECT {columns}, sha256 FROM raw.inbox_files"))
        }
        digests = {}
        for path, key in keys.items():
            if key not in remembered:
                remembered[key] = sha256_of(path)
                conn.execute(
                    sa.text(
                        f"INSERT INTO raw.inbox_files ({columns}, sha256) "
                        "VALUES (:l, :i, :s, :m, :c, :sha256) ON CONFLICT DO NOTHING"
                    ),
                    dict(zip("lismc", key, strict=True), sha256=remembered[key]),
                )
            digests[path] = remembered[key]
        gone = set(remembered) - set(keys.values())
        if gone:
            conn.execute(
                sa.text(
                    "DELETE FROM raw.inbox_files WHERE (location, inode, size_bytes, mtime_ns, "
                    "ctime_ns) = (:l, :i, :s, :m, :c)"
                ),
                [dict(zip("lismc", key, strict=True)) for key in gone],
            )
    return digests


def _round_has_closed(round_id: str) -> bool:
    return get_settings().today >= calendar_round(round_id).opens


def arrival_time(path: Path) -> dt.datetime:
    """When a file arrived in the inbox, on the round calendar's clock: its inode's change time
    (set by the upload itself; an SFTP client can set the modification time, not this), never
    later than now (SUKF_NOW in tests)."""
    changed = dt.datetime.fromtimestamp(path.stat().st_ctime, tz=dt.UTC)
    return min(changed, get_settings().now)


def _waits_no_longer(upload) -> bool:
    """A file registered because it came before its round closed, whose round has closed
    since: it is no longer a registration of its bytes, which now land as any file does."""
    return upload.status_code == ROUND_OPEN and _round_has_closed(upload.round_id)


def _read_identity(path: Path, name: str) -> tuple[UploadIdentity | None, UploadError | None]:
    """The upload's kommun and round, or the error and what could be read of them (so that a
    blocked file's message still reaches its kommun)."""
    try:
        return identify(path, name), None
    except UploadError as error:
        return error.identity, error


def _check_file_type(name: str, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix in UPLOAD_SUFFIXES:
        return
    shown = suffix or "utan filändelse"
    raise UploadError(
        name,
        f"filtypen ({shown}) tas inte emot. Skicka filen som .csv eller .xlsx "
        "(utan makron) enligt mallen.",
        code="file_type",
    )


def _check_kommun(name: str, identity: UploadIdentity) -> None:
    if reference.reporting_unit_kommun(identity.kommun_kod) is None:
        raise UploadError(
            name,
            f"kommunkoden {identity.kommun_kod} finns inte bland Sveriges "
            "kommuner eller stadsdelar. Kontrollera filnamnet.",
            code="identity",
        )


def delivery_folder(path: Path) -> str | None:
    """The kommun folder of the inbox a file was delivered into (production: the SFTP account,
    confined to `<inbox>/<code>/`, that uploaded it); None for the inbox itself or a file given
    by path. What the intake knows of the sender, whatever the file claims."""
    folder = path.resolve().parent
    return folder.name if folder.parent == get_settings().inbox.resolve() else None


def delivered_by(path: Path) -> str | None:
    """The account whose download folder gets the file's feedback: its delivery folder when
    that is named as an account is (a kommun or stadsdel code)."""
    folder = delivery_folder(path)
    return folder if folder and KOMMUN_KOD.match(folder) else None


def _check_delivery_folder(name: str, path: Path, identity: UploadIdentity) -> None:
    """A file delivered into a kommun's own folder of the inbox must be that kommun's: otherwise
    one kommun could deliver another's data."""
    folder = delivery_folder(path)
    if folder is None:
        return
    if folder.upper() != identity.kommun_kod.upper():
        raise UploadError(
            name,
            f"filen ligger i leveransmappen för {folder} men gäller "
            f"{identity.kommun_kod}. En kommun (stadsdel) kan bara lämna sina egna "
            "filer.",
            code="identity",
        )


def _check_round_closed(name: str, identity: UploadIdentity) -> None:
    """A round's figures are only complete once it has closed: an earlier file waits in the
    inbox, and lands once the round has closed (`new_files`, `land_upload`)."""
    if not _round_has_closed(identity.round_id):
        raise UploadError(
            name,
            f"omgången {identity.round_id} har inte stängt ännu: den stänger "
            f"{round_close(identity.round_id).isoformat()}. Filen ligger kvar och tas emot "
            f"från {calendar_round(identity.round_id).opens.isoformat()}; du behöver inte "
            "skicka den igen.",
            code=ROUND_OPEN,
        )


def _spool_rows(
    path: Path, name: str, identity: UploadIdentity, upload_id: int, spool, deadline: Deadline
):
    """Read the rows (already screened) and write them as COPY-ready CSV; returns (row count,
    parsed upload)."""
    upload = open_upload(path, name, deadline)
    columns = load_catalogue().column_names
    blanks = itertools.repeat("")  # a column missing from the file is stored empty
    writer = csv.writer(spool)
    count = 0
    try:
        for source_row, record in upload.rows():
            # A blank kommun lands (the gate rejects the row: its case key cannot be read);
            # another kommun's code blocks the file.
            kommun = record.get(KOMMUN_COLUMN, "")
            if kommun and kommun.upper() != identity.kommun_kod.upper():
                raise UploadError(
                    name,
                    f"kommun/stadsdel är {kommun} men filen gäller "
                    f"{identity.kommun_kod}. En fil får bara innehålla den egna "
                    "kommunens (stadsdelens) ärenden.",
                    row=source_row,
                    column=KOMMUN_COLUMN,
                    code="wrong_kommun",
                )
            writer.writerow([upload_id, source_row, *map(record.get, columns, blanks)])
            count += 1
    finally:
        upload.close()
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
        sidecar = sidecar_path(path)
        if sidecar.exists():
            sidecar_copy = target_dir / (target.name + SIDECAR_SUFFIX)
            shutil.copyfile(sidecar, sidecar_copy)
            sidecar_copy.chmod(0o444)
    return target


def _register_blocked(
    engine: Engine,
    upload_id: int,
    path: Path,
    name: str,
    digest: str,
    identity: UploadIdentity | None,
    error: UploadError,
    archivable: bool,
    received: dt.datetime,
) -> IntakeResult:
    kommun = identity.kommun_kod if identity else ""
    round_id = identity.round_id if identity else ""
    # Only a file screened whole and clean is kept; with personal data, or beyond the bounds,
    # the original stays with the kommun only.
    archive_path = (
        str(_archive(path, identity, digest))
        if archivable and error.code != "privacy" and identity and round_id
        else None
    )
    # The message can echo file content (a sidecar value); Postgres text cannot hold NUL.
    message = error.message.replace("\x00", "\\x00")
    with engine.begin() as conn:
        conn.execute(
            sa.text("""
                INSERT INTO raw.uploads (upload_id, file_name, sha256, kommun_kod, round_id,
                                         archive_path, status, status_reason, status_code,
                                         received_at, decided_at, delivered_by)
                VALUES (:upload_id, :file_name, :sha256, :kommun, :round_id, :archive_path,
                        'blocked', :reason, :code, :received, now(), :delivered_by)
                ON CONFLICT (sha256, file_name) WHERE status_code IS DISTINCT FROM 'round_open'
                DO NOTHING"""),
            dict(
                upload_id=upload_id,
                file_name=name,
                sha256=digest,
                kommun=kommun,
                round_id=round_id,
                archive_path=archive_path,
                reason=message,
                code=error.code,
                received=received,
                delivered_by=delivered_by(path),
            ),
        )
    log.warning("blocked at intake: %s", message)
    return IntakeResult(name, digest, "blocked", upload_id, kommun, round_id, 0, message)


def _log_unexpected(name: str, exc: Exception) -> None:
    """An exception's text can quote the file it was reading: only its class and where it was
    raised are logged."""
    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    log.error(
        "unreadable upload %s: %s at %s",
        name,
        type(exc).__name__,
        " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames)),
    )


def land_upload(path: Path, engine: Engine | None = None) -> IntakeResult:
    """Screen, register and land one upload file. Never raises for bad input: it is blocked
    instead."""
    engine = engine or warehouse.engine()
    name = upload_name(path)
    digest = sha256_of(path)
    with engine.connect() as conn:
        existing = next(
            (
                upload
                for upload in conn.execute(
                    sa.text(
                        "SELECT upload_id, kommun_kod, round_id, row_count, status_code "
                        "FROM raw.uploads WHERE sha256 = :sha256 AND file_name = :file_name "
                        "ORDER BY upload_id DESC"
                    ),
                    {"sha256": digest, "file_name": name},
                )
                if not _waits_no_longer(upload)
            ),
            None,
        )
    if existing:
        return IntakeResult(
            name,
            digest,
            "duplicate",
            existing.upload_id,
            existing.kommun_kod,
            existing.round_id,
            existing.row_count,
            f"filen {name} har redan tagits emot (uppladdning {existing.upload_id}).",
        )
    with engine.connect() as conn:
        # Reserved up front so the spooled rows carry it; a gap after a crash is harmless.
        upload_id = conn.execute(
            sa.text("SELECT nextval('raw.uploads_upload_id_seq')")
        ).scalar_one()
    deadline = Deadline(name)
    received = arrival_time(path)
    identity, identity_error = _read_identity(path, name)
    archivable = False
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spool:
        try:
            # A file of another type is refused unread (and so never archived); any other file
            # is screened whole before another check can block it (a blocked file is archived).
            _check_file_type(name, path)
            archivable = screen_upload(path, name, deadline)
            if identity_error:
                raise identity_error
            _check_kommun(name, identity)
            _check_delivery_folder(name, path, identity)
            _check_round_closed(name, identity)
            rows, upload = _spool_rows(path, name, identity, upload_id, spool, deadline)
        except UploadError as error:
            return _register_blocked(
                engine, upload_id, path, name, digest, identity, error, archivable, received
            )
        except Exception as exc:  # a corrupt file can break the parsers in many ways
            _log_unexpected(name, exc)
            error = UploadError(
                name,
                f"filen kunde inte läsas ({type(exc).__name__}). "
                "Kontrollera att den är en CSV- eller XLSX-fil enligt mallen.",
            )
            return _register_blocked(
                engine, upload_id, path, name, digest, identity, error, archivable, received
            )
        archive_path = _archive(path, identity, digest)
        spool.seek(0)
        try:
            _insert_landed(
                engine,
                upload_id,
                name,
                digest,
                identity,
                archive_path,
                upload,
                rows,
                spool,
                received,
                delivered_by(path),
            )
        except sa.exc.IntegrityError:
            # The same bytes landed concurrently by another worker: theirs stands.
            return IntakeResult(
                name,
                digest,
                "duplicate",
                None,
                identity.kommun_kod,
                identity.round_id,
                rows,
                f"filen {name} har redan tagits emot.",
            )
    log.info("landed %s as upload %s (%s rows)", name, upload_id, rows)
    return IntakeResult(
        name, digest, "landed", upload_id, identity.kommun_kod, identity.round_id, rows
    )


def _insert_landed(
    engine: Engine,
    upload_id: int,
    name: str,
    digest: str,
    identity: UploadIdentity,
    archive_path: Path,
    upload,
    rows: int,
    spool,
    received: dt.datetime,
    sender: str | None,
) -> None:
    """The registry row and every case row, in one transaction."""
    columns = ", ".join(f'"{c}"' for c in load_catalogue().column_names)
    with engine.begin() as conn:
        conn.execute(
            sa.text("""
                INSERT INTO raw.uploads (upload_id, file_name, sha256, kommun_kod, round_id,
                                         archive_path, file_format, encoding, delimiter,
                                         row_count, status, status_reason, received_at,
                                         delivered_by)
                VALUES (:upload_id, :file_name, :sha256, :kommun, :round_id, :archive_path,
                        :file_format, :encoding, :delimiter, :rows, 'landed', :reason,
                        :received, :delivered_by)"""),
            dict(
                received=received,
                upload_id=upload_id,
                file_name=name,
                sha256=digest,
                kommun=identity.kommun_kod,
                round_id=identity.round_id,
                archive_path=str(archive_path),
                file_format=upload.file_format,
                encoding=upload.encoding,
                delimiter=upload.delimiter,
                rows=rows,
                reason=_header_notes(upload.unknown_columns, upload.missing_optional_columns),
                delivered_by=sender,
            ),
        )
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.copy_expert(
            f"COPY raw.case_records (upload_id, source_row, {columns}) "
            "FROM STDIN WITH (FORMAT csv)",
            spool,
        )


def _header_notes(unknown: list[str], missing_optional: list[str]) -> str | None:
    """Intake's notes for the kommun; the unknown columns come last, so that the feedback report
    can list them (`unknown_columns_in`) after the gate has put its verdict in front."""
    notes = []
    if missing_optional:
        notes.append(
            f"{len(missing_optional)} frivilliga kolumner saknades och har lästs som tomma: "
            f"{', '.join(missing_optional[:10])}{' …' if len(missing_optional) > 10 else ''}."
        )
    if unknown:
        more = (
            f" och {len(unknown) - NOTE_MAX_COLUMNS} till"
            if len(unknown) > NOTE_MAX_COLUMNS
            else ""
        )
        notes.append(f"{UNKNOWN_COLUMNS_NOTE}{', '.join(unknown[:NOTE_MAX_COLUMNS])}{more}.")
    return " ".join(notes) or None


def unknown_columns_in(status_reason: str | None) -> str | None:
    """The columns intake did not save ('a, b'), as its note in an upload's status reason
    lists them, or None."""
    if not status_reason or UNKNOWN_COLUMNS_NOTE not in status_reason:
        return None
    return status_reason.rsplit(UNKNOWN_COLUMNS_NOTE, 1)[1].removesuffix(".")


def land_inbox(inbox: Path | None = None, engine: Engine | None = None) -> list[IntakeResult]:
    engine = engine or warehouse.engine()
    warehouse.ensure_schema(engine)
    return [land_upload(path, engine) for path in inbox_files(inbox)]
