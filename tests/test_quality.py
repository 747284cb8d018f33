"""The quality gate: rules per family, outcome, supersession, suite JSON and feedback report."""

from __future__ import annotations

import hashlib
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import PROJECT_ROOT, scalar, wipe_warehouse
from sukvinnofrid import warehouse
from sukvinnofrid.catalogue import load_catalogue
from sukvinnofrid.quality.feedback import compress_rows, write_feedback
from sukvinnofrid.quality.gate import run_pending, run_quality_gate
from sukvinnofrid.quality.rules import build_rules, rules_by_id
from sukvinnofrid.quality.suites import SUITE_NAME, gx_project_files
from sukvinnofrid.reference import kommuner

KOMMUN = "0180"
ROUND = "2023-06"
_sha = itertools.count(1)


def valid_row(**overrides: str) -> dict[str, str]:
    """A clean, complete open case (no errors, no missing registrations)."""
    catalogue = load_catalogue()
    row = dict.fromkeys(catalogue.column_names, "")
    for variable in catalogue.variables:
        if variable.phase not in ("bakgrund", "fore"):
            continue
        first = next(iter(variable.codes), None)
        if variable.type == "code":
            row[variable.column] = str(first)
        elif variable.type == "codes":
            row[f"{variable.column}_{first}"] = "1"
    row.update(
        v1_verksamhet="1",
        v2_kommun=KOMMUN,
        v3_handlaggare="H12",
        v4_klient="K-001",
        v5_datum_aktualisering="2023-01-10",
        v14_kon="1",
        v15_alder="34",
        v90_1_tidpunkt="1",
        v90_1_instrument="1",
        v90_1_skattning="5",
    )
    row.update(overrides)
    return row


def closed_row(**overrides: str) -> dict[str, str]:
    """A clean closed case with insats, uppföljning and brukarenkät."""
    return valid_row(
        **{
            "v117_datum_insats": "2023-02-01",
            "v118_insatser_4": "1",
            "v126_typ_av_insats": "1",
            "v127_samverkan_5": "1",
            "v256_datum_avslut": "2023-05-30",
            "v257_avslutsorsak": "1",
            "v161_genomforande": "1",
            "v192_maluppfoljning": "1",
            "v202_forandring_valdsutsatthet": "1",
            "v203_insatsernas_betydelse": "4",
            "v206_positiva_inslag": "1",
            "v212_delaktighet": "4",
            **overrides,
        }
    )


def add_upload(
    engine,
    rows: list[dict],
    kommun: str = KOMMUN,
    round_id: str = ROUND,
    status: str = "landed",
    file_name: str | None = None,
    status_reason: str | None = None,
) -> int:
    """Register an upload and land its rows (source_row 2, 3, ... as in the file)."""
    with engine.begin() as conn:
        upload_id = conn.execute(
            sa.text(
                "INSERT INTO raw.uploads (file_name, sha256, kommun_kod, round_id, row_count, "
                "status,"
                " status_reason) VALUES (:f, :s, :k, :r, :n, :st, :sr) RETURNING upload_id"
            ),
            {
                "f": file_name or f"sukf_{kommun}_{round_id}.csv",
                "s": hashlib.sha256(str(next(_sha)).encode()).hexdigest(),
                "k": kommun,
                "r": round_id,
                "n": len(rows),
                "st": status,
                "sr": status_reason,
            },
        ).scalar_one()
        if rows:
            names = load_catalogue().column_names
            cols = ", ".join(f'"{c}"' for c in names)
            params = ", ".join(f":c{i}" for i in range(len(names)))
            conn.execute(
                sa.text(
                    f"INSERT INTO raw.case_records (upload_id, source_row, {cols})"
                    f" VALUES (:u, :row, {params})"
                ),
                [
                    {
                        "u": upload_id,
                        "row": n + 2,
                        **{f"c{i}": row.get(c, "") for i, c in enumerate(names)},
                    }
                    for n, row in enumerate(rows)
                ],
            )
    return upload_id


def findings(engine, upload_id: int) -> set[tuple[int, str, str]]:
    with engine.connect() as conn:
        return {
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT source_row, rule_id, severity FROM quality.row_findings"
                    " WHERE upload_id = :u"
                ),
                {"u": upload_id},
            )
        }


