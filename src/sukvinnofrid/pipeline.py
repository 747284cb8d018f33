"""The steps of the chain, as plain functions: DAG tasks and the CLI call these.

What the steps return is JSON-safe (Airflow keeps it as the task's XCom, shown in the UI) and
carries no personnummer: file names and messages are masked.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from . import intake, warehouse
from .config import get_settings
from .privacy import contains_personnummer, mask_personnummer

log = logging.getLogger(__name__)

# progress(stage, done, total): called as a stage starts (done 0), advances and ends (done total).
Progress = Callable[[str, int, int], None]


def _silent(stage: str, done: int, total: int) -> None:
    """No progress shown (Airflow tasks log their own)."""


def _prepare(stage: str):
    """The stage's engine once the warehouse answers; the owner also creates the schema (in
    production, `sukvinnofrid warehouse init` does that and the stages have no right to)."""
    warehouse.ensure_available(warehouse.stage_url(stage))
    if not warehouse.stage_logins_configured():
        warehouse.ensure_schema()
    return warehouse.stage_engine(stage)


def _masked(text: str | None) -> str | None:
    return None if text is None else mask_personnummer(text)


def intake_summary(result: intake.IntakeResult) -> dict:
    """One file's intake verdict as the DAG and the CLI show it."""
    return {
        "file_name": _masked(result.file_name),
        "upload_id": result.upload_id,
        "kommun": result.kommun_kod,
        "round": result.round_id,
        "status": result.status,
        "rows": result.rows,
        "message": _masked(result.message),
    }


# The intake DAG lands new files in at most this many mapped tasks: one file a task while there
# are no more files than that, else the files shared out over them. A task costs Airflow more
# than a file costs to land (about 0.15 s even in `airflow dags test`, seconds as a worker's
# process, against about 25 ms a file); as many run at once (max_active_tis_per_dagrun).
LANDING_TASKS = 16


def shown_file_names(paths: list[str]) -> str:
    """A landing task's label in Airflow: its file's name, or the first and the last of its
    files' names and their number; at most 250 characters (what Airflow stores)."""
    names = [mask_personnummer(Path(path).name) for path in paths]
    label = names[0] if len(names) == 1 else f"{names[0]} … {names[-1]} ({len(names)} filer)"
    return label[:250]


def landing_batches(paths: list[str], tasks: int = LANDING_TASKS) -> list[list[str]]:
    """The files shared out over at most `tasks` landing tasks, about equal in bytes (largest
    file first to the lightest task); each task's files and the tasks in name order."""
    sizes = {path: Path(path).stat().st_size for path in paths}
    batches: list[list[str]] = [[] for _ in range(min(tasks, len(paths)))]
    loads = [0] * len(batches)
    for path in sorted(paths, key=lambda path: (-sizes[path], path)):
        # Fewest files among equal loads, so empty files still get a task each.
        lightest = min(range(len(batches)), key=lambda task: (loads[task], len(batches[task])))
        batches[lightest].append(path)
        loads[lightest] += sizes[path]
    return sorted(sorted(batch) for batch in batches)


def land(paths: list[str]) -> list[dict]:
    """Land upload files (idempotent) one after the other; returns their intake summaries."""
    return land_new_files(paths=[Path(path) for path in paths])


def files_to_land() -> list[str]:
    """The new inbox files, for the intake DAG to share out over its landing tasks.

    A file whose name carries a personnummer, or is not UTF-8, is landed right here instead: such
    a name must not reach Airflow's metadata DB (XCom, task arguments, map index), and a name
    that is not UTF-8 cannot travel in XCom's JSON."""
    engine = _prepare("intake")
    paths = []
    for path in intake.new_files(engine=engine):
        # upload_name differs from the name when that is not UTF-8 (or is masked).
        if contains_personnummer(path.name) or intake.upload_name(path) != path.name:
            intake.land_upload(path, engine)
        else:
            paths.append(str(path))
    return paths


