"""The whole chain through the real Airflow DAGs (`airflow dags test`) on the embedded Postgres."""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from conftest import scalar
from sukvinnofrid import airflow_local
from sukvinnofrid.synthetic import generate_round_files

pytestmark = pytest.mark.slow

KOMMUNER = {"0126": "xlsx", "0580": "csv-comma-utf8-bom", "0586": "csv-semicolon-cp1252",
            "2380": "csv-semicolon-utf8"}
ROUND = "2023-12"


def rows_of(path: Path):
    """Read a generated file independently of the pipeline's reader."""
    if path.suffix == ".xlsx":
        sheet = openpyxl.load_workbook(path, read_only=True)["Ärenden"]
        values = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        header, body = values[0], values[1:]
    else:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252")
        delimiter = ";" if text.splitlines()[0].count(";") > text.splitlines()[0].count(",") else ","
        header, *body = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return [dict(zip(header, row)) for row in body if any(row)]


def test_demo_round_through_the_real_dags(clean_warehouse):
    inbox = Path(os.environ["SUKF_INBOX"])
    files = generate_round_files(inbox, list(KOMMUNER), [ROUND], cases_per_kommun=70, seed=7,
                                 formats=KOMMUNER)
    expected = Counter()
    for generated in files:
        for row in rows_of(generated.path):
            expected[(generated.kommun_kod, int(row["v5_datum_aktualisering"][:4]))] += 1

    airflow_local.test_dag("su_intake")
    assert scalar(clean_warehouse, "SELECT count(*) FROM raw.uploads WHERE status = 'landed'") == 4
    airflow_local.test_dag("su_round", {"round_id": ROUND})
    assert scalar(clean_warehouse, "SELECT count(*) FROM raw.uploads WHERE status = 'accepted'") == 4

    output = Path(os.environ["SUKF_OUTPUT"])
    data_files = sorted(output.glob(f"kolada/{ROUND}/v*/data.json"))
    assert len(data_files) == 1
    document = json.loads(data_files[0].read_text(encoding="utf-8"))
    published = {}
    for item in document["values"]:
        if item["kpi"] == "U30750":
            (cell,) = [v for v in item["values"] if v["gender"] == "T"]
            published[(item["municipality"], item["period"])] = cell
    assert set(published) == set(expected)
    for key, count in expected.items():
        cell = published[key]
        assert cell["count"] == 1
        population = scalar(clean_warehouse, "SELECT population_18plus FROM marts.fct_kolada_key_figures "
                            "WHERE figure = 'aktualiserade' AND kommun_kod = :k AND year = :y "
                            "AND gender = 'T'", k=key[0], y=key[1])
        cases = scalar(clean_warehouse, "SELECT case_count FROM marts.fct_kolada_key_figures "
                       "WHERE figure = 'aktualiserade' AND kommun_kod = :k AND year = :y AND gender = 'T'",
                       k=key[0], y=key[1])
        assert cases == count
        if count >= int(os.environ.get("SUKF_MIN_PUBLISH_COUNT", "5")):
            assert cell["value"] == pytest.approx(round(count * 10_000 / population, 1))
        else:
            assert cell["value"] is None

    reports = sorted(output.glob("aterkoppling/*/*/upload_*.html"))
    assert len(reports) == 4

    # A second run with no new uploads changes nothing and publishes the same files.
    airflow_local.test_dag("su_intake")
    airflow_local.test_dag("su_round", {"round_id": ROUND})
    assert sorted(output.glob(f"kolada/{ROUND}/v*/data.json")) == data_files
