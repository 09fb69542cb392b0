#!/usr/bin/env bash
# Reproduce everything in results/, pretraining included (run through `make reproduce`).
#
#   bash scripts/reproduce.sh [STAGE ...]
#   stages: data pretrain ship probe longer transfer finetune hear peers bench report
#
# With no stage, all run in that order; each is safe to run again (built data, finished runs and
# cached embeddings are reused; an interrupted pretraining run resumes). About 4 hours on the
# 2-core CPU machine: the three pretraining runs take about 65 minutes side by side, the continued
# cosine run about 40 minutes alone.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
SUITE=${COLA_SUITE:-data/suite}
POOL=${COLA_POOL_SUITE:-data/pool-suite}     # in-domain pool of the earlier runs (stages pretrain to longer)
DISJOINT=${COLA_POOL:-data/pool}            # the default pool: no package shared with the suite
RUNS=${COLA_RUNS:-runs/repro}
STEPS=${COLA_STEPS:-1750}        # pretraining steps of every objective: the same budget for all three
CURVE=${COLA_CURVE:-"250 500 1000"}  # earlier checkpoints on the probe-vs-steps curves
CONT=${COLA_CONT_STEPS:-1170}   # further steps of the cosine run, started from its step-$STEPS weights
SHIP=${COLA_SHIP:-cosine}        # the run shipped as the default weights (best COLA run on validation)
WEIGHTS=$RUNS/weights
stage() { printf '\n[reproduce] ==== %s\n' "$*"; }

data() {
    stage "suite, pool and data sheet"
    cola-suite check "$SUITE" >/dev/null 2>&1 || cola-suite build --out "$SUITE"
    [[ -f $DISJOINT/manifest.json ]] || cola-suite pool --out "$DISJOINT"
    [[ -f $POOL/manifest.json ]] || cola-suite pool --domain suite --out "$POOL"
    cola-suite datasheet "$SUITE" --out results/datasheet.md --pool "$DISJOINT" --pool "$POOL"
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
    # The run and the read-out to ship were chosen on the probe's validation averages (results/README.md,
    # "Model selection"): the cosine run, read out at stage 0 (mean and std over time).
    stage "ship the $SHIP run's step-$STEPS checkpoint, read out at stage 0, as the default weights"
    local obj
    for obj in bilinear cosine triplet; do
        python scripts/ship_default_weights.py --log-only "$RUNS/$obj" --step "$STEPS"
    done
    mkdir -p "$WEIGHTS"
    python scripts/weights_variant.py "$(export_step "$SHIP" "$STEPS")" "$WEIGHTS/cola-stage0.safetensors" --fp16 \
        --set 'hear.readout=["stage0","stage0.std"]'
    python scripts/ship_default_weights.py --weights "$WEIGHTS/cola-stage0.safetensors"
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
    # the read-out candidates on the cosine weights, the other objectives and the random-init network read
    # out like the shipped weights (stage 0, mean and std over time)
    local variant source stage0='["stage0","stage0.std"]' readout name fp16
    for name in cola-stage0 cola-stage01 bilinear-stage0 triplet-stage0 random-init-stage0; do
        readout=$stage0 fp16=--fp16
        case $name in
            cola-stage0) source=$(export_step cosine "$STEPS") ;;
            cola-stage01) source=$(export_step cosine "$STEPS") readout='["stage0","stage0.std","stage1","stage1.std"]' ;;
            bilinear-stage0) source=$(export_step bilinear "$STEPS") ;;
            triplet-stage0) source=$(export_step triplet "$STEPS") ;;
            random-init-stage0) source=$random fp16= ;;  # float32, as the random-init file
        esac
        variant=$WEIGHTS/$name.safetensors
        [[ -f $variant ]] || python scripts/weights_variant.py "$source" "$variant" $fp16 --set "hear.readout=$readout"
        cola-eval probe --module cola_hear --weights "$variant" --name "$name" --tasks-dir "$SUITE"
    done
    # the read-out: mean instead of max pooling on the bilinear weights
    local avg=$WEIGHTS/bilinear-$STEPS-avgpool.safetensors
    [[ -f $avg ]] || python scripts/weights_variant.py "$(export_step bilinear "$STEPS")" "$avg" --fp16 \
        --set encoder.pooling=avg
    cola-eval probe --module cola_hear --weights "$avg" --name bilinear-avgpool --tasks-dir "$SUITE"
    cola-eval probe --module cola_hear --weights "$random" --name random-init --tasks-dir "$SUITE"
    cola-eval probe --module eval.baselines.logmel_stats --name logmel-stats --tasks-dir "$SUITE"
}

