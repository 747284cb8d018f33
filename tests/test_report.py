"""The round's site (sukvinnofrid.report) for a generated round: every number on its pages is
the protected publication's or the report marts' (read back from the HTML, compared with the
published files and the marts), the new tables withhold what the rule says, unchanged data
re-renders byte-identical, uploads cannot inject markup, the downloads open in Swedish Excel,
and `sukvinnofrid report` behaves on the command line."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from report_round import HOSTILE_NAME, ROUND, ROUNDS, number, page_tables, report_round
from sukvinnofrid import report, warehouse
from sukvinnofrid.cli import main
from sukvinnofrid.kolada import publish as publish_kolada
from sukvinnofrid.report.protection import MISSING_SHARES, protect_comparisons, protect_deliveries
from sukvinnofrid.report.sources import latest_version
from sukvinnofrid.report.views import STATUS_LABELS
from sukvinnofrid.statistics import FUNNEL_COLUMNS, protect_funnel, publish_statistics

pytestmark = pytest.mark.slow

WITHHELD = ".."


@pytest.fixture(scope="module")
def built():
    return report_round()


def rounded(value) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def statistics(output: Path, round_id: str) -> dict:
    directory = latest_version(output / "statistik" / round_id)
    document = json.loads((directory / "statistik.json").read_text(encoding="utf-8"))
    definitions = json.loads((directory / "definitioner.json").read_text(encoding="utf-8"))
    figures: dict[tuple, dict] = {}
    columns = document["nationella_figurer"]["kolumner"]
    for values in document["nationella_figurer"]["rader"]:
        row = dict(zip(columns, values, strict=True))
        figures[
            (
                row["period_typ"],
                row["period"],
                row["niva"],
                row["omrade_kod"],
                row["figur"],
                row["uppdelning"],
                row["uppdelning_varde"],
                row["kategori"],
            )
        ] = row
    columns = document["tratt"]["kolumner"]
    funnel = {
        (r[0], r[1], r[2]): dict(zip(columns, r, strict=True)) for r in document["tratt"]["rader"]
    }
    return {
        "figures": figures,
        "funnel": funnel,
        "definitions": {d["figure_id"]: d for d in definitions["figurer"]},
    }


def kolada_cells(output: Path, round_id: str) -> dict:
    directory = latest_version(output / "kolada" / round_id)
    cells = {}
    for name, key in (("data.json", "municipality"), ("oudata.json", "ou")):
        for item in json.loads((directory / name).read_text(encoding="utf-8"))["values"]:
            for value in item["values"]:
                if value["gender"] == "T":
                    cells[(item["kpi"], item[key], item["period"])] = (
                        value["status"] or value["value"]
                    )
    return cells


def mart(sql: str, **params) -> list[dict]:
    with warehouse.engine().connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.text(sql), params)]


def shown(value) -> object:
    """A published value as the page shows it, read back (number() of its text)."""
    if value is None:
        return "–"
    if value in (WITHHELD, "-"):
        return value
    return rounded(value) if isinstance(value, (float, Decimal)) else value


# ---------------------------------------------------------------------------------------------
# the national report


def test_the_national_report_shows_the_published_figures_beside_the_previous_round(built):
    current, previous = statistics(built.output, ROUND), statistics(built.output, ROUNDS[0])
    tables = {t.section: t for t in page_tables(built.site / "riket.html")}
    figures_seen = 0
    for figure, definition in current["definitions"].items():
        table = tables.get(f"figur-{figure}")
        if figure == "avslutsorsak_langd":  # diagram 17: this figure by the case's length only
            assert table is None and f"figur-{figure}-uppdelad17" in tables
            # the report's four 90-day periods, each case in its period with a known cause
            # (cases of more than 360 days are not in the diagram)
            by_length = tables[f"figur-{figure}-uppdelad17"].rows
            assert {row[0] for row in by_length} == {
                "0–90 dagar",
                "91–180 dagar",
                "181–270 dagar",
                "271–360 dagar",
            }
            assert {row[2] for row in by_length if row[1] == "Uppgift saknas"} == {"0"}
            continue
        assert table is not None, figure
        labels = {label: code for code, label in definition["kategorier"].items()}
        mean = definition["kind"] == "mean"
        for row in table.rows:
            category = labels[row[0]]
            key = ("omgång", ROUND, "riket", "00", figure, "alla", "alla", category)
            published = current["figures"][key]
            before = previous["figures"].get(("omgång", ROUNDS[0], *key[2:]))
            saknas = category == "saknas"
            measure = "andel_procent" if not mean else None if saknas else "medelvarde"
            assert number(row[1]) == shown(published["antal"]), (figure, row)
            assert number(row[2]) == shown(published["n_population" if saknas else "n"])
            assert number(row[3]) == shown(published[measure] if measure else None), (figure, row)
            old = before[measure] if before and measure else None
            assert number(row[4]) == shown(old), (figure, row)
            if isinstance(old, (int, float)) and isinstance(published[measure], (int, float)):
                assert number(row[5]) == rounded(published[measure] - old)
            else:
                assert row[5] == "–"
            figures_seen += 1
    assert figures_seen > 150
    funnel = tables["diagram-1"]
    assert funnel.header == ["Fas", "Totalt", "Kvinnor", "Män"]
    published = {kon: current["funnel"][("riket", "00", kon)] for kon in "TKM"}
    assert [number(c) for c in funnel.rows[0][1:]] == [published[k]["aktualiserade"] for k in "TKM"]
    assert [number(c) for c in funnel.rows[1][1:]] == [published[k]["med_insats"] for k in "TKM"]
    assert [number(c) for c in funnel.rows[2][1:]] == [published[k]["utan_insats"] for k in "TKM"]


def test_the_report_splits_by_kon_and_hederskontext_where_the_report_does(built):
    current = statistics(built.output, ROUND)
    tables = {t.section: t for t in page_tables(built.site / "riket.html")}
    for anchor, figure, breakdown in (
        ("figur-insatser-uppdelad25", "insatser", "kon"),
        ("figur-aldersgrupp-uppdelad24", "aldersgrupp", "kon"),
        ("figur-insatser-uppdelad23", "insatser", "hedersrelaterat"),
        ("figur-ursprung-uppdelad22", "ursprung", "hedersrelaterat"),
    ):
        table = tables[anchor]
        assert table.header[0] == "Grupp"
        labels = {
            label: code for code, label in current["definitions"][figure]["kategorier"].items()
        }
        groups = {
            "Kvinnor": "K",
            "Män": "M",
            "HRV": "ja",
            "Ej HRV": "nej",
            "HRV: vet inte": "vet_inte",
        }
        assert {row[0] for row in table.rows} <= set(groups)
        for row in table.rows:
            published = current["figures"][
                ("omgång", ROUND, "riket", "00", figure, breakdown, groups[row[0]], labels[row[1]])
            ]
            assert number(row[2]) == shown(published["antal"])
            if labels[row[1]] != "saknas":
                assert number(row[4]) == shown(published["andel_procent"])


# The comparisons the report makes only in its text (figures.md; issue 16 §6), each with the
# report's own words and lines: figure, breakdowns, the lines of seed 000 its source cites.
TEXT_COMPARISONS = {
    ("hedersrelaterat", ("kon", "storleksgrupp")): "681–683",
    ("hedersrelaterat", ("kon_aldersgrupp",)): "695",
    ("valdets_grad", ("hedersrelaterat", "aldersgrupp", "storleksgrupp")): "704–713",
    ("riskbedomning", ("hedersrelaterat",)): "708",
    ("maluppfoljning", ("hedersrelaterat", "kon")): "717",
    ("riskmetod", ("kon",)): "726–765",
    ("genomforande", ("kon",)): "726–765",
    ("utovare", ("toppgrupp",)): "659–676",
    ("riskforandring", ("maluppfoljning", "forandring_valdsutsatthet")): "808–818",
}


def test_the_comparisons_the_report_makes_in_its_text_have_a_page_of_their_own(built):
    """Fördjupningar: each text comparison as a table at riket whose rows are exactly the
    published cross-tab (every group the statistics publish, counts and shares as published),
    with the report's lines as its source; the page is in the menu and its tables in the
    downloads."""
    current = statistics(built.output, ROUND)
    page = built.site / "fordjupningar.html"
    html = page.read_text(encoding="utf-8")
    tables = {t.section: t for t in page_tables(page)}
    for (figure, breakdowns), lines in TEXT_COMPARISONS.items():
        anchor = f"figur-{figure}-efter-" + "-".join(breakdowns).replace("_", "-")
        table = tables[anchor]
        assert table.header[0] == "Grupp" and table.header[2:4] == ["Antal", "N"]
        published = [
            row
            for (period_type, period, level, _, fig, breakdown, value, _), row in (
                current["figures"].items()
            )
            if (period_type, period, level, fig) == ("omgång", ROUND, "riket", figure)
            and breakdown in breakdowns
            and value != "alla"
        ]
        assert published, (figure, breakdowns)
        assert len({row[0] for row in table.rows}) == len(
            {(r["uppdelning"], r["uppdelning_varde"]) for r in published}
        )
        assert sorted(str(number(row[2])) for row in table.rows) == sorted(
            str(shown(r["antal"])) for r in published
        )
        section = html[html.index(f'id="{anchor}"') :]
        assert f"seed 000 rad {lines}" in section[: section.index("</section>")]
    assert 'href="fordjupningar.html">Fördjupningar</a>' in (built.site / "riket.html").read_text(
        encoding="utf-8"
    )
    figures_csv = (built.site / "data" / "rapportens_figurer.csv").read_text(encoding="utf-8-sig")
    assert "Toppgruppens profil: vem utövar våldet?" in figures_csv


# ---------------------------------------------------------------------------------------------
# kommun, stadsdel and län pages


def test_kommun_pages_show_the_kolada_values_and_the_protected_area_values(built):
    kolada = kolada_cells(built.output, ROUND)
    areas = {
        (r["figure"], r["level"], r["area_code"], r["year"]): r["value_per_10000"]
        for r in mart(
            "SELECT * FROM marts.fct_key_figure_comparisons WHERE round_id = :r AND gender = 'T'",
            r=ROUND,
        )
    }
    units = {r["unit_kod"]: r for r in mart("SELECT * FROM marts.dim_reporting_units")}
    figures = {"U30750": "aktualiserade", "U30751": "med_insats", "U30752": "mal_helt_delvis"}
    pages = sorted((built.site / "kommun").glob("*.html")) + sorted(
        (built.site / "stadsdel").glob("*.html")
    )
    assert len(pages) > 40  # every kommun of the participation register, and the stadsdelar
    for page in pages:
        unit = units[page.stem]
        tables = {t.section: t for t in page_tables(page)}
        for kpi, figure in figures.items():
            table = tables[f"nyckeltal-{kpi}"]
            for row in table.rows:
                year = int(row[0])
                own = kolada.get((kpi, unit["kolada_id"], year))
                assert number(row[1]) == shown(own), (page.name, kpi, row)
                for column, level, area in (
                    (unit["lan_namn"], "lan", unit["lan_kod"]),
                    ("Riket", "riket", "00"),
                ):
                    text = row[table.column(column)]
                    if text != WITHHELD:  # withholding: the next test
                        assert number(text) == shown(areas.get((figure, level, area, year))), (
                            page.name,
                            kpi,
                            row,
                        )


def test_the_areas_key_figures_never_give_away_a_count_or_a_withheld_kommun(built):
    """Read back from the download of every area value: no area count of 1-4 is shown, and no
    area reveals a kommun cell the Kolada files withhold (an area whose only unknown part is a
    withheld kommun is withheld itself); riket is the sum of the län."""
    rows = list(
        csv.DictReader(
            io.StringIO(
                (built.site / "data" / "nyckeltal_omraden.csv").read_bytes().decode("utf-8-sig")
            ),
            delimiter=";",
        )
    )
    counts = {
        (r["figure"], r["level"], r["area_code"], r["year"]): r["case_count"]
        for r in mart(
            "SELECT * FROM marts.fct_key_figure_comparisons WHERE round_id = :r AND gender = 'T'",
            r=ROUND,
        )
    }
    kpis = {"U30750": "aktualiserade", "U30751": "med_insats", "U30752": "mal_helt_delvis"}
    kolada = kolada_cells(built.output, ROUND)
    units = {r["unit_kod"]: r for r in mart("SELECT * FROM marts.dim_reporting_units")}
    shown_areas = {}
    for row in rows:
        key = (kpis[row["Nyckeltal"]], row["Nivå"], row["Kod"], int(row["År"]))
        shown_areas[key] = row["Värde"]
        if row["Värde"] != WITHHELD:
            assert not 1 <= counts[key] <= 4, key
    assert shown_areas
    for (kpi, unit, year), value in kolada.items():
        if value != WITHHELD or not unit.isdigit():
            continue
        for level, area in (
            ("lan", units[unit]["lan_kod"]),
            ("storleksgrupp", units[unit]["storleksgrupp_kod"]),
            ("riket", "00"),
        ):
            hidden_parts = [
                k
                for k in units
                if k.isdigit()
                and kolada.get((kpi, k, year)) == WITHHELD
                and (
                    units[k]["lan_kod"]
                    if level == "lan"
                    else units[k]["storleksgrupp_kod"]
                    if level == "storleksgrupp"
                    else "00"
                )
                == area
            ]
            if hidden_parts == [unit]:
                assert shown_areas.get((kpis[kpi], level, area, year)) in (WITHHELD, None), (
                    kpi,
                    unit,
                    year,
                    level,
                )


def test_kommun_funnel_and_comparison_are_the_published_ones(built):
    current = statistics(built.output, ROUND)
    for code in ("0126", "0580", "1984"):
        tables = {t.section: t for t in page_tables(built.site / "kommun" / f"{code}.html")}
        funnel = tables["tratt"]
        published = {k: current["funnel"][("kommun", code, k)] for k in "TKM"}
        assert [number(c) for c in funnel.rows[0][1:]] == [
            published[k]["aktualiserade"] for k in "TKM"
        ]
        comparison = tables["jamforelse"]
        kommun_value = [number(row[1]) for row in comparison.rows]
        expected = []
        for figure, category in (
            ("med_insats", "ja"),
            ("insatser", "boende"),
            ("antal_insatser", "medel"),
            ("riskbedomning", "ja"),
            ("hedersrelaterat", "1"),
            ("valdets_grad", "3"),
            ("genomforande", "1"),
            ("maluppfoljning", "helt_delvis"),
            ("brukarenkat_besvarad", "ja"),
            ("toppgrupp", "ja"),
        ):
            row = current["figures"].get(
                ("omgång", ROUND, "kommun", code, figure, "alla", "alla", category)
            )
            value = (
                None
                if row is None
                else (row["medelvarde"] if row["medelvarde"] is not None else row["andel_procent"])
            )
            expected.append(shown(value))
        assert kommun_value == expected, code
    small = {t.section: t for t in page_tables(built.site / "kommun" / "1984.html")}
    assert any(WITHHELD in row for row in small["tratt"].rows)
    assert "redovisas inte" in (built.site / "kommun" / "1984.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# the round console and Granskning


def test_the_round_console_lists_every_expected_unit_with_its_delivery(built):
    deliveries = {
        r["unit_kod"]: r
        for r in mart("SELECT * FROM marts.fct_round_deliveries WHERE round_id = :r", r=ROUND)
    }
    table = next(
        t
        for t in page_tables(built.internal / "omgang.html")
        if t.caption.startswith("Leveranser i omgång")
    )
    shown_units = {row[table.column("Kod")]: row for row in table.rows}
    assert set(shown_units) == set(deliveries)
    register = mart("SELECT unit_kod FROM seeds.participation_register")
    assert {r["unit_kod"] for r in register} <= set(shown_units)
    for code, row in shown_units.items():
        delivery = deliveries[code]
        assert row[table.column("Status")] == STATUS_LABELS[delivery["status"]]
        for column, key in (
            ("Rader", "rows_received"),
            ("Avvisade", "rows_rejected"),
            ("Med fel", "rows_with_errors"),
            ("Varningar", "rows_warned"),
        ):
            assert number(row[table.column(column)]) == shown(delivery[key])
    assert shown_units["0380"][table.column("Status")] == "spärrad"
    assert "omgång 2023-06" in shown_units["0380"][table.column("Orsak")]
    assert shown_units["0115"][table.column("Status")] == "inte inkommen"
    assert shown_units["0126"][table.column("Återkoppling")] == "återkoppling"


def test_missing_registration_shares_are_withheld_with_the_published_funnel(built):
    current = statistics(built.output, ROUND)
    deliveries = {
        r["unit_kod"]: r
        for r in mart("SELECT * FROM marts.fct_round_deliveries WHERE round_id = :r", r=ROUND)
    }
    table = next(
        t
        for t in page_tables(built.internal / "omgang.html")
        if t.caption.startswith("Saknade registreringar per fas")
    )
    names = {row[0]: row for row in table.rows}
    for code, delivery in deliveries.items():
        if delivery["aktualiserade"] is None or delivery["unit_type"] != "kommun":
            continue
        row = names[delivery["unit_namn"]]
        funnel = current["funnel"][("kommun", code, "T")]
        for index, (missing, phase) in enumerate(MISSING_SHARES, start=1):
            if WITHHELD in (funnel[missing], funnel[phase]):
                assert row[index] == WITHHELD, (code, missing)
            else:
                assert number(row[index]) == shown(float(delivery[f"andel_{missing}"]))


def test_granskning_lists_the_expected_units_that_are_missing(built):
    sections = {t.caption: t for t in page_tables(built.internal / "granskning.html")}
    missing = next(t for caption, t in sections.items() if caption.startswith("Förväntade"))
    codes = {row[1] for row in missing.rows}
    assert "0380" in codes and "0115" in codes and "0126" not in codes
    statuses = {row[1]: row[2] for row in missing.rows}
    assert statuses["0380"] == "spärrad" and statuses["0115"] == "inte inkommen"


def test_granskning_counts_the_cases_with_an_insats_but_no_start_date(built):
    """U30751 counts a case in the year its insats started: a case with an insats but no valid
    start date (v117) is in no year, and Granskning shows how many each unit has."""
    cases = mart(
        "SELECT unit_kod, count(*) AS n FROM intermediate.int_case_versions"
        " WHERE round_id = :r AND has_insats AND datum_insats IS NULL GROUP BY unit_kod",
        r=ROUND,
    )
    assert cases  # the generated round leaves some start dates out
    table = next(
        t
        for t in page_tables(built.internal / "granskning.html")
        if t.caption.startswith("Ärenden som inte kan föras till ett år")
    )
    column = table.column("U30751 Med minst en insats")
    shown_counts = {row[1]: number(row[column]) for row in table.rows}
    assert {u: n for u, n in shown_counts.items() if n} == {r["unit_kod"]: r["n"] for r in cases}
    html = (built.internal / "granskning.html").read_text(encoding="utf-8")
    assert "utan giltigt datum för när insatsen påbörjades räknas därför" in html


# ---------------------------------------------------------------------------------------------
# escaping, downloads, byte-identical re-render


def test_a_file_name_from_an_upload_is_shown_as_text(built):
    html = (built.internal / "omgang.html").read_text(encoding="utf-8")
    assert "<img" not in html
    assert "&lt;img src=x onerror=" in html
    table = next(
        t
        for t in page_tables(built.internal / "omgang.html")
        if t.caption.startswith("Leveranser i omgång")
    )
    assert HOSTILE_NAME in [row[table.column("Fil")] for row in table.rows]


def test_the_public_site_holds_nothing_internal(built):
    """The round console, Granskning and the deliveries (kommuner's file names, rows) are in
    the internal root only: no page, link, download or text of them among the public files."""
    public = {p.relative_to(built.site).as_posix(): p for p in built.site.rglob("*") if p.is_file()}
    internal = {p.relative_to(built.internal).as_posix() for p in built.internal.rglob("*")}
    assert {"omgang.html", "granskning.html", "data/leveranser.csv"} <= internal
    assert any(name.startswith("data/granskning_") for name in internal)
    assert not [n for n in public if n in {"omgang.html", "granskning.html"}]
    assert not [n for n in public if "leveranser" in n or "granskning_" in n]
    with warehouse.engine().connect() as conn:
        file_names = conn.execute(sa.text("SELECT file_name FROM raw.uploads")).scalars().all()
    assert HOSTILE_NAME in file_names
    for name, path in public.items():
        if path.suffix not in (".html", ".csv"):
            continue
        text = path.read_bytes().decode("utf-8-sig")
        for needle in ("omgang.html", "granskning.html", "aterkoppling", "Intern ", "intern)"):
            assert needle not in text, (name, needle)
        assert not [f for f in file_names if f in text], name
    index = (built.internal / "index.html").read_text(encoding="utf-8")
    assert 'href="omgang.html"' in index and 'href="granskning.html"' in index
    deliveries = (built.internal / "data" / "leveranser.csv").read_bytes().decode("utf-8-sig")
    assert HOSTILE_NAME in [
        row[5] for row in csv.reader(io.StringIO(deliveries), delimiter=";") if len(row) > 5
    ]


@pytest.mark.parametrize("root", ["site", "internal"])
def test_downloads_open_in_swedish_excel_and_the_workbook_holds_every_table(built, root):
    data = getattr(built, root) / "data"
    workbook = openpyxl.load_workbook(data / f"sukf_{ROUND}.xlsx", read_only=True)
    csv_tables = sorted(
        p for p in data.glob("*.csv") if p.name not in ("tratt.csv", "nationella_figurer.csv")
    )
    assert sorted(workbook.sheetnames) == sorted(p.stem for p in csv_tables)
    assert ("leveranser" in workbook.sheetnames) == (root == "internal")
    for path in csv_tables:
        raw = path.read_bytes()
        assert raw.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
        sheet = [
            [("" if v is None else v) for v in row]
            # max_col: a read-only sheet leaves a row's trailing empty cells out otherwise
            for row in workbook[path.stem].iter_rows(values_only=True, max_col=len(rows[0]))
        ]
        assert len(sheet) == len(rows), path.name
        assert sheet[0] == rows[0]
        for csv_row, sheet_row in zip(rows[1:], sheet[1:], strict=True):
            for text, value in zip(csv_row, sheet_row, strict=True):
                if isinstance(value, float):
                    assert text == f"{value:.1f}".replace(".", ","), path.name
                else:
                    assert text == str(value), path.name
    if root == "internal":
        return
    figures = (data / "rapportens_figurer.csv").read_bytes().decode("utf-8-sig")
    assert ";" in figures.splitlines()[0] and any("," in line for line in figures.splitlines())
    # every row as wide as the header, and the funnel (its own download, tratt.csv) not in it
    table = list(csv.reader(io.StringIO(figures), delimiter=";"))
    assert {len(row) for row in table} == {len(table[0])}
    assert not [row for row in table if row[0] == "Diagram 1. Antal ärenden i olika faser"]
    published = latest_version(built.output / "statistik" / ROUND)
    assert (data / "tratt.csv").read_bytes() == (published / "tratt.csv").read_bytes()


def _reader_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def _marking(statistics_dir: Path, site: Path) -> dict[str, object]:
    """What each statistics file and public download says of being preliminary, read as a
    reader would: a CSV's or sheet's last column (name, its values), a JSON file's fields."""
    marks: dict[str, object] = {}
    for name in ("tratt.csv", "nationella_figurer.csv"):
        rows = _reader_rows((statistics_dir / name).read_bytes())
        marks[name] = (rows[0][0], rows[0][-1], {row[-1] for row in rows[1:]})
    for name in ("statistik.json", "definitioner.json"):
        document = json.loads((statistics_dir / name).read_text(encoding="utf-8"))
        marks[name] = (document.get("preliminar"), document.get("preliminar_text"))
    manifest = json.loads((statistics_dir / "manifest.json").read_text(encoding="utf-8"))
    marks["manifest.json"] = manifest["preliminary"]
    for path in sorted((site / "data").glob("*.csv")):
        rows = _reader_rows(path.read_bytes())
        marks[f"data/{path.name}"] = (rows[0][-1], {row[-1] for row in rows[1:]})
    book = openpyxl.load_workbook(site / "data" / f"sukf_{ROUND}.xlsx", read_only=True)
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        marks[f"xlsx:{sheet.title}"] = (rows[0][-1], {row[-1] for row in rows[1:]})
    marks["xlsx properties"] = (book.properties.title, book.properties.description)
    marks["banner"] = 'class="preliminar"' in (site / "nedladdning.html").read_text("utf-8")
    return marks


def test_a_preliminary_publication_says_so_in_every_file_and_a_final_one_does_not(built, tmp_path):
    # the shipped population seeds are approximations: the landed round is preliminary
    published = latest_version(built.output / "statistik" / ROUND)
    marks = _marking(published, built.site)
    reason = (
        "Preliminär publicering: nyckeltalen per 10 000 invånare bygger på en uppskattad "
        "befolkning 18 år och äldre, inte SCB:s folkmängd, och kan ändras när omgången "
        "publiceras på nytt med SCB:s siffror. Antal, andelar och medelvärden bygger inte på "
        "befolkningen."
    )
    tables = ["jamforelser", "kvalitet", "nyckeltal", "nyckeltal_omraden"]
    tables += ["rapportens_figurer", "tratt_omraden"]
    assert marks == {
        "tratt.csv": ("omgång", "publicering", {"preliminär"}),
        "nationella_figurer.csv": ("omgång", "publicering", {"preliminär"}),
        "statistik.json": (True, reason),
        "definitioner.json": (True, reason),
        "manifest.json": True,
        "data/nationella_figurer.csv": ("publicering", {"preliminär"}),
        "data/tratt.csv": ("publicering", {"preliminär"}),
        **{f"data/{name}.csv": ("Publicering", {"preliminär"}) for name in tables},
        **{f"xlsx:{name}": ("Publicering", {"preliminär"}) for name in tables},
        "xlsx properties": (f"SU-Kvinnofrid {ROUND}: preliminär publicering", reason),
        "banner": True,
    }

    # the same round with SCB's population (as refresh-population gives it) is final: published
    # again beside copies of the preliminary versions, then restored for the other tests
    output = tmp_path / "output"
    for name in ("statistik", "kolada"):
        shutil.copytree(built.output / name, output / name)
    engine = warehouse.engine()
    restore = (
        "UPDATE marts.fct_kolada_key_figures SET population_source = :to"
        " WHERE round_id = :r AND population_source = :of"
    )
    sources = {
        row["population_source"]
        for row in mart(
            "SELECT DISTINCT population_source FROM marts.fct_kolada_key_figures"
            " WHERE round_id = :r",
            r=ROUND,
        )
    }
    assert "scb" not in sources  # so restoring is setting 'scb' back to 'approximation'
    with engine.begin() as conn:
        conn.execute(sa.text(restore), {"r": ROUND, "of": "approximation", "to": "scb"})
    finals = []  # published as the pipeline does: the statistics first, inside Kolada's

    def statistics_first() -> Path:
        finals.append(publish_statistics(ROUND, engine, output / "statistik"))
        return finals[0].directory

    try:
        kolada = publish_kolada(ROUND, engine, output / "kolada", statistics=statistics_first)
        (final,) = finals
        report.render_round(ROUND, engine, output)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(restore), {"r": ROUND, "of": "scb", "to": "approximation"})
    assert not kolada.preliminary and not final.reused and final.directory != published
    site = output / "rapport" / ROUND
    final_marks = _marking(final.directory, site)
    assert _reader_rows((final.directory / "tratt.csv").read_bytes())[0] == [
        *("omgång", "nivå", "områdeskod", "område", "kön"),
        *FUNNEL_COLUMNS,
    ]
    assert final_marks["nationella_figurer.csv"][:2] == ("omgång", "n svar")
    assert [final_marks[f"{name}.json"] for name in ("statistik", "definitioner")] == [
        (None, None)
    ] * 2
    assert final_marks["manifest.json"] is False and final_marks["banner"] is False
    assert final_marks["xlsx properties"] == (None, None)
    assert not [
        (name, mark)
        for name, mark in final_marks.items()
        if "ublicering" in str(mark) or "preliminär" in str(mark)
    ]

    # nothing but the marking differs: each final file is the preliminary one without it
    def unmarked(data: bytes) -> bytes:
        for column in (b"publicering", b"Publicering", "preliminär".encode()):
            data = data.replace(b";" + column + b"\r\n", b"\r\n")
        return data

    for name in ("tratt.csv", "nationella_figurer.csv"):
        assert (final.directory / name).read_bytes() == unmarked((published / name).read_bytes())
        assert (site / "data" / name).read_bytes() == (final.directory / name).read_bytes()
    for name in tables:
        path = f"data/{name}.csv"
        assert (site / path).read_bytes() == unmarked((built.site / path).read_bytes()), name
    for name in ("statistik.json", "definitioner.json"):
        preliminary = json.loads((published / name).read_text(encoding="utf-8"))
        del preliminary["preliminar"], preliminary["preliminar_text"]
        assert json.loads((final.directory / name).read_text(encoding="utf-8")) == preliminary


