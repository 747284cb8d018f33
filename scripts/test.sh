#!/usr/bin/env bash
# Runs the test suite (sets up first). Extra arguments go to pytest.
# By default on two pytest-xdist workers (SUKF_TEST_WORKERS; 0: one process), each with its own
# embedded Postgres, Airflow home and dbt target (tests/conftest.py). A module's tests go to one
# worker, so they share its landed round, and the modules that read report_round() go to one
# worker together, so it is built once (tests/conftest.py's scheduler); the groups with a slow
# test go first, in the order conftest gives them (not xdist's reorder by size alone), so a
# module may follow ones it never follows in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
workers=${SUKF_TEST_WORKERS:-2}
exec .venv/bin/python -m pytest -n "$workers" --dist loadfile --no-loadscope-reorder "$@"
