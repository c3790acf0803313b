"""DAG definitions; the files in ``dags/`` only call these.

One ingestion DAG per source publishes the Asset ``raw_<source>``; the transform DAG is
scheduled on all of them. Every task that writes the warehouse takes the single slot of
the ``warehouse_writer`` pool. Paths come from Params, whose defaults come from the
environment (``MEMBERDW_LANDING_ROOT``, ``MEMBERDW_WAREHOUSE_DIR``), so a manual trigger
can point a run elsewhere.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import Asset, Param, dag, task

from memberdw.contract import SOURCES

WRITER_POOL = "warehouse_writer"
START = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")
CRM_MYSQL_CONN_ID = "crm_mysql"
# `memberdw run` sets 0: in one process a retry would only repeat the same failure.
RETRIES = int(os.environ.get("MEMBERDW_TASK_RETRIES", "2"))


def raw_asset(source: str) -> Asset:
    return Asset(f"memberdw_raw_{source}")


MARTS_ASSET = Asset("memberdw_marts")


def _params() -> dict:
    return {
        "landing_root": Param(os.environ.get("MEMBERDW_LANDING_ROOT", ""), type="string",
                              description="Landing root: <root>/<source>/<entity>/dt=YYYY-MM-DD/"),
        "warehouse_dir": Param(os.environ.get("MEMBERDW_WAREHOUSE_DIR", ""), type="string",
                               description="Directory of the working warehouse file"),
        "as_of": Param(None, type=["null", "string"],
                       description="Load only dt folders up to this date (YYYY-MM-DD)"),
    }


def _crm_mysql_source():
    """The CRM MySQL source if the ``crm_mysql`` connection is configured, else None."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from memberdw.crm_mysql import MySQLSource

    try:
        conn = Connection.get(CRM_MYSQL_CONN_ID)
    except AirflowNotFoundException:
        return None
    extra = conn.extra_dejson or {}
    return MySQLSource(host=conn.host, port=conn.port or 3306, user=conn.login or "",
                       password=conn.password or "", database=conn.schema,
                       table=extra.get("table", "members"))


def ingestion_dag(source: str):
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")

    @dag(dag_id=f"ingest_{source}", schedule="0 2 * * *", start_date=START, catchup=False,
         max_active_runs=1, params=_params(), tags=["ingest", source],
         default_args={"retries": RETRIES, "retry_delay": pendulum.duration(minutes=1)},
         doc_md=f"Land every new complete `{source}` file into `raw.{source}__*`.")
    def ingestion():
        @task(outlets=[raw_asset(source)], pool=WRITER_POOL)
        def land(params=None, run_id=None):
            from memberdw import pipeline

            mysql = _crm_mysql_source() if source == "crm" else None
            return pipeline.land(source, params["landing_root"], params["warehouse_dir"],
                                 as_of=params.get("as_of"), run_id=run_id, mysql_source=mysql)

        land()

    return ingestion()


