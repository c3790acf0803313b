"""The engine-neutral raw zone: every table the dbt sources read, as Parquet.

``export(warehouse_dir)`` writes each source table of ``warehouse.duckdb`` (the ``sources:``
of models/staging, i.e. schema raw and the meta tables they name) to
``<warehouse_dir>/raw_zone/<schema>/<table>/``: raw tables partitioned by their delivery
date (Hive style, ``_dt=YYYY-MM-DD/``; the files keep ``_dt`` too, so both engines see the
columns in their DuckDB order), meta tables (and an empty table) as one plain file. DuckDB and Spark read
it alike (``read_parquet(..., hive_partitioning = true)``, ``parquet.`<path>```); the
Spark target's views over it are ``spark__create_raw_zone_views`` in
dbt_project/macros/engines/spark.sql. Timestamps with time zone are written as UTC instants,
JSON as text. Idempotent: the zone is written beside the old one and swapped in whole.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import duckdb
import yaml

from memberdw.pipeline import REPO_ROOT
from memberdw.warehouse import working_path

ZONE = "raw_zone"
PARTITION_COLUMN = "_dt"  # the delivery date every raw table carries


def source_tables() -> list[tuple[str, str]]:
    """(schema, table) of every landed dbt source, from the sources files of models/staging
    (not the python_models source of models/intermediate: the Python models' tables)."""
    tables = []
    for path in sorted((REPO_ROOT / "models" / "staging").rglob("*__sources.yml")):
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["sources"]:
            for table in source["tables"]:
                tables.append((source.get("schema", source["name"]),
                               table.get("identifier", table["name"])))
    return tables


def export(warehouse_dir: str | Path) -> Path:
    """Write the raw zone of the warehouse's working file; returns its folder."""
    warehouse_dir = Path(warehouse_dir)
    zone = warehouse_dir / ZONE
    staging = warehouse_dir / f".{ZONE}-{uuid.uuid4().hex[:8]}"
    con = duckdb.connect(str(working_path(warehouse_dir)), read_only=True)
    try:
        for schema, table in source_tables():
            columns = con.execute(
                "select column_name, data_type from information_schema.columns"
                " where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table]).fetchall()
            select = ", ".join(
                f'cast("{name}" as varchar) as "{name}"' if kind == "JSON" else f'"{name}"'
                for name, kind in columns)
            target = staging / schema / table
            target.mkdir(parents=True)
            query = f'select {select} from "{schema}"."{table}"'
            partitioned = (PARTITION_COLUMN in dict(columns)
                           and con.execute(f"select count(*) from ({query})").fetchone()[0] > 0)
            if partitioned:  # an empty table would write no file and so no schema
                con.execute(f"copy ({query}) to '{target}' (format parquet,"
                            f" partition_by ({PARTITION_COLUMN}), write_partition_columns true,"
                            " filename_pattern 'part_{i}')")
            else:
                con.execute(f"copy ({query}) to '{target / 'part_0.parquet'}' (format parquet)")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        con.close()
    old = warehouse_dir / f".{ZONE}-old-{uuid.uuid4().hex[:8]}"
    if zone.exists():
        zone.rename(old)
    staging.rename(zone)
    shutil.rmtree(old, ignore_errors=True)
    return zone
