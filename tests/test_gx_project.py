"""The quality gate's Great Expectations project (expectations/) and its one Data Docs site,
offline.

The gate loads the committed file data context and runs its checkpoint; every run's result is
kept and the one site under output/data_docs/ shows them all, loading nothing from another
host and no upload value."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import os
import re
import shutil
from collections import OrderedDict
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import sqlalchemy as sa
from great_expectations.render.renderer.site_builder import DefaultSiteIndexBuilder

from conftest import PROJECT_ROOT
from sukvinnofrid import pipeline
from sukvinnofrid.quality import data_docs, gate
from sukvinnofrid.quality.rules import build_rules
from sukvinnofrid.quality.suites import (
    ASSET,
    BATCH_DEFINITION,
    CHECKPOINT,
    CHECKPOINT_BOOLEAN_ONLY,
    DATA_DOCS_SITE,
    DATASOURCE,
    SUITE_NAME,
    VALIDATION_DEFINITION,
    gx_id,
)
from test_deployment import in_image
from test_quality import add_upload, valid_row

MARKUP = [
    "<script>alert('sukf')</script>",
    "<img src=x onerror=alert('sukf')>",
    "\"><svg/onload=alert('sukf')>",
    '=HYPERLINK("http://sukf.example")',
]
GX_TEMPLATES = Path(data_docs.GX_STATIC).parent / "templates"


def output() -> Path:
    return Path(os.environ["SUKF_OUTPUT"])


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(
            (0o755 if path.is_dir() else 0o644) if writable else (0o555 if path.is_dir() else 0o444)
        )


# --- the committed project ---------------------------------------------------------------------


def test_the_project_names_what_the_generated_files_refer_to():
    """expectations/great_expectations.yml (by hand) and the generated files agree: GX resolves the
    validation definition of both checkpoints to the committed suite and the work-table asset,
    with the ids the generator writes, and neither checkpoint lets upload values through."""
    context = gate.gx_context(sa.engine.make_url("postgresql+psycopg2://nobody@/nowhere"))
    datasource = context.data_sources.get(DATASOURCE)
    asset = datasource.get_asset(ASSET)
    assert str(datasource.id) == gx_id("datasource", DATASOURCE)
    assert str(asset.id) == gx_id("asset", f"{DATASOURCE}/{ASSET}")
    assert str(asset.get_batch_definition(BATCH_DEFINITION).id) == gx_id(
        "batch_definition", f"{DATASOURCE}/{ASSET}/{BATCH_DEFINITION}"
    )
    for name in (CHECKPOINT, CHECKPOINT_BOOLEAN_ONLY):
        checkpoint = context.checkpoints.get(name)
        (validation,) = checkpoint.validation_definitions
        assert validation.name == VALIDATION_DEFINITION and validation.asset.name == ASSET
        assert validation.suite.name == SUITE_NAME
        assert [e.meta["rule_id"] for e in validation.suite.expectations] == [
            rule.rule_id for rule in build_rules()
        ]
        assert checkpoint.result_format["exclude_unexpected_values"] is True
    # No secret and no machine's path in the committed file: both come at run time.
    committed = (PROJECT_ROOT / "expectations" / "great_expectations.yml").read_text(
        encoding="utf-8"
    )
    assert "${SUKF_GX_CONNECTION_STRING}" in committed and "postgresql" not in committed
    assert "${SUKF_OUTPUT}/data_docs/" in committed


def test_the_image_gets_the_project_but_not_its_local_files():
    assert in_image("expectations/great_expectations.yml")
    assert in_image(f"expectations/expectations/{SUITE_NAME}.json")
    assert not in_image("expectations/uncommitted/config_variables.yml")


def test_the_gate_runs_the_committed_files_and_writes_nothing_into_them(
    clean_warehouse, tmp_path, monkeypatch, caplog
):
    """A read-only copy of expectations/ whose suite lacks the expectation of one rule: GX's
    verdict on that rule is missing (the SQL still finds the row), the others are GX's, and the
    stored result names the committed validation definition and checkpoint. GX warns of nothing."""
    project = tmp_path / "expectations"
    shutil.copytree(PROJECT_ROOT / "expectations", project)
    suite_path = project / "expectations" / f"{SUITE_NAME}.json"
    suite = json.loads(suite_path.read_text(encoding="utf-8"))
    suite["expectations"] = [
        e for e in suite["expectations"] if e["meta"]["rule_id"] != "v14_kon.in_set"
    ]
    suite_path.write_text(json.dumps(suite), encoding="utf-8")
    before = _files(project)
    _set_writable(project, False)
    monkeypatch.setattr(gate, "gx_project_dir", lambda: project)
    try:
        upload_id = add_upload(
            clean_warehouse,
            [valid_row(v4_klient=f"K{i}") for i in range(9)]
            + [valid_row(v4_klient="X", v14_kon="3", v15_alder="200")],
        )
        result = gate.run_quality_gate(upload_id, clean_warehouse)
    finally:
        _set_writable(project, True)
    assert _files(project) == before
    assert [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("great_expectations") and r.levelno >= logging.WARNING
    ] == []
    with clean_warehouse.connect() as conn:
        verdicts = {
            rule_id: (gx_success, count)
            for rule_id, gx_success, count in conn.execute(
                sa.text(
                    "SELECT rule_id, gx_success, unexpected_count FROM quality.expectation_results"
                    " WHERE run_id = :r"
                ),
                {"r": result.run_id},
            )
        }
    assert verdicts["v14_kon.in_set"] == (None, 1)
    assert verdicts["v15_alder.in_range"] == (False, 1)
    assert verdicts["v1_verksamhet.in_set"] == (True, 0)
    (stored,) = (output() / "gx" / "validations").rglob("*.json")
    meta = json.loads(stored.read_text(encoding="utf-8"))["meta"]
    assert meta["validation_id"] == gx_id("validation_definition", VALIDATION_DEFINITION)
    assert meta["checkpoint_id"] == gx_id("checkpoint", CHECKPOINT)
    assert meta["run_id"]["run_name"] == f"run_{result.run_id}"


# --- one site, every run -----------------------------------------------------------------------


def _three_gate_runs(engine, monkeypatch) -> list:
    """Three gate runs, with HTML and a formula in cells: a batch of two uploads, one upload,
    and one more over the row limit for detail (the BOOLEAN_ONLY checkpoint)."""

    def upload(kommun: str, bad: bool) -> int:
        rows = [valid_row(v2_kommun=kommun, v4_klient=f"K{i}") for i in range(12)]
        if bad:
            rows += [
                valid_row(
                    v2_kommun=kommun,
                    v4_klient=f"M{i}",
                    v14_kon=markup,
                    v1_verksamhet=markup,
                    v15_alder=markup,
                    v58_utovare_kommentar=markup,
                    v217_klientforslag=markup,
                )
                for i, markup in enumerate(MARKUP)
            ]
        return add_upload(engine, rows, kommun=kommun)

    upload("0180", True)
    upload("1480", False)
    first = pipeline.gate_summaries(gate.run_pending(engine), engine)
    upload("1280", True)
    second = pipeline.gate_summaries(gate.run_pending(engine), engine)
    monkeypatch.setattr(gate, "GX_DETAIL_MAX_ROWS", 5)
    upload("0380", True)
    third = pipeline.gate_summaries(gate.run_pending(engine), engine)
    return first + second + third


def test_one_site_keeps_every_run_and_its_page_is_in_the_summary(clean_warehouse, monkeypatch):
    summaries = _three_gate_runs(clean_warehouse, monkeypatch)
    site = output() / "data_docs"
    pages = sorted(site.glob(f"validations/{SUITE_NAME}/*/*/*.html"))
    assert len(pages) == 3
    assert sorted(p.name for p in site.iterdir()) == [
        "expectations",
        "index.html",
        "static",
        "validations",
    ]
    # Each upload's summary (the Airflow task's return value) names its run's page.
    assert json.loads(json.dumps(summaries)) == summaries
    assert {s["data_docs"] for s in summaries} == {str(p) for p in pages}
    assert summaries[0]["data_docs"] == summaries[1]["data_docs"]  # one batch, one run
    index = (site / "index.html").read_text(encoding="utf-8")
    for page in pages:
        assert page.relative_to(site).as_posix() in index
    assert len(list((output() / "gx" / "validations").rglob("*.json"))) == 3
    # The site's static files are the pages' own, not GX's 4.6 MB folder.
    assert sum(p.stat().st_size for p in (site / "static").rglob("*")) < 2_000_000


def test_the_index_lists_the_runs_as_gx_would(clean_warehouse, monkeypatch):
    """HistoryIndexBuilder reads each stored result's JSON instead of deserialising it: the
    index it gives is GX's own, run for run."""
    _three_gate_runs(clean_warehouse, monkeypatch)
    context = gate.gx_context(clean_warehouse.url)
    site = context._load_site_builder_from_site_config(
        context.variables.data_docs_sites[DATA_DOCS_SITE]
    )
    ours = site.site_index_builder
    assert isinstance(ours, data_docs.HistoryIndexBuilder)
    gxs = copy.copy(ours)
    gxs.__class__ = DefaultSiteIndexBuilder
    keys = ours._build_validation_and_profiling_result_site_keys(skip_and_clean_missing=False)
    links = []
    for builder in (ours, gxs):
        found: OrderedDict = OrderedDict()
        builder._add_validations_to_index_links(found, keys)
        links.append(found)
    assert links[0] == links[1]
    assert len(links[0]["validations_links"]) == 3
    assert {link["validation_success"] for link in links[0]["validations_links"]} == {False}


