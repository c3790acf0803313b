"""Benchmark of the demo-data generator: a run with about a million POS order lines.

    PYTHONPATH=src python benchmarks/generate_bench.py [--members 170000] [--days 60] [--out DIR]

Prints wall and CPU seconds, POS order lines and all rows delivered. Not run by the tests.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

from memberdw.generate import generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=170_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="landing root (default: a temp dir, removed)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the time of every stage")
    args = ap.parse_args()
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(message)s")
    out = args.out or Path(tempfile.mkdtemp(prefix="memberdw-bench-"))
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        truth = generate(out, members=args.members, days=args.days, seed=args.seed)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        pos_lines = sum(r["rows"] for r in truth["files"]
                        if r["entity"] == "pos/order_lines" and not r["duplicate_of"])
        rows = sum(r["rows"] for r in truth["files"] if not r["duplicate_of"])
        size = sum(r["bytes"] for r in truth["files"])
        print(f"members={args.members} days={args.days} seed={args.seed}")
        print(f"pos order lines: {pos_lines:,}")
        print(f"all rows: {rows:,} in {len(truth['files']):,} files, {size / 2**20:,.0f} MiB")
        print(f"seconds: {wall:.1f} wall, {cpu:.1f} cpu")
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
