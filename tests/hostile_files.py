"""Builders of hostile and unusual upload files (XLSX packages written part by part), for the
intake tests. Everything is built in memory from the catalogue header and plain rows; nothing
here is real data."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterable, Mapping

import openpyxl
from openpyxl.comments import Comment
from openpyxl.workbook.defined_name import DefinedName

from sukvinnofrid.catalogue import load_catalogue

COLUMNS = list(load_catalogue().column_names)
SST_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
)
SST_TAIL = b"</sst>"


def workbook_bytes(
    rows: Iterable[Mapping[str, object] | list] = (),
    columns=COLUMNS,
    *,
    other_sheets: Mapping[str, list[list[object]]] | None = None,
    hidden: Iterable[str] = (),
    comment: str | None = None,
    defined_name: str | None = None,
    title: str | None = None,
    footer: str | None = None,
) -> bytes:
    """An XLSX with sheet 'Ärenden' (the header `columns`, then one row per dict or list of
    values; blank values are empty cells) and optional other sheets (hidden ones among them),
    a cell comment, a defined name, a document title, a page footer."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Ärenden"
    sheet.append([c or None for c in columns])
    for row in rows:
        values = row if isinstance(row, list) else [row.get(c) for c in columns]
        sheet.append([None if v == "" else v for v in values])
    for name, sheet_rows in (other_sheets or {}).items():
        other = workbook.create_sheet(name)
        for row in sheet_rows:
            other.append(row)
        if name in set(hidden):
            other.sheet_state = "hidden"
    if comment is not None:
        sheet["A1"].comment = Comment(comment, "handläggare")
    if defined_name is not None:
        workbook.defined_names["anteckning"] = DefinedName(
            "anteckning", attr_text=f'"{defined_name}"'
        )
    if title is not None:
        workbook.properties.title = title
    if footer is not None:
        sheet.oddFooter.center.text = footer
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def parts_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rewrite(
    data: bytes, replace: Mapping[str, bytes] | None = None, add: Mapping[str, bytes] | None = None
) -> bytes:
    """The package with some parts replaced or added (deflated as Excel does)."""
    parts = parts_of(data)
    parts.update(replace or {})
    parts.update(add or {})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in parts.items():
            archive.writestr(name, body)
    return out.getvalue()


def with_dimension(data: bytes, reference: str, corner_cell: bool = True) -> bytes:
    """The first sheet claiming `reference` (e.g. 'A1:XFD1048576') as its size, with (by
    default) one cell in that corner: a reader that trusts the claim pads every row between."""
    sheet = parts_of(data)["xl/worksheets/sheet1.xml"].decode()
    start = sheet.index("<dimension ")
    end = sheet.index("/>", start) + 2
    sheet = sheet[:start] + f'<dimension ref="{reference}"/>' + sheet[end:]
    if corner_cell:
        corner = reference.split(":")[-1]
        row = corner.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        sheet = sheet.replace(
            "</sheetData>",
            f'<row r="{row}"><c r="{corner}" t="inlineStr"><is><t>x</t></is></c></row></sheetData>',
        )
    return rewrite(data, {"xl/worksheets/sheet1.xml": sheet.encode()})


def with_sheet_xml(data: bytes, insert_into_sheet_data: str, sheet: str = "sheet1") -> bytes:
    """The sheet with raw XML rows appended to its sheetData."""
    name = f"xl/worksheets/{sheet}.xml"
    xml = parts_of(data)[name].decode()
    return rewrite(
        data, {name: xml.replace("</sheetData>", insert_into_sheet_data + "</sheetData>")}
    )


SST_TYPE = (
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)


def _declare_shared_strings(parts: dict[str, bytes]) -> None:
    """openpyxl writes inline strings; a shared-strings part is found by its content type."""
    types = parts["[Content_Types].xml"].decode()
    if "sharedStrings" not in types:
        parts["[Content_Types].xml"] = types.replace("</Types>", SST_TYPE + "</Types>").encode()