longer() {
    # The checkpoint of the shipped run may be gone; train.init_weights starts from its exported weights.
    stage "the cosine run continued for $CONT steps from its step-$STEPS weights; probed at the shipped read-out"
    local resume=() total=$((STEPS + CONT)) variant=$WEIGHTS/cosine-cont-$((STEPS + CONT))-stage0.safetensors
    compgen -G "$RUNS/cosine-cont/checkpoints/step-*.pt" >/dev/null && resume=(--resume)
    cola-pretrain --config robust --objective cosine --data "$POOL" --out "$RUNS/cosine-cont" --max-steps "$CONT" \
        --set train.init_weights="$(export_step cosine "$STEPS")" --set train.checkpoint_every=500 --no-progress \
        "${resume[@]}"
    python scripts/ship_default_weights.py --log-only "$RUNS/cosine-cont" --log-name cosine-cont.csv
    [[ -f $variant ]] || python scripts/weights_variant.py "$(export_step cosine-cont "$CONT")" "$variant" --fp16 \
        --set 'hear.readout=["stage0","stage0.std"]'
    cola-eval probe --module cola_hear --weights "$variant" --name "cosine-stage0@$total" --tasks-dir "$SUITE"
    cola-eval probe --module cola_hear --weights "$(export_step cosine-cont "$CONT")" --name "cosine@$total" \
        --tasks-dir "$SUITE"
    cola-eval probe --module cola_hear --weights "$WEIGHTS/cola-stage0.safetensors" --name "cosine-stage0@$STEPS" \
        --tasks-dir "$SUITE"
}

# --- transfer: pretraining on the disjoint pool, screened and compared with in-domain pretraining ----------
SCREEN=${COLA_SCREEN_STEPS:-1000}       # steps of every screening run (one recipe lever each) and of the ablation
TSTEPS=${COLA_TRANSFER_STEPS:-4000}     # steps of the disjoint-pool run (its probe-vs-steps curve)
TCURVE=${COLA_TRANSFER_CURVE:-"1000 2000 3000"}  # earlier checkpoints of the disjoint run on its probe-vs-steps curve
STAGE0='["stage0","stage0.std"]'
AUG=(--set augment.eq_db=12 --set augment.lowpass_prob=0.3 --set augment.mix_prob=0.5)  # transfer.toml's additions

train_bg() {  # train_bg NAME ARGS...: a 1-thread run in the background (resumed when it has checkpoints)
    local name=$1 resume=()
    shift
    compgen -G "$RUNS/$name/checkpoints/step-*.pt" >/dev/null && resume=(--resume)
    OMP_NUM_THREADS=1 cola-pretrain "$@" --out "$RUNS/$name" --set train.threads=1 --no-progress "${resume[@]}" \
        >"$RUNS-$name.log" 2>&1 &
}

probe_as() {  # probe_as NAME SOURCE_WEIGHTS [READOUT]: the weights read out as READOUT (default stage 0), probed
    local name=$1 source=$2 readout=${3:-$STAGE0} variant=$WEIGHTS/$1.safetensors
    [[ -f $variant ]] || python scripts/weights_variant.py "$source" "$variant" --fp16 --set "hear.readout=$readout"
    cola-eval probe --module cola_hear --weights "$variant" --name "$name" --tasks-dir "$SUITE"
}

