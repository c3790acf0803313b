"""memberdw's dbt models built on PostgreSQL by dbt-postgres (issue 11's benchmark, part c).

``build(warehouse_dir, url)`` takes a warehouse that ``memberdw run`` built on DuckDB and
builds the same models in the PostgreSQL database of ``url``:

1. ``load_sources``: the tables of schemas ``raw`` and ``meta`` of ``warehouse.duckdb``
   (what the dbt sources read: landed rows after erasure, load ledger, quarantine, the
   Great Expectations row flags of the DuckDB run) are copied into schemas ``raw`` and
   ``meta`` by COPY, each DuckDB type as its PostgreSQL counterpart
   (``memberdw.postgres_serving.postgres_type``: DECIMAL(18,2) numeric(18,2), TIMESTAMP
   WITH TIME ZONE timestamptz, JSON jsonb, ...).
2. ``dbt build --target postgres`` in the order ``memberdw run`` builds them: staging, then
   the marts. dbt-postgres runs no Python model, so the four of them (int_clv_fit,
   int_member_clv, int_campaign_effects, int_coupon_effects) are disabled on postgres
   and their consumers read them as the source ``python_models`` (same schema and table
   names, through the macro python_model_ref): the marts are built without the models
   downstream of that source, then ``compute_python_models`` runs the models' own code
   (the .py files: memberdw.clv_tables, memberdw.stats) on their inputs read back from
   PostgreSQL and loads what they return, typed as dbt-duckdb types it, then the rest
   is built.

The PII key reaches the PostgreSQL session as the setting ``memberdw.pii_key`` through
libpq's PGOPTIONS (the profile sets no search_path, so dbt-postgres passes no ``options``
of its own), never in SQL text: postgres__pii_hash reads it with current_setting().

Returns per-model seconds from dbt's run_results.json and wall seconds of each step.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlsplit

import duckdb
from psycopg2 import sql

from memberdw import pii
from memberdw.pipeline import DBT_PROJECT_DIR
from memberdw.postgres_serving import _export, connect, postgres_type

SOURCE_SCHEMAS = ("raw", "meta")
BUILT_SCHEMAS = ("staging", "intermediate", "marts")
# the dbt Python models' tables, computed outside dbt on postgres (python_model_ref)
PYTHON_SOURCE = "python_models"
PYTHON_SCHEMA = "intermediate"
# a PostgreSQL type as the DuckDB type dbt-duckdb gives the same values (Python models' inputs)
DUCKDB_TYPES = {"integer": "INTEGER", "bigint": "BIGINT", "smallint": "SMALLINT",
                "double precision": "DOUBLE", "real": "FLOAT", "text": "VARCHAR",
                "character varying": "VARCHAR", "date": "DATE", "boolean": "BOOLEAN",
                "timestamp without time zone": "TIMESTAMP",
                "timestamp with time zone": "TIMESTAMPTZ"}


# What the postgres__ macros (dbt_project/macros/engines/postgres.sql) call besides the
# built-ins: pgcrypto's hmac() for the PII hash, and the try-casts PostgreSQL 15 lacks
# (DuckDB's try_strptime(x, '%Y-%m-%d %H:%M:%S'), try_cast(x as timestamptz), try(json(x))).
SETUP_SQL = r"""
create extension if not exists pgcrypto;
create or replace function memberdw_try_timestamp(value text) returns timestamp
language plpgsql immutable parallel safe as $$
begin
    if value !~ '^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2} [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}$' then
        return null;
    end if;
    return value::timestamp;
exception when others then
    return null;
end $$;
create or replace function memberdw_try_jsonb(value text) returns jsonb
language plpgsql immutable parallel safe as $$
begin
    return value::jsonb;
exception when others then
    return null;
end $$;
create or replace function memberdw_try_timestamptz(value text) returns timestamptz
language plpgsql stable parallel safe as $$
begin
    return value::timestamptz;
exception when others then
    return null;
