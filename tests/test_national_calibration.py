"""The marts reproduce the national figures of SKR's report on SU-Kvinnofrid 2021-2023.

A national-size round is generated with `synthetic.generate_round_files` (calibrated to the
report, see /work/shared/seeds/README.md): 34 kommuner (every 8th of the real kommun list, so
they lie in many län), 3 070 cases distributed by `national_round_plan`, two rounds (2022-12 and
2023-10). Every file goes through `intake.land_upload`; the uploads are then marked accepted
directly in SQL (the quality gate is tested in test_quality.py and would take minutes here; the
2023-10 file does not supersede the 2022-12 one because the rounds differ). One `transform.build()`
(on a temporary copy of dbt_project/ with the real reference seeds) builds the marts, and each
test case below reads one figure of the report from the riket level of the latest round (2023-10,
which holds every generated case) of marts.fct_national_figures or marts.fct_case_funnel.

Tolerance (sampling error): the generator draws every case independently, so a share is a
binomial proportion. A share passes when it is within
    0.5 + 3 * 100 * sqrt(p * (1 - p) / n)    percentage points
of the report's value p, n being the figure's denominator in this round: three standard errors
(two-sided, 99.7 %) plus 0.5 for the report's rounding to whole percent. That is about ±3 pp for
shares over the ~3 000 cases, ±3.5 pp over the ~2 500 closed cases, ±5-6 pp for the brukarenkät
(~750 answers) and wider for small subgroups; each case prints its n and tolerance on failure.
Means (insatser per case, samverkansparter per case) have a standard deviation of about 1.4 (insatser)
and 0.7 (parter); the tolerance is 3 standard errors plus 0.05 for the report's rounding to one
decimal, rounded up: ±0.2 for all ~2 600 cases with insats, ±0.4 for the ~300 HRV cases,
±0.6 for the ~60 cases aged 65-74, ±0.25 for the risk groups and ±0.1 for samverkansparter.

Denominators: the report's percentages are read with the report's own denominator, computed
from the numerator/denominator columns, which can differ from the mart's share_pct column:
"i 63 procent av alla ärenden ges stödsamtal" (and rådgivning 52, genomgång av säkerhet 28,
skyddat boende 21, praktiskt stöd 18, boende 27) are shares of ALL cases, whereas diagram 9 in the
mart (figure insatser) is over the cases with at least one insats; the test divides the insatser
numerator by the denominator of med_insats (all cases). Counts of the report (2 371 cases with
samverkan registered, 1 561 with a partner, 2 421 closed, 878 with a brukarenkät, 268 in the
toppgrupp) are compared as shares of their population (all cases resp. closed cases) since the
generated round has its own size.

Figures of the README the marts cannot produce (listed for completeness, not tested):
  - "betydelse (N=818)": the N. The upload contract only allows v203 when v202 is 1 or 2
    (förbättrats), i.e. about 71 % of the 878 respondents (~620), while the report's N=818 means
    v203 was answered by 93 % of them; the shares (16 %, 46 %) are tested, the N is not.
  - "barn 2 % (67)": the count 67 is a count of the real data; the share (2 %) is tested.
  - everything else in the README list is tested below, plus a few figures of the report's text
    (samverkan partners, diagram 19-20 combined answers).
Two tested figures sit about 2 pp above the report on every seed tried, still inside sampling
tolerance: "grovt våld 46 %" (~48 %) and "genomförande alla genomförda 46 %" (~48.5 %). The
generator calibrates them over all cases (resp. all closed cases with insats) including those
without an answer, while the report's diagrams, like the mart, count the cases with an answer.
Figures of the report's text left out because the GENERATOR (not the marts) is off by more than
sampling error on every seed tried (1-4): diagram 13 "två samverkansparter 15 %" (generated
~17.5 %) and "minst 27 procent ... insatser som rör boende" (generated ~24-26 %).
"""

from __future__ import annotations

import csv
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import wipe_warehouse
from sukvinnofrid import intake, transform
from sukvinnofrid.synthetic import generate_round_files, national_round_plan

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "dbt_project"
ROUNDS = ["2022-12", "2023-10"]
LATEST = ROUNDS[-1]
TOTAL_CASES = 3070  # "3 070 ärenden från 34 kommuner"
N_KOMMUNER = 34
SEED = 11


# --------------------------------------------------------------------------- the built round