def land_new_files(progress: Progress = _silent, paths: list[Path] | None = None) -> list[dict]:
    """Land every new inbox file (or the given files) in this process, one after the other; the
    intake DAG maps `land` over batches of the files instead."""
    engine = _prepare("intake")
    paths = intake.new_files(engine=engine) if paths is None else paths
    results = []
    for done, path in enumerate(paths):
        progress("intake", done, len(paths))
        results.append(intake_summary(intake.land_upload(path, engine)))
    progress("intake", len(paths), len(paths))
    return results


def quality_gate(progress: Progress = _silent) -> list[dict]:
    """Validate every landed upload and write each kommun's feedback report; returns the gate
    summary of each upload decided now."""
    summaries = gate_landed(progress)
    write_missing_feedback()
    return summaries


def gate_landed(progress: Progress = _silent) -> list[dict]:
    """Validate every landed upload (one gate run at a time: a concurrent one waits, then finds
    these decided); returns the gate summary of each upload decided now."""
    from .quality import gate

    engine = _prepare("quality")
    with engine.connect() as conn:
        pending = conn.execute(
            sa.text("SELECT count(*) FROM raw.uploads WHERE status = 'landed'")
        ).scalar_one()
    progress("quality_gate", 0, pending)
    results = gate.run_pending(engine)
    progress("quality_gate", len(results), len(results))
    return gate_summaries(results, engine)


def write_missing_feedback() -> list[dict]:
    """Write the feedback report of every decided upload that has none yet (decided by any gate
    run, or blocked at intake); per report its upload, kommun, round, status, path, and the SFTP
    account whose download folder got its copy and where the account finds it (None for a file
    not delivered through an account)."""
    from .quality import feedback

    engine = _prepare("quality")
    pending = uploads_without_feedback(engine)
    if not pending:
        return []
    paths = dict(zip(pending, feedback.write_feedback_reports(pending, engine), strict=True))
    with engine.connect() as conn:
        uploads = conn.execute(
            sa.text(
                "SELECT upload_id, kommun_kod, round_id, status, delivered_by FROM raw.uploads"
                " WHERE upload_id = ANY(:ids) ORDER BY upload_id"
            ),
            {"ids": pending},
        ).all()
    return [
        {
            "upload_id": upload.upload_id,
            "kommun": upload.kommun_kod,
            "round": upload.round_id,
            "status": upload.status,
            "feedback_report": str(paths[upload.upload_id]),
            "account": upload.delivered_by,
            "download": feedback.sftp_path(upload.upload_id, upload.round_id)
            if upload.delivered_by
            else None,
        }
        for upload in uploads
    ]


def notify_kommuner(written: list[dict]) -> list[dict]:
    """E-mail each account's contacts that its feedback is ready (`write_missing_feedback`'s
    reports that went to a download folder); per notice its upload, account and number of
    recipients. Each notice sent is recorded in ops.notices as it goes out, so a retry of the
    task sends only the notices that were not sent."""
    from . import notify

    ready = [
        notify.FeedbackReady(r["upload_id"], r["account"], r["round"], r["download"])
        for r in written
        if r["account"]
    ]
    if not ready:
        return []
    engine = _prepare("quality")
    with engine.connect() as conn:
        sent_before = conn.execute(
            sa.text("SELECT upload_id, recipient FROM ops.notices WHERE upload_id = ANY(:ids)"),
            {"ids": [notice.upload_id for notice in ready]},
        ).all()

    def record(notice, recipients: list[str]) -> None:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO ops.notices (upload_id, recipient, account)"
                    " VALUES (:u, :r, :a) ON CONFLICT DO NOTHING"
                ),
                [{"u": notice.upload_id, "r": r, "a": notice.account} for r in recipients],
            )

    return notify.notify_kommuner(ready, [tuple(row) for row in sent_before], record)


