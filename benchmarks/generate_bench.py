"""Benchmark of the demo-data generator: a run with about a million POS order lines.

    PYTHONPATH=src python benchmarks/generate_bench.py [--members 170000] [--days 60] [--out DIR]

POS order lines grow as about 0.1 * members * days (170 000 members, 60 days: ~1M lines;
1 000 000 members, 100 days: ~10M). Prints wall and CPU seconds, POS order lines per second
per core (CPU and wall), peak resident memory, and rows and bytes per entity. Not run by
the tests.
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from memberdw.generate import generate


def peak_rss_mib() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / (2**20 if sys.platform == "darwin" else 2**10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=170_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="landing root (default: a temp dir, removed)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the time of every stage")
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args()
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(message)s")
    out = args.out or Path(tempfile.mkdtemp(prefix="memberdw-bench-"))
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        truth = generate(out, members=args.members, days=args.days, seed=args.seed,
                         quiet=True if args.quiet else None)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows, size = Counter(), Counter()
        for r in truth["files"]:
            if not r["duplicate_of"]:
                rows[r["entity"]] += r["rows"]
                size[r["entity"]] += r["bytes"]
        pos_lines = rows["pos/order_lines"]
        print(f"members={args.members} days={args.days} seed={args.seed}")
        print(f"{'entity':32s} {'rows':>13s} {'MiB':>9s}")
        for key in sorted(rows):
            print(f"{key:32s} {rows[key]:13,d} {size[key] / 2**20:9,.1f}")
        print(f"{'all':32s} {sum(rows.values()):13,d} {sum(size.values()) / 2**20:9,.1f}"
              f"  in {len(truth['files']):,} files")
        print(f"seconds: {wall:.1f} wall, {cpu:.1f} cpu")
        # CPU time summed over threads: lines per CPU-second is lines per second per core
        print(f"pos order lines: {pos_lines:,}; per second per core: {pos_lines / cpu:,.0f} "
              f"(cpu), {pos_lines / wall:,.0f} (wall)")
        print(f"all rows per second: {sum(rows.values()) / cpu:,.0f} (cpu), "
              f"{sum(rows.values()) / wall:,.0f} (wall)")
        print(f"peak rss: {peak_rss_mib():,.0f} MiB")
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
