"""The ingestion → transform chain under the real Airflow scheduler.

api-server, scheduler and dag-processor run as subprocesses (LocalExecutor, metadata in
the local PostgreSQL, the project's own dags/ folder). The test triggers the six
ingestion DAGs through the REST API; `transform` must then run because their Assets were
updated — nobody triggers it — and succeed. The warehouse it leaves is checked against
the generator's truth file.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from importlib.metadata import version
from pathlib import Path

import duckdb
import psycopg2
import pytest

from memberdw.contract import ENTITIES, SOURCES
from memberdw.dags import WRITER_POOL
from memberdw.generate import generate

pytestmark = pytest.mark.scheduler

REPO = Path(__file__).resolve().parents[1]
AIRFLOW = Path(sys.executable).with_name("airflow")
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/{}"
DB_PREFIX = "memberdw_test_airflow"
INGESTION = [f"ingest_{s}" for s in SOURCES]


def pg(sql: str, *args):
    conn = psycopg2.connect(PG_ADMIN_DSN)
    conn.autocommit = True  # CREATE / DROP DATABASE cannot run in a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def migrated_template(env: dict) -> str:
    """A migrated metadata DB per Airflow version; each test copies it (0.1 s, not 5 s)."""
    name = f"{DB_PREFIX}_tmpl_" + version("apache-airflow-core").replace(".", "_")
    if pg("select 1 from pg_database where datname = %s", name):
        return name
    building = f"{name}_build_{os.getpid()}"
    pg(f'create database "{building}"')
    out = subprocess.run([AIRFLOW, "db", "migrate"], capture_output=True, text=True,
                         env=env | {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": PG_URL.format(building)})
    if out.returncode:
        pg(f'drop database if exists "{building}" with (force)')
        raise RuntimeError(f"airflow db migrate failed:\n{out.stdout[-2000:]}{out.stderr[-3000:]}")
    pg(f'alter database "{building}" rename to "{name}"')
    return name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_members(session_ids: set[int]) -> list[int]:
    """Live pids in the given sessions: task processes set their own process group."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            if int(fields[3]) in session_ids and fields[0] != "Z":
                pids.append(int(proc.name))
    return pids


