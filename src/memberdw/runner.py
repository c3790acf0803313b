"""Run the project's DAGs through Airflow itself, in this process (``airflow dags test``
style): a private AIRFLOW_HOME with a SQLite metadata database, the real DAG files, the
real task code. ``memberdw run`` uses it; under a scheduler the same DAGs run unchanged.

Airflow reads its configuration when first imported, so ``configure`` must run before
anything imports ``airflow``.

Each ``memberdw run`` also appends a line to ``<warehouse>/run_history.jsonl``: what it did
(``memberdw status`` shows it) and what its ingestion saw and its marts were built from,
so that a run with nothing new can tell, before it starts Airflow, that the DAGs would
only repeat the last run (``landing_state``, ``ledger_state``, ``transform_inputs``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
import re
import sqlite3
import sys
import time
import warnings
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import structlog

from memberdw.pipeline import DBT_PROJECT_DIR, REPO_ROOT

DAGS_FOLDER = Path(os.environ.get("MEMBERDW_DAGS_FOLDER", REPO_ROOT / "dags"))
WRITER_POOL = "warehouse_writer"
HISTORY_FILE = "run_history.jsonl"
# dags.CRM_MYSQL_CONN_ID (tests/test_cli.py checks they agree); not imported from there,
# because memberdw.dags imports Airflow, which must not load before ``configure``.
CRM_MYSQL_CONN_ID = "crm_mysql"
# Airflow's in-process execution API imports starlette's test client, which warns (with a
# site-packages path) on every run about a dependency of Airflow's, not of this project.
STARLETTE_TESTCLIENT_WARNING = r"Using `httpx` with `starlette\.testclient` is deprecated"
# Whatever the marts are built from besides the data and the arguments: the code (a
# changed model or rule must be rebuilt) and the libraries that run it.
CODE_FOLDERS = (Path(__file__).parent, REPO_ROOT / "models", DBT_PROJECT_DIR,
                REPO_ROOT / "expectations", DAGS_FOLDER)
LIBRARIES = ("dbt-core", "dbt-duckdb", "duckdb", "great_expectations", "apache-airflow")
NOT_CODE = {"__pycache__", "target", "logs", "dbt_packages"}  # what tools write beside it


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
    warnings.filterwarnings("ignore", message=STARLETTE_TESTCLIENT_WARNING)
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
    # The run summary lists the folders the loader skipped and the reasons it quarantined
    # rows; its warnings would say the same a second time, in another format.
    logging.getLogger("memberdw.ingest").setLevel(logging.ERROR)
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


# --- what a run saw and built from --------------------------------------------------------

def history(warehouse_dir: Path) -> list[dict]:
    """The warehouse's ``memberdw run`` history, oldest first (a damaged line is left out)."""
    path = Path(warehouse_dir) / HISTORY_FILE
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def record(warehouse_dir: Path, entry: dict) -> None:
    """Append one run to the history; only the holder of the warehouse lock writes it."""
    with open(Path(warehouse_dir) / HISTORY_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, default=str) + "\n")


def landing_state(landing_root: Path, as_of: str | None) -> str:
    """A digest of every entry under the landing root (path, size, modification and change
    times) and the as-of date: equal to the last complete ingestion's, the loader would find
    nothing it has not seen (the change time cannot be set back, even by ``cp -p``)."""
    digest = hashlib.sha256(f"{landing_root}\n{as_of}\n".encode())
    for folder, dirs, files in os.walk(landing_root):
        dirs.sort()
        for name in sorted(files) + [d + "/" for d in dirs]:
            path = Path(folder, name)
            info = path.stat()
            digest.update(f"{path.relative_to(landing_root)} {info.st_size} {info.st_mtime_ns}"
                          f" {info.st_ctime_ns}\n".encode())
    return digest.hexdigest()