def gate_summaries(results: list, engine) -> list[dict]:
    """Per upload: verdict, rows, where its Data Docs and feedback report are."""
    from .quality import feedback

    if not results:
        return []
    with engine.connect() as conn:
        uploads = {
            row.upload_id: row
            for row in conn.execute(
                sa.text(
                    "SELECT upload_id, kommun_kod, round_id FROM raw.uploads"
                    " WHERE upload_id = ANY(:ids)"
                ),
                {"ids": [result.upload_id for result in results]},
            )
        }
    summaries = []
    for result in results:
        upload = uploads[result.upload_id]
        summaries.append(
            {
                "upload_id": result.upload_id,
                "kommun": upload.kommun_kod,
                "round": upload.round_id,
                "outcome": result.outcome,
                "status": result.status,
                "reason": _masked(result.reason),
                "rows_received": result.rows_received,
                "rows_rejected": result.rows_rejected,
                "rows_with_errors": result.rows_with_errors,
                "rows_warned": result.rows_warned,
                "data_docs": str(result.data_docs_path) if result.data_docs_path else None,
                "feedback_report": str(
                    feedback.report_path(result.upload_id, upload.kommun_kod, upload.round_id)
                ),
            }
        )
    return summaries


def uploads_without_feedback(engine) -> list[int]:
    """Decided uploads whose feedback report has not been written yet."""
    from .quality import feedback

    with engine.connect() as conn:
        decided = conn.execute(
            sa.text(
                "SELECT upload_id, kommun_kod, round_id FROM raw.uploads "
                "WHERE status <> 'landed' ORDER BY upload_id"
            )
        ).all()
    return [row.upload_id for row in decided if not feedback.report_path(*row).exists()]


def project_fingerprint() -> str:
    """The dbt project's files and the pseudonym key: what the models compute and how."""
    import hashlib

    from .transform import pseudonym_key

    digest = hashlib.sha256()
    project = get_settings().dbt_project_dir
    for path in sorted(project.rglob("*")):
        top = path.relative_to(project).parts[0]
        # what dbt writes: logs/, packages, and target/ or any other target a DBT_TARGET_PATH
        # names inside the project (another process's dbt may be writing to it right now)
        if path.is_file() and top not in ("logs", "dbt_packages") and not top.startswith("target"):
            digest.update(str(path.relative_to(project)).encode() + path.read_bytes())
    digest.update(hashlib.sha256(pseudonym_key().encode()).digest())
    return digest.hexdigest()


def first_published(round_id: str) -> bool:
    """Whether the round has had its first publication (its statistics have a version)."""
    from .versioned import versions

    return bool(versions(get_settings().output / "statistik" / round_id))


def round_cutoffs(engine) -> dict[str, str]:
    """Per round whose first publication is still to come (or whose calendar says `frozen`):
    the end of its last delivery day, after which a received file waits for the revision
    (dbt var round_cutoffs, model int_uploads_in_force). A round none of whose files came by
    then (history loaded after its calendar) has no cutoff: it is published from what came."""
    from .rounds import calendar_round

    with engine.connect() as conn:
        rounds = conn.execute(
            sa.text(
                "SELECT round_id, min(received_at) FROM raw.uploads"
                " WHERE status IN ('accepted', 'superseded') GROUP BY round_id ORDER BY 1"
            )
        ).all()
    cutoffs = {}
    for round_id, first_received in rounds:
        dates = calendar_round(round_id)
        if not dates.on_time(first_received):
            continue
        if dates.revision_policy == "revise" and first_published(round_id):
            continue
        cutoffs[round_id] = dates.delivery_end.isoformat()
    return cutoffs


def build_fingerprint(project: str, cutoffs: dict[str, str] | None = None) -> str:
    """What the models are built from: every upload's status, every gate run, the project and
    the rounds' cutoffs."""
    import hashlib

    digest = hashlib.sha256(repr(sorted((cutoffs or {}).items())).encode())
    with warehouse.stage_engine("transform").connect() as conn:
        for row in conn.execute(
            sa.text(
                "SELECT upload_id, status, coalesce(superseded_by, 0) FROM raw.uploads ORDER BY 1"
            )
        ):
            digest.update(repr(tuple(row)).encode())
        digest.update(
            repr(
                conn.execute(
                    sa.text("SELECT coalesce(max(run_id), 0) FROM quality.validation_runs")
                ).scalar()
            ).encode()
        )
    digest.update(project.encode())
    return digest.hexdigest()