def die_with_parent():
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Airflow:
    """A real Airflow deployment on this machine: api-server, scheduler, dag-processor."""

    COMPONENTS = {"api-server": ["api-server"], "scheduler": ["scheduler", "--skip-serve-logs"],
                  "dag-processor": ["dag-processor"]}

    def __init__(self, workdir: Path, env: dict):
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.workdir = workdir
        self.env = env | {
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": self.base,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base}/execution/",
        }
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self):
        for name, args in self.COMPONENTS.items():
            with open(self.workdir / f"{name}.log", "wb") as log:
                self.procs[name] = subprocess.Popen(
                    [AIRFLOW, *args], env=self.env, cwd=self.workdir, stdout=log,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                    preexec_fn=die_with_parent)

    def stop(self) -> list[int]:
        """Scheduler first (it waits for its tasks), the api-server last; then no orphans."""
        sessions = {p.pid for p in self.procs.values()}
        for name in ("scheduler", "dag-processor", "api-server"):
            proc = self.procs[name]
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and session_members({proc.pid}):
                time.sleep(0.2)
            for pid in session_members({proc.pid}):
                os.kill(pid, signal.SIGKILL)
            proc.wait(timeout=10)
        time.sleep(0.5)
        return session_members(sessions)

    def logs(self, lines: int = 60) -> str:
        return "\n".join(f"===== {p.name}\n" + "\n".join(
            p.read_text(errors="replace").splitlines()[-lines:])
            for p in sorted(self.workdir.glob("*.log")))

    def api(self, method: str, path: str, body=None, ok=(200, 201, 204)):
        request = urllib.request.Request(
            f"{self.base}/api/v2{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        if status not in ok:
            raise AssertionError(f"{method} {path} -> {status}: {raw[:500]!r}")
        return json.loads(raw) if raw else None

    def wait_for(self, what: str, check, timeout: float = 240):
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
            if dead:
                raise RuntimeError(f"Airflow component(s) died: {dead}\n{self.logs()}")
            try:
                if result := check():
                    return result
            except (urllib.error.URLError, ConnectionError, OSError) as e:
                last = e
            time.sleep(0.5)
        raise TimeoutError(f"timed out waiting for {what} ({last})\n{self.logs()}")

    def healthy(self):
        health = self.api("GET", "/monitor/health")
        parts = ("metadatabase", "scheduler", "dag_processor")
        return all(health[p]["status"] == "healthy" for p in parts)

    def parsed(self, dag_ids):
        errors = self.api("GET", "/importErrors")
        assert errors["total_entries"] == 0, errors
        return set(dag_ids) <= {d["dag_id"] for d in self.api("GET", "/dags?limit=100")["dags"]}

    def run_state(self, dag_id: str, run_id: str):
        run = self.api("GET", f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")
        return run["state"] if run["state"] in ("success", "failed") else None

    def asset_triggered_run(self, dag_id: str, producer_runs: set[str]):
        """A finished asset-triggered run of ``dag_id`` that consumed all ``producer_runs``."""
        runs = self.api("GET", f"/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]
        for run in runs:
            if run["run_type"] != "asset_triggered" or run["state"] not in ("success", "failed"):
                continue
            rid = urllib.parse.quote(run["dag_run_id"], safe="")
            events = self.api("GET", f"/dags/{dag_id}/dagRuns/{rid}/upstreamAssetEvents")
            if producer_runs <= {e["source_run_id"] for e in events["asset_events"]}:
                return run
        return None


@pytest.fixture
def airflow_env(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "wh"
    truth = generate(landing, members=150, days=3, seed=5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env |= {
        "AIRFLOW_HOME": str(tmp_path / "airflow_home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__API__WORKERS": "1",
        # every process must sign and verify task tokens with the same secret
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "memberdw",
        "PYTHONPYCACHEPREFIX": str(tmp_path / "pycache"),
        "MEMBERDW_LANDING_ROOT": str(landing),
        "MEMBERDW_WAREHOUSE_DIR": str(warehouse),
    }
    template = migrated_template(env)
    database = f"{DB_PREFIX}_{uuid.uuid4().hex[:10]}"
    pg(f'create database "{database}" template "{template}"')
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = PG_URL.format(database)
    (tmp_path / "airflow_home").mkdir(exist_ok=True)
    yield env, truth, warehouse
    pg(f'drop database if exists "{database}" with (force)')


def test_asset_triggered_transform_under_the_real_scheduler(airflow_env, tmp_path):
    env, truth, warehouse = airflow_env
    airflow = Airflow(tmp_path, env)
    airflow.start()
    try:
        airflow.wait_for("Airflow to be healthy", airflow.healthy)
        airflow.wait_for("the DAGs to be parsed", lambda: airflow.parsed([*INGESTION, "transform"]))
        airflow.api("POST", "/pools", {"name": WRITER_POOL, "slots": 1, "include_deferred": False})
        for dag_id in [*INGESTION, "transform"]:  # the consumer first, before any event
            airflow.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})

        runs = {}
        for dag_id in INGESTION:
            run = airflow.api("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None})
            runs[dag_id] = run["dag_run_id"]
        for dag_id, run_id in runs.items():
            state = airflow.wait_for(f"{dag_id} to finish",
                                     lambda: airflow.run_state(dag_id, run_id))
            assert state == "success", airflow.logs()
        transform = airflow.wait_for(
            "transform to run on the six raw Assets",
            lambda: airflow.asset_triggered_run("transform", set(runs.values())))
        assert transform["state"] == "success", airflow.logs()
    finally:
        leftovers = airflow.stop()
    assert leftovers == [], f"processes left behind: {leftovers}"

    con = duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True)
    try:
        for entity in ENTITIES:
            count = con.execute(f"select count(*) from raw.{entity.raw_table}").fetchone()[0]
            assert count == truth["expected"][entity.key]["loadable"], entity.key
        views = con.execute("select count(*) from information_schema.tables"
                            " where table_schema = 'staging'").fetchone()[0]
        staging_models = Path(__file__).resolve().parents[1] / "models" / "staging"
        assert views == len(list(staging_models.glob("*/stg_*.sql")))
    finally:
        con.close()
