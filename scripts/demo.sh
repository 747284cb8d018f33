#!/usr/bin/env bash
# Quick start: set up, then run the whole chain on the embedded warehouse with a demo round.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/sukvinnofrid demo "$@"
