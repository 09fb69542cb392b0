#!/usr/bin/env bash
# Reproduce everything in results/, pretraining included (run through `make reproduce`).
#
#   bash scripts/reproduce.sh [STAGE ...]     stages: data pretrain ship probe finetune hear bench report
#
# With no stage, all run in that order; each is safe to run again (built data, finished runs and
# cached embeddings are reused; an interrupted pretraining run resumes). About 3 hours on the
# 2-core CPU machine: the three pretraining runs take about 65 minutes side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
SUITE=${COLA_SUITE:-data/suite}
POOL=${COLA_POOL:-data/pool}
RUNS=${COLA_RUNS:-runs/repro}
STEPS=${COLA_STEPS:-1750}        # pretraining steps of every objective: the same budget for all three
CURVE=${COLA_CURVE:-"250 500 1000"}  # earlier checkpoints on the probe-vs-steps curves
SHIP=${COLA_SHIP:-cosine}        # the run shipped as the default weights (best COLA run on validation)
WEIGHTS=$RUNS/weights
stage() { printf '\n[reproduce] ==== %s\n' "$*"; }

data() {
    stage "suite, pool and data sheet"
    cola-suite check "$SUITE" >/dev/null 2>&1 || cola-suite build --out "$SUITE"
    [[ -f $POOL/manifest.json ]] || cola-suite pool --out "$POOL"
    cola-suite datasheet "$SUITE" --out results/datasheet.md
}

pretrain() {
    # The three objectives side by side, one thread each: on two cores this gives more pairs per
    # second in total than one process with two threads (results/benchmarks.csv, section 5).
    stage "pretraining: bilinear, cosine and triplet, $STEPS steps each (pretrain/configs/robust.toml)"
    local pids=() obj resume
    for obj in bilinear cosine triplet; do
        resume=()
        compgen -G "$RUNS/$obj/checkpoints/step-*.pt" >/dev/null && resume=(--resume)
        OMP_NUM_THREADS=1 cola-pretrain --config robust --objective "$obj" --data "$POOL" --out "$RUNS/$obj" \
            --max-steps "$STEPS" --no-progress "${resume[@]}" >"$RUNS-$obj.log" 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
}

ship() {
    # The run to ship was chosen on the probe's validation averages (results/README.md, "Model selection").
    stage "ship the $SHIP run's step-$STEPS checkpoint as the default weights"
    python scripts/ship_default_weights.py "$RUNS/$SHIP" --step "$STEPS"
    local obj
    for obj in bilinear cosine triplet; do
        python scripts/ship_default_weights.py --log-only "$RUNS/$obj" --step "$STEPS" --log-name "$obj.csv"
    done
}

export_step() {  # export_step RUN STEP -> path of the fp16 weights of that checkpoint
    local out=$WEIGHTS/$1-$2.safetensors
    [[ -f $out ]] || cola-pretrain export "$(printf '%s/%s/checkpoints/step-%08d.pt' "$RUNS" "$1" "$2")" "$out" --fp16 >&2
    echo "$out"
}

probe() {
    stage "linear probes on $SUITE: shipped weights, objectives, checkpoints, read-out variant, baselines"
    mkdir -p "$WEIGHTS"
    local random=$WEIGHTS/random-init-s0.safetensors run step
    [[ -f $random ]] || cola-eval random-weights --seed 0 --out "$random"
    cola-eval probe --module cola_hear --name cola --tasks-dir "$SUITE"
    for run in bilinear cosine; do
        local curve=$CURVE
        [[ $run == cosine ]] && curve=${CURVE#250 }  # the published cosine curve starts at 500 steps
        for step in $curve $STEPS; do
            cola-eval probe --module cola_hear --weights "$(export_step $run "$step")" --name "$run@$step" \
                --tasks-dir "$SUITE"
        done
    done
    # the objectives at the same budget (the same files as the curves' last points: cached embeddings)
    cola-eval probe --module cola_hear --weights "$(export_step bilinear "$STEPS")" --name cola-bilinear --tasks-dir "$SUITE"
    cola-eval probe --module cola_hear --weights "$(export_step cosine "$STEPS")" --name cola-cosine --tasks-dir "$SUITE"
    cola-eval probe --module cola_hear --weights "$(export_step triplet "$STEPS")" --name triplet --tasks-dir "$SUITE"
    # the read-out: mean instead of max pooling on the bilinear weights
    local avg=$WEIGHTS/bilinear-$STEPS-avgpool.safetensors
    [[ -f $avg ]] || python scripts/weights_variant.py "$(export_step bilinear "$STEPS")" "$avg" --fp16 \
        --set encoder.pooling=avg
    cola-eval probe --module cola_hear --weights "$avg" --name bilinear-avgpool --tasks-dir "$SUITE"
    cola-eval probe --module cola_hear --weights "$random" --name random-init --tasks-dir "$SUITE"
    cola-eval probe --module eval.baselines.logmel_stats --name logmel-stats --tasks-dir "$SUITE"
}

finetune() {
    stage "fine-tuning the whole encoder: shipped weights vs random init on music style"
    cola-eval finetune --weights cola_hear/assets/default.safetensors --name cola --tasks-dir "$SUITE" \
        --task music_style-v1.0.0-full --seeds 1 --epochs 10
}

hear() {
    stage "the HEAR protocol (heareval's MLP) on the shipped weights and the baselines"
    cola-eval hear --module cola_hear --name cola --tasks-dir "$SUITE" --grid faster
    cola-eval hear --module eval.baselines.logmel_stats --name logmel-stats --tasks-dir "$SUITE" --grid faster
}

bench() {
    stage "benchmarks (take them on an otherwise idle machine)"
    python -m benchmarks
}

report() {
    stage "results/README.md"
    cola-eval report
}

stages=("$@")
[[ ${#stages[@]} -gt 0 ]] || stages=(data pretrain ship probe finetune hear bench report)
mkdir -p "$RUNS"
for s in "${stages[@]}"; do
    case $s in
        data | pretrain | ship | probe | finetune | hear | bench | report) "$s" ;;
        *) echo "unknown stage '$s' (data pretrain ship probe finetune hear bench report)" >&2; exit 2 ;;
    esac
done
