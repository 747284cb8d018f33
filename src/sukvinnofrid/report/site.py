"""The pages and downloads of a round's site, rendered to bytes, and written in one step.

Templates are Jinja2 with autoescaping: every text from the data (unit names, file names and
block reasons from kommuner's uploads, definitions) is escaped; only the charts, which
`charts` writes with escaped text, are inserted as markup.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ..formats import swedish_int
from ..revisions import LOG_FILE
from ..statistics import PRELIMINARY, PRELIMINARY_COLUMN, PRELIMINARY_TEXT
from . import charts
from .protection import MISSING_SHARES
from .review import review_tables
from .sources import RoundSources
from .tables import Column, Table, display, table_csv, table_html, workbook
from .views import DELIVERED, STATUS_LABELS, UnitPage, Views, console_tables


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("sukvinnofrid.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["display"] = display
    env.globals["table_html"] = table_html
    env.tests["link"] = lambda value: isinstance(value, tuple)
    env.tests["list"] = lambda value: isinstance(value, list)
    return env


def _render(template: str, **context) -> bytes:
    return environment().get_template(template).render(**context).encode("utf-8")


def _status_class(status: str) -> str:
    return "ok" if status == "godkand" else "varning" if status in DELIVERED else "saknas"


# ---------------------------------------------------------------------------------------------
# the unit pages


def unit_page(views: Views, code: str, page: dict) -> UnitPage:
    kind = page["kind"]
    sections = []
    facts: list = []
    if kind == "lan":
        lan = code.removeprefix("lan-")
        members = [
            views.unit_link(c)
            for c, p in views.participants.items()
            if p["lan"] == lan and p["kind"] != "lan"
        ]
        facts.append(("Deltagande enheter", members or "–"))
        sections += views.key_figure_section(lan, "lan")
        funnel = views.funnel("län", lan, "tratt", f"Antal ärenden i olika faser, {page['name']}")
        if funnel:
            sections.append(funnel)
        sections.append(views.comparison_section("lan", lan))
        return UnitPage(page["name"], facts, sections)
    unit = views.units[code]
    delivery = views.now.get(code)
    facts += [
        ("Län", (unit["lan_namn"], f"lan/{unit['lan_kod']}.html")),
        ("Kommungrupp", views.size_names.get(unit["storleksgrupp_kod"], "–")),
        ("Befolkningsgrupp (Öppna jämförelser)", unit["befolkningsgrupp_namn"] or "–"),
    ]
    if kind == "stadsdel":
        facts.insert(0, ("Kommun", views.unit_link(unit["kommun_kod"])))
    if delivery is not None:
        facts.append((f"Status i omgång {views.round_id}", STATUS_LABELS[delivery["status"]]))
    parts = sorted(
        c
        for c, u in views.units.items()
        if u["unit_type"] == "stadsdel" and u["kommun_kod"] == code and c in views.participants
    )
    if parts:
        facts.append(("Rapporterar genom stadsdelarna", [views.unit_link(c) for c in parts]))
    sections += views.key_figure_section(code, kind)
    if kind == "kommun":
        funnel = views.funnel(
            "kommun", code, "tratt", f"Antal ärenden i olika faser, {unit['unit_namn']}"
        )
        if funnel:
            sections.append(funnel)
    if code in views.by_unit:
        sections.append(views.quality_section(code))
    if kind == "kommun":
        sections.append(views.comparison_section("kommun", code))
    return UnitPage(page["name"], facts, sections)


# ---------------------------------------------------------------------------------------------
# downloads


def download_tables(views: Views, sections) -> list[tuple[str, str, Table]]:
    """(file stem, description, table) of every table the public site shows, all units
    together."""
    stats = views.stats
    funnel = Table(
        (
            Column("Nivå"),
            Column("Kod"),
            Column("Område"),
            Column("Kön"),
            *(
                Column(c, "antal")
                for c in next(iter(stats.funnel.values()))
                if c not in ("niva", "omrade_kod", "kon")
            ),
        )
    )
    for (level, area, kon), row in stats.funnel.items():
        funnel.rows.append(
            [
                level,
                area,
                stats.areas.get(level, {}).get(area, area),
                kon,
                *(v for c, v in row.items() if c not in ("niva", "omrade_kod", "kon")),
            ]
        )
    figures = Table(
        (
            Column("Avsnitt"),
            Column("Grupp"),
            Column("Kategori"),
            Column("Antal", "antal"),
            Column("N", "antal"),
            Column("Värde", "varde"),
            Column("Föregående omgång", "varde"),
            Column("Förändring", "forandring"),
        )
    )
    for section in sections:
        split = section.table.columns[0].name == "Grupp"
        for row in section.table.rows:
            figures.rows.append([section.heading, *(row if split else ["Alla", *row])])
    key_figures = Table(
        (
            Column("Kod"),
            Column("Enhet"),
            Column("Nyckeltal"),
            Column("År"),
            Column("Värde", "varde"),
        )
    )
    ou_units = {u["kolada_id"]: c for c, u in views.units.items()}
    for (kpi, unit, year), cell in sorted(views.kolada.cells.items()):
        code = ou_units.get(unit, unit)
        name = views.units[code]["unit_namn"] if code in views.units else code
        key_figures.rows.append([code, name, kpi, str(year), cell.status or cell.value])
    areas = Table(
        (
            Column("Nivå"),
            Column("Kod"),
            Column("Område"),
            Column("Nyckeltal"),
            Column("År"),
            Column("Kommuner", "antal"),
            Column("Värde", "varde"),
        )
    )
    kpi_of = {figure: kpi for kpi, figure in views.kpis}
    for row in views.sources.marts.comparisons:
        key = (row["figure"], row["level"], row["area_code"], row["year"])
        name = {
            "lan": views.lan_names.get(row["area_code"]),
            "storleksgrupp": views.size_names.get(row["area_code"]),
            "riket": "Riket",
        }[row["level"]]
        areas.rows.append(
            [
                row["level"],
                row["area_code"],
                name,
                kpi_of[row["figure"]],
                str(row["year"]),
                row["units"],
                views.comparisons[key],
            ]
        )
    comparison = Table(
        (
            Column("Kod"),
            Column("Enhet"),
            Column("Indikator"),
            Column("Enhetens värde", "varde"),
            Column("Län", "varde"),
            Column("Kommungrupp", "varde"),
            Column("Riket", "varde"),
            Column("N", "antal"),
        )
    )
    for code, page in views.participants.items():
        if page["kind"] == "stadsdel":
            continue
        level, area = (
            ("lan", code.removeprefix("lan-")) if page["kind"] == "lan" else ("kommun", code)
        )
        table = views.comparison_section(level, area).table
        for row in table.rows:
            values = row[1:-1]
            if page["kind"] == "lan":  # län, riket
                values = [values[0], None, None, values[-1]]
            elif len(values) == 3:  # kommun, län, riket: no size group
                values = [values[0], values[1], None, values[2]]
            comparison.rows.append([area, page["name"], row[0], *values, row[-1]])
    quality = Table(
        (
            Column("Omgång"),
            Column("Kod"),
            Column("Enhet"),
            Column("Status"),
            Column("Avvisade rader (%)", "andel"),
            *(Column(name, "andel") for name, _ in MISSING_SHARES),
        )
    )
    for row in views.deliveries:
        quality.rows.append(
            [
                row["round_id"],
                row["unit_kod"],
                row["unit_namn"] or row["unit_kod"],
                STATUS_LABELS[row["status"]],
                row["andel_avvisade_rader"],
                *views.shares(row),
            ]
        )
    return [
        ("kvalitet", "Status och saknade registreringar per enhet och omgång", quality),
        ("tratt_omraden", "Diagram 1: tratten per kommun, län och riket och kön", funnel),
        (
            "rapportens_figurer",
            "Den nationella rapportens tabeller och fördjupningarna (riket)",
            figures,
        ),
        ("nyckeltal", "Kolada-nyckeltalen per kommun och stadsdel och år", key_figures),
        ("nyckeltal_omraden", "Nyckeltalen för län, kommungrupper och riket", areas),
        (
            "jamforelser",
            "Jämförelse av kommuner och län med län, kommungrupp och riket",
            comparison,
        ),
    ]


def internal_download_tables(console, review) -> list[tuple[str, str, Table]]:
    """(file stem, description, table) of the internal pages' tables."""
    return [
        (
            "leveranser",
            "Leveranser i omgången per enhet: filnamn och antal rader",
            console["tables"][0],
        ),
        *(
            (f"granskning_{n}", heading, table)
            for n, (heading, _, table) in enumerate(review, start=1)
        ),
    ]


