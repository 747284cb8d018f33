"""Retention: what the pipeline removes, and when (the su_retention DAG runs it daily).

A round is published as of itself: re-publishing an earlier round gives the same bytes. So
nothing a round's figures are made from is removed: an upload in force (status `accepted`, or
`landed` and not decided yet), its raw rows, its gate runs and its archived original stay as
long as it is in force, and the registry row of every upload stays for good. What goes:

- The inbox, at the next run: every file intake has given its final verdict leaves it. A file
  intake archived is moved out (the archive holds the read-only original, checked byte for byte
  first); a file blocked for a personnummer, or one intake could not screen whole, is deleted and
  never archived (its original stays with the kommun). A file waiting for its round to close
  stays, as does every file intake has not registered.
- An upload no longer in force (superseded by a correction, or blocked), once it has been out of
  force for the policy's period: its raw rows, its quality results (with the Great Expectations
  results and Data Docs pages of its gate run, when no run still kept shares them, and its
  feedback reports: the team's copy and the kommun's in its SFTP download folder) and its
  archived original (unless an upload still kept has the same file; `archive_path` is then
  cleared).
- A stored disclosure decision (ops.disclosure_protections and its cells, statistics.py) that
  is not its round's latest, once it is older than the policy's period. The decisions are a
  function of their key (the marts' rows, the code, the rule), so one removed is decided again,
  the same, should those inputs ever be published; a published version carries its own
  decisions in its files, and the round's latest key (what a waiting approval publishes) stays.
- Airflow's run history older than its period, by Airflow's own `airflow db clean`.

Each removal is a row of ops.retention_log, in Swedish for the statistics team: what, where,
why, when, rows or bytes; never a file's content, and a file name only as raw.uploads stores it
(a personnummer masked).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .config import get_settings
from .intake import ROUND_OPEN, inbox_files, sha256_of
from .quality.feedback import download_path, report_path
from .readers import sidecar_path, upload_name

log = logging.getLogger(__name__)

# Airflow's run history (`airflow db clean --tables`): the runs, their tasks, results and logs.
# Not the DAGs, their versions or anything else Airflow needs to keep running.
AIRFLOW_HISTORY_TABLES = (
    "asset_event",
    "dag_run",
    "import_error",
    "job",
    "log",
    "task_instance",
    "task_instance_history",
    "task_reschedule",
    "xcom",
)
# The Data Docs pages and the validation results of a gate run (quality/gate.py), each under
# <output>/<root>/<suite>/run_<run id>/<timestamp>/.
GX_RESULT_ROOTS = (Path("data_docs") / "validations", Path("gx") / "validations")


@dataclass(frozen=True)
class RetentionPolicy:
    """Days an upload out of force keeps each of its parts, days of Airflow's history, and days
    a disclosure decision that is not its round's latest is kept."""

    archive_days: int
    replaced_rows_days: int
    quality_results_days: int
    airflow_metadata_days: int
    disclosure_decisions_days: int

    @classmethod
    def from_settings(cls) -> RetentionPolicy:
        settings = get_settings()
        return cls(
            archive_days=settings.retain_archive_days,
            replaced_rows_days=settings.retain_replaced_rows_days,
            quality_results_days=settings.retain_quality_results_days,
            airflow_metadata_days=settings.retain_airflow_metadata_days,
            disclosure_decisions_days=settings.retain_disclosure_decisions_days,
        )


@dataclass(frozen=True)
class Removal:
    """One row of ops.retention_log."""

    what: str
    location: str
    reason: str
    upload_id: int | None = None
    row_count: int | None = None
    byte_count: int | None = None


def _write_log(conn: Connection, removals: list[Removal]) -> None:
    if removals:
        conn.execute(
            sa.text(
                "INSERT INTO ops.retention_log (what, location, reason, upload_id, row_count,"
                " byte_count) VALUES (:what, :location, :reason, :upload_id, :row_count,"
                " :byte_count)"
            ),
            [vars(removal) for removal in removals],
        )


def summary(removals: list[Removal]) -> dict[str, dict[str, int]]:
    """What a task removed, as its result in Airflow: per kind, how many, rows and bytes."""
    kinds: dict[str, dict[str, int]] = {}
    for removal in removals:
        kind = kinds.setdefault(removal.what, {"antal": 0, "rader": 0, "byte": 0})
        kind["antal"] += 1
        kind["rader"] += removal.row_count or 0
        kind["byte"] += removal.byte_count or 0
    return kinds


