"""Granskning: what the statistics team looks at before the round is published.

- key figures that changed more than SUKF_REVIEW_CHANGE_PERCENT (default 30) % against the
  previous year, per kommun and stadsdel;
- kommuner whose key figure is at least SUKF_REVIEW_OUTLIER_FACTOR (default 2) times, or at most
  its inverse, the value of their size group;
- national figures (riket) whose share moved more than SUKF_REVIEW_SHARE_POINTS (default 5)
  procentenheter against the previous year (or, with one year only, the previous round);
- expected units that have not delivered an accepted file;
- per unit, the cases a Kolada key figure cannot place in a year (an insats without a valid
  start date, a closing without a valid date; fct_round_deliveries' <figure>_utan_ar), so that
  none is left out unseen.
Only published (protected) values are compared: a withheld value is never flagged. The counts
of cases without a year are the team's own follow-up with the kommun, internal as the round
console's row counts are.
"""

from __future__ import annotations

import os

from .tables import Column, Table
from .views import DELIVERED, KEY_FIGURE_NAMES, STATUS_LABELS, Views, change, timestamp


def _setting(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _number(value):
    return value if isinstance(value, (int, float)) else None


def review_tables(views: Views) -> list[tuple[str, str, Table]]:
    change_percent = _setting("SUKF_REVIEW_CHANGE_PERCENT", 30)
    outlier = _setting("SUKF_REVIEW_OUTLIER_FACTOR", 2)
    share_points = _setting("SUKF_REVIEW_SHARE_POINTS", 5)
    ou_units = {u["kolada_id"]: code for code, u in views.units.items()}
    sections = []

    years = views.years
    changes = Table(
        (
            Column("Enhet", "link"),
            Column("Nyckeltal"),
            Column(str(years[-2]) if len(years) > 1 else "Föregående år", "varde"),
            Column(str(years[-1]) if years else "År", "varde"),
            Column("Förändring (%)", "forandring"),
        ),
        caption="Nyckeltal som ändrats mer än tröskeln mot föregående år",
    )
    if len(years) > 1:
        found = []
        for (kpi, unit, year), cell in views.kolada.cells.items():
            if year != years[-1]:
                continue
            before = views.kolada.cells.get((kpi, unit, years[-2]))
            now, then = _number(cell.value), _number(before.value if before else None)
            if now is None or then is None or (then == 0 and now == 0):
                continue
            percent = None if then == 0 else round(100.0 * (now - then) / then, 1)
            if percent is None or abs(percent) >= change_percent:
                found.append(
                    (
                        -(abs(percent) if percent is not None else 1e9),
                        unit,
                        kpi,
                        [
                            views.unit_link(ou_units.get(unit, unit)),
                            f"{kpi} {_figure_name(views, kpi)}",
                            then,
                            now,
                            percent,
                        ],
                    )
                )
        changes.rows = [row for *_, row in sorted(found, key=lambda f: f[:3])]
    changes.footnotes = (
        (
            f"Tröskel: {_pct(change_percent)} (SUKF_REVIEW_CHANGE_PERCENT). "
            "Bara publicerade värden jämförs. – i förändringen: från 0."
        ),
    )
    sections.append(
        (
            "Stora förändringar mot föregående år",
            "Kommuner och stadsdelar vars nyckeltal ändrats mycket sedan året före.",
            changes,
        )
    )

    outliers = Table(
        (
            Column("Kommun", "link"),
            Column("Nyckeltal"),
            Column("Värde", "varde"),
            Column("Kommungrupp"),
            Column("Gruppens värde", "varde"),
            Column("Kvot", "varde"),
        ),
        caption=f"Nyckeltal {years[-1] if years else ''} som avviker från kommungruppen",
    )
    if years:
        found = []
        for (kpi, unit, year), cell in views.kolada.cells.items():
            info = views.units.get(unit)
            if year != years[-1] or not unit.isdigit() or info is None:
                continue
            figure = dict(views.kpis)[kpi]
            size = info["storleksgrupp_kod"]
            group = _number(views.comparisons.get((figure, "storleksgrupp", size, year)))
            value = _number(cell.value)
            if value is None or not group:
                continue
            ratio = round(value / group, 1)
            if value >= outlier * group or value <= group / outlier:
                found.append(
                    (
                        -abs(ratio - 1),
                        unit,
                        kpi,
                        [
                            views.unit_link(unit),
                            f"{kpi} {_figure_name(views, kpi)}",
                            value,
                            views.size_names.get(size),
                            group,
                            ratio,
                        ],
                    )
                )
        outliers.rows = [row for *_, row in sorted(found, key=lambda f: f[:3])]
    outliers.footnotes = (
        (
            f"Avvikande: minst {_pct(outlier, '')} gånger eller högst 1/{_pct(outlier, '')} av "
            "gruppens värde (SUKF_REVIEW_OUTLIER_FACTOR). Bara publicerade värden jämförs."
        ),
    )
    sections.append(
        (
            "Avvikande mot kommungruppen",
            "Kommuner vars nyckeltal ligger långt från kommuner av samma storlek.",
            outliers,
        )
    )

    national = _national_changes(views, share_points)
    sections.append(("Nationella figurer som ändrats", national.caption, national))

    missing = Table(
        (
            Column("Enhet", "link"),
            Column("Kod"),
            Column("Status"),
            Column("Inkom", "tid"),
            Column("Orsak"),
        ),
        caption=f"Förväntade enheter utan godkänd fil i omgång {views.round_id}",
    )
    for unit, row in sorted(views.now.items()):
        if row["expected"] and row["status"] not in DELIVERED:
            missing.rows.append(
                [
                    views.unit_link(unit),
                    unit,
                    STATUS_LABELS[row["status"]],
                    timestamp(row["received_at"]),
                    row["latest_upload_reason"]
                    if row["latest_upload_status"] == "blocked"
                    else None,
                ]
            )
    missing.footnotes = ("Enheter i deltagarförteckningen (seed participation_register).",)
    sections.append(
        (
            "Förväntade enheter som saknas",
            "Enheter som ska delta men inte har någon godkänd fil för omgången.",
            missing,
        )
    )
    sections.append(
        (
            "Ärenden utan år i Kolada",
            "Ärenden som ett nyckeltal inte kan föra till något år och därför inte räknar.",
            _cases_without_year(views),
        )
    )
    return sections


def _cases_without_year(views: Views) -> Table:
    # the mart has a count for each figure whose event date a case can lack
    figures = [
        (kpi, figure)
        for kpi, figure in views.kpis
        if any(f"{figure}_utan_ar" in row for row in views.now.values())
    ]
    table = Table(
        (
            Column("Enhet", "link"),
            Column("Kod"),
            *(Column(f"{kpi} {_figure_name(views, kpi)}", "antal") for kpi, _ in figures),
        ),
        caption=f"Ärenden som inte kan föras till ett år i omgång {views.round_id}",
    )
    for unit, row in sorted(views.now.items()):
        counts = [row.get(f"{figure}_utan_ar") or 0 for _, figure in figures]
        if any(counts):
            table.rows.append([views.unit_link(unit), unit, *counts])
    table.footnotes = (
        (
            "Kolada har ett värde per år och samlas in när året är slut, så ett ärende räknas "
            "det år händelsen inträffade: U30750 året för aktualisering, U30751 året då insatsen "
            "påbörjades (variabel 117) och U30752 året då ärendet avslutades (variabel 256). Ett "
            "ärende med insats men utan giltigt datum för när insatsen påbörjades räknas därför "
            "inte i U30751 något år, och ett ärende där målet nåtts men som saknar giltigt "
            "datum för avslut räknas inte i U30752. Be kommunen registrera datumet: ärendet "
            "räknas då det året, från den omgång vars fil har datumet."
        ),
        "Intern uppgift för statistikteamet: antalen publiceras inte.",
    )
    return table


def _national_changes(views: Views, points: float) -> Table:
    stats = views.stats
    years = stats.years()
    if len(years) > 1:
        now_name, then_name = years[-1], years[-2]

        def rows(figure, stats_=stats, year=None):
            return {r["kategori"]: r for r in stats_.group(figure, period=year)}

        current = {f: rows(f, year=years[-1]) for f in stats.definitions}
        before = {f: rows(f, year=years[-2]) for f in stats.definitions}
    elif views.sources.previous is not None:
        now_name, then_name = (
            f"omgång {views.round_id}",
            f"omgång {views.sources.previous.round_id}",
        )
        current = {f: {r["kategori"]: r for r in stats.group(f)} for f in stats.definitions}
        before = {
            f: {r["kategori"]: r for r in views.sources.previous.group(f)}
            for f in stats.definitions
        }
    else:
        table = Table((Column("Figur"),), caption="Ingen tidigare period att jämföra med")
        return table
    table = Table(
        (
            Column("Figur"),
            Column("Kategori"),
            Column(f"Andel {then_name}", "andel"),
            Column(f"Andel {now_name}", "andel"),
            Column("Förändring (procentenheter)", "forandring"),
        ),
        caption=f"Andelar i riket som ändrats minst {_pct(points, ' procentenheter')} "
        f"mellan {then_name} och {now_name}",
    )
    for figure, definition in sorted(stats.definitions.items()):
        if definition["kind"] != "share":
            continue
        for category, row in current[figure].items():
            old = before[figure].get(category)
            difference = change(row["andel_procent"], old["andel_procent"] if old else None)
            if difference is not None and abs(difference) >= points:
                table.rows.append(
                    [
                        definition["title"],
                        definition["kategorier"].get(category, category),
                        old["andel_procent"],
                        row["andel_procent"],
                        difference,
                    ]
                )
    table.footnotes = ("Tröskel: SUKF_REVIEW_SHARE_POINTS. Bara publicerade andelar jämförs.",)
    return table


def _figure_name(views: Views, kpi: str) -> str:
    return KEY_FIGURE_NAMES.get(dict(views.kpis)[kpi], kpi)


def _pct(value: float, unit: str = " %") -> str:
    from ..formats import swedish_number

    text = swedish_number(value, 1)
    return (text[:-2] if text.endswith(",0") else text) + unit