def gate(engine, rows: list[dict], **kwargs):
    """Land `rows` after 9 clean rows (so a few rejections stay under the share limit)."""
    clean = [valid_row(v4_klient=f"OK-{i}") for i in range(9)]
    upload_id = add_upload(engine, clean + rows, **kwargs)
    return run_quality_gate(upload_id, engine), upload_id


FIRST = 11  # source_row of the first crafted row after the 9 clean ones (header = row 1)


# --- clean uploads ---------------------------------------------------------------------------


def test_clean_upload_is_accepted_without_findings(clean_warehouse):
    result, upload_id = gate(clean_warehouse, [closed_row(v4_klient="C-1")])
    assert result.outcome == "accepted", result.reason
    assert result.failed_rules == {}
    assert findings(clean_warehouse, upload_id) == set()
    assert (
        scalar(clean_warehouse, "SELECT status FROM raw.uploads WHERE upload_id = :u", u=upload_id)
        == "accepted"
    )
    assert scalar(
        clean_warehouse,
        "SELECT count(*) FROM quality.expectation_results WHERE run_id = :r",
        r=result.run_id,
    ) == len(build_rules())
    # GX agrees with the SQL evaluation and built Data Docs.
    assert result.gx_success is True
    assert result.data_docs_path.exists()
    assert scalar(
        clean_warehouse,
        "SELECT data_docs_path FROM quality.validation_runs WHERE run_id = :r",
        r=result.run_id,
    ) == str(result.data_docs_path)


# --- one test per rule family: (row overrides, expected rule_id, severity) ---------------------

# reject: the row is not a case in scope; error: the case counts, the value as "uppgift saknas";
# warn: a missing registration or an answer that does not fit (docs/quality-rules.md)
ROW_CASES = [
    ("no klient", dict(v4_klient=""), "v4_klient.required", "reject"),
    ("no kommun", dict(v2_kommun=""), "v2_kommun.required", "reject"),
    (
        "no aktualisering",
        dict(v5_datum_aktualisering=""),
        "v5_datum_aktualisering.required",
        "reject",
    ),
    (
        "date format",
        dict(v5_datum_aktualisering="10/01/2023"),
        "v5_datum_aktualisering.date_format",
        "reject",
    ),
    (
        "real date",
        dict(v5_datum_aktualisering="2023-02-30"),
        "v5_datum_aktualisering.real_date",
        "reject",
    ),
    (
        "after round close",
        dict(v5_datum_aktualisering="2023-07-01"),
        "v5_datum_aktualisering.after_round_close",
        "reject",
    ),
    ("under 18", dict(v15_alder="17"), "v15_alder.out_of_scope", "reject"),
    ("no kön", dict(v14_kon=""), "v14_kon.required", "error"),
    ("no handläggare", dict(v3_handlaggare="  "), "v3_handlaggare.required", "error"),
    ("integer", dict(v15_alder="34,5"), "v15_alder.integer", "error"),
    ("age over 110", dict(v15_alder="111"), "v15_alder.in_range", "error"),
    ("code list", dict(v14_kon="3"), "v14_kon.in_set", "error"),
    (
        "multi-choice",
        dict(v19_funktionsnedsattning_1="x"),
        "v19_funktionsnedsattning_1.in_set",
        "error",
    ),
    (
        "before 2000",
        dict(v5_datum_aktualisering="1999-12-31"),
        "v5_datum_aktualisering.before_2000",
        "reject",
    ),
    (
        "v117 before v5",
        dict(
            v117_datum_insats="2023-01-01",
            v118_insatser_4="1",
            v126_typ_av_insats="1",
            v127_samverkan_5="1",
        ),
        "v117_datum_insats.not_before_v5",
        "error",
    ),
    (
        "v117 after round close",
        dict(
            v117_datum_insats="2023-07-03",
            v118_insatser_4="1",
            v126_typ_av_insats="1",
            v127_samverkan_5="1",
        ),
        "v117_datum_insats.after_round_close",
        "error",
    ),
    (
        "v256 without v257",
        dict(v256_datum_avslut="2023-03-01", v161_genomforande="1", v192_maluppfoljning="1"),
        "v257_avslutsorsak.required_when_closed",
        "error",
    ),
    (
        "v257 without v256",
        dict(v257_avslutsorsak="1"),
        "v256_datum_avslut.required_when_closed",
        "error",
    ),
    (
        "uppföljning in open case",
        dict(v192_maluppfoljning="1"),
        "v192_maluppfoljning.only_when_closed",
        "error",
    ),
    (
        "brukarenkät in open case",
        dict(v217_klientforslag="Mer stöd"),
        "v217_klientforslag.only_when_closed",
        "error",
    ),
    ("risk instrument", dict(v90_1_instrument="9"), "v90_1_instrument.in_set", "error"),
    ("risk score", dict(v90_1_skattning="11"), "v90_1_skattning.in_scale", "error"),
    ("risk time point", dict(v90_1_tidpunkt="4"), "v90_1_tidpunkt.in_set", "error"),
    (
        "risk slot gap",
        dict(v90_3_tidpunkt="2", v90_3_instrument="1", v90_3_skattning="3"),
        "v90_3.after_previous",
        "error",
    ),
    (
        "risk order",
        dict(v90_1_tidpunkt="2", v90_2_tidpunkt="1", v90_2_instrument="1", v90_2_skattning="3"),
        "v90_2_tidpunkt.not_decreasing",
        "error",
    ),
    ("v118 without v117", dict(v118_insatser_10="1"), "v118_insatser.only_with_v117", "warn"),
    (
        "v117 without v118",
        dict(v117_datum_insats="2023-02-01", v126_typ_av_insats="1", v127_samverkan_5="1"),
        "v118_insatser.required_with_v117",
        "warn",
    ),
    (
        "v203 without improvement",
        "closed:v202_forandring_valdsutsatthet=3",
        "v203_insatsernas_betydelse.requires_v202",
        "warn",
    ),
    ("missing v192", "closed:v192_maluppfoljning=", "v192_maluppfoljning.missing", "warn"),
    (
        "missing v126",
        dict(v117_datum_insats="2023-02-01", v118_insatser_4="1", v127_samverkan_5="1"),
        "v126_typ_av_insats.missing",
        "warn",
    ),
]


