"""The Great Expectations suite of an upload, generated from the rules (never edited by hand).

`build_suite()` makes one `ExpectationSuite` with one expectation per rule; the rule id, the
pipeline severity and the SUV number travel in the expectation's `meta`. Row rules without a
native GX expectation check their flag column of the batch relation (`rules.batch_query`),
which is the rule's SQL (also in `meta.sql`): all column expectations then run as one bundled
query instead of two queries per rule.
`write_suites()` writes the JSON committed under `expectations/`; a test keeps it up to date.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from .rules import Rule, build_rules

# GX is imported where a suite is built, not here: importing it costs seconds, and the gate
# needs SUITE_NAME even when it has nothing to validate.
if TYPE_CHECKING:
    import great_expectations as gx
    import great_expectations.expectations as gxe

SUITE_NAME = "su_kvinnofrid_upload"
# The pipeline severity as GX's own severity (shown in Data Docs; decisions use the rule's).
GX_SEVERITY = {"block": "critical", "reject": "warning", "error": "warning", "warn": "info"}


def rule_meta(rule: Rule) -> dict:
    return {
        "rule_id": rule.rule_id,
        "severity": rule.severity,
        "suv": rule.suv,
        "family": rule.family,
    }


def build_expectation(rule: Rule) -> gxe.Expectation:
    import great_expectations.expectations as gxe

    name, kwargs = rule.gx_expectation()
    meta = rule_meta(rule)
    extra = {}
    if rule.expectation is None:
        # A flag rule: the flag column of the batch relation is the rule's SQL.
        meta["sql"] = rule.sql
        extra["description"] = f"{rule.rule_id}: {rule.message}"
    return getattr(gxe, name)(
        **kwargs,
        meta=meta,
        notes=f"{rule.message} {rule.hint}",
        severity=GX_SEVERITY[rule.severity],
        **extra,
    )


def build_suite(rules: tuple[Rule, ...] | None = None) -> gx.ExpectationSuite:
    import great_expectations as gx

    rules = rules if rules is not None else build_rules()
    return gx.ExpectationSuite(
        name=SUITE_NAME,
        expectations=[build_expectation(rule) for rule in rules],
        meta={"generated_from": "src/sukvinnofrid/catalogue/variables.yaml",
              "generator": "sukvinnofrid.quality.suites"},
    )


def suite_json(suite: gx.ExpectationSuite | None = None) -> str:
    """The suite as deterministic JSON (no generated ids)."""
    document = (suite or build_suite()).to_json_dict()
    document.pop("id", None)
    for expectation in document.get("expectations", []):
        expectation.pop("id", None)
    # The installed GX version would make every upgrade look like a catalogue change.
    document.get("meta", {}).pop("great_expectations_version", None)
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_suites(directory: Path) -> list[Path]:
    """Write the generated suite(s) as JSON into `directory`; returns the written paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{SUITE_NAME}.json"
    path.write_text(suite_json(), encoding="utf-8")
    return [path]
