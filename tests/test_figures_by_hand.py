"""A hand-written round through the whole chain, every figure written by hand from the report's
definitions (seed 000, seeds/figures.md; the definitions as docs/figures.md states them).

Three kommuner: Stockholm reporting by two stadsdelar (Södermalm 0180-SOD, Kungsholmen
0180-KUN, län 01), Malmö (1280, län 12) and Upplands Väsby (0114, län 01). Rounds 2023-06 (R1)
and 2023-12 (R2); Upplands Väsby uploads only in R1 (carried forward), Kungsholmen only in R2.
The files go through intake, the quality gate, dbt (on the fixture population in
tests/fixtures/hand_round/reference/: fictional, small, exact) and publication.

The cases as of R2 (R1 differs where noted). "insats" = v117 or v118 registered; "closed" =
v256 or v257 registered, unless v256 lies before v5 (then the case is not closed: k2); a wrong
answer counts as "uppgift saknas".

case unit kön ålder v20 v49     v58   v59 v67 insats (117; 118)          closed (256; 257; 192) brukarenkät     v90 (t,instrument,score)
s1   SOD  K   30    1   1       2     2   2   2023-01-15; 3,4            2023-05-10; 1; 1        202=1 203=5 206=1 212=5  (1,1,7) (3,1,7)
s2   SOD  K   22    4   1,8     1     1   3   2023-02-03; 4,7,10         R2: 2023-09-01; 3; 3    -               (1,1,8) (2,6,4)
s3   SOD  -   45    1   5       2     2   7!  -                           2023-03-20; 2; 5        -
s4   SOD  M   -     2   1       3     3   1   -; 1 (no start date)        open                    -
s5   SOD  K   67    1   13      2     2   2   2023-08-20; - (no insats)   -; 4 (no date); -       -   (R1: aktualiserad after R1 closed)
k1   KUN  K   35    3   1       2     2   2   2023-07-02; 4              2023-11-30; 1; 2        202=2 203=4 212=4  (1,1,6) (2,1,7) (2,6,2)
k2   KUN  K   52    1   1       2     2   2   -                           2023-09-01 (before v5: open); 1; 1
k3   KUN  K   29    1   1       2     2   2   -                           open
k4   KUN  M   61    1   14      4     2   1   2023-12-20; 8              open
m1   1280 K   28    1   1       2     2   2   2022-11-10; 3,4,13         2023-02-01; 1; 2        202=3 203=6 212=6
m2   1280 M   19    4   1,12    1,2   1   3   2023-01-05; 4,10,11        R2: 2023-10-01; -; 1    -
m3   1280 K   40    5   1       6     2   1   -                           open      (v19: 2,3)
m4   1280 K   33    2   4       -     -   2   2023-10-12; 4              open      (v19: 3; R2 only)
u1   0114 K   50    1   1       2     2   2   2022-09-05; 4              2022-12-01; 1; 1        202=1 212=5
u2   0114 K   26    1   1       2     2   2   -                           open
Also v19: s1 4 (nej), s2 5 (vet ej), s4 4; v126: s1 1, s2 1, m1 2; v127: s1 7, s2 5+6, s4 10
(ingen samverkan), m1 6+7, m2 5; v161: s1 1, s2 3, k1 1, m1 2, u1 1; v5: s1 2023-01-10,
s2 2023-02-01, s3 2023-03-01, s4 2023-04-01, s5 2023-07-15, k1 2023-07-01, k2 2023-09-10,
k3 2023-11-01, k4 2023-12-05, m1 2022-11-01, m2 2022-12-15, m3 2023-05-05, m4 2023-10-10,
u1 2022-09-01, u2 2023-02-10.

Rows that are not cases (rejected): R1 SOD s5 (aktualiserad 2023-07-15, after R1 closed);
R2 SOD a row without klient; R2 KUN k2 again with verksamhet 2 (the same ärende: kommun, klient
and datum för aktualisering; counted once); R2 Malmö a klient aged 17. One per file, so no file
passes the 20 % limit of rows that are not cases.

Kolada (a case counts in the year of its figure's event: U30750 aktualisering v5, U30751 the
insats' start v117, U30752 the closing v256; populations 18+: SOD 2023 10 000, KUN 2023 5 000,
1280 40 000, 0114 20 000; the Stockholm value is the mean of its stadsdelar'):
         U30750 (v5)       U30751 (v117)                  U30752 (v256)
SOD 2023 5 -> 5.0          3 (s1 01-15, s2 02-03, s5      1 (s1 05-10) -> 1.0
                           08-20; s4 has no start date:
                           in no year) -> 3.0
KUN 2023 4 -> 8.0          2 (k1 07-02, k4 12-20) -> 4.0  1 (k1 11-30; k2 not closed and
                                                          without insats) -> 2.0
0180     (5.0+8.0)/2=6.5   (3.0+4.0)/2=3.5                (1.0+2.0)/2=1.5
1280 2022 not covered: Malmö took part from round 2022-11, whose collection began 2022-11-01: '-'
          (counted: 2 (m1 m2); 1 (m1 2022-11-10); 0 (m1 and m2 closed in 2023))
1280 2023 2 (m3 m4) -> 0.5 2 (m2 2023-01-05, m4 10-12)    2 (m1 2023-02-01 192=2, m2 10-01
                           -> 0.5                         192=1) -> 0.5
0114 2022 1 (u1) -> 0.5    1 (u1 2022-09-05) -> 0.5       1 (u1 2022-12-01) -> 0.5
0114 2023 not reported in full (its upload in force is R1's, 2023-06): '-'

A year is covered when the unit took part from a round whose collection began on or before 1
January (fixture participation register: 0114 from 2022-01, Malmö from 2022-11, Södermalm and
Kungsholmen from 2023-01) and its upload in force closed on 31 December or later.
"""  # noqa: E501 (the case table keeps a case on one line)