@pytest.mark.parametrize(
    "overrides, rule_id, severity", [c[1:] for c in ROW_CASES], ids=[c[0] for c in ROW_CASES]
)
def test_row_rule(clean_warehouse, overrides, rule_id, severity):
    if isinstance(overrides, str):  # "closed:column=value": a closed case with one change
        column, value = overrides.removeprefix("closed:").split("=")
        overrides = {k: v for k, v in closed_row(**{column: value}).items() if k != "v4_klient"}
    result, upload_id = gate(clean_warehouse, [valid_row(**({"v4_klient": "X-1"} | overrides))])
    found = findings(clean_warehouse, upload_id)
    assert (FIRST, rule_id, severity) in found, found
    # Only the crafted row has findings.
    assert {row for row, _, _ in found} == {FIRST}
    assert result.outcome == "accepted"  # 1 of 10 rows is under the share limit
    assert (result.rows_rejected, result.rows_with_errors) == (
        int(severity == "reject"),
        int(severity == "error"),
    )
    rule = rules_by_id()[rule_id]
    assert rule.message and rule.hint
    assert any(ch in rule.message + rule.hint for ch in "åäöÅÄÖ") or " " in rule.message
    # GX (flag or native expectation) agrees with the SQL.
    with clean_warehouse.connect() as conn:
        gx_ok, gx_count, count = conn.execute(
            sa.text(
                "SELECT gx_success, gx_unexpected_count, unexpected_count"
                " FROM quality.expectation_results WHERE run_id = :r AND rule_id = :id"
            ),
            {"r": result.run_id, "id": rule_id},
        ).one()
    assert count == 1 and gx_ok is False and gx_count in (1, None)


def test_swedish_messages_are_plain():
    rule = rules_by_id()["v14_kon.in_set"]
    assert rule.message == (
        "Koden finns inte i kodlistan. Ärendet räknas; uppgiften räknas som "
        "saknad tills den är rättad."
    )
    assert rule.hint == "Ange 1 (Kvinna) eller 2 (Man)."
    assert "18–110" in rules_by_id()["v15_alder.in_range"].message
    assert "yngre än 18 år" in rules_by_id()["v15_alder.out_of_scope"].message


