"""Issue 11's benchmark, part (c): the same dbt models on the local PostgreSQL via
dbt-postgres (memberdw.postgres_build), for bench/run.py to call after memberdw's DuckDB
build:

    from postgres_part import run as postgres_run
    result = postgres_run(warehouse)   # the DuckDB-built warehouse dir

or on its own, against a warehouse `memberdw run` built:

    MEMBERDW_PII_KEY=<32+ bytes> .venv/bin/python bench/postgres_part.py /path/to/wh [--compare]

``run`` loads raw and meta from warehouse.duckdb into PostgreSQL, builds there the models
of the RFM stage and every model they are built from (dbt build --target postgres; every
model, the four Python models computed outside dbt included, with --all-models or
--compare: at 1M members PostgreSQL needs hours for all of them), and returns wall seconds, the member-facts + RFM stage (the sum of
dbt's execution_time over bench/stage.py's RFM_STAGE, as bench/run.py sums DuckDB's), the
same sum from the DuckDB build's run_results.json beside it, and the peak memory of the
PostgreSQL server backends that served the build, from /proc of each backend pid (Linux,
the server on this machine; None otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from memberdw import postgres_build  # noqa: E402
from stage import RFM_STAGE, Sampler, dbt_seconds  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/memberdw_bench"


def _kib(status: str, field: str) -> int | None:
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


class BackendMemory(Sampler):
    """Samples, while running, every server backend connected to the database (other than
    its own): VmHWM (peak resident set over the backend's life, shared buffers it touched
    included) from /proc/<pid>/status, and the highest RssAnon seen (private memory:
    sorts, hashes, work_mem), per backend pid. A backend may grow after the last sample
    before it exits; at 0.1 s between samples that is at most the last tenth of a second."""

    def __init__(self, url: str, interval: float = 0.1):
        super().__init__(interval)
        self.url = url
        self.backends: dict[int, dict] = {}
        self.readable = None

    def _sample(self) -> None:
        database = postgres_build.connection_settings(self.url)["MEMBERDW_PG_DBNAME"]
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = postgres_build.connect(self.url)
                    conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("select pid, application_name from pg_stat_activity where"
                                " datname = %s and pid <> pg_backend_pid()", [database])
                    pids = cur.fetchall()
            except Exception:  # noqa: BLE001 - the database may not exist yet, or be recreated
                conn = None
                self._stop.wait(self.interval)
                continue
            for pid, application in pids:
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:  # gone, or another machine's server
                    self.readable = self.readable or False
                    continue
                self.readable = True
                seen = self.backends.setdefault(pid, {"application": application,
                                                      "vm_hwm_kib": 0, "rss_anon_kib": 0})
                seen["vm_hwm_kib"] = max(seen["vm_hwm_kib"], _kib(status, "VmHWM") or 0)
                seen["rss_anon_kib"] = max(seen["rss_anon_kib"], _kib(status, "RssAnon") or 0)
            self._stop.wait(self.interval)
        if conn is not None:
            conn.close()

    def summary(self) -> dict:
        if not self.readable:
            return {"peak_backend_rss_mb": None, "peak_backend_anon_mb": None,
                    "backends": len(self.backends)}
        return {"peak_backend_rss_mb": round(max(b["vm_hwm_kib"] for b in self.backends.values())
                                             / 1024, 1),
                "peak_backend_anon_mb": round(max(b["rss_anon_kib"]
                                                  for b in self.backends.values()) / 1024, 1),
                "backends": len(self.backends)}


def run(warehouse_dir, url: str | None = None, threads: int = 1, compare: bool = False,
        all_models: bool = False) -> dict:
    """Build the DuckDB-built warehouse's models on PostgreSQL (module docstring): the RFM
    stage's models and what they are built from, or every model with ``all_models`` or
    ``compare`` (which compares every mart). Returns
    wall_seconds (load + dbt + Python models), steps, rfm_stage_seconds (PostgreSQL),
    duckdb_rfm_stage_seconds (from the warehouse's own run_results.json), rfm_models (the
    PostgreSQL seconds of each), the backends' peak memory (MB), dbt's client peak RSS,
    versions, and with ``compare`` whether every mart equals DuckDB's row for row."""
    warehouse_dir = Path(warehouse_dir).resolve()
    url = url or os.environ.get("MEMBERDW_BENCH_POSTGRES_URL") or DEFAULT_URL
    names = RFM_STAGE
    with BackendMemory(url) as memory:
        result = postgres_build.build(warehouse_dir, url, threads=threads,
                                      models=None if all_models or compare else names)
    missing = [n for n in names if n not in result["models"]]
    if missing:
        raise RuntimeError(f"models of the RFM stage not built on PostgreSQL: {missing}")
    out = {
        "wall_seconds": round(result["wall_seconds"], 2),
        "steps": {k: round(v, 2) for k, v in result["steps"].items()},
        "rfm_stage_seconds": round(sum(result["models"][n] for n in names), 2),
        "duckdb_rfm_stage_seconds": dbt_seconds(warehouse_dir, names),
        "rfm_models": {n: round(result["models"][n], 3) for n in names},
        "models_built": len(result["models"]),
        "tests": result["tests"],
        "source_rows": sum(result["source_rows"].values()),
        # the largest dbt (or other child) process this process waited for
        "dbt_client_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                                        / 1024, 1),
        "versions": versions(url),
        **memory.summary(),
    }
    if compare:
        differences = postgres_build.mart_differences(warehouse_dir, url)
        out["marts_equal"] = not differences
        if differences:
            out["mart_differences"] = {k: sorted(v) for k, v in differences.items()}
    return out


def versions(url: str) -> dict:
    from importlib.metadata import version

    conn = postgres_build.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("show server_version")
            server = cur.fetchone()[0]
    finally:
        conn.close()
    return {"postgresql": server, **{p: version(p) for p in (
        "dbt-core", "dbt-adapters", "dbt-postgres", "dbt-duckdb", "duckdb", "psycopg2-binary")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("warehouse", type=Path, help="a warehouse `memberdw run` built")
    ap.add_argument("--url", help=f"PostgreSQL URL (default {DEFAULT_URL})")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compare", action="store_true",
                    help="build every model and compare every mart with DuckDB's")
    ap.add_argument("--all-models", action="store_true",
                    help="build every model, not only the RFM stage and its inputs")
    args = ap.parse_args()
    started = time.perf_counter()
    result = run(args.warehouse, args.url, args.threads, args.compare, args.all_models)
    result["seconds_with_compare"] = round(time.perf_counter() - started, 2)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
