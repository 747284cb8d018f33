"""Every named defect of the synthetic generator, through intake and the quality gate.

One small file per defect (30 cases, its own kommun, round 2023-12, the default CSV format) and
one clean file per format are landed with `intake.land_upload`, then gated in one batch
(`gate.run_pending`). Each defect has an explicit expected outcome below, so a new defect
without an expectation fails the test.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import sqlalchemy as sa

from sukvinnofrid import intake, reference, synthetic
from sukvinnofrid.quality import gate
from sukvinnofrid.quality.rules import build_rules

ROUND = "2023-12"
CASES = 30

# Outcomes:
#   ("intake", phrase)  blocked at intake, raw.uploads.status_reason contains the phrase
#   ("reject", rule_id) the rule rejects the row the Defect names (it is not a case in scope);
#                       the upload is accepted
#   ("error", rule_id)  the rule finds an error in the row the Defect names: the case counts,
#                       the value as a missing registration; the upload is accepted
#   ("warn", rule_id)   the rule warns about the row the Defect names; the upload is accepted
#   ("gate", rule_id)   the whole file is blocked by the gate (a block rule)
#   ("accepted", None)  accepted with no findings but the by-design missing registrations
#                       (plus `note`: a phrase the decision must carry, see NOTES)
EXPECTED: dict[str, tuple[str, str | None]] = {
    "personnummer_in_klient": ("intake", "personnummer"),
    "personnummer_in_comment": ("intake", "personnummer"),
    "missing_required_column": ("intake", "obligatoriska kolumner"),
    "unknown_extra_column": ("accepted", None),
    # Intake already compares v2_kommun of every row with the file's kommun; the gate's
    # block rule v2_kommun.matches_upload is the second line of defence.
    "wrong_kommun_in_rows": ("intake", "bara innehålla den egna kommunens"),
    "bad_date_format": ("reject", "v5_datum_aktualisering.date_format"),
    "date_order": ("error", "v256_datum_avslut.not_before_v5"),
    "insats_before_aktualisering": ("error", "v117_datum_insats.not_before_v5"),
    "date_after_round_close": ("error", "v117_datum_insats.after_round_close"),
    "date_before_2000": ("reject", "v5_datum_aktualisering.before_2000"),
    "unknown_code": ("error", "v67_valdets_grad.in_set"),
    "multi_choice_bad_value": ("error", "v49_initiativ_1.in_set"),
    "age_out_of_range": ("reject", "v15_alder.out_of_scope"),
    "age_not_integer": ("error", "v15_alder.integer"),
    "kon_invalid": ("error", "v14_kon.in_set"),
    # v257 without v256: the case is closed, its date of closing missing
    "avslutsorsak_without_avslut": ("error", "v256_datum_avslut.required_when_closed"),
    "avslut_without_avslutsorsak": ("error", "v257_avslutsorsak.required_when_closed"),
    "brukarenkat_in_open_case": ("error", "v202_forandring_valdsutsatthet.only_when_closed"),
    "maluppfoljning_in_open_case": ("error", "v192_maluppfoljning.only_when_closed"),
    "v203_without_improvement": ("warn", "v203_insatsernas_betydelse.requires_v202"),
    "insats_without_date": ("warn", "v118_insatser.only_with_v117"),
    "date_without_insats": ("warn", "v118_insatser.required_with_v117"),
    "duplicate_case_key": ("reject", "case_key.unique"),
    "risk_bad_instrument": ("error", "v90_1_instrument.in_set"),
    "risk_score_out_of_scale": ("error", "v90_1_skattning.in_scale"),
    "risk_bad_time_point": ("error", "v90_1_tidpunkt.in_set"),
    "risk_time_points_out_of_order": ("error", "v90_2_tidpunkt.not_decreasing"),
    "empty_file": ("intake", "tom (0 byte)"),
    "header_only": ("intake", "inga ärenden"),
    "binary_junk": ("intake", "binära"),
    "utf16": ("intake", "UTF-16"),
    "formula_injection": ("accepted", None),
}
# Phrases an accepted upload's decision (raw.uploads.status_reason) must carry.
NOTES = {"unknown_extra_column": "Okända kolumner har inte sparats: lokal_variabel"}

# Findings a clean generated file may have: the missing registrations the generator makes by
# design, as the report's data has them (synthetic.MISSING_REGISTRATIONS): optional variables
# left blank once their phase is reached, kön and ålder missing, closed cases without a date or
# a reason for closing, insatser without a start date, v203 answered without an improvement.
ALLOWED_CLEAN = frozenset(
    [rule.rule_id for rule in build_rules() if rule.family == "missing"]
    + [
        "v14_kon.required",
        "v15_alder.required",
        "v256_datum_avslut.required_when_closed",
        "v257_avslutsorsak.required_when_closed",
        "v118_insatser.only_with_v117",
        "v203_insatsernas_betydelse.requires_v202",
    ]
)


def _codes(n: int) -> list[str]:
    return sorted(reference.kommuner())[:n]


@functools.cache
def _corpus(engine, directory: Path) -> dict:
    """Generate, land and gate (one batch) the whole corpus; a snapshot of what happened."""
    names = sorted(synthetic.DEFECTS)
    formats = sorted(synthetic.FORMATS)
    codes = _codes(len(names) + len(formats))
    by_defect = dict(zip(names, codes[: len(names)], strict=True))
    by_format = dict(zip(formats, codes[len(names) :], strict=True))
    files = synthetic.generate_round_files(
        directory,
        codes,
        [ROUND],
        cases_per_kommun=CASES,
        seed=11,
        formats={code: fmt for fmt, code in by_format.items()},
        defects={(code, ROUND): [name] for name, code in by_defect.items()},
    )
    by_kommun = {f.kommun_kod: f for f in files}
    landed = {f.kommun_kod: intake.land_upload(f.path, engine) for f in files}
    results = {r.upload_id: r for r in gate.run_pending(engine)}
    with engine.connect() as conn:
        uploads = {
            row.upload_id: row
            for row in conn.execute(
                sa.text("SELECT upload_id, kommun_kod, status, status_reason FROM raw.uploads")
            )
        }
        findings: dict[int, set] = {}
        for upload_id, source_row, rule_id, severity in conn.execute(
            sa.text("SELECT upload_id, source_row, rule_id, severity FROM quality.row_findings")
        ):
            findings.setdefault(upload_id, set()).add((source_row, rule_id, severity))
        failed_blocks = {}
        for upload_id, rule_id in conn.execute(
            sa.text(
                "SELECT v.upload_id, e.rule_id FROM quality.expectation_results e"
                " JOIN quality.validation_runs v USING (run_id)"
                " WHERE e.severity = 'block' AND NOT e.success"
            )
        ):
            failed_blocks.setdefault(upload_id, set()).add(rule_id)

    def snapshot(code: str) -> dict:
        upload_id = landed[code].upload_id
        return {
            "file": by_kommun[code],
            "intake": landed[code],
            "upload": uploads[upload_id],
            "gate": results.get(upload_id),
            "findings": findings.get(upload_id, set()),
            "blocks": failed_blocks.get(upload_id, set()),
        }

    return {
        "defects": {name: snapshot(code) for name, code in by_defect.items()},
        "formats": {fmt: snapshot(code) for fmt, code in by_format.items()},
    }


@pytest.fixture
def corpus(clean_warehouse, tmp_path_factory):
    # Built once, in the clean warehouse of the first test that asks for it; later tests
    # only read the snapshot.
    return _corpus(clean_warehouse, tmp_path_factory.getbasetemp() / "defect_corpus")


def test_every_defect_has_an_expectation():
    assert set(EXPECTED) == set(synthetic.DEFECTS), (
        "add the expected outcome of new defects to EXPECTED (and drop removed ones)"
    )


@pytest.mark.parametrize("name", sorted(synthetic.DEFECTS))
def test_defect(corpus, name):
    assert name in EXPECTED, f"no expected outcome for defect {name!r}: add it to EXPECTED"
    outcome, detail = EXPECTED[name]
    case = corpus["defects"][name]
    upload, found = case["upload"], case["findings"]
    defects = [d for d in case["file"].defects if d.name == name]
    assert len(defects) == 1, case["file"].defects
    defect = defects[0]
    unexpected = {
        f for f in found if f[1] not in ALLOWED_CLEAN or (f[0], f[1]) == (defect.source_row, detail)
    }

    if outcome == "intake":
        assert case["intake"].status == "blocked", case["intake"]
        assert upload.status == "blocked" and case["gate"] is None
        assert detail in upload.status_reason, upload.status_reason
        if defect.source_row is not None:  # the kommun is told where
            assert f"rad {defect.source_row}," in upload.status_reason, upload.status_reason
        assert found == set()
        return
    assert case["intake"].status == "landed", case["intake"].message
    assert case["gate"] is not None
    if outcome == "gate":
        assert upload.status == "blocked" and upload.status_reason.startswith("Filen stoppades")
        assert detail in case["blocks"]
        return
    assert upload.status == "accepted", upload.status_reason
    assert case["blocks"] == set()
    if outcome == "accepted":
        assert unexpected == set(), unexpected
        assert case["gate"].rows_rejected == 0
        if name in NOTES:
            assert NOTES[name] in upload.status_reason, upload.status_reason
        return
    severity = outcome
    assert defect.source_row is not None
    assert (defect.source_row, detail, severity) in found, sorted(unexpected)
    # Nothing else is wrong in the file: only the defect's row has findings beyond the
    # by-design missing registrations.
    assert {row for row, _, _ in unexpected} == {defect.source_row}, sorted(unexpected)
    assert case["gate"].rows_rejected == (1 if severity == "reject" else 0)


@pytest.mark.parametrize("fmt", sorted(synthetic.FORMATS))
def test_clean_file_in_every_format(corpus, fmt):
    case = corpus["formats"][fmt]
    assert case["intake"].status == "landed", case["intake"].message
    assert case["upload"].status == "accepted", case["upload"].status_reason
    assert case["gate"].rows_received == case["file"].rows > 0
    assert {rule_id for _, rule_id, _ in case["findings"]} <= ALLOWED_CLEAN
    assert case["gate"].rows_rejected == 0


def test_clean_round_has_only_missing_registrations(clean_warehouse, tmp_path):
    codes = ["0180", "1480", "0380", "1280"]
    files = synthetic.generate_round_files(
        tmp_path, codes, ["2023-06", "2023-12"], cases_per_kommun=40, seed=5
    )
    assert all(intake.land_upload(f.path, clean_warehouse).status == "landed" for f in files)
    results = gate.run_pending(clean_warehouse)
    assert len(results) == len(files) == 8
    assert {r.status for r in results} == {"accepted"}, [r.reason for r in results]
    with clean_warehouse.connect() as conn:
        found = set(
            conn.execute(sa.text("SELECT DISTINCT rule_id FROM quality.row_findings")).scalars()
        )
        failed = set(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT rule_id FROM quality.expectation_results WHERE NOT success"
                )
            ).scalars()
        )
    assert found <= ALLOWED_CLEAN, found - ALLOWED_CLEAN
    assert failed <= ALLOWED_CLEAN, failed - ALLOWED_CLEAN
    assert found, "the generator leaves some optional variables blank by design"


def _dump(engine, upload_id: int):
    with engine.connect() as conn:
        return (
            conn.execute(
                sa.text("SELECT * FROM raw.uploads WHERE upload_id = :u"), {"u": upload_id}
            ).one(),
            conn.execute(
                sa.text("SELECT * FROM raw.case_records WHERE upload_id = :u ORDER BY source_row"),
                {"u": upload_id},
            ).all(),
            conn.execute(
                sa.text("SELECT count(*) FROM quality.validation_runs WHERE upload_id = :u"),
                {"u": upload_id},
            ).scalar(),
        )


def test_blocked_uploads_leave_the_accepted_upload_untouched(clean_warehouse, tmp_path):
    kommun = "0180"
    first = synthetic.generate_round_files(
        tmp_path / "first", [kommun], [ROUND], cases_per_kommun=CASES, seed=3
    )[0]
    landed = intake.land_upload(first.path, clean_warehouse)
    assert gate.run_pending(clean_warehouse)[0].status == "accepted"
    before = _dump(clean_warehouse, landed.upload_id)
    assert before[0].status == "accepted" and len(before[1]) == first.rows

    # Blocked at intake (personnummer), and blocked by the gate (3 of 3 rows rejected).
    privacy = synthetic.generate_round_files(
        tmp_path / "privacy",
        [kommun],
        [ROUND],
        cases_per_kommun=CASES,
        seed=3,
        defects={(kommun, ROUND): ["personnummer_in_klient"]},
    )[0]
    rejected = synthetic.generate_round_files(
        tmp_path / "rejected",
        [kommun],
        [ROUND],
        cases_per_kommun=3,
        seed=4,
        defects={(kommun, ROUND): ["kon_invalid", "age_out_of_range", "unknown_code"]},
    )[0]
    assert intake.land_upload(privacy.path, clean_warehouse).status == "blocked"
    assert intake.land_upload(rejected.path, clean_warehouse).status == "landed"
    results = gate.run_pending(clean_warehouse)
    assert [r.status for r in results] == ["blocked"]
    assert "för många rader" in results[0].reason
    assert _dump(clean_warehouse, landed.upload_id) == before
