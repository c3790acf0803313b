"""Benchmark of validation: Great Expectations in DuckDB against the same checks as plain SQL.

    .venv/bin/python benchmarks/quality_bench.py [--members 240000] [--days 60] [--landing DIR]

Generates a landing root (unless --landing is given; 240,000 members x 60 days is about
1.45M POS lines, the size of the real grocery chain's year), lands it and builds staging,
then validates the same warehouse twice, each in a process of its own:

  plain SQL   DuckDB alone does what the rules need: materialise each dataset, count the
              failing rows of every rule, insert the flagged rows (``plain_sql`` below)
  GE          ``memberdw.quality.validate``: the same, with every count evaluated by Great
              Expectations' SQL datasource, results stored, Data Docs built

and prints seconds (GE's import apart), the ratio, and each process's peak RSS. Run it at
two sizes to see memory stay flat in data size. Not run by the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def plain_sql(warehouse_dir: Path) -> dict:
    """The rules' work in DuckDB alone, with the rule objects GE is given."""
    from expectations import DATASETS
    from memberdw import warehouse
    from memberdw.quality import future_bound

    bound = future_bound(None).isoformat(sep=" ")
    started = time.perf_counter()
    con = warehouse.connect(warehouse_dir)
    con.execute("create schema if not exists dq")
    con.execute("create or replace table plain_flags as select * from meta.dq_row_flags limit 0")
    failing = 0
    for ds in DATASETS.values():
        con.execute(f"create or replace table {ds.table} as {ds.query}")
        for rule in ds.checked_rules():
            (n,) = con.execute(f"select count(*) from (select record_key from {ds.table}"
                               f" where {rule.condition(bound)})").fetchone()
            if n and rule.action:
                failing += 1
                con.execute(f"insert into plain_flags select distinct 'bench', ?, ?, ?, ?,"
                            f" record_key, member_id, _source_file, _source_line, now()"
                            f" from {ds.table} where {rule.condition(bound)}",
                            [ds.name, rule.name, rule.severity, rule.action])
    con.execute("drop table plain_flags; drop schema dq cascade")
    con.close()
    return {"seconds": time.perf_counter() - started, "failing_rules": failing}


def with_ge(warehouse_dir: Path) -> dict:
    started = time.perf_counter()
    import great_expectations  # noqa: F401  (its import is counted apart)

    imported = time.perf_counter()
    from memberdw import quality

    result = quality.validate(warehouse_dir, "bench")
    return {"seconds": time.perf_counter() - imported, "import_seconds": imported - started,
            "rules": len(result.outcomes), "rows_flagged": sum(result.rows_flagged.values())}


def _child(method: str, warehouse_dir: str) -> None:
    out = {"plain": plain_sql, "ge": with_ge}[method](Path(warehouse_dir))
    # VmHWM, not getrusage: ru_maxrss survives fork and exec, so a child would report the
    # generator's peak in the parent process.
    status = Path("/proc/self/status").read_text()
    out["peak_rss_mb"] = int(next(line.split()[1] for line in status.splitlines()
                                  if line.startswith("VmHWM:"))) / 1024
    print(json.dumps(out))


def _run_child(method: str, warehouse_dir: Path) -> dict:
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    done = subprocess.run([sys.executable, __file__, "--child", method, str(warehouse_dir)],
                          capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _build(landing: Path, warehouse_dir: Path) -> int:
    from memberdw import ingest, pipeline, warehouse
    from memberdw.contract import SOURCES

    con = warehouse.connect(warehouse_dir)
    try:
        for source in SOURCES:
            ingest.land_source(con, landing, source, run_id="bench")
        (lines,) = con.execute("select count(*) from raw.pos__order_lines").fetchone()
    finally:
        con.close()
    pipeline.transform(warehouse_dir, select="tag:staging")
    return lines


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=240_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--landing", type=Path, default=None, help="existing landing root")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="memberdw-quality-bench-"))
    try:
        landing = args.landing
        if landing is None:
            from memberdw.generate import generate

            landing = work / "landing"
            generate(landing, members=args.members, days=args.days, seed=1)
        started = time.perf_counter()
        lines = _build(landing, work / "wh")
        print(f"landed and staged {lines:,} POS lines in {time.perf_counter() - started:.1f} s")
        plain = _run_child("plain", work / "wh")
        ge = _run_child("ge", work / "wh")
        print(f"plain SQL (DuckDB alone)  {plain['seconds']:6.2f} s"
              f"   peak RSS {plain['peak_rss_mb']:,.0f} MB")
        print(f"Great Expectations        {ge['seconds']:6.2f} s"
              f"   peak RSS {ge['peak_rss_mb']:,.0f} MB"
              f"   (+ {ge['import_seconds']:.1f} s importing GE; {ge['rules']} rules,"
              f" {ge['rows_flagged']:,} rows flagged)")
        print(f"ratio GE / plain SQL      {ge['seconds'] / plain['seconds']:6.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
