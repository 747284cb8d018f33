#!/usr/bin/env bash
# Lint (sets up first): ruff's lint and format check over the Python, sqlfluff with the dbt
# templater over the dbt models, singular tests and snapshot (scripts/lint_sql.py: compiled
# against a throwaway embedded warehouse). Every check runs; the exit code is 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
status=0
.venv/bin/ruff check . || status=1
.venv/bin/ruff format --check . || status=1
.venv/bin/python scripts/lint_sql.py lint || status=1
exit "$status"
