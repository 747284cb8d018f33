"""The Swedish feedback report for a kommun about one upload (Markdown and self-contained HTML).

The wording is in two Jinja2 templates the statistics team edits, one per format:
`templates/feedback.md.j2` and `templates/feedback.html.j2` (shipped with the package). This
module only gathers what the report says about an upload (`report_context`) and renders it.

Everything that comes from the upload (file name, values, reasons registered at intake) is data:
a value that starts with = + - @ (a spreadsheet formula when pasted into Excel) is prefixed with
an apostrophe (`neutralise`), and every expression a template prints is escaped: for HTML by
Jinja's autoescaping (the apostrophe is kept readable; attributes are double-quoted), for
Markdown by `md_escape`, which the environment applies to every expression (so an edited
template cannot forget it).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import sqlalchemy as sa
from markupsafe import Markup, escape
from sqlalchemy.engine import Engine

from .. import warehouse
from ..catalogue import load_catalogue
from ..config import get_settings
from ..formats import swedish_int, swedish_percent
from ..intake import unknown_columns_in
from .rules import (
    build_rules,
    is_missing,
    missing_variables,
    normalized_columns_sql,
    phase_reached,
    value_columns,
)

TEMPLATES = Path(__file__).with_name("templates")
MAX_RANGES = 20
SEVERITY_ORDER = {"block": 0, "reject": 1, "error": 2, "warn": 3}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MD_SPECIAL = "\\`*_[]{}|#<>&!~"


def neutralise(value: object) -> str:
    """A data value as display text that cannot run as a spreadsheet formula."""
    text = "" if value is None else str(value)
    text = text.replace("\r", " ").replace("\n", " ")
    return "'" + text if text.startswith(_FORMULA_START) else text


def md_escape(value: object) -> str:
    """Text as Markdown that shows it literally: < > & as entities, the other Markdown
    characters with a backslash."""
    out = []
    for char in "" if value is None else str(value):
        if char in "<>&":
            out.append({"<": "&lt;", ">": "&gt;", "&": "&amp;"}[char])
        elif char in _MD_SPECIAL:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def html_escape(value: object) -> Markup:
    """Jinja's HTML escaping, with the apostrophe left as it is: it is the visible sign that a
    value was disarmed as a formula, and the templates quote attributes with double quotes."""
    if isinstance(value, Markup):  # the templates' own markup (a macro's output)
        return value
    return Markup(str(escape("" if value is None else value)).replace("&#39;", "'"))


@cache
def environments(templates: Path) -> dict[str, jinja2.Environment]:
    """{'md': ..., 'html': ...}: the Jinja2 environment of each format's template. An unknown
    name in a template is an error (StrictUndefined), not an empty string."""
    options = dict(
        loader=jinja2.FileSystemLoader(templates),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    formats = {
        "md": jinja2.Environment(autoescape=False, finalize=md_escape, **options),
        "html": jinja2.Environment(autoescape=True, finalize=html_escape, **options),
    }
    for env in formats.values():
        env.filters["swedish_int"] = swedish_int
    return formats


def render_report(context: dict, templates: Path | None = None) -> tuple[str, str]:
    """The report as (Markdown, HTML) from the two templates (in `templates`, by default the
    package's)."""
    env = environments(templates or TEMPLATES)
    markdown = env["md"].get_template("feedback.md.j2").render(context)
    return (markdown.rstrip() + "\n", env["html"].get_template("feedback.html.j2").render(context))


def compress_rows(rows: list[int], limit: int = MAX_RANGES) -> str:
    """'2–5, 9, 12' for the first `limit` runs of rows, then 'och N till'."""
    rows = sorted(set(rows))
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and row == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    shown = runs[:limit]
    text = ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in shown)
    rest = sum(b - a + 1 for a, b in runs[limit:])
    if rest:
        text += f" och {rest} till"
    return text


def _reporting_unit_name(code: str) -> str | None:
    """The kommun's (or stadsdel's) name from the reference seeds, when it is there."""
    from .. import reference

    code = code.strip()
    if code in reference.kommuner():
        return reference.kommuner()[code].namn
    stadsdel = reference.stadsdelar().get(code.upper())
    return stadsdel.namn if stadsdel else None