@dataclass
class National:
    figures: dict[tuple[str, str, str, str], dict]  # (figure_id, breakdown, value, category)
    funnel: dict  # riket, kön T, latest round
    kommuner: int  # kommun-level areas in the funnel of the latest round

    def row(self, figure: str, category: str, breakdown: str = "alla", value: str = "alla"):
        return self.figures[(figure, breakdown, value, category)]

    def denominator(self, figure: str, breakdown: str = "alla", value: str = "alla") -> int:
        rows = {r["denominator"] for k, r in self.figures.items()
                if k[0] == figure and k[1] == breakdown and k[2] == value}
        assert len(rows) == 1, (figure, breakdown, value, rows)
        return rows.pop()

    def all_cases(self) -> int:
        return self.denominator("med_insats")


@pytest.fixture(scope="module")
def national(warehouse_engine, tmp_path_factory) -> National:
    engine = warehouse_engine
    wipe_warehouse(engine)
    tmp = tmp_path_factory.mktemp("national")
    project = tmp / "dbt_project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("target", "logs",
                                                                     "dbt_packages"))
    with (PROJECT / "seeds" / "reference" / "kommuner.csv").open(encoding="utf-8") as handle:
        all_kommuner = [row["kommun_kod"] for row in csv.DictReader(handle)]
    kommuner = all_kommuner[::8][:N_KOMMUNER]
    plan = national_round_plan(TOTAL_CASES, kommuner, seed=SEED)
    files = generate_round_files(tmp / "files", kommuner, ROUNDS, cases_per_kommun=plan,
                                 seed=SEED)
    assert len(files) == N_KOMMUNER * len(ROUNDS)
    results = [intake.land_upload(f.path, engine) for f in files]
    assert {r.status for r in results} == {"landed"}, [r for r in results if r.status != "landed"]
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE raw.uploads SET status = 'accepted', decided_at = now()")
    transform.build(project_dir=project)

    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text(
            "SELECT * FROM marts.fct_national_figures WHERE level = 'riket' AND period = :p"),
            {"p": LATEST})]
        funnel = [dict(r._mapping) for r in conn.execute(sa.text(
            "SELECT * FROM marts.fct_case_funnel WHERE round_id = :p AND kon = 'T'"),
            {"p": LATEST})]
    figures = {(r["figure_id"], r["breakdown"], r["breakdown_value"], r["category"]): r
               for r in rows}
    riket = [r for r in funnel if r["level"] == "riket"]
    assert len(riket) == 1
    national = National(figures, riket[0], sum(r["level"] == "kommun" for r in funnel))
    yield national
    wipe_warehouse(engine)


# --------------------------------------------------------------------------- measuring


def share(figure: str, *categories: str, breakdown: str = "alla", value: str = "alla",
          of_all_cases: bool = False):
    """(percent, n): the categories' numerators over the figure's denominator, or over all
    cases of the round (the report's denominator for diagram 9's percentages)."""
    def measure(nat: National):
        numerator = sum(nat.row(figure, c, breakdown, value)["numerator"] for c in categories)
        n = nat.all_cases() if of_all_cases else nat.denominator(figure, breakdown, value)
        return 100.0 * numerator / n, n
    return measure


def mean(figure: str, breakdown: str = "alla", value: str = "alla"):
    def measure(nat: National):
        row = nat.row(figure, "medel", breakdown, value)
        return row["numerator"] / row["denominator"], row["denominator"]
    return measure


def population_share(figure: str, of: str):
    """(percent, n): the size of a figure's population as a share of all cases ('all') or of
    the closed cases ('closed'), for the report's counts (2 371 samverkan, 1 561 partner, ...)."""
    def measure(nat: National):
        base = nat.all_cases() if of == "all" else nat.funnel["avslutade"]
        return 100.0 * nat.denominator(figure) / base, base
    return measure


def funnel_share(numerator: str, denominator: str):
    def measure(nat: National):
        return 100.0 * nat.funnel[numerator] / nat.funnel[denominator], nat.funnel[denominator]
    return measure


def share_tolerance(p_pct: float, n: int) -> float:
    p = p_pct / 100
    return 0.5 + 3 * 100 * math.sqrt(p * (1 - p) / n)