from __future__ import annotations

import dataclasses
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import csv_bytes
from sukvinnofrid import intake, transform
from sukvinnofrid.catalogue import load_catalogue, risk_column
from sukvinnofrid.kolada import load_definitions, publish
from sukvinnofrid.kolada.publish import PublicationError
from sukvinnofrid.quality import gate
from sukvinnofrid.statistics import publish_statistics

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "hand_round"
R1, R2 = "2023-06", "2023-12"


def case(unit: str, klient: str, v5: str, *, verksamhet: str = "1", **answers) -> dict:
    """One row of an upload, by catalogue key: multiple choice as a list of codes, risk
    assessments as a list of (time point, instrument, score)."""
    catalogue = load_catalogue()
    row = {
        "v1_verksamhet": verksamhet,
        "v2_kommun": unit,
        "v3_handlaggare": "H1",
        "v4_klient": klient,
        "v5_datum_aktualisering": v5,
    }
    for key, value in answers.items():
        variable = catalogue.by_key(key)
        if variable.type == "codes":
            row.update({f"{variable.column}_{code}": "1" for code in value})
        elif variable.type == "risk_assessments":
            for slot, (time_point, instrument, score) in enumerate(value, start=1):
                row[risk_column(slot, "tidpunkt")] = str(time_point)
                row[risk_column(slot, "instrument")] = str(instrument)
                row[risk_column(slot, "skattning")] = str(score)
        else:
            row[variable.column] = str(value)
    return row


def base(**answers):
    """The answers most cases share (overridden per case)."""
    return {
        "kon": 1,
        "ursprung": 1,
        "initiativ": [1],
        "utovare": [2],
        "hedersrelaterat": 2,
        "valdets_grad": 2,
    } | answers


