"""The quality gate: validate every landed upload in the database, in one batch, and decide each.

A gate run takes a *batch* of landed uploads (`run_pending()`: all of them; `run_quality_gate()`:
one) and validates them together, because Great Expectations costs a fixed ~4 s per validation
run (building the metric graph of the suite, Data Docs) whatever the row count:

1. The batch relation (the rows of every upload of the batch in raw.case_records joined with
   raw.uploads, normalised, plus one boolean flag column per rule computed from the rule SQL, as
   `rules.batch_query` builds it for one upload) is materialised once, in Postgres, as the
   unlogged work table `quality.gate_batch_<run_id>` (`<run_id>`: the batch's first run id).
   A rule whose SQL names the upload (`:upload_id`, e.g. the unique case key) is evaluated per
   upload of the batch, so every flag means exactly what it means for the upload alone.
2. Great Expectations validates the work table once: the gate loads the project committed in
   `expectations/` (a file data context: the generated suite, its validation definition and
   checkpoints, `quality.suites`), points its table asset at the work table and runs the
   checkpoint. The result is kept with every earlier run's and the one Data Docs site,
   `output/data_docs/index.html`, gets the run's page (`validations/<suite>/run_<run_id>/...`).
3. The failing rows of every rule and upload come from the flag columns (the same rule SQL),
   grouped by upload_id; GX's own counts (over the whole batch) are compared with the sum over
   the batch as a cross-check.
4. Then each upload is decided on its own, in upload_id order, in its own transaction, exactly
   as if it had been gated alone: one `validation_runs` row (its own row counts; the GX success
   flag, the per-rule GX verdicts and counts and the Data Docs page are the batch's), one
   `expectation_results` row per rule, `row_findings` for rejected and warned rows, and
   `raw.uploads.status`. An accepted upload supersedes the earlier accepted upload of the same
   kommun and round (so of two uploads for one kommun and round in the same batch, the later
   one counts). Nothing of the earlier upload changes when the new one is blocked. One upload's
   failure does not lose the others' decisions. The work tables are dropped afterwards.

Gate runs take turns (`one_gate_run_at_a_time`, a Postgres advisory lock): su_feedback gates each
landing at once and su_round gates what is left before it builds, and the two may start together.

Why materialise: GX issues one or more queries per expectation; over the raw query each would
normalise 100 000 rows and recompute the cross-field SQL again (measured: 30-40 s per
100 000 rows). Over the work table each query is a plain scan. No data is copied into Python.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from .. import warehouse
from ..catalogue import load_catalogue
from ..config import get_settings
from ..formats import swedish_int, swedish_percent
from .rules import Rule, build_rules, lit, upload_rows_sql, with_flag_columns
from .suites import (
    CHECKPOINT,
    CHECKPOINT_BOOLEAN_ONLY,
    DATA_DOCS_SITE,
    GX_PROJECT_DIR,
    SUITE_NAME,
)

log = logging.getLogger(__name__)

SAMPLE_ROWS = 1000  # failing rows kept per rule in expectation_results.sample_rows
EXAMPLE_VALUES = 5  # wrong values kept per rule (code, date and number columns only)
# Above this many rows (of the whole batch) the gate runs the checkpoint that reports only
# success per expectation (BOOLEAN_ONLY): SUMMARY costs two extra queries per expectation
# (measured at 100 000 rows: 8 s in all vs 24 s). The counts and rows always come from the SQL
# flags, so nothing is lost but Data Docs detail. Neither checkpoint lets upload values into
# GX's results or the Data Docs (quality.suites.GX_RESULT_FORMAT).
GX_DETAIL_MAX_ROWS = 20_000


@dataclass
class GateResult:
    upload_id: int
    run_id: int
    outcome: str  # accepted | blocked
    reason: str  # Swedish, as stored in raw.uploads.status_reason
    status: str  # the upload's status after the gate (accepted | blocked | superseded)
    rows_received: int
    rows_rejected: int  # not cases in scope: out of the statistics
    rows_with_errors: int  # counted, with the wrong values as missing registrations
    rows_warned: int
    gx_success: bool | None  # GX's verdict on the whole batch (None: the upload had no rows)
    data_docs_path: Path | None  # the batch's page in the Data Docs site (None: no rows)
    failed_rules: dict[str, int] = field(default_factory=dict)  # rule_id -> unexpected rows
    seconds: float = 0.0  # from the start of the gate run to this upload's decision


class GateError(RuntimeError):
    """Some uploads of a gate run could not be decided; `results` holds the others."""

    def __init__(self, failed: list[int], results: list[GateResult]) -> None:
        super().__init__(f"quality gate failed for uploads {failed}; the others were decided")
        self.failed = failed
        self.results = results


# --- Great Expectations -----------------------------------------------------------------------


def gx_project_dir() -> Path:
    """The committed GX project (file data context) the gate runs."""
    return get_settings().home / GX_PROJECT_DIR


def gx_context(url: URL | None = None):
    """The committed GX project as a file data context, with the run-time settings it names:
    the warehouse connection (`url`, as the quality stage; search_path `quality`, where the
    work tables are: GX's schema_name is deprecated) and the output directory."""
    # GX is imported here, not at module level: importing it costs seconds, and a gate run
    # with nothing to validate should not pay for it.
    import great_expectations as gx

    url = url or warehouse.stage_engine("quality").url
    options = " ".join(filter(None, [url.query.get("options"), "-csearch_path=quality"]))
    connection = url.update_query_dict({"options": options}).render_as_string(hide_password=False)
    return gx.get_context(
        mode="file",
        context_root_dir=gx_project_dir(),
        runtime_environment={
            "SUKF_GX_CONNECTION_STRING": connection,
            "SUKF_OUTPUT": str(get_settings().output),
        },
    )


def _run_gx(
    url: URL, name: str, table: str, rules: tuple[Rule, ...], checkpoint_name: str = CHECKPOINT
) -> tuple[bool | None, dict, Path]:
    """Validate the work table `table` (quality.gate_batch_<run id>) with the committed
    checkpoint; returns (success, {rule_id: (success, count)}, the run's Data Docs page). The
    run is named `name` (run_<run id>) in the validation results and the Data Docs."""
    from great_expectations.core.run_identifier import RunIdentifier

    context = gx_context(url)
    checkpoint = context.checkpoints.get(checkpoint_name)
    (validation,) = checkpoint.validation_definitions
    # The asset is the gate's work table; each run has its own (concurrent runs never share
    # one), so the loaded asset is pointed at this run's table, in memory only: a name as GX's
    # own validator makes it (an unquoted identifier), since assignment skips the validator.
    validation.asset.table_name = sa.quoted_name(table.removeprefix("quality."), quote=False)
    try:
        result = checkpoint.run(run_id=RunIdentifier(run_name=name))
    finally:
        # Close GX's connections now, not when the engine is collected.
        validation.data_source.get_execution_engine().engine.dispose()
    ((result_id, run_result),) = result.run_results.items()
    per_rule: dict[str, tuple[bool, int | None]] = {}
    in_run = {rule.rule_id for rule in rules}  # the rules deciding this batch (see _gate_batch)
    for item in run_result.results:
        rule_id = item.expectation_config.meta.get("rule_id")
        info = item.result or {}
        count = info.get("unexpected_count", info.get("observed_value"))
        if item.exception_info and item.exception_info.get("raised_exception"):
            if rule_id in in_run:
                log.warning(
                    "GX could not evaluate %s: %s",
                    rule_id,
                    item.exception_info.get("exception_message"),
                )
            count = None
        per_rule[rule_id] = (bool(item.success), count if isinstance(count, int) else None)
    (site,) = context.get_docs_sites_urls(
        resource_identifier=result_id, site_names=[DATA_DOCS_SITE]
    )
    return bool(run_result.success), per_rule, Path(url2pathname(urlparse(site["site_url"]).path))


# --- the batch relation of several uploads ------------------------------------------------------


def _flag_sql(rule: Rule, upload_ids: list[int]) -> str:
    """The rule SQL over the batch relation of `upload_ids` (alias `b`).

    A rule that names its upload (`:upload_id`) is rendered for each upload and picked by the
    row's upload_id, so its uncorrelated subquery still runs once per upload (not per row).
    """
    if ":upload_id" not in (rule.sql or "") or len(upload_ids) == 1:
        return rule.render_sql(upload_ids[0])
    branches = " ".join(f"WHEN {int(u)} THEN ({rule.render_sql(u)})" for u in upload_ids)
    return f"CASE b.upload_id {branches} END"


def _batch_sql(upload_ids: list[int], columns: list[str], rules: tuple[Rule, ...]) -> str:
    """`rules.batch_query` for several uploads: their rows, normalised, with the flag columns."""
    flags = [(rule, _flag_sql(rule, upload_ids)) for rule in rules if rule.sql is not None]
    return with_flag_columns(upload_rows_sql(upload_ids, columns), flags)


@dataclass
class _Batch:
    """What the batch-level steps found, per upload (everything the decisions need)."""

    name: str
    table: str
    findings: str
    run_rules: tuple[Rule, ...]
    row_rules: tuple[Rule, ...]
    missing_columns: list[str]
    rows: dict[int, int]
    # upload_id -> rule_id -> (unexpected count, first failing source_rows, example values)
    evaluated: dict[int, dict[str, tuple]] = field(default_factory=dict)
    # upload_id -> (rejected, with errors, warned): rows with at least one finding of each
    marked: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    gx: tuple[bool | None, dict, Path | None] = (None, {}, None)


def _drop_work_tables(eng: Engine, batch: _Batch) -> None:
    with eng.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {batch.table}, {batch.findings}")


def _prepare(eng: Engine, batch: _Batch) -> None:
    """Materialise the work table and the findings, collect per-upload results, run GX."""
    ids = sorted(u for u, n in batch.rows.items() if n > 0)
    if not ids:
        return
    rules = batch.row_rules
    # Import GX (seconds of Python) on another thread while Postgres builds the work table.
    gx_import = threading.Thread(
        target=importlib.import_module,
        args=("great_expectations",),
        name="import-great-expectations",
        daemon=True,
    )
    gx_import.start()
    with eng.begin() as conn:
        # Fresh statistics: right after intake landed a round, autovacuum has not analysed the
        # new rows yet, and the per-upload subqueries (unique case key) get nested-loop plans
        # (measured: 22 s instead of 1 s for 100 000 rows). ANALYZE samples a bounded number
        # of rows, so it costs under a second whatever the table size.
        conn.exec_driver_sql("ANALYZE raw.case_records")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {batch.table}, {batch.findings}")
        conn.exec_driver_sql(
            f"CREATE UNLOGGED TABLE {batch.table} AS "
            f"{_batch_sql(ids, _present_columns(batch), rules)}"
        )
        if rules:
            _collect_findings(conn, batch, ids)
    gx_import.join()
    total = sum(batch.rows.values())
    checkpoint = CHECKPOINT if total <= GX_DETAIL_MAX_ROWS else CHECKPOINT_BOOLEAN_ONLY
    batch.gx = _run_gx(eng.url, batch.name, batch.table, batch.run_rules, checkpoint)
    _cross_check(batch)


def _present_columns(batch: _Batch) -> list[str]:
    return [c for c in load_catalogue().column_names if c not in batch.missing_columns]


def _collect_findings(conn, batch: _Batch, ids: list[int]) -> None:
    """The failing (upload, row, rule) triples of the flag columns, and per-upload summaries."""
    rules = batch.row_rules
    cases = ", ".join(
        f'CASE WHEN b."{rule.flag_column}" THEN {n} END' for n, rule in enumerate(rules)
    )
    rule_values = ", ".join(
        f"({n}, {lit(rule.rule_id)}, {lit(rule.severity)})" for n, rule in enumerate(rules)
    )
    # OFFSET 0 keeps the array from being computed twice (WHERE and unnest).
    conn.exec_driver_sql(
        f"CREATE UNLOGGED TABLE {batch.findings} AS "
        "SELECT f.upload_id, f.source_row, f.rule_no, r.rule_id, r.severity FROM ("
        "SELECT upload_id, source_row, unnest(failed) AS rule_no FROM ("
        f"SELECT b.upload_id, b.source_row, array_remove(ARRAY[{cases}]::integer[], NULL)"
        f" AS failed FROM {batch.table} b OFFSET 0) x WHERE cardinality(failed) > 0) f "
        f"JOIN (VALUES {rule_values}) AS r(rule_no, rule_id, severity) USING (rule_no)"
    )
    conn.exec_driver_sql(f"CREATE INDEX ON {batch.findings} (upload_id)")
    evaluated: dict[int, dict[str, tuple]] = {u: {} for u in ids}
    stats = conn.execute(
        sa.text(
            "SELECT upload_id, rule_no, count(*) AS n, "
            f"(array_agg(source_row ORDER BY source_row))[1:{SAMPLE_ROWS}] AS sample "
            f"FROM {batch.findings} GROUP BY upload_id, rule_no"
        )
    ).all()
    for upload_id, rule_no, count, sample in stats:
        evaluated[upload_id][rules[rule_no].rule_id] = (count, sample, None)
    # A few wrong values per upload of every failing rule that may show them: one scan.
    failing = {rule_id for per_upload in evaluated.values() for rule_id in per_upload}
    shown = [r for r in rules if r.rule_id in failing and r.show_values and r.column]
    if shown:
        aggregates = ", ".join(
            f'(array_agg(DISTINCT COALESCE(b."{r.column}", \'\') ORDER BY COALESCE(b."{r.column}",'
            f" '')) FILTER (WHERE b.\"{r.flag_column}\"))[1:{EXAMPLE_VALUES}]"
            for r in shown
        )
        for upload_id, *values in conn.execute(
            sa.text(f"SELECT b.upload_id, {aggregates} FROM {batch.table} b GROUP BY b.upload_id")
        ):
            for rule, examples in zip(shown, values, strict=True):
                if rule.rule_id in evaluated[upload_id]:
                    count, sample, _ = evaluated[upload_id][rule.rule_id]
                    evaluated[upload_id][rule.rule_id] = (count, sample, examples)
    batch.evaluated = evaluated
    batch.marked = {
        upload_id: tuple(counts)
        for upload_id, *counts in conn.execute(
            sa.text(
                "SELECT upload_id, count(DISTINCT source_row) FILTER (WHERE severity = 'reject'),"
                " count(DISTINCT source_row) FILTER (WHERE severity = 'error'),"
                " count(DISTINCT source_row) FILTER (WHERE severity = 'warn')"
                f" FROM {batch.findings} GROUP BY upload_id"
            )
        )
    }


def _cross_check(batch: _Batch) -> None:
    """GX counted the whole batch: compare with the SQL counts summed over the batch."""
    _, gx_results, _ = batch.gx
    for rule in batch.row_rules:
        _, gx_count = gx_results.get(rule.rule_id, (None, None))
        count = sum(
            per_upload.get(rule.rule_id, (0,))[0] for per_upload in batch.evaluated.values()
        )
        if gx_count is not None and gx_count != count:
            log.warning(
                "rule %s: GX counted %s unexpected rows, SQL %s", rule.rule_id, gx_count, count
            )


# --- decisions --------------------------------------------------------------------------------


def _block_reason(
    failed: dict[str, int],
    by_id: dict[str, Rule],
    missing_columns: list[str],
    rows: int,
    rejected: int,
    max_share: float,
) -> str | None:
    if missing_columns:
        shown = ", ".join(missing_columns[:10])
        more = f" och {len(missing_columns) - 10} till" if len(missing_columns) > 10 else ""
        return f"Filen stoppades: kolumner saknas enligt mallen ({shown}{more})."
    if rows == 0:
        return "Filen stoppades: den innehåller inga ärenderader."
    blocking = [rule_id for rule_id in failed if by_id[rule_id].severity == "block"]
    if blocking:
        parts = [f"{by_id[r].message} (gäller {swedish_int(failed[r])} rader)" for r in blocking]
        return "Filen stoppades: " + " ".join(parts)
    if rejected / rows > max_share:
        return (
            f"Filen stoppades: för många rader är inte ärenden som kan räknas "
            f"({swedish_int(rejected)} av {swedish_int(rows)}, {swedish_percent(rejected / rows)}; "
            "gränsen är "
            f"{swedish_percent(max_share)})."
        )
    return None


_EXPECTATION_RESULTS = sa.table(
    "expectation_results",
    *(
        sa.column(name)
        for name in (
            "run_id",
            "rule_id",
            "expectation_type",
            "suv",
            "column_name",
            "severity",
            "success",
            "unexpected_count",
            "element_count",
            "sample_rows",
            "example_values",
            "gx_success",
            "gx_unexpected_count",
        )
    ),
    schema="quality",
)


def _decide(eng: Engine, upload, run_id: int, batch: _Batch) -> GateResult:
    """Store one upload's results and set its status, in one transaction (see module doc)."""
    upload_id = upload["upload_id"]
    rows = batch.rows.get(upload_id, 0)
    by_id = {rule.rule_id: rule for rule in build_rules()}
    gx_success, gx_results, docs_index = batch.gx if rows else (None, {}, None)

    evaluated = dict(batch.evaluated.get(upload_id, {}))
    if batch.missing_columns:
        evaluated["structure.columns"] = (
            len(batch.missing_columns),
            None,
            batch.missing_columns[:EXAMPLE_VALUES],
        )
    failed = {rule_id: count for rule_id, (count, _, _) in evaluated.items() if count}
    rejected, with_errors, warned = batch.marked.get(upload_id, (0, 0, 0))
    reason = _block_reason(
        failed, by_id, batch.missing_columns, rows, rejected, get_settings().max_rejected_share
    )
    outcome = "blocked" if reason else "accepted"
    if outcome == "accepted":
        reason = f"Godkänd: {swedish_int(rows - rejected)} av {swedish_int(rows)} rader räknas"
        if rejected:
            reason += f", {swedish_int(rejected)} rader är inte ärenden i omgången"
        if with_errors:
            reason += f", {swedish_int(with_errors)} rader har fel att rätta"
        if warned:
            reason += f", {swedish_int(warned)} rader har varningar"
        reason += "."
    if upload["status_reason"]:  # notes from intake (unknown columns ...) stay for the kommun
        reason += " " + upload["status_reason"]
    results = []
    for rule in batch.run_rules:
        count, sample, examples = evaluated.get(rule.rule_id, (0, None, None))
        gx_ok, gx_count = gx_results.get(rule.rule_id, (None, None))
        results.append(
            {
                "run_id": run_id,
                "rule_id": rule.rule_id,
                "expectation_type": rule.gx_expectation()[0],
                "suv": rule.suv,
                "column_name": rule.column,
                "severity": rule.severity,
                "success": count == 0,
                "unexpected_count": count,
                "element_count": rows,
                "sample_rows": sample,
                "example_values": examples,
                "gx_success": gx_ok,
                "gx_unexpected_count": gx_count,
            }
        )

    with eng.begin() as conn:
        # Serialise decisions for one kommun and round.
        same = dict(
            conn.execute(
                sa.text(
                    "SELECT upload_id, status FROM raw.uploads WHERE kommun_kod = :k AND round_id "
                    "= :r "
                    "ORDER BY upload_id FOR UPDATE"
                ),
                {"k": upload["kommun_kod"], "r": upload["round_id"]},
            ).all()
        )
        if same.get(upload_id) != "landed":
            raise ValueError(
                f"upload {upload_id} was decided concurrently ({same.get(upload_id)!r})"
            )
        conn.execute(
            sa.text(
                "INSERT INTO quality.validation_runs (run_id, upload_id, suite_name, rows_received,"
                " gx_success, data_docs_path, finished_at, rows_rejected, rows_with_errors,"
                " rows_warned, outcome, outcome_reason) VALUES (:run, :u, :s, :n, :g, :d,"
                " clock_timestamp(), :rj, :e, :w, :o, :reason)"
            ),
            {
                "run": run_id,
                "u": upload_id,
                "s": SUITE_NAME,
                "n": rows,
                "g": gx_success,
                "d": str(docs_index) if docs_index else None,
                "rj": rejected,
                "e": with_errors,
                "w": warned,
                "o": outcome,
                "reason": reason,
            },
        )
        if rows and batch.row_rules:
            conn.execute(
                sa.text(
                    "INSERT INTO quality.row_findings (run_id, upload_id, source_row, rule_id,"
                    " severity) SELECT :run_id, upload_id, source_row, rule_id, severity"
                    f" FROM {batch.findings} WHERE upload_id = :upload_id"
                    " AND severity IN ('reject', 'error', 'warn') ORDER BY source_row, rule_id"
                ),
                {"run_id": run_id, "upload_id": upload_id},
            )
        conn.execute(_EXPECTATION_RESULTS.insert(), results)

        status, superseded_by = outcome, None
        if outcome == "accepted":
            newer = [u for u, s in same.items() if s == "accepted" and u > upload_id]
            if newer:  # validated out of order: the newer file already counts
                status, superseded_by = "superseded", max(newer)
            elif any(s == "accepted" and u < upload_id for u, s in same.items()):
                conn.execute(
                    sa.text(
                        "UPDATE raw.uploads SET status = 'superseded', superseded_by = :u"
                        " WHERE kommun_kod = :k AND round_id = :r AND status = 'accepted'"
                        " AND upload_id < :u"
                    ),
                    {"k": upload["kommun_kod"], "r": upload["round_id"], "u": upload_id},
                )
        conn.execute(
            sa.text(
                "UPDATE raw.uploads SET status = :s, status_reason = :reason, decided_at = now(),"
                " superseded_by = :sb WHERE upload_id = :u"
            ),
            {"s": status, "reason": reason, "sb": superseded_by, "u": upload_id},
        )

    return GateResult(
        upload_id=upload_id,
        run_id=run_id,
        outcome=outcome,
        reason=reason,
        status=status,
        rows_received=rows,
        rows_rejected=rejected,
        rows_with_errors=with_errors,
        rows_warned=warned,
        gx_success=gx_success,
        data_docs_path=docs_index,
        failed_rules=failed,
    )


# --- gate runs --------------------------------------------------------------------------------

# Key of the advisory lock a gate run holds: su_feedback and su_round's safety net (or the CLI)
# may start one at the same moment, and two runs must not pick the same landed uploads.
GATE_RUN_LOCK = 7_465_701


@contextmanager
def one_gate_run_at_a_time(eng: Engine) -> Iterator[None]:
    """Hold the gate's advisory lock (on a connection of its own, released however the run
    ends, also when the process dies); a second gate run waits here, then finds the uploads
    the first decided no longer landed."""
    key = {"k": GATE_RUN_LOCK}
    with eng.connect() as conn:
        if not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), key).scalar():
            log.info("another gate run is deciding uploads: waiting for it")
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), key)
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), key)
            conn.commit()