# dbt builds in a row before build_warehouse gives up on uploads decided during each
BUILD_ATTEMPTS = 3


def build_warehouse() -> bool:
    """dbt build, unless nothing it depends on changed since the last build. True if it ran.

    The models are incremental (new uploads, changed rounds); after a change of the project or
    the pseudonym key they are rebuilt from scratch."""
    from . import transform

    engine = _prepare("transform")
    project = project_fingerprint()
    cutoffs = round_cutoffs(engine)
    fingerprint = build_fingerprint(project, cutoffs)
    with engine.connect() as conn:
        built = conn.execute(
            sa.text(
                "SELECT 1 FROM ops.dbt_builds WHERE fingerprint = :f "
                "AND to_regclass('marts.fct_kolada_key_figures') IS NOT NULL"
            ),
            {"f": fingerprint},
        ).scalar()
        last_project = conn.execute(
            sa.text("SELECT project_fingerprint FROM ops.dbt_builds ORDER BY built_at DESC LIMIT 1")
        ).scalar()
    if built:
        log.info("warehouse unchanged since its last build: dbt build skipped")
        return False
    full_refresh = last_project != project
    if full_refresh:
        log.info("dbt project or pseudonym key changed since the last build: full refresh")
    # A gate decision committed while dbt runs (su_feedback never waits for a build) may be in
    # some models and not in others: build again, incrementally, until no decision came in
    # during a build, so what is published is of one state of the uploads.
    for _ in range(BUILD_ATTEMPTS):
        # the seeds are part of the project: loaded again only when it changed
        transform.build(
            full_refresh=full_refresh, seeds=full_refresh, variables={"round_cutoffs": cutoffs}
        )
        full_refresh = False
        built_from, fingerprint = fingerprint, build_fingerprint(project, cutoffs)
        if built_from == fingerprint:
            break
        log.info("uploads were decided during the dbt build: building again")
    else:
        raise RuntimeError(
            f"uploads were decided during each of {BUILD_ATTEMPTS} dbt builds: nothing recorded"
        )
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ops.dbt_builds (fingerprint, project_fingerprint) VALUES (:f, :p) "
                "ON CONFLICT (fingerprint) DO UPDATE SET built_at = now(), project_fingerprint = :p"
            ),
            {"f": fingerprint, "p": project},
        )
    return True


def latest_round(engine, delivered: bool = False) -> str | None:
    """The latest round in the marts whose publication time has come (the round calendar), or
    with `delivered` whose last delivery day has passed (its draft may be reviewed); publication
    reads nothing else."""
    from .rounds import delivered_rounds, due_rounds

    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT to_regclass('marts.fct_case_funnel')")).scalar() is None:
            return None
        rounds = conn.execute(sa.text("SELECT DISTINCT round_id FROM marts.fct_case_funnel"))
        pick = delivered_rounds if delivered else due_rounds
        return next(iter(pick(rounds.scalars())), None)


def round_to_publish(engine, delivered: bool = False) -> str | None:
    """The round a su_round run without `round_id` publishes (or drafts): the latest round whose
    publication time has come (with `delivered`: whose last delivery day has passed), unless
    its statistics are current and an earlier published round under revision policy `revise`
    has a late or corrected delivery since its latest version: then the earliest such round,
    whose revision it is. An earlier round is not published again for a change of code or
    reference data alone."""
    return _round_to_publish(engine, delivered)[0]


