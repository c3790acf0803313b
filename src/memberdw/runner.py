"""Run the project's DAGs through Airflow itself, in this process (``airflow dags test``
style): a private AIRFLOW_HOME with a SQLite metadata database, the real DAG files, the
real task code. ``memberdw run`` uses it; under a scheduler the same DAGs run unchanged.

Airflow reads its configuration when first imported, so ``configure`` must run before
anything imports ``airflow``.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from memberdw.pipeline import REPO_ROOT

DAGS_FOLDER = Path(os.environ.get("MEMBERDW_DAGS_FOLDER", REPO_ROOT / "dags"))
WRITER_POOL = "warehouse_writer"


@dataclass
class DagResult:
    dag_id: str
    run_id: str
    state: str
    seconds: float
    failed_tasks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == "success"


def configure(airflow_home: Path, env: dict[str, str]) -> None:
    """Point Airflow at a private home and at our DAGs; set the DAG Params' defaults."""
    if "airflow" in sys.modules:
        from airflow.configuration import conf

        if Path(conf.get("core", "dags_folder")) != DAGS_FOLDER:
            raise RuntimeError("airflow was imported before memberdw.runner.configure")
    airflow_home.mkdir(parents=True, exist_ok=True)
    os.environ.update({
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "memberdw",
        **env,
    })


def prepare() -> None:
    """Migrate the metadata database and create the writers' pool (both idempotent)."""
    from airflow.models.pool import Pool
    from airflow.utils.db import initdb

    for name in ("airflow", "alembic", "sqlalchemy", "cosmos"):
        logging.getLogger(name).setLevel(logging.WARNING)
    initdb()
    Pool.create_or_update_pool(name=WRITER_POOL, slots=1, include_deferred=False,
                               description="one writer at a time on the DuckDB warehouse")


@functools.cache
def _dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER), safe_mode=False)


def run_dag(dag_id: str, conf: dict) -> DagResult:
    """One DAG run in this process; never raises for a task failure."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    bag = _dag_bag()
    if bag.import_errors:
        return DagResult(dag_id, "", "import_error", 0.0, errors=[
            f"{path}: {err.strip().splitlines()[-1]}" for path, err in bag.import_errors.items()])
    dag = bag.dags[dag_id]
    errors = _ErrorCollector()
    processors = structlog.get_config()["processors"]
    processors.insert(0, errors)
    started = time.monotonic()
    try:
        dag_run = dag.test(run_conf=conf)
    finally:
        processors.remove(errors)
    seconds = time.monotonic() - started
    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == dag_run.run_id)).all()
        failed = sorted(ti.task_id for ti in tis
                        if str(getattr(ti.state, "value", ti.state)) in ("failed", "upstream_failed"))
    state = str(getattr(dag_run.state, "value", dag_run.state))
    return DagResult(dag_id, dag_run.run_id, state, seconds, failed, errors.messages)


class _ErrorCollector:
    """A structlog processor keeping the exceptions failed tasks log (Airflow 3 logs through
    structlog), so the run's error message can say what went wrong."""

    def __init__(self):
        self.messages: list[str] = []

    def __call__(self, logger, method_name, event_dict):
        exc_info = event_dict.get("exc_info")
        if exc_info is True:
            exc_info = sys.exc_info()
        error = exc_info[1] if isinstance(exc_info, tuple) else exc_info
        if isinstance(error, BaseException):
            self.messages.append(f"{type(error).__name__}: {error}")
        return event_dict