def _gate_batch(eng: Engine, upload_ids: list[int]) -> tuple[list[GateResult], list[int]]:
    """Validate the landed uploads `upload_ids` together; decide each. Returns (results, failed).

    If a batch-level step fails (materialising, GX) for several uploads, they are gated one by
    one instead, so one upload that breaks the batch cannot hold back the others' decisions.
    """
    started = time.monotonic()
    catalogue = load_catalogue()
    all_rules = build_rules()
    by_id = {rule.rule_id: rule for rule in all_rules}
    with eng.connect() as conn:
        uploads = (
            conn.execute(
                sa.text(
                    "SELECT upload_id, kommun_kod, round_id, status, status_reason FROM raw.uploads"
                    " WHERE upload_id = ANY(:ids) AND status = 'landed' ORDER BY upload_id"
                ),
                {"ids": list(upload_ids)},
            )
            .mappings()
            .all()
        )
        skipped = sorted(set(upload_ids) - {u["upload_id"] for u in uploads})
        if skipped:
            log.warning("uploads %s are no longer 'landed': not gated", skipped)
        if not uploads:
            return [], skipped
        table_columns = set(
            conn.execute(
                sa.text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'raw' AND table_name = 'case_records'"
                )
            ).scalars()
        )
        rows = {u["upload_id"]: 0 for u in uploads}
        rows.update(
            conn.execute(
                sa.text(
                    "SELECT upload_id, count(*) FROM raw.case_records WHERE upload_id = ANY(:ids)"
                    " GROUP BY upload_id"
                ),
                {"ids": list(rows)},
            ).all()
        )
        # Run ids are reserved up front, one per upload in upload order; the first names the
        # work tables and the Data Docs site of the gate run. A gap after a failure is harmless.
        run_ids = (
            conn.execute(
                sa.text(
                    "SELECT nextval(pg_get_serial_sequence('quality.validation_runs', 'run_id'))"
                    " FROM generate_series(1, :n)"
                ),
                {"n": len(uploads)},
            )
            .scalars()
            .all()
        )
    run_ids.sort()

    missing_columns = [c for c in catalogue.column_names if c not in table_columns]
    # When columns are missing the structure rule alone decides: the other rules need them.
    run_rules = all_rules if not missing_columns else (by_id["structure.columns"],)
    batch = _Batch(
        name=f"run_{run_ids[0]}",
        table=f"quality.gate_batch_{run_ids[0]}",
        findings=f"quality.gate_findings_{run_ids[0]}",
        run_rules=run_rules,
        row_rules=tuple(r for r in run_rules if r.sql is not None),
        missing_columns=missing_columns,
        rows=rows,
    )

    results: list[GateResult] = []
    failed: list[int] = list(skipped)
    try:
        try:
            _prepare(eng, batch)
        except Exception:
            if len(uploads) == 1:
                raise
            log.exception(
                "quality gate batch of %s uploads failed: gating them one by one", len(uploads)
            )
            _drop_work_tables(eng, batch)
            for upload in uploads:
                try:
                    one, one_failed = _gate_batch(eng, [upload["upload_id"]])
                except Exception:
                    log.exception("quality gate failed for upload %s", upload["upload_id"])
                    one, one_failed = [], [upload["upload_id"]]
                results += one
                failed += one_failed
            return results, sorted(failed)
        prepared = time.monotonic() - started
        for upload, run_id in zip(uploads, run_ids, strict=True):
            try:
                result = _decide(eng, upload, run_id, batch)
            except Exception:
                if len(uploads) == 1:
                    raise
                log.exception("quality gate failed for upload %s", upload["upload_id"])
                failed.append(upload["upload_id"])
                continue
            result.seconds = time.monotonic() - started
            results.append(result)
            log.info(
                "upload %s: %s (%s rows, %s rejected, %s with errors, %s warned)",
                result.upload_id,
                result.outcome,
                result.rows_received,
                result.rows_rejected,
                result.rows_with_errors,
                result.rows_warned,
            )
    finally:
        _drop_work_tables(eng, batch)
    log.info(
        "quality gate: %s uploads, %s rows in %.1f s (%.1f s to validate the batch)",
        len(uploads),
        sum(rows.values()),
        time.monotonic() - started,
        prepared,
    )
    return results, sorted(failed)


