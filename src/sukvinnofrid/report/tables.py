"""Tables as the site shows them and as they are downloaded: a page table (HTML), CSV that
Swedish Excel opens as it is (';', UTF-8 with BOM, decimal comma: `statistics.excel_csv`) and
the sheets of the round's XLSX workbook.

A cell is a number, '..' (withheld), '-' (Kolada: the unit did not report the whole year), a
text or None (does not apply, shown as '–'). Numbers are formatted by the column's kind.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from xml.sax.saxutils import escape as xml_escape

from ..formats import swedish_int, swedish_number
from ..statistics import WITHHELD, excel_csv
from .charts import NOT_APPLICABLE

NOT_COVERED = "-"


@dataclass(frozen=True)
class Column:
    name: str
    # text | antal | andel (percent) | varde (one decimal) | forandring (signed, one decimal)
    kind: str = "text"


@dataclass
class Table:
    columns: tuple[Column, ...]
    rows: list[list] = field(default_factory=list)
    caption: str = ""
    footnotes: tuple[str, ...] = ()

    def has(self, marker: str) -> bool:
        return any(value == marker for row in self.rows for value in row)


def display(value, kind: str) -> str:
    """A cell as the page shows it."""
    if value is None:
        return NOT_APPLICABLE
    if isinstance(value, str):
        return value
    if kind == "antal":
        return swedish_int(value)
    if kind == "andel":
        return swedish_number(value, 1) + "\u00a0%"
    if kind == "varde":
        return swedish_number(value, 1)
    if kind == "forandring":
        return ("+" if value > 0 else "") + swedish_number(value, 1)
    return str(value)


def csv_value(value, kind: str) -> str:
    """A cell as the CSV and the workbook hold it (numbers without thousands separators)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if kind == "antal":
        return str(int(value))
    if kind in ("andel", "varde", "forandring"):
        return swedish_number(value, 1).replace("\u00a0", "")
    return str(value)


def cell_html(value, kind: str, root: str) -> str:
    """A cell's content as HTML: a link (text, path from the site root) or the shown value,
    escaped."""
    if isinstance(value, tuple):
        return f'<a href="{escape(root + value[1], quote=True)}">{escape(value[0])}</a>'
    return escape(display(value, kind))


def table_html(table: Table, root: str = "", anchor: str | None = None) -> str:
    """The table as the page shows it, with its footnotes (written here rather than in a
    template: a national round's site has some 50 000 cells)."""
    kinds = [c.kind for c in table.columns]
    parts = [
        f'<div class="tabell"{f" id={chr(34)}{anchor}{chr(34)}" if anchor else ""}>\n<table>\n'
    ]
    if table.caption:
        parts.append(f"<caption>{escape(table.caption)}</caption>\n")
    parts.append(
        "<thead><tr>"
        + "".join(f'<th scope="col" class="{c.kind}">{escape(c.name)}</th>' for c in table.columns)
        + "</tr></thead>\n<tbody>\n"
    )
    for row in table.rows:
        cells = []
        for index, (value, kind) in enumerate(zip(row, kinds, strict=True)):
            content = cell_html(value, kind, root)
            if index == 0:
                cells.append(f'<th scope="row" class="{kind}">{content}</th>')
            else:
                hidden = " dold" if value == WITHHELD else ""
                cells.append(f'<td class="{kind}{hidden}">{content}</td>')
        parts.append("<tr>" + "".join(cells) + "</tr>\n")
    if not table.rows:
        parts.append(f'<tr><td colspan="{len(kinds)}">Inga rader.</td></tr>\n')
    parts.append("</tbody>\n</table>\n</div>\n")
    parts += [f'<p class="fotnot">{escape(note)}</p>\n' for note in table.footnotes]
    return "".join(parts)


def link_text(value) -> str:
    """A link cell (text, href) as its text."""
    return value[0] if isinstance(value, tuple) else value


def table_csv(table: Table) -> bytes:
    return excel_csv(
        [c.name for c in table.columns],
        (
            [csv_value(link_text(v), c.kind) for v, c in zip(row, table.columns, strict=True)]
            for row in table.rows
        ),
    )


