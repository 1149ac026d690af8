#!/usr/bin/env bash
# The test command: installs what the tests need (cached after the first run), then runs them.
# Arguments go to pytest, e.g. scripts/test.sh tests/test_validation.py -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
