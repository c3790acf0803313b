"""memberdw's dbt models built on Apache Spark by dbt-spark (issue 11, part 5; ``method:
session``, a local Spark in this process).

``build(warehouse_dir)`` takes a warehouse that ``memberdw run`` built on DuckDB and
builds the same models on Spark from the engine-neutral raw zone:

1. ``memberdw.raw_zone.export``: every table the dbt sources read (schemas ``raw`` and
   ``meta`` of ``warehouse.duckdb``: landed rows after erasure, load ledger, quarantine,
   the Great Expectations row flags of the DuckDB run) as Parquet under
   ``<warehouse>/raw_zone``, raw tables partitioned by their delivery date ``_dt``.
2. ``session``: the process's SparkSession (local, UTC, small), with the keyed-hash UDFs
   ``memberdw_pii_hash``/``memberdw_pii_hash_previous`` (memberdw.pii's HMAC; the key stays
   in Python, in no SQL text, artifact or log). dbt-spark's session method calls
   ``SparkSession.builder.getOrCreate()``, so dbt runs on this session, UDFs and all.
3. ``dbt build --target spark`` in this process (dbtRunner), the sources being views over
   the raw zone (on-run-start, ``spark__create_raw_zone_views``). dbt-spark runs Python
   models only on Databricks, so, as on PostgreSQL (memberdw.postgres_build), the four of
   them are disabled there and their consumers read the source ``python_models``
   (python_model_ref): everything but those consumers is built first, then
   ``compute_python_models`` runs the models' own files on their inputs (DuckDB relations
   over the Spark tables' Parquet files, typed as Spark wrote them) and writes what they
   return as Spark tables (typed as DuckDB types the returned DataFrame, as dbt-duckdb
   does), then the rest is built.

The Spark tables live under ``<spark_dir>/warehouse`` in the session's in-memory catalog:
they last as long as the session; ``table_files`` lists a table's Parquet files for DuckDB
to read (``mart_differences`` compares every mart with DuckDB's that way).

Needs pyspark and dbt-spark[session] (requirements-dev.lock) and Java 17 on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from memberdw import pii, raw_zone
from memberdw.pipeline import DBT_PROJECT_DIR
from memberdw.postgres_build import _DbtStub, _load_model_function, python_models

DRIVER_MEMORY = "2g"
PYTHON_SOURCE = "python_models"
PYTHON_SCHEMA = "intermediate"
BUILT_SCHEMAS = ("staging", "intermediate", "marts")


class SparkBuildError(RuntimeError):
    """A step of the Spark build failed; the message says which and why."""


@dataclass
class SparkBuild:
    spark_dir: Path
    success: bool
    # raw_zone, session, dbt_main, python_models, dbt_after_python, dbt (both), total
    seconds: dict[str, float] = field(default_factory=dict)
    models: dict[str, float] = field(default_factory=dict)  # dbt's execution_time per model
    tests: dict[str, int] = field(default_factory=dict)  # dbt test outcomes: status -> count
    failures: list[str] = field(default_factory=list)


def java_missing() -> str | None:
    """Why the Spark target cannot run here (no java on PATH, no pyspark or dbt-spark), or None."""
    import importlib.util

    if shutil.which("java") is None:
        return "no `java` on PATH (Java 17: Debian's openjdk-17-jre-headless)"
    for module in ("pyspark", "dbt.adapters.spark"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"no {module} (./scripts/install --dev installs pyspark and dbt-spark)"
    return None


def session(spark_dir: str | Path, master: str = "local[2]"):
    """The process's SparkSession (created on the first call): local, UTC, no UI, its
    catalog in memory and its tables under ``spark_dir``; the keyed-hash UDFs registered."""
    from pyspark.sql import SparkSession

    spark_dir = Path(spark_dir)
    # Python UDF workers run this interpreter, which has memberdw and the pinned packages
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master(master).appName("memberdw")
             .config("spark.driver.memory", DRIVER_MEMORY)
             .config("spark.sql.warehouse.dir", str(spark_dir / "warehouse"))
             .config("spark.local.dir", str(spark_dir / "tmp"))
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.default.parallelism", "2")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.ansi.enabled", "false")  # what dbt-spark sets on every query
             # instants as Parquet TIMESTAMP (UTC-adjusted; DuckDB reads TIMESTAMPTZ), not INT96
             .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    register_udfs(spark)
    return spark


def register_udfs(spark) -> None:
    """memberdw_pii_hash(string) and memberdw_pii_hash_previous(string) on the session, as
    memberdw.pii puts them on a DuckDB connection: the key is in the UDFs' closures (Python
    worker memory), never in SQL, dbt's artifacts or logs. Raises PiiKeyError without a key."""
    from pyspark.sql.types import StringType

    key, previous = pii.current_key(), pii.previous_key()
    spark.udf.register(pii.HASH_FUNCTION, pii._hasher(key), StringType())
    spark.udf.register(pii.PREVIOUS_HASH_FUNCTION, pii._hasher(previous), StringType())