def test_only_rows_that_are_not_cases_are_rejected():
    """The principle of docs/quality-rules.md: a row is rejected only when its case key cannot
    be read, it was aktualiserad after the round closed or before the earliest date (before the
    collection could exist), the klient is under 18 or the key is repeated; every other rule
    keeps the case (error or warning), or blocks the whole file."""
    rejecting = {rule.rule_id for rule in build_rules() if rule.severity == "reject"}
    assert rejecting == {
        "v2_kommun.required",
        "v4_klient.required",
        "v5_datum_aktualisering.required",
        "v5_datum_aktualisering.date_format",
        "v5_datum_aktualisering.real_date",
        "v5_datum_aktualisering.after_round_close",
        "v5_datum_aktualisering.before_2000",
        "v15_alder.out_of_scope",
        "case_key.unique",
    }
    assert {rule.rule_id for rule in build_rules() if rule.severity == "block"} == {
        "structure.columns",
        "v2_kommun.matches_upload",
    }


def test_duplicate_case_key_rejects_the_later_row(clean_warehouse):
    row = valid_row(v4_klient="DUP")
    _, upload_id = gate(clean_warehouse, [row, dict(row, v4_klient=" DUP ")])
    found = findings(clean_warehouse, upload_id)
    assert (FIRST + 1, "case_key.unique", "reject") in found
    assert (FIRST, "case_key.unique", "reject") not in found


def test_wrong_kommun_blocks_the_file(clean_warehouse):
    result, upload_id = gate(clean_warehouse, [valid_row(v4_klient="X", v2_kommun="0181")])
    assert result.outcome == "blocked"
    assert "Kommunkoden" in result.reason
    with clean_warehouse.connect() as conn:
        status, reason, decided = conn.execute(
            sa.text(
                "SELECT status, status_reason, decided_at FROM raw.uploads WHERE upload_id = :u"
            ),
            {"u": upload_id},
        ).one()
        sample = conn.execute(
            sa.text(
                "SELECT sample_rows FROM quality.expectation_results WHERE run_id = :r"
                " AND rule_id = 'v2_kommun.matches_upload'"
            ),
            {"r": result.run_id},
        ).scalar()
    assert status == "blocked" and reason.startswith("Filen stoppades") and decided
    assert sample == [FIRST]


def test_too_many_rejected_rows_block(clean_warehouse):
    bad = [valid_row(v4_klient=f"B{i}", v15_alder="16") for i in range(3)]
    result, _ = gate(clean_warehouse, bad)  # 3 of 12 = 25 % > 20 % are not cases
    assert result.outcome == "blocked"
    assert "för många rader" in result.reason


def test_empty_upload_is_blocked(clean_warehouse):
    upload_id = add_upload(clean_warehouse, [])
    result = run_quality_gate(upload_id, clean_warehouse)
    assert result.outcome == "blocked" and "inga ärenderader" in result.reason


def test_missing_column_blocks(clean_warehouse):
    upload_id = add_upload(clean_warehouse, [valid_row()])
    try:
        with clean_warehouse.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE raw.case_records DROP COLUMN v217_klientforslag")
        result = run_quality_gate(upload_id, clean_warehouse)
    finally:
        warehouse.ensure_schema(clean_warehouse)
    assert result.outcome == "blocked"
    assert "v217_klientforslag" in result.reason
    assert result.failed_rules == {"structure.columns": 1}


# --- status transitions ----------------------------------------------------------------------


def _rows_snapshot(engine, upload_id):
    with engine.connect() as conn:
        return (
            conn.execute(
                sa.text("SELECT * FROM raw.uploads WHERE upload_id = :u"), {"u": upload_id}
            ).one(),
            conn.execute(
                sa.text("SELECT * FROM raw.case_records WHERE upload_id = :u ORDER BY source_row"),
                {"u": upload_id},
            ).all(),
        )


def test_blocked_upload_leaves_earlier_accepted_untouched(clean_warehouse):
    first = add_upload(clean_warehouse, [valid_row()])
    assert run_quality_gate(first, clean_warehouse).outcome == "accepted"
    before = _rows_snapshot(clean_warehouse, first)
    second = add_upload(clean_warehouse, [valid_row(v2_kommun="9999")])
    assert run_quality_gate(second, clean_warehouse).outcome == "blocked"
    assert _rows_snapshot(clean_warehouse, first) == before
    assert before[0].status == "accepted"


