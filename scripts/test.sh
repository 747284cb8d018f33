#!/usr/bin/env bash
# Runs the test suite (sets up first). Extra arguments go to pytest.
# By default on two pytest-xdist workers (SUKF_TEST_WORKERS; 0: one process): a module's tests
# on one worker, so they share its landed round; each worker has its own embedded Postgres,
# Airflow home and dbt target (tests/conftest.py). The largest modules go first (xdist's
# loadscope reorder), so a module may follow ones it never follows in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
workers=${SUKF_TEST_WORKERS:-2}
exec .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