S1 = case(
    "0180-SOD",
    "S1",
    "2023-01-10",
    **base(
        alder=30,
        funktionsnedsattning=[4],
        riskbedomning=[(1, 1, 7), (3, 1, 7)],
        forandringsmal=2,
        datum_insats="2023-01-15",
        insatser=[3, 4],
        typ_av_insats=1,
        samverkan=[7],
        genomforande=1,
        maluppfoljning=1,
        datum_avslut="2023-05-10",
        avslutsorsak=1,
        forandring_valdsutsatthet=1,
        insatsernas_betydelse=5,
        positiva_inslag=1,
        delaktighet=5,
    ),
)
S2_R1 = case(
    "0180-SOD",
    "S2",
    "2023-02-01",
    **base(
        alder=22,
        funktionsnedsattning=[5],
        ursprung=4,
        initiativ=[1, 8],
        utovare=[1],
        hedersrelaterat=1,
        valdets_grad=3,
        riskbedomning=[(1, 1, 8), (2, 6, 4)],
        forandringsmal=2,
        datum_insats="2023-02-03",
        insatser=[4, 7, 10],
        typ_av_insats=1,
        samverkan=[5, 6],
    ),
)
S2 = S2_R1 | case(
    "0180-SOD",
    "S2",
    "2023-02-01",
    genomforande=3,
    maluppfoljning=3,
    datum_avslut="2023-09-01",
    avslutsorsak=3,
)
S3 = case(
    "0180-SOD",
    "S3",
    "2023-03-01",
    **base(
        kon="",
        alder=45,
        initiativ=[5],
        valdets_grad=7,
        forandringsmal=1,
        maluppfoljning=5,
        datum_avslut="2023-03-20",
        avslutsorsak=2,
    ),
)
S4 = case(
    "0180-SOD",
    "S4",
    "2023-04-01",
    **base(
        kon=2,
        funktionsnedsattning=[4],
        ursprung=2,
        utovare=[3],
        hedersrelaterat=3,
        valdets_grad=1,
        insatser=[1],
        samverkan=[10],
    ),
)
S5 = case(
    "0180-SOD",
    "S5",
    "2023-07-15",
    **base(alder=67, initiativ=[13], datum_insats="2023-08-20", avslutsorsak=4),
)
NO_KLIENT = case("0180-SOD", "", "2023-05-05", **base(alder=40))
K1 = case(
    "0180-KUN",
    "K1",
    "2023-07-01",
    **base(
        alder=35,
        ursprung=3,
        riskbedomning=[(1, 1, 6), (2, 1, 7), (2, 6, 2)],
        datum_insats="2023-07-02",
        insatser=[4],
        genomforande=1,
        maluppfoljning=2,
        datum_avslut="2023-11-30",
        avslutsorsak=1,
        forandring_valdsutsatthet=2,
        insatsernas_betydelse=4,
        delaktighet=4,
    ),
)
K2 = case(
    "0180-KUN",
    "K2",
    "2023-09-10",
    **base(alder=52, maluppfoljning=1, datum_avslut="2023-09-01", avslutsorsak=1),
)
K2_AGAIN = K2 | {"v1_verksamhet": "2"}
K3 = case("0180-KUN", "K3", "2023-11-01", **base(alder=29))
K4 = case(
    "0180-KUN",
    "K4",
    "2023-12-05",
    **base(
        kon=2,
        alder=61,
        initiativ=[14],
        utovare=[4],
        valdets_grad=1,
        datum_insats="2023-12-20",
        insatser=[8],
    ),
)
M1 = case(
    "1280",
    "M1",
    "2022-11-01",
    **base(
        alder=28,
        datum_insats="2022-11-10",
        insatser=[3, 4, 13],
        typ_av_insats=2,
        samverkan=[6, 7],
        genomforande=2,
        maluppfoljning=2,
        datum_avslut="2023-02-01",
        avslutsorsak=1,
        forandring_valdsutsatthet=3,
        insatsernas_betydelse=6,
        delaktighet=6,
    ),
)
M2_R1 = case(
    "1280",
    "M2",
    "2022-12-15",
    **base(
        kon=2,
        alder=19,
        ursprung=4,
        initiativ=[1, 12],
        utovare=[1, 2],
        hedersrelaterat=1,
        valdets_grad=3,
        datum_insats="2023-01-05",
        insatser=[4, 10, 11],
        samverkan=[5],
    ),
)
M2 = M2_R1 | case("1280", "M2", "2022-12-15", maluppfoljning=1, datum_avslut="2023-10-01")
M3 = case(
    "1280",
    "M3",
    "2023-05-05",
    **base(alder=40, funktionsnedsattning=[2, 3], ursprung=5, utovare=[6], valdets_grad=1),
)
M4 = case(
    "1280",
    "M4",
    "2023-10-10",
    **base(
        alder=33,
        funktionsnedsattning=[3],
        ursprung=2,
        initiativ=[4],
        utovare=[],
        hedersrelaterat="",
        datum_insats="2023-10-12",
        insatser=[4],
    ),
)
UNDER_18 = case("1280", "M9", "2023-06-01", **base(alder=17))
U1 = case(
    "0114",
    "U1",
    "2022-09-01",
    **base(
        alder=50,
        datum_insats="2022-09-05",
        insatser=[4],
        genomforande=1,
        maluppfoljning=1,
        datum_avslut="2022-12-01",
        avslutsorsak=1,
        forandring_valdsutsatthet=1,
        delaktighet=5,
    ),
)
U2 = case("0114", "U2", "2023-02-10", **base(alder=26))

FILES = {
    R1: {"0180-SOD": [S1, S2_R1, S3, S4, S5], "1280": [M1, M2_R1, M3], "0114": [U1, U2]},
    R2: {
        "0180-SOD": [S1, S2, S3, S4, S5, NO_KLIENT],
        "0180-KUN": [K1, K2, K2_AGAIN, K3, K4],
        "1280": [M1, M2, M3, M4, UNDER_18],
    },
}
# rows that are not cases, per file (by hand from the list above)
REJECTED = {
    (R1, "0180-SOD"): 1,
    (R1, "1280"): 0,
    (R1, "0114"): 0,
    (R2, "0180-SOD"): 1,
    (R2, "0180-KUN"): 1,
    (R2, "1280"): 1,
}


@pytest.fixture
def project(tmp_path) -> Path:
    copy = tmp_path / "dbt_project"
    shutil.copytree(
        ROOT / "dbt_project", copy, ignore=shutil.ignore_patterns("target*", "logs", "dbt_packages")
    )
    shutil.rmtree(copy / "seeds" / "reference")
    shutil.copytree(FIXTURE / "reference", copy / "seeds" / "reference")
    return copy


def _deliver(engine, inbox: Path, round_id: str) -> None:
    """Write the round's files, land them and gate them, as a kommun's upload is."""
    for unit, rows in FILES[round_id].items():
        path = inbox / f"sukf_{unit}_{round_id}.csv"
        path.write_bytes(csv_bytes(rows))
        assert intake.land_upload(path, engine).status == "landed"
    results = gate.run_pending(engine)
    with engine.connect() as conn:
        units = dict(
            conn.execute(
                sa.text("SELECT upload_id, kommun_kod FROM raw.uploads WHERE round_id = :r"),
                {"r": round_id},
            ).all()
        )
    assert {(round_id, units[r.upload_id]): r.rows_rejected for r in results} == {
        key: n for key, n in REJECTED.items() if key[0] == round_id
    }
    assert {r.status for r in results} == {"accepted"}


def _rows(engine, sql: str, **params) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]


def _published_bytes(directory: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(directory.iterdir())
        if p.name not in ("published_at.txt", "manifest.json")
    }


def _definitions(min_count: int):
    definitions = load_definitions()
    return dataclasses.replace(
        definitions, settings=dataclasses.replace(definitions.settings, min_count=min_count)
    )