# ---------------------------------------------------------------------------------------------
# the workbook, written as SpreadsheetML directly: openpyxl needs over 10 s for a national
# round's tables, this well under one; fixed zip times and no document dates keep it
# byte-identical for unchanged data.

_FIXED_ZIP_TIME = (2000, 1, 1, 0, 0, 0)
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.styles+xml"/>{sheets}</Types>'
)
_SHEET_TYPE = (
    '<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/>{core}</Relationships>'
)
# the document properties (title, comments), written only when there are any
_CORE_TYPE = (
    '<Override PartName="/docProps/core.xml" '
    'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
)
_CORE_REL = (
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
    'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
)
_CORE = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
    'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    "<dc:title>{title}</dc:title><dc:description>{description}</dc:description>"
    "</cp:coreProperties>"
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="0.0"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
    "</cellStyles></styleSheet>"
)


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell_xml(ref: str, value, kind: str, header: bool = False) -> str:
    value = link_text(value)
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        decimal = kind in ("andel", "varde", "forandring")
        style = ' s="2"' if decimal else ""
        number = repr(round(float(value), 1)) if decimal else str(value)
        return f'<c r="{ref}"{style}><v>{number}</v></c>'
    style = ' s="1"' if header else ""
    return (
        f'<c r="{ref}" t="inlineStr"{style}><is><t xml:space="preserve">'
        f"{xml_escape(str(value))}</t></is></c>"
    )


def _sheet_xml(table: Table) -> str:
    columns = table.columns
    letters = [_column_letter(i) for i in range(len(columns))]
    parts = [
        (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
            'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews><sheetData>'
        )
    ]
    parts.append(
        '<row r="1">'
        + "".join(
            _cell_xml(f"{letter}1", c.name, "text", header=True)
            for letter, c in zip(letters, columns, strict=True)
        )
        + "</row>"
    )
    for number, row in enumerate(table.rows, start=2):
        parts.append(
            f'<row r="{number}">'
            + "".join(
                _cell_xml(f"{letter}{number}", value, c.kind)
                for letter, value, c in zip(letters, row, columns, strict=True)
            )
            + "</row>"
        )
    parts.append("</sheetData></worksheet>")
    return "".join(parts)


def workbook(
    sheets: Sequence[tuple[str, Table]], properties: tuple[str, str] | None = None
) -> bytes:
    """An XLSX workbook with one sheet per table (names at most 31 characters); `properties`:
    its title and comments (Excel: Arkiv > Information)."""
    names = [name[:31] for name, _ in sheets]
    workbook_xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
        + "".join(
            f'<sheet name="{xml_escape(name)}" sheetId="{n}" r:id="rId{n}"/>'
            for n, name in enumerate(names, start=1)
        )
        + "</sheets></workbook>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(
            f'<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/'
            f'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{n}.xml"/>'
            for n in range(1, len(sheets) + 1)
        )
        + f'<Relationship Id="rId{len(sheets) + 1}" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>'
    )
    parts: list[tuple[str, str]] = [
        (
            "[Content_Types].xml",
            _CONTENT_TYPES.format(
                sheets="".join(_SHEET_TYPE.format(n=n) for n in range(1, len(sheets) + 1))
                + (_CORE_TYPE if properties else "")
            ),
        ),
        ("_rels/.rels", _ROOT_RELS.format(core=_CORE_REL if properties else "")),
        ("xl/workbook.xml", workbook_xml),
        ("xl/_rels/workbook.xml.rels", rels),
        ("xl/styles.xml", _STYLES),
    ]
    parts += [
        (f"xl/worksheets/sheet{n}.xml", _sheet_xml(table))
        for n, (_, table) in enumerate(sheets, start=1)
    ]
    if properties:
        title, description = map(xml_escape, properties)
        parts.append(("docProps/core.xml", _CORE.format(title=title, description=description)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in parts:
            info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text.encode("utf-8"), compresslevel=6)
    return buffer.getvalue()


__all__ = [
    "NOT_COVERED",
    "WITHHELD",
    "Column",
    "Table",
    "csv_value",
    "display",
    "link_text",
    "table_csv",
    "workbook",
]