def test_accepted_upload_supersedes_the_earlier_one(clean_warehouse):
    first = add_upload(clean_warehouse, [valid_row()])
    other_round = add_upload(
        clean_warehouse, [valid_row(v5_datum_aktualisering="2022-01-10")], round_id="2022-12"
    )
    second = add_upload(clean_warehouse, [valid_row(), valid_row(v4_klient="K-002")])
    results = run_pending(clean_warehouse)
    assert [r.upload_id for r in results] == [first, other_round, second]
    with clean_warehouse.connect() as conn:
        status = dict(
            conn.execute(
                sa.text(
                    "SELECT upload_id, status || ':' || COALESCE(superseded_by::text, '')"
                    " FROM raw.uploads"
                )
            ).all()
        )
    assert status == {first: f"superseded:{second}", other_round: "accepted:", second: "accepted:"}
    with pytest.raises(ValueError):
        run_quality_gate(second, clean_warehouse)  # decided uploads are not re-run


# --- suite -----------------------------------------------------------------------------------


def test_committed_gx_project_is_up_to_date():
    """The suite, validation definition and checkpoints under expectations/ are what the rules
    generate (the gate runs these files: tests/test_gx_project.py)."""
    for relative, text in gx_project_files().items():
        committed = PROJECT_ROOT / "expectations" / relative
        assert committed.exists(), f"{committed} missing: run sukvinnofrid generate-artifacts"
        assert committed.read_text(encoding="utf-8") == text, (
            f"{committed} is stale: run sukvinnofrid generate-artifacts"
        )
    assert f"expectations/{SUITE_NAME}.json" in gx_project_files()
    assert '"rule_id": "v14_kon.in_set"' in gx_project_files()[f"expectations/{SUITE_NAME}.json"]


# --- feedback --------------------------------------------------------------------------------


def test_compress_rows():
    assert compress_rows([2, 3, 4, 5, 9, 12, 13]) == "2–5, 9, 12–13"
    assert compress_rows(list(range(2, 200, 2))).endswith("och 79 till")


def test_feedback_report_is_swedish_and_escaped(clean_warehouse):
    evil = "=cmd|' /C calc'!A0"
    rows = [
        valid_row(v4_klient="A", v14_kon=evil),
        valid_row(v4_klient="B", v59_hedersrelaterat=""),
    ]
    result, upload_id = gate(clean_warehouse, rows, file_name="<script>alert(1)</script>.csv")
    assert result.outcome == "accepted"
    md_path = write_feedback(upload_id, clean_warehouse)
    html_path = md_path.with_suffix(".html")
    assert md_path.parent.parts[-2:] == (KOMMUN, ROUND)
    md, page = md_path.read_text(encoding="utf-8"), html_path.read_text(encoding="utf-8")
    for text in (md, page):
        assert "Godkänd, med anmärkningar nedan" in text
        assert "Fel: rätta till nästa omgång (ärendet räknas)" in text
        assert "Kön (14)" in text
        assert "Koden finns inte i kodlistan. Ärendet räknas" in text
        assert "Ange 1 (Kvinna) eller 2 (Man)." in text
        assert "Mottagna rader" in text and "Saknade registreringar per fas" in text
        assert "<script>" not in text
        assert "=cmd" in text
        assert all(text[i - 1] == "'" for i in _find_all(text, "=cmd"))
    assert "&lt;script&gt;" in page
    assert str(FIRST) in md  # the row number of the wrong code


def _find_all(text: str, needle: str) -> list[int]:
    found, start = [], 0
    while (i := text.find(needle, start)) >= 0:
        found.append(i)
        start = i + 1
    return found


def test_feedback_for_upload_blocked_at_intake(clean_warehouse):
    upload_id = add_upload(
        clean_warehouse,
        [],
        status="blocked",
        status_reason="Filen innehåller personnummer på rad 4.",
    )
    md = write_feedback(upload_id, clean_warehouse).read_text(encoding="utf-8")
    assert "Stoppad" in md
    assert "redan vid mottagningen" in md
    assert "personnummer på rad 4" in md


