"""The outside reader's attack (`sukvinnofrid.audit`): it shares no code with the protection,
its relations are true of every round, its intervals always hold the true count, and it finds
what the published numbers give away (hand-written releases with their expected values worked
out by hand from the relations the footnote names)."""

from __future__ import annotations

import ast
import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sukvinnofrid import audit

FUNNEL_COLUMNS = (
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
FIGURE_HEADER = (
    "omgång;periodtyp;period;nivå;områdeskod;område;figur;diagram;titel;uppdelning;"
    "uppdelningsvärde;kategori;kategorinamn;antal;n;andel (%);medelvärde;n population;n svar"
)


def funnel_csv(rows: list[tuple[str, str, str, dict]]) -> bytes:
    """tratt.csv as the publication writes it: (nivå, kod, kön, {column: value or '..'})."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["omgång", "nivå", "områdeskod", "område", "kön", *FUNNEL_COLUMNS])
    for level, code, kon, values in rows:
        writer.writerow(["2023-12", level, code, code, kon, *(values[c] for c in FUNNEL_COLUMNS)])
    return ("\ufeff" + out.getvalue()).encode()


def release(funnel_rows, figure_lines=(), definitions=()) -> dict[str, bytes]:
    return {
        audit.FUNNEL_FILE: funnel_csv(funnel_rows),
        audit.FIGURES_FILE: (
            "\ufeff" + "\r\n".join([FIGURE_HEADER, *figure_lines]) + "\r\n"
        ).encode(),
        audit.DEFINITIONS_FILE: json.dumps({"figurer": list(definitions)}).encode(),
    }


def phases(akt, insats, avsl, mal, bruk, start=0, avsldatum=0, orsak=0) -> dict:
    """A funnel row from its five phases (the missing registrations follow from them)."""
    return {
        "aktualiserade": akt,
        "med_insats": insats,
        "avslutade": avsl,
        "med_maluppfoljning": mal,
        "med_brukarenkat": bruk,
        "utan_insats": akt - insats,
        "pagaende": akt - avsl,
        "med_insats_utan_startdatum": start,
        "avslutade_utan_avslutsdatum": avsldatum,
        "avslutade_utan_avslutsorsak": orsak,
        "avslutade_utan_maluppfoljning": avsl - mal,
        "avslutade_utan_brukarenkat": avsl - bruk,
    }


def withhold(values: dict, *columns) -> dict:
    return {c: ".." if c in columns else v for c, v in values.items()}


def findings(files, min_count=5) -> dict[tuple, audit.Finding]:
    return {f.cell: f for f in audit.audit_statistics(files, min_count).findings}


def test_the_audit_shares_no_code_with_the_protection():
    tree = ast.parse(Path(audit.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert not [name for name in imported if name.startswith(".") or "sukvinnofrid" in name]
    assert imported <= {
        "__future__",
        "csv",
        "io",
        "json",
        "math",
        "os",
        "random",
        "sys",
        "collections",
        "collections.abc",
        "dataclasses",
        "fractions",
        "highspy",
        "numpy",
    }


def test_men_of_a_kommun_whose_kon_is_complete_are_worked_out():
    """Arboga, as the issue found it: aktualiserade T 80 = K 75 + M 5, so no case lacks kön;
    then Med stöd/insats T 66, K 63, M '..' gives M = 3, and so for every phase."""
    total = phases(80, 66, 40, 30, 12)
    women = phases(75, 63, 38, 29, 11)
    men = withhold(
        phases(5, 3, 2, 1, 1), *(c for c in FUNNEL_COLUMNS if c != "aktualiserade")
    )  # aktualiserade 5 is published: it is not below 5
    found = findings(
        release(
            [
                ("kommun", "1984", "T", total),
                ("kommun", "1984", "K", women),
                ("kommun", "1984", "M", men),
            ]
        )
    )
    expected = {"med_insats": 3, "avslutade": 2, "med_maluppfoljning": 1, "med_brukarenkat": 1}
    for column, value in expected.items():
        finding = found[("tratt", "kommun", "1984", "M", column)]
        assert (finding.low, finding.high, finding.verdict) == (value, value, "exakt")
    # utan_insats = 5 - 3 = 2, pagaende = 5 - 2 = 3: every withheld phase of the men
    assert found[("tratt", "kommun", "1984", "M", "utan_insats")].low == 2
    assert found[("tratt", "kommun", "1984", "M", "pagaende")].high == 3


def test_a_lone_withheld_kommun_of_a_lan_is_the_lan_minus_the_others():
    rows = [
        ("kommun", "0580", "T", phases(40, 30, 20, 10, 5)),
        ("kommun", "0586", "T", withhold(phases(3, 3, 1, 1, 0), *FUNNEL_COLUMNS)),
        ("län", "05", "T", phases(43, 33, 21, 11, 5)),
    ]
    found = findings(release(rows))
    cell = ("tratt", "kommun", "0586", "T", "aktualiserade")
    assert (found[cell].low, found[cell].high) == (3, 3)
    assert found[("tratt", "kommun", "0586", "T", "med_brukarenkat")].verdict == "exakt"


def test_two_withheld_kommuner_of_a_lan_with_room_are_not_found():
    """Two kommuner withheld in the same län: each count is between 0 and the two kommuners'
    sum (aktualiserade 3 + 9 = 12, utan_insats 0 + 2 = 2, ...), so none is pinned: the audit
    reports nothing. (A column whose two cells add up to 0 would give both away as 0.)"""
    rows = [
        ("kommun", "0580", "T", phases(40, 30, 20, 10, 5)),
        ("kommun", "0586", "T", withhold(phases(3, 3, 1, 1, 0, 1, 1, 1), *FUNNEL_COLUMNS)),
        ("kommun", "0509", "T", withhold(phases(9, 7, 6, 4, 5, 2, 2, 2), *FUNNEL_COLUMNS)),
        ("län", "05", "T", phases(52, 40, 27, 15, 10, 3, 3, 3)),
    ]
    assert findings(release(rows)) == {}


def figure_line(group: tuple, category: str, antal, n, population, svar="") -> str:
    period_type, level, code, figure, breakdown, value = group
    return ";".join(
        map(
            str,
            [
                "2023-12",
                period_type,
                "2023-12",
                level,
                code,
                code,
                figure,
                "",
                figure,
                breakdown,
                value,
                category,
                category,
                antal,
                n,
                "" if ".." in (antal, n) else "1,0",
                "",
                population,
                svar,
            ],
        )
    )


def test_a_breakdown_pins_a_withheld_count_between_its_bounds():
    """Hedersrelaterat by kön: alla has 3 answering 'ja' out of N 61; women's cell 'ja' 2 is
    withheld, men's is 0, women's N 50 and men's 10 published. A reader knows women's 'ja' is at
    most 3 - 0 = 3 (the breakdown's values add up to at most 'alla') and, since women's
    categories add up to their N (47 + 1 + '..' = 50), exactly 2."""
    definition = {
        "figure_id": "hedersrelaterat",
        "answer_type": "single",
        "kind": "share",
        "population": "alla aktualiserade ärenden",
        "delar": {},
    }
    alla = ("omgång", "kommun", "0180", "hedersrelaterat", "alla", "alla")
    women = ("omgång", "kommun", "0180", "hedersrelaterat", "kon", "K")
    men = ("omgång", "kommun", "0180", "hedersrelaterat", "kon", "M")
    lines = [
        figure_line(alla, "1", 3, 61, 61),
        figure_line(alla, "2", 56, 61, 61),
        figure_line(alla, "3", 2, 61, 61),
        figure_line(alla, "saknas", 0, 61, 61),
        figure_line(women, "1", "..", 50, 50),
        figure_line(women, "2", 47, 50, 50),
        figure_line(women, "3", 1, 50, 50),
        figure_line(women, "saknas", 0, 50, 50),
        figure_line(men, "1", 0, 10, 10),
        figure_line(men, "2", 9, 10, 10),
        figure_line(men, "3", 1, 10, 10),
        figure_line(men, "saknas", 0, 10, 10),
    ]
    found = findings(release([], lines, [definition]))
    cell = ("figur", "omgång", "2023-12", "kommun", "0180", "hedersrelaterat", "kon", "K")
    assert (found[(*cell, "antal", "1")].low, found[(*cell, "antal", "1")].high) == (2, 2)


@st.composite
def small_lan(draw):
    """Two or three kommuner of one län with few men and some cases without kön, their län
    and riket; some cells withheld at random (as any protection might)."""
    rows, truth = [], {}
    kommuner = ["0580", "0586", "0509"][: draw(st.integers(2, 3))]
    totals = {}
    for code in kommuner:
        for kon in ("K", "M", "S"):
            akt = draw(st.integers(0, 30 if kon == "K" else 6 if kon == "M" else 2))
            insats = draw(st.integers(0, akt))
            avsl = draw(st.integers(0, akt))
            mal = draw(st.integers(0, avsl))
            bruk = draw(st.integers(0, avsl))
            start = draw(st.integers(0, insats))
            values = phases(akt, insats, avsl, mal, bruk, start=start)
            totals[(code, kon)] = values
    lan = {kon: dict.fromkeys(FUNNEL_COLUMNS, 0) for kon in ("T", "K", "M")}
    for code in kommuner:
        t = {c: sum(totals[(code, k)][c] for k in ("K", "M", "S")) for c in FUNNEL_COLUMNS}
        for kon, values in (("T", t), ("K", totals[(code, "K")]), ("M", totals[(code, "M")])):
            truth[("tratt", "kommun", code, kon)] = values
            for c in FUNNEL_COLUMNS:
                lan[kon][c] += values[c]
    for kon in ("T", "K", "M"):
        truth[("tratt", "län", "05", kon)] = lan[kon]
        truth[("tratt", "riket", "00", kon)] = lan[kon]
    mask = draw(st.lists(st.booleans(), min_size=len(truth) * 12, max_size=len(truth) * 12))
    flags = iter(mask)
    for (_, level, code, kon), values in truth.items():
        shown = {c: (".." if next(flags) and draw(st.booleans()) else v) for c, v in values.items()}
        rows.append((level, code, kon, shown))
    return rows, truth


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_lan())
def test_every_interval_holds_the_true_count(table):
    """Whatever is withheld, the attack never claims a count is other than it is: the true
    count lies in the interval of every finding (its relations are true of any funnel)."""
    rows, truth = table
    for finding in audit.audit_statistics(release(rows), 5).findings:
        _, level, code, kon, column = finding.cell
        value = truth[("tratt", level, code, kon)][column]
        assert finding.low <= value <= finding.high


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_lan(), st.data())
def test_a_cell_withheld_alone_is_worked_out(table, data):
    """With everything else published, any one withheld funnel count is found exactly."""
    _, truth = table
    key = data.draw(st.sampled_from(sorted(truth)))
    column = data.draw(st.sampled_from(FUNNEL_COLUMNS))
    rows = [
        (level, code, kon, withhold(values, column) if (level, code, kon) == key[1:] else values)
        for (_, level, code, kon), values in truth.items()
    ]
    found = findings(release(rows))
    cell = (*key, column)
    assert (found[cell].low, found[cell].high, found[cell].verdict) == (
        truth[key][column],
        truth[key][column],
        "exakt",
    )


def test_inconsistent_values_are_refused():
    rows = [("kommun", "0580", "T", {**phases(40, 30, 20, 10, 5), "utan_insats": 11})]
    with pytest.raises(audit.AuditError, match="motsäger"):
        audit.audit_statistics(release(rows), 5)


@pytest.fixture(scope="module")
def built():
    from report_round import report_round

    return report_round()


def test_the_relations_a_reader_knows_hold_in_a_landed_round(built):
    """Every relation the audit uses is true of a landed round's tables before anything is
    withheld (else it would raise), and the release the publication wrote (it audits it before
    writing) gives nothing away."""
    from report_round import ROUND
    from sukvinnofrid import statistics, warehouse

    funnel, figures, definitions = statistics.read_round(warehouse.engine(), ROUND)
    plain = statistics.render_files(
        ROUND,
        statistics.funnel_table(funnel, {}),
        statistics.figures_table(figures, {}),
        statistics.with_summary_parts(definitions, figures),
    )
    truth = audit.read_statistics(plain)
    assert audit.attack(truth, 5).withheld == 0
    # the Kolada files with nothing withheld: the count of every value lies in its interval,
    # the cities' means and U30750 = the year cells hold (else reading or the attack raises)
    truth = audit.read_release(plain, plain_kolada(ROUND), *statistics.kolada_reader())
    assert any(c[0] == "kolada" and c[2].startswith("V") for c in truth.values)  # stadsdelar
    assert any(
        c.what.startswith("U30750") and "län" in c.what for c in truth.constraints
    )  # the year cells of a län
    assert audit.attack(truth, 5).withheld == 0
    version = sorted((built.output / "statistik" / ROUND).glob("v[0-9][0-9][0-9]"))[-1]
    files = {name: (version / name).read_bytes() for name in plain}
    result = audit.audit_statistics(files, 5)
    assert result.withheld > 0
    # the publication audits its release before writing it: nothing is left to find
    assert result.ok, [audit.describe(f.cell) for f in result.findings]


def plain_kolada(round_id: str) -> dict[str, bytes]:
    """A round's Kolada files as the publication renders them, with nothing withheld."""
    from sukvinnofrid import warehouse
    from sukvinnofrid.kolada.definitions import load_definitions
    from sukvinnofrid.kolada.disclosure import apply_disclosure
    from sukvinnofrid.kolada.publish import (
        build_cells,
        read_mart,
        render_data,
        render_files,
        size_groups,
    )

    engine = warehouse.engine()
    defs = load_definitions()
    cells = build_cells(read_mart(engine, round_id), defs, round_id, None, size_groups(engine))
    decisions = [
        decision
        for kpi in defs.kpis
        for decision in apply_disclosure(
            cells.get(kpi.id, []), published_genders=kpi.published_genders, min_count=1
        ).decisions
    ]
    return render_files(render_data(decisions), render_data(decisions, ou=True), defs.kpis)


def test_the_command_names_what_a_release_gives_away(tmp_path, capsys):
    from sukvinnofrid.cli import main

    safe, broken = tmp_path / "v001", tmp_path / "v002"
    rows = [
        ("kommun", "0580", "T", phases(40, 30, 20, 10, 5)),
        ("kommun", "0586", "T", withhold(phases(3, 3, 1, 1, 0, 1, 1, 1), *FUNNEL_COLUMNS)),
        ("kommun", "0509", "T", withhold(phases(9, 7, 6, 4, 5, 2, 2, 2), *FUNNEL_COLUMNS)),
        ("län", "05", "T", phases(52, 40, 27, 15, 10, 3, 3, 3)),
    ]
    for directory, files in (
        (safe, release(rows)),
        (
            broken,
            release(
                rows[1:2] + rows[:1] + [("län", "05", "T", phases(43, 33, 21, 11, 5, 1, 1, 1))]
            ),
        ),
    ):
        directory.mkdir()
        for name, data in files.items():
            (directory / name).write_bytes(data)
    assert main(["audit", str(safe)]) == 0
    assert "0 kan räknas fram exakt, 0 kan ringas in till 1–4" in capsys.readouterr().out
    assert main(["audit", str(broken), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["kan_raknas_fram_exakt"] == 12  # every column of 0586: the län minus 0580
    assert {cell["cell"] for cell in report["celler"]} == {
        f"tratt.csv: kommun 0586, kön T, {column}" for column in FUNNEL_COLUMNS
    }


def test_the_funnel_protection_keeps_the_arboga_men_withheld():
    """The same kommun through the funnel's protection: no case lacks kön, so K + M = T in
    every phase and each withheld count of the men needs a second one among the women's; the
    attack then finds nothing, and the publication's audit keeps these decisions."""
    from sukvinnofrid import statistics

    rows = [
        {"level": "kommun", "area_code": "1984", "kon": kon, **values}
        for kon, values in (
            ("T", phases(80, 66, 40, 30, 12)),
            ("K", phases(75, 63, 38, 29, 11)),
            ("M", phases(5, 3, 2, 1, 1)),
        )
    ]
    decided = statistics.protect_funnel(rows, 5).withheld
    men = {column for level, area, kon, column in decided if kon == "M"}
    women = {column for level, area, kon, column in decided if kon == "K"}
    # M: every count of 1-4 (aktualiserade 5 is published); K: the same phases
    assert (
        men
        == women
        == {
            "med_insats",
            "avslutade",
            "med_maluppfoljning",
            "med_brukarenkat",
            "utan_insats",
            "pagaende",
            "avslutade_utan_maluppfoljning",
            "avslutade_utan_brukarenkat",
        }
    )
    files = statistics.render_files("2023-12", statistics.funnel_table(rows, decided), [], [])
    assert audit.audit_statistics(files, 5).ok
    # the same through the publication's audit: it finds nothing, so nothing changes
    audited = statistics.protect_round(
        rows, [], {}, 5, None, statistics.release_audit("2023-12", rows, [], [], False, 5, None, {})
    )[0].withheld
    assert audited == decided


def test_a_revision_of_unchanged_data_publishes_the_same_tables(built, tmp_path):
    """The protection of a revision, given what the version before it published (every area
    unchanged), publishes exactly the same tables: the pattern is kept, and nothing published
    before is withheld now."""
    from report_round import ROUND
    from sukvinnofrid import statistics, warehouse

    funnel, figures, definitions = statistics.read_round(warehouse.engine(), ROUND)
    definitions = statistics.with_summary_parts(definitions, figures)
    by_id = {d["figure_id"]: d for d in definitions}
    version = sorted((built.output / "statistik" / ROUND).glob("v[0-9][0-9][0-9]"))[-1]
    areas = {(row["level"], row["area_code"]) for row in funnel}
    earlier = statistics.earlier_version(version, areas)
    assert earlier.withheld and earlier.published_unchanged
    funnel_protection, figure_protection = statistics.protect_round(
        funnel,
        figures,
        by_id,
        5,
        earlier,
        kolada=statistics.kolada_counts(warehouse.engine(), ROUND),
    )
    files = statistics.render_files(
        ROUND,
        statistics.funnel_table(funnel, funnel_protection.withheld),
        statistics.figures_table(figures, figure_protection.withheld),
        definitions,
        statistics.round_is_preliminary(warehouse.engine(), ROUND),
    )
    for name in ("tratt.csv", "nationella_figurer.csv"):
        assert files[name] == (version / name).read_bytes(), name


# ---------------------------------------------------------------------------------------------
# the Kolada files read with the statistics

AKTUALISERADE = {
    "figure_id": "alder",
    "answer_type": "single",
    "kind": "share",
    "population": "alla aktualiserade ärenden",
    "delar": {},
}


def year_lines(level: str, code: str, n_population, answered=None) -> list[str]:
    """A year cell (periodtyp år, 2023) of figure alder: one category '1' and saknas 0."""
    answered = n_population if answered is None else answered
    line = ";".join(
        ["2023-12", "år", "2023", level, code, code, "alder", "", "alder", "alla", "alla", "{}"]
    )
    return [
        f"{line.format('1')};1;{answered};{answered};;;{n_population};",
        f"{line.format('saknas')};saknas;0;{answered};;;{n_population};",
    ]


def kolada(rows=(), ou_rows=()) -> dict[str, bytes]:
    """data.csv and oudata.csv as kolada.publish writes them: (kpi, unit, gender, value)."""

    def table(unit_column, items):
        lines = [f"kpi;{unit_column};period;gender;value;status"]
        for kpi, unit, gender, value in items:
            status = value if value in ("..", "-") else ""
            lines.append(f"{kpi};{unit};2023;{gender};{'' if status else value};{status}")
        return ("\n".join(lines) + "\n").encode()

    return {
        audit.KOLADA_FILE: table("municipality", rows),
        audit.KOLADA_OU_FILE: table("ou", ou_rows),
    }


# adults aged 18+ in 2023 (T = K + M): 0580 and 0586 10 000 each (a value is its count),
# 0126 200 000 (a value 1,0 is a count of 19 or 20), Stockholm's two stadsdelar 10 000 each
POPULATION = {
    (unit, 2023, gender): size // (1 if gender == "T" else 2)
    for unit, size in (
        ("0580", 10_000),
        ("0586", 10_000),
        ("0126", 200_000),
        ("V1", 10_000),
        ("V2", 10_000),
    )
    for gender in ("T", "K", "M")
}
STADSDELAR = {"V1": "0180", "V2": "0180"}


def kolada_findings(statistics_files, kolada_files) -> dict[tuple, audit.Finding]:
    release_ = audit.read_release(statistics_files, kolada_files, POPULATION, STADSDELAR)
    return {f.cell: f for f in audit.attack(release_, 5).findings}


def test_a_value_gives_its_count_within_the_rounding():
    """Rounded half up to one decimal: 10 000·c/p within [v - 0,05, v + 0,05)."""
    assert audit._count_interval("1.0", 200_000) == (19, 20)  # 0,95·20 .. 1,05·20 (excluded)
    assert audit._count_interval("9.0", 10_000) == (9, 9)
    assert audit._count_interval("0.0", 200_000) == (0, 0)  # 0,05·20 = 1 is 0,1 rounded
    assert audit._count_interval("9.1", 85_000) == (77, 77)  # 77/8,5 = 9,06


def test_kolada_values_give_away_the_years_withheld_lan_cell():
    """Län 05 has 0580 and 0586; the statistics withhold the län's year 2023 (N '..'), but
    U30750 publishes both kommuner's values, 6,0 and 3,0 per 10 000 of 10 000 adults: 6 and 3
    cases aktualiserade in 2023, so the län's year cell is N population 9 (and its N 9, as
    nothing is missing)."""
    statistics_files = release([], year_lines("län", "05", "..", ".."), [AKTUALISERADE])
    found = kolada_findings(
        statistics_files, kolada([("U30750", "0580", "T", "6.0"), ("U30750", "0586", "T", "3.0")])
    )
    cell = ("figur", "år", "2023", "län", "05", "alder", "alla", "alla")
    assert {(c, (f.low, f.high)) for c, f in found.items()} == {
        ((*cell, "n_population", ""), (9, 9)),
        ((*cell, "n", ""), (9, 9)),
    }


def kolada_decided(counts: dict[str, int], withheld_totals=(), levels=("lan",)) -> list[tuple]:
    """The U30750 values (T, 2023) Kolada's protection publishes of `counts` (kommun -> cases)
    with the totals the statistics withhold, as audit reads them: (kpi, kommun, gender, text)."""
    from sukvinnofrid.kolada.disclosure import Cell, apply_disclosure

    cells = [
        Cell("U30750", kommun, 2023, "T", n, 10_000 * n / POPULATION[(kommun, 2023, "T")])
        for kommun, n in counts.items()
    ]
    result = apply_disclosure(
        cells,
        published_genders=("T",),
        min_count=5,
        withheld_totals=withheld_totals,
        aggregate_levels=levels,
    )
    return [
        (d.cell.kpi, d.cell.kommun, "T", ".." if d.withheld else f"{d.value:.1f}")
        for d in result.decisions
    ]


def test_kolada_keeps_the_years_withheld_lan_cell_hidden():
    """Län 05 has 0580 (12 cases) and 0586 (20); the statistics withhold the län's year 2023
    (its N population '..'), län 01 (0126 alone, 30) is published. Protected on its own, Kolada
    publishes all three values and gives the län's 32 away; told which totals the statistics
    withhold (relation f), it withholds the smaller of län 05's kommuner (0580): the län's sum
    then has two unknowns, and nothing is left to find."""
    from sukvinnofrid.kolada.disclosure import total_key

    counts = {"0126": 30, "0580": 12, "0586": 20}
    statistics_files = release(
        [], year_lines("län", "05", "..", "..") + year_lines("län", "01", 30), [AKTUALISERADE]
    )
    alone = kolada_decided(counts)
    assert [text for *_, text in alone] == ["1.5", "12.0", "20.0"]
    cell = ("figur", "år", "2023", "län", "05", "alder", "alla", "alla")
    assert {
        c: (f.low, f.high) for c, f in kolada_findings(statistics_files, kolada(alone)).items()
    } == {
        (*cell, "n_population", ""): (32, 32),
        (*cell, "n", ""): (32, 32),
    }
    told = kolada_decided(counts, {total_key("U30750", 2023, "län 05", "T")})
    assert [text for *_, text in told] == ["1.5", "..", "20.0"]
    assert kolada_findings(statistics_files, kolada(told)) == {}


def test_a_withheld_kolada_value_is_the_lan_minus_the_others():
    """The län's year cell is published (9) and 0580's value 6,0 (6 cases): 0586's withheld
    U30750 is 3, and U30751 (the year of the insats, no statistics cell) stays hidden."""
    statistics_files = release([], year_lines("län", "05", 9), [AKTUALISERADE])
    found = kolada_findings(
        statistics_files,
        kolada(
            [
                ("U30750", "0580", "T", "6.0"),
                ("U30750", "0586", "T", ".."),
                ("U30751", "0580", "T", "6.0"),
                ("U30751", "0586", "T", ".."),
            ]
        ),
    )
    assert {c: (f.low, f.high, f.verdict) for c, f in found.items()} == {
        ("kolada", "U30750", "0586", "2023", "T"): (3, 3, "exakt")
    }


def test_protected_kolada_values_give_nothing_away():
    """0126's value 1,0 is 19 or 20 cases of 200 000 adults (a published count, not a
    finding), 0580's withheld with the län's year cell: the two unknowns of the län hide each
    other; a year 0586 has not reported in full ('-') is no count."""
    statistics_files = release(
        [], year_lines("län", "05", "..", "..") + year_lines("län", "01", 20), [AKTUALISERADE]
    )
    release_ = audit.read_release(
        statistics_files,
        kolada(
            [
                ("U30750", "0126", "T", "1.0"),
                ("U30750", "0580", "T", ".."),
                ("U30750", "0586", "T", "-"),
            ]
        ),
        POPULATION,
        STADSDELAR,
    )
    result = audit.attack(release_, 5)
    assert result.ok and result.withheld == 4  # län 05's N, n and '1', and 0580's U30750
    # the published year cell of län 01 (20) settles 0126's count within its interval
    assert ("kolada", "U30750", "0126", "2023", "T") in release_.ranges


def test_a_citys_mean_gives_away_a_withheld_stadsdel():
    """Stockholm reports by stadsdel: its value 5,0 is the mean of V1 ('..') and V2 (7,0), so
    V1's rate is 3,0 within the rounding (2,9 .. 3,1 per 10 000 of 10 000 adults): 3 cases."""
    found = kolada_findings(
        release([], [], [AKTUALISERADE]),
        kolada(
            [("U30750", "0180", "T", "5.0")],
            [("U30750", "V1", "T", ".."), ("U30750", "V2", "T", "7.0")],
        ),
    )
    assert {c: (f.low, f.high, f.verdict) for c, f in found.items()} == {
        ("kolada", "U30750", "V1", "2023", "T"): (3, 3, "exakt")
    }


def test_kolada_values_that_no_count_gives_are_refused():
    with pytest.raises(audit.AuditError, match="inget antal"):
        audit.read_release(
            release([], [], [AKTUALISERADE]),
            kolada([("U30750", "0580", "T", "6.05")]),
            POPULATION,
            STADSDELAR,
        )


def test_the_command_audits_the_kolada_version_of_the_same_deliveries(tmp_path, capsys):
    """`sukvinnofrid audit output/statistik/<round>/v001` finds the Kolada version of the same
    deliveries beside it and reads it with the reference population: Linköping 0,9 and Mjölby
    4,0 per 10 000 (133 600 and 22 680 adults in 2023) are 12 and 9 cases, so the län's
    withheld year cell is 21. A Kolada version of other deliveries is not the release's."""
    from sukvinnofrid.cli import main

    statistics_dir = tmp_path / "statistik" / "2023-12" / "v001"
    kolada_dir = tmp_path / "kolada" / "2023-12" / "v001"
    other = tmp_path / "kolada" / "2023-12" / "v002"
    in_force = {"0580": {"upload_id": 1}, "0586": {"upload_id": 2}}
    for directory, files, delivered in (
        (
            statistics_dir,
            release([], year_lines("län", "05", "..", ".."), [AKTUALISERADE]),
            in_force,
        ),
        (
            kolada_dir,
            kolada([("U30750", "0580", "T", "0.9"), ("U30750", "0586", "T", "4.0")]),
            in_force,
        ),
        (other, kolada(), {"0580": {"upload_id": 3}}),
    ):
        directory.mkdir(parents=True)
        for name, data in {
            **files,
            "manifest.json": json.dumps({"in_force": delivered}).encode(),
        }.items():
            (directory / name).write_bytes(data)
    assert main(["audit", str(statistics_dir), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["kolada"] == str(kolada_dir)
    assert {(c["cell"], c["lagst"], c["hogst"]) for c in report["celler"]} == {
        (f"nationella_figurer.csv: år 2023, län 05, figur alder, alla=alla, {name}", 21, 21)
        for name in ("n", "n_population")
    }


def statistics_version(tmp_path: Path, lines: list[str]) -> Path:
    """A published statistics version of year cells (test's release) with its manifest."""
    directory = tmp_path / "statistik" / "2023-12" / "v001"
    directory.mkdir(parents=True)
    for name, data in release([], lines, [AKTUALISERADE]).items():
        (directory / name).write_bytes(data)
    (directory / "manifest.json").write_text(
        json.dumps({"disclosure": "suppression", "min_count": 5})
    )
    return directory


def kolada_decisions(withheld: dict[str, int], published: dict[str, int]):
    """U30750 2023 (T) of kommuner with their true counts and adult population (the reference
    seeds), as Kolada's protection decides them: withheld ('secondary-lan') or published."""
    from sukvinnofrid import reference
    from sukvinnofrid.kolada.disclosure import PUBLISHED, SECONDARY_LAN, Cell, CellDecision

    population = reference.kolada_population()
    decisions = []
    for kommun, count in sorted({**withheld, **published}.items()):
        value = 10_000 * count / population[(kommun, 2023, "T")]
        cell = Cell("U30750", kommun, 2023, "T", count, value)
        decisions.append(
            CellDecision(cell, True, None, "..", SECONDARY_LAN)
            if kommun in withheld
            else CellDecision(cell, True, round(value, 1), "", PUBLISHED)
        )
    return tuple(decisions)


def test_kolada_files_that_give_a_withheld_year_total_away_are_refused(tmp_path):
    """The statistics withhold län 05's year 2023; U30750 publishes 0580 (12 cases: 0,9 per
    10 000 of 133 600 adults) and 0586 (20: 8,8 of 22 680), so the län is 32: the Kolada
    publication refuses, naming the län's cell, before writing anything."""
    from sukvinnofrid.kolada.definitions import load_definitions
    from sukvinnofrid.kolada.publish import audited_with_statistics
    from sukvinnofrid.statistics import DisclosureRefused

    version = statistics_version(tmp_path, year_lines("län", "05", "..", ".."))
    decisions = kolada_decisions({}, {"0580": 12, "0586": 20})
    with pytest.raises(DisclosureRefused, match=r"län 05.*32 ärenden.*inga Kolada-filer"):
        audited_with_statistics(decisions, version, load_definitions())


def test_a_withheld_kolada_value_the_statistics_give_away_is_published(tmp_path):
    """The statistics publish län 05's year 2023 (32) and 0580's value is published (12):
    0586's withheld value is 20 to a reader of both, so the audit publishes it (8,8) rather
    than keep a value that only looks withheld, and the second pass finds nothing."""
    from sukvinnofrid.kolada.definitions import load_definitions
    from sukvinnofrid.kolada.disclosure import PUBLISHED
    from sukvinnofrid.kolada.publish import audited_with_statistics

    version = statistics_version(tmp_path, year_lines("län", "05", 32))
    decisions = audited_with_statistics(
        kolada_decisions({"0586": 20}, {"0580": 12}), version, load_definitions()
    )
    assert [(d.cell.kommun, d.value, d.reason) for d in decisions] == [
        ("0580", 0.9, PUBLISHED),
        ("0586", 8.8, PUBLISHED),
    ]