def _round_to_publish(engine, delivered: bool = False) -> tuple[str | None, str | None]:
    """round_to_publish, and the round's current_inputs when finding it read them (the latest
    round, published before; else None): the marts' digest is a scan of every row."""
    from .revisions import changed_deliveries, deliveries_in_force
    from .rounds import calendar_round
    from .statistics import MANIFEST, current_inputs, is_current
    from .versioned import latest_manifest

    latest = latest_round(engine, delivered)
    if (
        latest is None
        or latest_manifest(get_settings().output / "statistik" / latest, MANIFEST) is None
    ):
        return latest, None  # not published: not current, whatever its inputs
    inputs = current_inputs(latest, engine)
    if not is_current(latest, engine, inputs):
        return latest, inputs
    with engine.connect() as conn:
        in_marts = conn.execute(sa.text("SELECT DISTINCT round_id FROM marts.fct_case_funnel"))
        earlier = sorted(r for r in in_marts.scalars() if r < latest)
    for round_id in earlier:
        published = latest_manifest(get_settings().output / "statistik" / round_id, MANIFEST)
        if (
            published
            and calendar_round(round_id).revision_policy == "revise"
            and changed_deliveries(
                published[1].get("in_force", {}), deliveries_in_force(engine, round_id)
            )
        ):
            return round_id, None
    return latest, inputs


def _approval(engine, round_id: str, inputs: str):
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT approved_at, approved_by, published_at, version"
                " FROM ops.publication_approvals WHERE round_id = :r AND inputs_sha256 = :i"
            ),
            {"r": round_id, "i": inputs},
        ).first()


def publication_plan(round_id: str | None = None) -> dict:
    """What a su_round run with approval has to do: the round (given, else the latest whose last
    delivery day has passed), its publication time, whether its statistics would change (`new`:
    a first publication or a revision, each approved once), and `action`:
    `ask` (new and not approved: draft, Granskning, approval), `publish` (approved and its time
    has come), `wait` (approved, published by the run at its publication time) or `none`."""
    return _publication_plan(round_id)[0]


def _publication_plan(round_id: str | None = None) -> tuple[dict, str | None]:
    """publication_plan, and the round's current_inputs (None before its last delivery day)."""
    from .rounds import calendar_round
    from .statistics import current_inputs, is_current

    engine = _prepare("publish")
    inputs = None
    if not round_id:
        round_id, inputs = _round_to_publish(engine, delivered=True)
    if round_id is None:
        return {
            "round_id": None,
            "new": False,
            "kind": None,
            "publication": None,
            "action": "none",
        }, None
    dates = calendar_round(round_id)
    # the marts' digest (a scan of every row) read once
    if not dates.delivery_over():
        inputs = None
    elif inputs is None:
        inputs = current_inputs(round_id, engine)
    new = inputs is not None and not is_current(round_id, engine, inputs)
    approved = new and _approval(engine, round_id, inputs) is not None
    plan = {
        "round_id": round_id,
        "new": new,
        "kind": "revision" if first_published(round_id) else "first",
        "publication": dates.publication.isoformat(),
        "action": "none"
        if not new
        else "ask"
        if not approved
        else "publish"
        if dates.is_due()
        else "wait",
    }
    return plan, inputs


def record_approval(round_id: str, inputs: str, approved_by: str | None) -> dict:
    """The statistics team approved the draft of `round_id` made from `inputs` (its statistics
    manifest's inputs_sha256): recorded, for the publication at its time."""
    engine = _prepare("publish")
    approved_at = get_settings().now
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ops.publication_approvals"
                " (round_id, inputs_sha256, approved_at, approved_by)"
                " VALUES (:r, :i, :at, :by) ON CONFLICT (round_id, inputs_sha256)"
                " DO UPDATE SET approved_at = :at, approved_by = :by"
            ),
            {"r": round_id, "i": inputs, "at": approved_at, "by": approved_by},
        )
    return {
        "round_id": round_id,
        "approved_at": approved_at.isoformat(),
        "approved_by": approved_by,
    }