SHARES = [
    # ---- who (diagrams 2-8); report N = cases with the answer registered, as the mart
    pytest.param(share("kon", "1"), 94, id="kvinnor 94 %"),
    pytest.param(share("kon", "2"), 6, id="män 6 %"),
    pytest.param(share("aldersgrupp", "25-34", "35-44"), 64, id="25–44 år 64 %"),
    pytest.param(share("aldersgrupp", "18-24"), 12, id="18–24 år 12 %"),
    pytest.param(share("aldersgrupp", "65-74", "75+"), 3, id="över 65 år 3 %"),
    pytest.param(share("ursprung", "1"), 57, id="född i Sverige, svenskfödd förälder 57 %"),
    pytest.param(share("ursprung", "4"), 24, id="född utanför Europa 24 %"),
    pytest.param(share("hedersrelaterat", "1"), 10, id="HRV 10 %"),
    pytest.param(share("hedersrelaterat", "3"), 6, id="HRV vet inte 6 %"),
    pytest.param(share("initiativ", "1"), 59, id="initiativ klienten själv 59 %"),
    pytest.param(share("initiativ", "annan_socialtjanst"), 24,
                 id="initiativ annan socialtjänst 24 %"),
    pytest.param(share("valdets_grad", "3"), 20, id="mycket grovt våld 20 %"),
    pytest.param(share("valdets_grad", "2"), 46, id="grovt våld 46 %"),
    pytest.param(share("utovare", "2"), 59, id="utövare före detta partner 59 %"),
    pytest.param(share("utovare", "partner"), 90, id="utövare partner 90 %"),
    pytest.param(share("utovare", "3"), 9, id="utövare förälder 9 %"),
    pytest.param(share("utovare", "5"), 2, id="utövare barn 2 %"),
    pytest.param(share("utovare", "6"), 9, id="utövare annan 9 %"),
    # ---- insatser (diagram 1, 9): the report's percentages are of ALL cases
    pytest.param(share("med_insats", "ja"), 85, id="insats 85 %"),
    pytest.param(share("insatser", "4", of_all_cases=True), 63,
                 id="stödsamtal 63 % av alla ärenden"),
    pytest.param(share("insatser", "3", of_all_cases=True), 52,
                 id="rådgivning 52 % av alla ärenden"),
    pytest.param(share("insatser", "7", of_all_cases=True), 28,
                 id="genomgång av säkerhet 28 % av alla ärenden"),
    pytest.param(share("insatser", "10", of_all_cases=True), 21,
                 id="skyddat boende 21 % av alla ärenden"),
    pytest.param(share("insatser", "1", of_all_cases=True), 18,
                 id="praktiskt stöd 18 % av alla ärenden"),
    # ---- genomförande (diagram 11), among cases with genomförande registered
    pytest.param(share("genomforande", "1"), 46, id="genomförande alla genomförda 46 %"),
    pytest.param(share("genomforande", "3"), 26, id="genomförande samtliga avbrutna 26 %"),
    # ---- samverkan (diagrams 12-13): 2 371 of 3 070 cases registered, 1 561 with a partner
    pytest.param(population_share("antal_samverkansparter", of="all"), 100 * 2371 / 3070,
                 id="samverkan registrerad 2 371 (77 % of all)"),
    pytest.param(population_share("samverkan", of="all"), 100 * 1561 / 3070,
                 id="minst en samverkanspart 1 561 (51 % of all)"),
    # diagram 12 (N=1 561): annan verksamhet inom socialtjänsten 73 %
    pytest.param(share("samverkan", "7"), 73, id="samverkan annan socialtjänst 73 %"),
    # diagram 13 (of the 2 371 registered): one partner 46 %, none about a third
    pytest.param(share("antal_samverkansparter", "1"), 46, id="en samverkanspart 46 %"),
    pytest.param(share("antal_samverkansparter", "0"), 100 * (2371 - 1561) / 2371,
                 id="ingen samverkan 34 %"),
    # ---- avslut (diagrams 1, 14, 15): 2 421 of the 3 070 cases closed (this share also
    # depends on how long the cases have been followed, here up to 22 months as in the project)
    pytest.param(funnel_share("avslutade", "aktualiserade"), 100 * 2421 / 3070,
                 id="avslutade 2 421 (79 % of all)"),
    pytest.param(share("avslutsorsak", "1"), 32, id="avslutsorsak mål uppnått 32 %"),
    pytest.param(share("avslutsorsak", "3"), 31, id="avslutsorsak tackat nej 31 %"),
    pytest.param(share("avslutsorsak", "4"), 17, id="avslutsorsak ej återkommit 17 %"),
    pytest.param(share("maluppfoljning", "1"), 35, id="måluppföljning uppnått 35 %"),
    pytest.param(share("maluppfoljning", "2"), 22, id="måluppföljning delvis 22 %"),
    pytest.param(share("maluppfoljning", "3"), 10, id="måluppföljning ingen förändring 10 %"),
    pytest.param(share("maluppfoljning", "4"), 6, id="måluppföljning negativ 6 %"),
    pytest.param(share("maluppfoljning", "5"), 25, id="måluppföljning går ej att bedöma 25 %"),
    # ---- brukarenkät (diagrams 1, 18, 19): 878 answers of 2 421 closed cases
    pytest.param(share("brukarenkat_besvarad", "ja"), 100 * 878 / 2421,
                 id="brukarenkät besvarad 878 (36 % of closed)"),
    pytest.param(share("forandring_valdsutsatthet", "1"), 50,
                 id="brukarenkät förbättrats mycket 50 %"),
    pytest.param(share("forandring_valdsutsatthet", "2"), 21,
                 id="brukarenkät förbättrats lite 21 %"),
    pytest.param(share("insatsernas_betydelse", "5"), 16, id="betydelse helt avgörande 16 %"),
    pytest.param(share("insatsernas_betydelse", "4"), 46, id="betydelse stor 46 %"),
    pytest.param(share("insatsernas_betydelse", "4", "5"), 62,
                 id="betydelse stor eller helt avgörande 62 %"),
    # diagram 20: stor or mycket stor möjlighet att påverka 60 %
    pytest.param(share("delaktighet", "4", "5"), 60, id="delaktighet stor eller mycket stor 60 %"),
    # ---- toppgrupp: 268 = 11 % of all closed cases
    pytest.param(share("toppgrupp", "ja"), 11, id="toppgrupp 11 % of closed"),
    # ---- risk (diagrams 26-27): 56 % of all cases; methods of the N=1 716 assessed
    pytest.param(share("riskbedomning", "ja"), 56, id="riskbedömning 56 %"),
    pytest.param(share("riskmetod", "1"), 54, id="FREDA 54 % of assessed"),
    pytest.param(share("riskmetod", "6"), 48, id="samtal utan metod 48 % of assessed"),
]

