"""`memberdw status` and the re-run with nothing new, on a warehouse after a real run: the
status names the as-of date, the newest dt per entity and where the serving file and audit
pages are, also while a run holds the warehouse; a re-run with nothing new starts neither
Airflow nor dbt and leaves the marts as they were."""

import os
import subprocess
import sys
import time
from datetime import date

import duckdb
import pytest

from memberdw import lock, pipeline, runner
from memberdw.contract import ENTITIES
from memberdw.generate import generate

MEMBERS, DAYS, SEED = 300, 5, 9


def memberdw(*args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    return subprocess.run([sys.executable, "-m", "memberdw.cli", *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("status")
    generate(base / "landing", members=MEMBERS, days=DAYS, seed=SEED)
    run = memberdw("run", "--landing", base / "landing", "--warehouse", base / "wh")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return base / "landing", base / "wh", run


def newest_complete_dt(landing, entity) -> date | None:
    """The newest dt folder of an entity holding _SUCCESS and a file: what the loader takes."""
    folders = [f for f in (landing / entity.source / entity.name).glob("dt=*")
               if (f / "_SUCCESS").is_file() and any(p.name != "_SUCCESS" for p in f.iterdir())]
    return max((date.fromisoformat(f.name[3:]) for f in folders), default=None)


def test_the_run_says_each_thing_once_and_ends_with_where_to_look(built):
    landing, wh, run = built
    output = run.stdout + run.stderr
    assert "starlette" not in output and "site-packages" not in output
    skipped = [line for line in run.stdout.splitlines() if line.startswith("skipped (not loaded)")]
    assert skipped
    for line in skipped:
        folder = line.split(": ", 1)[1].split(" (")[0]
        assert output.count(folder) == 1, folder  # not a second time as a log warning
    assert "\r" not in run.stderr  # no progress line: stderr is not a terminal
    as_of = pipeline.publication(wh)["as_of_date"]
    tail = run.stdout.strip().splitlines()[-4:]
    assert tail[0].startswith("time: ")
    assert tail[1] == f"published: {wh / 'marts.duckdb'} as of {as_of}"
    assert tail[2] == f"data docs: {wh / 'gx/uncommitted/data_docs/local_site/index.html'}"
    assert tail[3] == f"audit page: {wh / 'audit/index.html'}"


def test_status_names_the_publication_the_freshness_and_the_paths(built):
    landing, wh, _ = built
    done = memberdw("status", "--warehouse", wh)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    published = pipeline.publication(wh)
    assert "running: no run" in lines
    assert f"serving file: {wh / 'marts.duckdb'}" in lines
    assert any(line.endswith(f"by run {published['run_id']}, as of {published['as_of_date']}")
               for line in lines)
    (members,) = duckdb.connect(str(wh / "marts.duckdb"), read_only=True).execute(
        "select count(*) from dim_members").fetchone()
    assert any(line.startswith("  holds: members in dim_members ") and f" {members}," in line
               for line in lines)
    by_entity = {line.split()[0]: line.split() for line in lines if line.startswith("  ")
                 and line.split()[0] in {e.key for e in ENTITIES}}
    assert set(by_entity) == {e.key for e in ENTITIES}
    for entity in ENTITIES:
        assert by_entity[entity.key][1] == str(newest_complete_dt(landing, entity)), entity.key
    (quarantined,) = duckdb.connect(str(wh / "warehouse.duckdb"), read_only=True).execute(
        "select count(*) from meta.quarantine where source = 'pos'"
        " and entity = 'order_lines'").fetchone()
    assert int(by_entity["pos/order_lines"][4].replace(",", "")) == quarantined
    assert any(" published as of " in line and "files loaded" in line for line in lines)
    assert lines[-2:] == [f"data docs: {wh / 'gx/uncommitted/data_docs/local_site/index.html'}",
                          f"audit page: {wh / 'audit/index.html'}"]


def test_a_rerun_with_nothing_new_skips_airflow_and_leaves_the_marts(built):
    landing, wh, _ = built
    serving = (wh / "marts.duckdb").read_bytes()
    dbt_results = (wh / pipeline.DBT_TARGET / "run_results.json").stat().st_mtime_ns
    dag_runs = airflow_dag_runs(wh)

    again = memberdw("run", "--landing", landing, "--warehouse", wh)

    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    published = pipeline.publication(wh)
    lines = again.stdout.splitlines()
    assert lines[0].split() == ["ingest_*", "skipped", "(the", "landing", "root", "is", "as",
                                "the", "last", "run", "saw", "it)"]
    assert lines[1].split()[:2] == ["transform", "skipped"]
    assert lines[2] == "files: no new files"
    assert lines[3].startswith("nothing new landed: marts unchanged, published ")
    assert lines[3].endswith(f" as of {published['as_of_date']} (--rebuild builds them again)")
    assert lines[-3].startswith("published: ") and lines[-2].startswith("data docs: ")
    assert (wh / "marts.duckdb").read_bytes() == serving
    assert (wh / pipeline.DBT_TARGET / "run_results.json").stat().st_mtime_ns == dbt_results
    assert airflow_dag_runs(wh) == dag_runs  # not one DAG run
    assert runner.history(wh)[-1]["outcome"] == "unchanged"

    status = memberdw("status", "--warehouse", wh).stdout
    assert f" unchanged as of {published['as_of_date']}: no new files" in status


def test_status_while_a_run_holds_the_warehouse_shows_the_serving_file(built):
    _, wh, _ = built
    with lock.acquire(wh, "memberdw run --landing x --warehouse y"):
        started = time.monotonic()
        done = memberdw("status", "--warehouse", wh)
        seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith(f"running: memberdw run: pid {os.getpid()} on ")
    assert "`memberdw run --landing x --warehouse y`" in lines[1]
    assert f"serving file: {wh / 'marts.duckdb'}" in lines
    assert "working file: not read while the run holds it" in lines
    assert not any(line.startswith("freshness") for line in lines)
    print(f"status while locked: {seconds:.1f} s")


def test_status_into_a_reader_that_went_away_is_quiet(built):
    """`memberdw status | head -1`: the reader closes the pipe early; no traceback."""
    _, wh, _ = built
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    child = subprocess.Popen([sys.executable, "-m", "memberdw.cli", "status", "--warehouse",
                              str(wh)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # gone before the first line
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=120) == 0, stderr
    assert stderr == ""


def test_status_of_a_missing_warehouse_is_one_line(tmp_path):
    done = memberdw("status", "--warehouse", tmp_path / "nowhere")
    assert done.returncode == 2
    assert done.stderr.strip() == (f"memberdw status: no warehouse at {tmp_path / 'nowhere'}"
                                   " (no memberdw run has used it)")


def test_what_a_rerun_compares(tmp_path, monkeypatch):
    """A new or changed landing file, another argument or key, a MySQL source: not skipped."""
    landing = tmp_path / "landing"
    (landing / "crm" / "members" / "dt=2026-10-01").mkdir(parents=True)
    delivered = landing / "crm" / "members" / "dt=2026-10-01" / "members.csv"
    delivered.write_text("member_id\n1\n")
    before = runner.landing_state(landing, None)
    assert runner.landing_state(landing, None) == before
    assert runner.landing_state(landing, "2026-10-01") != before
    (delivered.parent / "_SUCCESS").touch()
    with_marker = runner.landing_state(landing, None)
    assert with_marker != before
    written = delivered.stat()
    time.sleep(0.05)  # past the file system's clock tick
    delivered.write_text("member_id\n2\n")  # same name, same size, and the same mtime:
    os.utime(delivered, ns=(written.st_atime_ns, written.st_mtime_ns))
    assert runner.landing_state(landing, None) != with_marker  # its change time moved

    inputs = runner.transform_inputs("1 files", None, None, False)
    assert runner.transform_inputs("1 files", None, None, False) == inputs
    for other in (runner.transform_inputs("2 files", None, None, False),
                  runner.transform_inputs("1 files", "2026-10-01", None, False),
                  runner.transform_inputs("1 files", None, "2026-09-30", False),
                  runner.transform_inputs("1 files", None, None, True)):
        assert other != inputs
    monkeypatch.setenv("MEMBERDW_PII_KEY", "another-key-for-this-test-0123456789abcdef")
    assert runner.transform_inputs("1 files", None, None, False) != inputs
    monkeypatch.setenv("MEMBERDW_POSTGRES_URL", "postgresql://bi:secret@db:5432/dw")
    assert runner.transform_inputs("1 files", None, None, False)["postgres"] == (
        "postgresql://bi@db:5432/dw")

    monkeypatch.delenv("AIRFLOW_CONN_CRM_MYSQL", raising=False)
    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND", raising=False)
    assert not runner.mysql_source_possible(tmp_path / "airflow")
    monkeypatch.setenv("AIRFLOW_CONN_CRM_MYSQL", "mysql://u:p@h:3306/crm")
    assert runner.mysql_source_possible(tmp_path / "airflow")


def airflow_dag_runs(wh) -> int:
    import sqlite3

    con = sqlite3.connect(f"file:{wh / 'airflow' / 'airflow.db'}?mode=ro", uri=True)
    try:
        return con.execute("select count(*) from dag_run").fetchone()[0]
    finally:
        con.close()
