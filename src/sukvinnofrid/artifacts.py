"""Everything generated from the variable catalogue: upload templates, the upload-format document,
dbt code-list seeds and the Great Expectations project's suite, validation definition and
checkpoints (expectations/). `sukvinnofrid generate-artifacts` rewrites them; a test fails when
a committed copy is stale."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from .catalogue import Catalogue, load_catalogue
from .catalogue.figures import FigureCatalogue, load_figures
from .config import get_settings

TYPE_DESCRIPTIONS = {
    "date": "Datum ÅÅÅÅ-MM-DD",
    "code": "En kod ur kodlistan",
    "codes": "Flera svar: en kolumn per svarsalternativ, 1 = valt, tomt = ej valt",
    "integer": "Heltal",
    "text": "Fritext (aldrig personnummer)",
    "kommun": "Kommunkod (4 siffror) eller stadsdelskod, t.ex. 0180 eller 0180-EAV",
    "risk_assessments": "Upprepad skattning: upp till sex bedömningar, tre kolumner var",
}
REQUIREMENT_DESCRIPTIONS = {
    "key": "Obligatorisk: identifierar ärendet, en rad utan den räknas inte",
    "always": "Obligatorisk (saknas den räknas ärendet ändå, med uppgiften som saknad)",
    "closed": "Obligatorisk när ärendet är avslutat",
    "never": "Frivillig (tomt räknas som saknad registrering)",
}


def template_csv(catalogue: Catalogue) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\n").writerow(catalogue.column_names)
    return buffer.getvalue()


def write_template_xlsx(catalogue: Catalogue, path: Path) -> None:
    """An XLSX template: sheet 'Ärenden' with the header, sheet 'Koder' with every code list."""
    import openpyxl
    from openpyxl.styles import Font

    workbook = openpyxl.Workbook()
    cases = workbook.active
    cases.title = "Ärenden"
    cases.append(list(catalogue.column_names))
    for cell in cases[1]:
        cell.font = Font(bold=True)
        # Codes, identifiers and free text as text: Excel would store a typed 0126 as 126.
        # Dates, ages and risk scores keep Excel's General format.
        column = catalogue.columns[cell.column - 1]
        if (
            catalogue.variable(column.suv).type not in ("date", "integer")
            and column.kind != "risk_score"
        ):
            cases.column_dimensions[cell.column_letter].number_format = "@"
    cases.freeze_panes = "A2"
    codes = workbook.create_sheet("Koder")
    codes.append(["Variabel (SUV)", "Namn", "Kolumn", "Kod", "Betydelse"])
    for row in code_rows(catalogue):
        codes.append(row)
    for cell in codes[1]:
        cell.font = Font(bold=True)
    # Fixed document properties keep the generated file byte-stable between runs.
    import datetime as dt

    workbook.properties.created = dt.datetime(2024, 1, 1)
    workbook.properties.modified = dt.datetime(2024, 1, 1)
    workbook.properties.creator = "SU-Kvinnofrid"
    workbook.save(path)


def code_rows(catalogue: Catalogue) -> list[list]:
    rows = []
    for variable in catalogue.variables:
        if variable.type == "risk_assessments":
            for code, label in variable.extra["time_points"].items():
                rows.append([variable.suv, variable.name, "v90_N_tidpunkt", int(code), label])
            for code, label in variable.codes.items():
                rows.append([variable.suv, variable.name, "v90_N_instrument", code, label])
            scale = variable.extra["scale"]
            rows.append(
                [
                    variable.suv,
                    variable.name,
                    "v90_N_skattning",
                    f"{scale['min']}–{scale['max']}",
                    "Skattad risk, låg till hög",
                ]
            )
            continue
        for code, label in variable.codes.items():
            column = f"{variable.column}_{code}" if variable.type == "codes" else variable.column
            rows.append(
                [variable.suv, variable.name, column, code if variable.type == "code" else 1, label]
            )
    return rows


def upload_format_markdown(catalogue: Catalogue) -> str:
    lines = [
        "# Uppladdningsformat för SU-Kvinnofrid",
        "",
        (
            "<!-- Genererad från src/sukvinnofrid/catalogue/variables.yaml med "
            "`sukvinnofrid generate-artifacts`. Redigera inte för hand. -->"
        ),
        "",
        (
            "En fil per kommun (eller stadsdel i Stockholm och Göteborg) och insamlingsomgång, med "
            "en rad"
        ),
        "per ärende. Varje fil innehåller alla kommunens ärenden hittills, i sitt aktuella skick.",
        "",
        "## Fil",
        "",
        "- Filnamn: `sukf_<kommunkod>_<ÅÅÅÅ-MM>.csv` eller `.xlsx`, t.ex. `sukf_0180_2023-06.csv`.",
        "  Stadsdelar: kommunkod, bindestreck och stadsdelskod, t.ex. `sukf_0180-EAV_2023-06.csv`.",
        (
            "  I stället för filnamnet kan en sidofil `<filnamn>.json` med "
            '`{"kommun": "0180", "round": "2023-06"}` bifogas.'
        ),
        "- Omgången `ÅÅÅÅ-MM` stänger sista dagen i månaden; inget datum får vara senare.",
        (
            "- CSV: semikolon (;) eller komma (,) som avgränsare, teckenkodning UTF-8 (med eller "
            "utan BOM)"
        ),
        "  eller Windows-1252. XLSX: bladet `Ärenden` (annars det första bladet).",
        (
            "- Första raden är rubrikraden med kolumnnamnen nedan. Kolumner som saknas läses som "
            "tomma,"
        ),
        "  utom de obligatoriska. Egna lokala kolumner får finnas men sparas inte.",
        (
            "- Flera svar (t.ex. insatser): en kolumn per svarsalternativ, `1` = valt, tomt eller "
            "`0` = ej valt."
        ),
        (
            "- Upprepad riskbedömning (90): upp till sex bedömningar i kolumnerna `v90_1_…` till "
            "`v90_6_…`,"
        ),
        (
            "  fyllda från 1 utan luckor och i tidsordning (tidpunkt 1 före, 2 under, 3 efter "
            "stöd/insats)."
        ),
        (
            "- Personnummer får aldrig förekomma. En fil med något som ser ut som ett personnummer "
            "stoppas"
        ),
        "  helt och sparas inte.",
        "",
        "## Variabler",
        "",
    ]
    for phase, phase_name in catalogue.phases.items():
        lines += [f"### {phase_name}", ""]
        for variable in (v for v in catalogue.variables if v.phase == phase):
            star = " *" if variable.project_specific else ""
            lines += [
                f"#### {variable.label}{star}",
                "",
                f"{variable.question}",
                "",
                (
                    f"- Typ: {TYPE_DESCRIPTIONS[variable.type]}. "
                    f"{REQUIREMENT_DESCRIPTIONS[variable.required]}."
                ),
            ]
            if variable.min is not None:
                lines.append(f"- Tillåtna värden: {variable.min}–{variable.max}.")
            columns = catalogue.columns_of(variable.suv)
            if variable.type == "risk_assessments":
                scale = variable.extra["scale"]
                lines.append(
                    "- Kolumner: `v90_N_tidpunkt`, `v90_N_instrument`, `v90_N_skattning` för "
                    f"N = 1–{variable.extra['slots']}; skattning {scale['min']}–{scale['max']}."
                )
                lines.append(
                    "- Tidpunkt: "
                    + ", ".join(
                        f"{code} = {label}" for code, label in variable.extra["time_points"].items()
                    )
                )
            else:
                lines.append("- Kolumner: " + ", ".join(f"`{c.name}`" for c in columns))
            if variable.codes:
                lines.append("- Koder:")
                for code, label in variable.codes.items():
                    column = f" (`{variable.column}_{code}`)" if variable.type == "codes" else ""
                    lines.append(f"  - {code} = {label}{column}")
            lines.append("")
    lines += ["\\* Framtagen inom projektet SU-Kvinnofrid (inte från SUV).", ""]
    return "\n".join(lines)


SEVERITY_DESCRIPTIONS = {
    "block": (
        "Filen stoppas: inget från den används, tidigare godkänd fil för kommunen och omgången "
        "gäller"
    ),
    "reject": (
        "Raden räknas inte: den är inte ett ärende i omgången och hålls i karantän med sina orsaker"
    ),
    "error": (
        "Fel att rätta till nästa omgång: ärendet räknas, den felaktiga uppgiften räknas som saknad"
    ),
    "warn": "Varning: ärendet räknas, varningen syns i återkopplingen och i kvalitetsmåtten",
}


def quality_rules_markdown() -> str:
    """The quality rules as a kommun reads them: the principle, then the rules by severity."""
    from .quality.rules import build_rules

    rules = build_rules()
    catalogue = load_catalogue()
    key = ", ".join(v.label for v in catalogue.case_key())
    lines = [
        "# Kvalitetsregler för uppladdningar",
        "",
        (
            "<!-- Genererad från variabelkatalogen och src/sukvinnofrid/quality/rules.py med "
            "`sukvinnofrid generate-artifacts`. Redigera inte för hand. -->"
        ),
        "",
        "## Principen: ett ärende som finns räknas",
        "",
        "Statistiken räknar ärenden på samma sätt som rapporten *Socialtjänstens stöd till",
        "våldsutsatta vuxna* (SKR 2024): alla aktualiserade ärenden ingår, och ett ärende där en",
        (
            "uppgift saknas eller är fel visas som en saknad registrering (orange i diagram 1), "
            "inte som"
        ),
        "ett ärende mindre. Därför gäller för varje regel nedan:",
        "",
        (
            "- **En rad räknas inte** bara när den inte är ett ärende i omgången: ärendenyckeln "
            f"({key})"
        ),
        (
            "  går inte att läsa, ärendet aktualiserades efter omgångens sista dag eller före "
            f"{catalogue.earliest_date}"
        ),
        "  (innan uppföljningen fanns), klienten är under 18 år (uppföljningen gäller vuxna),",
        "  eller samma ärende (samma nyckel) finns på en tidigare rad. Ett ärende räknas en gång",
        "  per kommun, oavsett verksamhet.",
        "- **Alla andra fel behåller ärendet i statistiken.** En saknad uppgift, en kod utanför",
        '  kodlistan eller ett datum i fel ordning gör att just den uppgiften räknas som "uppgift',
        '  saknas" (ett datum i fel ordning: fasen kan inte placeras i tid). Kommunen får veta det',
        "  som *fel att rätta till nästa omgång* eller som *varning*.",
        "- **Hela filen stoppas** bara när den inte går att läsa, saknar kolumnerna för",
        "  ärendenyckeln, innehåller något som ser ut som ett personnummer (var som helst i filen,",
        "  filnamnet eller sidofilen), innehåller rader för en annan kommun, gäller en omgång som",
        (
            "  inte har stängt ännu, eller när andelen rader som inte räknas är större än den "
            "inställda"
        ),
        "  gränsen (`SUKF_MAX_REJECTED_SHARE`, normalt 20 %).",
        "",
        "Ett ärende är avslutat när datum för avslut (256) eller avslutsorsak (257) är ifyllt; då",
        (
            "ska båda finnas. Ligger datum för avslut före datum för aktualisering (5) räknas "
            "ärendet"
        ),
        "som pågående tills datumet är rättat. Ett ärende har fått stöd/insats när datum för",
        "insats (117) eller minst en insats (118) är ifyllt. Regeln för variabel 203:",
        "insatsernas betydelse ska bara anges när 202 säger att situationen har förbättrats (1",
        "eller 2). Annars blir det en varning, eftersom svaret ändå är klientens eget.",
        "",
    ]
    for severity, description in SEVERITY_DESCRIPTIONS.items():
        selected = [rule for rule in rules if rule.severity == severity]
        lines += [
            f"## {description} ({len(selected)} regler)",
            "",
            "| regel | variabel | vad är fel | rätt värde |",
            "| --- | --- | --- | --- |",
        ]
        for rule in selected:
            variable = f"{rule.suv}" if rule.suv is not None else "–"
            cells = (rule.rule_id, variable, rule.message, rule.hint)
            lines.append(
                "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"
            )
        lines.append("")
    return "\n".join(lines)


LEVEL_NAMES = {"kommun": "kommun", "lan": "län", "riket": "riket"}


def figures_markdown(figures: FigureCatalogue | None = None) -> str:
    """What every published figure counts (for the statistics team), from the figure catalogue
    and the Kolada KPI definitions: one source, generated here."""
    from .cellkey import method_text as cellkey_text
    from .kolada import load_definitions
    from .statistics import suppression_text

    figures = figures or load_figures()
    definitions = load_definitions()
    lines = [
        "# Vad figurerna räknar",
        "",
        (
            "<!-- Genererad från src/sukvinnofrid/catalogue/figures.yaml och "
            "src/sukvinnofrid/kolada/kpis.yaml med `sukvinnofrid generate-artifacts`. "
            "Redigera inte för hand. -->"
        ),
        "",
        (
            "Figurerna är rapporten *Socialtjänstens stöd till våldsutsatta vuxna* (SKR 2024, seed "
            "000)"
        ),
        (
            "räknad på samma sätt som rapporten räknar. Varje figur definieras en gång, i "
            "figurkatalogen"
        ),
        (
            "(`src/sukvinnofrid/catalogue/figures.yaml`; dbt-reglerna i "
            "`macros/figure_catalogue.sql`"
        ),
        "genereras från den), och definitionerna publiceras med varje omgång",
        "(`output/statistik/<omgång>/v<NNN>/definitioner.json`).",
        "",
        "## Grunder för alla figurer",
        "",
        "- **Ärenden, inte personer.** Det som räknas är ärenden, som i rapporten. Ett ärende är",
        (
            "  kommun (eller stadsdel), klient och datum för aktualisering; samma ärende räknas en "
            "gång"
        ),
        (
            "  per kommun även om det registrerats av flera verksamheter. Klienten identifieras "
            "bara med"
        ),
        (
            "  verksamhetens egen pseudonym, så samma person i två kommuner (eller med två "
            "pseudonymer)"
        ),
        "  räknas som två ärenden.",
        (
            "- **Ett ärende som finns räknas** (docs/quality-rules.md): bara rader som inte är "
            "ärenden i"
        ),
        "  omgången räknas inte. En saknad eller felaktig uppgift visas som *uppgift saknas*.",
        "- **N** är antalet ärenden i figurens population som har ett användbart svar: det N som",
        (
            "  rapporten skriver vid diagrammet, och nämnaren i andelarna. *Uppgift saknas* är "
            "resten av"
        ),
        (
            "  populationen, och dess andel är av hela populationen. Vid flervalsfrågor redovisas "
            "både N"
        ),
        "  som ärenden och antalet svar (diagram 6: N = 3 317 svar).",
        "- **En omgång publiceras som sig själv.** Omgång ÅÅÅÅ-MM räknas på varje kommuns senast",
        (
            "  godkända uppladdning till och med den omgången (uppladdningarna är kumulativa "
            "uttag), så en"
        ),
        "  publicerad omgång ändras aldrig när senare omgångar kommer in.",
        "- **År** är kalenderåret för datum för aktualisering (Kolada-nyckeltalen: se nedan).",
        "  Ett år redovisas bara när omgången täcker hela året. En kommun (eller stadsdel) täcker",
        "  ett år när den har deltagit från en omgång vars insamling började senast den 1 januari",
        "  det året (omgång ÅÅÅÅ-MM samlar in från den första dagen i månaden; kommunens första",
        "  omgång står i deltagarförteckningen) och dess uppladdning täcker hela året (omgången",
        "  stängde den 31 december eller senare). Ett år som kommunen inte täcker ingår inte i",
        "  länets och rikets figurer för året, och i Kolada-filerna redovisas kommunens år utan",
        "  värde, aldrig som 0.",
        (
            "- **Ärendet har fått stöd/insats** när datum för insats (117) eller minst en insats "
            "(118) är"
        ),
        (
            "  registrerad; **ärendet är avslutat** när datum för avslut (256) eller avslutsorsak "
            "(257) är"
        ),
        "  registrerad och datum för avslut inte ligger före datum för aktualisering (annars",
        "  räknas ärendet som pågående tills datumet är rättat).",
        "",
        "## De nationella figurerna",
        "",
        "| figur | diagram | population | N (nämnaren) | i rapporten | rapportens N |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for figure in figures.figures:
        cells = (
            f"{figure.title} (`{figure.id}`)",
            str(figure.diagram or "text"),
            figure.population_text,
            figure.n_text,
            figure.source,
            str(figure.report_n or "–"),
        )
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    funnel = figures.funnel
    lines += [
        "",
        "## Tratten (diagram 1)",
        "",
        "Tratten räknar alla ärenden i varje fas och, orange i rapporten, de ärenden där en",
        "registrering saknas, per kommun, län och riket och kön (`tratt.csv`: en kolumn per rad",
        "nedan, i den ordningen). En saknad registrering är en del av en fas; dess andel på",
        "webbplatsen är av den fasen.",
        "",
        "| kolumn | på webbplatsen | fas eller saknad registrering | i rapporten |",
        "| --- | --- | --- | --- |",
    ]
    for count in funnel.counts:
        if count.kind == "phase":
            kind = "fas"
        else:
            other = count.other_part
            if other not in funnel.columns:
                other += " (publiceras inte)"
            kind = f"saknad registrering: {count.part_of} = {other} + {count.id}"
        words = count.label if count.kind == "phase" else count.share_label
        cells = (f"`{count.id}`", words, kind, count.source)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += [
        "",
        "## Uppdelningar",
        "",
        "Varje figur redovisas för omgången och för varje kalenderår omgången täcker, för alla",
        "ärenden och uppdelad på följande, på de nivåer som anges. Ett ärende utan värde för en",
        "uppdelning ingår i alla ärenden men inte i något av uppdelningens värden.",
        "",
        "| uppdelning | nivåer | gäller |",
        "| --- | --- | --- |",
    ]
    for breakdown in figures.breakdowns:
        if breakdown.of:
            crossed = " × ".join(figures.breakdown(b).title.lower() for b in breakdown.of)
            title = f"{breakdown.title} (`{breakdown.id}`: {crossed})"
        else:
            title = f"{breakdown.title} (`{breakdown.id}`)"
        levels = ", ".join(LEVEL_NAMES[level] for level in breakdown.levels)
        only = (
            "endast " + ", ".join(f"`{f}`" for f in breakdown.only_figures)
            if breakdown.only_figures
            else "alla figurer"
        )
        lines.append(f"| {title} | {levels} | {only} |")
    lines += [
        "",
        "## Kolada-nyckeltalen",
        "",
        "Per kommun och år, antal per 10 000 invånare 18 år och äldre. När Stockholm eller",
        "Göteborg rapporterar genom stadsdelarna är stadens värde medelvärdet av de deltagande",
        "stadsdelarnas värden, och stadsdelarnas värden publiceras som enhetsdata (OU); när staden",
        "rapporterar som en kommun är värdet beräknat för hela staden. Hur varje stad rapporterade",
        "i omgången står i beskrivningen i omgångens kpi.json. Kolada har ett värde per år och",
        "samlas in när året är slut, så ett ärende räknas det år som händelsen nyckeltalet mäter",
        "inträffade (Året nedan). Ett ärende utan giltigt datum för händelsen kan inte föras till",
        "något år; Granskning visar hur många det är per enhet.",
        "",
    ]
    for kpi in definitions.kpis:
        lines += [
            f"### {kpi.id} {kpi.title}",
            "",
            re.sub(r"\{\w+\} ", "", kpi.description),
            "",
            f"Året: {kpi.year_basis['variable']} (variabel {kpi.year_basis['suv']}).",
            "",
        ]
    lines += [
        "## Röjandekontroll",
        "",
        "Samma regel för varje publicerad cell (Kolada-filerna, tratten och de nationella",
        "figurerna; `sukvinnofrid.disclosure`), med gränsen `SUKF_MIN_PUBLISH_COUNT` (normalt 5):",
        "",
        suppression_text(definitions.settings.min_count),
        "",
        (
            "Med `SUKF_DISCLOSURE=ckm` skyddas statistiken (tratten och de nationella figurerna) "
            "i stället med cellnyckelmetoden (Kolada-filerna skyddas alltid som ovan; se "
            "[disclosure.md](disclosure.md)): " + cellkey_text(definitions.settings.min_count)
        ),
        "",
        (
            "I Kolada-filerna markeras ett år som kommunen inte har rapporterat i sin helhet med "
            f"`{definitions.settings.not_covered_status}` (utan värde)."
        ),
        "",
    ]
    return "\n".join(lines)


def write_artifacts(home: Path | None = None) -> list[Path]:
    """Regenerate every catalogue-derived file under the project home; returns the paths written."""
    from .codelists import write_dbt_artifacts
    from .figure_artifacts import write_figure_artifacts
    from .quality.suites import GX_PROJECT_DIR, write_gx_project

    home = home or get_settings().home
    catalogue = load_catalogue()
    templates = home / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    written = []
    csv_path = templates / "sukf_mall.csv"
    csv_path.write_text(template_csv(catalogue), encoding="utf-8")
    xlsx_path = templates / "sukf_mall.xlsx"
    write_template_xlsx(catalogue, xlsx_path)
    doc_path = home / "docs" / "upload-format.md"
    doc_path.parent.mkdir(parents=True, exist_ok=True)
    doc_path.write_text(upload_format_markdown(catalogue), encoding="utf-8")
    rules_path = home / "docs" / "quality-rules.md"
    rules_path.write_text(quality_rules_markdown(), encoding="utf-8")
    figures_path = home / "docs" / "figures.md"
    figures_path.write_text(figures_markdown(), encoding="utf-8")
    written += [csv_path, xlsx_path, doc_path, rules_path, figures_path]
    written += write_dbt_artifacts(home / "dbt_project")
    written += write_figure_artifacts(home / "dbt_project")
    written += write_gx_project(home / GX_PROJECT_DIR)
    return written
