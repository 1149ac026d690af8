#!/usr/bin/env bash
# Installs submarine-jupyter into ./.venv. With --test, also what the tests need:
# the test extra (pytest-jupyter, playwright, torch CPU...), Debian's Chromium for the
# panel's browser tests, and a kube-apiserver + etcd for the Kubernetes backend tests
# (built once from Debian's source package and cached; see scripts/build_k8s.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

extra=""
if [ "${1:-}" = "--test" ]; then extra="[test]"; fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
.venv/bin/python -m pip install --quiet -e ".${extra}" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import submarine_jupyter.server.app" # fail here, not later, if the install broke

if [ -n "$extra" ]; then
    if ! command -v chromium >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends chromium >/dev/null
    fi
    bash scripts/build_k8s.sh
fi
