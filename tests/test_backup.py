"""The restore drill: a published installation is backed up (`sukvinnofrid backup`), restored
into a fresh one (a new embedded warehouse, archive and output, `sukvinnofrid restore`) and
re-published there, which gives the original publications byte for byte. The pseudonymisation
key travels in a file of its own, never in the warehouse's dump; a damaged backup is refused
before anything is restored."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import scalar
from report_round import ROUND, ROUNDS, report_round
from sukvinnofrid import backup, cli, warehouse
from sukvinnofrid.versioned import PUBLISHED_AT, versions

SUKVINNOFRID = str(Path(sys.executable).with_name("sukvinnofrid"))
KEY = os.environ["SUKF_PSEUDONYM_KEY"]


@dataclass(frozen=True)
class Backup:
    directory: Path
    archive: Path  # the backed-up installation's
    output: Path


@pytest.fixture(scope="module")
def backed_up(warehouse_engine, tmp_path_factory) -> Backup:
    built = report_round()
    directory = tmp_path_factory.mktemp("backup") / "sakerhetskopia"
    assert cli.main(["backup", str(directory)]) == 0
    return Backup(directory, Path(os.environ["SUKF_ARCHIVE"]), built.output)


def fresh_installation(root: Path) -> dict[str, str]:
    """The environment of a new installation under `root`: its own embedded warehouse, archive,
    output and key file, and no key in the environment."""
    environment = {
        **os.environ,
        "SUKF_PGDATA": str(root / "pgdata"),
        "SUKF_INBOX": str(root / "inbox"),
        "SUKF_ARCHIVE": str(root / "archive"),
        "SUKF_OUTPUT": str(root / "output"),
        "SUKF_PSEUDONYM_KEY_FILE": str(root / "pseudonym.key"),
    }
    del environment["SUKF_PSEUDONYM_KEY"]
    return environment


def sukvinnofrid(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SUKVINNOFRID, *args], env=environment, capture_output=True, text=True, timeout=600
    )


def files_of(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `root`: its bytes and permission bits."""
    return {
        str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mode & 0o777)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def latest_version(root: Path, kind: str, round_id: str = ROUND) -> dict[str, tuple[bytes, int]]:
    """The files of a round's latest publication of `kind`, but the time it was written."""
    files = files_of(versions(root / kind / round_id)[-1][1])
    del files[PUBLISHED_AT]
    return files


@pytest.fixture
def restored(backed_up, tmp_path):
    environment = fresh_installation(tmp_path)
    result = sukvinnofrid(environment, "restore", str(backed_up.directory))
    yield environment, result
    sukvinnofrid(environment, "warehouse", "stop")


def test_a_restored_installation_republishes_the_same_bytes(backed_up, restored, tmp_path):
    environment, result = restored
    assert result.returncode == 0, result.stderr
    assert "Återställt från" in result.stdout

    # The received files and the publications come back file for file, byte for byte.
    assert files_of(tmp_path / "archive") == files_of(backed_up.archive)
    assert files_of(tmp_path / "output") == files_of(backed_up.output)
    key_file = tmp_path / "pseudonym.key"
    assert key_file.read_text() == KEY
    assert key_file.stat().st_mode & 0o777 == 0o600

    # The restored key is the one the marts were built with: nothing to build again.
    build = sukvinnofrid(environment, "build")
    assert build.returncode == 0, build.stderr
    assert "Inget hade ändrats sedan förra bygget" in build.stdout

    # Re-publishing from the restored warehouse finds its publications unchanged: the same
    # version, and the site (which also reads the marts) writes nothing.
    for round_id in ROUNDS:
        published = sukvinnofrid(environment, "publish", "--round", round_id, "--json")
        assert published.returncode == 0, published.stderr
        assert json.loads(published.stdout)["reused"] is True
    site = sukvinnofrid(environment, "report", "--round", ROUND, "--json")
    assert site.returncode == 0, site.stderr
    assert json.loads(site.stdout)["written"] is False
    assert files_of(tmp_path / "output") == files_of(backed_up.output)

    # Into an empty output root, the restored warehouse publishes the original files again,
    # round by round (a round's first version keeps what the round before withheld of the
    # same years, as the round before was published).
    elsewhere = {**environment, "SUKF_OUTPUT": str(tmp_path / "republished")}
    for round_id in ROUNDS:
        published = sukvinnofrid(elsewhere, "publish", "--round", round_id, "--json")
        assert published.returncode == 0, published.stderr
        assert json.loads(published.stdout)["reused"] is False
        for kind in ("kolada", "statistik"):
            assert latest_version(tmp_path / "republished", kind, round_id) == latest_version(
                backed_up.output, kind, round_id
            ), (round_id, kind)