def _local_references(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    refs = re.findall(r"""\b(?:src|href)=["']([^"'#][^"']*)["']""", text)
    return [r for r in refs if not r.startswith(("javascript:", "data:", "mailto:"))]


def test_the_site_loads_nothing_from_another_host_and_no_upload_value(clean_warehouse, monkeypatch):
    _three_gate_runs(clean_warehouse, monkeypatch)
    site = output() / "data_docs"
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 5  # index, the suite, three runs
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), page
        for ref in _local_references(page):
            target = (page.parent / unquote(urlsplit(ref).path)).resolve()
            assert target.is_file() and site.resolve() in target.parents, (page, ref)
    # Upload values (HTML, a formula) reach neither the site nor GX's stored results.
    for path in [*site.rglob("*"), *(output() / "gx").rglob("*")]:
        if path.is_file() and path.suffix in (".html", ".json", ".js", ".css"):
            text = path.read_text(encoding="utf-8", errors="replace")
            assert "sukf')" not in text and "sukf.example" not in text, path


# --- the offline templates ---------------------------------------------------------------------


def test_every_address_gx_templates_load_has_a_vendored_copy():
    view = data_docs.OfflinePageView()
    html_templates = [
        name
        for name in view.env.loader.list_templates()
        if name.endswith((".j2", ".css")) and not name.startswith("markdown")
    ]
    assert "page.j2" in html_templates and "index_page.j2" in html_templates
    for name in html_templates:
        source, _, _ = view.env.loader.get_source(view.env, name)
        assert "://" not in source, name
    for local in filter(None, data_docs.LOCAL_ASSETS.values()):
        assert (data_docs.STATIC / local).is_file() or (data_docs.GX_STATIC / local).is_file()
    assert all(path.is_file() for path in data_docs.static_files().values())


