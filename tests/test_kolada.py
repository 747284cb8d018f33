"""Kolada publication: KPI definitions, disclosure control, versioned v3 files, koladapy round
trip."""

from __future__ import annotations

import importlib
import json
import os
import re
import threading
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import sqlalchemy as sa

from sukvinnofrid import versioned
from sukvinnofrid.kolada import (
    Cell,
    MissingPopulationError,
    ReferenceDataError,
    apply_disclosure,
    load_definitions,
    publish,
)
from sukvinnofrid.kolada import disclosure as D
from sukvinnofrid.kolada.definitions import CATALOGUE_FIELDS
from sukvinnofrid.kolada.publish import MartRow, city_units, csv_safe, last_complete_year

# the package exports the function `publish`, which shadows the module attribute
publish_module = importlib.import_module("sukvinnofrid.kolada.publish")

ROUND = "2025-06"

KOMMUNER = [
    ("0114", "Upplands Väsby", "01"),
    ("0115", "Vallentuna", "01"),
    ("0117", "Österåker", "01"),
    ("0180", "Stockholm", "01"),
    ("0580", "Linköping", "05"),
    ("0581", "Norrköping", "05"),
    ("1280", "Malmö", "12"),
    ("1480", "Göteborg", "14"),
    ("2380", "Östersund", "23"),
]
POP = {k: 20_000 + 1_000 * i for i, (k, _, _) in enumerate(KOMMUNER)}
POP["0180"] = 800_000


