"""A generated round with everything the round's site shows, for tests/test_report*.py and
tests/test_browser*.py: two rounds (the first is the "previous round" of the second), kommuner
and two Stockholm stadsdelar, a kommun so small that its cells are withheld, an upload blocked
in the second round (its kommun is counted with its first-round file), expected units that never
deliver (the participation register), and a file whose name is markup.

Built once per test process through the real chain (intake, gate, dbt, publication, the site);
`report_round()` rebuilds when another test has wiped the warehouse or the output since.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from conftest import wipe_warehouse
from sukvinnofrid import pipeline, warehouse
from sukvinnofrid.synthetic import generate_round_files

ROUNDS = ("2023-06", "2023-12")
ROUND = ROUNDS[-1]
UNITS = {
    "0126": 60,
    "0580": 60,
    "0586": 60,
    "2380": 50,
    "0180-EAV": 50,
    "0180-RKI": 50,
    "1984": 3,
    "0380": 40,
}
FORMATS = {"0126": "xlsx", "0586": "csv-semicolon-cp1252"}
BLOCKED = ("0380", ROUND)  # its second-round file lacks a required column
# a file name that is markup: the round console must show it as text
HOSTILE_NAME = '<img src=x onerror="window.__injected=1">0586_2023-12.csv'


@dataclass(frozen=True)
class ReportRound:
    output: Path
    site: Path  # the public pages
    internal: Path  # the statistics team's pages
    previous_site: Path


# the rounds this process built, and the state they were built to (_state)
_built: tuple[ReportRound, tuple] | None = None


def _state(engine, built: ReportRound) -> tuple:
    """What a test of the built rounds reads: the landed uploads (id, content, name, status),
    whether the marts exist, and every file of both rounds' sites. Another module of this
    process may have wiped the warehouse and written a round of the same code (on an xdist
    worker, test_cellkey runs before test_browser: its own uploads, published with the Cell
    Key Method): then it differs."""
    import hashlib

    with engine.connect() as conn:
        uploads = conn.execute(
            sa.text("SELECT upload_id, sha256, file_name, status FROM raw.uploads ORDER BY 1")
        ).all()
        marts = conn.execute(
            sa.text("SELECT to_regclass('marts.fct_round_deliveries') IS NOT NULL")
        ).scalar()
    sites = hashlib.sha256()
    for root in (built.site, built.internal, built.previous_site):
        for path in sorted(root.rglob("*")) if root.is_dir() else ():
            if path.is_file():
                name = str(path.relative_to(built.output)).encode()
                sites.update(name + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return tuple(map(tuple, uploads)), marts, sites.hexdigest()


def report_round() -> ReportRound:
    """The generated rounds, published, with both rounds' sites written."""
    global _built
    engine = warehouse.engine()
    if _built is not None and _state(engine, _built[0]) == _built[1]:
        return _built[0]
    warehouse.ensure_schema()
    wipe_warehouse(engine)
    output = Path(os.environ["SUKF_OUTPUT"])
    inbox = Path(os.environ["SUKF_INBOX"])
    # files other modules of this process left in the inbox (e.g. a later upload of 0586) would
    # land beside these and change what the console shows
    shutil.rmtree(inbox, ignore_errors=True)
    inbox.mkdir(parents=True)
    files = generate_round_files(
        inbox,
        list(UNITS),
        list(ROUNDS),
        cases_per_kommun=UNITS,
        seed=11,
        formats=FORMATS,
        since=dt.date(2022, 1, 1),
        defects={BLOCKED: ["missing_required_column"]},
    )
    hostile = next(f.path for f in files if f.kommun_kod == "0586" and f.round_id == ROUND)
    shutil.move(hostile, hostile.with_name(HOSTILE_NAME))
    pipeline.land_new_files()
    pipeline.quality_gate()
    pipeline.build_warehouse()
    for round_id in ROUNDS:
        pipeline.publish(round_id)
        pipeline.report(round_id)
    built = ReportRound(
        output=output,
        site=output / "rapport" / ROUND,
        internal=output / "intern" / ROUND,
        previous_site=output / "rapport" / ROUNDS[0],
    )
    _built = built, _state(engine, built)
    return built


# ---------------------------------------------------------------------------------------------
# reading the pages back, independently of the code that wrote them

from html.parser import HTMLParser  # noqa: E402


@dataclass
class PageTable:
    section: str | None  # id of the enclosing <section>
    caption: str
    header: list[str]
    rows: list[list[str]]

    def column(self, name: str) -> int:
        return self.header.index(name)


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[PageTable] = []
        self.sections: list[str] = []
        self.depth: list[str] = []
        self.current: PageTable | None = None
        self.row: list[str] | None = None
        self.text: list[str] | None = None
        self.in_caption = False
        self.in_head = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        elif tag == "table":
            self.current = PageTable(self.sections[-1] if self.sections else None, "", [], [])
        elif tag == "caption":
            self.in_caption, self.text = True, []
        elif tag == "thead":
            self.in_head = True
        elif tag == "tr" and self.current is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.text = []

    def handle_endtag(self, tag):
        if tag == "section" and self.sections:
            self.sections.pop()
        elif tag == "table" and self.current is not None:
            self.tables.append(self.current)
            self.current = None
        elif tag == "caption" and self.current is not None:
            self.current.caption, self.in_caption, self.text = (
                "".join(self.text).strip(),
                False,
                None,
            )
        elif tag == "thead":
            self.in_head = False
        elif tag in ("td", "th") and self.row is not None and self.text is not None:
            self.row.append("".join(self.text).strip())
            self.text = None
        elif tag == "tr" and self.row is not None and self.current is not None:
            if self.in_head:
                self.current.header = self.row
            else:
                self.current.rows.append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.text is not None:
            self.text.append(data)


def page_tables(path: Path) -> list[PageTable]:
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tables


def number(text: str):
    """A shown cell back to a number: '1 528' -> 1528, '64,8 %' -> 64.8, '+0,4' -> 0.4; '..',
    '-' and '–' are returned as they are."""
    if text in ("..", "-", "–", ""):
        return text
    cleaned = text.replace("\u00a0", "").replace(" ", "").removesuffix("%").replace(",", ".")
    return float(cleaned) if "." in cleaned else int(cleaned)
