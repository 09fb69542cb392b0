#!/usr/bin/env bash
# The main job, end to end on the built-in offline data (run through `make main`, which first
# creates or updates .venv). Safe to run again: built data, finished runs and cached embeddings
# are reused; an interrupted pretraining run resumes from its last checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
OUT=${COLA_MAIN_OUT:-runs/main}
SUITE=${COLA_SUITE:-data/suite}
POOL=${COLA_POOL:-data/pool}
step() { printf '\n[main] ==== %s\n' "$*"; }
start=$SECONDS

# Independent steps run side by side, one thread each, so both cores stay busy (wait_all fails if any failed).
wait_all() { local pid failed=0; for pid in "$@"; do wait "$pid" || failed=1; done; return "$failed"; }

# Built data is reused when it is complete (delete the folder to rebuild after changing the builder). The probes
# that need only the suite start when it is built, while the pool may still be building.
step "1-2/6 offline downstream suite -> $SUITE and unlabelled pretraining pool, disjoint from its sources -> $POOL"
if cola-suite check "$SUITE" >/dev/null 2>&1; then
    echo "[main] $SUITE passes the schema check, reusing it"
    suite_pid=
else
    cola-suite build --out "$SUITE" & suite_pid=$!
fi
if [[ -f $POOL/manifest.json ]]; then
    echo "[main] $POOL/manifest.json found, reusing the pool"
    pool_pid=
else
    cola-suite pool --out "$POOL" & pool_pid=$!
fi
wait_all $suite_pid

# A few minutes of training touch a small part of the 23 h pool: three of its folders (English voice
# acting and music, spoken words in 8 languages, effects; 1.2 h) keep the audio cache small and quick.
SMOKE_DATA=("$POOL/fillets-ng-data" "$POOL/qabcs-data" "$POOL/scorched3d-data")
pretrain() {
    if [[ -f $OUT/pretrain/summary.json && -f $OUT/pretrain/model.safetensors ]]; then
        echo "[main] finished run found, reusing it"
        return
    fi
    local resume=()
    compgen -G "$OUT/pretrain/checkpoints/step-*.pt" >/dev/null && resume=(--resume)
    OMP_NUM_THREADS=1 cola-pretrain --config smoke --data "${SMOKE_DATA[@]}" --out "$OUT/pretrain" \
        --set train.threads=1 "${resume[@]}"
}
probe() { OMP_NUM_THREADS=1 cola-eval probe --tasks-dir "$SUITE" --results-dir "$OUT/results" "$@"; }

step "3+5/6 short COLA pretraining on part of the pool (pretrain/configs/smoke.toml) -> $OUT/pretrain, beside the"\
" linear probes on the suite: shipped COLA weights, the no-learning control, random init, log-mel statistics"
# The random-init network gets the shipped weights' config (--like), so it is read out the same way
# (hear.readout: stages 0 and 3, mean and std over time). The control is that network with only its BatchNorm
# statistics taken from the pool the shipped weights were trained on (cola-pretrain calibrate, the shipped
# recipe's data pipeline, no weight change), read out the same way: what the shipped weights owe to learning
# is their lead over it. The names are those experiments.toml gives these models at the shipped read-out.
random="$OUT/weights/random-init-like-default-s0.safetensors"
control="$OUT/weights/control-like-default-s0.safetensors"
readout=$(python -c 'import json, cola_hear; print(json.dumps(list(cola_hear.load_model().config.hear.readout)))')
[[ -f $random ]] || cola-eval random-weights --seed 0 --like "$(python -c 'import cola_hear; print(cola_hear.default_weights_path())')" --out "$random"
control_probe() {
    [[ -f $control ]] || OMP_NUM_THREADS=1 cola-pretrain calibrate --config transfer --data "$POOL" --seed 0 \
        --batches 100 --set "hear.readout=$readout" --no-progress --out "$control"
    probe --module cola_hear --weights "$control" --name random-init-stage03-bn-s0
}
{ probe --module cola_hear --name cola && probe --module cola_eval.models.baselines.logmel_stats --name logmel-stats; } & main_pid=$!
probe --module cola_hear --weights "$random" --name random-init-stage03 & random_pid=$!
wait_all $pool_pid || { wait; exit 1; }  # a failed pool build fails the job once the running probes end
pretrain & pretrain_pid=$!
control_probe & control_pid=$!
wait_all $pretrain_pid $main_pid $control_pid $random_pid

step "4/6 the real hear-validator: shipped default weights, then the weights just trained"
hear-validator cola_hear
hear-validator cola_hear --model "$OUT/pretrain/model.safetensors"

step "6/6 tables and plots -> $OUT/results/README.md"
cola-eval report --results-dir "$OUT/results"
printf '\n[main] done in %d min. Tables: %s/results/README.md; trained weights: %s/pretrain/model.safetensors\n' \
    $(((SECONDS - start) / 60)) "$OUT" "$OUT"
