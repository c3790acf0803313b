"""memberdw's ingestion against the engine floor: DuckDB alone reading the same files into a
table with the contract's declared types (issue 11, deliverable 2; not a test).

    MEMBERDW_PII_KEY=<32+ bytes> .venv/bin/python bench/ingest_floor.py LANDING_ROOT \
        [--sources pos miniapp] [--repeat 1]

For each entity of the sources, in fresh subprocesses under the warehouse's DuckDB resources:
  floor     one statement per entity, ``create table as select * from read_csv(files,
            columns = {...})`` / ``read_json(files, columns = {...})`` over the files
            memberdw would load (complete dt folders, right suffix), ignore_errors on;
  memberdw  ``pipeline.land(source, ...)`` (what the ingest_<source> Airflow task calls),
            limited to the entity, into a fresh warehouse.
Prints wall and CPU seconds (all threads) and peak resident memory of each, and memberdw /
floor per entity and in total. With --repeat N, the best of N runs of each (the largest
peak). The floor skips what memberdw adds (line numbers, rules, quarantine, ledger), so it
is a floor, not an equal.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from memberdw.contract import SOURCES, entities_of
from memberdw.ingest import SUFFIXES
from memberdw.parsing import SQL_TYPE_BY_KIND

# The floor reads the declared types; under the session's time zone a timestamp without
# offset is the contract's local wall time, as memberdw reads it.
FLOOR_CHILD = """
import json, resource, sys, time
import duckdb
from pathlib import Path
from memberdw import warehouse
db, sql = sys.argv[1], sys.stdin.read()
con = duckdb.connect(db)
warehouse.apply_resources(con, Path(db).parent)
con.execute("set TimeZone = 'Asia/Shanghai'")
started, cpu = time.perf_counter(), time.process_time()
con.execute(sql)
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

MEMBERDW_CHILD = """
import json, resource, sys, time
from memberdw import contract, ingest, pipeline
root, wh, key = sys.argv[1:4]
entity = contract.BY_KEY[key]
ingest.entities_of = lambda source: [entity]  # land_source, limited to this entity
started, cpu = time.perf_counter(), time.process_time()
report = pipeline.land(entity.source, root, wh, run_id="bench")
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
                  "rows": report["rows_read"],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def files_of(root: Path, entity) -> list[str]:
    """The files memberdw would read: complete dt folders, the entity's suffixes."""
    base = root / entity.source / entity.name
    return sorted(str(f) for folder in base.glob("dt=*") if (folder / "_SUCCESS").is_file()
                  for f in folder.iterdir() if f.name.endswith(SUFFIXES[entity.format]))


def floor_sql(root: Path, entity) -> str:
    files = files_of(root, entity)
    types = {c.name: SQL_TYPE_BY_KIND[c.kind] for c in entity.columns}
    columns = "{" + ", ".join(f"'{n}': '{t}'" for n, t in types.items()) + "}"
    if entity.format == "csv":
        reader = (f"read_csv({files!r}, header = true, auto_detect = false, columns = {columns},"
                  f" timestampformat = '%Y-%m-%d %H:%M:%S', ignore_errors = true)")
    else:
        reader = (f"read_json({files!r}, format = 'newline_delimited', columns = {columns},"
                  f" ignore_errors = true)")
    return f"create table t as select * from {reader}"


def run(child: str, *args: str, stdin: str = "") -> dict:
    out = subprocess.run([sys.executable, "-c", child, *args], input=stdin, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def best(runs: list[dict]) -> dict:
    """The fastest run's times, the largest peak memory of any."""
    return {"seconds": min(r["seconds"] for r in runs), "cpu": min(r["cpu"] for r in runs),
            "peak_mb": max(r["peak_mb"] for r in runs), "rows": runs[0].get("rows")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("landing", type=Path)
    ap.add_argument("--sources", nargs="+", default=list(SOURCES), choices=SOURCES)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    root = args.landing.resolve()
    totals = {"floor": [0.0, 0.0], "memberdw": [0.0, 0.0]}
    print(f"{'entity':<28} {'rows':>10} | {'floor s':>7} {'cpu s':>6} {'MB':>5} |"
          f" {'memberdw s':>10} {'cpu s':>6} {'MB':>5} | {'ratio':>5} {'cpu':>5}")
    for entity in (e for source in args.sources for e in entities_of(source)):
        if not files_of(root, entity):
            continue
        floors, ours = [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="ingest-floor-") as tmp:
                floors.append(run(FLOOR_CHILD, f"{tmp}/floor.duckdb",
                                  stdin=floor_sql(root, entity)))
            with tempfile.TemporaryDirectory(prefix="ingest-floor-") as tmp:
                ours.append(run(MEMBERDW_CHILD, str(root), tmp, entity.key))
        floor, ours = best(floors), best(ours)
        for name, r in (("floor", floor), ("memberdw", ours)):
            totals[name][0] += r["seconds"]
            totals[name][1] += r["cpu"]
        print(f"{entity.key:<28} {ours['rows']:>10,} |"
              f" {floor['seconds']:>7.1f} {floor['cpu']:>6.1f} {floor['peak_mb']:>5.0f} |"
              f" {ours['seconds']:>10.1f} {ours['cpu']:>6.1f} {ours['peak_mb']:>5.0f} |"
              f" {ours['seconds'] / max(floor['seconds'], 1e-9):>5.2f}"
              f" {ours['cpu'] / max(floor['cpu'], 1e-9):>5.2f}", flush=True)
    (fs, fc), (ms, mc) = totals["floor"], totals["memberdw"]
    print(f"{'total':<28} {'':>10} | {fs:>7.1f} {fc:>6.1f} {'':>5} | {ms:>10.1f} {mc:>6.1f}"
          f" {'':>5} | {ms / max(fs, 1e-9):>5.2f} {mc / max(fc, 1e-9):>5.2f}")


if __name__ == "__main__":
    main()