@pytest.fixture
def kommuner_csv(tmp_path) -> Path:
    path = tmp_path / "kommuner.csv"
    lines = ["kommun_kod,kommun_namn,lan_kod"] + [",".join(k) for k in KOMMUNER]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_mart(engine, rows, round_id=ROUND, size_groups=None) -> None:
    """rows: (figure, kommun, year, gender, case_count, population or None), kommun cells of
    `round_id`, every year covered, population from SCB (the mart's shape: see
    dbt_project/models/marts/fct_kolada_key_figures.sql); size_groups: kommun ->
    (storleksgrupp, befolkningsgrupp) as marts.dim_reporting_units holds them."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS marts")
        conn.exec_driver_sql("DROP TABLE IF EXISTS marts.fct_kolada_key_figures")
        conn.exec_driver_sql("DROP TABLE IF EXISTS marts.fct_case_funnel")
        conn.exec_driver_sql(
            "CREATE TABLE marts.fct_kolada_key_figures (round_id text, figure text,"
            " area_type text, kommun_kod text, unit_kod text, kolada_id text, year int,"
            " gender text, covered boolean, case_count int, population_18plus int,"
            " population_source text, value_per_10000 numeric, value_method text, units int)"
        )
        conn.execute(
            sa.text(
                "INSERT INTO marts.fct_kolada_key_figures (round_id, figure, area_type,"
                " kommun_kod, unit_kod, kolada_id, year, gender, covered, case_count,"
                " population_18plus, population_source, value_method, units)"
                " VALUES (:r, :f, 'kommun', :k, :k, :k, :y, :g, true, :c, :p, 'scb', 'kvot', 1)"
            ),
            [dict(zip("fkygcp", row, strict=True), r=round_id) for row in rows],
        )
        conn.exec_driver_sql(
            "UPDATE marts.fct_kolada_key_figures"
            " SET value_per_10000 = round(case_count * 10000.0 / population_18plus, 6)"
            " WHERE population_18plus IS NOT NULL"
        )
        # the funnel's kommun areas: the kommuner with a case in the round
        conn.exec_driver_sql(
            "CREATE TABLE marts.fct_case_funnel AS SELECT DISTINCT round_id,"
            " 'kommun' AS level, kommun_kod AS area_code FROM marts.fct_kolada_key_figures"
        )
        # each kommun's upload in force (what a revision's log names), one upload each
        conn.exec_driver_sql("DROP TABLE IF EXISTS marts.fct_round_deliveries")
        conn.exec_driver_sql(
            "CREATE TABLE marts.fct_round_deliveries AS SELECT round_id, kommun_kod AS unit_kod,"
            " kommun_kod, left(kommun_kod, 2) AS lan_kod,"
            " dense_rank() OVER (ORDER BY kommun_kod)::bigint AS upload_id,"
            " timestamptz '2024-01-20 10:00+01' AS received_at, 'godkand' AS status"
            " FROM (SELECT DISTINCT round_id, kommun_kod FROM marts.fct_kolada_key_figures) k"
        )
        # every kommun in one size group of each grouping (the same totals as riket), unless
        # the test says otherwise
        conn.exec_driver_sql("DROP TABLE IF EXISTS marts.dim_reporting_units")
        conn.exec_driver_sql(
            "CREATE TABLE marts.dim_reporting_units AS SELECT DISTINCT kommun_kod,"
            " 'kommun' AS unit_type, '1' AS storleksgrupp_kod, '1' AS befolkningsgrupp_kod"
            " FROM marts.fct_kolada_key_figures"
        )
        for kommun, (storleksgrupp, befolkningsgrupp) in (size_groups or {}).items():
            conn.execute(
                sa.text(
                    "UPDATE marts.dim_reporting_units SET storleksgrupp_kod = :s,"
                    " befolkningsgrupp_kod = :b WHERE kommun_kod = :k"
                ),
                {"s": storleksgrupp, "b": befolkningsgrupp, "k": kommun},
            )


def with_genders(figure, kommun, year, total, pop=None):
    """T plus a K/M split of it (K the larger part), with the kommun's population."""
    pop = POP[kommun] if pop is None else pop
    k = (total * 2 + 2) // 3
    return [
        (figure, kommun, year, "T", total, pop),
        (figure, kommun, year, "K", k, pop // 2),
        (figure, kommun, year, "M", total - k, pop - pop // 2),
    ]


def half_up(value, decimals=1):
    return float(Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


# A richer round: län complement (2024), riket complement + län follow-up (2023), an incomplete
# year (2025, dropped for round 2025-06).
ROUND_ROWS = (
    [
        r
        for k, n in [
            ("0114", 3),
            ("0115", 12),
            ("0117", 7),
            ("0180", 250),
            ("0580", 40),
            ("0581", 0),
            ("1280", 90),
            ("1480", 120),
        ]
        for r in with_genders("aktualiserade", k, 2024, n)
    ]
    + [r for k, n in [("0180", 100), ("1280", 50)] for r in with_genders("med_insats", k, 2024, n)]
    + [
        r
        for k, n in [("2380", 2), ("0180", 30), ("0115", 6), ("0581", 6), ("0117", 9)]
        for r in with_genders("mal_helt_delvis", k, 2023, n)
    ]
    + with_genders("aktualiserade", "0180", 2025, 99)
)
EXPECTED_WITHHELD = {
    ("U30750", "0114", 2024): "primary",
    ("U30750", "0117", 2024): "secondary-lan",
    ("U30752", "2380", 2023): "primary",
    ("U30752", "0115", 2023): "secondary-riket",  # 6 ties with 0581; 0115 < 0581
    ("U30752", "0117", 2023): "secondary-lan",  # 0115 alone in län 01 after the riket step
}
FIGURE_KPI = {"aktualiserade": "U30750", "med_insats": "U30751", "mal_helt_delvis": "U30752"}


# ----------------------------------------------------------------------------------------------
# definitions


def test_kpi_definitions():
    defs = load_definitions()
    assert [k.id for k in defs.kpis] == ["U30750", "U30751", "U30752"]
    assert [k.figure for k in defs.kpis] == ["aktualiserade", "med_insats", "mal_helt_delvis"]
    assert defs.kpis[0].title == (
        "Vuxna aktualiserade i IFO p.g.a. våld i nära relation/hedersrelaterat våld, "
        "antal/10 000 vuxna invånare"
    )
    for kpi in defs.kpis:
        entry = kpi.catalogue_entry()
        assert tuple(entry) == CATALOGUE_FIELDS
        assert entry["is_divided_by_gender"] is False
        assert entry["municipality_type"] == "K"
        assert entry["operating_area"] == "Individ- och familjeomsorg"
        assert entry["perspective"] == "Volymer"
        assert entry["auspice"] == "O"
        assert entry["has_ou_data"] is True
        assert entry["publ_period"] == "2025"
        assert entry["prel_publication_date"] is None and entry["publication_date"] is None
        assert kpi.published_genders == ("T",)
        assert "{suppression_rule}" in entry["description"]  # filled in when publishing
        assert "{population_source}" in entry["description"]
        assert "{city_units}" in entry["description"]
    # a case counts in the year of its figure's event, known when the year ends: aktualiserad,
    # the insats started, the case closed
    assert [(k.year_basis["variable"], k.year_basis["suv"]) for k in defs.kpis] == [
        ("datum_aktualisering", 5),
        ("datum_insats", 117),
        ("datum_avslut", 256),
    ]
    # the published texts say so, and the dbt mart applies the same dates
    by_id = {k.id: k.description for k in defs.kpis}
    assert "räknas det år det aktualiserades" in by_id["U30750"]
    assert "räknas det år insatsen påbörjades" in by_id["U30751"]
    assert "räknas det år det avslutades" in by_id["U30752"]
    macro = (
        Path(__file__).resolve().parents[1] / "dbt_project" / "macros" / "figure_catalogue.sql"
    ).read_text(encoding="utf-8")
    year_of = dict(re.findall(r"'(\w+)': \{\s*'cases': '[^']*',\s*'year_of': '(\w+)'", macro))
    assert year_of == {k.figure: k.year_basis["variable"] for k in defs.kpis}
    assert defs.settings.min_count == 5
    assert defs.settings.withheld_status == ".."
    assert defs.settings.decimals == 1


def test_last_complete_year():
    assert last_complete_year("2025-06") == 2024
    assert last_complete_year("2025-12") == 2025


# ----------------------------------------------------------------------------------------------
# disclosure (pure)


def cell(kommun, count, gender="T", year=2024, lan="", value=None):
    return Cell(
        "U30750", kommun, year, gender, count, value if value is not None else count * 1.5, lan
    )


def decide(cells, genders=("T",), levels=("lan", "riket"), min_count=5):
    result = apply_disclosure(
        cells, published_genders=genders, min_count=min_count, aggregate_levels=levels
    )
    return {(d.cell.kommun, d.cell.gender): d for d in result.decisions}, result.notes


def withheld(decisions):
    return {key: d.reason for key, d in decisions.items() if d.withheld}


def test_primary_suppression_keeps_true_zero():
    decisions, _ = decide(
        [cell("0180", 0), cell("1280", 4), cell("1480", 5), cell("0580", 1)], levels=()
    )
    assert withheld(decisions) == {("1280", "T"): "primary", ("0580", "T"): "primary"}
    zero = decisions[("0180", "T")]
    assert (zero.value, zero.status, zero.reason) == (0.0, "", "published")
    w = decisions[("1280", "T")]
    assert (w.value, w.status, w.in_output) == (None, "..", True)
    assert decisions[("1480", "T")].value == 7.5


def test_single_small_cell_among_kommuner_gets_a_second_cell_withheld():
    # one small cell in län 01: the smallest other non-zero cell of the län is withheld too
    cells = [
        cell("0114", 3),
        cell("0115", 12),
        cell("0117", 7),
        cell("0180", 250),
        cell("0120", 0),
        cell("1280", 6),
    ]
    decisions, notes = decide(cells)
    assert withheld(decisions) == {("0114", "T"): "primary", ("0117", "T"): "secondary-lan"}
    assert notes == ()
    # only the riket total: the smallest non-zero cell anywhere, ties by kommun code
    cells = [cell("0114", 3), cell("0180", 9), cell("1280", 6), cell("0580", 6), cell("0120", 0)]
    decisions, _ = decide(cells, levels=("riket",))
    assert withheld(decisions) == {("0114", "T"): "primary", ("0580", "T"): "secondary-riket"}


def grouped(kommun, count, lan, storleksgrupp, befolkningsgrupp):
    return replace(
        cell(kommun, count, lan=lan),
        size_groups=(("storleksgrupp", storleksgrupp), ("befolkningsgrupp", befolkningsgrupp)),
    )


SIZE_LEVELS = ("lan", "riket", "storleksgrupp", "befolkningsgrupp")


def test_a_size_group_total_published_by_the_statistics_is_protected_too():
    # 0114 (3) is withheld; län 01's complement is 0117 (7, the smallest other). The national
    # statistics publish län 01's cases by befolkningsgrupp: group 4 is 0114 + 0116 and group
    # 3 is 0117 + 0115, so 0116 and 0115 are withheld too, or each gives its partner away.
    cells = [
        grouped("0114", 3, "01", "1", "4"),
        grouped("0116", 9, "01", "1", "4"),
        grouped("0117", 7, "01", "1", "3"),
        grouped("0115", 12, "01", "1", "3"),
        grouped("1280", 20, "12", "1", "4"),
        grouped("1281", 30, "12", "1", "4"),
    ]
    decisions, notes = decide(cells, levels=SIZE_LEVELS)
    assert withheld(decisions) == {
        ("0114", "T"): "primary",
        ("0117", "T"): "secondary-lan",
        ("0116", "T"): "secondary-group",
        ("0115", "T"): "secondary-group",
    }
    assert notes == ()
    # without the size groups (the Kolada rule before): 0116 is published, and the group's
    # total less 0116 is 0114
    decisions, _ = decide(cells, levels=("lan", "riket"))
    assert set(withheld(decisions)) == {("0114", "T"), ("0117", "T")}


def test_a_kommun_alone_in_its_size_group_is_never_a_complementary_cell():
    # 0180 (6) is the smallest other cell of län 01, but alone in storleksgrupp 9 its count is
    # that group's published total: withholding it would hide nothing, so 0117 (8) is withheld
    cells = [
        grouped("0114", 2, "01", "1", "1"),
        grouped("0180", 6, "01", "9", "1"),
        grouped("0117", 8, "01", "1", "1"),
        grouped("0115", 15, "01", "1", "1"),
    ]
    decisions, notes = decide(cells, levels=SIZE_LEVELS)
    assert withheld(decisions) == {("0114", "T"): "primary", ("0117", "T"): "secondary-lan"}
    assert notes == ()


def test_secondary_suppression_reaches_a_fixpoint_and_notes_unprotectable_totals():
    cells = [cell("2380", 2), cell("0180", 30), cell("0115", 6), cell("0581", 6), cell("0117", 9)]
    decisions, notes = decide(cells)
    assert withheld(decisions) == {
        ("2380", "T"): "primary",
        ("0115", "T"): "secondary-riket",
        ("0117", "T"): "secondary-lan",
    }
    assert notes == (
        (
            "U30750 2024 län 23 total, gender T: a withheld cell has no complementary cell; "
            "do not publish this total"
        ),
    )
    # deterministic: input order does not matter
    again, _ = decide(list(reversed(cells)))
    assert withheld(again) == withheld(decisions)


def test_gender_complement_when_k_and_m_are_published():
    triple = [cell("0180", 20, "T"), cell("0180", 3, "K"), cell("0180", 17, "M")]
    decisions, _ = decide(triple, genders=("T", "K", "M"), levels=())
    assert withheld(decisions) == {("0180", "K"): "primary", ("0180", "M"): "secondary-gender"}
    # smallest complement: T when it is smaller than M (not possible) -> M; tie order T, K, M
    triple = [cell("0180", 6, "T"), cell("0180", 3, "K"), cell("0180", 3, "M")]
    decisions, _ = decide(triple, genders=("T", "K", "M"), levels=())
    assert withheld(decisions) == {("0180", "K"): "primary", ("0180", "M"): "primary"}


def test_gender_relation_protects_an_unpublished_sensitive_gender():
    triple = [cell("0180", 20, "T"), cell("0180", 18, "K"), cell("0180", 2, "M")]
    # T and K published: M = T - K would give away 2 cases
    decisions, _ = decide(triple, genders=("T", "K"), levels=())
    assert withheld(decisions) == {("0180", "K"): "secondary-gender"}
    assert decisions[("0180", "M")].in_output is False
    # only T published (today): K and M are both hidden, nothing to protect
    decisions, _ = decide(triple, genders=("T",), levels=())
    assert withheld(decisions) == {}
    assert [d.in_output for d in decisions.values()] == [True, False, False]


def test_gender_and_kommun_relations_interact():
    cells = [
        cell("0180", 20, "T"),
        cell("0180", 3, "K"),
        cell("0180", 17, "M"),
        cell("1280", 40, "T"),
        cell("1280", 25, "K"),
        cell("1280", 15, "M"),
    ]
    decisions, _ = decide(cells, genders=("T", "K", "M"), levels=("riket",))
    assert withheld(decisions) == {
        ("0180", "K"): "primary",
        ("0180", "M"): "secondary-gender",
        ("1280", "K"): "secondary-riket",
        ("1280", "M"): "secondary-riket",
    }
    # every relation now has zero or at least two withheld cells, also 1280's gender triple
    assert ("1280", "T") not in withheld(decisions)


def test_values_round_half_up():
    assert D.round_value(Decimal("3.25"), 1) == 3.3
    assert D.round_value(Decimal("3.249999"), 1) == 3.2
    assert D.round_value(2.675, 2) == 2.68


def test_csv_formula_injection_escaped():
    assert csv_safe("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_safe("+1") == "'+1"
    assert csv_safe("-") == "'-"
    assert csv_safe("@x") == "'@x"
    assert csv_safe("..") == ".."
    assert csv_safe("0180") == "0180"


# ----------------------------------------------------------------------------------------------
# publish


SMALL_ROWS = [
    ("aktualiserade", "0180", 2024, "T", 65, 200_000),  # 3.25 -> 3.3 (half up)
    ("aktualiserade", "0580", 2024, "T", 3, 100_000),  # primary
    ("aktualiserade", "0581", 2024, "T", 8, 100_000),  # secondary-lan (län 05); riket then has two
    ("aktualiserade", "1280", 2024, "T", 0, 250_000),  # true zero
    ("aktualiserade", "1480", 2024, "T", 63, 200_000),  # 3.15 -> 3.2
    ("aktualiserade", "1480", 2024, "K", 40, 100_000),  # not published
]


def test_publish_writes_kolada_v3_files_exactly(clean_warehouse, kommuner_csv):
    load_mart(clean_warehouse, SMALL_ROWS)
    pub = publish(ROUND, clean_warehouse, kommuner_csv=kommuner_csv)
    out = Path(os.environ["SUKF_OUTPUT"]) / "kolada" / ROUND / "v001"
    assert pub.directory == out and pub.version == "v001" and not pub.reused
    assert sorted(p.name for p in out.iterdir()) == [
        "data.csv",
        "data.json",
        "kpi.json",
        "manifest.json",
        "oudata.csv",
        "oudata.json",
        "published_at.txt",
    ]

    def item(m, value, status):
        return {
            "kpi": "U30750",
            "municipality": m,
            "period": 2024,
            "values": [
                {"gender": "T", "count": 1, "status": status, "value": value, "isdeleted": False}
            ],
        }

    data = json.loads((out / "data.json").read_text(encoding="utf-8"))
    assert data == {
        "count": 5,
        "next_url": None,
        "previous_url": None,
        "values": [
            item("0180", 3.3, ""),  # 3.25 rounded half up
            item("0580", None, ".."),  # primary: 3 < 5
            item("0581", None, ".."),  # secondary-lan: second cell of län 05
            item("1280", 0.0, ""),  # a true zero is published
            item("1480", 3.2, ""),  # 3.15 rounded half up
        ],
    }
    raw = (out / "data.json").read_bytes()
    assert raw == (json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1) + "\n").encode()

    assert (out / "data.csv").read_text(encoding="utf-8") == (
        "kpi;municipality;period;gender;value;status\n"
        "U30750;0180;2024;T;3.3;\n"
        "U30750;0580;2024;T;;..\n"
        "U30750;0581;2024;T;;..\n"
        "U30750;1280;2024;T;0.0;\n"
        "U30750;1480;2024;T;3.2;\n"
    )

    kpi = json.loads((out / "kpi.json").read_text(encoding="utf-8"))
    assert kpi["count"] == 3 and [k["id"] for k in kpi["values"]] == ["U30750", "U30751", "U30752"]
    assert set(kpi["values"][0]) == {
        "id",
        "title",
        "description",
        "is_divided_by_gender",
        "municipality_type",
        "auspice",
        "operating_area",
        "perspective",
        "prel_publication_date",
        "publication_date",
        "publ_period",
        "has_ou_data",
    }
    assert kpi["values"][0]["title"].startswith("Vuxna aktualiserade i IFO p.g.a. våld")
    assert "våld" in (out / "kpi.json").read_text(encoding="utf-8")  # ensure_ascii=False
    # the published description states the disclosure rule and the population source
    description = kpi["values"][0]["description"]
    assert "Värden som bygger på 1–4 ärenden redovisas inte (markeras ..)" in description
    assert "även ett värde som bygger på 5 eller fler ärenden saknas" in description
    assert "SCB:s folkmängd 31 december" in description and "{" not in description
    # Stockholm and Göteborg delivered as one kommun each (kvot rows, no OU rows): every KPI
    # says so for this round, after the general rule
    cities = (
        "när staden rapporterar som en kommun är värdet beräknat för hela staden. "
        "I omgång 2025-06 rapporterade Stockholm som en kommun, och stadens värde är beräknat "
        "för hela staden; stadsdelarna redovisas inte som enhetsdata. "
        "I omgång 2025-06 rapporterade Göteborg som en kommun, och stadens värde är beräknat "
        "för hela staden; stadsdelarna redovisas inte som enhetsdata. Värden som bygger på"
    )
    assert all(cities in k["description"] for k in kpi["values"])

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    import hashlib

    for name in ("data.json", "data.csv", "oudata.json", "oudata.csv", "kpi.json"):
        assert (
            manifest["files"][name]["sha256"]
            == hashlib.sha256((out / name).read_bytes()).hexdigest()
        )
        assert manifest["files"][name]["sha256"] == pub.sha256[name]
    assert manifest["round"] == ROUND
    assert manifest["code"]["version"] == "0.1.0"
    assert manifest["code"]["git_commit"] is None or len(manifest["code"]["git_commit"]) == 40
    assert manifest["rows"]["data.json"] == 5 and manifest["rows"]["data.csv"] == 5
    assert manifest["rows"]["withheld_by_reason"] == {
        "primary": 1,
        "earlier-version": 0,
        "with-statistics": 0,
        "secondary-gender": 0,
        "secondary-ou": 0,
        "secondary-lan": 1,
        "secondary-riket": 0,
        "secondary-group": 0,
    }
    assert manifest["preliminary"] is False and manifest["suppression"] in description
    assert manifest["settings"]["min_count"] == 5
    assert "published_at" not in json.dumps(manifest)
    reasons = {(d.cell.kommun, d.cell.gender): d.reason for d in pub.decisions}
    assert reasons[("1480", "K")] == "gender-not-published"


def test_city_units_counts_the_stadsdelar_behind_each_year(kommuner_csv):
    """Stockholm by stadsdelar whose number differs between years (one upload does not cover
    2023, one covers no year), Göteborg with cases but no year reported in full, then without
    any; a year after the round's last complete year is not published and not counted."""
    kommuner = publish_module.read_kommuner(kommuner_csv)

    def row(area, kommun, unit, year, covered, method="kvot"):
        return MartRow(
            "aktualiserade", area, kommun, unit, year, "T", covered, 9, 10_000, "scb", 9, method
        )

    rows = [
        row("kommun", "0180", "0180", 2023, True, "medel_stadsdelar"),
        row("kommun", "0180", "0180", 2024, True, "medel_stadsdelar"),
        row("ou", "0180", "V15E0180008", 2023, True),
        row("ou", "0180", "V15E0180008", 2024, True),
        row("ou", "0180", "V15E0180005", 2023, False),
        row("ou", "0180", "V15E0180005", 2024, True),
        row("ou", "0180", "V15E0180001", 2025, True),
        row("ou", "0180", "V15E0180002", 2024, False),
        row("kommun", "1480", "1480", 2024, False),
    ]
    stockholm = (
        "I omgång 2025-06 rapporterade Stockholm genom 3 stadsdelar, och stadens värde är "
        "medelvärdet av värdena för de stadsdelar som har rapporterat hela året: 1 stadsdel "
        "2023 och 2 stadsdelar 2024."
    )
    assert city_units(rows, {"0180", "1480"}, load_definitions(), "2025-06", kommuner) == (
        f"{stockholm} I omgång 2025-06 har Göteborg inga värden: staden har inte rapporterat "
        "något helt år."
    )
    # without Göteborg's rows and cases: it did not take part
    assert city_units(rows[:-1], {"0180"}, load_definitions(), "2025-06", kommuner) == (
        f"{stockholm} I omgång 2025-06 deltog Göteborg inte."
    )


def test_missing_population_raises_and_names_kommun_year_gender(
    clean_warehouse, kommuner_csv, tmp_path
):
    rows = [r for k in ("0180", "1280", "1480") for r in with_genders("aktualiserade", k, 2024, 50)]
    rows = [
        (f, k, y, g, c, None if (k, g) in {("1280", "T"), ("1480", "K")} else p)
        for f, k, y, g, c, p in rows
    ]
    load_mart(clean_warehouse, rows)
    with pytest.raises(MissingPopulationError) as err:
        publish(ROUND, clean_warehouse, tmp_path / "out", kommuner_csv=kommuner_csv)
    # 1480 K is computed but not published: not a gate failure
    assert [(m.kommun_kod, m.kommun_namn, m.year, m.gender) for m in err.value.missing] == [
        ("1280", "Malmö", 2024, "T")
    ]
    assert "1280 Malmö 2024 T" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_unknown_kommun_is_rejected(clean_warehouse, kommuner_csv, tmp_path):
    load_mart(
        clean_warehouse,
        with_genders("aktualiserade", "0180", 2024, 50)
        + [("aktualiserade", "9999", 2024, "T", 10, 1000)],
    )
    with pytest.raises(ReferenceDataError, match="9999"):
        publish(ROUND, clean_warehouse, tmp_path / "out", kommuner_csv=kommuner_csv)


def test_republish_is_byte_identical_and_changes_give_a_new_version(
    clean_warehouse, kommuner_csv, tmp_path
):
    out = tmp_path / "kolada"
    load_mart(clean_warehouse, ROUND_ROWS)
    first = publish(ROUND, clean_warehouse, out, kommuner_csv=kommuner_csv)
    snapshot = {p.name: p.read_bytes() for p in first.directory.iterdir()}
    second = publish(ROUND, clean_warehouse, out, kommuner_csv=kommuner_csv)
    assert (first.version, second.version, second.reused) == ("v001", "v001", True)
    assert {p.name: p.read_bytes() for p in second.directory.iterdir()} == snapshot
    assert second.sha256 == first.sha256

    # the rendering itself is reproducible (a fresh v001 elsewhere has the same bytes)
    other = publish(ROUND, clean_warehouse, tmp_path / "elsewhere", kommuner_csv=kommuner_csv)
    for name in ("data.json", "data.csv", "kpi.json", "manifest.json"):
        assert (other.directory / name).read_bytes() == snapshot[name]

    with clean_warehouse.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE marts.fct_kolada_key_figures SET case_count = 260, value_per_10000 = 3.25"
            " WHERE kommun_kod = '0180' AND year = 2024 AND figure = 'aktualiserade' AND gender = "
            "'T'"
        )
    third = publish(ROUND, clean_warehouse, out, kommuner_csv=kommuner_csv)
    assert (third.version, third.reused) == ("v002", False)
    assert {p.name: p.read_bytes() for p in first.directory.iterdir()} == snapshot  # v001 untouched
    assert third.sha256["data.json"] != first.sha256["data.json"]
    fourth = publish(ROUND, clean_warehouse, out, kommuner_csv=kommuner_csv)
    assert (fourth.version, fourth.reused) == ("v002", True)
    assert sorted(p.name for p in (out / ROUND).iterdir() if not p.name.startswith(".")) == [
        "v001",
        "v002",
    ]


def test_a_revision_keeps_what_the_version_before_withheld(clean_warehouse, kommuner_csv, tmp_path):
    """v001 withholds 0580 (3 cases) and, for län 05, 0581 (8). 0580 then corrects its count
    to 6: alone, 0581 (8, unchanged) would be published, and with it v001's 3 (the län's
    total less 8). Both stay withheld, so the files are v001's: no new version."""
    out = tmp_path / "kolada"
    load_mart(clean_warehouse, SMALL_ROWS)
    first = publish(ROUND, clean_warehouse, out, kommuner_csv=kommuner_csv)
    assert first.version == "v001"
    with clean_warehouse.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE marts.fct_kolada_key_figures SET case_count = 6, value_per_10000 = 0.6"
            " WHERE kommun_kod = '0580' AND year = 2024 AND gender = 'T'"
        )
    alone = publish(ROUND, clean_warehouse, tmp_path / "alone", kommuner_csv=kommuner_csv)
    assert (alone.directory / "data.csv").read_text(encoding="utf-8").splitlines()[2:4] == [
        "U30750;0580;2024;T;0.6;",
        "U30750;0581;2024;T;0.8;",
    ]
    second = publish(ROUND, clean_warehouse, out, kommuner_csv=kommuner_csv)
    assert (second.version, second.reused) == ("v001", True)
    assert (second.directory / "data.csv").read_text(encoding="utf-8").splitlines()[2:4] == [
        "U30750;0580;2024;T;;..",
        "U30750;0581;2024;T;;..",
    ]
    # a further change elsewhere makes v002, which still keeps both
    with clean_warehouse.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE marts.fct_kolada_key_figures SET case_count = 70, value_per_10000 = 3.5"
            " WHERE kommun_kod = '0180' AND year = 2024 AND gender = 'T'"
        )
    third = publish(ROUND, clean_warehouse, out, kommuner_csv=kommuner_csv)
    assert third.version == "v002"
    assert (third.directory / "data.csv").read_text(encoding="utf-8").splitlines()[1:4] == [
        "U30750;0180;2024;T;3.5;",
        "U30750;0580;2024;T;;..",
        "U30750;0581;2024;T;;..",
    ]
    manifest = json.loads((third.directory / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["rows"]["withheld_by_reason"]["earlier-version"] == 2


def test_failed_write_leaves_no_half_publication(
    clean_warehouse, kommuner_csv, tmp_path, monkeypatch
):
    out = tmp_path / "kolada"
    load_mart(clean_warehouse, SMALL_ROWS)

    def broken_rename(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(versioned.os, "rename", broken_rename)
    with pytest.raises(OSError, match="disk gone"):
        publish(ROUND, clean_warehouse, out, kommuner_csv=kommuner_csv)
    assert [p.name for p in (out / ROUND).iterdir()] == [".lock"]
    monkeypatch.undo()
    assert publish(ROUND, clean_warehouse, out, kommuner_csv=kommuner_csv).version == "v001"


def test_bad_round_id_and_missing_mart(clean_warehouse, tmp_path):
    with pytest.raises(ValueError):
        publish("../2025-06", clean_warehouse, tmp_path)
    with pytest.raises(publish_module.PublicationError, match="finns inte"):
        publish(ROUND, clean_warehouse, tmp_path)
    # a round that has not closed, and a round with no upload, are refused
    with pytest.raises(publish_module.PublicationError, match="stänger 2099-12-31"):
        publish("2099-12", clean_warehouse, tmp_path)
    load_mart(clean_warehouse, SMALL_ROWS)
    with pytest.raises(publish_module.PublicationError, match="inga godkända uppladdningar"):
        publish("2024-12", clean_warehouse, tmp_path)


# ----------------------------------------------------------------------------------------------
# Done when: the published files, served under Kolada v3 paths, read back through koladapy


def _csv_param(values: list[str]) -> list[str]:
    return [part for v in values for part in v.split(",") if part]


def serve_kolada(directory: Path):
    data = json.loads((directory / "data.json").read_text(encoding="utf-8"))["values"]
    kpis = json.loads((directory / "kpi.json").read_text(encoding="utf-8"))["values"]
    requests_seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            requests_seen.append(self.path)
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            parts = [p for p in url.path.split("/") if p]
            kpi_ids = munis = years = None
            if parts[:2] == ["v3", "kpi"] and len(parts) == 3:
                ids = set(parts[2].split(","))
                return self.page([k for k in kpis if k["id"] in ids], query)
            if parts[:3] == ["v3", "data", "kpi"] and len(parts) in (6, 8):
                kpi_ids = parts[3].split(",")
                if len(parts) == 8 and parts[4] == "municipality" and parts[6] == "year":
                    munis, years = parts[5].split(","), parts[7].split(",")
                elif len(parts) == 6 and parts[4] == "year":
                    years = parts[5].split(",")
                else:
                    return self.send_error(404)
            elif parts == ["v3", "data"]:
                kpi_ids = _csv_param(query.get("kpi_id", [])) or None
                munis = _csv_param(query.get("municipality_id", [])) or None
                years = _csv_param(query.get("year", [])) or None
            else:
                return self.send_error(404)
            rows = [
                item
                for item in data
                if (kpi_ids is None or item["kpi"] in kpi_ids)
                and (munis is None or item["municipality"] in munis)
                and (years is None or str(item["period"]) in years)
            ]
            return self.page(rows, query)

        def page(self, rows, query):
            page = int(query.get("page", ["1"])[0])
            per_page = min(int(query.get("per_page", ["5000"])[0]), 5000)
            chunk = rows[(page - 1) * per_page : page * per_page]
            base = f"http://127.0.0.1:{self.server.server_address[1]}{urlsplit(self.path).path}"

            def link(p):
                q = dict(query) | {
                    "page": [str(p)],
                    "per_page": [str(per_page)],
                }
                return base + "?" + urlencode(q, doseq=True)

            body = json.dumps(
                {
                    "count": len(chunk),
                    "next_url": link(page + 1) if page * per_page < len(rows) else None,
                    "previous_url": link(page - 1) if page > 1 else None,
                    "values": chunk,
                },
                ensure_ascii=False,
            ).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, requests_seen


def test_done_when_published_data_reads_back_through_koladapy(
    clean_warehouse, kommuner_csv, tmp_path
):
    koladapy = pytest.importorskip("koladapy")
    load_mart(clean_warehouse, ROUND_ROWS)
    pub = publish(ROUND, clean_warehouse, tmp_path / "kolada", kommuner_csv=kommuner_csv)

    with clean_warehouse.connect() as conn:
        mart = {
            (FIGURE_KPI[f], k, y): v
            for f, k, y, v in conn.exec_driver_sql(
                "SELECT figure, kommun_kod, year, value_per_10000 FROM marts.fct_kolada_key_figures"
                " WHERE gender = 'T' AND year <= 2024"
            )
        }

    server, thread, seen = serve_kolada(pub.directory)
    try:
        api = koladapy.KoladaAPI(
            base_url=f"http://127.0.0.1:{server.server_address[1]}/v3/",
            max_requests_per_second=1000,
            timeout=5,
        )
        api.DEFAULT_PER_PAGE = 3  # exercise next_url paging

        # /v3/data?kpi_id=..&year=.. (the form koladapy's get_values uses)
        items = api.get_values(kpi_id=["U30750", "U30751", "U30752"], years=[2023, 2024, 2025])
        got = {}
        for item in items:
            assert [v["gender"] for v in item["values"]] == ["T"]
            v = item["values"][0]
            got[(item["kpi"], item["municipality"], item["period"])] = (v["value"], v["status"])
        assert set(got) == set(mart)  # every mart cell of a published gender and complete year
        for key, mart_value in mart.items():
            if key in EXPECTED_WITHHELD:
                assert got[key] == (None, ".."), key
            else:
                assert got[key] == (half_up(mart_value), ""), key
        assert any(s.startswith("/v3/data/?") and "page=2" in s for s in seen)

        # /v3/data/kpi/{kpi}/municipality/{m}/year/{y} and /v3/data/kpi/{kpi}/year/{y}
        rows = api._paginate_request("data/kpi/U30750/municipality/0114,0117,0180/year/2024")
        assert {r["municipality"]: r["values"][0]["value"] for r in rows} == {
            "0114": None,
            "0117": None,
            "0180": half_up(mart[("U30750", "0180", 2024)]),
        }
        rows = api._paginate_request("data/kpi/U30752/year/2023")
        assert {r["municipality"] for r in rows if r["values"][0]["value"] is None} == {
            "0115",
            "0117",
            "2380",
        }

        df = api.get_data_as_dataframe(
            kpi_id="U30750", municipality_id=["0114", "0581"], years=2024
        )
        by_m = dict(zip(df["municipality"], df["value"], strict=True))
        assert by_m["0581"] == 0.0
        assert by_m["0114"] is None or by_m["0114"] != by_m["0114"]  # None or NaN

        # /v3/kpi/{id}
        kpi = api.get_kpi("U30751")
        assert kpi["title"] == load_definitions().kpis[1].title
        assert kpi["operating_area"] == "Individ- och familjeomsorg"
        assert [k["id"] for k in api.get_kpis(["U30750", "U30752"])] == ["U30750", "U30752"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_test_kommuner_match_the_reference_seed():
    from sukvinnofrid.reference import kommuner

    real = kommuner()
    for kod, namn, lan in KOMMUNER:
        assert (real[kod].namn, real[kod].lan_kod) == (namn, lan)


def test_gender_divided_publication_is_a_change_of_definition(
    clean_warehouse, kommuner_csv, tmp_path
):
    import dataclasses

    defs = load_definitions()
    kpis = tuple(dataclasses.replace(k, published_genders=("T", "K", "M")) for k in defs.kpis)
    defs = dataclasses.replace(defs, kpis=kpis)
    # 0180: M = 2 (primary) -> K (secondary-gender); riket K and M totals: 1280 K and M too
    load_mart(
        clean_warehouse,
        with_genders("aktualiserade", "0180", 2024, 8)
        + with_genders("aktualiserade", "1280", 2024, 40),
    )
    pub = publish(
        ROUND, clean_warehouse, tmp_path / "out", kommuner_csv=kommuner_csv, definitions=defs
    )
    data = json.loads((pub.directory / "data.json").read_text(encoding="utf-8"))
    got = {
        (i["municipality"], v["gender"]): v["status"] for i in data["values"] for v in i["values"]
    }
    assert [v["gender"] for v in data["values"][0]["values"]] == ["T", "K", "M"]
    assert got == {
        ("0180", "T"): "",
        ("0180", "K"): "..",
        ("0180", "M"): "..",
        ("1280", "T"): "",
        ("1280", "K"): "..",
        ("1280", "M"): "..",
    }
