"""What the DAG tasks do, free of Airflow: land a source, build the dbt models, summarise.

Each function opens the working warehouse itself and closes it before returning, so
tasks never hold the file between them.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import date
from pathlib import Path

from memberdw import ingest, warehouse

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVING_FILE = "marts.duckdb"
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


def transform(warehouse_dir: str | Path, select: str, as_of: str | None = None) -> None:
    """``dbt build`` the selected models (and their tests) into the working warehouse."""
    from dbt.cli.main import dbtRunner

    warehouse_dir = Path(warehouse_dir)
    os.environ["MEMBERDW_WAREHOUSE_DIR"] = str(warehouse_dir)
    args = ["build", "--select", select, "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(warehouse_dir / "dbt" / "target"),
            "--log-path", str(warehouse_dir / "dbt" / "logs"), "--no-use-colors", "--quiet"]
    if as_of:
        args += ["--vars", json.dumps({"as_of_date": str(as_of)})]
    result = dbtRunner().invoke(args)
    if not result.success:
        failed = []
        for node in getattr(result.result, "results", None) or []:
            if str(node.status) in ("error", "fail"):
                failed.append(f"{node.node.name}: {node.message}")
        raise PipelineError("dbt build failed: " + ("; ".join(failed) or str(result.exception)))


def publish(warehouse_dir: str | Path, run_id: str | None = None) -> Path:
    """Copy the marts to the serving file ``<warehouse>/marts.duckdb``, atomically.

    Runs only after every error-level check passed (write-audit-publish). The copy is
    written beside the serving file and renamed over it, so a BI tool sees the old file
    or the new one, never a half-written one; the pipeline never holds it open.
    """
    warehouse_dir = Path(warehouse_dir)
    serving = warehouse_dir / SERVING_FILE
    staged = warehouse_dir / f".{SERVING_FILE}.{os.getpid()}.tmp"
    staged.unlink(missing_ok=True)
    con = warehouse.connect(warehouse_dir)
    try:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
            " and table_catalog = current_database() order by 1").fetchall()]
        if not tables:
            raise PipelineError("nothing to publish: the working warehouse has no marts")
        con.execute(f"attach '{staged}' as serving")
        # The serving file's own name is its catalog, so its tables live in `main`:
        # `select * from fct_orders` and `marts.fct_orders` both work for a BI tool.
        for table in tables:
            con.execute(f"create table serving.main.{table} as select * from marts.{table}")
        con.execute("create table serving.main.publication as select now() as published_at,"
                    " ? as run_id, (select as_of_date from intermediate.int_as_of_date)"
                    " as as_of_date", [run_id])
        con.execute("detach serving")
        os.replace(staged, serving)
    finally:
        con.close()
        staged.unlink(missing_ok=True)
    log.info("published %d marts to %s", len(tables), serving)
    return serving


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
        flagged = con.execute(
            f"select rule || ' (' || action || ')', count(*) from meta.dq_row_flags {where}"
            f" group by all order by count(*) desc, 1", params).fetchall()
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
    }
