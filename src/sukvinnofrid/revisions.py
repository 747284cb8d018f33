"""The revision log of a round's publications: which published cells a revision changed, from
what to what, by how much and why (a late or a corrected delivery, and from which unit). The
statistics and the Kolada files each carry one beside their files, from their own tables
(`STATISTICS_TABLES`, `KOLADA_TABLES`).

The log compares the two versions' published tables, never the marts: each side is what its
own version's protection let out, so a withheld cell shows as its status symbol ('..') on the
side where it was withheld, and the log can never show a value either version withheld. The
change is only given where both sides are published numbers.

Why: the units whose upload in force for the round differs between the two versions (the
manifest of each statistics version records them, `in_force`). A unit without an upload in
force in the earlier version delivered late; one with another upload in force sent a
correction. A cell of a kommun or a län names the deliveries in that area; riket's (and one
no delivery explains) names them all.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .formats import THOUSANDS, swedish_number

LOG_FILE = "revisionslogg.csv"
LOG_HEADER = [
    "tabell",
    "rad",
    "kolumn",
    "tidigare värde",
    "nytt värde",
    "förändring",
    "orsak",
]
# per published table: the columns that hold values (the others name the row)
STATISTICS_TABLES = {
    "tratt.csv": None,  # every column after kön
    "nationella_figurer.csv": (
        "antal",
        "n",
        "andel (%)",
        "medelvärde",
        "n population",
        "n svar",
    ),
}
# the Kolada files: a cell is a KPI's value for a kommun (stadsdel), year and kön, with its status
KOLADA_TABLES = {"data.csv": ("value", "status"), "oudata.csv": ("value", "status")}
# per table the column naming the area whose delivery explains a cell
AREA_COLUMNS = {"data.csv": "municipality", "oudata.csv": "ou"}
LABEL_COLUMNS = ("omgång", "område", "titel", "kategorinamn", "publicering")
NO_DELIVERY = "omräkning utan ny leverans (ändrad beräkning eller referensdata)"


@dataclass(frozen=True)
class Delivery:
    """A unit's upload in force for the round, as a statistics manifest records it."""

    unit_kod: str
    kommun_kod: str
    lan_kod: str | None
    upload_id: int
    received_at: str

    def as_manifest(self) -> dict:
        return {
            "kommun": self.kommun_kod,
            "lan": self.lan_kod,
            "upload_id": self.upload_id,
            "received_at": self.received_at,
        }


def deliveries_in_force(engine: Engine, round_id: str) -> dict[str, Delivery]:
    """Per unit, its accepted upload of the round that the publications use."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT unit_kod, kommun_kod, lan_kod, upload_id, received_at"
                " FROM marts.fct_round_deliveries WHERE round_id = :r"
                " AND status IN ('godkand', 'godkand_med_varningar') ORDER BY unit_kod"
            ),
            {"r": round_id},
        ).all()
    return {
        row.unit_kod: Delivery(
            row.unit_kod, row.kommun_kod, row.lan_kod, row.upload_id, row.received_at.isoformat()
        )
        for row in rows
    }


def changed_deliveries(before: dict, after: dict[str, Delivery]) -> list[tuple[Delivery, str]]:
    """The units whose upload in force changed, with the reason in Swedish."""
    changes = []
    for unit, delivery in sorted(after.items()):
        earlier = before.get(unit)
        if earlier is None:
            changes.append(
                (delivery, f"sen leverans från {unit} (uppladdning {delivery.upload_id})")
            )
        elif earlier["upload_id"] != delivery.upload_id:
            changes.append(
                (delivery, f"rättad leverans från {unit} (uppladdning {delivery.upload_id})")
            )
    return changes


def _table(data: bytes) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    return rows[0], rows[1:]


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(THOUSANDS, "").replace(" ", "").replace(",", "."))
    except InvalidOperation:
        return None


def _change(before: str, after: str) -> str:
    old, new = _decimal(before), _decimal(after)
    if old is None or new is None:
        return ""
    decimals = max(-old.as_tuple().exponent, -new.as_tuple().exponent, 0)
    text = swedish_number(new - old, decimals)
    return text if text.startswith("-") else "+" + text


def _reason(row: dict[str, str], changes: list[tuple[Delivery, str]], area_column: str) -> str:
    if not changes:
        return NO_DELIVERY
    area = row.get(area_column, "")
    local = [
        reason
        for delivery, reason in changes
        if area in {delivery.unit_kod, delivery.kommun_kod, delivery.lan_kod}
    ]
    return "; ".join(local or [reason for _, reason in changes])


def revision_log(
    before: dict[str, bytes],
    after: dict[str, bytes],
    changes: list[tuple[Delivery, str]],
    tables: dict[str, tuple[str, ...] | None] = STATISTICS_TABLES,
) -> bytes | None:
    """revisionslogg.csv (Swedish Excel CSV): one line per published cell of `tables` whose text
    differs between the two versions, rows that came or went included; None when no cell did
    (e.g. only the preliminary marking went)."""
    from .statistics import excel_csv

    lines = []
    for name, value_columns in tables.items():
        old_header, old_rows = _table(before[name])
        header, new_rows = _table(after[name])
        # a column only one version has (publicering: preliminary, then final) names no cell
        values = value_columns or header[header.index("kön") + 1 :]
        values = [c for c in values if c in header and c not in LABEL_COLUMNS]
        keys = [c for c in header if c not in values and c not in LABEL_COLUMNS]

        def index(rows, header, keys=keys):
            return {
                tuple(row[header.index(k)] for k in keys): dict(zip(header, row, strict=True))
                for row in rows
            }

        old, new = index(old_rows, old_header), index(new_rows, header)
        for key in sorted(old.keys() | new.keys()):
            earlier, later = old.get(key, {}), new.get(key, {})
            row = later or earlier
            described = ", ".join(f"{k} {row[k]}" for k in keys if row.get(k)) + (
                f" ({row['område']})" if row.get("område") else ""
            )
            for column in values:
                was, now = earlier.get(column, "saknas"), later.get(column, "saknas")
                if was != now:
                    lines.append(
                        [
                            name,
                            described,
                            column,
                            was,
                            now,
                            _change(was, now),
                            _reason(row, changes, AREA_COLUMNS.get(name, "områdeskod")),
                        ]
                    )
    return excel_csv(LOG_HEADER, lines) if lines else None