MEANS = [
    pytest.param(mean("antal_insatser"), 2.4, 0.2, id="mean insatser 2.4"),
    pytest.param(mean("antal_insatser", "hedersrelaterat", "ja"), 3.3, 0.4,
                 id="HRV mean insatser 3.3"),
    pytest.param(mean("antal_insatser", "aldersgrupp", "65-74"), 1.9, 0.6,
                 id="65–74 år mean insatser 1.9"),
    pytest.param(mean("antal_insatser", "riskbedomning", "ja"), 2.8, 0.25,
                 id="riskbedömning gjord mean insatser 2.8"),
    pytest.param(mean("antal_insatser", "riskbedomning", "nej"), 2.0, 0.25,
                 id="ingen riskbedömning mean insatser 2.0"),
    pytest.param(mean("medel_samverkansparter"), 1.4, 0.1, id="mean samverkansparter 1.4"),
]


# --------------------------------------------------------------------------- tests


def test_the_round_has_the_report_size(national):
    """3 070 ärenden from 34 kommuner (exact: the generator was asked for that many)."""
    assert national.funnel["aktualiserade"] == TOTAL_CASES
    assert national.all_cases() == TOTAL_CASES
    assert national.kommuner == N_KOMMUNER


@pytest.mark.parametrize(("measure", "expected"), SHARES)
def test_report_share(national, measure, expected):
    value, n = measure(national)
    tolerance = share_tolerance(expected, n)
    assert abs(value - expected) <= tolerance, (
        f"{value:.1f} % (n={n}) differs from the report's {expected:.1f} % by more than "
        f"{tolerance:.1f} pp")


@pytest.mark.parametrize(("measure", "expected", "tolerance"), MEANS)
def test_report_mean(national, measure, expected, tolerance):
    value, n = measure(national)
    assert abs(value - expected) <= tolerance, (
        f"{value:.2f} (n={n}) differs from the report's {expected} by more than {tolerance}")