def jvm_pid(spark) -> int | None:
    """The process id of the session's JVM (a child of this process), for its memory."""
    proc = getattr(getattr(spark.sparkContext, "_gateway", None), "proc", None)
    return getattr(proc, "pid", None)


def table_files(spark, name: str) -> list[str]:
    """The Parquet files of a Spark table (``schema.table``), e.g. for duckdb.read_parquet."""
    return sorted(spark.table(name).inputFiles())


def _schema_of(spark, table: str) -> str:
    found = [s for s in BUILT_SCHEMAS if spark.catalog.tableExists(f"{s}.{table}")]
    if len(found) != 1:
        raise SparkBuildError(f"a Python model's input {table} is in {len(found)} built schemas")
    return found[0]


def compute_python_models(spark, manifest: dict, scratch: Path,
                          schema: str = PYTHON_SCHEMA) -> dict[str, float]:
    """Run the dbt Python models dbt-spark cannot here with their own code (the .py files,
    through memberdw.postgres_build's stub ``dbt``: config from the manifest, ref() a DuckDB
    relation), each ref() a DuckDB relation over the Spark table's Parquet files (or a model
    computed before it), and write what each returns as ``schema.<model>`` on Spark: DuckDB
    types the returned DataFrame (``create table as``, as dbt-duckdb does) and writes it as
    Parquet, which Spark saves as the table. Returns seconds per model, inputs included."""
    import duckdb

    seconds: dict[str, float] = {}
    duck = duckdb.connect()
    duck.execute("set TimeZone = 'UTC'")
    loaded: set[str] = set()
    try:
        for model in python_models(manifest):
            started = time.perf_counter()
            for ref in model["refs"]:
                if ref not in loaded:
                    files = table_files(spark, f"{_schema_of(spark, ref)}.{ref}")
                    duck.execute(f'create table "{ref}" as select * from read_parquet(?)', [files])
                    loaded.add(ref)
            function = _load_model_function(DBT_PROJECT_DIR / model["path"])
            frame = function(_DbtStub(duck, model["config"]), None)
            duck.register("model_result", frame)
            duck.execute(f'create or replace table "{model["name"]}" as select * from model_result')
            duck.unregister("model_result")
            loaded.add(model["name"])
            folder = scratch / f"{model['name']}-{uuid.uuid4().hex[:8]}"
            folder.mkdir(parents=True)
            duck.execute(f"""copy "{model['name']}" to '{(folder / "part-0.parquet").as_posix()}'"""
                         " (format parquet)")
            spark.sql(f"create database if not exists {schema}")
            (spark.read.parquet(str(folder)).write.mode("overwrite").format("parquet")
             .saveAsTable(f"{schema}.{model['name']}"))
            seconds[model["name"]] = time.perf_counter() - started
    finally:
        duck.close()
    return seconds


def _invoke(args: list[str], result: SparkBuild, step: str) -> None:
    from dbt.cli.main import dbtRunner

    started = time.monotonic()
    outcome = dbtRunner().invoke(args)
    result.seconds[step] = time.monotonic() - started
    for node in getattr(outcome.result, "results", None) or []:
        unique_id = node.node.unique_id
        status = str(node.status)
        if unique_id.startswith("model."):
            result.models[unique_id.split(".")[-1]] = node.execution_time
        elif unique_id.startswith("test."):
            result.tests[status] = result.tests.get(status, 0) + 1
        if status in ("error", "fail"):
            result.failures.append(f"{unique_id}: {(node.message or '')[:500]}")
    if not outcome.success:
        if not result.failures:
            result.failures.append(f"dbt {' '.join(args[:3])}: {outcome.exception}")
        raise SparkBuildError("; ".join(result.failures))


