#!/usr/bin/env bash
# Installs submarine-jupyter into ./.venv. With --test, also what the tests need:
# the test extra (pytest-jupyter, playwright, torch CPU...), Debian's Chromium for the
# panel's browser tests, and a kube-apiserver + etcd for the Kubernetes backend tests
# (built once from Debian's source package and cached; see scripts/build_k8s.sh), and
# the panel's node tools (eslint, prettier, tsc, openapi-typescript) in
# labextension/node_modules, from the committed yarn.lock, again only when it changes.
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
    missing=""
    command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
    command -v node >/dev/null 2>&1 || missing="$missing nodejs"
    if [ -n "$missing" ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
    bash scripts/build_k8s.sh

    # jlpm (yarn) comes with jupyterlab in the venv; the stamp skips a second install.
    stamp=labextension/node_modules/.installed-from.sha256
    want="$(cat labextension/package.json labextension/yarn.lock labextension/.yarnrc.yml | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        log="$(mktemp)"
        if ! (cd labextension && PATH="$PWD/../.venv/bin:$PATH" jlpm install --immutable) >"$log" 2>&1; then
            cat "$log" >&2
            exit 1
        fi
        rm -f "$log"
        echo "$want" >"$stamp"
    fi
fi
