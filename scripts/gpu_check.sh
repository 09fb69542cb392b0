#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): training step at batch 256 and 1024 (fp32, bf16 + channels_last,
# torch.compile), torchrun with NCCL and identical weights on every rank, HEAR throughput on CUDA.
# About 8 minutes on one GPU; without a GPU a small CPU fallback runs the same code.
#   scripts/gpu_check.sh OUT_DIR        # or: OUT=dir scripts/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[[ -x $python ]] || python=python3
if [[ $# -gt 0 && $1 != -* ]]; then out=$1; shift; else out=${OUT:-}; fi
if [[ -z $out ]]; then
    echo "usage: scripts/gpu_check.sh OUT_DIR [--device cpu|cuda] [--weights FILE]  (or set \$OUT)" >&2
    exit 2
fi
exec "$python" -m benchmarks.gpu_check "$out" "$@"
