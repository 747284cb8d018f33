"""What each page shows, built from the round's sources as tables and charts (no HTML here).

Every number is read from a protected publication or from a report mart withheld by
`sukvinnofrid.report.protection`; what this module works out itself is only presentation: the
difference between two published values (the change beside the previous round or year), the
number of units per delivery status, and which published values Granskning flags.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from ..catalogue.figures import load_figures
from ..formats import swedish_date
from ..kolada.definitions import load_definitions
from ..rounds import calendar_round
from ..statistics import WITHHELD
from . import charts
from .protection import (
    MISSING_SHARES,
    UNPUBLISHED_ROUND,
    protect_comparisons,
    protect_deliveries,
    riket_shares_hidden,
    withheld_kolada_kommuner,
)
from .sources import RoundSources, Statistics
from .tables import NOT_COVERED, Column, Table

STOCKHOLM = ZoneInfo("Europe/Stockholm")

STATUS_LABELS = {
    "godkand": "godkänd",
    "godkand_med_varningar": "godkänd med varningar",
    "sen": "godkänd efter sista leveransdagen (i revideringen)",
    "mottagen": "mottagen, inte kontrollerad",
    "sparrad": "spärrad",
    "inte_inkommen": "inte inkommen",
}
DELIVERED = ("godkand", "godkand_med_varningar")

# Diagram 1 (catalogue/figures.yaml, section funnel): each missing registration's column heading
# and what its share is; each phase with, in orange, the cases of the phase before it that lack
# it (None, None for the first); the missing registrations drawn on their own, under the phases.
_FUNNEL = load_figures().funnel
MISSING_LABELS = {m.id: m.share_label for m in _FUNNEL.missing}
MISSING_SHORT = {m.id: m.short for m in _FUNNEL.missing}
FUNNEL_PHASES = tuple(
    (p.id, p.label, *((b.id, b.label) if (b := _FUNNEL.beside(p.id)) else (None, None)))
    for p in _FUNNEL.phases
)
FUNNEL_MISSING_ONLY = tuple((m.id, m.label) for m in _FUNNEL.missing_only)

# Short names of the Kolada key figures (fct_kolada_key_figures' figure) for charts.
KEY_FIGURE_NAMES = {
    "aktualiserade": "Aktualiserade",
    "med_insats": "Med minst en insats",
    "mal_helt_delvis": "Avslutade där målet nåtts helt eller delvis",
}

# What the site shows of the figures (catalogue/figures.yaml, section site): Öppna
# jämförelser-style indicators (figure, category, label: one headline value of a national
# figure, a unit beside its län, size group and riket); the report's diagrams that show a figure
# split by breakdowns (diagram, figure, breakdowns, title, the diagram's own source and N or
# None); the comparisons the report makes only in its running text (figure, breakdowns, title,
# the report's statement and lines), the published cross-tabs on page Fördjupningar.
_SITE = load_figures().site
INDICATORS = _SITE.indicators
SPLITS = _SITE.diagrams
TEXT_SPLITS = _SITE.text_comparisons

# How the site labels a breakdown's values (catalogue/figures.yaml): its own labels, or the
# categories of the figure they are; a cross-tabulation's by its breakdowns'.
_BREAKDOWNS = load_figures().breakdowns
VALUE_LABELS = {b.id: b.value_labels for b in _BREAKDOWNS if b.value_labels}
VALUE_FIGURE = {b.id: b.labels_from for b in _BREAKDOWNS if b.labels_from}
CROSSED = {b.id: b.of for b in _BREAKDOWNS if b.of}
MULTIPLE_NOTE = (
    "Flera alternativ kunde anges per ärende, därför blir summan av alternativen "
    "högre än 100 procent."
)


def timestamp(value) -> str | None:
    return None if value is None else value.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def change(current, previous):
    """The difference between two published numbers (procentenheter or the value's unit)."""
    if isinstance(current, (int, float)) and isinstance(previous, (int, float)):
        return round(float(current) - float(previous), 1)
    return None


@dataclass
class Section:
    anchor: str
    heading: str
    chart: str
    table: Table
    definition: list[tuple[str, str]] = field(default_factory=list)
    extra_tables: list[Table] = field(default_factory=list)


@dataclass
class UnitPage:
    name: str
    facts: list[tuple[str, object]]  # (term, text | link (text, path) | list of links)
    sections: list[Section]


class Views:
    """The round's sources, indexed once, and the pages built from them."""

    def __init__(self, sources: RoundSources, output: Path, site_dir: Path) -> None:
        self.sources = sources
        self.round_id = sources.round_id
        self.stats: Statistics = sources.statistics
        self.kolada = sources.kolada
        self.units = sources.marts.units
        self.output = output
        self.site_dir = site_dir
        self.min_count = self.stats.min_count
        self.deliveries = sources.marts.deliveries
        self.now = {
            row["unit_kod"]: row for row in self.deliveries if row["round_id"] == self.round_id
        }
        self.rounds = sorted({row["round_id"] for row in self.deliveries})
        self.by_unit: dict[str, list[dict]] = defaultdict(list)
        for row in self.deliveries:
            self.by_unit[row["unit_kod"]].append(row)
        self.hidden_shares = protect_deliveries(self.deliveries, sources.funnels, self.min_count)
        self.riket_hidden = {r: riket_shares_hidden(sources.funnels.get(r)) for r in self.rounds}
        self.kpis = [(kpi.id, kpi.figure) for kpi in load_definitions().kpis]
        self.kpi_titles = {k["id"]: k["title"] for k in self.kolada.kpis}
        comparison_withheld = protect_comparisons(
            sources.marts.comparisons,
            withheld_kolada_kommuner(self.kolada.cells.values()),
            self.units,
            self.min_count,
        )
        self.comparisons = {}
        for row in sources.marts.comparisons:
            key = (row["figure"], row["level"], row["area_code"], row["year"])
            self.comparisons[key] = (
                WITHHELD if key in comparison_withheld else row["value_per_10000"]
            )
        self.years = self.kolada.years()
        self.size_names = {
            u["storleksgrupp_kod"]: u["storleksgrupp_namn"]
            for u in self.units.values()
            if u["storleksgrupp_kod"]
        }
        self.lan_names = {u["lan_kod"]: u["lan_namn"] for u in self.units.values()}
        self.participants = self._participants()
        self._comparisons: dict[tuple[str, str], Section] = {}

    # -----------------------------------------------------------------------------------------
    # which units have pages

    def _participants(self) -> dict[str, dict]:
        """Every unit taking part in the round: expected, delivered, or counted in its
        statistics, and every kommun and län behind them; code -> {'kind', 'name', 'path'}."""
        kommuner: set[str] = set(self.stats.areas.get("kommun", {}))
        stadsdelar: set[str] = set()
        for unit in self.now:
            info = self.units.get(unit)
            if info is None:
                continue
            if info["unit_type"] == "stadsdel":
                stadsdelar.add(unit)
            kommuner.add(info["kommun_kod"])
        kommuner |= {cell.unit for cell in self.kolada.cells.values() if cell.unit.isdigit()}
        ou_units = {
            u["kolada_id"]: code for code, u in self.units.items() if u["unit_type"] == "stadsdel"
        }
        stadsdelar |= {
            ou_units[cell.unit] for cell in self.kolada.cells.values() if cell.unit in ou_units
        }
        pages = {}
        for code in sorted(kommuner):
            if code in self.units:
                pages[code] = {
                    "kind": "kommun",
                    "name": self.units[code]["unit_namn"],
                    "path": f"kommun/{code}.html",
                    "lan": self.units[code]["lan_kod"],
                }
        for code in sorted(stadsdelar):
            unit = self.units[code]
            pages[code] = {
                "kind": "stadsdel",
                "name": f"{unit['unit_namn']} ({unit['kommun_namn']})",
                "path": f"stadsdel/{code}.html",
                "lan": unit["lan_kod"],
            }
        for lan in sorted({page["lan"] for page in pages.values()}):
            pages[f"lan-{lan}"] = {
                "kind": "lan",
                "name": self.lan_names[lan],
                "path": f"lan/{lan}.html",
                "lan": lan,
            }
        return pages

    def unit_link(self, code: str) -> tuple[str, str] | str:
        """(name, path from the site root) of a unit's page, or its name when it has none."""
        page = self.participants.get(code)
        if page is None:
            return self.units[code]["unit_namn"] if code in self.units else code
        return (page["name"], page["path"])

    # -----------------------------------------------------------------------------------------
    # footnotes

    def statistics_note(self) -> str:
        return f"..\u00a0= redovisas inte. {self.stats.suppression}"

    def kolada_notes(self, table: Table) -> tuple[str, ...]:
        notes = []
        if table.has(WITHHELD):
            notes.append(f"..\u00a0= redovisas inte. {self.kolada.suppression}")
        if table.has(NOT_COVERED):
            notes.append("-\u00a0= enheten har inte rapporterat hela året.")
        return tuple(notes)

    def with_statistics_note(self, table: Table, *notes: str) -> Table:
        if self.stats.disclosure == "ckm":  # every count has its noise: always say so
            withheld = "..\u00a0= redovisas inte. " if table.has(WITHHELD) else ""
            table.footnotes = (*notes, withheld + self.stats.suppression)
            return table
        table.footnotes = tuple(notes) + ((self.statistics_note(),) if table.has(WITHHELD) else ())
        return table

    # -----------------------------------------------------------------------------------------
    # the funnel (Diagram 1)

    def funnel(self, level: str, area: str, anchor: str, title: str) -> Section | None:
        cells = {kon: self.stats.funnel.get((level, area, kon)) for kon in ("T", "K", "M")}
        total = cells["T"]
        if total is None:
            return None
        phases = [
            (label, total[column], missing_label, total[missing] if missing else None)
            for column, label, missing, missing_label in FUNNEL_PHASES
        ]
        phases += [(label, None, "", total[column]) for column, label in FUNNEL_MISSING_ONLY]
        svg = charts.funnel_chart(f"{anchor}-diagram", title, phases)
        table = Table(
            (
                Column("Fas"),
                Column("Totalt", "antal"),
                Column("Kvinnor", "antal"),
                Column("Män", "antal"),
            ),
            caption=f"{title}: antal ärenden per fas (totalt, kvinnor, män)",
        )
        for column, label, missing, missing_label in FUNNEL_PHASES:
            table.rows.append([label, *(cells[k][column] if cells[k] else None for k in "TKM")])
            if missing:
                table.rows.append(
                    [
                        f"– {missing_label} (saknar registrering)",
                        *(cells[k][missing] if cells[k] else None for k in "TKM"),
                    ]
                )
        for column, label in FUNNEL_MISSING_ONLY:
            table.rows.append(
                [
                    f"– {label.lower()} (saknar registrering)",
                    *(cells[k][column] if cells[k] else None for k in "TKM"),
                ]
            )
        self.with_statistics_note(
            table,
            "Ett ärende utan uppgift om kön räknas i totalen men inte hos kvinnor eller "
            "män. Orange: ärenden där registreringen saknas (rapportens diagram 1).",
        )
        return Section(anchor, title, svg, table)

    # -----------------------------------------------------------------------------------------
    # the national report

    def breakdown_label(self, breakdown: str, value: str) -> str:
        if breakdown in VALUE_LABELS and value in VALUE_LABELS[breakdown]:
            return VALUE_LABELS[breakdown][value]
        if breakdown in CROSSED:
            return ", ".join(
                self.breakdown_label(dimension, part)
                for dimension, part in zip(CROSSED[breakdown], value.split("|"), strict=True)
            )
        figure = VALUE_FIGURE.get(breakdown)
        if figure and figure in self.stats.definitions:
            return self.stats.definitions[figure]["kategorier"].get(value, value)
        return value

    def _value_order(self, breakdown: str):
        """Sort key of a breakdown's values: the order of the figure whose categories they are
        (e.g. the length groups of diagram 16), else of VALUE_LABELS, else by value."""
        if breakdown in CROSSED:
            orders = [self._value_order(dimension) for dimension in CROSSED[breakdown]]
            return lambda value: tuple(
                order(part) for order, part in zip(orders, value.split("|"), strict=True)
            )
        figure = VALUE_FIGURE.get(breakdown)
        order = (
            [row["kategori"] for row in self.stats.group(figure)]
            if figure
            else list(VALUE_LABELS.get(breakdown, {}))
        )
        return lambda value: (order.index(value) if value in order else len(order), value)

    def _figure_rows(
        self,
        stats: Statistics | None,
        figure: str,
        breakdown: str,
        value: str,
        period: str | None = None,
    ) -> dict[str, dict]:
        if stats is None:
            return {}
        return {
            row["kategori"]: row
            for row in stats.group(figure, breakdown=breakdown, value=value, period=period)
        }

    def figure_section(
        self,
        figure: str,
        diagram,
        breakdowns: Sequence[str] = ("alla",),
        title: str | None = None,
        source: str | None = None,
    ) -> Section | None:
        """A national figure at riket: the chart (this round beside the previous one, or one
        series per breakdown value), its table, definition and footnotes. `source`: the report's
        source and N of a split diagram that prints its own (else the figure's)."""
        definition = self.stats.definitions[figure]
        mean = definition["kind"] == "mean"
        multiple = definition["answer_type"] == "multiple"
        title = title or definition["title"]
        heading = f"Diagram {diagram}. {title}" if diagram else title
        split = tuple(breakdowns) != ("alla",)
        anchor = f"figur-{figure}" + (
            ""
            if not split
            else f"-uppdelad{diagram}"
            if diagram
            else "-efter-" + "-".join(breakdowns).replace("_", "-")
        )
        previous = self.sources.previous
        this_name = f"Omgång {self.round_id}"
        previous_name = f"Omgång {previous.round_id}" if previous else "Föregående omgång"
        groups = [
            (b, v)
            for b in breakdowns
            for v in (
                ["alla"]
                if b == "alla"
                else sorted(self.stats.breakdown_values(figure, b), key=self._value_order(b))
            )
        ]
        current = {g: self._figure_rows(self.stats, figure, *g) for g in groups}
        groups = [g for g in groups if current[g]]
        if not groups:
            return None
        kind = "varde" if mean else "andel"
        measure = "Medelvärde" if mean else "Andel"
        table = Table(
            tuple(
                ([Column("Grupp")] if split else [])
                + [
                    Column("Kategori"),
                    Column("Antal", "antal"),
                    Column("N", "antal"),
                    Column(f"{measure} {this_name.lower()}", kind),
                    Column(f"{measure} {previous_name.lower()}", kind),
                    Column("Förändring" + ("" if mean else " (procentenheter)"), "forandring"),
                ]
            ),
            caption=f"{heading}, riket",
        )
        labels: list[str] = []
        values: dict[str, dict[str, object]] = defaultdict(dict)  # series -> label -> value
        answers = []
        for group in groups:
            group_label = "Alla" if group[0] == "alla" else self.breakdown_label(*group)
            before = self._figure_rows(previous, figure, *group)
            for category, row in current[group].items():
                name = definition["kategorier"].get(category, category)
                saknas = category == "saknas"
                # a mean figure's 'uppgift saknas' row gives the count, not a share
                measure_of = "andel_procent" if not mean else None if saknas else "medelvarde"
                value = row[measure_of] if measure_of else None
                old_row = before.get(category)
                old = old_row[measure_of] if old_row is not None and measure_of else None
                table.rows.append(
                    ([group_label] if split else [])
                    + [
                        name,
                        row["antal"],
                        row["n_population"] if saknas else row["n"],
                        value,
                        old,
                        change(value, old),
                    ]
                )
                if saknas:
                    continue
                label = group_label if split and mean else name
                if label not in labels:
                    labels.append(label)
                values[this_name if not split or mean else group_label][label] = value
                if not split:
                    values[previous_name][label] = old
            if multiple:
                first = next(iter(current[group].values()))
                answers.append(
                    ("" if group[0] == "alla" else f"{group_label}: ")
                    + f"N = {_int(first['n'])} ärenden, {_int(first['n_svar'])} svar"
                )
        # a series with no published value (e.g. a small group) stays in the table only
        names = [
            name
            for name in values
            if (previous is not None or name != previous_name)
            and any(isinstance(v, (int, float)) for v in values[name].values())
        ] or list(values)[:1]  # all withheld: the first series, as '..'s
        # nothing to draw (no answered category, or no value either published or withheld,
        # as when every group lacks the figure's answers): the table alone
        drawable = any(
            isinstance(v, (int, float)) or v == WITHHELD
            for name in names
            for v in values[name].values()
        )
        svg = (
            charts.bar_chart(
                f"{anchor}-diagram",
                heading,
                labels,
                [
                    charts.Series(name, tuple(values[name].get(label) for label in labels))
                    for name in names
                ],
                unit="" if mean else "%",
            )
            if drawable
            else ""
        )
        notes = [MULTIPLE_NOTE] if multiple else []
        if previous is None:
            notes.append("Ingen tidigare omgång är publicerad: ingen jämförelse.")
        notes.append(
            "Uppgift saknas: ärenden i figurens population utan användbart svar"
            + (
                " (N på den raden: hela populationen)."
                if mean
                else ", i procent av hela populationen (N på den raden); övriga andelar är av N."
            )
        )
        self.with_statistics_note(table, *notes)
        facts = [
            ("Population", definition["population"]),
            ("N", definition["answered"]),
            ("Källa", source or definition["source"]),
        ]
        if definition.get("report_n") and not source:  # a split's own N is in its source
            facts.append(("N i rapporten 2021–2023", _int(definition["report_n"])))
        if answers:
            facts.append(("Svar", "; ".join(answers)))
        return Section(anchor, heading, svg, table, facts)

    def national_sections(self) -> list[Section]:
        definitions = sorted(
            self.stats.definitions.values(),
            key=lambda d: (d["diagram"] is None, d["diagram"] or 0, d["figure_id"]),
        )
        entries: list[tuple[tuple, Section | None]] = []
        for definition in definitions:
            figure, diagram = definition["figure_id"], definition["diagram"]
            order = (diagram is None, diagram or 0, 0, figure)
            if figure == "avslutsorsak_langd":  # diagram 17 is this figure by length only
                continue
            entries.append((order, self.figure_section(figure, diagram)))
        for diagram, figure, breakdowns, title, source in SPLITS:
            if figure not in self.stats.definitions:
                continue
            order = (diagram is None, diagram or 0, 1, figure)
            entries.append((order, self.figure_section(figure, diagram, breakdowns, title, source)))
        return [section for _, section in sorted(entries, key=lambda e: e[0]) if section]

    def text_sections(self) -> list[Section]:
        """The comparisons the report makes in its running text (TEXT_SPLITS)."""
        sections = (
            self.figure_section(figure, None, breakdowns, title, source)
            for figure, breakdowns, title, source in TEXT_SPLITS
            if figure in self.stats.definitions
        )
        return [section for section in sections if section]

    # -----------------------------------------------------------------------------------------
    # key figures of a unit against its areas

    def key_figure_section(self, code: str, kind: str) -> list[Section]:
        unit = self.units[code] if kind != "lan" else None
        sections = []
        for kpi, figure in self.kpis:
            name = KEY_FIGURE_NAMES.get(figure, kpi)
            series: list[tuple[str, list]] = []
            if kind == "lan":
                series.append(
                    (
                        self.lan_names[code],
                        [self.comparisons.get((figure, "lan", code, y)) for y in self.years],
                    )
                )
            else:
                own = unit["kolada_id"]
                series.append((unit["unit_namn"], [self._kolada(kpi, own, y) for y in self.years]))
                if kind == "stadsdel":
                    series.append(
                        (
                            unit["kommun_namn"],
                            [self._kolada(kpi, unit["kommun_kod"], y) for y in self.years],
                        )
                    )
                series.append(
                    (
                        unit["lan_namn"],
                        [
                            self.comparisons.get((figure, "lan", unit["lan_kod"], y))
                            for y in self.years
                        ],
                    )
                )
                size = unit["storleksgrupp_kod"]
                if size:
                    series.append(
                        (
                            f"Kommuner med {self.size_names[size].lower()}",
                            [
                                self.comparisons.get((figure, "storleksgrupp", size, y))
                                for y in self.years
                            ],
                        )
                    )
            series.append(
                ("Riket", [self.comparisons.get((figure, "riket", "00", y)) for y in self.years])
            )
            anchor = f"nyckeltal-{kpi}"
            title = f"{kpi} {name}, antal per 10 000 invånare 18 år och äldre"
            svg = charts.line_chart(
                f"{anchor}-diagram",
                title,
                [str(y) for y in self.years],
                [charts.Series(n, tuple(_chart_value(v) for v in values)) for n, values in series],
            )
            table = Table(
                (Column("År"), *(Column(n, "varde") for n, _ in series)),
                caption=f"{self.kpi_titles.get(kpi, title)}",
            )
            for i, year in enumerate(self.years):
                table.rows.append([str(year), *(values[i] for _, values in series)])
            table.footnotes = (
                (
                    "Län, kommungrupp och riket: de deltagande kommuner som rapporterat hela året, "
                    "summan av deras ärenden per 10 000 av deras invånare 18 år och äldre."
                ),
                *self.kolada_notes(table),
            )
            sections.append(Section(anchor, title, svg, table))
        return sections

    def _kolada(self, kpi: str, unit: str, year: int):
        cell = self.kolada.cells.get((kpi, unit, year))
        if cell is None:
            return None
        return cell.status if cell.status else cell.value

    # -----------------------------------------------------------------------------------------
    # quality over rounds

    def shares(self, row: dict) -> list:
        hidden = self.hidden_shares.get((row["round_id"], row["unit_kod"]), set())
        # a share of an empty phase is None: shown as '–' (does not apply), not as withheld
        return [WITHHELD if name in hidden else row[f"andel_{name}"] for name, _ in MISSING_SHARES]

    def unpublished_note(self, rounds) -> list[str]:
        """The note of rounds whose shares are not shown because their statistics are not."""
        missing = sorted({r for r in rounds if r not in self.sources.funnels})
        return (
            [
                (
                    f"..\u00a0i omgång {', '.join(missing)}: {UNPUBLISHED_ROUND}, så andelarna "
                    "redovisas inte."
                )
            ]
            if missing
            else []
        )

    def riket_shares(self, row: dict) -> list:
        hidden = self.riket_hidden.get(row["round_id"], set())
        return [
            WITHHELD if name in hidden else row[f"riket_andel_{name}"] for name, _ in MISSING_SHARES
        ]

    def quality_section(self, code: str) -> Section:
        rows = list(self.by_unit.get(code, []))
        table = Table(
            (
                Column("Omgång"),
                Column("Status"),
                Column("Inkom", "tid"),
                Column("Avvisade rader", "andel"),
                *(Column(MISSING_SHORT[n], "andel") for n, _ in MISSING_SHARES),
            ),
            caption="Leveranser och saknade registreringar per omgång (andel av fasen)",
        )
        riket = Table(
            (Column("Omgång"), *(Column(MISSING_SHORT[n], "andel") for n, _ in MISSING_SHARES)),
            caption="Riket: saknade registreringar per omgång (andel av fasen)",
        )
        for row in rows:
            table.rows.append(
                [
                    row["round_id"],
                    STATUS_LABELS[row["status"]],
                    timestamp(row["received_at"]) or "–",
                    row["andel_avvisade_rader"],
                    *self.shares(row),
                ]
            )
            riket.rows.append([row["round_id"], *self.riket_shares(row)])
        notes = [
            "Andelarna gäller enhetens ärenden som de såg ut i omgången (den senaste "
            "godkända filen), av ärendena i fasen: "
            + "; ".join(
                f"{MISSING_SHORT[n].lower()} = {MISSING_LABELS[n]}" for n, _ in MISSING_SHARES
            )
            + "."
        ]
        notes += self.unpublished_note(row["round_id"] for row in rows)
        self.with_statistics_note(table, *notes)
        self.with_statistics_note(riket, *self.unpublished_note(row["round_id"] for row in rows))
        svg = charts.bar_chart(
            "kvalitet-diagram",
            f"Saknade registreringar i omgång {self.round_id}",
            [MISSING_SHORT[n] for n, _ in MISSING_SHARES],
            [
                charts.Series(
                    "Enheten",
                    tuple(table.rows[-1][4:])
                    if rows and rows[-1]["round_id"] == self.round_id
                    else tuple([None] * len(MISSING_SHARES)),
                ),
                charts.Series(
                    "Riket",
                    tuple(riket.rows[-1][1:]) if rows else tuple([None] * len(MISSING_SHARES)),
                ),
            ],
            unit="%",
        )
        return Section("kvalitet", "Kvalitet över omgångar", svg, table, extra_tables=[riket])

    # -----------------------------------------------------------------------------------------
    # Öppna jämförelser-style comparison

    def comparison_section(self, level: str, code: str) -> Section:
        """The unit's comparison (the page and the download both show it: built once)."""
        key = (level, code)
        if key not in self._comparisons:
            self._comparisons[key] = self._comparison_section(level, code)
        return self._comparisons[key]

    def _comparison_section(self, level: str, code: str) -> Section:
        unit = self.units.get(code) if level == "kommun" else None
        areas: list[tuple[str, str, str, str]] = []  # (column name, level, area, breakdown value)
        if level == "kommun":
            areas.append((unit["unit_namn"], "kommun", code, "alla"))
            areas.append((unit["lan_namn"], "län", unit["lan_kod"], "alla"))
        else:
            areas.append((self.lan_names[code], "län", code, "alla"))
        if unit and unit["storleksgrupp_kod"]:
            areas.append(
                (
                    f"Kommuner med {self.size_names[unit['storleksgrupp_kod']].lower()}",
                    "riket",
                    "00",
                    unit["storleksgrupp_kod"],
                )
            )
        areas.append(("Riket", "riket", "00", "alla"))
        table = Table(
            (
                Column("Indikator"),
                *(Column(name, "varde") for name, *_ in areas),
                Column(f"N ({areas[0][0]})", "antal"),
            ),
            caption=f"Jämförelse, omgång {self.round_id} (andel i procent, "
            "medelvärde för insatser per ärende)",
        )
        for figure, category, label in INDICATORS:
            values = []
            n = None
            for index, (_, lvl, area, value) in enumerate(areas):
                breakdown = "alla" if value == "alla" else "storleksgrupp"
                rows = {
                    r["kategori"]: r
                    for r in self.stats.group(
                        figure, level=lvl, area=area, breakdown=breakdown, value=value
                    )
                }
                row = rows.get(category)
                if row is None:
                    values.append(None)
                    continue
                values.append(
                    row["medelvarde"] if row["medelvarde"] is not None else row["andel_procent"]
                )
                if index == 0:
                    n = row["n"]
            table.rows.append([label, *values, n])
        self.with_statistics_note(
            table,
            "Som i Öppna jämförelser: enheten bredvid sitt län, kommuner av samma storlek "
            "och riket. Resultaten är inte statistiskt prövade; små skillnader kan bero "
            "på slumpen.",
        )
        svg = charts.bar_chart(
            "jamforelse-diagram",
            f"Jämförelse, omgång {self.round_id}",
            [label for _, _, label in INDICATORS[:2] + INDICATORS[3:]],
            [
                charts.Series(name, tuple(r[1 + i] for j, r in enumerate(table.rows) if j != 2))
                for i, (name, *_) in enumerate(areas)
            ],
            unit="%",
        )
        return Section("jamforelse", "Jämförelse med län, kommungrupp och riket", svg, table)


def _int(value) -> str:
    from .tables import display

    return display(value, "antal")


def _chart_value(value):
    return value if isinstance(value, (int, float)) or value == WITHHELD else None


def feedback_link(row: dict, output: Path, site_dir: Path) -> tuple[str, str] | None:
    """The upload's feedback report, relative to the site (only when it exists)."""
    from ..config import get_settings
    from ..quality.feedback import report_path

    if row.get("upload_id") is None:
        return None
    written = report_path(row["upload_id"], row["unit_kod"], row["round_id"])
    path = output / written.relative_to(get_settings().output).with_suffix(".html")
    if not path.exists():
        return None
    return ("återkoppling", os.path.relpath(path, site_dir))


# ---------------------------------------------------------------------------------------------
# the round console


def console_tables(views: Views) -> dict:
    """Totals, deliveries, missing registrations against riket, and the same over rounds."""
    rows = sorted(views.now.values(), key=lambda r: (not r["expected"], r["unit_kod"]))
    expected = [r for r in rows if r["expected"]]
    by_status = {
        status: sum(1 for r in expected if r["status"] == status) for status in STATUS_LABELS
    }
    dates = calendar_round(views.round_id)
    late = [
        r
        for r in expected
        if r["status"] in DELIVERED and r["received_at"] and not dates.on_time(r["received_at"])
    ]
    totals = [
        ("Sista leveransdag", swedish_date(dates.last_delivery_day)),
        (
            "Publicering",
            f"{swedish_date(dates.publication_date)} kl. {dates.publication_time:%H.%M}",
        ),
        ("Förväntade enheter", len(expected)),
        *((f"– {STATUS_LABELS[s]}", by_status[s]) for s in STATUS_LABELS),
        ("– levererade efter sista leveransdagen (i en revidering)", len(late)),
        (
            "Enheter utanför deltagarförteckningen som räknas i omgången",
            sum(1 for r in rows if not r["expected"]),
        ),
        ("Rader i godkända filer", sum(r["rows_received"] or 0 for r in rows)),
        ("– avvisade rader", sum(r["rows_rejected"] or 0 for r in rows)),
        ("– rader med fel", sum(r["rows_with_errors"] or 0 for r in rows)),
        ("– rader med varningar", sum(r["rows_warned"] or 0 for r in rows)),
    ]
    deliveries = Table(
        (
            Column("Enhet", "link"),
            Column("Kod"),
            Column("Förväntad"),
            Column("Status"),
            Column("Inkom", "tid"),
            Column("Fil"),
            Column("Rader", "antal"),
            Column("Avvisade", "antal"),
            Column("Med fel", "antal"),
            Column("Varningar", "antal"),
            Column("Återkoppling", "link"),
            Column("Orsak"),
        ),
        caption=f"Leveranser i omgång {views.round_id}",
    )
    for row in rows:
        reason = row["latest_upload_reason"] if row["latest_upload_status"] == "blocked" else None
        if row["source_round_id"] and row["source_round_id"] != views.round_id:
            reason = (reason + " " if reason else "") + (
                f"Räknas med sin fil från omgång {row['source_round_id']}."
            )
        deliveries.rows.append(
            [
                views.unit_link(row["unit_kod"]),
                row["unit_kod"],
                "ja" if row["expected"] else "nej",
                STATUS_LABELS[row["status"]],
                timestamp(row["received_at"]),
                row["file_name"],
                row["rows_received"],
                row["rows_rejected"],
                row["rows_with_errors"],
                row["rows_warned"],
                feedback_link(row, views.output, views.site_dir),
                reason,
            ]
        )
    deliveries.footnotes = (
        (
            "Intern uppgift för statistikteamet: filnamn och antal rader publiceras inte. "
            "Godkänd med varningar: filen räknas, men rader har avvisats, har fel (räknas som "
            "uppgift saknas) eller varningar; återkopplingen säger vilka."
        ),
    )
    missing = Table(
        (Column("Enhet", "link"), *(Column(MISSING_SHORT[n], "andel") for n, _ in MISSING_SHARES)),
        caption="Saknade registreringar per fas, andel av fasen, mot riket",
    )
    counted = [r for r in rows if r["aktualiserade"] is not None]
    if counted:
        missing.rows.append(["Riket", *views.riket_shares(counted[0])])
    for row in counted:
        missing.rows.append([views.unit_link(row["unit_kod"]), *views.shares(row)])
    views.with_statistics_note(
        missing,
        "; ".join(f"{MISSING_SHORT[n]}: {MISSING_LABELS[n]}" for n, _ in MISSING_SHARES) + ".",
    )
    history = Table(
        (Column("Enhet", "link"), *(Column(r) for r in views.rounds)), caption="Status per omgång"
    )
    for unit in sorted(views.by_unit, key=lambda u: (u not in views.now, u)):
        statuses = {r["round_id"]: STATUS_LABELS[r["status"]] for r in views.by_unit[unit]}
        history.rows.append([views.unit_link(unit), *(statuses.get(r) for r in views.rounds)])
    over_rounds = Table(
        (Column("Omgång"), *(Column(MISSING_SHORT[n], "andel") for n, _ in MISSING_SHARES)),
        caption="Riket: saknade registreringar per omgång, andel av fasen",
    )
    for round_id in views.rounds:
        first = next(
            (
                r
                for r in views.deliveries
                if r["round_id"] == round_id and r["aktualiserade"] is not None
            ),
            None,
        )
        if first:
            over_rounds.rows.append([round_id, *views.riket_shares(first)])
    views.with_statistics_note(over_rounds, *views.unpublished_note(views.rounds))
    return {"totals": totals, "tables": [deliveries, missing, over_rounds, history]}