def marked_preliminary(table: Table) -> Table:
    """The table with a last column saying each row is preliminary, as the statistics
    publication's CSV files have it."""
    return dataclasses.replace(
        table,
        columns=(*table.columns, Column(PRELIMINARY_COLUMN.capitalize())),
        rows=[[*row, PRELIMINARY] for row in table.rows],
    )


def _downloads(
    round_id: str,
    tables: list[tuple[str, str, Table]],
    published: dict[str, tuple[str, bytes]],
    preliminary: bool = False,
) -> tuple[dict[str, bytes], list[tuple[str, str, str]]]:
    """The data/ files of a root (each table as CSV, the publication's own files as published,
    one workbook of the tables) and their listing for the download page; a `preliminary`
    publication's tables and workbook say so."""
    properties = None
    if preliminary:
        tables = [(stem, text, marked_preliminary(table)) for stem, text, table in tables]
        properties = (f"SU-Kvinnofrid {round_id}: {PRELIMINARY} publicering", PRELIMINARY_TEXT)
    data = {f"{stem}.csv": table_csv(table) for stem, _, table in tables}
    descriptions = {f"{stem}.csv": text for stem, text, _ in tables}
    for name, (text, content) in published.items():
        data[name], descriptions[name] = content, text
    data[f"sukf_{round_id}.xlsx"] = workbook(
        [(stem, table) for stem, _, table in tables], properties
    )
    descriptions[f"sukf_{round_id}.xlsx"] = "Excel-arbetsbok med en flik per tabell"
    listing = [(name, descriptions[name], _size(len(content))) for name, content in data.items()]
    return data, listing