def with_shared_string(data: bytes, runs: list[str]) -> bytes:
    """A rich-text shared string made of `runs`, placed in a new last row of the first sheet."""
    parts = parts_of(data)
    _declare_shared_strings(parts)
    sst = parts.get("xl/sharedStrings.xml", (SST_HEAD + SST_TAIL)).decode()
    rich = (
        "<si>"
        + "".join(f'<r><rPr><b/></rPr><t xml:space="preserve">{run}</t></r>' for run in runs)
        + "</si>"
    )
    count = sst.count("<si>")
    sst = sst.replace("</sst>", rich + "</sst>")
    row = f'<row r="900"><c r="C900" t="s"><v>{count}</v></c></row>'
    sheet = parts["xl/worksheets/sheet1.xml"].decode().replace("</sheetData>", row + "</sheetData>")
    return rewrite(
        data,
        {
            "xl/sharedStrings.xml": sst.encode(),
            "xl/worksheets/sheet1.xml": sheet.encode(),
            "[Content_Types].xml": parts["[Content_Types].xml"],
        },
    )


# --- zip bombs: a deflate stream of repeated independent blocks, never held unpacked -----------


def _deflate(data: bytes, final: bool) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(
        zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH
    )


def repeated_member(head: bytes, block: bytes, times: int, tail: bytes) -> tuple[bytes, int, int]:
    """(deflate data, crc32, size) of head + block * times + tail, built without unpacking."""
    block_deflated = _deflate(block, final=False)
    stream = _deflate(head, final=False) + block_deflated * times + _deflate(tail, final=True)
    crc = zlib.crc32(head)
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    return stream, crc, len(head) + len(block) * times + len(tail)


def zip_from_raw(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip from (name, stored data, crc32, declared size, method) entries, as given (so the
    declared size may lie)."""
    out = io.BytesIO()
    directory = []
    for name, data, crc, size, method in members:
        offset = out.tell()
        encoded = name.encode()
        out.write(
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(data),
                size,
                len(encoded),
                0,
            )
            + encoded
            + data
        )
        directory.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(data),
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
    start = out.tell()
    for entry in directory:
        out.write(entry)
    out.write(
        struct.pack(
            "<IHHHHIIH",
            0x06054B50,
            0,
            0,
            len(directory),
            len(directory),
            out.tell() - start,
            start,
            0,
        )
    )
    return out.getvalue()


def bomb_workbook(
    part: str, head: bytes, block: bytes, times: int, tail: bytes, declared_size: int | None = None
) -> bytes:
    """A small valid workbook whose `part` is replaced by head + block * times + tail, deflated
    (declared with its true size unless `declared_size` lies)."""
    base = parts_of(workbook_bytes([dict.fromkeys(COLUMNS[:3], "1")]))
    _declare_shared_strings(base)
    members = []
    for name, body in base.items():
        if name == part:
            continue
        members.append((name, _deflate(body, True), zlib.crc32(body), len(body), 8))
    data, crc, size = repeated_member(head, block, times, tail)
    members.append((part, data, crc, size if declared_size is None else declared_size, 8))
    return zip_from_raw(members)


def shared_strings_bomb(unpacked_mb: int = 1500, string_kb: int = 1024) -> bytes:
    """A workbook of a few MB whose shared-strings table unpacks to `unpacked_mb` MB, in
    strings of `string_kb` KB each."""
    block = b"<si><t>" + b"x" * (string_kb * 1024 - 16) + b"</t></si>"
    return bomb_workbook(
        "xl/sharedStrings.xml", SST_HEAD, block, unpacked_mb * 1024 // string_kb, SST_TAIL
    )


def many_members(count: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in parts_of(workbook_bytes()).items():
            archive.writestr(name, body)
        for index in range(count):
            archive.writestr(f"customXml/item{index}.xml", b"<a/>")
    return out.getvalue()