end $$;
"""


class PostgresBuildError(RuntimeError):
    """A step of the PostgreSQL build failed; the message says which and why."""


def connection_settings(url: str) -> dict[str, str]:
    """The profile's MEMBERDW_PG_* variables (dbt_project/profiles.yml, output postgres)
    from a ``postgresql://user:password@host:port/dbname`` URL."""
    parts = urlsplit(re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url))
    return {"MEMBERDW_PG_HOST": parts.hostname or "127.0.0.1",
            "MEMBERDW_PG_PORT": str(parts.port or 5432),
            "MEMBERDW_PG_USER": unquote(parts.username or "postgres"),
            "MEMBERDW_PG_PASSWORD": unquote(parts.password or ""),
            "MEMBERDW_PG_DBNAME": unquote(parts.path.lstrip("/") or "postgres")}


def ensure_database(url: str) -> bool:
    """Create the URL's database when missing (connecting to database ``postgres`` of the
    same server as the same login); True when it was created."""
    import psycopg2

    settings = connection_settings(url)
    name = settings["MEMBERDW_PG_DBNAME"]
    admin = psycopg2.connect(host=settings["MEMBERDW_PG_HOST"], port=settings["MEMBERDW_PG_PORT"],
                             user=settings["MEMBERDW_PG_USER"],
                             password=settings["MEMBERDW_PG_PASSWORD"] or None, dbname="postgres",
                             application_name="memberdw postgres_build")
    try:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", [name])
            if cur.fetchone():
                return False
            cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
            return True
    finally:
        admin.close()


def _copy_duckdb_table(cur, duck, schema: str, table: str, target_schema: str,
                       scratch: Path) -> int:
    """Create ``target_schema.table`` with the PostgreSQL types of the DuckDB table's
    columns and COPY its rows in through CSV (NULL unquoted empty, '' quoted)."""
    columns = duck.execute(
        "select column_name, data_type from duckdb_columns() where database_name ="
        " current_database() and schema_name = ? and table_name = ? order by column_index",
        [schema, table]).fetchall()
    typed = [(name, data_type, postgres_type(data_type)) for name, data_type in columns]
    target = sql.Identifier(target_schema, table)
    cur.execute(sql.SQL("drop table if exists {}").format(target))
    cur.execute(sql.SQL("create table {} ({})").format(target, sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type))
        for name, _, pg_type in typed)))
    csv = scratch / f"{schema}.{table}.csv"
    exports = ", ".join(_export(name, data_type, pg_type) for name, data_type, pg_type in typed)
    duck.execute(f'copy (select {exports} from "{schema}"."{table}")'
                 f" to '{csv.as_posix()}' (format csv, header false)").fetchall()
    (expected,) = duck.execute(f'select count(*) from "{schema}"."{table}"').fetchall()[0]
    try:
        with open(csv, "rb") as rows:
            cur.copy_expert(sql.SQL("copy {} ({}) from stdin with (format csv)").format(
                target, sql.SQL(", ").join(sql.Identifier(n) for n, _, _ in typed)
            ).as_string(cur), rows, size=1 << 20)
        loaded = cur.rowcount
    finally:
        csv.unlink(missing_ok=True)
    if loaded != expected:
        raise PostgresBuildError(f"{target_schema}.{table}: loaded {loaded} rows of {expected}")
    cur.execute(sql.SQL("analyze {}").format(target))
    return loaded