def _files(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_unchanged_data_re_renders_byte_identical(built, tmp_path):
    before = (_files(built.site), _files(built.internal))
    again = report.render_round(ROUND)
    assert not again.written
    copy = tmp_path / "output"
    for name in ("statistik", "kolada", "aterkoppling"):
        shutil.copytree(built.output / name, copy / name)
    fresh = report.render_round(ROUND, output=copy)
    assert fresh.written
    assert (_files(fresh.directory), _files(fresh.internal)) == before


def test_a_draft_for_review_is_written_beside_the_publication(built):
    versions = sorted(p.name for p in (built.output / "kolada" / ROUND).iterdir())
    draft = report.review_round(ROUND)
    assert draft.directory == built.output / "granskning" / ROUND / "rapport"
    assert draft.internal == built.output / "granskning" / ROUND / "intern"
    assert not (draft.directory / "granskning.html").exists()
    html = (draft.internal / "granskning.html").read_text(encoding="utf-8")
    assert "Utkast för granskning" in html and "approve_publication" in html
    assert sorted(p.name for p in (built.output / "kolada" / ROUND).iterdir()) == versions


# ---------------------------------------------------------------------------------------------
# the command line


def test_report_on_the_command_line(built, capsys):
    assert main(["report", "--round", ROUND]) == 0
    out = capsys.readouterr().out
    assert str(built.site / "index.html") in out and "oförändrad" in out
    assert str(built.internal / "index.html") in out
    assert main(["report", "--round", "2099-12"]) == 2
    assert "omgång 2099-12 är inte publicerad" in capsys.readouterr().err
    assert main(["report", "--round", "2023-13"]) == 2
    assert "ÅÅÅÅ-MM" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# the withholding of the new tables, for any counts


def _derivable(relations, unknown, sensitive):
    """Relations where exactly one member is unknown and that member must stay hidden."""
    return [
        r for r in relations if len(u := [m for m in r if m in unknown]) == 1 and u[0] in sensitive
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from("ABCDEF"), st.sampled_from("12"), st.integers(0, 30), st.booleans()
        ),
        min_size=1,
        max_size=12,
        unique_by=lambda t: t[0],
    ),
    st.integers(2, 6),
)
def test_area_values_never_reveal_a_withheld_kommun_or_a_small_count(kommuner, min_count):
    """Kommuner A-F in two län with two size groups; `hidden` = the Kolada files withhold it."""
    units = {
        k: {"lan_kod": lan, "storleksgrupp_kod": "g" + str("ABCDEF".index(k) % 2)}
        for k, lan, _, _ in kommuner
    }
    counts = {k: c for k, _, c, _ in kommuner}
    hidden = {k for k, _, c, h in kommuner if h or 1 <= c < min_count}
    areas: dict[tuple, int] = {}
    members: dict[tuple, list[str]] = {}
    for k, unit in units.items():
        for level, area in (
            ("lan", unit["lan_kod"]),
            ("storleksgrupp", unit["storleksgrupp_kod"]),
            ("riket", "00"),
        ):
            areas[(level, area)] = areas.get((level, area), 0) + counts[k]
            members.setdefault((level, area), []).append(k)
    rows = [
        {
            "figure": "aktualiserade",
            "year": 2023,
            "level": level,
            "area_code": area,
            "case_count": count,
            "units": len(members[(level, area)]),
        }
        for (level, area), count in areas.items()
    ]
    decisions = protect_comparisons(rows, {("U30750", 2023): hidden}, units, min_count)
    withheld = {(key[1], key[2]) for key in decisions}
    for area, count in areas.items():
        if area not in withheld:
            assert not 1 <= count < min_count
    # a kommun the Kolada files show is a known number, and so is an area all of whose
    # kommuner are shown: known terms leave a sum
    unknown = withheld | hidden
    relations = [[area, *(k for k in members[area] if k in hidden)] for area in areas]
    for level in ("lan", "storleksgrupp"):
        relations.append([("riket", "00"), *(a for a in areas if a[0] == level)])
    known = {a for a in areas if a not in withheld and not set(members[a]) & hidden}
    relations = [[m for m in r if m not in known] for r in relations]
    assert _derivable(relations, unknown, unknown) == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40)),
        min_size=1,
        max_size=3,
    ),
    st.booleans(),
)
def test_unit_shares_never_reveal_a_withheld_funnel_cell(units, kommun_hidden):
    """Stadsdelar of one kommun (counts of the funnel columns made consistent), the kommun's
    published funnel cell withheld or not: a share is hidden with the funnel, and no unit cell
    whose count is small is the only unknown of a phase relation."""
    rows = []
    for n, (aktualiserade, avslutade_raw, insats_raw) in enumerate(units):
        avslutade = min(avslutade_raw, aktualiserade)
        med_insats = min(insats_raw, aktualiserade)
        rows.append(
            {
                "round_id": "R",
                "unit_kod": f"0180-S{n}",
                "kommun_kod": "0180",
                "aktualiserade": aktualiserade,
                "med_insats": med_insats,
                "utan_insats": aktualiserade - med_insats,
                "avslutade": avslutade,
                "pagaende": aktualiserade - avslutade,
                "med_maluppfoljning": avslutade // 2,
                "avslutade_utan_maluppfoljning": avslutade - avslutade // 2,
                "med_brukarenkat": avslutade // 3,
                "avslutade_utan_brukarenkat": avslutade - avslutade // 3,
                "med_insats_utan_startdatum": med_insats // 10,
                "avslutade_utan_avslutsdatum": avslutade // 7,
                "avslutade_utan_avslutsorsak": avslutade // 9,
            }
        )
    # the kommun's funnel cell as the statistics publication decides it (or all withheld)
    totals = {c: sum(r[c] for r in rows) for c in FUNNEL_COLUMNS}
    decided = protect_funnel([{"level": "kommun", "area_code": "0180", "kon": "T", **totals}], 5)
    kommun = {
        c: WITHHELD
        if kommun_hidden or ("kommun", "0180", "T", c) in decided.withheld
        else totals[c]
        for c in FUNNEL_COLUMNS
    }
    hidden = protect_deliveries(rows, {"R": {("kommun", "0180", "T"): kommun}}, min_count=5)
    for row in rows:
        shares_hidden = hidden[("R", row["unit_kod"])]
        for missing, phase in MISSING_SHARES:
            if missing not in shares_hidden:
                assert not 1 <= row[missing] < 5 and not 1 <= row[phase] < 5, (row, missing)
        if kommun_hidden and len(rows) == 1:
            assert shares_hidden == {m for m, _ in MISSING_SHARES}


def test_split_diagrams_state_their_own_source_and_n(built):
    """Diagrams 21-25 print their own N in the report (seeds/figures.md: e.g. diagram 24
    'Kvinnor N=2 809, Män N=184'), not the N of the figure they split (ålder: N=3 006)."""
    html = (built.site / "riket.html").read_text(encoding="utf-8")
    sections = {
        part.split('"', 1)[0]: re.sub(r"<[^>]+>", " ", part)
        for part in html.split('<section id="')[1:]
    }
    expected = {
        "figur-aldersgrupp-uppdelad21": "HRV N=296, ej HRV N=2 484",
        "figur-ursprung-uppdelad22": "HRV N=284, ej HRV N=2 405",
        "figur-insatser-uppdelad23": "HRV N=279, ej HRV N=2 190",
        "figur-aldersgrupp-uppdelad24": "kvinnor N=2 809, män N=184",
        "figur-insatser-uppdelad25": "kvinnor N=2 457, män N=159",
    }
    for anchor, n in expected.items():
        text = sections[anchor]
        assert n in text, anchor
        assert "N i rapporten" not in text, anchor
    assert "N=3 006" not in sections["figur-aldersgrupp-uppdelad24"]
    assert "N=3 006" in sections["figur-aldersgrupp"]
