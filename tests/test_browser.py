"""The round's site in a real browser: Chromium from Debian's package (`apt-get install
chromium`; `.ci/run` installs it when missing), driven by Playwright for Python. Every page of
a generated round is opened from disk: no console error, no request outside the site, every
diagram drawn (an SVG with marks, alt text and a data table), every link resolving, markup from
an upload shown as text. Screenshots of the national funnel, a kommun page and the round console
go to output/skarmbilder/ (SUKF_SCREENSHOTS moves them) for a person to look at."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from report_round import HOSTILE_NAME, ROUND, report_round

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(
    os.environ.get(
        "SUKF_SCREENSHOTS", Path(__file__).resolve().parents[1] / "output" / "skarmbilder"
    )
)


@pytest.fixture(scope="module")
def site() -> Path:
    return report_round().site


@pytest.fixture(scope="module")
def internal() -> Path:
    return report_round().internal


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} saknas: installera Chromium med `apt-get install chromium` "
            "(.ci/run gör det)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


class Visit:
    """A browser page that lets through only files of `allowed` (a directory) and records every
    other request, every console error and every uncaught exception."""

    def __init__(self, browser, allowed: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.outside: list[str] = []
        self.errors: list[str] = []
        root = str(allowed.resolve())

        def route(request_route):
            url = request_route.request.url
            if url.startswith("file://") and unquote(urlsplit(url).path).startswith(root):
                request_route.continue_()
            else:
                self.outside.append(url)
                request_route.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: Path):
        self.page.goto(path.as_uri())
        return self.page

    def close(self) -> None:
        self.context.close()


def test_a_request_outside_the_site_is_caught(browser, tmp_path):
    """The interception itself: a page asking another host (and a file outside the site) is
    recorded, so the checks below can fail."""
    probe = tmp_path / "site" / "probe.html"
    probe.parent.mkdir()
    (tmp_path / "outside.css").write_text("body {}", encoding="utf-8")
    probe.write_text(
        '<link rel="stylesheet" href="../outside.css"><img src="https://example.org/x.png" alt="">',
        encoding="utf-8",
    )
    visit = Visit(browser, probe.parent)
    visit.open(probe)
    visit.page.wait_for_load_state("load")
    assert any("example.org" in url for url in visit.outside)
    assert any(url.endswith("outside.css") for url in visit.outside)
    visit.close()


@pytest.mark.parametrize("root", ["public", "internal"])
def test_every_page_loads_offline_draws_its_diagrams_and_has_no_dead_link(
    browser, site, internal, root
):
    """Both roots: each page loads only files of its own root; the internal pages' links to
    the unit pages and the feedback reports (through the public root) all lead somewhere."""
    public = root == "public"
    site = site if public else internal
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 50 if public else len(pages) == 4
    visit = Visit(browser, site)
    links: dict[str, set[str]] = {}
    charts = drawn = 0  # drawn: with values, not only withheld markers ('..')
    for path in pages:
        page = visit.open(path)
        described = page.eval_on_selector_all(
            "svg.sk-chart",
            """svgs => svgs.map(svg => ({
            id: svg.id,
            role: svg.getAttribute('role'),
            title: (svg.querySelector('title') || {}).textContent || '',
            desc: (svg.querySelector('desc') || {}).textContent || '',
            marks: svg.querySelectorAll('rect, path, circle').length,
            bars: svg.querySelectorAll('rect:not(.sk-dold), path, circle').length,
            width: svg.getBoundingClientRect().width,
            height: svg.getBoundingClientRect().height,
            table: !!(svg.closest('figure') && svg.closest('figure').nextElementSibling
                      && svg.closest('figure').nextElementSibling.querySelector('table')),
        }))""",
        )
        for chart in described:
            assert chart["role"] == "img" and chart["title"] and chart["desc"], (path, chart)
            assert chart["marks"] > 0 and chart["width"] > 100 and chart["height"] > 30, (
                path,
                chart["id"],
            )
            assert chart["table"], (path.name, chart["id"])
        charts += len(described)
        drawn += sum(1 for chart in described if chart["bars"] > 2)
        if path.parent == site and path.name in ("riket.html",):
            assert len(described) > 30
        if path.parent.name in ("kommun", "lan", "stadsdel"):
            assert len(described) >= 3, path
        for href in page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"):
            links.setdefault(href, set()).add(str(path.relative_to(site)))
        assert visit.errors == [], (path, visit.errors)
        assert visit.outside == [], (path, visit.outside)
    visit.close()
    if public:
        assert charts > 200 and drawn > 0.9 * charts
    ids: dict[Path, set[str]] = {}
    dead = []
    for href, sources in sorted(links.items()):
        parts = urlsplit(href)
        if parts.scheme != "file":
            dead.append((href, sorted(sources)[:3]))
            continue
        target = Path(unquote(parts.path))
        if not target.is_file():
            dead.append((href, sorted(sources)[:3]))
            continue
        if parts.fragment:
            if target not in ids:
                ids[target] = set(re.findall(r'\bid="([^"]+)"', target.read_text(encoding="utf-8")))
            if unquote(parts.fragment) not in ids[target]:
                dead.append((href, sorted(sources)[:3]))
    assert dead == []
    # the console links the feedback reports and the unit pages; the public pages neither
    assert any("aterkoppling" in href for href in links) == (not public)
    assert any("/rapport/" in href and "/kommun/" in href for href in links)
    assert not public or not [href for href in links if "/intern/" in href]


def test_markup_in_an_uploaded_file_name_stays_text(browser, internal):
    visit = Visit(browser, internal)
    page = visit.open(internal / "omgang.html")
    assert page.evaluate("window.__injected") is None
    assert page.locator("img").count() == 0
    assert page.get_by_text(HOSTILE_NAME, exact=True).count() == 1
    visit.close()


def test_screenshots_of_the_funnel_a_kommun_and_the_round_console(browser, site, internal):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {
        f"nationell_tratt_{ROUND}.png": (site / "riket.html", "#diagram-1"),
        f"kommun_0126_{ROUND}.png": (site / "kommun" / "0126.html", None),
        f"omgangskonsol_{ROUND}.png": (internal / "omgang.html", None),
    }
    for name, (path, selector) in shots.items():
        visit = Visit(browser, site if path.is_relative_to(site) else internal)
        page = visit.open(path)
        target = SCREENSHOTS / name
        if selector:
            page.locator(selector).screenshot(path=str(target))
        else:
            page.screenshot(path=str(target), full_page=True)
        assert target.stat().st_size > 20_000, name
        visit.close()