@pytest.mark.parametrize("damaged", backup.FILES)
def test_a_damaged_file_fails_the_check_against_the_manifest(backed_up, tmp_path, damaged):
    copy = tmp_path / "kopia"
    shutil.copytree(backed_up.directory, copy)
    assert backup.verify(copy)["files"].keys() == set(backup.FILES)
    data = bytearray((copy / damaged).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / damaged).write_bytes(bytes(data))
    with pytest.raises(backup.RestoreRefused, match=f"{damaged} stämmer inte med manifestet"):
        backup.verify(copy)


def test_a_damaged_backup_is_refused_before_anything_is_restored(backed_up, tmp_path):
    copy = tmp_path / "kopia"
    shutil.copytree(backed_up.directory, copy)
    (copy / backup.OUTPUT).write_bytes((copy / backup.OUTPUT).read_bytes()[:-100])
    new = tmp_path / "ny"
    new.mkdir()

    result = sukvinnofrid(fresh_installation(new), "restore", str(copy))

    assert result.returncode == cli.EXIT_FAILED
    assert "återställningen stoppades" in result.stderr
    assert f"{backup.OUTPUT} stämmer inte med manifestet" in result.stderr
    assert "Inget har återställts" in result.stderr
    assert list(new.iterdir()) == []  # no warehouse started, no file, no key


def test_restore_refuses_a_warehouse_that_is_not_empty(backed_up, tmp_path, monkeypatch):
    monkeypatch.setenv("SUKF_ARCHIVE", str(tmp_path / "archive"))
    monkeypatch.setenv("SUKF_OUTPUT", str(tmp_path / "output"))
    uploads = scalar(warehouse.engine(), "SELECT count(*) FROM raw.uploads")
    with pytest.raises(backup.RestoreRefused, match="lagret är inte tomt"):
        backup.restore(backed_up.directory)
    assert scalar(warehouse.engine(), "SELECT count(*) FROM raw.uploads") == uploads
    assert not (tmp_path / "archive").exists() and not (tmp_path / "output").exists()


def test_the_key_is_in_a_file_of_its_own_and_in_no_other(backed_up, warehouse_engine):
    directory = backed_up.directory
    assert directory.stat().st_mode & 0o777 == 0o700
    key_file = directory / backup.KEY
    assert key_file.read_text() == KEY
    assert key_file.stat().st_mode & 0o777 == 0o600
    manifest = json.loads((directory / backup.MANIFEST).read_text(encoding="utf-8"))
    for name in backup.FILES:
        assert (directory / name).stat().st_mode & 0o777 == 0o600
        assert (
            manifest["files"][name]["sha256"]
            == hashlib.sha256((directory / name).read_bytes()).hexdigest()
        )

    # The warehouse holds the key; its dump holds the warehouse (every upload), not the key.
    assert scalar(warehouse_engine, "SELECT key FROM secrets.pseudonym_key") == KEY
    dump = (directory / backup.DUMP).read_bytes()
    as_sql = subprocess.run(
        [str(warehouse.client_program("pg_restore")), "--file=-", str(directory / backup.DUMP)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with warehouse_engine.connect() as conn:
        uploads = conn.execute(sa.text("SELECT sha256 FROM raw.uploads")).scalars().all()
    assert uploads and all(sha256 in as_sql for sha256 in uploads)
    assert "CREATE TABLE secrets.pseudonym_key" in as_sql
    assert KEY not in as_sql
    assert KEY.encode() not in dump

    # Nor is it in the archive, the publications or the manifest.
    for name in (backup.ARCHIVE, backup.OUTPUT):
        with tarfile.open(directory / name) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    assert KEY.encode() not in tar.extractfile(member).read(), member.name
    assert KEY not in (directory / backup.MANIFEST).read_text(encoding="utf-8")