def publish_approved(round_id: str | None = None) -> dict:
    """su_round with approval: publish the round whose draft was approved once its publication
    time has come (at once when the approval came later), and record when; before the time,
    nothing (round_id None, `waiting_until` the publication time). Refuses a state of the marts
    nobody approved."""
    from .kolada.publish import PublicationError

    plan, inputs = _publication_plan(round_id)
    if plan["action"] == "wait":
        log.info("round %s approved: published at %s", plan["round_id"], plan["publication"])
        return {"round_id": None, "waiting_until": plan["publication"]}
    if plan["action"] != "publish":
        raise PublicationError(
            f"Omgång {plan['round_id']}: det som skulle publiceras är inte godkänt; "
            "inget publicerades."
        )
    engine = _prepare("publish")
    published = publish(plan["round_id"])
    published_at = get_settings().now
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE ops.publication_approvals SET published_at = :at, version = :v"
                " WHERE round_id = :r AND inputs_sha256 = :i AND published_at IS NULL"
            ),
            {
                "at": published_at,
                "v": published["statistics_version"],
                "r": plan["round_id"],
                "i": inputs,
            },
        )
    return {**published, "published_at": published_at.isoformat()}


def publish(round_id: str | None = None) -> dict:
    """Publish a round (default: the latest round whose publication time has come): the Kolada
    key figures and the round's statistics tables, both protected by the same disclosure rule.
    With no round due, nothing is published (round_id None)."""
    from .kolada import publish as publish_kolada
    from .statistics import publish_statistics

    engine = _prepare("publish")
    round_id = round_id or round_to_publish(engine)
    if round_id is None:
        log.info("no round's publication time has come: nothing published")
        return {"round_id": None}
    published = []

    def the_statistics() -> Path:  # once Kolada knows it is not refused, before its decisions
        published.append(publish_statistics(round_id, engine))
        return published[0].directory

    publication = publish_kolada(round_id, engine, statistics=the_statistics)
    (statistics,) = published
    return {
        "round_id": round_id,
        "directory": str(publication.directory),
        "version": publication.version,
        "reused": publication.reused,
        "preliminary": publication.preliminary,
        "statistics_directory": str(statistics.directory),
        "statistics_version": statistics.version,
        "revision_log": str(statistics.revision_log) if statistics.revision_log else None,
        "kolada_revision_log": str(publication.revision_log) if publication.revision_log else None,
    }


def _site_summary(site) -> dict:
    return {
        "round_id": site.round_id,
        "directory": str(site.directory),
        "index": str(site.index),
        "internal_index": str(site.internal / "index.html"),
        "pages": site.pages,
        "written": site.written,
        "seconds": site.seconds,
    }


def report(round_id: str | None = None) -> dict:
    """Write the round's site (default: the latest closed round) from its publications:
    output/rapport/<round>/index.html. Unchanged data writes nothing."""
    from . import report as site

    engine = _prepare("publish")
    round_id = round_id or latest_round(engine)
    if round_id is None:
        raise site.RoundNotPublished(
            "ingen omgång med godkända uppladdningar har nått sin publiceringstid: "
            "ingen webbplats att skriva."
        )
    return _site_summary(site.render_round(round_id, engine))


def report_published(published: dict) -> dict:
    """The site of what su_round's publication task published (nothing when it published
    nothing: no round due), and the team's page of the rounds against the calendar."""
    from .report.calendar import write_calendar_page

    calendar = str(write_calendar_page(_prepare("publish")))
    if published.get("round_id") is None:
        return {"round_id": None, "written": False, "calendar": calendar}
    return {**report(published["round_id"]), "calendar": calendar}


def review(round_id: str | None = None) -> dict:
    """Before an approved publication: the round published as a draft, and its site with
    Granskning, under output/granskning/<round>/ (see sukvinnofrid.report.review_round)."""
    from . import report as site
    from .rounds import calendar_round
    from .statistics import current_inputs

    engine = _prepare("publish")
    inputs = None
    if not round_id:
        round_id, inputs = _round_to_publish(engine, delivered=True)
    if round_id is None:
        raise site.RoundNotPublished(
            "ingen omgång med godkända uppladdningar har passerat sin sista leveransdag: inget "
            "att granska."
        )
    summary = _site_summary(site.review_round(round_id, engine))
    # the approval in Airflow links to it: the team opens it through the plugin's pages
    from .airflow_plugin import page_url

    summary["granskning"] = page_url(Path(summary["internal_index"]).parent / "granskning.html")
    # what the approval is of: published at the publication time only while the marts are so
    summary["inputs_sha256"] = inputs or current_inputs(round_id, engine)
    summary["publication"] = f"{calendar_round(round_id).publication:%Y-%m-%d kl. %H.%M}"
    return summary