def test_feedback_for_blocked_upload_lists_rows(clean_warehouse):
    rows = [valid_row(v4_klient=f"W{i}", v2_kommun="0181") for i in range(25)]
    upload_id = add_upload(clean_warehouse, rows)
    run_quality_gate(upload_id, clean_warehouse)
    md = write_feedback(upload_id, clean_warehouse).read_text(encoding="utf-8")
    assert "Stoppad" in md and "Kommun/stadsdel (2)" in md
    assert "2–26" in md


# --- batches ---------------------------------------------------------------------------------


def _batch_uploads(engine) -> list[int]:
    """Uploads covering every decision: clean, rejected rows, blocked, superseded, empty."""

    def clean(kommun):
        return [valid_row(v2_kommun=kommun, v4_klient=f"OK-{i}") for i in range(9)]

    return [
        add_upload(engine, clean("1480"), kommun="1480", file_name="clean.csv"),
        add_upload(
            engine,
            clean("1280")
            + [
                valid_row(v2_kommun="1280", v4_klient="R", v14_kon="9", v15_alder="12"),
                valid_row(v2_kommun="1280", v4_klient="E", v14_kon="9"),
            ],
            kommun="1280",
            file_name="rejected.csv",
        ),
        add_upload(
            engine,
            clean(KOMMUN) + [valid_row(v4_klient="W", v2_kommun="0181")],
            file_name="wrong_kommun.csv",
        ),
        add_upload(
            engine,
            clean("0380")
            + [
                valid_row(v2_kommun="0380", v4_klient="D"),
                valid_row(v2_kommun="0380", v4_klient=" D "),
            ],
            kommun="0380",
            file_name="first.csv",
        ),
        add_upload(engine, [], kommun="0580", file_name="empty.csv"),
        add_upload(
            engine,
            clean("0380") + [closed_row(v2_kommun="0380", v4_klient="C", v192_maluppfoljning="")],
            kommun="0380",
            file_name="second.csv",
        ),
        add_upload(
            engine,
            [valid_row(v2_kommun="0380", v4_klient=f"B{i}", v15_alder="17") for i in range(3)]
            + clean("0380")[:3],
            kommun="0380",
            file_name="too_many.csv",
        ),
    ]


def _decisions(engine) -> list[tuple]:
    """Everything the gate stored, per upload in upload order (ids and times left out)."""
    with engine.connect() as conn:
        uploads = conn.execute(
            sa.text(
                "SELECT upload_id, file_name, status, status_reason, superseded_by"
                " FROM raw.uploads ORDER BY upload_id"
            )
        ).all()
        name = {u.upload_id: u.file_name for u in uploads}
        out = []
        for u in uploads:
            run = conn.execute(
                sa.text(
                    "SELECT run_id, rows_received, rows_rejected, rows_with_errors, rows_warned,"
                    " outcome,"
                    " outcome_reason FROM quality.validation_runs WHERE upload_id = :u"
                ),
                {"u": u.upload_id},
            ).one()
            results = conn.execute(
                sa.text(
                    "SELECT rule_id, severity, success, unexpected_count, element_count,"
                    " sample_rows, example_values FROM quality.expectation_results"
                    " WHERE run_id = :r ORDER BY rule_id"
                ),
                {"r": run.run_id},
            ).all()
            found = conn.execute(
                sa.text(
                    "SELECT source_row, rule_id, severity FROM quality.row_findings"
                    " WHERE run_id = :r AND upload_id = :u ORDER BY 1, 2"
                ),
                {"r": run.run_id, "u": u.upload_id},
            ).all()
            out.append(
                (
                    u.file_name,
                    u.status,
                    u.status_reason,
                    name.get(u.superseded_by),
                    tuple(run[1:]),
                    [tuple(r) for r in results],
                    [tuple(f) for f in found],
                )
            )
    return out


