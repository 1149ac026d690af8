#!/usr/bin/env bash
# Build the JupyterLab panel into submarine_jupyter/labextension/ (committed) and stamp
# the source hash that tests/test_prebuilt.py checks. The API types are regenerated first
# (scripts/panel_types.py), so the bundle is built from the wire models of this checkout.
# Needs Node.js and the npm registry; installing the Python package never runs this.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VIRTUAL_ENV:-$root/.venv}"
export PATH="$venv/bin:$PATH"   # jlpm and jupyter-builder come with jupyterlab
python="$venv/bin/python"
cd "$root/labextension"
jlpm install --immutable
"$python" "$root/scripts/panel_types.py"   # openapi.json and the TS generated from it
jlpm build:prod
"$python" "$root/scripts/labext_hash.py" --write
