#!/usr/bin/env bash
# Runs the test suite (sets up first). Extra arguments go to pytest.
# SUKF_TEST_WORKERS=2 runs the modules on two pytest-xdist workers (a module's tests on one
# worker, so they share its landed round; each worker has its own embedded Postgres, Airflow
# home and dbt target). The default is one process: on two workers the browser tests failed in
# both full runs (docs: README, Tests) and pass alone, and the cause is not found yet.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
workers=${SUKF_TEST_WORKERS:-0}
exec .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