# --- the inbox -----------------------------------------------------------------------------------


def clear_inbox(engine: Engine, inbox: Path | None = None) -> list[Removal]:
    """Remove from the inbox every file intake has given its final verdict (module docstring)."""
    inbox = inbox or get_settings().inbox
    with engine.connect() as conn:
        verdicts = {
            (row.sha256, row.file_name): row
            for row in conn.execute(
                sa.text(
                    "SELECT upload_id, sha256, file_name, status_code, archive_path"
                    " FROM raw.uploads WHERE status_code IS DISTINCT FROM :waiting"
                ),
                {"waiting": ROUND_OPEN},
            )
        }
    removals = []
    for path in inbox_files(inbox):
        name, digest = upload_name(path), sha256_of(path)
        upload = verdicts.get((digest, name))
        if upload is None:
            continue  # not landed yet, or waiting for its round to close
        if upload.status_code == "privacy":
            reason = (
                f"Raderad: uppladdning {upload.upload_id} stoppades för personnummer. Filen "
                "sparas aldrig; originalet finns bara hos kommunen."
            )
        elif not upload.archive_path:
            reason = (
                f"Raderad: uppladdning {upload.upload_id} har fått sitt besked och har inget "
                "arkiverat original; originalet finns bara hos kommunen."
            )
        elif _archived(Path(upload.archive_path), digest):
            reason = (
                f"Flyttad ur inkorgen: uppladdning {upload.upload_id} har fått sitt besked och "
                "originalet finns skrivskyddat i arkivet."
            )
        else:
            log.warning("inbox: %s stays, its archived copy is missing", name)
            continue
        size = path.stat().st_size
        # the sidecar travels with its upload (intake archived it beside the original)
        sidecar = sidecar_path(path)
        if sidecar.is_file():
            size += sidecar.stat().st_size
            sidecar.unlink()
        path.unlink()
        folder = path.parent.relative_to(inbox)
        removals.append(
            Removal("inkorgsfil", f"inkorg/{folder / name}", reason, upload.upload_id, None, size)
        )
        log.info("inbox: %s removed (upload %s)", folder / name, upload.upload_id)
    with engine.begin() as conn:
        _write_log(conn, removals)
    return removals


def _archived(archived: Path, digest: str) -> bool:
    return archived.is_file() and sha256_of(archived) == digest


# --- uploads no longer in force ------------------------------------------------------------------


@dataclass(frozen=True)
class OutOfForce:
    """An upload no statistics read any more, and since when."""

    upload_id: int
    status: str  # superseded | blocked
    since: dt.datetime
    superseded_by: int | None
    archive_path: str | None

    def reason(self, part: str) -> str:
        since = self.since.date().isoformat()
        if self.status == "superseded":
            return (
                f"{part} för uppladdning {self.upload_id}, ersatt av uppladdning "
                f"{self.superseded_by} {since}: räknas inte i någon omgång."
            )
        return (
            f"{part} för uppladdning {self.upload_id}, stoppad {since}: räknas inte i statistiken."
        )


def out_of_force(conn: Connection) -> list[OutOfForce]:
    """Uploads superseded by a correction (out of force since the correction was accepted) or
    blocked (since then)."""
    return [
        OutOfForce(*row)
        for row in conn.execute(
            sa.text("""
                SELECT upload.upload_id, upload.status,
                       coalesce(correction.decided_at, upload.decided_at, upload.received_at),
                       upload.superseded_by, upload.archive_path
                FROM raw.uploads AS upload
                LEFT JOIN raw.uploads AS correction
                    ON correction.upload_id = upload.superseded_by
                WHERE upload.status IN ('superseded', 'blocked')
                ORDER BY upload.upload_id""")
        )
    ]


def past(uploads: list[OutOfForce], days: int, now: dt.datetime) -> list[OutOfForce]:
    """The uploads out of force for more than `days` days at `now`."""
    cutoff = now - dt.timedelta(days=days)
    return [upload for upload in uploads if upload.since < cutoff]


