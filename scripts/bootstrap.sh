#!/usr/bin/env bash
# Create or update the project's virtual environment (.venv) and the Debian tools it needs.
# Idempotent: does nothing when the pinned requirements have not changed since the last run.
# Steps: Debian tools; the pinned stack (stamp .venv/.bootstrap-stamp); the optional peer HEAR
# modules (scripts/install_peers.sh, stamp .venv/.peers-stamp; COLA_PEERS=0 skips them).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV=.venv
STAMP=$VENV/.bootstrap-stamp
HEAR_TOOLS="heareval==2021.1.3 hearvalidator==2021.0.2"
UV="uv==0.13.9"

log() { printf '[bootstrap] %s\n' "$*"; }

# Debian tools (binaries only; data packages are fetched into a cache by the suite builder).
missing=()
while read -r pkg bin; do
    [[ -z "$pkg" || "$pkg" == \#* ]] && continue
    command -v "$bin" >/dev/null 2>&1 || missing+=("$pkg")
done < scripts/debian-packages.txt
if (( ${#missing[@]} )); then
    log "installing Debian packages: ${missing[*]}"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    log "Debian packages present"
fi

want=$(cat requirements.txt requirements-hear.txt requirements-dev.txt setup.cfg scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [[ -x $VENV/bin/python && -f $STAMP && "$(cat "$STAMP")" == "$want" ]]; then
    log "virtual environment $VENV is up to date"
else
    [[ -x $VENV/bin/python ]] || { log "creating $VENV with $($PYTHON --version)"; "$PYTHON" -m venv "$VENV"; }
    PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
    # pip install without the machine's warnings about its absent local package folders
    pip_install() { "${PIP[@]}" install "$@" 2>&1 | grep -v "is ignored: it is neither" || true; }
    # uv (from PyPI) installs the pinned set with parallel downloads (set-up took about 2 minutes on
    # the 2-core host instead of 5 with pip); it compiles bytecode at install time, as pip does, so
    # the first imports stay fast.
    log "installing $UV into $VENV"
    pip_install "$UV"
    log "installing pinned packages (torch 2.11.0 stack, HEAR tools' dependencies, dev tools); the first run takes a minute or two"
    REQS=(-r requirements.txt -r requirements-hear.txt -r requirements-dev.txt)
    [[ -n ${PIP_INDEX_URL:-} ]] && export UV_DEFAULT_INDEX=$PIP_INDEX_URL  # the same index as pip
    if ! "$VENV/bin/uv" pip install --compile-bytecode --python "$VENV/bin/python" "${REQS[@]}"; then
        log "uv failed; installing with pip instead"
        "${PIP[@]}" install "${REQS[@]}"
    fi
    log "installing $HEAR_TOOLS (--no-deps: their numpy 1.19 pins cannot install on Python 3.11)"
    pip_install --no-deps $HEAR_TOOLS
    # setuptools' default editable mode: its import hook maps the installed names onto the folders
    # (cola_eval -> eval/, setup.cfg's package_dir); the "compat" mode, a path entry, cannot rename.
    log "installing cola-hear in editable mode"
    pip_install --no-deps --no-build-isolation -e .
    "$VENV/bin/python" -c "import cola_hear, cola_common, cola_pretrain, cola_eval, cola_suite, heareval, hearvalidator, torch, torchaudio; print('[bootstrap] torch', torch.__version__, 'torchaudio', torchaudio.__version__)"
    echo "$want" > "$STAMP"
    log "pinned stack installed"
fi

# Step "peers": the optional peer HEAR modules (requirements-peers.txt), with their own stamp, so
# a changed peer pin installs only the peers. COLA_PEERS=0 skips the step.
if [[ ${COLA_PEERS:-1} == 0 ]]; then
    log "peers skipped (COLA_PEERS=0)"
else
    bash scripts/install_peers.sh --python "$VENV/bin/python" --stamp "$VENV/.peers-stamp"
fi
log "done"
