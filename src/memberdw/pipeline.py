"""What the DAG tasks do, free of Airflow: land a source, build the dbt models, summarise.

Each function opens the working warehouse itself and closes it before returning, so
tasks never hold the file between them.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb

from memberdw import ingest, warehouse

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVING_FILE = "marts.duckdb"
DBT_TARGET = Path("dbt") / "target"  # dbt's artifacts (manifest, run results), in the warehouse
DBT_PROJECT_DIR = Path(os.environ.get("MEMBERDW_DBT_PROJECT_DIR", REPO_ROOT / "dbt_project"))


class PipelineError(RuntimeError):
    """A step failed; the message says which and why."""


def land(source: str, landing_root: str | Path, warehouse_dir: str | Path,
         as_of: str | date | None = None, run_id: str | None = None,
         mysql_source=None) -> dict:
    """Land every new complete file of ``source``; returns the load report as a dict."""
    root = Path(landing_root)
    if not root.is_dir():
        raise PipelineError(f"landing root {root} does not exist")
    as_of = date.fromisoformat(as_of) if isinstance(as_of, str) and as_of else as_of or None
    con = warehouse.connect(Path(warehouse_dir))
    try:
        report = ingest.land_source(con, root, source, as_of=as_of, run_id=run_id)
        if mysql_source is not None:
            from memberdw import crm_mysql
            report.add(crm_mysql.land_members(con, mysql_source, run_id=run_id))
    finally:
        con.close()
    log.info("landed %s: %s", source, report)
    return report.__dict__


def transform(warehouse_dir: str | Path, select: str, as_of: str | None = None,
              clv_calibration_end: str | None = None, full_refresh: bool = False,
              extra_vars: dict | None = None, command: str = "build") -> None:
    """``dbt build`` the selected models (and their data tests) into the working warehouse;
    the dates given set the dbt vars as_of_date and clv_calibration_end, ``extra_vars``
    others; ``full_refresh`` rebuilds incremental models from everything
    (memberdw.incremental says when). dbt's unit tests check the models' logic on made-up
    rows, not the data: a build leaves them out, as dbt advises for production runs, and
    the test suite runs them (``command="test"``, select ``test_type:unit``;
    tests/test_dbt_unit_tests.py)."""
    from dbt.cli.main import dbtRunner

    from memberdw import progress

    warehouse_dir = Path(warehouse_dir)
    os.environ["MEMBERDW_WAREHOUSE_DIR"] = str(warehouse_dir)
    resources = warehouse.resources(warehouse_dir)  # profiles.yml reads them
    os.environ[warehouse.MEMORY_LIMIT_VARIABLE] = resources["memory_limit"]
    os.environ[warehouse.THREADS_VARIABLE] = resources["threads"]
    args = [command, "--select", select, "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(warehouse_dir / DBT_TARGET),
            "--log-path", str(warehouse_dir / "dbt" / "logs"), "--no-use-colors", "--quiet"]
    if full_refresh:
        args.append("--full-refresh")
    if command == "build":
        args += ["--exclude-resource-type", "unit_test"]
    run_vars = {name: str(value) for name, value in
                (("as_of_date", as_of), ("clv_calibration_end", clv_calibration_end)) if value}
    run_vars.update(extra_vars or {})
    if run_vars:
        args += ["--vars", json.dumps(run_vars)]
    try:
        result = dbtRunner(callbacks=progress.dbt_callbacks(f"dbt build {select}")).invoke(args)
    finally:
        _release_dbt_connection()
    if not result.success:
        failed = []
        for node in getattr(result.result, "results", None) or []:
            if str(node.status) in ("error", "fail"):
                failed.append(f"{node.node.name}: {node.message}")
        raise PipelineError(f"dbt {command} failed: " + ("; ".join(failed) or str(result.exception)))


class PublishRefused(PipelineError):
    """The publication guard kept the serving file as it was; the message says why."""


@functools.cache
def dbt_vars() -> dict:
    """The project's thresholds: dbt vars in dbt_project.yml are their one home."""
    import yaml

    return yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]


def check_landing_root(landing_root: str | Path) -> None:
    """Refuse a landing root holding none of the contract's source folders (empty, or a level
    too deep such as ``landing/crm``): it would load nothing and publish stale or empty marts."""
    from memberdw.contract import SOURCES

    root = Path(landing_root)
    if not root.is_dir():
        raise PipelineError(f"landing root {root} does not exist")
    if any((root / source).is_dir() for source in SOURCES):
        return
    found = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
    what = (f"holds none of the contract's source folders ({', '.join(SOURCES)}), only "
            + ", ".join(found[:8]) + (", …" if len(found) > 8 else "") if found else
            f"is empty: none of the contract's source folders ({', '.join(SOURCES)}) is there")
    hint = ""
    if any((root.parent / source).is_dir() for source in SOURCES):
        hint = f" (did you mean its parent {root.parent}?)"
    raise PipelineError(f"landing root {root} {what}{hint}. Nothing was loaded or published.")


