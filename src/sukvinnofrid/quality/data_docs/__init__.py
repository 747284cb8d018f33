"""Great Expectations Data Docs that read offline: one site, no request to another host.

GX 1.24's page templates load Bootstrap, jQuery, bootstrap-table, Font Awesome and vega from
CDNs, the logo from S3 (with the data context id in the address) and link to GX's newsletter.
`expectations/great_expectations.yml` builds the quality gate's site with the classes below instead:

- `OfflinePageView` / `OfflineIndexPageView`: GX's own views, whose templates are read through
  `OfflineTemplateLoader`, which points every CDN address at the copy vendored under
  `static/vendor/` (`LOCAL_ASSETS`), drops the vega scripts (charts; no expectation of the suite
  draws one) and the newsletter footer, and keeps a link's text without the link. A template
  that would still load an address from elsewhere is refused (`OfflineAssetError`), so a GX
  upgrade cannot quietly bring a CDN back.
- `OfflineSiteBuilder`: GX's `SiteBuilder`, copying only the static files the pages use (the
  vendored assets, GX's favicon and logo) instead of GX's 4.6 MB static folder.
- `HistoryIndexBuilder`: GX's index builder, listing every run the site has without
  deserialising each stored result whole (GX's way costs ~10 ms a run, paid again by every
  gate run for every earlier one: 300 runs of history doubled the gate's GX step).

The pages are GX's, rendered with GX's autoescaping; what the validation results hold is
limited by the checkpoints' result format (`quality.suites.GX_RESULT_FORMAT`: no upload values).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
from pathlib import Path

import great_expectations
import jinja2
from great_expectations.render.renderer.site_builder import (
    FALSEY_YAML_STRINGS,
    DefaultSiteIndexBuilder,
    SiteBuilder,
)
from great_expectations.render.util import resource_key_passes_run_name_filter
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
GX_STATIC = Path(great_expectations.__file__).parent / "render" / "view" / "static"
# GX's own static files the pages use (its fonts and walkthrough animations are never loaded).
GX_STATIC_FILES = ("images/favicon.ico", "images/logo-long.png")

# Every address GX 1.24's HTML templates load -> the vendored copy under static/ (None: the
# element is dropped). The bootstrap-table filter-control stylesheet is 1.19.0 in GX's
# templates and 1.19.1 here, the version of the script GX loads with it.
LOCAL_ASSETS: dict[str, str | None] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "vendor/bootstrap-4.3.1/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "vendor/bootstrap-4.3.1/bootstrap.min.js"
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": "vendor/jquery-3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "vendor/popper.js-1.12.9/popper.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "vendor/bootstrap-table-1.19.1/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "vendor/bootstrap-table-1.19.1/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": (
        "vendor/bootstrap-table-1.19.1/bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": (
        "vendor/bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": (
        "vendor/bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": (
        "vendor/bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "vendor/bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": "vendor/bootstrap-dark-1.1.0/bootstrap-prefers-dark.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "vendor/fontawesome-free-6.6.0/css/all.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": None,
    "https://cdn.jsdelivr.net/npm/vega-lite@5": None,
    "https://cdn.jsdelivr.net/npm/vega-embed@6": None,
    # The logo: GX's own copy in static/images/ (the navbar adds the data context id to it).
    "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png": (
        "images/logo-long.png"
    ),
}
_S3_IMAGES = '"https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"'
# Whole templates replaced: GX's newsletter footer; the favicon (GX's path is one level short
# on validation pages).
TEMPLATE_OVERRIDES = {
    "cloud-footer.j2": "",
    "favicon.j2": '<link rel="shortcut icon" href="{{ offline_static() }}images/favicon.ico"'
    ' type="image/x-icon"/>',
}

_URL = re.compile(r"""https?://[^\s"'<>()]+""")
_ELEMENT = re.compile(
    r"""<(?P<tag>script|link)\b[^>]*?\b(?:src|href)="(?P<url>https?://[^"]+)"
                          [^>]*>(?:\s*</script>)?""",
    re.X,
)
_ANCHOR = re.compile(r"""<a\s+href="https?://[^"]+"[^>]*>(?P<text>.*?)</a>""", re.S)
_CSS_URL = re.compile(r"""url\((?P<quote>['"]?)(?P<url>https?://[^'")]+)(?P=quote)\)""")
_CORS_ATTRIBUTES = re.compile(r"""\s+(?:integrity|crossorigin)="[^"]*\"""")


class OfflineAssetError(RuntimeError):
    """A GX template loads an address that has no vendored copy."""


def _local(url: str) -> str:
    return "{{ offline_static() }}" + LOCAL_ASSETS[url]


def _element(match: re.Match) -> str:
    url = match["url"]
    if url not in LOCAL_ASSETS:
        return match[0]  # reported below
    if LOCAL_ASSETS[url] is None:
        return ""
    # A local file is not fetched in CORS mode (a file:// page cannot), and is checked by
    # tests/test_data_docs.py against GX's integrity hashes instead.
    return _CORS_ATTRIBUTES.sub("", match[0]).replace(url, _local(url))