def load_sources(warehouse_dir: str | Path, url: str,
                 schemas: tuple[str, ...] = SOURCE_SCHEMAS) -> dict[str, int]:
    """Replace schemas ``raw`` and ``meta`` of the PostgreSQL database with the working
    file's tables, in one transaction; drops the schemas dbt builds (a fresh build, as
    on DuckDB) and installs pgcrypto. Returns rows per ``schema.table``."""
    warehouse_file = Path(warehouse_dir) / "warehouse.duckdb"
    if not warehouse_file.exists():
        raise PostgresBuildError(f"no working file {warehouse_file}: run memberdw run first")
    duck = duckdb.connect(str(warehouse_file), read_only=True)
    counts: dict[str, int] = {}
    try:
        duck.execute("set TimeZone = 'UTC'").fetchall()  # timestamptz as +00 in the CSV, exact
        conn = connect(url)
        try:
            with conn, conn.cursor() as cur, tempfile.TemporaryDirectory(
                    prefix="memberdw-pgbuild-") as scratch:
                cur.execute(SETUP_SQL)
                for schema in (*schemas, *BUILT_SCHEMAS):
                    cur.execute(sql.SQL("drop schema if exists {} cascade").format(
                        sql.Identifier(schema)))
                for schema in schemas:
                    cur.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
                    for (table,) in duck.execute(
                            "select table_name from duckdb_tables() where database_name ="
                            " current_database() and schema_name = ? order by 1",
                            [schema]).fetchall():
                        counts[f"{schema}.{table}"] = _copy_duckdb_table(
                            cur, duck, schema, table, schema, Path(scratch))
        finally:
            conn.close()
    finally:
        duck.close()
    return counts


def _pgoptions_value(value: str) -> str:
    """A value for ``-c name=value`` in PGOPTIONS: backslash and space escaped."""
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


def duckdb_time_zone() -> str:
    """The TimeZone a new DuckDB connection (and so dbt-duckdb's) has."""
    con = duckdb.connect()
    try:
        return con.execute("select current_setting('TimeZone')").fetchall()[0][0]
    finally:
        con.close()


