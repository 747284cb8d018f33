"""Reference seeds and their loaders; SCB parsing offline. No database needed."""

from __future__ import annotations

import csv
import re
from collections import Counter

import pytest

from sukvinnofrid import reference
from sukvinnofrid.reference import scb

YEARS = range(2021, 2026)
KOMMUNER_PER_LAN = {
    "01": 26, "03": 8, "04": 9, "05": 13, "06": 13, "07": 8, "08": 12, "09": 1, "10": 5,
    "12": 33, "13": 6, "14": 49, "17": 16, "18": 12, "19": 10, "20": 15, "21": 10, "22": 7,
    "23": 8, "24": 15, "25": 14,
}  # fmt: skip


def test_lan():
    lan = reference.lan()
    assert len(lan) == 21
    assert set(lan) == set(KOMMUNER_PER_LAN)
    assert lan["01"] == "Stockholms län"
    assert all(re.fullmatch(r"\d{2}", kod) for kod in lan)


def test_290_kommuner_with_unique_codes():
    path = reference.reference_dir() / "kommuner.csv"
    with open(path, newline="", encoding="utf-8") as f:
        codes = [row["kommun_kod"] for row in csv.DictReader(f)]
    assert len(codes) == 290
    assert len(set(codes)) == 290
    assert all(re.fullmatch(r"\d{4}", code) for code in codes)
    kommuner = reference.kommuner()
    assert len(kommuner) == 290
    assert len({k.namn for k in kommuner.values()}) == 290


def test_kommun_codes_belong_to_their_lan():
    lan = reference.lan()
    for kod, kommun in reference.kommuner().items():
        assert kommun.kod == kod
        assert kod[:2] == kommun.lan_kod, kommun
        assert kommun.lan_kod in lan, kommun
    assert Counter(k.lan_kod for k in reference.kommuner().values()) == KOMMUNER_PER_LAN


@pytest.mark.parametrize(
    "kod, namn",
    [("0114", "Upplands Väsby"), ("0180", "Stockholm"), ("1480", "Göteborg"),
     ("1280", "Malmö"), ("2584", "Kiruna"), ("0980", "Gotland"), ("2403", "Bjurholm")],
)  # fmt: skip
def test_known_kommuner(kod, namn):
    assert reference.kommuner()[kod].namn == namn


def test_population_complete_and_positive():
    population = reference.population_18plus()
    kommuner = reference.kommuner()
    assert len(population) == 290 * 5 * 2
    for kod in kommuner:
        for year in YEARS:
            for kon in ("K", "M"):
                assert population[(kod, year, kon)] > 0, (kod, year, kon)
    assert {k for k, _, _ in population} == set(kommuner)


def test_population_plausible():
    population = reference.population_18plus()

    def adults(kod: str, year: int = 2023) -> int:
        return population[(kod, year, "K")] + population[(kod, year, "M")]

    assert 700_000 < adults("0180") < 850_000  # Stockholm
    assert 420_000 < adults("1480") < 520_000  # Göteborg
    assert 250_000 < adults("1280") < 310_000  # Malmö
    assert 1_500 < adults("2403") < 2_500  # Bjurholm
    national = sum(adults(kod) for kod in reference.kommuner())
    assert 8_000_000 < national < 8_700_000


def test_stadsdelar():
    stadsdelar = reference.stadsdelar()
    by_kommun = Counter(s.kommun_kod for s in stadsdelar.values())
    assert by_kommun == {"0180": 13, "1480": 10}
    for kod, stadsdel in stadsdelar.items():
        assert stadsdel.kod == kod
        assert re.fullmatch(r"\d{4}-[A-Z]{3}", kod)
        assert kod[:4] == stadsdel.kommun_kod
        # every stadsdel has an OU id for its Kolada unit data; ours are provisional until RKA
        # sets them (the manifest says so)
        assert re.fullmatch(r"V15E\d{7}", stadsdel.kolada_ou_id)
        assert stadsdel.kolada_ou_id_status == "provisional"
    assert len({s.kolada_ou_id for s in stadsdelar.values()}) == 23
    assert stadsdelar["0180-EAV"].namn == "Enskede-Årsta-Vantör"
    assert stadsdelar["1480-ANG"].namn == "Angered"


def test_reporting_unit_kommun():
    assert reference.reporting_unit_kommun("0114") == "0114"
    assert reference.reporting_unit_kommun("0180") == "0180"
    assert reference.reporting_unit_kommun("0180-EAV") == "0180"
    assert reference.reporting_unit_kommun("0180-eav") == "0180"
    assert reference.reporting_unit_kommun(" 1480-ANG ") == "1480"
    assert reference.reporting_unit_kommun("0199") is None
    assert reference.reporting_unit_kommun("0180-XYZ") is None
    assert reference.reporting_unit_kommun("114") is None
    assert reference.reporting_unit_kommun("") is None


def test_kommungrupper():
    groups = reference.kommungrupper()
    assert list(groups) == ["1", "2", "3", "4"]
    assert groups["4"].max_invanare is None
    assert reference.storleksgrupp(2_400).kod == "1"
    assert reference.storleksgrupp(14_999).kod == "1"
    assert reference.storleksgrupp(15_000).kod == "2"
    assert reference.storleksgrupp(40_000).kod == "3"
    assert reference.storleksgrupp(984_000).kod == "4"


