"""The Cell Key Method (SUKF_DISCLOSURE=ckm): the committed ptable, a hand-computed example, and
a round published under Airflow with it: no published count is 1-4, the same cases give the same
published value in every table and every round, and the record keys are what their definition
gives (recomputed here from the pseudonymisation key, apart from the SQL)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import pytest

from conftest import PROJECT_ROOT
from sukvinnofrid import airflow_local, cellkey, pipeline
from sukvinnofrid.config import get_settings
from sukvinnofrid.synthetic import generate_round_files

ROUND, NEXT_ROUND = "2023-12", "2024-06"
COUNTS = ("antal", "n", "n population", "n svar")


def committed_ptable() -> dict[tuple[int, int], int]:
    """reference/ptable.csv read as a reader of the release reads it."""
    with open(PROJECT_ROOT / "src/sukvinnofrid/reference/ptable.csv", newline="") as handle:
        return {(int(r["pcv"]), int(r["ckey"])): int(r["pvalue"]) for r in csv.DictReader(handle)}


def test_the_committed_ptable_is_its_design_and_keeps_the_rule():
    assert cellkey.PTABLE_PATH.read_bytes() == cellkey.ptable_csv(cellkey.design(5))
    table = committed_ptable()
    assert len(table) == 8 * 256  # counts 0..7, cell keys 0..255
    published = {c: Counter(c + table[(c, k)] for k in range(256)) for c in range(8)}
    # by hand: 0 stays 0; c of 1..4 is 5 for round(256 c / 5) keys, else 0
    assert published[0] == {0: 256}
    assert published[1] == {0: 205, 5: 51}
    assert published[2] == {0: 154, 5: 102}
    assert published[3] == {0: 102, 5: 154}
    assert published[4] == {0: 51, 5: 205}
    assert published[5] == {0: 10, 5: 196, 6: 50}  # mean 5: -5 * 10 + 1 * 50 = 0
    assert published[6] == {5: 51, 6: 154, 7: 51}
    assert published[7] == {5: 13, 6: 51, 7: 128, 8: 51, 9: 13}
    cellkey.ptable().check(5)
    for count in range(200):  # larger counts use the last row: no 1-4, never more than 2 off
        for key in range(256):
            value = cellkey.ptable().perturb(count, key)
            assert not 1 <= value <= 4
            assert abs(value - count) <= 2 or (count <= 5 and value in (0, 5))


def test_a_ptable_that_would_publish_a_small_count_is_refused():
    noise = dict(cellkey.ptable().noise)
    noise[(6, 0)] = -2  # 6 published as 4
    with pytest.raises(ValueError, match="count 6 with cell key 0 is published as 4"):
        cellkey.PerturbationTable(noise, 7, b"").check(5)


def test_a_hand_computed_example():
    table = cellkey.ptable()
    # three cases with record keys 200, 100 and 3: cell key (200 + 100 + 3) mod 256 = 47; row
    # (3, 47) of the ptable: keys 0..101 of count 3 publish 0
    assert (200 + 100 + 3) % 256 == 47
    assert committed_ptable()[(3, 47)] == -3
    assert table.perturb(3, 47) == 0
    # seven cases of key 250: cell key 1750 mod 256 = 214; count 7's keys 192..242 add 1
    assert 7 * 250 % 256 == 214
    assert committed_ptable()[(7, 214)] == 1
    assert table.perturb(7, 214) == 8
    # a count of 1000 uses row 7: key 10 is one of 0..12, which subtract 2
    assert table.perturb(1000, 10) == 998


def record_key(case_id: str) -> int:
    """The record key by its definition (dbt macro record_key), written apart from the SQL."""
    key = os.environ["SUKF_PSEUDONYM_KEY"]
    return hashlib.sha256(f"{key}|cellnyckel|{case_id}".encode()).digest()[0]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def number(text: str) -> int:
    return int(text.replace("\u00a0", ""))


@pytest.fixture
def ckm(monkeypatch):
    monkeypatch.setenv("SUKF_DISCLOSURE", "ckm")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("SUKF_DISCLOSURE")
    get_settings.cache_clear()


@pytest.mark.slow
def test_a_round_published_with_the_cell_key_method_under_airflow(clean_warehouse, ckm):
    inbox = Path(os.environ["SUKF_INBOX"])
    generate_round_files(inbox, ["0126", "0580", "2380"], [ROUND], cases_per_kommun=40, seed=11)
    for dag, conf in (
        ("su_intake", None),
        ("su_feedback", None),
        ("su_round", {"round_id": ROUND}),
    ):
        run = airflow_local.run_dag(dag, conf)
        assert all(task.state == "success" and task.try_number == 1 for task in run.tasks), dag
    (published,) = run.results("publish_kolada")
    assert published["round_id"] == ROUND
    directory = Path(published["statistics_directory"])
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["disclosure"] == "ckm"
    assert manifest["suppression"] == cellkey.method_text(5)
    assert (directory / "ptable.csv").read_bytes() == cellkey.PTABLE_PATH.read_bytes()

    funnel = read_csv(directory / "tratt.csv")
    figures = read_csv(directory / "nationella_figurer.csv")
    # no published count is 1-4, and nothing is withheld but means of fewer than 5 cases
    assert not [r for r in funnel for c in cellkey_columns() if 1 <= number(r[c]) <= 4]
    values = [r[c] for r in figures for c in COUNTS if r[c]]
    assert ".." not in values and not [v for v in values if 1 <= number(v) <= 4]
    # the shares are of the published counts
    for row in figures:
        if row["andel (%)"] and row["kategori"] != "saknas":
            share = min(100.0, round(100 * number(row["antal"]) / number(row["n"]) + 1e-9, 1))
            assert float(row["andel (%)"].replace(",", ".")) == share

    # the record keys are their definition, and each funnel cell is its count plus the ptable's
    # value for (count, the sum of its cases' record keys mod 256)
    with clean_warehouse.connect() as conn:
        keys = dict(
            conn.exec_driver_sql(
                "SELECT case_id, record_key FROM intermediate.int_case_record_keys"
            ).all()
        )
        cases = conn.exec_driver_sql(
            "SELECT kommun_kod, kon_kod, case_id FROM intermediate.int_case_versions"
            " WHERE round_id = %s",
            (ROUND,),
        ).all()
    assert keys and all(key == record_key(case_id) for case_id, key in keys.items())
    table = committed_ptable()
    by_cell = {(r["nivå"], r["områdeskod"], r["kön"]): r for r in funnel}
    noisy = 0
    for kommun in ("0126", "0580", "2380"):
        for kon in ("T", "K", "M"):
            ids = [c for k, g, c in cases if k == kommun and kon in ("T", g)]
            count, cell_key = len(ids), sum(record_key(c) for c in ids) % 256
            expected = count + table[(min(count, 7), cell_key)]
            assert number(by_cell[("kommun", kommun, kon)]["aktualiserade"]) == expected
            noisy += expected != count
    assert noisy  # the noise is there, not only in principle

    # the same cases in two tables: the funnel's aktualiserade is the population of the figure
    # kön (every case of the round), and its K the figure's category 1 (kvinna)
    for (level, area, kon), row in by_cell.items():
        (women,) = [
            r
            for r in figures
            if (r["periodtyp"], r["nivå"], r["områdeskod"], r["figur"], r["uppdelning"])
            == ("omgång", level, area, "kon", "alla")
            and r["kategori"] == "1"
        ]
        if kon == "T":
            assert row["aktualiserade"] == women["n population"]
        if kon == "K":
            assert row["aktualiserade"] == women["antal"]

    # the site says which method it used
    site = Path(run.results("report")[0]["directory"])
    assert "cellnyckelmetoden" in (site / "riket.html").read_text(encoding="utf-8")


def cellkey_columns() -> tuple[str, ...]:
    from sukvinnofrid.statistics import FUNNEL_COLUMNS

    return FUNNEL_COLUMNS


def test_the_same_cases_give_the_same_published_value_in_two_rounds(clean_warehouse, ckm):
    """Two rounds of one kommun: the second upload is the first plus the cases of 2024, so the
    year 2023 is the same cases in both rounds, and its published counts are the same, each its
    count plus the ptable's value for the sum of those cases' record keys."""
    inbox = Path(os.environ["SUKF_INBOX"])
    generate_round_files(inbox, ["0580"], [ROUND, NEXT_ROUND], cases_per_kommun=60, seed=4)
    for round_id in (ROUND, NEXT_ROUND):
        pipeline.run_round(round_id)
    with clean_warehouse.connect() as conn:
        cases = {
            round_id: sorted(
                case_id
                for (case_id,) in conn.exec_driver_sql(
                    "SELECT case_id FROM intermediate.int_case_periods"
                    " WHERE round_id = %s AND period_type = 'year' AND period = '2023'",
                    (round_id,),
                )
            )
            for round_id in (ROUND, NEXT_ROUND)
        }
    assert cases[ROUND] and cases[ROUND] == cases[NEXT_ROUND]
    count = len(cases[ROUND])
    cell_key = sum(map(record_key, cases[ROUND])) % 256
    expected = count + committed_ptable()[(min(count, 7), cell_key)]
    output = Path(os.environ["SUKF_OUTPUT"]) / "statistik"
    for round_id in (ROUND, NEXT_ROUND):
        manifest = json.loads((output / round_id / "v001" / "manifest.json").read_text("utf-8"))
        assert manifest["disclosure"] == "ckm"
        rows = read_csv(output / round_id / "v001" / "nationella_figurer.csv")
        (row,) = [
            r
            for r in rows
            if (r["periodtyp"], r["period"], r["nivå"], r["figur"], r["uppdelning"], r["kategori"])
            == ("år", "2023", "riket", "kon", "alla", "1")
        ]
        assert number(row["n population"]) == expected, round_id


def test_an_unknown_disclosure_method_is_refused(monkeypatch):
    monkeypatch.setenv("SUKF_DISCLOSURE", "avrundning")
    get_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="SUKF_DISCLOSURE must be one of suppression, ckm"):
            get_settings()
    finally:
        monkeypatch.delenv("SUKF_DISCLOSURE")
        get_settings.cache_clear()
    assert get_settings().disclosure == "suppression"  # the default