# What the publication guard compares, working marts against the serving file's tables.
SHRINK_MEASURES = {  # measure: (table, expression)
    "members in dim_members": ("dim_members", "count(*)"),
    "total GMV in fct_orders": ("fct_orders", "coalesce(sum(gmv_amount), 0)"),
}


def guard_publication(con, serving: Path, as_of: str | date | None = None,
                      force: bool = False) -> str | None:
    """Stop a publication that would shrink the marts sharply against the serving file.

    Each of ``SHRINK_MEASURES`` must not change by less than the dbt var
    ``publish_shrink_threshold`` (default -0.2: new < 0.8 x published is refused). The
    comparison is skipped when the run was given an explicit ``as_of`` earlier than the
    published as-of date (an intentional rewind shrinks by design). Raises PublishRefused,
    unless ``force``; returns a note on what was decided (None: compared, all within bounds),
    which publish() records in the publication row.
    """
    if not serving.exists():
        return None
    threshold = Decimal(str(dbt_vars().get("publish_shrink_threshold", -0.2)))
    try:
        con.execute(f"attach '{serving}' as published (read_only)")
    except Exception as exc:  # noqa: BLE001 - any unreadable serving file is the same case
        problem = f"the serving file {serving} cannot be read to compare with ({exc})"
        if not force:
            raise PublishRefused(f"publication refused: {problem}; the serving file is unchanged;"
                                 f" run with --force (DAG param force=true) to replace it")
        return f"forced: {problem}"
    try:
        published_tables = {t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_catalog = 'published'"
            " and table_schema = 'main'").fetchall()}
        published_as_of = None
        if "publication" in published_tables:
            published_as_of = con.execute(
                "select max(as_of_date) from published.main.publication").fetchone()[0]
        new_as_of = con.execute("select as_of_date from intermediate.int_as_of_date").fetchone()[0]
        explicit = date.fromisoformat(as_of) if isinstance(as_of, str) and as_of else as_of or None
        if explicit and published_as_of and explicit < published_as_of:
            note = (f"shrink check skipped: as of {explicit} is earlier than the published"
                    f" {published_as_of}")
            log.warning("publication guard: %s", note)
            return note
        shrunk = []
        for measure, (table, expression) in SHRINK_MEASURES.items():
            if table not in published_tables:
                continue
            (old,) = con.execute(f"select {expression} from published.main.{table}").fetchone()
            (new,) = con.execute(f"select {expression} from marts.{table}").fetchone()
            old, new = Decimal(old or 0), Decimal(new or 0)
            if old > 0 and new < (1 + threshold) * old:
                shrunk.append(f"{measure} would fall from {old} to {new}"
                              f" ({(new - old) / old:+.1%}, threshold {threshold:+.0%})")
    finally:
        con.execute("detach published")
    if not shrunk:
        return None
    against = f"the published marts (as of {published_as_of}, new as of {new_as_of})"
    if not force:
        raise PublishRefused(
            f"publication refused: {'; '.join(shrunk)} against {against}; the serving file"
            f" {serving.name} is unchanged; run with --force (DAG param force=true) to publish"
            f" anyway")
    note = f"forced: {'; '.join(shrunk)} against {against}"
    log.warning("publication guard: %s", note)
    return note