def _phase_columns() -> tuple[list[str], list[str], set[str]]:
    """The phases with missing-registration variables, their SQL (missing count, applicable
    count) pairs, and the columns the SQL reads."""
    catalogue = load_catalogue()
    needed: set[str] = set()
    parts, phases = [], []
    for phase in catalogue.phases:
        variables = missing_variables(catalogue, phase)
        if not variables:
            continue
        for trigger in catalogue.phase_triggers.get(phase, ()):
            needed.update(value_columns(catalogue.by_key(trigger), catalogue))
        for variable in variables:
            needed.update(value_columns(variable, catalogue))
        reached = phase_reached(phase, catalogue)
        missing = " + ".join(
            f"count(*) FILTER (WHERE {reached} AND {is_missing(v, catalogue)})" for v in variables
        )
        parts.append(f"({missing})::float, (count(*) FILTER (WHERE {reached}) * {len(variables)})")
        phases.append(phase)
    return phases, parts, needed


def _missing_shares(conn, where: str, params: dict, key: str) -> dict:
    """Share of missing registrations per phase among the cases that reached the phase, over
    the rows `r` (raw.case_records, with their upload `u`) matching `where`, per value of `key`
    (e.g. `r.upload_id`, `u.round_id`): {key value: {phase: share}}, in one query."""
    phases, parts, needed = _phase_columns()
    sql = (
        f"SELECT b.key, {', '.join(parts)} FROM (SELECT {key} AS key, "
        f"{normalized_columns_sql(sorted(needed))} FROM raw.case_records r "
        f"JOIN raw.uploads u ON u.upload_id = r.upload_id WHERE {where}) b GROUP BY b.key"
    )
    shares = {}
    for key_value, *values in conn.execute(sa.text(sql), params):
        shares[key_value] = {
            phase: (values[2 * i] / values[2 * i + 1]) if values[2 * i + 1] else None
            for i, phase in enumerate(phases)
        }
    return shares


def _no_shares() -> dict[str, float | None]:
    return dict.fromkeys(_phase_columns()[0])


_NOT_REJECTED = (
    "NOT EXISTS (SELECT 1 FROM quality.row_findings f WHERE f.upload_id = r.upload_id"
    " AND f.source_row = r.source_row AND f.severity = 'reject' AND f.run_id ="
    " (SELECT max(v.run_id) FROM quality.validation_runs v WHERE v.upload_id = r.upload_id))"
)


def _percent(share: float | None) -> str:
    return "–" if share is None else swedish_percent(share, decimals=1)


def riket_missing_shares(
    round_ids: list[str], engine: Engine | None = None
) -> dict[str, dict[str, float | None]]:
    """Missing registrations per phase over every accepted upload of each round: the riket
    comparison of the reports (uploads are cumulative extracts, so one round at a time)."""
    with (engine or warehouse.engine()).connect() as conn:
        found = _missing_shares(
            conn,
            f"u.status = 'accepted' AND u.round_id = ANY(:rounds) AND {_NOT_REJECTED}",
            {"rounds": list(round_ids)},
            key="u.round_id",
        )
    return {round_id: found.get(round_id) or _no_shares() for round_id in round_ids}


def upload_missing_shares(
    upload_ids: list[int], engine: Engine | None = None
) -> dict[int, dict[str, float | None]]:
    """Missing registrations per phase of each upload's usable rows."""
    with (engine or warehouse.engine()).connect() as conn:
        found = _missing_shares(
            conn,
            f"r.upload_id = ANY(:ids) AND {_NOT_REJECTED}",
            {"ids": list(upload_ids)},
            key="r.upload_id",
        )
    return {upload_id: found.get(upload_id) or _no_shares() for upload_id in upload_ids}


