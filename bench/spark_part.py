"""Issue 11's benchmark, part (d): the same dbt models on a local Apache Spark via dbt-spark
(``method: session``; memberdw.spark_build), for bench/run.py to call after memberdw's
DuckDB build:

    from spark_part import run as spark_run
    result = spark_run(warehouse)   # the DuckDB-built warehouse dir

or on its own (its own process: one SparkSession per process), against a warehouse
`memberdw run` built:

    MEMBERDW_PII_KEY=<32+ bytes> .venv/bin/python bench/spark_part.py /path/to/wh [--compare]

``run`` exports the Parquet raw zone of the warehouse, starts a local SparkSession and
builds every model there (dbt build --target spark: all but the Python models' consumers,
the four Python models computed by their own code, the rest), and returns wall seconds of
each step, the member-facts + RFM stage (the sum of dbt's execution_time over bench/stage.py's
RFM_STAGE, as bench/run.py sums DuckDB's), the same sum from the DuckDB build's
run_results.json beside it, the peak memory of the Spark JVM (VmHWM of the driver JVM,
/proc, Linux) and of this Python process (ru_maxrss; the Python UDF workers sampled too),
and with ``compare`` whether every mart equals DuckDB's row for row.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from memberdw import spark_build  # noqa: E402
from stage import RFM_STAGE, Sampler, dbt_seconds  # noqa: E402


class ProcessMemory(Sampler):
    """Samples every 0.2 s the resident memory of this process's descendants (the Spark JVM
    and its Python UDF workers, psutil): the peak of their sum, and at the end the JVM's own
    VmHWM (peak resident set over its life)."""

    def __init__(self, interval: float = 0.2):
        super().__init__(interval)
        self.peak_children_rss = 0

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_children_rss = max(self.peak_children_rss, total)
            self._stop.wait(self.interval)


def _vm_hwm_mb(pid: int | None) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, TypeError):
        return None
    return None


def run(warehouse_dir, compare: bool = False, spark_dir=None, as_of: str | None = None,
        clv_calibration_end: str | None = None) -> dict:
    """Build the DuckDB-built warehouse's models on local Spark (module docstring). Returns
    wall_seconds (raw zone export + session start + dbt build, the Python models included),
    steps, rfm_stage_seconds (Spark), duckdb_rfm_stage_seconds (from the warehouse's own
    run_results.json), rfm_models (the Spark seconds of each), peak memory (MB): the JVM's,
    this Python process's, and the sum of the JVM and its Python workers; versions; and
    with ``compare`` whether every mart equals DuckDB's row for row. ``as_of`` and
    ``clv_calibration_end``: the run variables the DuckDB build had, if any (memberdw run
    --as-of / --clv-calibration-end); the marts equal DuckDB's only under the same ones."""
    warehouse_dir = Path(warehouse_dir).resolve()
    names = RFM_STAGE
    started = time.perf_counter()
    with ProcessMemory() as memory:
        result = spark_build.build(warehouse_dir, spark_dir=spark_dir, as_of=as_of,
                                   clv_calibration_end=clv_calibration_end)
    wall = time.perf_counter() - started
    spark = spark_build.session(result.spark_dir)
    missing = [n for n in names if n not in result.models]
    if missing:
        raise RuntimeError(f"models of the RFM stage not built on Spark: {missing}")
    out = {
        "wall_seconds": round(wall, 2),
        "steps": {k: round(v, 2) for k, v in result.seconds.items()},
        "rfm_stage_seconds": round(sum(result.models[n] for n in names), 2),
        "duckdb_rfm_stage_seconds": dbt_seconds(warehouse_dir, names),
        "rfm_models": {n: round(result.models[n], 3) for n in names},
        "models_built": len(result.models),
        "tests": result.tests,
        "peak_jvm_rss_mb": _vm_hwm_mb(spark_build.jvm_pid(spark)),
        "peak_python_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_jvm_and_workers_rss_mb": round(memory.peak_children_rss / 2**20, 1),
        "spark_dir": str(result.spark_dir),
        "versions": versions(spark),
    }
    if compare:
        differences = spark_build.mart_differences(warehouse_dir, spark)
        out["marts_equal"] = not differences
        if differences:
            out["mart_differences"] = differences
    return out


def versions(spark) -> dict:
    from importlib.metadata import version

    return {"spark": spark.version, "java": spark.sparkContext._jvm.System.getProperty("java.version"),
            **{p: version(p) for p in ("dbt-core", "dbt-adapters", "dbt-spark", "pyspark",
                                       "dbt-duckdb", "duckdb")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("warehouse", type=Path, help="a warehouse `memberdw run` built")
    ap.add_argument("--compare", action="store_true", help="also compare every mart with DuckDB's")
    ap.add_argument("--spark-dir", type=Path, help="Spark's folder (default: a new temp folder)")
    ap.add_argument("--as-of", help="the as-of date the DuckDB build had (memberdw run --as-of)")
    ap.add_argument("--clv-calibration-end", help="the DuckDB build's --clv-calibration-end")
    args = ap.parse_args()
    started = time.perf_counter()
    result = run(args.warehouse, args.compare, args.spark_dir, args.as_of,
                 args.clv_calibration_end)
    result["seconds_with_compare"] = round(time.perf_counter() - started, 2)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