def remove_expired(
    engine: Engine, policy: RetentionPolicy | None = None, now: dt.datetime | None = None
) -> list[Removal]:
    """Raw rows, quality results and archived originals of uploads out of force past their
    periods, and disclosure decisions past theirs (module docstring), each logged. One
    transaction: the files go last before it commits, so a failure leaves the rows that name
    them, and the next run removes them again."""
    policy = policy or RetentionPolicy.from_settings()
    now = now or dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        uploads = out_of_force(conn)
        removals = _remove_rows(conn, past(uploads, policy.replaced_rows_days, now))
        quality, result_dirs = _remove_quality_results(
            conn, past(uploads, policy.quality_results_days, now)
        )
        feedback = _feedback_reports(conn, past(uploads, policy.quality_results_days, now))
        archived = _unarchive(conn, past(uploads, policy.archive_days, now))
        removals += _remove_decisions(
            conn, now - dt.timedelta(days=policy.disclosure_decisions_days)
        )
        removals += (
            quality
            + _remove_gx_results(result_dirs)
            + _remove_feedback(feedback)
            + _remove_archived(archived)
        )
        _write_log(conn, removals)
    return removals


def _remove_rows(conn: Connection, uploads: list[OutOfForce]) -> list[Removal]:
    by_id = {upload.upload_id: upload for upload in uploads}
    removed = conn.execute(
        sa.text("""
            WITH removed AS (
                DELETE FROM raw.case_records WHERE upload_id = ANY(:ids) RETURNING upload_id
            )
            SELECT upload_id, count(*) FROM removed GROUP BY upload_id ORDER BY upload_id"""),
        {"ids": list(by_id)},
    ).all()
    return [
        Removal(
            "rader",
            "raw.case_records",
            by_id[upload_id].reason("Inlämnade rader"),
            upload_id,
            rows,
        )
        for upload_id, rows in removed
    ]


def _remove_decisions(conn: Connection, cutoff: dt.datetime) -> list[Removal]:
    """The stored disclosure decisions decided before `cutoff`, but never a round's latest."""
    removed = conn.execute(
        sa.text("""
            WITH expired AS (
                SELECT decision_key, round_id, decided_at FROM (
                    SELECT decision_key, round_id, decided_at, row_number() OVER (
                        PARTITION BY round_id ORDER BY decided_at DESC, decision_key DESC
                    ) AS newest
                    FROM ops.disclosure_protections
                ) AS keys
                WHERE newest > 1 AND decided_at < :cutoff
            ),
            cells AS (
                DELETE FROM ops.disclosure_decisions
                WHERE decision_key IN (SELECT decision_key FROM expired)
                RETURNING decision_key
            ),
            protections AS (
                DELETE FROM ops.disclosure_protections
                WHERE decision_key IN (SELECT decision_key FROM expired)
                RETURNING decision_key
            )
            SELECT e.decision_key, e.round_id, e.decided_at,
                (SELECT count(*) FROM cells c WHERE c.decision_key = e.decision_key)
            FROM expired e JOIN protections p USING (decision_key)
            ORDER BY e.round_id, e.decided_at, e.decision_key"""),
        {"cutoff": cutoff},
    ).all()
    return [
        Removal(
            "skyddsbeslut",
            "ops.disclosure_decisions",
            f"Röjandeskyddets beslut för omgång {round_id} (nyckel {key[:12]}), fattade"
            f" {decided:%Y-%m-%d}: ersatta av ett senare beslut för omgången och äldre än"
            " gallringsfristen; en publicerad version har sina beslut i sina filer",
            row_count=cells,
        )
        for key, round_id, decided, cells in removed
    ]