def _release_dbt_connection() -> None:
    """dbt-duckdb keeps its DuckDB instance open after ``invoke`` returns; drop it, so the
    next step of an in-process run (Great Expectations opens the file with another
    configuration) finds the file free, as it would in a task of its own process."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    environment = DuckDBConnectionManager._ENV
    DuckDBConnectionManager.close_all_connections()
    if environment is not None:
        environment.close()


def publish(warehouse_dir: str | Path, run_id: str | None = None,
            as_of: str | date | None = None, force: bool = False,
            landing_root: str | Path | None = None) -> Path:
    """Copy the marts to the serving file ``<warehouse>/marts.duckdb``, atomically.

    Runs only after every error-level check passed (write-audit-publish), and only if the
    guards agree: the landing root holds source folders (``check_landing_root``) and the
    marts do not shrink sharply against the serving file (``guard_publication``; ``force``
    publishes anyway, and says so in the publication row). The copy is written beside the
    serving file and renamed over it, so a BI tool sees the old file or the new one, never
    a half-written one; the pipeline only ever opens the serving file read-only. The file is
    written in a storage version DuckDB 1.x reads (``serving.STORAGE_VERSION``) and carries
    the dbt descriptions as table and column comments (docs/serving.md).

    When the marts build added to the build the serving file holds (``_delta_base``), the
    copy starts from the serving file, and the tables of incremental models that declare a
    ``publish_delta`` (the order facts) get only the rows of what that build touched, deleted
    and inserted again; every other table is copied whole. A file copy costs a fraction of
    rewriting a hundred million order lines (the publication row's ``delta_of`` names the
    build the copy added to; null: copied whole).
    """
    from memberdw.serving import STORAGE_VERSION, comment_on, descriptions

    warehouse_dir = Path(warehouse_dir)
    if landing_root:
        check_landing_root(landing_root)
    serving = warehouse_dir / SERVING_FILE
    staged = warehouse_dir / f".{SERVING_FILE}.{os.getpid()}.tmp"
    staged_wal = staged.with_name(staged.name + ".wal")  # left by a copy that failed midway
    staged.unlink(missing_ok=True)
    staged_wal.unlink(missing_ok=True)
    con = warehouse.connect(warehouse_dir)
    try:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
            " and table_catalog = current_database() order by 1").fetchall()]
        if not tables:
            raise PipelineError("nothing to publish: the working warehouse has no marts")
        note = guard_publication(con, serving, as_of=as_of, force=bool(force))
        build, built_from = _marts_build(con)
        base = _delta_base(con, serving, built_from)
        if base:
            shutil.copyfile(serving, staged)
        con.execute(f"attach '{staged}' as serving (storage_version '{STORAGE_VERSION}')")
        deltas = _publish_deltas(warehouse_dir) if base else {}
        con.execute("begin")  # one commit for the copies and comments, not one per statement
        # The serving file's own name is its catalog, so its tables live in `main`:
        # `select * from fct_orders` and `marts.fct_orders` both work for a BI tool.
        copied = _copy_marts(con, tables, deltas)
        # a copy keeps no comments, so they are written onto the copy
        comments = comment_on(con, "serving", copied, descriptions(warehouse_dir))
        con.execute("commit")
        con.execute("create or replace table serving.main.publication as select now() as"
                    " published_at, ? as run_id, (select as_of_date from"
                    " intermediate.int_as_of_date) as as_of_date, cast(? as boolean) as forced,"
                    " cast(? as varchar) as guard_note, cast(? as varchar) as marts_build,"
                    " cast(? as varchar) as delta_of",
                    [run_id, bool(note and note.startswith("forced")), note, build, base])
        con.execute("detach serving")
        os.replace(staged, serving)
    finally:
        con.close()
        staged.unlink(missing_ok=True)
        staged_wal.unlink(missing_ok=True)
    log.info("published %d marts (%d copied whole, %d comments) to %s%s%s", len(tables),
             len(copied), comments, serving, f", adding to build {base}" if base else "",
             f" ({note})" if note else "")
    return serving


def _marts_build(con) -> tuple[str | None, str | None]:
    """(the finished marts build the working marts are from, the build it added to or None
    when it was a full one), by their start times (memberdw.incremental.begin_marts)."""
    from memberdw import incremental

    position = incremental.marts_position(con)
    return (position.get("watermark"),
            None if position.get("full_refresh_reason") else position.get("built_from"))


def _delta_base(con, serving: Path, built_from: str | None) -> str | None:
    """The build the serving file holds, if the working marts were built by adding to it
    (every incremental model's rows outside what that build touched are the serving
    file's); else None and the marts are copied whole."""
    if not built_from or not serving.exists():
        return None
    con.execute(f"attach '{serving}' as published_base (read_only)")
    try:
        columns = {c for (c,) in con.execute(
            "select column_name from duckdb_columns() where database_name = 'published_base'"
            " and table_name = 'publication'").fetchall()}
        held = (con.execute("select max(marts_build) from published_base.main.publication")
                .fetchone()[0] if "marts_build" in columns else None)
    finally:
        con.execute("detach published_base")
    return held if held == built_from else None


def _publish_deltas(warehouse_dir: Path) -> dict[str, tuple[str, str]]:
    """Per marts table, (key column, the intermediate model listing the keys a build
    touched), from the ``publish_delta`` meta of incremental models in dbt's manifest."""
    from memberdw.serving import MANIFEST

    try:
        nodes = json.loads((Path(warehouse_dir) / MANIFEST).read_text())["nodes"].values()
    except (OSError, ValueError, KeyError):
        return {}
    deltas = {}
    for node in nodes:
        config = node.get("config") or {}
        delta = (config.get("meta") or {}).get("publish_delta")
        if (node.get("resource_type") == "model" and node.get("schema") == "marts"
                and config.get("materialized") == "incremental" and delta):
            deltas[node.get("alias") or node["name"]] = (delta["key"], delta["touched"])
    return deltas


def _columns(con, database: str, schema: str, table: str) -> list:
    return con.execute("select column_name, data_type from duckdb_columns() where"
                       " database_name = ? and schema_name = ? and table_name = ?"
                       " order by column_index", [database, schema, table]).fetchall()


def _copy_marts(con, tables: list[str], deltas: dict[str, tuple[str, str]]) -> list[str]:
    """The marts into ``serving``: a table in ``deltas`` whose columns the serving copy
    already has gets the rows of the touched keys deleted and inserted again, every other
    table is replaced whole; tables the marts no longer have are dropped. Returns the
    tables copied whole."""
    working = con.execute("select current_database()").fetchone()[0]
    held = {t for (t,) in con.execute("select table_name from duckdb_tables() where"
                                      " database_name = 'serving' and schema_name = 'main'"
                                      ).fetchall()}
    for table in sorted(held - set(tables) - {"publication"}):
        con.execute(f"drop table serving.main.{table}")
    copied = []
    for table in tables:
        delta = deltas.get(table)
        if (delta and table in held and _columns(con, "serving", "main", table)
                == _columns(con, working, "marts", table)):
            key, touched = delta
            keys = f"select {key} from intermediate.{touched}"
            con.execute(f"delete from serving.main.{table} where {key} in ({keys})")
            con.execute(f"insert into serving.main.{table}"
                        f" select * from marts.{table} where {key} in ({keys})")
            continue
        con.execute(f"create or replace table serving.main.{table} as"
                    f" select * from marts.{table}")
        copied.append(table)
    return copied


def publication(warehouse_dir: str | Path) -> dict | None:
    """The serving file's publication row (read-only), or None if nothing is published."""
    serving = Path(warehouse_dir) / SERVING_FILE
    if not serving.exists():
        return None
    con = duckdb.connect(str(serving), read_only=True)
    try:
        cursor = con.execute("select * from publication")
        names = [d[0] for d in cursor.description]
        row = dict(zip(names, cursor.fetchone()))
    finally:
        con.close()
    return {"path": str(serving), "guard_note": None, **row}


def summary(warehouse_dir: str | Path, run_ids: list[str] | None = None) -> dict:
    """Files, rows, rejects by reason and skipped folders, for some runs or all."""
    con = warehouse.connect(Path(warehouse_dir))
    try:
        where, params = "", []
        if run_ids:
            where = f"where run_id in ({', '.join('?' for _ in run_ids)})"
            params = list(run_ids)
        files = con.execute(
            f"select status, count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0),"
            f" coalesce(sum(rows_rejected), 0) from meta.load_ledger {where}"
            f" group by status order by status", params).fetchall()
        reasons = con.execute(
            f"select reason, count(*) from meta.quarantine"
            f" where load_id in (select load_id from meta.load_ledger {where})"
            f" group by reason order by count(*) desc, reason", params).fetchall()
        skipped = con.execute(
            f"select distinct folder, reason from meta.skipped_folders {where}"
            f" order by folder", params).fetchall()
        # The flags the marts use: the newest validation's (int_quality_flags), which is a
        # run of its own unless nothing new was there to validate.
        flagged = con.execute(
            "select rule || ' (' || action || ')', count(*) from meta.dq_row_flags"
            " where run_id = (select arg_max(run_id, validated_at) from meta.dq_results)"
            " group by all order by count(*) desc, 1").fetchall()
        erased = con.execute(
            f"select coalesce(sum(members_erased), 0), coalesce(sum(rows_changed), 0)"
            f" from meta.erasure_passes {where}", params).fetchone()
    finally:
        con.close()
    return {
        "files": {status: n for status, n, *_ in files},
        "rows_read": sum(f[2] for f in files),
        "rows_loaded": sum(f[3] for f in files),
        "rows_rejected": sum(f[4] for f in files),
        "rejects_by_reason": dict(reasons),
        "skipped_folders": [f"{folder} ({reason})" for folder, reason in skipped],
        "flagged_by_rule": dict(flagged),
        "erased": {"members": int(erased[0]), "rows_changed": int(erased[1])},
    }