def write_feedback_reports(upload_ids: list[int], engine: Engine | None = None) -> list[Path]:
    """Write the reports of several uploads, with the shares of all of them queried at once."""
    eng = engine or warehouse.engine()
    with eng.connect() as conn:
        round_of = dict(
            conn.execute(
                sa.text("SELECT upload_id, round_id FROM raw.uploads WHERE upload_id = ANY(:ids)"),
                {"ids": list(upload_ids)},
            ).all()
        )
    riket = riket_missing_shares(sorted(set(round_of.values())), eng)
    shares = upload_missing_shares(upload_ids, eng)
    return [
        write_feedback(upload_id, eng, riket[round_of[upload_id]], shares[upload_id])
        for upload_id in upload_ids
    ]


def write_feedback(
    upload_id: int,
    engine: Engine | None = None,
    riket_shares: dict[str, float | None] | None = None,
    upload_shares: dict[str, float | None] | None = None,
) -> Path:
    """Write the feedback report of one upload; returns the Markdown path (HTML next to it).
    The shares (from `riket_missing_shares` and `upload_missing_shares`) are queried here
    when not given."""
    eng = engine or warehouse.engine()
    with eng.connect() as conn:
        upload = (
            conn.execute(
                sa.text("SELECT * FROM raw.uploads WHERE upload_id = :u"), {"u": upload_id}
            )
            .mappings()
            .one_or_none()
        )
        if upload is None:
            raise LookupError(f"upload {upload_id} is not registered")
        run = (
            conn.execute(
                sa.text(
                    "SELECT * FROM quality.validation_runs WHERE upload_id = :u ORDER BY run_id "
                    "DESC"
                    " LIMIT 1"
                ),
                {"u": upload_id},
            )
            .mappings()
            .one_or_none()
        )
        problems = []
        if run is not None:
            problems = (
                conn.execute(
                    sa.text(
                        "SELECT e.rule_id, e.severity, e.unexpected_count, e.sample_rows,"
                        " e.example_values, (SELECT array_agg(f.source_row ORDER BY f.source_row)"
                        " FROM quality.row_findings f WHERE f.run_id = e.run_id"
                        " AND f.rule_id = e.rule_id) AS finding_rows"
                        " FROM quality.expectation_results e WHERE e.run_id = :r"
                        " AND e.unexpected_count > 0"
                    ),
                    {"r": run["run_id"]},
                )
                .mappings()
                .all()
            )
        shares_upload = shares_riket = None
        if run is not None and run["rows_received"]:
            shares_upload = (
                upload_shares
                if upload_shares is not None
                else upload_missing_shares([upload_id], eng)[upload_id]
            )
            shares_riket = (
                riket_shares
                if riket_shares is not None
                else riket_missing_shares([upload["round_id"]], eng)[upload["round_id"]]
            )

    markdown, page = render_report(
        report_context(upload, run, problems, shares_upload, shares_riket)
    )
    md_path = report_path(upload_id, upload["kommun_kod"], upload["round_id"])
    # Each file whole or not at all, the statistics team's Markdown last: its presence is what
    # tells a later gate run that the report is written (pipeline.uploads_without_feedback), so
    # the kommun's own copy is in place before it; two runs writing the same report leave the
    # one content.
    copies = [md_path]
    if upload["delivered_by"]:
        copies.insert(0, download_path(upload_id, upload["delivered_by"], upload["round_id"]))
    for copy in copies:
        copy.parent.mkdir(parents=True, exist_ok=True)
        _replace(copy.with_suffix(".html"), page)
        _replace(copy, markdown)
    return md_path


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def report_context(upload, run, problems, shares_upload, shares_riket) -> dict:
    """What the report says about an upload, as the templates read it (their header comment
    lists every name). Values from the upload are `neutralise`d here; the templates escape."""
    catalogue = load_catalogue()
    rules = {rule.rule_id: (n, rule) for n, rule in enumerate(build_rules())}
    run = run or {}
    blocked = upload["status"] == "blocked" or run.get("outcome") == "blocked"
    received = run.get("rows_received") or 0
    rejected = run.get("rows_rejected") or 0
    ordered = sorted(
        problems,
        key=lambda p: (SEVERITY_ORDER[p["severity"]], rules.get(p["rule_id"], (10**6,))[0]),
    )
    listed = []
    for problem in ordered:
        _, rule = rules.get(problem["rule_id"], (None, None))
        rows = problem["finding_rows"] or problem["sample_rows"]
        shown = len(set(rows)) if rows else 0
        examples = [neutralise(v) for v in problem["example_values"] or ()]
        columns_missing = problem["rule_id"] == "structure.columns"
        listed.append(
            {
                "severity": problem["severity"],
                # None: the rule concerns the whole file (a rule of an older catalogue: its id)
                "variables": (
                    problem["rule_id"]
                    if rule is None
                    else ", ".join(catalogue.variable(s).label for s in rule.suvs) or None
                ),
                "rows": compress_rows(list(rows)) if rows else None,
                "total": problem["unexpected_count"]
                if rows and problem["unexpected_count"] > shown
                else None,
                "message": rule.message if rule else "",
                "hint": rule.hint if rule else "",
                "missing_columns": examples if columns_missing else [],
                "wrong_values": [] if columns_missing else examples,
            }
        )
    name = _reporting_unit_name(upload["kommun_kod"])
    return {
        "kommun": (
            f"{neutralise(name)} ({neutralise(upload['kommun_kod'])})"
            if name
            else neutralise(upload["kommun_kod"])
        ),
        "round": neutralise(upload["round_id"]),
        "file": neutralise(upload["file_name"]),
        "received": upload["received_at"]
        .astimezone(ZoneInfo("Europe/Stockholm"))
        .strftime("%Y-%m-%d %H:%M"),
        "outcome": (
            "pending"
            if upload["status"] == "landed" and not run
            else "blocked"
            if blocked
            else "accepted"
        ),
        "gated": bool(run),
        "reason": neutralise(upload["status_reason"] or run.get("outcome_reason") or ""),
        "rows": {
            "received": received,
            "counted": 0 if blocked else received - rejected,
            "rejected": rejected,
            "with_errors": run.get("rows_with_errors") or 0,
            "warned": run.get("rows_warned") or 0,
        },
        "superseded_by": upload["superseded_by"] if upload["status"] == "superseded" else None,
        "not_saved": neutralise(unknown_columns_in(upload["status_reason"])) or None,
        "problems": listed,
        "phases": None
        if shares_upload is None
        else [
            {
                "phase": catalogue.phases[phase],
                "upload": _percent(share),
                "riket": _percent(shares_riket.get(phase)),
            }
            for phase, share in shares_upload.items()
        ],
    }