def ledger_state(warehouse_dir: Path) -> str:
    """What the load ledger holds (every file and MySQL batch ever loaded), in a few bytes.

    Opens the working file for writing, as the tasks will: if another program has it open,
    DuckDB's IOException says so now, not from the first task.
    """
    import duckdb

    from memberdw.warehouse import working_path

    path = working_path(warehouse_dir)
    if not path.exists():
        return "empty"
    con = duckdb.connect(str(path))
    try:
        count, newest = con.execute(
            "select count(*), max(recorded_at)::varchar from meta.load_ledger").fetchone()
    except duckdb.CatalogException:  # a working file the loader never wrote to
        return "empty"
    finally:
        con.close()
    return f"{count} files, newest {newest}"


def mysql_source_possible(airflow_home: Path) -> bool:
    """Whether ``ingest_crm`` may read the CRM's MySQL database, whose new rows no listing of
    the landing root shows: the connection in the environment, a secrets backend, or the
    private metadata database."""
    if os.environ.get(f"AIRFLOW_CONN_{CRM_MYSQL_CONN_ID.upper()}"):
        return True
    if os.environ.get("AIRFLOW__SECRETS__BACKEND"):
        return True
    database = Path(airflow_home) / "airflow.db"
    if not database.exists():
        return False
    con = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return con.execute("select count(*) from connection where conn_id = ?",
                           [CRM_MYSQL_CONN_ID]).fetchone()[0] > 0
    except sqlite3.Error:  # no connection table yet: nothing is defined there
        return False
    finally:
        con.close()


def transform_inputs(ledger: str, as_of: str | None, clv_calibration_end: str | None,
                     force: bool) -> dict:
    """Everything the transform DAG's marts depend on: the loaded data, the arguments, the
    code and libraries, the PII keys (only a keyed check value: a new key changes every
    hash) and the PostgreSQL target (without its password). Equal to what the serving
    file's marts were built from, a transform would publish them again unchanged."""
    from memberdw import pii, postgres_serving

    keys = [pii.current_key(), pii.previous_key()]
    postgres = postgres_serving.url_from_environment()
    return {
        "ledger": ledger,
        "as_of": as_of,
        "clv_calibration_end": clv_calibration_end,
        "force": bool(force),
        "code": _code_digest(),
        "libraries": {name: version(name) for name in LIBRARIES},
        "pii_keys": [hmac.new(k, b"memberdw transform inputs", "sha256").hexdigest()[:16]
                     if k else None for k in keys],
        "postgres": re.sub(r"//([^:/@]*):[^@]*@", r"//\1@", postgres) if postgres else None,
    }


def ingestion_would_repeat(entries: list[dict], landing: str, ledger: str,
                           airflow_home: Path) -> bool:
    """Whether the ingestion DAGs would load nothing: the landing root and the ledger are as
    the last complete ingestion left them, and no MySQL source can have new rows."""
    seen = _last(entries, "landing_state")
    return (seen is not None and (seen["landing_state"], seen["ledger_state"]) == (landing, ledger)
            and not mysql_source_possible(airflow_home))


def transform_would_repeat(entries: list[dict], inputs: dict, published: dict | None) -> bool:
    """Whether the transform DAG would publish the serving file's marts again: they come from
    a run whose marts were built from ``inputs``."""
    built = _last(entries, "built_from")
    return (published is not None and built is not None and built["built_from"] == inputs
            and built["published_run_id"] == published["run_id"])


def _last(entries: list[dict], key: str) -> dict | None:
    """The newest history entry that has ``key``."""
    return next((e for e in reversed(entries) if e.get(key) is not None), None)


def _code_digest() -> str:
    digest = hashlib.sha256()
    for folder in CODE_FOLDERS:
        for path in sorted(Path(folder).rglob("*")):
            parts = path.relative_to(folder).parts
            if path.is_file() and not NOT_CODE & set(parts) and not any(
                    part.startswith(".") for part in parts):
                digest.update(f"{path}\n".encode() + path.read_bytes())
    return digest.hexdigest()