def test_vendored_scripts_are_the_files_gx_pins():
    """Where GX's templates give a Subresource Integrity hash, the vendored copy has it."""
    pinned = {}
    for template in GX_TEMPLATES.glob("*.j2"):
        for url, digest in re.findall(
            r'src="(https://[^"]+)"\s+integrity="sha384-([^"]+)"',
            template.read_text(encoding="utf-8"),
        ):
            pinned[url] = digest
    assert len(pinned) >= 2
    for url, digest in pinned.items():
        vendored = data_docs.STATIC / data_docs.LOCAL_ASSETS[url]
        assert base64.b64encode(hashlib.sha384(vendored.read_bytes()).digest()).decode() == digest


@pytest.mark.parametrize(
    "source",
    [
        '<script src="https://cdn.example.org/x.js"></script>',
        '<link rel="stylesheet" href="http://cdn.example.org/x.css">',
        "body { background: url('https://cdn.example.org/x.png') }",
        '{% set static_images_dir = "https://cdn.example.org/" %}',
    ],
)
def test_a_template_loading_an_unknown_address_is_refused(source):
    with pytest.raises(data_docs.OfflineAssetError, match=r"cdn\.example\.org"):
        data_docs.offline_source("new.j2", source)


def test_links_keep_their_text_and_dropped_scripts_leave_nothing():
    source = (
        '<p>Data Docs by <a href="https://greatexpectations.io">Great Expectations</a>.</p>'
        '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>'
    )
    assert data_docs.offline_source("x.j2", source) == "<p>Data Docs by Great Expectations.</p>"


# --- in a browser ------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.slow
def test_the_site_works_offline_in_a_browser(clean_warehouse, monkeypatch):
    """Every page opened from disk with every request outside the site refused: no request
    leaves the site, no console error, the index's run table and the icons are drawn."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} saknas: installera Chromium med `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    _three_gate_runs(clean_warehouse, monkeypatch)
    site = (output() / "data_docs").resolve()
    outside, errors = [], []

    def route(request_route):
        url = request_route.request.url
        if url.startswith("file://") and unquote(urlsplit(url).path).startswith(str(site)):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_context().new_page()
        page.context.route("**/*", route)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
        for path in sorted(site.rglob("*.html")):
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            assert page.evaluate("document.fonts.check('900 16px \"Font Awesome 6 Free\"')")
            assert page.evaluate("typeof jQuery === 'function' && !!jQuery.fn.bootstrapTable")
            if path.name == "index.html":
                assert page.locator(".bootstrap-table tbody tr", has_text="run_").count() == 3
        browser.close()
    assert outside == [] and errors == []
