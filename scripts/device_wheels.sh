#!/usr/bin/env bash
# The wheels a lent GPU machine lacks for training (pretrain/README.md, "Pretraining on a lent GPU"): its
# image (Python 3.12, torch 2.11, numpy, tqdm, tensorboard, ...) has no soundfile, nor soundfile's cffi, and
# its timm may not be the pinned one (the encoder is timm's). Downloads cp312 manylinux x86-64 wheels of the versions pinned here into .whl/ (git-ignored);
# scripts/device_pretrain.sh installs them there without network. Idempotent.
#   scripts/device_wheels.sh [DIR]      # default .whl
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.whl}
# soundfile and timm as requirements.txt pins them (soundfile's wheel bundles libsndfile 1.2.2, which reads
# Ogg Opus); cffi and pycparser as this checkout's .venv has them
wheels=(soundfile==0.14.0 timm==1.0.31 cffi==2.1.1 pycparser==3.12)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$dest" "${wheels[@]}"
ls -l "$dest"
du -sh "$dest"
