"""Publish the key figures of a round as Kolada v3 files in a new, immutable, versioned directory.

    output/kolada/<round_id>/v001/
        data.json        Kolada v3 data envelope (all published cells, one page)
        data.csv         the same cells flat: kpi;municipality;period;gender;value;status
        kpi.json         Kolada v3 KPI envelope (catalogue metadata of the published KPIs)
        manifest.json    round, code version, settings, row counts, sha256 of the three files
        published_at.txt when this version was written (UTC); the only non-reproducible file

Everything except published_at.txt is a pure function of the mart, kpis.yaml and the code
version, so publishing an unchanged round again gives byte-identical files; `publish` then
returns the latest version instead of writing a new one. A version is written into a temporary
directory next to it and renamed into place, so a failure never leaves a half publication.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .. import __version__
from .. import reference
from ..config import get_settings
from ..readers import ROUND_ID
from ..reference import Kommun, read_kommuner
from .definitions import Definitions, KpiDefinition, load_definitions
from .disclosure import (
    GENDER_ORDER,
    PRIMARY,
    WITHHELD_REASONS,
    Cell,
    CellDecision,
    apply_disclosure,
)

log = logging.getLogger(__name__)

MART_TABLE = "marts.fct_kolada_key_figures"
DATA_FILES = ("data.json", "data.csv", "kpi.json")
MANIFEST = "manifest.json"
PUBLISHED_AT = "published_at.txt"
CSV_COLUMNS = ("kpi", "municipality", "period", "gender", "value", "status")
_VERSION_DIR = re.compile(r"^v(\d{3,})$")
_KOMMUN_KOD = re.compile(r"^\d{4}$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class PublicationError(RuntimeError):
    """The round cannot be published (no mart, no rows, bad reference data)."""


class ReferenceDataError(PublicationError):
    """A kommun in the mart is not in the reference kommun list (or its code is malformed)."""


@dataclass(frozen=True)
class MissingPopulation:
    kommun_kod: str
    kommun_namn: str | None
    year: int
    gender: str
    kpis: tuple[str, ...]

    def __str__(self) -> str:
        name = f" {self.kommun_namn}" if self.kommun_namn else ""
        return f"{self.kommun_kod}{name} {self.year} {self.gender} ({', '.join(self.kpis)})"


class MissingPopulationError(PublicationError):
    """Population 18+ (or the value) is missing for cells that would be published."""

    def __init__(self, missing: Iterable[MissingPopulation]):
        self.missing = tuple(missing)
        listed = "; ".join(str(m) for m in self.missing)
        super().__init__(
            f"population 18+ missing for {len(self.missing)} kommun/year/gender that would be "
            f"published (kommun, year, gender): {listed}"
        )


@dataclass(frozen=True)
class Publication:
    round_id: str
    version: str  # "v001"
    directory: Path
    reused: bool  # True: the content equalled the latest version, which is returned unchanged
    sha256: dict[str, str]  # file name -> sha256 of DATA_FILES
    decisions: tuple[CellDecision, ...]  # every cell read, with its disclosure decision
    notes: tuple[str, ...]  # relations secondary suppression could not protect

    @property
    def files(self) -> dict[str, Path]:
        return {name: self.directory / name for name in (*DATA_FILES, MANIFEST)}


# ----------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class MartRow:
    figure: str
    kommun_kod: str
    year: int
    gender: str
    case_count: int
    population_18plus: int | None
    value_per_10000: Any


def read_mart(engine: Engine) -> list[MartRow]:
    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": MART_TABLE}).scalar() is None:
            raise PublicationError(f"{MART_TABLE} does not exist: run the dbt build first")
        result = conn.execute(
            sa.text(
                f"SELECT figure, kommun_kod, year, gender, case_count, population_18plus,"
                f" value_per_10000 FROM {MART_TABLE}"
            )
        )
        return [MartRow(*row) for row in result]


def last_complete_year(round_id: str) -> int:
    """The last calendar year a round covers completely (the round closes at its month's end)."""
    year, month = (int(part) for part in round_id.split("-"))
    return year if month == 12 else year - 1


# ----------------------------------------------------------------------------------------------
# rendering


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=1) + "\n").encode("utf-8")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def csv_safe(text: str) -> str:
    """Neutralise spreadsheet formula injection: a text starting with = + - @ TAB CR gets a '."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _value_text(value: float | None) -> str:
    return "" if value is None else json.dumps(value)


def render_data(decisions: Iterable[CellDecision]) -> list[dict]:
    items: dict[tuple, list[CellDecision]] = defaultdict(list)
    for d in decisions:
        if d.in_output:
            items[(d.cell.kpi, d.cell.year, d.cell.kommun)].append(d)
    values = []
    for (kpi, year, kommun), cells in sorted(items.items()):
        cells.sort(key=lambda d: GENDER_ORDER.index(d.cell.gender))
        values.append(
            {
                "kpi": kpi,
                "municipality": kommun,
                "period": year,
                "values": [
                    {
                        "gender": d.cell.gender,
                        "count": 1,
                        "status": d.status,
                        "value": d.value,
                        "isdeleted": False,
                    }
                    for d in cells
                ],
            }
        )
    return values


def render_files(values: list[dict], kpis: Iterable[KpiDefinition]) -> dict[str, bytes]:
    data_json = _json_bytes(
        {"count": len(values), "next_url": None, "previous_url": None, "values": values}
    )
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_COLUMNS)
    for item in values:
        for v in item["values"]:
            writer.writerow(
                [
                    csv_safe(item["kpi"]),
                    csv_safe(item["municipality"]),
                    str(item["period"]),
                    csv_safe(v["gender"]),
                    _value_text(v["value"]),
                    csv_safe(v["status"]),
                ]
            )
    catalogue = [kpi.catalogue_entry() for kpi in kpis]
    kpi_json = _json_bytes(
        {"count": len(catalogue), "next_url": None, "previous_url": None, "values": catalogue}
    )
    return {"data.json": data_json, "data.csv": buf.getvalue().encode("utf-8"), "kpi.json": kpi_json}


def git_commit() -> str | None:
    """The commit of the checkout this code runs from, or None (not a git checkout, no git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if re.fullmatch(r"[0-9a-f]{40}", commit) else None


def render_manifest(
    round_id: str,
    files: dict[str, bytes],
    values: list[dict],
    decisions: tuple[CellDecision, ...],
    definitions: Definitions,
    notes: tuple[str, ...],
) -> bytes:
    out = [d for d in decisions if d.in_output]
    withheld = {reason: sum(1 for d in out if d.reason == reason) for reason in WITHHELD_REASONS}
    manifest = {
        "round": round_id,
        "code": {"package": "sukvinnofrid", "version": __version__, "git_commit": git_commit()},
        "settings": definitions.settings.as_dict(),
        "kpis": [kpi.id for kpi in definitions.kpis],
        "years": sorted({item["period"] for item in values}),
        "rows": {
            "data.json": len(values),
            "data.csv": len(out),
            "kpi.json": len(definitions.kpis),
            "cells_published": sum(1 for d in out if not d.withheld),
            "cells_withheld": sum(withheld.values()),
            "withheld_by_reason": withheld,
        },
        "files": {name: {"bytes": len(files[name]), "sha256": _sha256(files[name])} for name in DATA_FILES},
        "notes": list(notes),
    }
    return _json_bytes(manifest)


# ----------------------------------------------------------------------------------------------
# writing


@contextmanager
def _round_lock(round_dir: Path):
    round_dir.mkdir(parents=True, exist_ok=True)
    with open(round_dir / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _versions(round_dir: Path) -> list[tuple[int, Path]]:
    found = []
    for child in round_dir.iterdir():
        m = _VERSION_DIR.match(child.name)
        if m and child.is_dir():
            found.append((int(m.group(1)), child))
    return sorted(found)


def _same_content(directory: Path, files: dict[str, bytes]) -> bool:
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


def _write_version(round_dir: Path, number: int, files: dict[str, bytes]) -> Path:
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


# ----------------------------------------------------------------------------------------------
# the step


def build_cells(
    rows: list[MartRow],
    definitions: Definitions,
    round_id: str,
    kommuner: dict[str, Kommun] | None,
) -> dict[str, list[Cell]]:
    """Check the mart rows against definitions and reference data; cells per KPI id."""
    by_figure = definitions.by_figure()
    max_year = last_complete_year(round_id) if definitions.settings.complete_years_only else None
    cells: dict[str, list[Cell]] = defaultdict(list)
    unknown: set[str] = set()
    missing: dict[tuple[str, int, str], list[str]] = defaultdict(list)
    skipped_figures: set[str] = set()
    for row in rows:
        kpi = by_figure.get(row.figure)
        if kpi is None:
            skipped_figures.add(row.figure)
            continue
        if max_year is not None and row.year > max_year:
            continue
        kod = (row.kommun_kod or "").strip()
        if not _KOMMUN_KOD.match(kod) or (kommuner is not None and kod not in kommuner):
            unknown.add(kod)
            continue
        if row.gender in kpi.published_genders and (
            row.population_18plus is None or row.population_18plus <= 0 or row.value_per_10000 is None
        ):
            missing[(kod, row.year, row.gender)].append(kpi.id)
        cells[kpi.id].append(
            Cell(
                kpi=kpi.id,
                kommun=kod,
                year=int(row.year),
                gender=row.gender,
                case_count=int(row.case_count),
                value=row.value_per_10000,
                lan=kommuner[kod].lan_kod if kommuner is not None else "",
            )
        )
    if skipped_figures:
        log.warning("mart figures without a KPI definition, not published: %s", sorted(skipped_figures))
    if unknown:
        raise ReferenceDataError(
            f"kommun codes in {MART_TABLE} not in the reference kommun list: {sorted(unknown)}"
        )
    if missing:
        raise MissingPopulationError(
            MissingPopulation(
                kommun_kod=kod,
                kommun_namn=kommuner[kod].namn if kommuner else None,
                year=year,
                gender=gender,
                kpis=tuple(sorted(set(kpi_ids))),
            )
            for (kod, year, gender), kpi_ids in sorted(
                missing.items(), key=lambda kv: (kv[0][0], kv[0][1], GENDER_ORDER.index(kv[0][2]))
            )
        )
    return cells


def publish(
    round_id: str,
    engine: Engine | None = None,
    output_dir: Path | None = None,
    *,
    kommuner_csv: Path | None = None,
    definitions: Definitions | None = None,
) -> Publication:
    """Publish the mart's key figures for `round_id` (ÅÅÅÅ-MM) as a new Kolada version.

    `output_dir` is the Kolada output root (default `<settings.output>/kolada`); the version goes
    to `<output_dir>/<round_id>/vNNN/`. Raises MissingPopulationError (the reference-data gate)
    before anything is written.
    """
    if not ROUND_ID.match(round_id or ""):
        raise ValueError(f"round id {round_id!r} is not of the form ÅÅÅÅ-MM")
    if engine is None:
        from ..warehouse import engine as warehouse_engine

        engine = warehouse_engine()
    definitions = definitions or load_definitions()
    settings = definitions.settings
    kommuner = read_kommuner(kommuner_csv) if kommuner_csv else reference.kommuner()

    rows = read_mart(engine)
    cells = build_cells(rows, definitions, round_id, kommuner)
    if not cells:
        raise PublicationError(f"{MART_TABLE} has no rows to publish for round {round_id}")

    decisions: list[CellDecision] = []
    notes: list[str] = []
    for kpi in definitions.kpis:
        result = apply_disclosure(
            cells.get(kpi.id, []),
            published_genders=kpi.published_genders,
            min_count=settings.min_count,
            withheld_status=settings.withheld_status,
            decimals=settings.decimals,
            aggregate_levels=settings.aggregate_levels,
        )
        decisions.extend(result.decisions)
        notes.extend(result.notes)
    decisions_t = tuple(decisions)
    notes_t = tuple(notes)
    values = render_data(decisions_t)
    files = render_files(values, definitions.kpis)

    root = Path(output_dir) if output_dir is not None else get_settings().output / "kolada"
    round_dir = root / round_id
    with _round_lock(round_dir):
        for stale in round_dir.glob(".tmp-*"):
            _remove_tree(stale)  # left by a publisher that died; we hold the lock
        versions = _versions(round_dir)
        if versions and _same_content(versions[-1][1], files):
            directory = versions[-1][1]
            log.info("round %s unchanged: reusing %s", round_id, directory)
            reused = True
        else:
            manifest = render_manifest(round_id, files, values, decisions_t, definitions, notes_t)
            published_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + "\n"
            number = versions[-1][0] + 1 if versions else 1
            directory = _write_version(
                round_dir,
                number,
                {**files, MANIFEST: manifest, PUBLISHED_AT: published_at.encode("ascii")},
            )
            log.info("round %s published to %s", round_id, directory)
            reused = False
    for note in notes_t:
        log.warning("disclosure: %s", note)
    n_primary = sum(1 for d in decisions_t if d.reason == PRIMARY)
    log.info("%d cells withheld by primary suppression", n_primary)
    return Publication(
        round_id=round_id,
        version=directory.name,
        directory=directory,
        reused=reused,
        sha256={name: _sha256(data) for name, data in files.items()},
        decisions=decisions_t,
        notes=notes_t,
    )