def _remove_quality_results(
    conn: Connection, uploads: list[OutOfForce]
) -> tuple[list[Removal], list[Path]]:
    """The uploads' gate runs with their findings; and the result directories of the gate runs
    no kept run shares (a gate run validates a batch of uploads together)."""
    by_id = {upload.upload_id: upload for upload in uploads}
    runs = conn.execute(
        sa.text(
            "SELECT run_id, upload_id, data_docs_path FROM quality.validation_runs"
            " WHERE upload_id = ANY(:ids)"
        ),
        {"ids": list(by_id)},
    ).all()
    if not runs:
        return [], []
    run_ids = [run.run_id for run in runs]
    rows = dict.fromkeys((run.upload_id for run in runs), 0)
    upload_of = {run.run_id: run.upload_id for run in runs}
    for table in ("quality.row_findings", "quality.expectation_results", "quality.validation_runs"):
        for (run_id,) in conn.execute(
            sa.text(f"DELETE FROM {table} WHERE run_id = ANY(:ids) RETURNING run_id"),
            {"ids": run_ids},
        ):
            rows[upload_of[run_id]] += 1
    pages = {run.data_docs_path for run in runs if run.data_docs_path}
    shared = set(
        conn.execute(
            sa.text(
                "SELECT DISTINCT data_docs_path FROM quality.validation_runs"
                " WHERE data_docs_path = ANY(:pages)"
            ),
            {"pages": list(pages)},
        ).scalars()
    )
    removals = [
        Removal(
            "kvalitetsresultat",
            "quality.validation_runs, quality.expectation_results, quality.row_findings",
            by_id[upload_id].reason("Kvalitetskontrollens resultat"),
            upload_id,
            count,
        )
        for upload_id, count in sorted(rows.items())
    ]
    return removals, [Path(page).parent for page in sorted(pages - shared)]


def _remove_gx_results(page_dirs: list[Path]) -> list[Removal]:
    """A gate run's Data Docs page and its validation result (the site's index lists the run
    until the next gate run rebuilds it)."""
    output = get_settings().output
    site = output / GX_RESULT_ROOTS[0]
    removals = []
    for page_dir in page_dirs:
        if not page_dir.is_relative_to(site):
            log.warning("a Data Docs page outside %s is left: %s", site, page_dir)
            continue
        run = page_dir.relative_to(site)  # <suite>/run_<id>/<timestamp>
        for root in GX_RESULT_ROOTS:
            directory = output / root / run
            if not directory.is_dir():
                continue
            size = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
            shutil.rmtree(directory)
            _remove_empty_parents(directory.parent, output / root)
            removals.append(
                Removal(
                    "gx-resultat",
                    str(root / run),
                    f"Great Expectations-resultat från kontrollkörningen {run.parts[1]}: "
                    "ingen uppladdning som sparas kontrollerades i den.",
                    byte_count=size,
                )
            )
    return removals


def _feedback_reports(
    conn: Connection, uploads: list[OutOfForce]
) -> list[tuple[list[Path], Path, Removal]]:
    """Each upload's feedback reports (Markdown and HTML): the team's copy and the kommun's in
    the download folder of the account that delivered it; with the root each lies under."""
    by_id = {upload.upload_id: upload for upload in uploads}
    settings = get_settings()
    reports = []
    for upload_id, kommun, round_id, account in conn.execute(
        sa.text(
            "SELECT upload_id, kommun_kod, round_id, delivered_by FROM raw.uploads"
            " WHERE upload_id = ANY(:ids) ORDER BY upload_id"
        ),
        {"ids": list(by_id)},
    ):
        copies = [(report_path(upload_id, kommun, round_id), settings.output / "aterkoppling")]
        if account:
            copies.append((download_path(upload_id, account, round_id), settings.feedback_download))
        for markdown, root in copies:
            reports.append(
                (
                    [markdown, markdown.with_suffix(".html")],
                    root,
                    Removal(
                        "aterkoppling",
                        str(_relative(markdown, root).with_suffix("")),
                        by_id[upload_id].reason("Återkopplingen"),
                        upload_id,
                    ),
                )
            )
    return reports


def _remove_feedback(reports: list[tuple[list[Path], Path, Removal]]) -> list[Removal]:
    removals = []
    for files, root, removal in reports:
        present = [file for file in files if file.is_file()]
        if not present:
            continue  # removed by an earlier run, or never written
        size = sum(file.stat().st_size for file in present)
        for file in present:
            file.unlink()
        _remove_empty_parents(files[0].parent, root)
        removals.append(replace(removal, byte_count=size))
    return removals