def offline_source(name: str, source: str) -> str:
    """A GX template's source with every outside address made local (or refused)."""
    if name in TEMPLATE_OVERRIDES:
        return TEMPLATE_OVERRIDES[name]
    source = _ELEMENT.sub(_element, source)
    source = _ANCHOR.sub(lambda m: m["text"], source)
    source = _CSS_URL.sub(
        lambda m: f"url('{_local(m['url'])}')" if LOCAL_ASSETS.get(m["url"]) else m[0], source
    )
    # The navbar's logo: GX's copy in static/images/, without the data context id GX adds.
    source = source.replace(_S3_IMAGES, 'offline_static() ~ "images/"')
    source = source.replace(" | add_data_context_id_to_url", "")
    remaining = _URL.findall(source)
    if remaining:
        raise OfflineAssetError(
            f"Data Docs template {name} loads {remaining[0]}, which has no "
            "vendored copy (sukvinnofrid.quality.data_docs.LOCAL_ASSETS)"
        )
    return source


class OfflineTemplateLoader(jinja2.BaseLoader):
    """GX's template loader, serving every template through `offline_source`."""

    def __init__(self, loader: jinja2.BaseLoader) -> None:
        self.loader = loader

    def get_source(self, environment: jinja2.Environment, template: str):
        source, filename, uptodate = self.loader.get_source(environment, template)
        return offline_source(template, source), filename, uptodate

    def list_templates(self) -> list[str]:
        return self.loader.list_templates()


@jinja2.pass_context
def offline_static(context: jinja2.runtime.Context) -> str:
    """The site's static/ folder relative to the page being rendered (the paths GX's site
    store writes: validations/<suite>/<run name>/<run time>/<batch>.html,
    expectations/<suite>.html, index.html; a dot in the suite name is a folder)."""
    renderer_type = context.get("renderer_type") or ""
    dots = str(context.get("expectation_suite_name") or "").count(".")
    if "ValidationResults" in renderer_type or "ProfilingResults" in renderer_type:
        depth = dots + 4
    elif "ExpectationSuite" in renderer_type:
        depth = dots + 1
    else:
        depth = 0
    return "../" * depth + "static/"


def _make_offline(view) -> None:
    view.env.loader = OfflineTemplateLoader(view.env.loader)
    view.env.globals["offline_static"] = offline_static


class OfflinePageView(DefaultJinjaPageView):
    """GX's page view (suite and validation pages) with offline templates."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _make_offline(self)


class OfflineIndexPageView(DefaultJinjaIndexPageView):
    """GX's index page view with offline templates."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _make_offline(self)


def static_files() -> dict[tuple[str, ...], Path]:
    """{key under the site's static/ folder: source file} of every static file the pages use."""
    files = {("static", *name.split("/")): GX_STATIC / name for name in GX_STATIC_FILES}
    files.update(
        {
            ("static", *path.relative_to(STATIC).parts): path
            for path in sorted(STATIC.rglob("*"))
            if path.is_file()
        }
    )
    return files


class OfflineSiteBuilder(SiteBuilder):
    """GX's site builder, writing the static files the offline pages use."""

    def build(self, resource_identifiers=None, build_index: bool = True):
        for site_section_builder in self.site_section_builders.values():
            site_section_builder.build(resource_identifiers=resource_identifiers)
        backend = self.target_store.store_backends["static_assets"]
        for key, path in static_files().items():
            content_type, content_encoding = mimetypes.guess_type(path.name, strict=False)
            backend.set(
                key,
                path.read_bytes(),
                content_encoding=content_encoding,
                content_type=content_type or "application/octet-stream",
            )
        _, index_links_dict = self.site_index_builder.build(build_index=build_index)
        return self.get_resource_url(only_if_exists=False), index_links_dict


class HistoryIndexBuilder(DefaultSiteIndexBuilder):
    """GX's index builder, reading of each run's stored result only what the index shows."""

    def _add_validations_to_index_links(self, index_links_dict, site_keys) -> None:
        # GX's DefaultSiteIndexBuilder._add_validations_to_index_links, with the result read as
        # JSON (success, run, asset) instead of deserialised into GX objects.
        config = self.site_section_builders_config.get("validations")
        if not config or config in FALSEY_YAML_STRINGS:
            return
        store = self.data_context.stores[self.source_stores["validations"]]
        keys = sorted(
            (
                key
                for key in site_keys
                if resource_key_passes_run_name_filter(key, config["run_name_filter"])
            ),
            key=lambda key: key.run_id.run_time,
            reverse=True,
        )
        for key in keys[: self.validation_results_limit or None]:
            try:
                result = json.loads(store.store_backend.get(store.key_to_tuple(key)))
            except Exception:  # as GX: a result that cannot be read is left out of the index
                log.warning("Validation result not found: %s - skipping", key.to_tuple())
                continue
            meta = result.get("meta") or {}
            batch_kwargs, batch_spec = meta.get("batch_kwargs", {}), meta.get("batch_spec", {})
            self.add_resource_info_to_index_links_dict(
                index_links_dict=index_links_dict,
                expectation_suite_name=key.expectation_suite_identifier.name,
                section_name="validations",
                batch_identifier=key.batch_identifier,
                run_id=key.run_id,
                validation_success=result.get("success"),
                run_time=key.run_id.run_time,
                run_name=key.run_id.run_name,
                asset_name=(
                    batch_kwargs.get("data_asset_name")
                    or batch_spec.get("data_asset_name")
                    or (meta.get("active_batch_definition") or {}).get("data_asset_name")
                ),
                batch_kwargs=batch_kwargs,
                batch_spec=batch_spec,
            )