def transform_dag():
    @dag(dag_id="transform", schedule=[raw_asset(s) for s in SOURCES], start_date=START,
         catchup=False, max_active_runs=1, tags=["transform"],
         params={**_params(), "force": Param(
             False, type="boolean", description="Publish even if the marts shrink sharply against"
             " the serving file (the publication guard; DECISIONLOG: Publishing)"),
             "full_refresh": Param(
                 False, type="boolean", description="Rebuild the incremental models from"
                 " everything, not only what landed since their last build"),
             "clv_calibration_end": Param(
                 None, type=["null", "string"], description="Calibrate the CLV fit on purchases"
                 " up to this date (YYYY-MM-DD; default: the as-of date)")},
         default_args={"retries": RETRIES, "retry_delay": pendulum.duration(minutes=1)},
         doc_md="Carry out erasure requests, build staging, then the marts; publish them to the"
                " serving file only if every check passed (write-audit-publish). Runs once every"
                " source has landed.")
    def transform():
        @task(pool=WRITER_POOL)
        def erase(params=None, run_id=None):
            """Carry out the CRM's erasure requests (deleted = 1) in raw and meta before
            anything is built from them (docs/pii.md, "Erasure"); counts only in the XCom."""
            from memberdw import erasure

            report = erasure.erase(params["warehouse_dir"], run_id=run_id)
            return {"members_erased": report.members_erased,
                    "rows_changed": sum(report.rows_changed.values())}

        @task(pool=WRITER_POOL)
        def build_staging(params=None):
            """Incremental staging models add what landed since their last build, unless
            something they were built from changed (memberdw.incremental): then all of it."""
            from memberdw import incremental, pipeline

            wh, as_of = params["warehouse_dir"], params.get("as_of")
            reason = incremental.full_refresh_reason(wh, "staging", as_of,
                                                     asked=params.get("full_refresh", False))
            pipeline.transform(wh, select="tag:staging", as_of=as_of,
                               full_refresh=reason is not None)
            incremental.record(wh, "staging", as_of, reason)
            return {"full_refresh": reason}

        @task(pool=WRITER_POOL)
        def validate(params=None, run_id=None):
            """Great Expectations on staging: row flags for the marts, audit rows, Data
            Docs; an error-severity failure stops the run before anything is published."""
            from pathlib import Path

            from memberdw import quality

            result = quality.validate(Path(params["warehouse_dir"]), run_id=run_id,
                                      as_of=params.get("as_of"))
            result.raise_for_errors()

        @task(pool=WRITER_POOL)
        def build_marts(params=None):
            """The marts; the order facts rebuild only the orders that changed since the
            last finished marts build, unless something else changed (memberdw.incremental)."""
            from memberdw import incremental, pipeline

            wh, as_of = params["warehouse_dir"], params.get("as_of")
            reason, run_vars, position = incremental.begin_marts(
                wh, as_of, asked=params.get("full_refresh", False))
            pipeline.transform(wh, select="tag:marts", as_of=as_of,
                               clv_calibration_end=params.get("clv_calibration_end"),
                               full_refresh=reason is not None, extra_vars=run_vars)
            incremental.record(wh, "marts", as_of, reason, carry=position)
            return {"full_refresh": reason}

        @task(pool=WRITER_POOL)
        def compact(params=None):
            """After an erasure, rewrite the working file once the marts are rebuilt, so no
            freed block keeps the erased values (a no-op on other runs)."""
            from memberdw import erasure

            return erasure.compact(params["warehouse_dir"])

        @task(pool=WRITER_POOL)
        def audit(params=None):
            """Sales reconciliation: a store-day whose sales the marts lost without a
            recorded reason (beyond reconciliation_max_unexplained_share) stops the run
            before anything is published, naming the stores."""
            from pathlib import Path

            from memberdw import audit, audit_page

            try:
                totals = audit.check_reconciliation(params["warehouse_dir"])
            finally:  # the audit page shows the reconciliation, failed or not
                audit_page.build(Path(params["warehouse_dir"]))
            return audit.format_summary(totals)

        @task(outlets=[MARTS_ASSET], pool=WRITER_POOL)
        def publish(params=None, run_id=None):
            """The serving file, then (MEMBERDW_POSTGRES_URL set) the same marts swapped into
            PostgreSQL (docs/postgres.md); a PostgreSQL failure fails the task with the
            serving file published and the PostgreSQL marts as they were, and a retry
            publishes both again."""
            from memberdw import pipeline, postgres_serving

            serving = pipeline.publish(params["warehouse_dir"], run_id=run_id,
                                       as_of=params.get("as_of"),
                                       force=params.get("force", False),
                                       landing_root=params.get("landing_root") or None)
            url = postgres_serving.url_from_environment()
            if url:
                postgres_serving.publish(serving, url)

        (erase() >> build_staging() >> validate() >> build_marts() >> compact() >> audit()
         >> publish())

    return transform()
