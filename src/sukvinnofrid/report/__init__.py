"""The round's site: what a person reads of a round, written from its protected publications.

    output/rapport/<round>/
        index.html          start: the pages below and every participating kommun, stadsdel, län
        riket.html          national report: Diagram 1 and every figure of diagrams 2-27 with its
                            table, N, definition and footnotes, beside the previous round
        fordjupningar.html  the comparisons the report makes only in its text (views.TEXT_SPLITS)
        nedladdning.html    downloads: every table as CSV for Swedish Excel, one XLSX workbook
        kommun/<kod>.html, stadsdel/<kod>.html, lan/<kod>.html
        data/               the downloads
        style.css

    output/intern/<round>/  what only the statistics team may see, never among the public pages
        index.html          the internal pages and a link to the public site
        omgang.html         round console: every expected unit, its delivery status, rows,
                            rejected rows, warnings, missing registrations against riket, its
                            feedback report; totals; the same over earlier rounds
        granskning.html     review: large changes, outliers, expected units missing
        nedladdning.html    the deliveries (file names, rows) and the review's tables
        data/, style.css

`render_round` reads the latest version of the round's statistics publication
(output/statistik) and Kolada publication (output/kolada), the previous round's statistics, and
the report marts (dim_reporting_units, fct_round_deliveries, fct_key_figure_comparisons, withheld
by `protection`). Nothing is computed again from cases. The site is static and self-contained
(no script, no request to another host). The internal pages link to the unit pages and to the
feedback reports in output/aterkoppling by relative paths through the public root. Unchanged
data gives the same bytes, and then nothing is written; when
not even the inputs changed (`.inputs_sha256` in the site holds their digest), nothing is read.

`review_round` is the same site for a round not yet approved: the round is published as a draft
into output/granskning/<round>/ (statistik/, kolada/) and its site written to
output/granskning/<round>/rapport/ and .../intern/, marked as a draft, for the statistics team
to review before the approval in Airflow lets the real publication go out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from ..config import INTERNAL_SITE_ROOT, PUBLIC_SITE_ROOT, get_settings
from .site import build_site, write_site
from .sources import ReportError, RoundNotPublished, inputs_digest, read_sources

__all__ = ["ReportError", "RoundNotPublished", "Site", "render_round", "review_round"]

# the digest of what the site was made from (sources.inputs_digest): an unchanged round is not
# read and rendered again
INPUTS_FILE = ".inputs_sha256"


@dataclass(frozen=True)
class Site:
    round_id: str
    directory: Path  # the public pages
    internal: Path  # the statistics team's pages
    pages: int  # of both
    written: bool  # False: the site already held exactly these files
    seconds: float

    @property
    def index(self) -> Path:
        return self.directory / "index.html"


def _engine(engine: Engine | None) -> Engine:
    if engine is not None:
        return engine
    from ..warehouse import engine as warehouse_engine

    return warehouse_engine()


def _render(
    round_id: str,
    engine: Engine,
    output: Path,
    statistik_root: Path,
    kolada_root: Path,
    site_dir: Path,
    internal_dir: Path,
    draft: bool,
) -> Site:
    started = time.perf_counter()
    inputs = inputs_digest(
        round_id,
        engine,
        statistik_root,
        kolada_root,
        output,
        published_statistik_root=output / "statistik",
    )
    inputs = f"{inputs} {'utkast' if draft else 'publicerad'}\n"
    roots = (site_dir, internal_dir)
    if all(
        (root / INPUTS_FILE).is_file()
        and (root / INPUTS_FILE).read_text(encoding="ascii") == inputs
        for root in roots
    ):
        # the same publications, marts, feedback reports and code: the same bytes
        pages = sum(1 for root in roots for _ in root.rglob("*.html"))
        return Site(round_id, *roots, pages, False, round(time.perf_counter() - started, 2))
    sources = read_sources(
        round_id, engine, statistik_root, kolada_root, published_statistik_root=output / "statistik"
    )
    site = build_site(sources, site_dir, internal_dir, output, draft=draft)
    written = False
    for root, files in zip(roots, (site.public, site.internal), strict=True):
        files[INPUTS_FILE] = inputs.encode("ascii")
        written = write_site(root, files) or written
    pages = sum(
        1 for files in (site.public, site.internal) for name in files if name.endswith(".html")
    )
    return Site(round_id, *roots, pages, written, round(time.perf_counter() - started, 2))


def render_round(round_id: str, engine: Engine | None = None, output: Path | None = None) -> Site:
    """Write the site of a published round to <output>/rapport/<round>/, its internal pages to
    <output>/intern/<round>/."""
    output = Path(output) if output is not None else get_settings().output
    return _render(
        round_id,
        _engine(engine),
        output,
        output / "statistik",
        output / "kolada",
        output / PUBLIC_SITE_ROOT / round_id,
        output / INTERNAL_SITE_ROOT / round_id,
        draft=False,
    )


def review_round(round_id: str, engine: Engine | None = None, output: Path | None = None) -> Site:
    """Publish the round as a draft under <output>/granskning/<round>/ and write its site there
    (marked as a draft), for review before the publication is approved."""
    from ..kolada.publish import publish as publish_kolada
    from ..statistics import publish_statistics

    output = Path(output) if output is not None else get_settings().output
    engine = _engine(engine)
    draft = output / "granskning" / round_id
    # the draft's revision logs are against the published versions, as the approved one's;
    # the statistics decide the cells the Kolada files share with them
    publish_kolada(
        round_id,
        engine,
        output_dir=draft / "kolada",
        draft=True,
        revision_of=output / "kolada",
        statistics=lambda: (
            publish_statistics(
                round_id,
                engine,
                output_dir=draft / "statistik",
                revision_of=output / "statistik",
                draft=True,
            ).directory
        ),
    )
    return _render(
        round_id,
        engine,
        output,
        draft / "statistik",
        draft / "kolada",
        draft / "rapport",
        draft / "intern",
        draft=True,
    )