FUNNEL = (
    "aktualiserade",
    "med_insats",
    "avslutade",
    "med_maluppfoljning",
    "med_brukarenkat",
    "utan_insats",
    "pagaende",
    "med_insats_utan_startdatum",
    "avslutade_utan_avslutsdatum",
    "avslutade_utan_avslutsorsak",
    "avslutade_utan_maluppfoljning",
    "avslutade_utan_brukarenkat",
)

# Diagram 1, by hand: (round, level, area, kön) -> the FUNNEL columns.
EXPECTED_FUNNEL = {
    # R1: s1..s4, m1..m3, u1, u2. insats s1 s2 s4 m1 m2 u1; closed s1 s3 m1 u1, all with a
    # reason and a goal follow-up; brukarenkät s1 m1 u1; insats without start date s4
    (R1, "riket", "00", "T"): (9, 6, 4, 4, 3, 3, 5, 1, 0, 0, 0, 1),
    # R2: 15 cases; insats s1 s2 s4 s5 k1 k4 m1 m2 m4 u1; closed s1 s2 s3 s5 k1 m1 m2 u1 (k2's
    # date of closing is before its aktualisering: open); valid 192: all closed but s5;
    # brukarenkät s1 k1 m1 u1; no valid start date s4; no date of closing s5; no reason m2
    (R2, "riket", "00", "T"): (15, 10, 8, 7, 4, 5, 7, 1, 1, 1, 1, 4),
    # K: s1 s2 s5 k1 k2 k3 m1 m3 m4 u1 u2 (s3 has no kön: in T only); closed s1 s2 s5 k1 m1 u1
    (R2, "riket", "00", "K"): (11, 7, 6, 5, 4, 4, 5, 0, 1, 0, 1, 2),
    # M: s4 k4 m2
    (R2, "riket", "00", "M"): (3, 3, 1, 1, 0, 0, 2, 1, 0, 1, 0, 1),
    # s1..s5 k1..k4: closed s1 s2 s3 s5 k1; brukarenkät s1 k1
    (R2, "kommun", "0180", "T"): (9, 6, 5, 4, 2, 3, 4, 1, 1, 0, 1, 3),
    (R2, "kommun", "1280", "T"): (4, 3, 2, 2, 1, 1, 2, 0, 0, 1, 0, 1),
    (R2, "kommun", "0114", "T"): (2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0),
    (R2, "lan", "01", "T"): (11, 7, 6, 5, 3, 4, 5, 1, 1, 0, 1, 3),
    (R2, "lan", "12", "T"): (4, 3, 2, 2, 1, 1, 2, 0, 0, 1, 0, 1),
}

