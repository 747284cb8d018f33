"""The Swedish feedback report for a kommun about one upload (Markdown and self-contained HTML).

Everything that comes from the upload (file name, values, reasons registered at intake) is data:
it is escaped for HTML and Markdown, and a value that starts with = + - @ (a spreadsheet
formula when pasted into Excel) is prefixed with an apostrophe.
"""

from __future__ import annotations

import html
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .. import warehouse
from ..catalogue import load_catalogue
from ..config import get_settings
from ..formats import swedish_int, swedish_percent
from ..intake import unknown_columns_in
from .rules import (build_rules, is_missing, missing_variables,
                    normalized_columns_sql, phase_reached, value_columns)

MAX_RANGES = 20
SEVERITY_ORDER = {"block": 0, "reject": 1, "error": 2, "warn": 3}
SEVERITY_WORDS = {
    "block": "Stoppar hela filen",
    "reject": "Raden räknas inte (inte ett ärende i omgången)",
    "error": "Fel: rätta till nästa omgång (ärendet räknas)",
    "warn": "Varning (ärendet räknas)",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MD_SPECIAL = "\\`*_[]{}|#<>&!~"


def neutralise(value: object) -> str:
    """A data value as display text that cannot run as a spreadsheet formula."""
    text = "" if value is None else str(value)
    text = text.replace("\r", " ").replace("\n", " ")
    return "'" + text if text.startswith(_FORMULA_START) else text


def _md(text: str) -> str:
    out = []
    for char in text:
        if char in "<>&":
            out.append({"<": "&lt;", ">": "&gt;", "&": "&amp;"}[char])
        elif char in _MD_SPECIAL:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _html(text: str) -> str:
    # Data only ever lands in text nodes (never in attributes): < > & are what matter; quotes
    # stay readable so the apostrophe that disarms a formula is visible.
    return html.escape(text, quote=False)


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


class _Doc:
    """A small document written both as Markdown and as HTML; all text is escaped."""

    def __init__(self) -> None:
        self.md: list[str] = []
        self.html: list[str] = []

    def heading(self, level: int, text: str) -> None:
        self.md.append(f"{'#' * level} {_md(text)}\n")
        self.html.append(f"<h{level}>{_html(text)}</h{level}>")

    def para(self, text: str, strong: bool = False) -> None:
        self.md.append((f"**{_md(text)}**" if strong else _md(text)) + "\n")
        self.html.append(f"<p><strong>{_html(text)}</strong></p>" if strong
                         else f"<p>{_html(text)}</p>")

    def facts(self, items: list[tuple[str, str]]) -> None:
        self.md.extend(f"- {_md(k)}: {_md(v)}" for k, v in items)
        self.md.append("")
        self.html.append("<ul>" + "".join(
            f"<li>{_html(k)}: {_html(v)}</li>" for k, v in items) + "</ul>")

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.md.append("| " + " | ".join(_md(h) for h in header) + " |")
        self.md.append("|" + "---|" * len(header))
        self.md.extend("| " + " | ".join(_md(c) for c in row) + " |" for row in rows)
        self.md.append("")
        self.html.append(
            "<table><thead><tr>" + "".join(f"<th>{_html(h)}</th>" for h in header)
            + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{_html(c)}</td>" for c in row) + "</tr>"
                      for row in rows)
            + "</tbody></table>")

    def render_md(self) -> str:
        return "\n".join(self.md).rstrip() + "\n"

    def render_html(self, title: str) -> str:
        style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
                 "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em .6em;"
                 "text-align:left;vertical-align:top}")
        return (
            "<!DOCTYPE html>\n<html lang=\"sv\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'\">"
            f"<title>{_html(title)}</title><style>{style}</style></head><body>\n"
            + "\n".join(self.html) + "\n</body></html>\n"
        )


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
        missing = " + ".join(f"count(*) FILTER (WHERE {reached} AND {is_missing(v, catalogue)})"
                             for v in variables)
        parts.append(f"({missing})::float, (count(*) FILTER (WHERE {reached}) * {len(variables)})")
        phases.append(phase)
    return phases, parts, needed


def _missing_shares(conn, where: str, params: dict, key: str) -> dict:
    """Share of missing registrations per phase among the cases that reached the phase, over
    the rows `r` (raw.case_records, with their upload `u`) matching `where`, per value of `key`
    (e.g. `r.upload_id`, `u.round_id`): {key value: {phase: share}}, in one query."""
    phases, parts, needed = _phase_columns()
    sql = (f"SELECT b.key, {', '.join(parts)} FROM (SELECT {key} AS key, "
           f"{normalized_columns_sql(sorted(needed))} FROM raw.case_records r "
           f"JOIN raw.uploads u ON u.upload_id = r.upload_id WHERE {where}) b GROUP BY b.key")
    shares = {}
    for key_value, *values in conn.execute(sa.text(sql), params):
        shares[key_value] = {
            phase: (values[2 * i] / values[2 * i + 1]) if values[2 * i + 1] else None
            for i, phase in enumerate(phases)}
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