def approval_required() -> bool:
    """SUKF_REQUIRE_APPROVAL set: su_round waits for a person's approval in Airflow before it
    publishes (the demo and the tests run without)."""
    return os.environ.get("SUKF_REQUIRE_APPROVAL", "").strip().lower() in {"1", "true", "yes", "ja"}


def run_round(round_id: str | None = None, progress: Progress = _silent) -> dict:
    """Intake, gate, dbt build, publication and the round's site without a scheduler (the
    person running it decides to publish: no approval step)."""
    landed = land_new_files(progress)
    gated = quality_gate(progress)
    progress("dbt_build", 0, 1)
    build_warehouse()
    progress("dbt_build", 1, 1)
    progress("publish", 0, 1)
    published = publish(round_id)
    if published["round_id"] is None:
        from .kolada.publish import PublicationError

        raise PublicationError(
            "ingen omgång med godkända uppladdningar har nått sin publiceringstid "
            "(omgångskalendern): inget publicerades."
        )
    progress("publish", 1, 1)
    progress("report", 0, 1)
    site = report(published["round_id"])
    progress("report", 1, 1)
    return {
        "landed": landed,
        "gated": gated,
        "published": published,
        "report": site,
        "feedback_dir": str(get_settings().output / "aterkoppling"),
    }


def send_reminders() -> list[dict]:
    """Today's reminders of the round calendar (sukvinnofrid.reminders): per unit reminded,
    whether its e-mail went out."""
    from . import reminders

    return reminders.send_reminders(_prepare("quality"))


def clear_inbox() -> dict:
    """Retention of the inbox (sukvinnofrid.retention): what was removed, per kind."""
    from . import retention

    return retention.summary(retention.clear_inbox(_prepare("retention")))


def remove_expired() -> dict:
    """Retention of uploads no longer in force past their periods: what was removed, per kind."""
    from . import retention

    return retention.summary(retention.remove_expired(_prepare("retention")))


def clean_airflow_metadata() -> dict:
    """Retention of Airflow's run history: the rows removed, per kind."""
    from . import retention

    return retention.summary(retention.clean_airflow_metadata(_prepare("retention")))


def dag_settings(retries: int, retry_delay: timedelta) -> dict:
    """What every DAG of the pipeline shares (dags/*.py): its start, no catch-up, one run at a
    time, and tasks that retry, then e-mail the statistics team."""
    import pendulum

    from . import notify

    return {
        "start_date": pendulum.datetime(2026, 1, 1, tz="Europe/Stockholm"),
        "catchup": False,
        "max_active_runs": 1,
        "default_args": {
            "retries": retries,
            "retry_delay": retry_delay,
            "on_failure_callback": notify.task_failed,
        },
    }


# The Airflow role (FAB) of SFTPGo's upload hook account (docker-compose.yml's airflow-init creates
# it without permissions; su_intake's access_control gives it that one DAG).
UPLOAD_HOOK_ROLE = "UploadHook"
# How often su_intake looks at the inbox besides the uploads' hook: a safety net for a hook call
# that did not arrive (SFTPGo retries it three times).
INTAKE_POLL = timedelta(hours=1)

# Airflow asset names linking the DAGs (the DAG files build Asset objects from these): su_intake
# updates RAW_ASSET (su_feedback runs), su_feedback QUALITY_ASSET (su_round runs).
RAW_ASSET = "su_kvinnofrid_raw_case_records"
QUALITY_ASSET = "su_kvinnofrid_quality_decisions"
KOLADA_ASSET = "su_kvinnofrid_kolada_publication"
REPORT_ASSET = "su_kvinnofrid_round_site"