def build(warehouse_dir: str | Path, spark_dir: str | Path | None = None,
          as_of: str | None = None, clv_calibration_end: str | None = None,
          exclude_tests: bool = False) -> SparkBuild:
    """Export the raw zone of ``warehouse_dir`` and build every model on Spark (module
    docstring), into ``spark_dir`` (default: a new folder under the temp dir). Raises
    SparkBuildError naming the failed nodes. ``exclude_tests``: models only (no data or
    unit tests)."""
    started = time.monotonic()
    warehouse_dir = Path(warehouse_dir).resolve()
    spark_dir = Path(spark_dir or tempfile.mkdtemp(prefix="memberdw-spark-")).resolve()
    result = SparkBuild(spark_dir, success=False)
    zone = raw_zone.export(warehouse_dir)
    result.seconds["raw_zone"] = time.monotonic() - started
    mark = time.monotonic()
    spark = session(spark_dir)
    result.seconds["session"] = time.monotonic() - mark
    os.environ.update({"MEMBERDW_RAW_ZONE": str(zone),
                       "MEMBERDW_WAREHOUSE_DIR": str(warehouse_dir)})
    target_path = spark_dir / "dbt" / "target"
    common = ["--target", "spark", "--project-dir", str(DBT_PROJECT_DIR),
              "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target_path),
              "--log-path", str(spark_dir / "dbt" / "logs"), "--no-use-colors", "--quiet"]
    if exclude_tests:
        common += ["--resource-type", "model"]
    run_vars = {name: str(value) for name, value in
                (("as_of_date", as_of), ("clv_calibration_end", clv_calibration_end)) if value}
    if run_vars:
        common += ["--vars", json.dumps(run_vars)]
    _invoke(["build", "--exclude", f"source:{PYTHON_SOURCE}+", *common], result, "dbt_main")
    manifest = json.loads((target_path / "manifest.json").read_text())
    mark = time.monotonic()
    computed = compute_python_models(spark, manifest, spark_dir / "tmp" / "python_models")
    result.models.update(computed)
    result.seconds["python_models"] = time.monotonic() - mark
    _invoke(["build", "--select", f"source:{PYTHON_SOURCE}+", *common], result, "dbt_after_python")
    result.seconds["dbt"] = (result.seconds["dbt_main"] + result.seconds["python_models"]
                             + result.seconds["dbt_after_python"])
    result.success = True
    result.seconds["total"] = time.monotonic() - started
    return result


def mart_differences(warehouse_dir: str | Path, spark, schema: str = "marts") -> dict:
    """Every table of ``schema`` in the DuckDB working file against the same-named Spark
    table, both read by DuckDB in one UTC session (Spark's through its Parquet files):
    tables on one side only; columns (name, and kind: an integer of any width, a decimal
    of any precision, double, text, date, timestamp, timestamptz, boolean) that differ; and
    per table with the same columns the number of rows on each side only (EXCEPT ALL both
    ways: multisets, values exact, no tolerance). Empty: equal row for row."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"attach '{Path(warehouse_dir) / 'warehouse.duckdb'}' as duck (read_only)")
        return _differences(con, spark, schema)
    finally:
        con.close()


def attach_spark_tables(con, spark, schema: str = "marts") -> list[str]:
    """Views ``spark_<table>`` in DuckDB over the Parquet files of each Spark table of
    ``schema``; returns the table names."""
    tables = sorted(t.name for t in spark.catalog.listTables(schema))
    for table in tables:
        files = table_files(spark, f"{schema}.{table}")
        con.execute(f'create or replace view "spark_{table}" as select * from read_parquet(['
                    + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "])")
    return tables


_KINDS = {"TINYINT": "integer", "SMALLINT": "integer", "INTEGER": "integer", "BIGINT": "integer",
          "HUGEINT": "integer", "UTINYINT": "integer", "USMALLINT": "integer",
          "UINTEGER": "integer", "UBIGINT": "integer", "DOUBLE": "double", "FLOAT": "float",
          "VARCHAR": "text", "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "timestamp",
          "TIMESTAMP WITH TIME ZONE": "timestamptz"}


def column_kinds(con, relation: str) -> list[tuple[str, str]]:
    return [(name, "decimal" if data_type.startswith("DECIMAL") else _KINDS.get(data_type, data_type))
            for name, data_type, *_ in con.execute(f"describe select * from {relation}").fetchall()]


def row_differences(con, duck: str, other: str) -> tuple[int, int]:
    """Rows of ``duck`` missing from ``other`` and the other way round (as multisets)."""
    missing = con.execute(f"select count(*) from (select * from {duck} except all"
                          f" select * from {other})").fetchone()[0]
    extra = con.execute(f"select count(*) from (select * from {other} except all"
                        f" select * from {duck})").fetchone()[0]
    return missing, extra


def _differences(con, spark, schema: str) -> dict:
    differences: dict = {}
    duck_tables = [t for (t,) in con.execute(
        "select table_name from information_schema.tables where table_catalog = 'duck'"
        " and table_schema = ? order by 1", [schema]).fetchall()]
    spark_tables = attach_spark_tables(con, spark, schema)
    if set(duck_tables) ^ set(spark_tables):
        differences["tables"] = {"duckdb only": sorted(set(duck_tables) - set(spark_tables)),
                                 "spark only": sorted(set(spark_tables) - set(duck_tables))}
    for table in duck_tables:
        if table not in spark_tables:
            continue
        duck, other = f'duck."{schema}"."{table}"', f'"spark_{table}"'
        duck_columns, spark_columns = column_kinds(con, duck), column_kinds(con, other)
        if duck_columns != spark_columns:
            differences.setdefault("columns", {})[table] = {
                "duckdb": [c for c in duck_columns if c not in spark_columns],
                "spark": [c for c in spark_columns if c not in duck_columns]}
            continue
        missing, extra = row_differences(con, duck, other)
        if missing or extra:
            differences.setdefault("rows", {})[table] = {"duckdb only": missing,
                                                         "spark only": extra}
    return differences