# Every national figure at riket, breakdown 'alla', round R2 (period R2), by hand from the case
# table: figure -> (n_population, n, {category: numerator} for every non-zero category; every
# other category 0), plus n_answers for the multiple-choice figures. saknas = n_population - n.
EXPECTED_R2 = {
    # all 15; kön missing s3
    "kon": (15, 14, {"1": 11, "2": 3}),
    # ålder missing s4; 18-24 s2 m2; 25-34 s1 k3 m1 m4 u2; 35-44 k1 m3; 45-54 s3 k2 u1;
    # 55-64 k4; 65-74 s5
    "aldersgrupp": (
        15,
        14,
        {"18-24": 2, "25-34": 5, "35-44": 2, "45-54": 3, "55-64": 1, "65-74": 1},
    ),
    "ursprung": (15, 15, {"1": 9, "2": 2, "3": 1, "4": 2, "5": 1}),
    # v59 missing m4; ja s2 m2; vet inte s4
    "hedersrelaterat": (15, 14, {"1": 2, "2": 11, "3": 1}),
    # 1: 11 cases; 4 m4; 5 s3; 8 s2; 12 m2; 13 s5; 14 k4; annan socialtjänst (3-7) s3 m4;
    # answers 11 + 6 = 17 (diagram 6 prints the answers)
    "initiativ": (
        15,
        15,
        {"1": 11, "4": 1, "5": 1, "8": 1, "12": 1, "13": 1, "14": 1, "annan_socialtjanst": 2},
        17,
    ),
    # s1 4, s2 5, s4 4, m3 2+3, m4 3
    "funktionsnedsattning": (15, 5, {"2": 1, "3": 2, "4": 2, "5": 1}, 6),
    # s3's 7 is not a code: uppgift saknas
    "valdets_grad": (15, 14, {"1": 3, "2": 9, "3": 2}),
    # m4 none; 1 s2 m2; 2: 10 cases; 3 s4; 4 k4; 6 m3
    "utovare": (15, 14, {"1": 2, "2": 10, "3": 1, "4": 1, "6": 1, "partner": 11}, 15),
    "med_insats": (15, 15, {"ja": 10}),
    # the 10 with insats; s5 has a start date but no insats chosen: saknas
    "insatser": (
        10,
        9,
        {"1": 1, "3": 2, "4": 7, "7": 1, "8": 1, "10": 2, "11": 1, "13": 1, "boende": 3},
        16,
    ),
    # 2 + 3 + 1 + 1 + 1 + 3 + 3 + 1 + 1 = 16 insatser over the 9
    "antal_insatser": (10, 9, {"medel": 16}),
    "typ_av_insats": (10, 3, {"1": 2, "2": 1}),
    # closed with insats: s1 s2 s5 k1 m1 m2 u1; answered s1 s2 k1 m1 u1
    "genomforande": (7, 5, {"1": 3, "2": 1, "3": 1}),
    # partners: s1 7; s2 5 6; m1 6 7; m2 5
    "samverkan": (4, 4, {"5": 2, "6": 2, "7": 2}, 6),
    # registered s1 s2 s4 m1 m2; s4 "ingen samverkan"
    "antal_samverkansparter": (15, 5, {"0": 1, "1": 2, "2": 2}),
    "medel_samverkansparter": (4, 4, {"medel": 6}),
    # closed s1 s2 s3 s5 k1 m1 m2 u1 (not k2); m2 without a reason; 1 s1 k1 m1 u1
    "avslutsorsak": (8, 7, {"1": 4, "2": 1, "3": 1, "4": 1}),
    # the three causes: s1 s2 s5 k1 m1 u1; known length within 360 days: all but s5
    "avslutsorsak_langd": (6, 5, {"1": 4, "3": 1}),
    # s5 without; 1 s1 m2 u1; 2 k1 m1; 3 s2; 5 s3 (k2's 1 counts only once it is closed)
    "maluppfoljning": (8, 7, {"1": 3, "2": 2, "3": 1, "5": 1, "helt_delvis": 5}),
    # days: s1 120, s2 212, s3 19, k1 152, m1 92, m2 290, u1 91; s5 unknown
    "arendelangd": (8, 7, {"0-90": 1, "91-180": 4, "181-270": 1, "271-360": 1}),
    "brukarenkat_besvarad": (8, 8, {"ja": 4}),
    # respondents s1 k1 m1 u1
    "forandring_valdsutsatthet": (4, 4, {"1": 2, "2": 1, "3": 1}),
    # u1 did not answer 203; m1 answered it although 202 = 3 (counted, warned)
    "insatsernas_betydelse": (4, 3, {"4": 1, "5": 1, "6": 1, "stor_avgorande": 2}),
    "delaktighet": (4, 4, {"4": 1, "5": 2, "6": 1, "stor_mycket_stor": 3}),
    "positiva_inslag": (4, 1, {"1": 1}),
    # 192 = 1 and 202 = 1: s1 u1 (m2 has no brukarenkät; k2 is not closed)
    "toppgrupp": (8, 8, {"ja": 2}),
    "riskbedomning": (15, 15, {"ja": 3, "nej": 12}),
    "riskmetod": (3, 3, {"1": 3, "6": 2}, 5),
    # within one instrument: s1 FREDA 7 -> 7, k1 FREDA 6 -> 7 (s2's FREDA and samtal are one
    # assessment each; the old first-to-last slot comparison would have called s2 and k1 lower)
    "riskforandring": (2, 2, {"oforandrad": 1, "hogre": 1}),
    # inhabitants: 0180 980 000 and 1280 360 000 (100 000+), 0114 48 000 (40 000-99 999)
    "storleksgrupp": (15, 15, {"4": 13, "3": 2}),
    "befolkningsgrupp": (15, 15, {"5": 13, "3": 2}),
}


def _city_units(directory: Path) -> str:
    """The per-round sentences about Stockholm and Göteborg, the same in every KPI of kpi.json:
    between the general rule and the disclosure rule."""
    kpis = json.loads((directory / "kpi.json").read_text(encoding="utf-8"))["values"]
    (text,) = {
        k["description"]
        .split("när staden rapporterar som en kommun är värdet beräknat för hela staden. ")[1]
        .split(" Värden som bygger på")[0]
        for k in kpis
    }
    return text


