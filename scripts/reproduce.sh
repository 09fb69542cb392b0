#!/usr/bin/env bash
# Reproduce everything in results/, pretraining included (run through `make reproduce`).
#
#   bash scripts/reproduce.sh [STAGE ...]
#   stages: data pretrain ship probe longer transfer readouts peers finetune hear bench report
#
# With no stage, all run in that order; each is safe to run again (built data, finished runs and
# cached embeddings are reused; an interrupted pretraining run resumes). About 4 hours on the
# 2-core CPU machine: the three pretraining runs take about 65 minutes side by side, the continued
# cosine run about 40 minutes alone (CREPE's full-suite probe in stage peers adds about 3-4 hours).
#
# This script trains the runs; which result names exist, the weights each stands for and the
# evaluations each gets are declared once in experiments.toml, and `evaluate STAGE`
# (scripts/experiments.py) makes those weights and runs those evaluations.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
SUITE=${COLA_SUITE:-data/suite}
POOL=${COLA_POOL_SUITE:-data/pool-suite}     # in-domain pool of the earlier runs (stages pretrain to longer)
DISJOINT=${COLA_POOL:-data/pool}            # the default pool: no package shared with the suite
RUNS=${COLA_RUNS:-runs/repro}
# Step counts of the runs; experiments.toml names their checkpoints ("run:cosine@1750"), so the two change together.
STEPS=1750       # pretraining steps of every objective: the same budget for all three
CONT=1170        # further steps of the cosine run, started from its step-$STEPS weights
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
    # The loss logs of the three objectives. The default weights they led to were replaced twice since; the
    # weights shipped now are made in stage readouts.
    stage "publish the loss logs of the $STEPS-step runs"
    local obj
    for obj in bilinear cosine triplet; do
        python scripts/ship_default_weights.py --log-only "$RUNS/$obj" --step "$STEPS"
    done
}

export_step() {  # export_step RUN STEP -> path of the fp16 weights of that checkpoint
    python scripts/experiments.py --runs "$RUNS" weights "run:$1@$2"
}

evaluate() {  # evaluate STAGE: the evaluations experiments.toml assigns to that stage
    python scripts/experiments.py --suite "$SUITE" --runs "$RUNS" --pool "$DISJOINT" run "$1"
}

probe() {
    stage "linear probes on $SUITE: shipped weights, objectives, checkpoints, read-out variants, baselines"
    evaluate probe
}

longer() {
    # The checkpoint of the shipped run may be gone; train.init_weights starts from its exported weights.
    stage "the cosine run continued for $CONT steps from its step-$STEPS weights; probed at the shipped read-out"
    local resume=()
    compgen -G "$RUNS/cosine-cont/checkpoints/step-*.pt" >/dev/null && resume=(--resume)
    cola-pretrain --config robust --objective cosine --data "$POOL" --out "$RUNS/cosine-cont" --max-steps "$CONT" \
        --set train.init_weights="$(export_step cosine "$STEPS")" --set train.checkpoint_every=500 --no-progress \
        "${resume[@]}"
    python scripts/ship_default_weights.py --log-only "$RUNS/cosine-cont" --log-name cosine-cont.csv
    evaluate longer
}

# --- transfer: pretraining on the disjoint pool, screened and compared with in-domain pretraining ----------
SCREEN=1000      # steps of every screening run (one recipe lever each) and of the ablation
TSTEPS=4000      # steps of the disjoint-pool run (its probe-vs-steps curve: checkpoints 1000-4000)
AUG=(--set augment.eq_db=12 --set augment.lowpass_prob=0.3 --set augment.mix_prob=0.5)  # transfer.toml's additions

train_bg() {  # train_bg NAME ARGS...: a 1-thread run in the background (resumed when it has checkpoints)
    local name=$1 resume=()
    shift
    compgen -G "$RUNS/$name/checkpoints/step-*.pt" >/dev/null && resume=(--resume)
    OMP_NUM_THREADS=1 cola-pretrain "$@" --out "$RUNS/$name" --set train.threads=1 --no-progress "${resume[@]}" \
        >"$RUNS-$name.log" 2>&1 &
}

transfer() {
    stage "transfer: screening on the disjoint pool, objectives, both pools; then their probes and random inits"
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
    # control: seed 0's random network with only its BatchNorm statistics taken from the pool (200 steps in
    # train mode at lr 1e-12, so no weight moves): how much of the gain over random init is normalisation
    train_bg bn-only --config transfer --data "$DISJOINT" --max-steps 200 --set optim.lr=1e-12
    wait
    # the transfer recipe on the disjoint pool for longer, and on the suite's own sources with the budget of the
    # shipped weights (compared with the disjoint run's checkpoint at that step, disjoint-cosine-stage0)
    train_bg disjoint --config transfer --data "$DISJOINT" --max-steps "$TSTEPS"
    train_bg insuite --config transfer --data "$POOL" --max-steps "$SCREEN"
    wait
    for run in disjoint insuite; do
        python scripts/ship_default_weights.py --log-only "$RUNS/$run" --log-name "$run.csv"
    done
    evaluate transfer
}

readouts() {
    # The shipped weights at every read-out tried, against the no-learning control (seeds 0-2 at random init,
    # BatchNorm statistics of the disjoint pool: `cola-pretrain calibrate`) read out the same ways.
    stage "learned vs control: the shipped weights and the BatchNorm control at each read-out (experiments.toml)"
    # the earlier default (screen-cos-aug's 1,000 steps) trained further with its own recipe (fresh optimiser,
    # constant learning rate); its step 1000 read out at stages 0 and 3 (cola-2000-stage03) won on validation
    # and is shipped
    train_bg continued --config transfer --data "$DISJOINT" --max-steps 1000 \
        --set train.init_weights="$(export_step screen-cos-aug "$SCREEN")"
    wait
    python scripts/ship_default_weights.py --log-only "$RUNS/continued" --step 1000 --log-name continued.csv
    python scripts/ship_default_weights.py --log-name continued.csv \
        --weights "$(python scripts/experiments.py --runs "$RUNS" weights cola-2000-stage03)"
    evaluate readouts
}

finetune() {
    stage "fine-tuning the whole encoder: shipped weights vs random init (experiments.toml [finetune])"
    evaluate finetune
}

hear() {
    stage "the HEAR protocol (heareval's MLP; experiments.toml [hear]) on every model that lists it"
    evaluate hear
}

peers() {
    # HEAR 2021 modules this project did not write (requirements-peers.txt), by the same commands as every row;
    # their HEAR-protocol runs are in stage hear. CREPE's full-suite probe takes 3-4 hours of the 2-core CPU.
    stage "peers: linear probes of hearbaseline.naive and hearbaseline.torchcrepe"
    evaluate peers
}

bench() {
    stage "benchmarks (take them on an otherwise idle machine)"
    python -m benchmarks
}

report() {
    stage "results/README.md, the README's headline table and the model card"
    cola-eval report --readme README.md
    python scripts/model_card.py
}

stages=("$@")
[[ ${#stages[@]} -gt 0 ]] || stages=(data pretrain ship probe longer transfer readouts peers finetune hear bench report)
mkdir -p "$RUNS"
for s in "${stages[@]}"; do
    case $s in
        data | pretrain | ship | probe | longer | transfer | readouts | finetune | hear | peers | bench | report) "$s" ;;
        *) echo "unknown stage '$s' (data pretrain ship probe longer transfer readouts finetune hear peers bench report)" >&2
           exit 2 ;;
    esac
done
