"""Section 2: pretraining step throughput on the CPU, ours against the seed article's model, in one process."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from benchmarks.seed_model import benchmark_seed_step
from benchmarks.settings import Settings, Sizes
from benchmarks.table import Row, cpu_bf16, ratio, verdict
from cola_hear.atomic import atomic_write_text
from cola_pretrain.bench import benchmark_step
from cola_pretrain.config import PretrainConfig, load_config

log = logging.getLogger(__name__)

SECTION = "2 pretrain"
SEED_RATIO_TARGET = 2.5  # our best CPU step over the seed article model (issue 13; issue 6 asked 2x)
# Smaller members of timm's EfficientNet family (same stages, SE blocks and 1280-d head; the width and depth of
# TinyNet's scaling rule), selected with encoder.name: pairs per CPU-second against efficientnet_b0.
FAST_ENCODERS = ("tinynet_d", "tinynet_e")


def step_config(
    batch: int,
    amp: str,
    device: str = "cpu",
    channels_last: bool = True,
    compile: bool = False,
    encoder: str = "efficientnet_b0",
) -> PretrainConfig:
    """The shipped ``default`` config at ``batch`` pairs per step (with another timm ``encoder``)."""
    return load_config(
        "default",
        {
            "train.batch_size": batch,
            "train.amp": amp,
            "train.device": device,
            "train.channels_last": channels_last,
            "train.compile": compile,
            "encoder.name": encoder,
        },
    )


def our_step(
    batch: int, amp: str, steps: int, warmup: int, compile: bool = False, encoder: str = "efficientnet_b0"
) -> float:
    """Pairs per second of our training step on the CPU (``amp``: "off" or "bf16")."""
    result = benchmark_step(step_config(batch, amp, compile=compile, encoder=encoder), steps=steps, warmup=warmup)
    return float(result["pairs_per_s"])


def encoder_rows(batch: int, steps: int, warmup: int, b0: float) -> list[Row]:
    """The training step with each of ``FAST_ENCODERS``, fp32, against efficientnet_b0's rate ``b0``."""
    rows = []
    for name in FAST_ENCODERS:
        log.info("[2 pretrain] our step with encoder %s, batch %d, fp32", name, batch)
        rate = our_step(batch, "off", steps, warmup, encoder=name)
        log.info("[2 pretrain]   %.1f pairs/s", rate)
        item = f"our step, encoder {name}, batch {batch}, fp32 channels_last"
        note = "ratio vs efficientnet_b0 (the official encoder), same step"
        rows.append(Row(SECTION, item, rate, "pairs/s", ratio(rate, b0), note))
    return rows


def profile_step(batch: int, amp: str, path: Path, row_limit: int = 25) -> Path:
    """Profile one warm-up and one timed step of ours (``torch.profiler``, CPU); write the top operators to ``path``."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        benchmark_step(step_config(batch, amp), steps=1, warmup=1)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=row_limit)
    header = f"our training step, batch {batch}, amp={amp}: operators by self CPU time (1 warm-up + 1 step)\n"
    return atomic_write_text(path, header + table + "\n")


def train_rows(settings: Settings) -> tuple[list[Row], float]:
    """The rows, and the best CPU rate of our step (what the data-loading section compares against)."""
    s = settings.sizes
    b = s.train_batch
    log.info("[2 pretrain] seed article's model, batch %d", b)
    seed = benchmark_seed_step(b, steps=s.train_steps, warmup=s.train_warmup)
    log.info("[2 pretrain]   %.1f pairs/s; our step fp32, batch %d", seed, b)
    fp32 = our_step(b, "off", s.train_steps, s.train_warmup)
    log.info("[2 pretrain]   %.1f pairs/s", fp32)
    rows = [
        Row(
            SECTION,
            f"seed article model step, batch {b}, fp32",
            seed,
            "pairs/s",
            None,
            "3x3 stem + efficientnet_pytorch B0, two encoder passes",
        ),
        Row(
            SECTION,
            f"our step, batch {b}, fp32 channels_last",
            fp32,
            "pairs/s",
            ratio(fp32, seed),
            "ratio vs the seed model; both views in one encoder pass",
        ),
    ]
    rows += encoder_rows(b, s.train_steps, s.train_warmup, fp32)
    best, best_amp = fp32, "off"
    if cpu_bf16():
        log.info("[2 pretrain] our step bf16 autocast, batch %d", b)
        bf16 = our_step(b, "bf16", s.train_steps, s.train_warmup)
        log.info("[2 pretrain]   %.1f pairs/s", bf16)
        if bf16 > best:
            best, best_amp = bf16, "bf16"
        rows.append(
            Row(
                SECTION,
                f"our step, batch {b}, bf16 autocast channels_last",
                bf16,
                "pairs/s",
                ratio(bf16, seed),
                f"ratio vs the seed model; {ratio(bf16, fp32):.2f}x our fp32 step",
            )
        )
    else:
        rows.append(Row(SECTION, f"our step, batch {b}, bf16 autocast channels_last", "not measured (no CPU bf16)"))
    compiled_item = f"our step with torch.compile, batch {b}, fp32 channels_last"
    if not s.train_compile:
        rows.append(Row(SECTION, compiled_item, "not measured (--quick)"))
    else:
        row = _compiled_row(compiled_item, b, s, seed, fp32)
        rows.append(row)
        if isinstance(row.value, float) and row.value > best:
            best = row.value
    if settings.profile_out is not None:
        log.info("[2 pretrain] profiling our step (amp=%s) into %s", best_amp, settings.profile_out)
        profile_step(b, best_amp, settings.profile_out)
    rows.append(
        Row(
            SECTION,
            "our best CPU step / seed model",
            ratio(best, seed),
            "x",
            None,
            verdict(ratio(best, seed), SEED_RATIO_TARGET),
        )
    )
    return rows, best


def _compiled_row(item: str, b: int, s: Sizes, seed: float, fp32: float) -> Row:
    """The row of our step under torch.compile: its rate, or why it was not measured."""
    log.info("[2 pretrain] our step fp32 + torch.compile, batch %d (compiling first)", b)
    try:
        compiled = our_step(b, "off", s.train_steps, s.train_warmup + 1, compile=True)
    except Exception as exc:  # e.g. no C++ compiler for inductor: report, go on
        log.warning("[2 pretrain]   torch.compile failed: %s", exc)
        return Row(SECTION, item, f"not measured (torch.compile failed: {type(exc).__name__})")
    log.info("[2 pretrain]   %.1f pairs/s", compiled)
    return Row(
        SECTION,
        item,
        compiled,
        "pairs/s",
        ratio(compiled, seed),
        f"ratio vs the seed model; {ratio(compiled, fp32):.2f}x our eager fp32 step; compile time excluded",
    )