def _unarchive(conn: Connection, uploads: list[OutOfForce]) -> list[tuple[Path, Removal]]:
    """The archived originals of `uploads` that no upload still kept has, with their log rows;
    their uploads' archive_path is cleared."""
    paths = {upload.archive_path for upload in uploads if upload.archive_path}
    expiring = [upload.upload_id for upload in uploads]
    kept = set(
        conn.execute(
            sa.text(
                "SELECT DISTINCT archive_path FROM raw.uploads WHERE archive_path = ANY(:paths)"
                " AND NOT upload_id = ANY(:expiring)"
            ),
            {"paths": list(paths), "expiring": expiring},
        ).scalars()
    )
    removable = sorted(paths - kept)
    cleared = conn.execute(
        sa.text(
            "SELECT upload_id, archive_path FROM raw.uploads WHERE archive_path = ANY(:paths)"
            " FOR UPDATE"
        ),
        {"paths": removable},
    ).all()
    conn.execute(
        sa.text("UPDATE raw.uploads SET archive_path = NULL WHERE archive_path = ANY(:paths)"),
        {"paths": removable},
    )
    by_id = {upload.upload_id: upload for upload in uploads}
    # one file, logged once: under the first upload that had it
    first_upload = {path: upload_id for upload_id, path in sorted(cleared, reverse=True)}
    archive = get_settings().archive
    return [
        (
            Path(path),
            Removal(
                "arkivfil",
                f"arkiv/{_relative(Path(path), archive)}",
                by_id[upload_id].reason("Originalfilen"),
                upload_id,
            ),
        )
        for path, upload_id in sorted(first_upload.items())
    ]


def _relative(path: Path, root: Path) -> Path:
    return path.relative_to(root) if path.is_relative_to(root) else Path(path.name)


def _remove_archived(archived: list[tuple[Path, Removal]]) -> list[Removal]:
    archive = get_settings().archive
    removals = []
    for path, removal in archived:
        size = 0
        for file in (path, path.with_name(path.name + ".json")):  # the original and its sidecar
            if file.is_file():
                size += file.stat().st_size
                file.unlink()
        _remove_empty_parents(path.parent, archive)
        removals.append(replace(removal, byte_count=size))
    return removals


def _remove_empty_parents(directory: Path, root: Path) -> None:
    while directory != root and directory.is_relative_to(root) and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


# --- Airflow's metadata --------------------------------------------------------------------------

# What Airflow 3's task supervisor puts in a task process's metadata DB URL
# (airflow.sdk.execution_time.supervisor.block_orm_access).
_BLOCKED_METADATA_DB = "airflow-db-not-allowed:"
_CHECKED = re.compile(r"Checking table (\w+)\s+Found (\d+) rows meeting deletion criteria")


def clean_airflow_metadata(
    engine: Engine, policy: RetentionPolicy | None = None, now: dt.datetime | None = None
) -> list[Removal]:
    """`airflow db clean` of the run history older than the period, in the metadata DB this
    process's Airflow is configured with (Airflow keeps the latest scheduled run of each DAG);
    each table's removed rows logged."""
    policy = policy or RetentionPolicy.from_settings()
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=policy.airflow_metadata_days)
    env = dict(os.environ)
    metadata_db = get_settings().airflow_metadata_db
    if metadata_db:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = metadata_db
        env.pop("AIRFLOW__CORE__SQL_ALCHEMY_CONN", None)
    elif env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "").startswith(_BLOCKED_METADATA_DB):
        raise RuntimeError(
            "Airflows körhistorik kan inte gallras: uppgiften körs utan tillgång till Airflows "
            "metadatadatabas (Airflow stänger av den i varje uppgift). Ge arbetaren som kör "
            "su_retention databasens adress i SUKF_AIRFLOW_DB_CONN."
        )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow",
            "db",
            "clean",
            "--clean-before-timestamp",
            cutoff.isoformat(),
            "--tables",
            ",".join(AIRFLOW_HISTORY_TABLES),
            "--skip-archive",
            "--error-on-cleanup-failure",
            "--yes",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"airflow db clean failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    removals = [
        Removal(
            "airflow-metadata",
            f"Airflow: {table}",
            f"Airflows körhistorik från före {cutoff.date().isoformat()} "
            f"(äldre än {policy.airflow_metadata_days} dagar).",
            row_count=int(rows),
        )
        for table, rows in _CHECKED.findall(result.stdout)
        if int(rows)
    ]
    with engine.begin() as conn:
        _write_log(conn, removals)
    return removals