def dbt_environment(url: str, warehouse_dir: str | Path, threads: int = 1,
                    environ=os.environ) -> dict[str, str]:
    """The environment of a ``dbt --target postgres`` process: the profile's connection
    variables, and the PII key(s) as session settings in PGOPTIONS."""
    env = {k: v for k, v in environ.items() if not k.startswith("AIRFLOW")}
    env.update(connection_settings(url))
    env.update({"MEMBERDW_DBT_TARGET": "postgres", "MEMBERDW_PG_THREADS": str(threads),
                "MEMBERDW_WAREHOUSE_DIR": str(warehouse_dir),
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"})
    # the session time zone DuckDB's sessions have (the machine's): casts of timestamptz
    # to date or text, and date_trunc on one, depend on it
    options = [env.get("PGOPTIONS", ""), f"-c TimeZone={_pgoptions_value(duckdb_time_zone())}"]
    options.append(f"-c memberdw.pii_key={_pgoptions_value(pii.current_key().decode('utf-8'))}")
    previous = pii.previous_key()
    if previous is not None:
        options.append(f"-c memberdw.pii_key_previous={_pgoptions_value(previous.decode('utf-8'))}")
    env["PGOPTIONS"] = " ".join(o for o in options if o)
    return env


def run_dbt(args: list[str], env: dict[str, str], target_path: Path, log_path: Path,
            run_vars: dict | None = None, step_name: str = "last") -> dict:
    """One ``dbt`` command (its own process) against the postgres target; returns its
    run_results.json (or raises naming the failed nodes)."""
    command = [str(Path(sys.executable).with_name("dbt")), *args,
               "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
               "--target", "postgres", "--target-path", str(target_path),
               "--log-path", str(log_path), "--no-use-colors"]
    if run_vars:
        command += ["--vars", json.dumps(run_vars)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    results_file = target_path / "run_results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {"results": []}
    if done.returncode != 0:
        failed = [f"{r['unique_id']}: {(r.get('message') or '')[:500]}" for r in results["results"]
                  if r["status"] in ("error", "fail")]
        raise PostgresBuildError(f"dbt {' '.join(args)} failed (exit {done.returncode}): "
                                 + ("; ".join(failed) or done.stdout[-3000:] + done.stderr[-3000:]))
    # kept as run_results.<step>.json: the next command's must not be mistaken for this one's
    results_file.replace(target_path / f"run_results.{step_name}.json")
    return results


def _pg_table_to_duckdb(cur, duck, schema: str, table: str, scratch: Path) -> None:
    """Read a PostgreSQL table into an in-memory DuckDB table of the same name, each column
    with the DuckDB type dbt-duckdb's ref() would have given the Python model."""
    cur.execute("select column_name, data_type, numeric_precision, numeric_scale from"
                " information_schema.columns where table_schema = %s and table_name = %s"
                " order by ordinal_position", [schema, table])
    columns = []
    for name, data_type, precision, scale in cur.fetchall():
        if data_type == "numeric" and precision is None:
            # unconstrained (a sum, a product): DuckDB's DECIMAL(38, s) of the same
            # expression has the scale PostgreSQL keeps on the values
            cur.execute(sql.SQL("select max(scale({})) from {}").format(
                sql.Identifier(name), sql.Identifier(schema, table)))
            precision, scale = 38, cur.fetchone()[0] or 0
        duck_type = (f"DECIMAL({precision},{scale})" if data_type == "numeric"
                     else DUCKDB_TYPES[data_type])
        columns.append((name, duck_type))
    csv = scratch / f"{table}.csv"
    with open(csv, "wb") as out:
        cur.copy_expert(sql.SQL("copy {} to stdout with (format csv)").format(
            sql.Identifier(schema, table)).as_string(cur), out)
    spec = ", ".join(f"'{n}': '{t}'" for n, t in columns)
    duck.execute(f"create table {table} as select * from read_csv('{csv.as_posix()}',"
                 f" header = false, columns = {{{spec}}}, nullstr = '', quote = '\"')").fetchall()
    csv.unlink()


class _Config:
    """``dbt.config`` of a Python model: a no-op call, and get() from the node's config as
    dbt rendered it (vars included) into the manifest."""

    def __init__(self, values: dict):
        self._values = values

    def __call__(self, **_):
        return None

    def get(self, key, default=None):
        return self._values.get(key, default)


class _DbtStub:
    """What the Python models use of their ``dbt`` argument: config and ref(), ref()
    answering from the in-memory DuckDB the inputs were copied into."""

    def __init__(self, duck, config: dict):
        self._duck = duck
        self.config = _Config(config)

    def ref(self, name: str):
        return self._duck.table(name)


def python_models(manifest: dict) -> list[dict]:
    """The project's Python models dbt left disabled on this target, inputs before the
    models that read them: name, path, config and the models they ref()."""
    found = {}
    for unique_id, versions in manifest.get("disabled", {}).items():
        node = versions[0]
        if node.get("resource_type") == "model" and node.get("language") == "python":
            found[node["name"]] = {"name": node["name"], "path": node["original_file_path"],
                                   "config": node["config"],
                                   "refs": [r["name"] for r in node.get("refs", [])]}
    ordered: list[dict] = []
    while found:
        ready = [m for m in found.values() if not set(m["refs"]) & set(found)]
        if not ready:
            raise PostgresBuildError(f"Python models ref each other in a cycle: {sorted(found)}")
        for model in sorted(ready, key=lambda m: m["name"]):
            ordered.append(found.pop(model["name"]))
    return ordered


def _load_model_function(path: Path):
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 - our own model
    return namespace["model"]


def compute_python_models(url: str, manifest: dict, schema: str = PYTHON_SCHEMA) -> dict[str, float]:
    """Run the dbt Python models dbt-postgres cannot (``python_models``) with their own
    code, each with its ref()s read back from PostgreSQL (typed as dbt-duckdb would hand
    them over) or taken from a model computed before it, and load what each returns into
    ``schema.<model>``, typed as dbt-duckdb types the returned DataFrame (DuckDB creates a
    table from it, then the loader maps DuckDB types to PostgreSQL ones, as for the
    sources). Returns seconds per model, reading its inputs included."""
    seconds = {}
    duck = duckdb.connect()
    conn = connect(url)
    computed: set[str] = set()
    try:
        with conn, conn.cursor() as cur, tempfile.TemporaryDirectory(
                prefix="memberdw-pgpy-") as scratch:
            for model in python_models(manifest):
                started = time.perf_counter()
                for ref in model["refs"]:
                    if ref not in computed:
                        _pg_table_to_duckdb(cur, duck, _schema_of(cur, ref), ref, Path(scratch))
                        computed.add(ref)
                function = _load_model_function(DBT_PROJECT_DIR / model["path"])
                frame = function(_DbtStub(duck, model["config"]), None)
                duck.register("model_result", frame)
                duck.execute(f'create or replace table "{model["name"]}" as'
                             " select * from model_result").fetchall()
                duck.unregister("model_result")
                computed.add(model["name"])
                _copy_duckdb_table(cur, duck, "main", model["name"], schema, Path(scratch))
                seconds[model["name"]] = time.perf_counter() - started
    finally:
        conn.close()
        duck.close()
    return seconds


def _schema_of(cur, table: str) -> str:
    cur.execute("select table_schema from information_schema.tables where table_name = %s"
                " and table_schema = any(%s)", [table, list(BUILT_SCHEMAS)])
    rows = cur.fetchall()
    if len(rows) != 1:
        raise PostgresBuildError(f"a Python model's input {table} is in {len(rows)} built schemas")
    return rows[0][0]


def _model_timings(results: dict) -> dict[str, float]:
    return {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results["results"]
            if r["unique_id"].startswith("model.")}


def build(warehouse_dir: str | Path, url: str, *, threads: int = 1,
          work_dir: str | Path | None = None, run_vars: dict | None = None,
          create_database: bool = True, models: tuple[str, ...] | None = None) -> dict:
    """Load the sources and build every model on PostgreSQL (module docstring), or only
    ``models`` and what they are built from (one ``dbt build``, no Python model). Returns
    ``wall_seconds`` (load + dbt + Python models), ``steps`` (seconds each), ``models``
    (dbt's execution_time per model, the Python models' seconds among them),
    ``source_rows`` and ``tests`` (dbt test outcomes: status -> count)."""
    warehouse_dir = Path(warehouse_dir).resolve()
    work = Path(work_dir) if work_dir else warehouse_dir / "postgres"
    target_path, log_path = work / "target", work / "logs"
    target_path.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    steps: dict[str, float] = {}
    models_built: dict[str, float] = {}
    tests: dict[str, int] = {}

    def step(name, fn, *args, **kwargs):
        t = time.perf_counter()
        value = fn(*args, **kwargs)
        steps[name] = time.perf_counter() - t
        return value

    def dbt(name, args):
        results = step(name, run_dbt, args, env, target_path, log_path, run_vars, name)
        models_built.update(_model_timings(results))
        for r in results["results"]:
            if r["unique_id"].startswith("test."):
                tests[r["status"]] = tests.get(r["status"], 0) + 1

    if create_database:
        ensure_database(url)
    env = dbt_environment(url, warehouse_dir, threads)
    source_rows = step("load_sources", load_sources, warehouse_dir, url)
    if models:
        # run, not build: memberdw's DuckDB runs build the models without their tests
        dbt("dbt_models", ["run", "--select", *(f"+{m}" for m in models),
                           "--exclude", f"source:{PYTHON_SOURCE}+"])
        return {"wall_seconds": time.perf_counter() - started, "steps": steps,
                "models": models_built, "source_rows": source_rows, "tests": tests}
    dbt("dbt_staging", ["build", "--select", "tag:staging"])
    dbt("dbt_marts", ["build", "--select", "tag:marts", "--exclude", f"source:{PYTHON_SOURCE}+"])
    manifest = json.loads((target_path / "manifest.json").read_text())
    models_built.update(step("python_models", compute_python_models, url, manifest))
    dbt("dbt_after_python", ["build", "--select", f"source:{PYTHON_SOURCE}+"])
    return {"wall_seconds": time.perf_counter() - started, "steps": steps,
            "models": models_built, "source_rows": source_rows, "tests": tests}


# format_type() names as postgres_type() spells them
PG_TYPE_NAMES = {"timestamp without time zone": "timestamp",
                 "timestamp with time zone": "timestamptz", "character varying": "text"}


def _normalised(value):
    """One value as both engines' drivers hand it over, reduced to what it is: NaN (which
    equals nothing, itself included) as a marker, everything else as is (Decimal('50.0')
    equals Decimal('50.00') and hashes alike; aware datetimes compare by instant)."""
    if isinstance(value, float) and math.isnan(value):
        return ("NaN",)
    if isinstance(value, (list, dict)):  # jsonb, as psycopg2 parses it
        return ("json", json.dumps(value, sort_keys=True))
    return value


def table_rows(rows, json_columns: frozenset[int] = frozenset()) -> Counter:
    """The multiset of rows, values normalised (``_normalised``); the JSON text of DuckDB's
    JSON columns (their positions in ``json_columns``) parsed first, as psycopg2 parses
    jsonb."""
    return Counter(tuple(_normalised(json.loads(v) if i in json_columns and isinstance(v, str)
                                     else v) for i, v in enumerate(row)) for row in rows)


def mart_differences(warehouse_dir: str | Path, url: str, schema: str = "marts") -> dict:
    """Every table of ``schema`` in the working file against the same-named table on
    PostgreSQL: tables on one side only, column names and PostgreSQL types (of the DuckDB
    types, ``postgres_type``) that differ, and per table with the same column names the
    rows on one side only (as multisets). Empty: equal row for row, type for type."""
    differences: dict = {}
    duck = duckdb.connect(str(Path(warehouse_dir) / "warehouse.duckdb"), read_only=True)
    conn = connect(url)
    try:
        tables = [t for (t,) in duck.execute(
            "select table_name from duckdb_tables() where database_name = current_database()"
            " and schema_name = ? order by 1", [schema]).fetchall()]
        with conn.cursor() as cur:
            cur.execute("select table_name from information_schema.tables where table_schema = %s",
                        [schema])
            pg_tables = {t for (t,) in cur.fetchall()}
            if set(tables) ^ pg_tables:
                differences["tables"] = {"duckdb only": sorted(set(tables) - pg_tables),
                                         "postgres only": sorted(pg_tables - set(tables))}
            for table in tables:
                if table not in pg_tables:
                    continue
                duck_columns = [(n, postgres_type(t)) for n, t in duck.execute(
                    "select column_name, data_type from duckdb_columns() where database_name ="
                    " current_database() and schema_name = ? and table_name = ?"
                    " order by column_index", [schema, table]).fetchall()]
                cur.execute("select column_name, format_type(a.atttypid, a.atttypmod) from"
                            " information_schema.columns c join pg_attribute a on a.attrelid ="
                            " (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))"
                            "::regclass and a.attname = c.column_name where table_schema = %s"
                            " and table_name = %s order by ordinal_position", [schema, table])
                pg_columns = [(n, PG_TYPE_NAMES.get(t, t)) for n, t in cur.fetchall()]
                if duck_columns != pg_columns:
                    differences.setdefault("columns", {})[table] = {
                        "duckdb": duck_columns, "postgres": pg_columns}
                    if [n for n, _ in duck_columns] != [n for n, _ in pg_columns]:
                        continue  # rows compared only under the same column names
                names = ", ".join('"' + n + '"' for n, _ in duck_columns)
                json_columns = frozenset(i for i, (_, t) in enumerate(duck_columns) if t == "jsonb")
                duck_rows = table_rows(duck.execute(
                    f'select {names} from "{schema}"."{table}"').fetchall(), json_columns)
                cur.execute(f'select {names} from "{schema}"."{table}"')
                pg_rows = table_rows(cur.fetchall())
                if duck_rows != pg_rows:
                    differences.setdefault("rows", {})[table] = {
                        "duckdb only": list((duck_rows - pg_rows).elements())[:5],
                        "postgres only": list((pg_rows - duck_rows).elements())[:5],
                        "counts": (sum(duck_rows.values()), sum(pg_rows.values()))}
    finally:
        conn.close()
        duck.close()
    return differences
