"""The unlabelled pretraining pool: ``build_pool`` writes one, for either domain.

- ``disjoint`` (the default, ``suite/pools/disjoint.py``): real audio from packages
  that share no Debian or PyPI package with any suite task. What the project's claims
  of general-purpose representations rest on.
- ``suite`` (``suite/pools/in_suite.py``): the suite's own sources minus its held-out
  recordings. In-domain adaptation, kept as the comparison.

Files are 16 kHz mono PCM_16 WAV under ``<pool>/<source>/``; ``<pool>/manifest.json``
lists every file (duration, source, licence, origin, SHA-256), the hours and licence
of each source package, and its ``sha256`` identifies the whole pool (pretraining
records it). The pool is built in a staging folder and replaces an older one atomically.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cola_hear.atomic import atomic_replace_dir
from cola_suite.build import torch_threads
from cola_suite.hear_format import SAMPLE_RATE, dumps
from cola_suite.sources import SOURCES, TOOL_LICENCES, SourceCache
from cola_suite.tasks.base import BuildContext

log = logging.getLogger(__name__)

POOL_VERSION = "2.0.0"
DOMAINS = ("disjoint", "suite")
DEFAULT_DOMAIN = "disjoint"
NOTES = {
    "disjoint": "real audio from Debian packages that share no binary or source package with any suite task",
    "suite": "the suite's source packages minus every recording a suite task holds out for valid/test; "
    "mbrola voices are licensed for non-commercial, non-military use only",
}


def build_pool(
    out: Path,
    cache: SourceCache,
    seed: int = 0,
    jobs: int = 2,
    domain: str = DEFAULT_DOMAIN,
    packages: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Build the ``domain`` pool into ``out`` (atomically replacing an older one); returns its manifest.

    ``packages``: only these packages of the disjoint pool (a quick pool for tests); the whole pool by default.
    """
    if domain not in DOMAINS:
        raise ValueError(f"pool domain must be one of {list(DOMAINS)}, got {domain!r}")
    if packages is not None and domain != "disjoint":
        raise ValueError("a package subset applies to the disjoint pool only")
    start = time.perf_counter()
    out = Path(out)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    excluded: Counter = Counter()
    try:
        with torch_threads(1):
            if domain == "disjoint":
                from cola_suite.pools.disjoint import disjoint_pool_records

                records, used = disjoint_pool_records(cache, staging, jobs, packages)
            else:
                from cola_suite.pools.in_suite import suite_pool_records

                records, used = suite_pool_records(BuildContext(cache, seed=seed, jobs=jobs), staging, excluded)
        manifest = _manifest(domain, records, cache, seed, excluded, used)
        (staging / "manifest.json").write_text(dumps(manifest))
        atomic_replace_dir(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info(
        "pool (%s): %d files, %.2f hours from %d sources in %s (%.0f s)",
        domain, manifest["num_files"], manifest["total_hours"], len(manifest["by_source"]), out,
        time.perf_counter() - start,
    )  # fmt: skip
    return manifest


def _manifest(
    domain: str, records: list[dict[str, Any]], cache: SourceCache, seed: int, excluded: Counter, packages: set[str]
) -> dict[str, Any]:
    records = sorted(records, key=lambda r: r["file"])
    digest = hashlib.sha256()
    for r in records:
        digest.update(f"{r['file']} {r['sha256']}\n".encode())
    total = sum(r["seconds"] for r in records)
    by_source: dict[str, dict[str, Any]] = defaultdict(lambda: {"files": 0, "seconds": 0.0})
    for r in records:
        by_source[r["source"]]["files"] += 1
        by_source[r["source"]]["seconds"] += r["seconds"]
    for name, entry in by_source.items():
        entry["seconds"] = round(entry["seconds"], 3)
        entry["hours"] = round(entry["seconds"] / 3600, 3)
        entry["fraction"] = round(entry["seconds"] / total, 4) if total else 0.0
        entry["licence"] = SOURCES[name].licence if name in SOURCES else TOOL_LICENCES.get(name, "")
        if name in SOURCES:
            entry["debian_source"] = SOURCES[name].project
    return {
        "name": "cola-suite-pool" if domain == "suite" else "cola-disjoint-pool",
        "domain": domain,
        "version": POOL_VERSION,
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "num_files": len(records),
        "total_seconds": round(total, 3),
        "total_hours": round(total / 3600, 3),
        "sha256": digest.hexdigest(),
        "by_source": dict(sorted(by_source.items())),
        "held_out_files_left_out": dict(sorted(excluded.items())),
        "sources": [cache.describe(p) for p in sorted(p for p in packages if p in SOURCES)],
        "notes": NOTES[domain],
        "files": records,
    }