def run_quality_gate(upload_id: int, engine: Engine | None = None) -> GateResult:
    """Validate one landed upload, store the results and set its status (a batch of one)."""
    eng = engine or warehouse.engine()  # the schema is ensured by whoever landed the rows
    with one_gate_run_at_a_time(eng):
        with eng.connect() as conn:
            status = conn.execute(
                sa.text("SELECT status FROM raw.uploads WHERE upload_id = :u"), {"u": upload_id}
            ).scalar()
        if status is None:
            raise LookupError(f"upload {upload_id} is not registered")
        if status != "landed":
            raise ValueError(f"upload {upload_id} has status {status!r}, not 'landed'")
        results, _ = _gate_batch(eng, [upload_id])
    if not results:
        raise ValueError(f"upload {upload_id} was decided concurrently")
    return results[0]


def run_pending(engine: Engine | None = None) -> list[GateResult]:
    """Gate every upload with status 'landed' in one batch; results in upload_id order.

    Raises `GateError` (with the decided uploads' results) if some could not be decided.
    Safe to call concurrently: the runs take turns (`one_gate_run_at_a_time`).
    """
    eng = engine or warehouse.engine()  # the schema is ensured by whoever landed the rows
    with one_gate_run_at_a_time(eng):
        with eng.connect() as conn:
            pending = (
                conn.execute(
                    sa.text(
                        "SELECT upload_id FROM raw.uploads WHERE status = 'landed'"
                        " ORDER BY upload_id"
                    )
                )
                .scalars()
                .all()
            )
        if not pending:
            return []
        results, failed = _gate_batch(eng, list(pending))
    if failed:
        raise GateError(failed, results)
    return results
