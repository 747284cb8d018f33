"""sqlfluff with the dbt templater, against a throwaway embedded warehouse.

The dbt templater compiles every model it lints, and compiling needs a warehouse: is_incremental()
asks whether the model's table exists and national_figure_measures() reads the figures'
categories from int_figure_categories with run_query. So this starts its own embedded PostgreSQL
in a temporary directory (never the project's .warehouse/ nor SUKF_WAREHOUSE_URL), loads the
seeds, builds every model (on an empty raw schema: seconds) and runs sqlfluff with the arguments
given, e.g.

    .venv/bin/python scripts/lint_sql.py            # lint the models, singular tests, snapshot
    .venv/bin/python scripts/lint_sql.py lint dbt_project/models/marts/fct_case_funnel.sql
    .venv/bin/python scripts/lint_sql.py fix dbt_project/models/marts/fct_case_funnel.sql

dbt's target/ and logs/ go to the temporary directory too, so the project's partial parse is
left alone. The models are linted as an incremental build compiles them: their tables exist, so
is_incremental() is true and the SQL that finds what changed is rendered and linted (the full
build's alternative is the condition `true`). The macros are not linted on their own (the dbt
templater skips them): what they produce is parsed and linted inside the models that call them.
Exit code: sqlfluff's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINTED = ["dbt_project/models", "dbt_project/tests", "dbt_project/snapshots"]
# The connection and the stage logins of a real installation are never used here.
NOT_INHERITED = (
    "SUKF_WAREHOUSE_URL",
    "SUKF_INTAKE_PASSWORD",
    "SUKF_QUALITY_PASSWORD",
    "SUKF_TRANSFORM_PASSWORD",
    "SUKF_PUBLISH_PASSWORD",
)


def main(args: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="sukf-lint-") as tmp:
        for name in NOT_INHERITED:
            os.environ.pop(name, None)
        os.environ.update(
            SUKF_HOME=str(ROOT),
            SUKF_PGDATA=str(Path(tmp, "pgdata")),
            SUKF_PSEUDONYM_KEY="lint-only-not-a-secret",
            DBT_TARGET_PATH=str(Path(tmp, "target")),
            DBT_LOG_PATH=str(Path(tmp, "logs")),
        )
        # Imported once the environment is set: the settings are read once per process.
        from sukvinnofrid import transform, warehouse

        try:
            warehouse.ensure_schema()
            transform.run_dbt(["seed", "--quiet"])
            transform.run_dbt(["run", "--quiet"])
            os.environ.update(warehouse.dbt_environment())
            return subprocess.call([sys.executable, "-m", "sqlfluff", *args], cwd=ROOT)
        finally:
            warehouse.stop_embedded()


if __name__ == "__main__":
    arguments = sys.argv[1:] or ["lint"]
    # A command with no path lints the models, singular tests and snapshot (not the whole repo).
    if not any(Path(argument).exists() for argument in arguments[1:]):
        arguments += LINTED
    sys.exit(main(arguments))