@pytest.mark.slow
def test_a_hand_written_round_end_to_end(clean_warehouse, project, tmp_path):
    engine = clean_warehouse
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    out = tmp_path / "output"

    _deliver(engine, inbox, R1)
    transform.build(project_dir=project)
    r1_kolada = publish(
        R1, engine, out / "kolada", definitions=_definitions(1), allow_approximate_population=True
    )
    r1_statistics = publish_statistics(R1, engine, out / "statistik", min_count=1)
    # R1: Södermalm's upload (2023-06) covers no whole year, so Stockholm has no value yet
    assert _city_units(r1_kolada.directory) == (
        "I omgång 2023-06 har Stockholm inga värden: staden har inte rapporterat något helt år. "
        "I omgång 2023-06 deltog Göteborg inte."
    )
    r1_bytes = (_published_bytes(r1_kolada.directory), _published_bytes(r1_statistics.directory))

    _deliver(engine, inbox, R2)
    transform.build(project_dir=project)

    # -------------------------------------------------------------- a round as of itself
    again = publish(
        R1, engine, out / "kolada", definitions=_definitions(1), allow_approximate_population=True
    )
    again_statistics = publish_statistics(R1, engine, out / "statistik", min_count=1)
    assert (again.version, again.reused) == ("v001", True)
    assert (again_statistics.version, again_statistics.reused) == ("v001", True)
    assert (_published_bytes(again.directory), _published_bytes(again_statistics.directory)) == (
        r1_bytes
    )
    for refused in ("2024-12", "2099-12", "2024-06"):
        with pytest.raises(PublicationError):
            publish(refused, engine, out / "kolada", allow_approximate_population=True)
        with pytest.raises(PublicationError):
            publish_statistics(refused, engine, out / "statistik")
    assert not (out / "kolada" / "2024-12").exists()

    # -------------------------------------------------------------- diagram 1
    funnel = {
        (r["round_id"], r["level"], r["area_code"], r["kon"]): tuple(r[c] for c in FUNNEL)
        for r in _rows(engine, "SELECT * FROM marts.fct_case_funnel")
    }
    for key, expected in EXPECTED_FUNNEL.items():
        assert funnel[key] == expected, key

    # -------------------------------------------------------------- the national figures
    rows = _rows(
        engine,
        "SELECT * FROM marts.fct_national_figures WHERE round_id = :r"
        " AND period = :r AND level = 'riket' AND breakdown = 'alla'",
        r=R2,
    )
    national = {(r["figure_id"], r["category"]): r for r in rows}
    assert {figure for figure, _ in national} == set(EXPECTED_R2)
    for figure, (population, n, numerators, *answers) in EXPECTED_R2.items():
        categories = {c for f, c in national if f == figure}
        for category in categories:
            row = national[(figure, category)]
            assert (row["n_population"], row["n"], row["n_saknas"]) == (
                population,
                n,
                population - n,
            ), figure
            assert row["n_answers"] == (answers[0] if answers else None), figure
            if category == "saknas":
                assert (row["numerator"], row["denominator"]) == (population - n, population)
                assert row["share_pct"] == round(Decimal(100 * (population - n)) / population, 1)
                continue
            expected = numerators.get(category, 0)
            assert row["numerator"] == expected, (figure, category)
            if row["kind"] == "mean":
                assert row["mean_value"] == round(Decimal(expected) / n, 1), figure
            else:
                assert row["share_pct"] == round(Decimal(100 * expected) / n, 1), (figure, category)
        assert set(numerators) <= categories, figure

    # breakdowns (by hand): diagram 24/25 style by kön at kommun level; HRV × kön × ålder
    # (diagram 21); the toppgrupp profile; funktionsnedsättning; risk change by v202
    def figure(figure_id, category, breakdown, value, level="riket", area="00", period=R2):
        (row,) = _rows(
            engine,
            "SELECT numerator, n FROM marts.fct_national_figures"
            " WHERE round_id = :r AND period = :p AND figure_id = :f"
            " AND category = :c AND breakdown = :b AND breakdown_value = :v"
            " AND level = :l AND area_code = :a",
            r=R2,
            p=period,
            f=figure_id,
            c=category,
            b=breakdown,
            v=value,
            l=level,
            a=area,
        )
        return row["numerator"], row["n"]

    # 0180 women with insats: s1 s2 s5 k1 of s1 s2 s5 k1 k2 k3; stödsamtal s1 s2 k1 of s1 s2 k1
    assert figure("med_insats", "ja", "kon", "K", "kommun", "0180") == (4, 6)
    assert figure("insatser", "4", "kon", "K", "kommun", "0180") == (3, 3)
    # HRV (s2 K 22, m2 M 19): aldersgrupp 18-24 of the women with HRV: s2
    assert figure("aldersgrupp", "18-24", "kon_hedersrelaterat", "K|ja") == (1, 1)
    assert figure("aldersgrupp", "18-24", "kon_hedersrelaterat", "M|ja") == (1, 1)
    # HRV among women 45-54 (s3 has no kön): k2 u1 both nej
    assert figure("hedersrelaterat", "1", "kon_aldersgrupp", "K|45-54") == (0, 2)
    # toppgrupp s1 u1: both före detta partner (utövare 2), both FREDA? s1 yes, u1 no risk
    assert figure("utovare", "2", "toppgrupp", "ja") == (2, 2)
    assert figure("riskbedomning", "ja", "toppgrupp", "ja") == (1, 2)
    # funktionsnedsättning intellektuell only: m4 (1 insats); flera: m3 (no insats)
    assert figure("antal_insatser", "medel", "funktionsnedsattning", "intellektuell") == (1, 1)
    assert figure("med_insats", "ja", "funktionsnedsattning", "flera") == (0, 1)
    # risk change by v202: s1 (202=1) oförändrad, k1 (202=2) högre
    assert figure("riskforandring", "oforandrad", "forandring_valdsutsatthet", "1") == (1, 1)
    assert figure("riskforandring", "hogre", "forandring_valdsutsatthet", "2") == (1, 1)
    # län 01 by hederskontext: ja s2 only
    assert figure("insatser", "10", "hedersrelaterat", "ja", "lan", "01") == (1, 1)
    # calendar years as of R2: 2022 = u1 (0114's upload R1 covers 2022; m1 m2 are left out:
    # Malmö took part from round 2022-11, whose collection began 2022-11-01, so it does not
    # cover 2022; was (3, 3) with m1 m2); 2023 has no case of 0114 (its upload does not cover
    # the whole year): s1..s5 k1..k4 m3 m4
    assert figure("med_insats", "ja", "alla", "alla", period="2022") == (1, 1)
    assert figure("med_insats", "ja", "alla", "alla", period="2023") == (7, 11)

    # -------------------------------------------------------------- Kolada (no suppression)
    published = publish(
        R2, engine, out / "kolada", definitions=_definitions(1), allow_approximate_population=True
    )
    data = json.loads((published.directory / "data.json").read_text(encoding="utf-8"))
    got = {
        (i["kpi"], i["municipality"], i["period"]): (
            i["values"][0]["value"],
            i["values"][0]["status"],
        )
        for i in data["values"]
    }
    assert got == {
        ("U30750", "0114", 2022): (0.5, ""),
        ("U30750", "0114", 2023): (None, "-"),
        ("U30750", "0180", 2023): (6.5, ""),
        ("U30750", "1280", 2023): (0.5, ""),
        ("U30751", "0114", 2022): (0.5, ""),
        ("U30751", "0114", 2023): (None, "-"),
        # SOD s1 s2 s5 (insats started 2023; s4's insats has no start date: in no year) 3.0,
        # KUN k1 k4 4.0; the mean (3.0 + 4.0) / 2 (was 4.0 with s4, by the year of v5)
        ("U30751", "0180", 2023): (3.5, ""),
        # Malmö's 2022 is not covered (it took part from round 2022-11, collection from
        # 2022-11-01): no value for any figure (was 0.5, 0.3 and 0.0)
        ("U30750", "1280", 2022): (None, "-"),
        ("U30751", "1280", 2022): (None, "-"),
        ("U30752", "1280", 2022): (None, "-"),
        # m2 2023-01-05 and m4 2023-10-12: 2 / 40 000 (was 0.3, m4 only)
        ("U30751", "1280", 2023): (0.5, ""),
        ("U30752", "0114", 2022): (0.5, ""),
        ("U30752", "0114", 2023): (None, "-"),
        ("U30752", "0180", 2023): (1.5, ""),
        # m1 (192 = 2) closed 2023-02-01 and m2 (192 = 1) 2023-10-01, both aktualiserade 2022:
        # both in 2023 (was 0.0 in 2023, by the year of v5)
        ("U30752", "1280", 2023): (0.5, ""),
    }
    ou = json.loads((published.directory / "oudata.json").read_text(encoding="utf-8"))
    assert {(i["kpi"], i["ou"], i["period"]): i["values"][0]["value"] for i in ou["values"]} == {
        ("U30750", "V15E0180008", 2023): 5.0,
        ("U30750", "V15E0180005", 2023): 8.0,
        # SOD s1 s2 s5; s4's insats has no start date (was 4.0 with s4)
        ("U30751", "V15E0180008", 2023): 3.0,
        ("U30751", "V15E0180005", 2023): 4.0,
        ("U30752", "V15E0180008", 2023): 1.0,
        ("U30752", "V15E0180005", 2023): 2.0,
    }
    # every KPI's description says how Stockholm's 2023 value was made in R2: the mean of
    # Södermalm's and Kungsholmen's (above); Göteborg did not take part
    assert _city_units(published.directory) == (
        "I omgång 2023-12 rapporterade Stockholm genom 2 stadsdelar, och stadens värde är "
        "medelvärdet av deras värden. I omgång 2023-12 deltog Göteborg inte."
    )
    manifest = json.loads((published.directory / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["preliminary"] is True and "PRELIMINÄRA" in manifest["population"]
    assert manifest["ou_ids"] == ["provisional"]
    # approximate population is refused unless allowed
    with pytest.raises(PublicationError, match="uppskattningar"):
        publish(
            R2,
            engine,
            out / "refused",
            definitions=_definitions(1),
            allow_approximate_population=False,
        )

    # -------------------------------------------------------------- Kolada, min 3 cases
    # U30750, T. Primary (1-2 cases): 1280 2023 (2), 0114 2022 (1). 2023: riket = 0180 (9) +
    # 1280 (withheld) -> 0180 withheld (secondary-riket); then Stockholm's mean relation (0180,
    # SOD 5, KUN 4) has 0180 alone hidden -> KUN (the smaller) withheld. 2022: 1280 is not
    # covered (was primary, 2 cases) and in no relation; riket and län 01 are 0114 alone
    # (withheld), which cannot be protected inside the publication: noted.
    protected = publish(
        R2, engine, out / "kolada3", definitions=_definitions(3), allow_approximate_population=True
    )
    reasons = {
        (d.cell.kommun, d.cell.ou, d.cell.year): d.reason
        for d in protected.decisions
        if d.cell.kpi == "U30750" and d.cell.gender == "T"
    }
    assert reasons == {
        ("0114", "", 2022): "primary",
        ("0114", "", 2023): "not-covered",
        ("1280", "", 2022): "not-covered",
        ("1280", "", 2023): "primary",
        ("0180", "", 2023): "secondary-riket",
        ("0180", "V15E0180008", 2023): "published",
        ("0180", "V15E0180005", 2023): "secondary-ou",
    }
    assert (
        "U30750 2022 län 01 total, gender T: a withheld cell has no complementary cell; "
        "do not publish this total" in protected.notes
    )

    # -------------------------------------------------------------- statistics, min 3 cases
    statistics = publish_statistics(R2, engine, out / "statistik3", min_count=3)
    document = json.loads((statistics.directory / "statistik.json").read_text(encoding="utf-8"))
    table = document["tratt"]
    funnel_cells = {
        (r[0], r[1], r[2]): dict(zip(table["kolumner"][3:], r[3:], strict=True))
        for r in table["rader"]
    }
    _assert_nothing_derivable(funnel_cells, min_count=3)
    # 0114: 2 cases (primary); so its län 01 (11) or Stockholm (9) goes too: Stockholm, the
    # smaller
    assert funnel_cells[("kommun", "0114", "T")]["aktualiserade"] == ".."
    assert funnel_cells[("kommun", "0180", "T")]["aktualiserade"] == ".."
    text = (statistics.directory / "tratt.csv").read_bytes()
    assert text.startswith("\ufeff".encode()) and b"omg\xc3\xa5ng;niv\xc3\xa5;" in text
    definitions = json.loads((statistics.directory / "definitioner.json").read_text("utf-8"))
    insatser = next(f for f in definitions["figurer"] if f["figure_id"] == "insatser")
    assert insatser["report_n"] == 2623 and "Diagram 9" in insatser["source"]

    # -------------------------------------------------------------- decided once
    # the withheld cells are stored once per decision key, and a publication of the same key
    # (here into another folder) only formats them: a cell added to the stored decisions is
    # withheld there, though nothing protects it
    published_cell = next(
        (*area, column)
        for area, values in funnel_cells.items()
        for column, value in values.items()
        if value != ".."
    )
    with engine.begin() as conn:
        (key,) = conn.execute(
            sa.text(
                "SELECT decision_key FROM ops.disclosure_protections WHERE round_id = :r"
                " AND cells_withheld = :n"
            ),
            {"r": R2, "n": statistics.withheld},
        ).one()
        conn.execute(
            sa.text("INSERT INTO ops.disclosure_decisions VALUES (:k, 'tratt', :cell, 'test', '')"),
            {"k": key, "cell": json.dumps(published_cell)},
        )
    formatted = publish_statistics(R2, engine, out / "statistik3_igen", min_count=3)
    reformatted = json.loads((formatted.directory / "statistik.json").read_text("utf-8"))["tratt"]
    shown = {
        (*r[:3], column): value
        for r in reformatted["rader"]
        for column, value in zip(reformatted["kolumner"][3:], r[3:], strict=True)
    }
    assert shown[published_cell] == ".."
    assert {c: v for c, v in shown.items() if c != published_cell} == {
        (*area, column): value
        for area, values in funnel_cells.items()
        for column, value in values.items()
        if (*area, column) != published_cell
    }

    # -------------------------------------------------------------- a changed row is seen
    # the same inputs reuse the version without protecting again; one changed mart row of the
    # round (or another minimum) is a new version with the change in it
    assert publish_statistics(R2, engine, out / "statistik3", min_count=3).reused
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE marts.fct_national_figures SET title = 'ändrad titel' "
            f"WHERE round_id = '{R2}' AND figure_id = 'insatser'"
        )
    changed = publish_statistics(R2, engine, out / "statistik3", min_count=3)
    assert (changed.version, changed.reused) == ("v002", False)
    assert "ändrad titel" in (changed.directory / "nationella_figurer.csv").read_text("utf-8-sig")
    assert publish_statistics(R2, engine, out / "statistik3", min_count=4).version == "v003"


def _assert_nothing_derivable(cells: dict, min_count: int) -> None:
    """An attacker's check, independent of the disclosure code: every published count is 0 or
    at least `min_count`, and no withheld count follows from a sum whose other terms are all
    published (the funnel's phases, and the kommuner of a län, the län of riket)."""
    for key, values in cells.items():
        for column, value in values.items():
            assert value == ".." or value == 0 or value >= min_count, (key, column, value)
    sums = [
        ("aktualiserade", ("med_insats", "utan_insats")),
        ("aktualiserade", ("avslutade", "pagaende")),
        ("avslutade", ("med_maluppfoljning", "avslutade_utan_maluppfoljning")),
        ("avslutade", ("med_brukarenkat", "avslutade_utan_brukarenkat")),
    ]
    for key, values in cells.items():
        for total, parts in sums:
            terms = [values[total], *(values[p] for p in parts)]
            assert terms.count("..") != 1, (key, total, parts, terms)
    kommun_lan = {"0180": "01", "0114": "01", "1280": "12"}
    for kon in ("T", "K", "M"):
        for column in cells[("riket", "00", kon)]:
            for lan in ("01", "12"):
                terms = [cells[("län", lan, kon)][column]] + [
                    cells[("kommun", k, kon)][column]
                    for k, of_lan in kommun_lan.items()
                    if of_lan == lan
                ]
                assert terms.count("..") != 1, (lan, kon, column, terms)
            terms = [cells[("riket", "00", kon)][column]] + [
                cells[("län", lan, kon)][column] for lan in ("01", "12")
            ]
            assert terms.count("..") != 1, ("riket", kon, column, terms)
