"""The whole chain through the real Airflow DAGs (`airflow dags test`) on the embedded Postgres:
every task succeeds on its first try, with the result (XCom) it should have."""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from conftest import scalar
from sukvinnofrid import airflow_local, audit
from sukvinnofrid.synthetic import generate_round_files

pytestmark = pytest.mark.slow

KOMMUNER = {
    "0126": "xlsx",
    "0580": "csv-comma-utf8-bom",
    "0586": "csv-semicolon-cp1252",
    "2380": "csv-semicolon-utf8",
}
ROUND = "2023-12"


def rows_of(path: Path):
    """Read a generated file independently of the pipeline's reader."""
    if path.suffix == ".xlsx":
        sheet = openpyxl.load_workbook(path, read_only=True)["Ärenden"]
        values = [
            ["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)
        ]
        header, body = values[0], values[1:]
    else:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252")
        delimiter = (
            ";" if text.splitlines()[0].count(";") > text.splitlines()[0].count(",") else ","
        )
        header, *body = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return [dict(zip(header, row, strict=True)) for row in body if any(row)]


def stored_gate_runs(engine) -> dict[int, dict]:
    """Each upload's gate run as the warehouse stored it."""
    with engine.connect() as conn:
        return {
            row.upload_id: dict(row._mapping)
            for row in conn.execute(
                sa.text(
                    "SELECT u.upload_id, u.kommun_kod, u.round_id, u.status, r.outcome, "
                    "r.rows_received,"
                    " r.rows_rejected, r.rows_warned, r.data_docs_path FROM raw.uploads u"
                    " JOIN quality.validation_runs r USING (upload_id)"
                )
            )
        }


def test_demo_round_through_the_real_dags(clean_warehouse):
    inbox = Path(os.environ["SUKF_INBOX"])
    files = generate_round_files(
        inbox, list(KOMMUNER), [ROUND], cases_per_kommun=70, seed=7, formats=KOMMUNER
    )
    expected = Counter()
    for generated in files:
        for row in rows_of(generated.path):
            expected[(generated.kommun_kod, int(row["v5_datum_aktualisering"][:4]))] += 1

    # Every task succeeds on its first try (run_dag raises otherwise), with the result it should.
    intake = airflow_local.run_dag("su_intake")
    assert all(task.state == "success" and task.try_number == 1 for task in intake.tasks)
    # four files: a landing task each, labelled with its file's name
    assert intake.results("find_new_uploads") == [sorted([str(f.path)] for f in files)]
    landed = {
        task.label: verdict
        for task in intake.tasks
        if task.task_id == "land_uploads"
        for verdict in task.result
    }
    assert landed == {
        f.path.name: {
            "file_name": f.path.name,
            "upload_id": landed[f.path.name]["upload_id"],
            "kommun": f.kommun_kod,
            "round": ROUND,
            "status": "landed",
            "rows": f.rows,
            "message": None,
        }
        for f in files
    }
    assert intake.results("announce") == [{"landed": 4}]
    assert scalar(clean_warehouse, "SELECT count(*) FROM raw.uploads WHERE status = 'landed'") == 4

    feedback_run = airflow_local.run_dag("su_feedback")
    assert all(task.state == "success" and task.try_number == 1 for task in feedback_run.tasks)
    assert (
        scalar(clean_warehouse, "SELECT count(*) FROM raw.uploads WHERE status = 'accepted'") == 4
    )
    (gated,) = feedback_run.results("quality_gate")
    stored = stored_gate_runs(clean_warehouse)
    rows = {f.kommun_kod: f.rows for f in files}
    assert sorted(summary["upload_id"] for summary in gated) == sorted(stored)
    for summary in gated:
        run = stored[summary["upload_id"]]
        assert (summary["kommun"], summary["round"], summary["outcome"], summary["status"]) == (
            run["kommun_kod"],
            run["round_id"],
            "accepted",
            "accepted",
        )
        assert summary["rows_received"] == run["rows_received"] == rows[summary["kommun"]]
        assert (summary["rows_rejected"], summary["rows_warned"]) == (
            run["rows_rejected"],
            run["rows_warned"],
        )
        assert summary["data_docs"] == run["data_docs_path"] and Path(summary["data_docs"]).exists()
    (written,) = feedback_run.results("write_feedback")
    assert sorted(report["feedback_report"] for report in written) == sorted(
        summary["feedback_report"] for summary in gated
    )
    assert all(Path(report["feedback_report"]).exists() for report in written)

    # su_feedback gated everything: su_round's safety net finds nothing left to gate
    round_run = airflow_local.run_dag("su_round", {"round_id": ROUND})
    assert all(task.state == "success" and task.try_number == 1 for task in round_run.tasks)
    assert round_run.results("gate_remaining") == [[]]
    assert round_run.results("dbt_build") == [True]
    (published,) = round_run.results("publish_kolada")
    assert (published["round_id"], published["version"], published["reused"]) == (
        ROUND,
        "v001",
        False,
    )

    output = Path(os.environ["SUKF_OUTPUT"])
    # the statistics release was audited before it was written: the attack finds nothing in it
    (statistics_release,) = sorted(output.glob(f"statistik/{ROUND}/v*/"))
    result = audit.audit_statistics(
        {
            name: (statistics_release / name).read_bytes()
            for name in (audit.FUNNEL_FILE, audit.FIGURES_FILE, audit.DEFINITIONS_FILE)
        },
        int(os.environ.get("SUKF_MIN_PUBLISH_COUNT", "5")),
    )
    assert result.withheld > 0 and result.ok, [audit.describe(f.cell) for f in result.findings]
    data_files = sorted(output.glob(f"kolada/{ROUND}/v*/data.json"))
    assert data_files == [Path(published["directory"]) / "data.json"]
    document = json.loads(data_files[0].read_text(encoding="utf-8"))
    published_cells = {}
    for item in document["values"]:
        if item["kpi"] == "U30750":
            (cell,) = [v for v in item["values"] if v["gender"] == "T"]
            published_cells[(item["municipality"], item["period"])] = cell
    assert set(published_cells) == set(expected)
    for key, count in expected.items():
        cell = published_cells[key]
        assert cell["count"] == 1
        population = scalar(
            clean_warehouse,
            "SELECT population_18plus FROM marts.fct_kolada_key_figures "
            "WHERE figure = 'aktualiserade' AND kommun_kod = :k AND year = :y "
            "AND gender = 'T'",
            k=key[0],
            y=key[1],
        )
        cases = scalar(
            clean_warehouse,
            "SELECT case_count FROM marts.fct_kolada_key_figures "
            "WHERE figure = 'aktualiserade' AND kommun_kod = :k AND year = :y AND gender = 'T'",
            k=key[0],
            y=key[1],
        )
        assert cases == count
        if count >= int(os.environ.get("SUKF_MIN_PUBLISH_COUNT", "5")):
            assert cell["value"] == pytest.approx(round(count * 10_000 / float(population), 1))
        else:
            assert cell["value"] is None

    # neither Stockholm nor Göteborg delivered: every KPI's description says so for the round
    kpis = json.loads((data_files[0].parent / "kpi.json").read_text(encoding="utf-8"))["values"]
    assert all(
        "hela staden. I omgång 2023-12 deltog Stockholm inte. I omgång 2023-12 deltog Göteborg "
        "inte. Värden som bygger på" in kpi["description"]
        for kpi in kpis
    )

    reports = sorted(output.glob("aterkoppling/*/*/upload_*.html"))
    assert len(reports) == 4

    # A second run with no new uploads: intake finds nothing (the mapped task and the announcement
    # are skipped, so su_feedback is not triggered); su_round run by hand gates nothing, skips the
    # dbt build and publishes the same files.
    again = airflow_local.run_dag("su_intake")
    assert {(t.task_id, t.state, t.try_number) for t in again.tasks} == {
        ("find_new_uploads", "success", 1),
        ("land_uploads", "skipped", 0),
        ("announce", "skipped", 0),
    }
    assert again.results("find_new_uploads") == [[]]
    round_again = airflow_local.run_dag("su_round", {"round_id": ROUND})
    assert all(task.state == "success" and task.try_number == 1 for task in round_again.tasks)
    assert round_again.results("gate_remaining") == [[]]
    assert round_again.results("dbt_build") == [False]
    assert round_again.results("publish_kolada") == [{**published, "reused": True}]
    assert sorted(output.glob(f"kolada/{ROUND}/v*/data.json")) == data_files
