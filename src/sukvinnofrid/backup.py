"""Back up an installation and restore it into a fresh one.

A backup is a directory (mode 0700, files 0600: it holds the cases as received):

    warehouse.dump   pg_dump of the warehouse (custom format), without the rows of
                     secrets.pseudonym_key: a dump must not carry the key
    archive.tar.gz   the archive of received files (SUKF_ARCHIVE)
    output.tar.gz    the publications (SUKF_OUTPUT: Kolada files, statistics, feedback reports,
                     the round sites, Data Docs)
    pseudonym.key    the pseudonymisation key on its own, to be kept apart from the rest
    manifest.json    sha256 and size of each file, when and from where it was made

`restore` checks every file against the manifest before it touches anything, and restores only
into a fresh installation: an empty warehouse and no archive or publications.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from . import transform, warehouse
from .config import get_settings
from .versioned import json_bytes

DUMP = "warehouse.dump"
ARCHIVE = "archive.tar.gz"
OUTPUT = "output.tar.gz"
KEY = "pseudonym.key"
MANIFEST = "manifest.json"
FILES = (DUMP, ARCHIVE, OUTPUT, KEY)
KEY_TABLE = "secrets.pseudonym_key"
# The warehouse's own schemas: a warehouse holding any of them is not fresh.
WAREHOUSE_SCHEMAS = ("raw", "quality", "ops", "secrets", "staging", "intermediate", "marts")


class BackupError(RuntimeError):
    """A backup or a restore failed; the message is Swedish."""


class RestoreRefused(BackupError):
    """A restore was refused before anything was restored; the message is Swedish."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _client(program: str, *args: str) -> str:
    """Run pg_dump or pg_restore against the warehouse as its owner; its stdout."""
    try:
        executable = warehouse.client_program(program)
    except FileNotFoundError as missing:
        raise BackupError(str(missing)) from missing
    done = subprocess.run(
        [str(executable), *args],
        env={**os.environ, **warehouse.libpq_environment()},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BackupError(f"{program} misslyckades: {done.stderr.strip()}")
    return done.stdout


def _pack(source: Path, target: Path) -> None:
    with tarfile.open(target, "w:gz", compresslevel=6) as tar:
        if source.exists():
            tar.add(source, arcname=".")


def _unpack_filter(member: tarfile.TarInfo, destination: str) -> tarfile.TarInfo:
    """tarfile's `data` filter (nothing outside the destination, no device or link out), but a
    read-only file stays read-only, as the archive and the publications write them."""
    checked = tarfile.data_filter(member, destination)
    if checked.isfile():
        return checked.replace(mode=member.mode & 0o755, deep=False)
    return checked


def _is_empty(directory: Path) -> bool:
    return not directory.exists() or not any(directory.iterdir())


def back_up(directory: Path) -> dict:
    """Write a backup into `directory` (new or empty); returns what was written."""
    settings = get_settings()
    directory = Path(directory)
    if not _is_empty(directory):
        raise BackupError(f"katalogen {directory} finns redan och är inte tom: välj en ny katalog")
    started = time.monotonic()
    warehouse.ensure_available()
    directory.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed into place: a failed backup leaves no directory.
    work = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        _client(
            "pg_dump",
            "--format=custom",
            f"--exclude-table-data={KEY_TABLE}",
            f"--file={work / DUMP}",
        )
        _pack(settings.archive, work / ARCHIVE)
        _pack(settings.output, work / OUTPUT)
        transform.write_key_file(work / KEY, transform.pseudonym_key())
        files = {
            name: {"sha256": _sha256(work / name), "bytes": (work / name).stat().st_size}
            for name in FILES
        }
        url = warehouse.warehouse_url()
        manifest = {
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "source": {
                "host": socket.gethostname(),
                "warehouse": url.render_as_string(hide_password=True),
                "pg_dump": _client("pg_dump", "--version").strip(),
                "archive": str(settings.archive),
                "output": str(settings.output),
            },
            "files": files,
        }
        (work / MANIFEST).write_bytes(json_bytes(manifest))
        for name in (*FILES, MANIFEST):
            (work / name).chmod(0o600)
        if directory.exists():
            directory.rmdir()
        os.rename(work, directory)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return {
        "directory": str(directory),
        "created_at": manifest["created_at"],
        "files": files,
        "seconds": round(time.monotonic() - started, 1),
    }


def verify(directory: Path, key_file: Path | None = None) -> dict:
    """The backup's manifest once every file matches it; RestoreRefused naming each that does
    not. `key_file`: the key kept apart from the backup (default: the backup's own)."""
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        listed = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as problem:
        raise RestoreRefused(
            f"{directory / MANIFEST} går inte att läsa ({problem}): inget har återställts"
        ) from problem
    problems = [f"{name} saknas i manifestet" for name in FILES if name not in listed]
    for name in FILES:
        path = key_file if name == KEY and key_file else directory / name
        if name not in listed:
            continue
        if not path.is_file():
            problems.append(f"{path} saknas")
        elif _sha256(path) != listed[name]["sha256"]:
            problems.append(f"{path} stämmer inte med manifestet (sha256)")
    if problems:
        raise RestoreRefused(
            f"säkerhetskopian i {directory} är skadad: {'; '.join(problems)}. "
            "Inget har återställts."
        )
    return manifest


def _check_key(key: str) -> None:
    """Refuse a key other than the one this installation already uses."""
    if os.environ.get(transform.PSEUDONYM_KEY_ENV):
        if os.environ[transform.PSEUDONYM_KEY_ENV] != key:
            raise RestoreRefused(
                f"{transform.PSEUDONYM_KEY_ENV} är inte säkerhetskopians nyckel: "
                "pseudonymerna skulle inte längre stämma. Inget har återställts."
            )
        return
    path = transform.pseudonym_key_path()
    if path.exists() and path.read_text().strip() != key:
        raise RestoreRefused(
            f"nyckelfilen {path} finns redan med en annan nyckel än säkerhetskopians. "
            "Inget har återställts."
        )


def _check_fresh_directories() -> None:
    settings = get_settings()
    for directory in (settings.archive, settings.output):
        if not _is_empty(directory):
            raise RestoreRefused(
                f"{directory} är inte tom: återställ till en ny installation. "
                "Inget har återställts."
            )


def _check_fresh_warehouse(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT string_agg(nspname, ', ') FROM pg_namespace WHERE nspname = ANY(:s)"),
            {"s": list(WAREHOUSE_SCHEMAS)},
        ).scalar()
    if found:
        raise RestoreRefused(
            f"lagret är inte tomt (scheman {found}): återställ till ett nytt lager "
            "(en tom datakatalog eller en ny databas). Inget har återställts."
        )


def restore(directory: Path, key_file: Path | None = None) -> dict:
    """Restore a backup into this installation, which must be fresh: the warehouse (with the
    stage roles and their grants, as `warehouse roles`), the archive, the publications and the
    key (its file, unless SUKF_PSEUDONYM_KEY holds it, and the warehouse's key table)."""
    from . import roles

    started = time.monotonic()
    directory = Path(directory)
    manifest = verify(directory, key_file)
    key = (key_file or directory / KEY).read_text().strip()
    _check_key(key)
    _check_fresh_directories()
    warehouse.ensure_available()
    engine = warehouse.engine()
    _check_fresh_warehouse(engine)
    # Owners and grants name roles that a new server lacks: ensure_roles makes them again.
    _client(
        "pg_restore",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={warehouse.connection_parts()['dbname']}",
        str(directory / DUMP),
    )
    roles.ensure_roles(engine, passwords=roles.passwords_from_env())
    settings = get_settings()
    for packed, target in ((ARCHIVE, settings.archive), (OUTPUT, settings.output)):
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(directory / packed) as tar:
            tar.extractall(target, filter=_unpack_filter)
    key_path = transform.pseudonym_key_path()
    if not os.environ.get(transform.PSEUDONYM_KEY_ENV) and not key_path.exists():
        transform.write_key_file(key_path, key)
    transform.store_pseudonym_key(engine)
    return {
        "directory": str(directory),
        "created_at": manifest["created_at"],
        "source": manifest["source"],
        "warehouse": warehouse.warehouse_url().render_as_string(hide_password=True),
        "archive": str(settings.archive),
        "output": str(settings.output),
        "seconds": round(time.monotonic() - started, 1),
    }
