#!/usr/bin/env bash
# Runs the test suite (sets up first). Extra arguments go to pytest.
# The modules run on SUKF_TEST_WORKERS pytest-xdist workers (default: one per core, at most
# 2; each worker has its own embedded Postgres, Airflow home and dbt target), a module's tests
# always on one worker so they share its landed round. SUKF_TEST_WORKERS=0 runs in-process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cores=$(nproc 2>/dev/null || echo 1)
workers=${SUKF_TEST_WORKERS:-$((cores < 2 ? cores : 2))}
exec .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