transfer() {
    stage "transfer: random inits (seeds 0-2), screening on the disjoint pool, objectives, both pools"
    mkdir -p "$WEIGHTS"
    local seed name default=cola_hear/assets/default.safetensors
    for seed in 0 1 2; do  # the random-init network read out like the shipped weights; seed 0 starts every run
        name=random-init-stage0; ((seed)) && name=$name-s$seed
        [[ -f $WEIGHTS/$name.safetensors ]] ||
            cola-eval random-weights --seed "$seed" --like "$default" --out "$WEIGHTS/$name.safetensors"
        cola-eval probe --module cola_hear --weights "$WEIGHTS/$name.safetensors" --name "$name" --tasks-dir "$SUITE"
    done
    # screening, two runs side by side: the earlier recipe, then one lever at a time
    train_bg screen-cos-base --config robust --objective cosine --set objective.head=official --data "$DISJOINT" \
        --max-steps "$SCREEN"
    train_bg screen-cos-aug --config robust --objective cosine --set objective.head=official "${AUG[@]}" \
        --data "$DISJOINT" --max-steps "$SCREEN"
    wait
    train_bg screen-cos-aug-lr1e3 --config robust --objective cosine --set objective.head=official "${AUG[@]}" \
        --set optim.lr=1e-3 --data "$DISJOINT" --max-steps "$SCREEN"
    # the objectives with the transfer recipe and the same budget (cosine: screen-cos-aug)
    train_bg bilinear-aug --config transfer --objective bilinear --data "$DISJOINT" --max-steps "$SCREEN"
    wait
    train_bg triplet-aug --config transfer --objective triplet --data "$DISJOINT" --max-steps "$SCREEN"
    wait
    local run
    for run in screen-cos-base screen-cos-aug screen-cos-aug-lr1e3; do
        probe_as "$run@$SCREEN" "$(export_step "$run" "$SCREEN")"
    done
    probe_as "screen-cos-aug-s012@$SCREEN" "$(export_step screen-cos-aug "$SCREEN")" \
        '["stage0","stage0.std","stage1","stage1.std","stage2","stage2.std"]'
    for run in bilinear triplet cosine; do  # the ablation at the shipped read-out and at the final layer
        local src=$RUNS/$run-aug
        [[ $run == cosine ]] && src=$RUNS/screen-cos-aug
        probe_as "disjoint-$run-stage0" "$(export_step "${src#"$RUNS"/}" "$SCREEN")"
        probe_as "disjoint-$run" "$(export_step "${src#"$RUNS"/}" "$SCREEN")" '["final"]'
    done
    # control: seed 0's random network with only its BatchNorm statistics taken from the pool (200 steps in
    # train mode at lr 1e-12, so no weight moves): how much of the gain over random init is normalisation
    train_bg bn-only --config transfer --data "$DISJOINT" --max-steps 200 --set optim.lr=1e-12
    wait
    probe_as random-init-stage0-bn "$(export_step bn-only 200)"
    probe_as random-init-bn "$(export_step bn-only 200)" '["final"]'
    # the transfer recipe on the disjoint pool for longer, and on the suite's own sources with the budget of the
    # shipped weights (compared with the disjoint run's checkpoint at that step, disjoint-cosine-stage0)
    train_bg disjoint --config transfer --data "$DISJOINT" --max-steps "$TSTEPS"
    train_bg insuite --config transfer --data "$POOL" --max-steps "$SCREEN"
    wait
    local step
    for step in $TCURVE "$TSTEPS"; do
        probe_as "disjoint@$step" "$(export_step disjoint "$step")"
    done
    probe_as disjoint "$(export_step disjoint "$TSTEPS")"
    probe_as disjoint-final "$(export_step disjoint "$TSTEPS")" '["final"]'  # COLA's own feature, same weights
    probe_as insuite "$(export_step insuite "$SCREEN")"
    for run in disjoint insuite; do
        python scripts/ship_default_weights.py --log-only "$RUNS/$run" --log-name "$run.csv"
    done
}

finetune() {
    stage "fine-tuning the whole encoder: shipped weights vs random init on music style and speaker ID"
    local task
    for task in music_style speaker_id; do
        OMP_NUM_THREADS=1 cola-eval finetune --weights cola_hear/assets/default.safetensors --name cola \
            --tasks-dir "$SUITE" --task "$task-v1.0.0-full" --seeds 2 --epochs 12 --encoder-lr 1e-3
    done
}

hear() {
    stage "the HEAR protocol (heareval's MLP, fast grid, 4 points) on the shipped weights and the baselines"
    mkdir -p "$WEIGHTS"
    local random=$WEIGHTS/random-init-stage0.safetensors
    [[ -f $random ]] || cola-eval random-weights --seed 0 --like cola_hear/assets/default.safetensors --out "$random"
    cola-eval hear --module cola_hear --name cola --tasks-dir "$SUITE" --grid fast --grid-points 4
    cola-eval hear --module cola_hear --weights "$random" --name random-init-stage0 --tasks-dir "$SUITE" \
        --grid fast --grid-points 4
    cola-eval hear --module eval.baselines.logmel_stats --name logmel-stats --tasks-dir "$SUITE" \
        --grid fast --grid-points 4
}

peers() {
    # HEAR 2021 modules this project did not write (requirements-peers.txt), by the same commands as every row.
    # CREPE's full-suite probe is about 5 hours of the 2-core CPU (minutes on a GPU).
    stage "peers: hearbaseline.naive and hearbaseline.torchcrepe, linear probe and HEAR protocol"
    cola-eval probe --module hearbaseline.naive --name hear-naive --tasks-dir "$SUITE"
    cola-eval hear --module hearbaseline.naive --name hear-naive --tasks-dir "$SUITE" --grid fast --grid-points 4
    cola-eval probe --module hearbaseline.torchcrepe --name crepe --tasks-dir "$SUITE"
    cola-eval hear --module hearbaseline.torchcrepe --name crepe --tasks-dir "$SUITE" --grid fast --grid-points 4
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
[[ ${#stages[@]} -gt 0 ]] || stages=(data pretrain ship probe longer transfer finetune hear peers bench report)
mkdir -p "$RUNS"
for s in "${stages[@]}"; do
    case $s in
        data | pretrain | ship | probe | longer | transfer | finetune | hear | peers | bench | report) "$s" ;;
        *) echo "unknown stage '$s' (data pretrain ship probe longer transfer finetune hear peers bench report)" >&2
           exit 2 ;;
    esac
done