def report_path(upload_id: int, kommun_kod: str, round_id: str) -> Path:
    """Where the Markdown report of an upload goes; the HTML one sits beside it. A file whose
    kommun or round could not be read (e.g. round 2023-13) files under okand_kommun /
    okand_omgang."""
    return (
        get_settings().output
        / "aterkoppling"
        / _path_part(kommun_kod, "okand_kommun")
        / _path_relative(upload_id, round_id)
    )


# The download folder as an SFTP account sees it (infra/sftp/accounts.py's DOWNLOAD_FOLDER).
SFTP_FOLDER = "aterkoppling"


def download_path(upload_id: int, account: str, round_id: str) -> Path:
    """The kommun's own copy of an upload's Markdown report (the HTML beside it), in the
    download folder of the SFTP account that delivered it (`raw.uploads.delivered_by`): never
    where the file's own claims about its kommun would put it."""
    return (
        get_settings().feedback_download
        / _path_part(account, "okant_konto")
        / _path_relative(upload_id, round_id)
    )


def sftp_path(upload_id: int, round_id: str) -> str:
    """Where the account finds the HTML report over SFTP (aterkoppling/2023-12/upload_7.html)."""
    return f"{SFTP_FOLDER}/{_path_relative(upload_id, round_id).with_suffix('.html').as_posix()}"


def _path_relative(upload_id: int, round_id: str) -> Path:
    return Path(_path_part(round_id, "okand_omgang")) / f"upload_{int(upload_id)}.md"


def _path_part(value: str | None, unknown: str) -> str:
    """A kommun code or round id as one safe path component."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(value or ""))
    return cleaned.strip("._") or unknown
