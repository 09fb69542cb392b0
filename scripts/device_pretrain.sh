#!/usr/bin/env bash
# One pretraining run on a lent GPU machine (scripts/device_pretrain.py): gpu.toml on data/compact for a
# wall-clock budget (8 minutes, set-up included), then log.csv, summary.json and float16 weights of the last
# step and of up to 5 checkpoints (nearest to 250k/500k/1M/1.5M/2M pairs) in OUT_DIR: at most 8 files.
# Where python3 lacks soundfile or this checkout's packages (the GPU machine), it installs the carried
# wheels of .whl/ and this checkout into /tmp/site first, without network. Without CUDA, a tiny CPU run.
#   scripts/device_pretrain.sh OUT_DIR [--init W.safetensors] [--minutes 8] [--commit SHA] [--cpu-smoke]
#   (or: OUT=dir scripts/device_pretrain.sh ...)
set -euo pipefail
export COLA_DEVICE_T0=${COLA_DEVICE_T0:-$(date +%s.%N)}
cd "$(dirname "$0")/.."
python=.venv/bin/python
[[ -x $python ]] || python=python3
needed="import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in sys.argv[1:]))"
if ! "$python" -c "$needed" soundfile cola_pretrain cola_hear cola_common; then
    site=${COLA_SITE:-/tmp/site}
    pip=("$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site")
    if compgen -G ".whl/*.whl" >/dev/null; then "${pip[@]}" .whl/*.whl; fi
    "${pip[@]}" --no-build-isolation .
    export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
fi
if [[ $# -gt 0 && $1 != -* ]]; then out=$1; shift; else out=${OUT:-}; fi
if [[ -z $out ]]; then
    echo "usage: scripts/device_pretrain.sh OUT_DIR [--init W.safetensors] [--minutes M] [--cpu-smoke]  (or set \$OUT)" >&2
    exit 2
fi
export PYTHONUNBUFFERED=1
exec "$python" scripts/device_pretrain.py "$out" "$@"
