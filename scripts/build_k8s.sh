#!/bin/bash
# Build (once) the real kube-apiserver used by the Kubernetes-backend tests, and install etcd.
#
#   scripts/build_k8s.sh            # idempotent; exits in well under a second when cached
#
# Result: ${SUBMARINE_K8S_CACHE:-$HOME/.cache/submarine-jupyter/k8s-1.20.2}/kube-apiserver
# (Kubernetes v1.20.2 from Debian bookworm's *source* package `kubernetes`, built with
# golang-1.19-go) and /usr/bin/etcd from Debian's etcd-server. The recipe, its pitfalls and
# timings are in ../shared/notes/kubernetes-testenv.md. Takes 7-10 min on 2 cores when cold.
#
# Environment:
#   SUBMARINE_K8S_CACHE     where the binary is cached (default above)
#   SUBMARINE_K8S_WORK      scratch dir for the build (default: $SUBMARINE_K8S_CACHE.work)
#   SUBMARINE_K8S_KEEP_WORK=1  keep the unpacked source tree and Go build cache afterwards
#   SUBMARINE_K8S_FORCE=1   rebuild even when the binary is cached
set -euo pipefail

CACHE=${SUBMARINE_K8S_CACHE:-$HOME/.cache/submarine-jupyter/k8s-1.20.2}
WORK=${SUBMARINE_K8S_WORK:-$CACHE.work}
BIN=$CACHE/kube-apiserver
export DEBIAN_FRONTEND=noninteractive

log() { echo "[build_k8s $(date +%H:%M:%S)] $*" >&2; }

SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

# Install the given Debian packages if any is missing; `apt-get update` first when needed
# (a fresh machine has no package lists), and once more if the install fails on stale lists.
APT_UPDATED=0
ensure_pkgs() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing: ${missing[*]}"
    if [ $APT_UPDATED = 0 ] && ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
        $SUDO apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null; APT_UPDATED=1
    fi
    if ! $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
        [ $APT_UPDATED = 1 ] && return 1
        $SUDO apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null; APT_UPDATED=1
        $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# Runtime needs: etcd (server) and openssl (the harness makes its certificates/keys).
ensure_pkgs etcd-server openssl

if [ -x "$BIN" ] && [ "${SUBMARINE_K8S_FORCE:-0}" != 1 ]; then
    log "cached: $BIN"
    exit 0
fi

mkdir -p "$CACHE"
# One build at a time (e.g. CI and a developer shell).
exec 9>"$CACHE/.build.lock"
flock 9
if [ -x "$BIN" ] && [ "${SUBMARINE_K8S_FORCE:-0}" != 1 ]; then
    log "cached (built by a concurrent run): $BIN"; exit 0
fi

T0=$(date +%s)
ensure_pkgs golang-1.19-go rsync jq make ca-certificates \
    golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev

# Private apt configuration with deb-src twins of this machine's own Debian sources, so the
# system's sources are left untouched. Any Debian revision of the source package will do
# (security updates replace old ones on the mirror): upstream is always ...really1.20.2.
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/apt/sources.d" "$WORK/src"
rm -f "$WORK/apt/sources.d/"*
if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
    for f in /etc/apt/sources.list.d/*.sources; do
        grep -q 'debian' "$f" || continue
        sed 's/^Types: deb$/Types: deb-src/' "$f" > "$WORK/apt/sources.d/$(basename "$f")"
    done
fi
if [ -f /etc/apt/sources.list ] && grep -q '^deb ' /etc/apt/sources.list; then
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > "$WORK/apt/sources.d/from-sources-list.list"
fi
if [ -z "$(ls "$WORK/apt/sources.d")" ]; then
    printf 'deb-src http://deb.debian.org/debian bookworm main\ndeb-src http://deb.debian.org/debian-security bookworm-security main\n' \
        > "$WORK/apt/sources.d/fallback.list"
fi
A=(-o APT::Sandbox::User=root -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$WORK/apt/sources.d"
   -o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache=$WORK/apt/cache")

cd "$WORK/src"
if ! ls kubernetes_*really1.20.2.orig.tar.gz >/dev/null 2>&1; then
    log "apt source kubernetes (download only)"
    apt-get "${A[@]}" update -q >/dev/null
    apt-get "${A[@]}" source --download-only kubernetes >/dev/null
fi
TARBALL=$(ls kubernetes_*really1.20.2.orig.tar.gz | head -n1)
log "unpacking $TARBALL"
rm -rf kubernetes-1.20.2
tar xzf "$TARBALL"
cd kubernetes-1.20.2

# Go >= 1.18 needs reflect2 >= 1.0.2: with the vendored 1.0.1 the apiserver dies with
# "fatal error: fault" on the first custom-object create. Use Debian's newer copies.
V=vendor/github.com
rm -rf "$V/modern-go/reflect2" "$V/json-iterator/go"
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$V/modern-go/reflect2"
cp -r /usr/share/gocode/src/github.com/json-iterator/go "$V/json-iterator/go"
find "$V/modern-go/reflect2" "$V/json-iterator/go" -name '*_test.go' -delete

# GOPATH mode through upstream `make`, like debian/rules (make runs the code generators).
export PATH=/usr/lib/go-1.19/bin:$PATH GOPATH=$PWD/.go GOCACHE=$WORK/gocache GOPROXY=off \
       GOFLAGS= GO111MODULE=off CGO_ENABLED=0 HOME=$WORK/home
mkdir -p "$HOME" .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes
log "make WHAT=cmd/kube-apiserver (several minutes)"
make WHAT=cmd/kube-apiserver GOLDFLAGS="-s -w"

cp _output/bin/kube-apiserver "$BIN.tmp"
"$BIN.tmp" --version
mv -f "$BIN.tmp" "$BIN"
cd "$WORK/src"
if [ "${SUBMARINE_K8S_KEEP_WORK:-0}" != 1 ]; then
    rm -rf "$WORK/src/kubernetes-1.20.2" "$WORK/gocache" "$WORK/home"
fi
log "built $BIN in $(( $(date +%s) - T0 )) s"