# ---------------------------------------------------------------------------------------------
# the site


@dataclass(frozen=True)
class SiteFiles:
    """A round's site as two roots: the public pages, and the internal pages only the
    statistics team may see (round console, Granskning, deliveries); path -> bytes."""

    public: dict[str, bytes]
    internal: dict[str, bytes]


def build_site(
    sources: RoundSources, site_dir: Path, internal_dir: Path, output: Path, *, draft: bool
) -> SiteFiles:
    """Every file of the public site (to be written to `site_dir`) and of the internal one (to
    `internal_dir`)."""
    views = Views(sources, output, site_dir)
    stats, kolada = sources.statistics, sources.kolada
    base = {
        "round_id": views.round_id,
        "draft": draft,
        "preliminary": kolada.preliminary,
        "population_note": kolada.manifest.get("population", ""),
        "statistics_version": stats.directory.name,
        "statistics_published": stats.published_at,
        "kolada_version": kolada.directory.name,
        "pattern_defs": Markup(charts.PATTERN_DEFS),
        "internal": False,
    }
    files: dict[str, bytes] = {}

    funnel = views.funnel("riket", "00", "diagram-1", "Diagram 1. Antal ärenden i olika faser")
    figure_sections = [s for s in views.national_sections() if s]
    text_sections = views.text_sections()
    sections = [s for s in [funnel, *figure_sections] if s]
    previous = sources.previous
    comparison_text = (
        f"Bredvid varje figur står omgång {previous.round_id}, den föregående "
        "publicerade omgången, och förändringen."
        if previous
        else "Ingen tidigare omgång är publicerad, så figurerna står utan jämförelse."
    )
    for page, title, page_sections in (
        ("riket.html", "Nationell rapport", sections),
        ("fordjupningar.html", "Fördjupningar", text_sections),
    ):
        files[page] = _render(
            page,
            **base,
            root="",
            title=title,
            sections=page_sections,
            comparison_text=comparison_text,
        )

    lan_groups: dict[str, dict] = defaultdict(lambda: {"units": []})
    for code, page in views.participants.items():
        group = lan_groups[page["lan"]]
        if page["kind"] == "lan":
            group.update(name=page["name"], path=page["path"])
            continue
        delivery = views.now.get(code)
        group["units"].append(
            {
                "name": page["name"],
                "path": page["path"],
                "status": STATUS_LABELS[delivery["status"]] if delivery else None,
                "status_class": _status_class(delivery["status"]) if delivery else "",
            }
        )
        files[page["path"]] = _render(
            "enhet.html", **base, root="../", title=page["name"], page=unit_page(views, code, page)
        )
    for code, page in views.participants.items():
        if page["kind"] == "lan":
            files[page["path"]] = _render(
                "enhet.html",
                **base,
                root="../",
                title=page["name"],
                page=unit_page(views, code, page),
            )
    expected = [r for r in views.now.values() if r["expected"]]
    summary = (
        f"{swedish_int(sum(r['status'] in DELIVERED for r in expected))} av "
        f"{swedish_int(len(expected))} förväntade enheter har en godkänd fil."
    )
    files["index.html"] = _render(
        "index.html",
        **base,
        root="",
        title="Start",
        summary=summary,
        lan_groups=[lan_groups[k] for k in sorted(lan_groups)],
    )

    # the funnel (Diagram 1) has a download of its own, the figures' table has the figures'
    data, listing = _downloads(
        views.round_id,
        download_tables(views, [*figure_sections, *text_sections]),
        {
            "tratt.csv": (
                "Statistikpubliceringens tratt (diagram 1), som den publicerats",
                (stats.directory / "tratt.csv").read_bytes(),
            ),
            "nationella_figurer.csv": (
                (
                    "Statistikpubliceringens alla nationella figurer, per period, nivå, område "
                    "och uppdelning, som de publicerats"
                ),
                (stats.directory / "nationella_figurer.csv").read_bytes(),
            ),
            **(
                {
                    LOG_FILE: (
                        (
                            f"Revisionslogg för version {stats.directory.name}: vilka värden "
                            "som ändrats sedan förra versionen, från vad till vad och varför "
                            "(sen eller rättad leverans)"
                        ),
                        (stats.directory / LOG_FILE).read_bytes(),
                    )
                }
                if (stats.directory / LOG_FILE).exists()
                else {}
            ),
        },
        preliminary=kolada.preliminary,
    )
    files["nedladdning.html"] = _render(
        "nedladdning.html", **base, root="", title="Nedladdning", files=listing
    )
    files.update({f"data/{name}": content for name, content in data.items()})
    style = environment().loader.get_source(environment(), "style.css")[0].encode()
    files["style.css"] = style

    # The internal root: its tables link to the unit pages and the feedback reports through
    # the public root (`links`), which it never copies.
    internal = {**base, "internal": True, "root": ""}
    links = os.path.relpath(site_dir, internal_dir) + "/"
    console = console_tables(views)
    review = review_tables(views)
    data, listing = _downloads(views.round_id, internal_download_tables(console, review), {})
    internal_files = {
        "index.html": _render(
            "intern.html", **internal, title="Start (intern)", summary=summary, public=links
        ),
        "omgang.html": _render(
            "omgang.html", **internal, links=links, title="Omgångskonsol", **console
        ),
        "granskning.html": _render(
            "granskning.html", **internal, links=links, title="Granskning", sections=review
        ),
        "nedladdning.html": _render(
            "nedladdning.html", **internal, title="Nedladdning (intern)", files=listing
        ),
        **{f"data/{name}": content for name, content in data.items()},
        "style.css": style,
    }
    return SiteFiles(files, internal_files)


def _size(length: int) -> str:
    return f"{swedish_int(max(1, round(length / 1024)))}\u00a0kB"


def write_site(directory: Path, files: dict[str, bytes]) -> bool:
    """Make `directory` hold exactly `files`; False when it already did (nothing written).
    The new site is written beside the old one and swapped in, so a reader never sees half."""
    if directory.is_dir():
        existing = {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}
        if existing == set(files) and all(
            (directory / name).read_bytes() == content for name, content in files.items()
        ):
            return False
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        for name, content in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        os.chmod(staging, 0o755)
        retired = None
        if directory.exists():
            retired = directory.with_name(f".{directory.name}-gammal")
            shutil.rmtree(retired, ignore_errors=True)
            os.rename(directory, retired)
        os.rename(staging, directory)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return True