def riket_missing_shares(round_ids: list[str],
                         engine: Engine | None = None) -> dict[str, dict[str, float | None]]:
    """Missing registrations per phase over every accepted upload of each round: the riket
    comparison of the reports (uploads are cumulative extracts, so one round at a time)."""
    with (engine or warehouse.engine()).connect() as conn:
        found = _missing_shares(conn, f"u.status = 'accepted' AND u.round_id = ANY(:rounds) AND "
                                f"{_NOT_REJECTED}", {"rounds": list(round_ids)}, key="u.round_id")
    return {round_id: found.get(round_id) or _no_shares() for round_id in round_ids}


def upload_missing_shares(upload_ids: list[int],
                          engine: Engine | None = None) -> dict[int, dict[str, float | None]]:
    """Missing registrations per phase of each upload's usable rows."""
    with (engine or warehouse.engine()).connect() as conn:
        found = _missing_shares(conn, f"r.upload_id = ANY(:ids) AND {_NOT_REJECTED}",
                                {"ids": list(upload_ids)}, key="r.upload_id")
    return {upload_id: found.get(upload_id) or _no_shares() for upload_id in upload_ids}


def write_feedback_reports(upload_ids: list[int], engine: Engine | None = None) -> list[Path]:
    """Write the reports of several uploads, with the shares of all of them queried at once."""
    eng = engine or warehouse.engine()
    with eng.connect() as conn:
        round_of = dict(conn.execute(sa.text(
            "SELECT upload_id, round_id FROM raw.uploads WHERE upload_id = ANY(:ids)"),
            {"ids": list(upload_ids)}).all())
    riket = riket_missing_shares(sorted(set(round_of.values())), eng)
    shares = upload_missing_shares(upload_ids, eng)
    return [write_feedback(upload_id, eng, riket[round_of[upload_id]], shares[upload_id])
            for upload_id in upload_ids]