def test_gate_runs_started_together_take_turns_and_decide_each_upload_once(clean_warehouse):
    """su_feedback and su_round's safety net may start a gate run at the same moment: both end
    without an error, and each upload is decided once, by one of them, as a single run would."""
    uploads = _batch_uploads(clean_warehouse)
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(run_pending, clean_warehouse) for _ in range(2)]
        results = [run.result() for run in runs]
    assert sorted(r.upload_id for run in results for r in run) == uploads
    assert scalar(clean_warehouse, "SELECT count(*) FROM quality.validation_runs") == len(uploads)
    assert [(name, status) for name, status, *_ in _decisions(clean_warehouse)] == [
        ("clean.csv", "accepted"),
        ("rejected.csv", "accepted"),
        ("wrong_kommun.csv", "blocked"),
        ("first.csv", "superseded"),
        ("empty.csv", "blocked"),
        ("second.csv", "accepted"),
        ("too_many.csv", "blocked"),
    ]


def test_batch_decides_like_one_by_one(clean_warehouse):
    one_by_one = [run_quality_gate(u, clean_warehouse) for u in _batch_uploads(clean_warehouse)]
    expected = _decisions(clean_warehouse)
    wipe_warehouse(clean_warehouse)

    uploads = _batch_uploads(clean_warehouse)
    results = run_pending(clean_warehouse)
    assert [r.upload_id for r in results] == uploads
    assert _decisions(clean_warehouse) == expected
    assert [
        (r.outcome, r.status, r.rows_rejected, r.rows_with_errors, r.rows_warned, r.failed_rules)
        for r in results
    ] == [
        (r.outcome, r.status, r.rows_rejected, r.rows_with_errors, r.rows_warned, r.failed_rules)
        for r in one_by_one
    ]
    statuses = [(name, status, superseded_by) for name, status, _, superseded_by, *_ in expected]
    assert statuses == [
        ("clean.csv", "accepted", None),
        ("rejected.csv", "accepted", None),
        ("wrong_kommun.csv", "blocked", None),
        ("first.csv", "superseded", "second.csv"),
        ("empty.csv", "blocked", None),
        ("second.csv", "accepted", None),
        ("too_many.csv", "blocked", None),
    ]
    # One GX validation and one Data Docs site for the whole batch; run ids in upload order.
    with clean_warehouse.connect() as conn:
        runs = conn.execute(
            sa.text(
                "SELECT run_id, data_docs_path, gx_success FROM quality.validation_runs"
                " WHERE rows_received > 0 ORDER BY upload_id"
            )
        ).all()
    assert len({r.data_docs_path for r in runs}) == 1
    # The batch's page in the one Data Docs site: validations/<suite>/run_<first run id>/...
    page = Path(runs[0].data_docs_path)
    site = Path(os.environ["SUKF_OUTPUT"]) / "data_docs"
    assert page.relative_to(site).parts[:3] == ("validations", SUITE_NAME, f"run_{runs[0].run_id}")
    assert results[0].data_docs_path == page and page.exists()
    assert [r.run_id for r in runs] == sorted(r.run_id for r in runs)
    assert {r.gx_success for r in runs} == {False}  # the batch has failing rows


def test_batch_of_twenty(clean_warehouse):
    codes = sorted(kommuner())[:20]
    uploads = [
        add_upload(
            clean_warehouse,
            [valid_row(v2_kommun=code, v4_klient=f"K{i}") for i in range(10)]
            + (
                [
                    valid_row(v2_kommun=code, v4_klient="X", v14_kon="7"),
                    valid_row(v2_kommun=code, v4_klient="Y", v15_alder="17"),
                ]
                if n % 4 == 0
                else []
            ),
            kommun=code,
        )
        for n, code in enumerate(codes)
    ]
    results = run_pending(clean_warehouse)
    assert [r.upload_id for r in results] == uploads
    assert {r.status for r in results} == {"accepted"}
    assert [(r.rows_rejected, r.rows_with_errors) for r in results] == [
        (1, 1) if n % 4 == 0 else (0, 0) for n in range(20)
    ]
    for n, upload_id in enumerate(uploads):
        expected = (
            {(12, "v14_kon.in_set", "error"), (13, "v15_alder.out_of_scope", "reject")}
            if n % 4 == 0
            else set()
        )
        assert findings(clean_warehouse, upload_id) == expected


