"""Immutable, versioned publication directories: `<round_dir>/v001/`, `v002/`, …

A version is a set of files that are a pure function of the marts and the code, plus files that
describe the writing (a manifest, the time). Writing the same data files again reuses the latest
version instead of adding one, so re-publishing a round gives the same bytes. A version is
written into a temporary directory and renamed into place (read-only files, fsynced), so a
failure never leaves half a publication; a lock file serialises publishers of one round.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC
from functools import cache
from pathlib import Path
from typing import Any

from .config import get_settings

VERSION_DIR = re.compile(r"^v(\d{3,})$")
PUBLISHED_AT = "published_at.txt"


def json_bytes(obj: Any, compact: bool = False) -> bytes:
    """Deterministic JSON (sorted keys, UTF-8, final newline): one space indent, or `compact`
    (no whitespace at all, for large tables)."""
    layout = {"separators": (",", ":")} if compact else {"indent": 1}
    return (json.dumps(obj, ensure_ascii=False, sort_keys=True, **layout) + "\n").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@cache
def code_digest() -> str:
    """sha256 of what a publication's bytes depend on besides the marts: the package's source
    and the reference seeds (area names, geography). A git commit is not enough: an image
    built from the allowlist has no .git, and a working tree may differ from its commit."""
    from .reference import reference_dir

    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(
        [*package.rglob("*.py"), *package.rglob("*.yaml"), *reference_dir().glob("*.csv")]
    ):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def latest_manifest(round_dir: Path, name: str) -> tuple[Path, dict] | None:
    """The latest version of a round and its manifest (`name`), or None."""
    existing = versions(round_dir)
    if not existing:
        return None
    try:
        return existing[-1][1], json.loads((existing[-1][1] / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextmanager
def _round_lock(round_dir: Path):
    round_dir.mkdir(parents=True, exist_ok=True)
    with open(round_dir / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def versions(round_dir: Path) -> list[tuple[int, Path]]:
    """The version directories of a round, oldest first."""
    if not round_dir.exists():
        return []
    found = []
    for child in round_dir.iterdir():
        m = VERSION_DIR.match(child.name)
        if m and child.is_dir():
            found.append((int(m.group(1)), child))
    return sorted(found)


def same_content(directory: Path, files: dict[str, bytes]) -> bool:
    """Whether `directory` holds each of `files` with the same bytes."""
    try:
        return all((directory / name).read_bytes() == data for name, data in files.items())
    except OSError:
        return False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_tree(path: Path) -> None:
    for sub in path.rglob("*"):
        sub.chmod(0o700 if sub.is_dir() else 0o600)
    shutil.rmtree(path, ignore_errors=True)


def _write_new(round_dir: Path, number: int, files: dict[str, bytes]) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=round_dir))
    try:
        for name, data in files.items():
            path = tmp / name
            with open(path, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            path.chmod(0o444)
        tmp.chmod(0o755)
        _fsync_dir(tmp)
        while True:
            final = round_dir / f"v{number:03d}"
            try:
                # A version directory is never empty, so rename refuses to replace one.
                os.rename(tmp, final)
                break
            except OSError:
                if not final.exists():
                    raise
                number += 1
        _fsync_dir(round_dir)
        return final
    except BaseException:
        if tmp.exists():
            _remove_tree(tmp)
        raise


def write_version(
    round_dir: Path, files: dict[str, bytes], extra: Callable[[], dict[str, bytes]] = dict
) -> tuple[Path, bool]:
    """Publish `files` as the next version of `round_dir`, or reuse the latest version when its
    files are byte-identical; returns (directory, reused). `extra` makes the describing files
    (e.g. the manifest) of a new version; a `published_at.txt` with the UTC time is added."""
    with _round_lock(round_dir):
        for stale in round_dir.glob(".tmp-*"):
            _remove_tree(stale)  # left by a publisher that died; we hold the lock
        existing = versions(round_dir)
        if existing and same_content(existing[-1][1], files):
            return existing[-1][1], True
        # the pipeline's clock (SUKF_NOW in tests and reruns): when the version was published
        published_at = get_settings().now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + "\n"
        number = existing[-1][0] + 1 if existing else 1
        return _write_new(
            round_dir, number, {**files, **extra(), PUBLISHED_AT: published_at.encode("ascii")}
        ), False