def write_feedback(upload_id: int, engine: Engine | None = None,
                   riket_shares: dict[str, float | None] | None = None,
                   upload_shares: dict[str, float | None] | None = None) -> Path:
    """Write the feedback report of one upload; returns the Markdown path (HTML next to it).
    The shares (from `riket_missing_shares` and `upload_missing_shares`) are queried here
    when not given."""
    eng = engine or warehouse.engine()
    catalogue = load_catalogue()
    rules = {rule.rule_id: (n, rule) for n, rule in enumerate(build_rules())}
    with eng.connect() as conn:
        upload = conn.execute(sa.text(
            "SELECT * FROM raw.uploads WHERE upload_id = :u"), {"u": upload_id}
        ).mappings().one_or_none()
        if upload is None:
            raise LookupError(f"upload {upload_id} is not registered")
        run = conn.execute(sa.text(
            "SELECT * FROM quality.validation_runs WHERE upload_id = :u ORDER BY run_id DESC"
            " LIMIT 1"), {"u": upload_id}).mappings().one_or_none()
        problems = []
        if run is not None:
            problems = conn.execute(sa.text(
                "SELECT e.rule_id, e.severity, e.unexpected_count, e.sample_rows,"
                " e.example_values, (SELECT array_agg(f.source_row ORDER BY f.source_row)"
                " FROM quality.row_findings f WHERE f.run_id = e.run_id"
                " AND f.rule_id = e.rule_id) AS finding_rows"
                " FROM quality.expectation_results e WHERE e.run_id = :r"
                " AND e.unexpected_count > 0"), {"r": run["run_id"]}).mappings().all()
        shares_upload = shares_riket = None
        if run is not None and run["rows_received"]:
            shares_upload = (upload_shares if upload_shares is not None
                             else upload_missing_shares([upload_id], eng)[upload_id])
            shares_riket = (riket_shares if riket_shares is not None
                            else riket_missing_shares([upload["round_id"]], eng)[upload["round_id"]])

    kommun = neutralise(upload["kommun_kod"])
    name = _reporting_unit_name(upload["kommun_kod"])
    kommun_text = f"{neutralise(name)} ({kommun})" if name else kommun
    round_id = neutralise(upload["round_id"])
    received = upload["received_at"].astimezone(ZoneInfo("Europe/Stockholm"))

    doc = _Doc()
    title = f"Återkoppling SU-Kvinnofrid: {kommun_text}, omgång {round_id}"
    doc.heading(1, title)
    doc.facts([
        ("Kommun/stadsdel", kommun_text),
        ("Insamlingsomgång", round_id),
        ("Fil", neutralise(upload["file_name"])),
        ("Mottagen", received.strftime("%Y-%m-%d %H:%M")),
    ])

    status = upload["status"]
    reason = neutralise(upload["status_reason"] or (run or {}).get("outcome_reason") or "")
    rows_received = (run or {}).get("rows_received") or 0
    rejected = (run or {}).get("rows_rejected") or 0
    with_errors = (run or {}).get("rows_with_errors") or 0
    warned = (run or {}).get("rows_warned") or 0
    blocked = status == "blocked" or (run is not None and run["outcome"] == "blocked")

    doc.heading(2, "Resultat")
    if status == "landed" and run is None:
        doc.para("Filen är mottagen men inte granskad ännu.", strong=True)
    elif blocked:
        doc.para("Stoppad: filen kan inte användas i statistiken.", strong=True)
        if run is None:
            doc.para("Filen stoppades redan vid mottagningen, innan raderna granskades.")
        if reason:
            doc.para(f"Orsak: {reason}")
        doc.para("Rätta felen nedan och skicka in hela filen på nytt.")
    else:
        doc.para("Godkänd." if not (rejected or with_errors or warned) else
                 "Godkänd, med anmärkningar nedan.", strong=True)
        if rejected:
            doc.para(f"{swedish_int(rejected)} rader är inte ärenden i omgången (till exempel "
                     "utan klient eller datum för aktualisering, dubbletter eller klienter under "
                     "18 år) och räknas inte i statistiken.")
        if with_errors:
            doc.para(f"{swedish_int(with_errors)} rader har fel som ska rättas till nästa omgång. "
                     "Ärendena räknas, men de felaktiga uppgifterna räknas som saknade "
                     "registreringar tills de är rättade.")
        if warned:
            doc.para(f"{swedish_int(warned)} rader har varningar, oftast saknade registreringar "
                     "av frivilliga frågor. Ärendena räknas.")
    if status == "superseded":
        doc.para(f"Filen har senare ersatts av en nyare fil (uppladdning "
                 f"{upload['superseded_by']}) för samma omgång.")

    not_saved = unknown_columns_in(upload["status_reason"])
    if not_saved:
        doc.heading(2, "Kolumner som inte sparades")
        doc.para("Filen hade kolumner som inte finns i mallen. De har inte lästs in eller sparats: "
                 f"{neutralise(not_saved)}.")

    if run is not None:
        doc.heading(2, "Antal rader")
        doc.table(["", "Antal"], [
            ["Mottagna rader", swedish_int(rows_received)],
            ["Ärenden som räknas", swedish_int(0 if blocked else rows_received - rejected)],
            ["Rader som inte räknas", swedish_int(rejected)],
            ["Rader med fel att rätta", swedish_int(with_errors)],
            ["Rader med varningar", swedish_int(warned)],
        ])

    if problems:
        doc.heading(2, "Fel och varningar")
        ordered = sorted(problems, key=lambda p: (SEVERITY_ORDER[p["severity"]],
                                                  rules.get(p["rule_id"], (10**6,))[0]))
        table_rows = []
        for problem in ordered:
            _, rule = rules.get(problem["rule_id"], (None, None))
            if rule is None:  # a rule of an older catalogue
                variables, message, hint = problem["rule_id"], "", ""
            else:
                labels = [catalogue.variable(s).label for s in rule.suvs]
                variables = ", ".join(labels) if labels else "Hela filen"
                message, hint = rule.message, rule.hint
            rows = problem["finding_rows"] or problem["sample_rows"]
            if rows:
                where = compress_rows(list(rows))
                shown = len(set(rows))
                if problem["unexpected_count"] > shown:
                    where += f" (totalt {problem['unexpected_count']} rader)"
            else:
                where = "Hela filen"
            if problem["example_values"]:
                if problem["rule_id"] == "structure.columns":
                    message += " Saknade kolumner: " + ", ".join(
                        neutralise(v) for v in problem["example_values"]) + "."
                else:
                    message += " Felaktiga värden: " + ", ".join(
                        "(tomt)" if v == "" else f"”{neutralise(v)}”"
                        for v in problem["example_values"]) + "."
            table_rows.append([SEVERITY_WORDS[problem["severity"]], variables, where,
                               message, hint])
        doc.table(["Typ", "Variabel", "Rader", "Vad är fel", "Så blir det rätt"], table_rows)
        doc.para("Radnumren är radnummer i filen (rubrikraden är rad 1).")
    elif run is not None and not blocked:
        doc.para("Inga fel hittades.")

    if shares_upload is not None:
        doc.heading(2, "Saknade registreringar per fas")
        doc.para("Andel obesvarade frivilliga frågor bland de ärenden som nått fasen "
                 "(avvisade rader räknas inte). Riket är alla godkända filer för samma "
                 "insamlingsomgång, i senaste versionen.")
        doc.table(["Fas", "Er fil", "Riket"], [
            [catalogue.phases[phase], _percent(share), _percent(shares_riket.get(phase))]
            for phase, share in shares_upload.items()
        ])

    md_path = report_path(upload_id, upload["kommun_kod"], upload["round_id"])
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(doc.render_md(), encoding="utf-8")
    md_path.with_suffix(".html").write_text(doc.render_html(title), encoding="utf-8")
    return md_path


def report_path(upload_id: int, kommun_kod: str, round_id: str) -> Path:
    """Where the Markdown report of an upload goes; the HTML one sits beside it. A file whose
    kommun or round could not be read (e.g. round 2023-13) files under okand_kommun /
    okand_omgang."""
    return (get_settings().output / "aterkoppling" / _path_part(kommun_kod, "okand_kommun")
            / _path_part(round_id, "okand_omgang") / f"upload_{int(upload_id)}.md")


def _path_part(value: str | None, unknown: str) -> str:
    """A kommun code or round id as one safe path component."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(value or ""))
    return cleaned.strip("._") or unknown