def test_one_failing_decision_does_not_lose_the_others(clean_warehouse, monkeypatch):
    from sukvinnofrid.quality import gate as gate_module

    first = add_upload(clean_warehouse, [valid_row()])
    broken = add_upload(clean_warehouse, [valid_row(v2_kommun="1480")], kommun="1480")
    last = add_upload(clean_warehouse, [valid_row(v2_kommun="0380")], kommun="0380")
    decide = gate_module._decide

    def failing(eng, upload, run_id, batch):
        if upload["upload_id"] == broken:
            raise RuntimeError("simulated failure")
        return decide(eng, upload, run_id, batch)

    monkeypatch.setattr(gate_module, "_decide", failing)
    with pytest.raises(gate_module.GateError) as error:
        run_pending(clean_warehouse)
    assert error.value.failed == [broken]
    assert [r.upload_id for r in error.value.results] == [first, last]
    with clean_warehouse.connect() as conn:
        status = dict(conn.execute(sa.text("SELECT upload_id, status FROM raw.uploads")).all())
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM quality.validation_runs WHERE upload_id = :u"),
                {"u": broken},
            ).scalar()
            == 0
        )
        assert (
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'quality'"
                    " AND tablename LIKE 'gate\\_%'"
                )
            ).scalar()
            == 0
        )
    assert status == {first: "accepted", broken: "landed", last: "accepted"}
    monkeypatch.undo()
    assert [r.upload_id for r in run_pending(clean_warehouse)] == [broken]


def test_failing_batch_falls_back_to_one_by_one(clean_warehouse, monkeypatch):
    from sukvinnofrid.quality import gate as gate_module

    first = add_upload(clean_warehouse, [valid_row()])
    second = add_upload(clean_warehouse, [valid_row(v2_kommun="1480")], kommun="1480")
    run_gx = gate_module._run_gx

    def failing(url, name, table, rules, result_format):
        with clean_warehouse.connect() as conn:
            uploads = conn.exec_driver_sql(
                f"SELECT count(DISTINCT upload_id) FROM {table}"
            ).scalar()
        if uploads > 1:
            raise RuntimeError("simulated batch failure")
        return run_gx(url, name, table, rules, result_format)

    monkeypatch.setattr(gate_module, "_run_gx", failing)
    results = run_pending(clean_warehouse)
    assert [(r.upload_id, r.status) for r in results] == [(first, "accepted"), (second, "accepted")]
    assert results[0].data_docs_path != results[1].data_docs_path


def test_riket_comparison_is_per_round(clean_warehouse):
    """Uploads are cumulative extracts: the riket column of a report compares with the accepted
    uploads of the same round only, not with the same cases again from other rounds."""
    from sukvinnofrid.quality.feedback import riket_missing_shares, upload_missing_shares

    earlier = add_upload(
        clean_warehouse,
        [valid_row(v4_klient=f"A{n}", v59_hedersrelaterat="") for n in range(4)],
        round_id="2022-12",
        status="accepted",
    )
    later = add_upload(
        clean_warehouse, [valid_row(v4_klient=f"A{n}") for n in range(4)], status="accepted"
    )
    add_upload(
        clean_warehouse,
        [valid_row(v59_hedersrelaterat="")],
        status="blocked",
        file_name="not_counted.csv",
    )
    riket = riket_missing_shares(["2022-12", ROUND], clean_warehouse)
    uploads = upload_missing_shares([earlier, later], clean_warehouse)
    assert riket == {"2022-12": uploads[earlier], ROUND: uploads[later]}
    assert riket["2022-12"] != riket[ROUND]


def test_a_file_whose_round_or_kommun_cannot_be_read_gets_a_named_feedback_folder():
    """Round 2023-13 is blocked at intake with an empty round: its report is filed under
    okand_omgang (and a missing kommun under okand_kommun), never under '_'."""
    from sukvinnofrid.quality.feedback import report_path

    assert report_path(7, "0180", "").parts[-3:] == ("0180", "okand_omgang", "upload_7.md")
    assert report_path(7, "", "").parts[-3:] == ("okand_kommun", "okand_omgang", "upload_7.md")
    assert report_path(7, "../..", "2023-06").parts[-3:] == (
        "okand_kommun",
        "2023-06",
        "upload_7.md",
    )
    assert report_path(7, "0180-EAV", "2023-06").parts[-3:] == (
        "0180-EAV",
        "2023-06",
        "upload_7.md",
    )
