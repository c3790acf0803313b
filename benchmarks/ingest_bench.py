"""Benchmark of ingestion: land a whole generated landing root into a fresh warehouse.

    .venv/bin/python benchmarks/ingest_bench.py [--members 170000] [--days 60] [--landing DIR]

Generates a landing root (unless --landing is given), lands every source with
memberdw.ingest (the code the DAG tasks run, without Airflow around it), and prints per
source: files, rows read, seconds, rows per second; then peak memory. Not run by the tests.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from memberdw import ingest, warehouse
from memberdw.contract import SOURCES
from memberdw.generate import generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=170_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--landing", type=Path, default=None, help="existing landing root")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="memberdw-ingest-bench-"))
    try:
        landing = args.landing
        if landing is None:
            landing = work / "landing"
            generate(landing, members=args.members, days=args.days, seed=1)
        con = warehouse.connect(work / "wh")
        total_rows, total_seconds = 0, 0.0
        for source in SOURCES:
            started = time.perf_counter()
            report = ingest.land_source(con, landing, source, run_id="bench")
            seconds = time.perf_counter() - started
            total_rows, total_seconds = total_rows + report.rows_read, total_seconds + seconds
            print(f"{source:<10} {report.files_loaded:>6} files {report.rows_read:>10} rows"
                  f" {seconds:7.1f} s {report.rows_read / max(seconds, 1e-9):>10,.0f} rows/s")
        con.close()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{'total':<10} {'':>12} {total_rows:>10} rows {total_seconds:7.1f} s"
              f" {total_rows / total_seconds:>10,.0f} rows/s; peak RSS {peak_mb:,.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
