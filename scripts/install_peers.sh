#!/usr/bin/env bash
# The bootstrap's "peers" step: install the optional peer HEAR modules of requirements-peers.txt.
#
#   scripts/install_peers.sh [--python PY] [--requirements FILE] [--stamp FILE]
#
# Defaults: .venv/bin/python, requirements-peers.txt, .venv/.peers-stamp. Idempotent: does
# nothing when the stamp holds the checksum of the requirements file and of this script, so a
# changed pin (or a changed step) installs again and nothing else does. Lines of the form
# "#no-deps: PKG==VERSION" are installed with `pip install --no-deps` (their own pins cannot
# install on Python 3.11 / numpy 2.4); the other lines with their dependencies.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

PY=$ROOT/.venv/bin/python
REQS=$ROOT/requirements-peers.txt
STAMP=""
while (( $# )); do
    case $1 in
        --python) PY=$2; shift 2 ;;
        --requirements) REQS=$2; shift 2 ;;
        --stamp) STAMP=$2; shift 2 ;;
        *) echo "install_peers.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ -n $STAMP ]] || STAMP="$(dirname "$PY")/../.peers-stamp"
REQS=$(realpath "$REQS")

log() { printf '[bootstrap] peers: %s\n' "$*"; }

want=$(cat "$REQS" "$ROOT/scripts/install_peers.sh" | sha256sum | cut -d' ' -f1)
if [[ -f $STAMP && "$(cat "$STAMP")" == "$want" ]]; then
    log "up to date ($REQS)"
    exit 0
fi

PIP=("$PY" -m pip --disable-pip-version-check -q)
# pip install without the machine's warnings about its absent local package folders
pip_install() {
    local out rc=0
    out=$("${PIP[@]}" install "$@" 2>&1) || rc=$?
    [[ -z $out ]] || grep -v "is ignored: it is neither" <<<"$out" || true
    return $rc
}
no_deps=$(sed -n 's/^#no-deps:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$REQS")
if grep -qE '^[[:space:]]*[^#[:space:]]' "$REQS"; then
    log "installing $(grep -cE '^[[:space:]]*[^#[:space:]]' "$REQS") pinned packages of $REQS"
    pip_install -r "$REQS"
fi
if [[ -n $no_deps ]]; then
    log "installing with --no-deps: $(echo $no_deps)"
    # shellcheck disable=SC2086
    pip_install --no-deps $no_deps
fi
echo "$want" > "$STAMP"
log "done"
