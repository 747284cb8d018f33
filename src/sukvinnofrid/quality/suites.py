"""The Great Expectations project's generated files: the suite, the validation definition and the
checkpoints of the quality gate, all generated from the rules (never edited by hand).

`build_suite()` makes one `ExpectationSuite` with one expectation per rule; the rule id, the
pipeline severity and the SUV number travel in the expectation's `meta`. Row rules without a
native GX expectation check their flag column of the batch relation (`rules.batch_query`),
which is the rule's SQL (also in `meta.sql`): all column expectations then run as one bundled
query instead of two queries per rule.

`write_gx_project(expectations/)` writes the suite, the validation definition (the suite over
the gate's work table) and the two checkpoints into the committed file data context
`expectations/`, whose `great_expectations.yml` (stores, the Data Docs site, the warehouse
datasource) is edited by hand. The gate loads and runs exactly these files (`quality.gate`); a
test regenerates them and compares. Ids are derived from the names (uuid5), so regenerating
gives the same bytes.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from .rules import Rule, build_rules

# GX is imported where a suite is built, not here: importing it costs seconds, and the gate
# needs the names even when it has nothing to validate.
if TYPE_CHECKING:
    import great_expectations as gx
    import great_expectations.expectations as gxe

SUITE_NAME = "su_kvinnofrid_upload"
# The committed GX file data context, top level in the repository (the design card's
# `expectations/`).
GX_PROJECT_DIR = "expectations"

# Names in expectations/great_expectations.yml (the datasource, the work-table asset, its batch
# definition, the Data Docs site) and of the generated validation definition and checkpoints.
DATASOURCE = "warehouse"
ASSET = "gate_batch"
BATCH_DEFINITION = "whole_table"
DATA_DOCS_SITE = "sukvinnofrid"
VALIDATION_DEFINITION = "upload_gate"
CHECKPOINT = "upload_gate"
CHECKPOINT_BOOLEAN_ONLY = "upload_gate_boolean_only"

# The pipeline severity as GX's own severity (shown in Data Docs; decisions use the rule's).
GX_SEVERITY = {"block": "critical", "reject": "warning", "error": "warning", "warn": "info"}
# Upload values stay out of GX's results and Data Docs (they are the kommun's data): counts and
# the failing rows' upload_id and source_row only. The kommun's report shows values, escaped
# (quality/feedback.py).
GX_RESULT_FORMAT = {
    "result_format": "SUMMARY",
    "unexpected_index_column_names": ["upload_id", "source_row"],
    "partial_unexpected_count": 20,
    "exclude_unexpected_values": True,
}
# For large batches the gate runs the checkpoint that reports success per expectation only:
# SUMMARY costs two extra queries per expectation (quality.gate.GX_DETAIL_MAX_ROWS).
GX_RESULT_FORMAT_BOOLEAN_ONLY = {"result_format": "BOOLEAN_ONLY", "exclude_unexpected_values": True}


def gx_id(kind: str, name: str) -> str:
    """A stable id for a GX object (the same in every checkout, so the files do not churn)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sukvinnofrid:gx:{kind}:{name}"))


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
        meta={
            "generated_from": "src/sukvinnofrid/catalogue/variables.yaml",
            "generator": "sukvinnofrid.quality.suites",
        },
    )


def _json(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def suite_json(suite: gx.ExpectationSuite | None = None) -> str:
    """The suite as deterministic JSON, as GX's expectations store reads it (with ids derived
    from the suite name and the rule ids: GX gives a suite's expectations ids only when a
    store adds them, and random ones)."""
    document = (suite or build_suite()).to_json_dict()
    document["id"] = gx_id("suite", SUITE_NAME)
    for expectation in document.get("expectations", []):
        expectation["id"] = gx_id("expectation", f"{SUITE_NAME}/{expectation['meta']['rule_id']}")
    # The installed GX version would make every upgrade look like a catalogue change.
    document.get("meta", {}).pop("great_expectations_version", None)
    return _json(document)


def _bundle(kind: str, name: str, path: str | None = None) -> dict:
    """How GX files refer to another object: its name and id (`path`: the name within its
    parents, for ids of assets and batch definitions)."""
    return {"id": gx_id(kind, path or name), "name": name}


def validation_definition_json() -> str:
    """The suite over the whole work table (the asset the gate points at its run's table)."""
    return _json(
        {
            "data": {
                "datasource": _bundle("datasource", DATASOURCE),
                "asset": _bundle("asset", ASSET, f"{DATASOURCE}/{ASSET}"),
                "batch_definition": _bundle(
                    "batch_definition", BATCH_DEFINITION, f"{DATASOURCE}/{ASSET}/{BATCH_DEFINITION}"
                ),
            },
            "id": gx_id("validation_definition", VALIDATION_DEFINITION),
            "name": VALIDATION_DEFINITION,
            "suite": _bundle("suite", SUITE_NAME),
        }
    )


def checkpoint_json(name: str, result_format: dict) -> str:
    """A checkpoint of the validation definition that updates the Data Docs site."""
    return _json(
        {
            "actions": [
                {"name": "data_docs", "site_names": [DATA_DOCS_SITE], "type": "update_data_docs"}
            ],
            "id": gx_id("checkpoint", name),
            "name": name,
            "result_format": result_format,
            "validation_definitions": [_bundle("validation_definition", VALIDATION_DEFINITION)],
        }
    )


def gx_project_files() -> dict[str, str]:
    """{path under expectations/: text} of every generated file of the GX project."""
    return {
        f"expectations/{SUITE_NAME}.json": suite_json(),
        f"validation_definitions/{VALIDATION_DEFINITION}.json": validation_definition_json(),
        f"checkpoints/{CHECKPOINT}.json": checkpoint_json(CHECKPOINT, GX_RESULT_FORMAT),
        f"checkpoints/{CHECKPOINT_BOOLEAN_ONLY}.json": checkpoint_json(
            CHECKPOINT_BOOLEAN_ONLY, GX_RESULT_FORMAT_BOOLEAN_ONLY
        ),
    }


def write_gx_project(directory: Path) -> list[Path]:
    """Write the generated files into the GX project `directory` (expectations/); returns their
    paths."""
    written = []
    for relative, text in gx_project_files().items():
        path = Path(directory) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