def _payload() -> dict:
    columns = [
        {"code": "Region", "text": "region", "type": "d"},
        {"code": "Alder", "text": "ålder", "type": "d"},
        {"code": "Kon", "text": "kön", "type": "d"},
        {"code": "Tid", "text": "år", "type": "t"},
        {"code": "BE0101N1", "text": "Folkmängd", "type": "c"},
    ]
    data = [
        {"key": ["2403", "17", "1", "2023"], "values": ["40"]},  # under 18: ignored
        {"key": ["2403", "18", "1", "2023"], "values": ["12"]},
        {"key": ["2403", "19", "1", "2023"], "values": ["10"]},
        {"key": ["2403", "100+", "1", "2023"], "values": ["1"]},
        {"key": ["2403", "18", "2", "2023"], "values": ["11"]},
        {"key": ["2403", "64", "2", "2023"], "values": ["30"]},
        {"key": ["2403", "tot", "2", "2023"], "values": ["999"]},  # a total: ignored
        {"key": ["2403", "18", "1", "2024"], "values": ["13"]},
        {"key": ["2403", "18", "2", "2024"], "values": [".."]},  # not available: 0
        {"key": ["0114", "50", "2", "2023"], "values": ["500"]},
        {"key": ["0114", "51", "2", "2023"], "values": ["501"]},
    ]
    return {"columns": columns, "data": data, "comments": []}


def test_parse_pxweb_json_sums_adult_ages():
    assert scb.parse_pxweb_json(_payload()) == [
        ("0114", 2023, "K", 1001),
        ("2403", 2023, "K", 41),
        ("2403", 2023, "M", 23),
        ("2403", 2024, "K", 0),
        ("2403", 2024, "M", 13),
    ]


def test_parse_pxweb_json_follows_column_order():
    payload = _payload()
    payload["columns"] = [payload["columns"][i] for i in (3, 2, 1, 0, 4)]  # Tid, Kon, Alder, Region
    payload["data"] = [{"key": d["key"][::-1], "values": d["values"]} for d in payload["data"]]
    assert scb.parse_pxweb_json(payload) == scb.parse_pxweb_json(_payload())


def test_parse_pxweb_json_rejects_other_shapes():
    with pytest.raises(scb.ScbError):
        scb.parse_pxweb_json({"dataset": {}})


def test_parse_pxweb_json_sums_every_age_for_the_total():
    assert scb.parse_pxweb_json(_payload(), min_age=0) == [
        ("0114", 2023, "K", 1001),
        ("2403", 2023, "K", 41),
        ("2403", 2023, "M", 63),  # with the 40 under 18
        ("2403", 2024, "K", 0),
        ("2403", 2024, "M", 13),
    ]


def test_build_query_selects_every_age():
    query = scb.build_query(["0114", "2403"], [2023])
    selections = {q["code"]: q["selection"]["values"] for q in query["query"]}
    assert selections["Region"] == ["0114", "2403"]
    assert selections["Alder"][0] == "0" and selections["Alder"][-1] == "100+"
    assert len(selections["Alder"]) == 101
    assert selections["Kon"] == ["1", "2"]
    assert selections["ContentsCode"] == ["BE0101N1"]
    assert selections["Tid"] == ["2023"]
    assert query["response"]["format"] == "json"


def test_refresh_population_offline(tmp_path, monkeypatch):
    """A refresh with SCB's answer faked: fetched years replaced and marked 'scb', others kept,
    the total population written beside, note rewritten."""
    out = tmp_path / "population_18plus.csv"
    out.write_text(
        "kommun_kod,year,kon,population,source\n0114,2021,K,1,approximation\n"
        "0114,2021,M,2,approximation\n0114,2022,K,3,approximation\n0114,2022,M,4,approximation\n",
        encoding="utf-8",
    )
    calls = []

    def fake_post(url, query, timeout=scb.TIMEOUT_SECONDS):
        selections = {q["code"]: q["selection"]["values"] for q in query["query"]}
        calls.append(selections["Tid"])
        (year,) = selections["Tid"]
        data = [
            {"key": [kod, age, kon, year], "values": ["2"]}
            for kod in selections["Region"]
            for age in ("5", "18", "40")
            for kon in ("1", "2")
        ]
        return {"columns": _payload()["columns"], "data": data}

    monkeypatch.setattr(scb, "_post_json", fake_post)
    monkeypatch.setattr(scb.time, "sleep", lambda s: None)
    try:
        assert scb.refresh_population([2022], out) == out
    finally:
        reference.clear_cache()
    assert calls == [["2022"]]
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 + 290 * 2
    assert {(r["population"], r["source"]) for r in rows if r["year"] == "2022"} == {("4", "scb")}
    assert [(r["population"], r["source"]) for r in rows if r["year"] == "2021"] == [
        ("1", "approximation"),
        ("2", "approximation"),
    ]
    with open(tmp_path / "population_total.csv", newline="", encoding="utf-8") as f:
        totals = list(csv.DictReader(f))
    # every age of both sexes: 3 ages x 2 x 2
    assert len(totals) == 290 and {(t["year"], t["population"], t["source"]) for t in totals} == {
        ("2022", "12", "scb")
    }
    note = (tmp_path / "population_18plus.source.md").read_text(encoding="utf-8")
    assert "BE0101N1" in note and "Fetched from SCB on" in note and "2021" in note


def test_refresh_population_without_network(tmp_path, monkeypatch):
    def no_network(request, timeout):
        raise scb.urllib.error.URLError("no route to host")

    monkeypatch.setattr(scb.urllib.request, "urlopen", no_network)
    out = tmp_path / "population_18plus.csv"
    with pytest.raises(scb.ScbUnavailableError, match="cannot reach SCB"):
        scb.refresh_population([2023], out)
    assert not out.exists()


def test_shipped_source_note():
    note = (reference.reference_dir() / "population_18plus.source.md").read_text(encoding="utf-8")
    assert "BE0101N1" in note
    assert "refresh-population" in note
    assert "approximation" in note
