"""One run per warehouse: a second `memberdw run` is refused at once, in one line naming who
holds the warehouse; a lock left by a killed run is taken over; a program holding the
working file open is named instead of a traceback."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memberdw import cli, lock
from memberdw.runner import DagResult


def memberdw(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memberdw.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def landing(tmp_path) -> Path:
    """A landing root the run accepts (it holds a source folder); nothing in it to load."""
    (tmp_path / "landing" / "crm").mkdir(parents=True)
    return tmp_path / "landing"


def hold_in_subprocess(code: str, ready: Path) -> subprocess.Popen:
    """Run ``code`` in another process and wait until it has written ``ready``."""
    holder = subprocess.Popen([sys.executable, "-c", code + f"\nopen({str(ready)!r}, 'w').close()"
                               "\nimport time; time.sleep(120)"])
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert holder.poll() is None, "the holding process ended early"
        assert time.monotonic() < deadline, "the holding process never got ready"
        time.sleep(0.05)
    return holder


def test_a_second_run_is_refused_at_once_naming_the_holder(landing, tmp_path):
    warehouse = tmp_path / "wh"
    with lock.acquire(warehouse, "memberdw run --landing elsewhere --warehouse wh"):
        done = memberdw("run", "--landing", landing, "--warehouse", warehouse)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"memberdw run: warehouse {warehouse} is in use by another memberdw"
                           f" run: pid {os.getpid()} on {socket.gethostname()}, user ")
    assert "`memberdw run --landing elsewhere --warehouse wh`, since " in line
    assert "wait for it to finish" in line
    assert sorted(p.name for p in warehouse.iterdir()) == [lock.LOCK_FILE]  # nothing else ran
    assert (warehouse / lock.LOCK_FILE).read_text() == ""  # released


def test_a_lock_left_by_a_killed_run_is_taken_over(landing, tmp_path):
    warehouse = tmp_path / "wh"
    killed = hold_in_subprocess(
        f"from memberdw import lock\nheld = lock.acquire({str(warehouse)!r}, 'memberdw run old')",
        tmp_path / "locked")
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    left = json.loads((warehouse / lock.LOCK_FILE).read_text())
    assert left["pid"] == killed.pid and left["command"] == "memberdw run old"

    # the run takes over, then stops at once: another program holds the working file open
    database = hold_in_subprocess(
        f"import duckdb\ncon = duckdb.connect({str(warehouse / 'warehouse.duckdb')!r})",
        tmp_path / "opened")
    try:
        done = memberdw("run", "--landing", landing, "--warehouse", warehouse)
    finally:
        database.kill()
        database.wait()
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    took_over, in_use = done.stderr.strip().splitlines()
    assert took_over.startswith("memberdw run: took over the warehouse lock of a run that ended"
                                f" without releasing it (pid {killed.pid} on ")
    assert "`memberdw run old`" in took_over
    assert in_use.startswith(f"memberdw run: the working file {warehouse / 'warehouse.duckdb'}"
                             f" is open in another program (")
    assert f"PID {database.pid}" in in_use and "close it and run again" in in_use
    assert (warehouse / lock.LOCK_FILE).read_text() == ""
    with lock.acquire(warehouse, "next") as held:
        assert held.stale is None


def test_a_lock_held_by_a_process_that_is_alive_is_not_taken(tmp_path):
    warehouse = tmp_path / "wh"
    alive = hold_in_subprocess(
        f"from memberdw import lock\nheld = lock.acquire({str(warehouse)!r}, 'memberdw run busy')",
        tmp_path / "locked")
    try:
        with pytest.raises(lock.WarehouseLocked, match=f"pid {alive.pid} on ") as refused:
            lock.acquire(warehouse, "memberdw run second")
        assert refused.value.holder.command == "memberdw run busy"
    finally:
        alive.kill()
        alive.wait()


def test_a_reader_keeps_runs_out_only_while_it_reads(tmp_path):
    warehouse = tmp_path / "wh"
    with lock.acquire(warehouse, "first"):
        pass
    with lock.reading(warehouse) as running:
        assert running is None
        with pytest.raises(lock.WarehouseLocked, match="has not said who it is"):
            lock.acquire(warehouse, "run", reader_wait=0.2)
    with lock.acquire(warehouse, "run") as held:
        assert held.stale is None
        with lock.reading(warehouse) as running:
            assert running.startswith(f"memberdw run: pid {os.getpid()} on ")
            assert "`run`" in running


def test_reading_a_warehouse_without_a_lock_file_creates_nothing(tmp_path):
    with lock.reading(tmp_path) as running:
        assert running is None
    assert not any(tmp_path.iterdir())


def test_duckdbs_conflict_error_mid_run_is_one_line(tmp_path, capsys):
    """The error a task gets when a program opens the working file during the run."""
    import duckdb

    path = tmp_path / "warehouse.duckdb"
    other = hold_in_subprocess(f"import duckdb\ncon = duckdb.connect({str(path)!r})",
                               tmp_path / "opened")
    try:
        with pytest.raises(duckdb.IOException) as error:
            duckdb.connect(str(path))
    finally:
        other.kill()
        other.wait()
    message = f"{type(error.value).__name__}: {error.value}"
    result = DagResult("ingest_pos", "run-1", "failed", 1.0, ["land"], [message])
    entry = {}
    assert cli._failed(result, entry) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"memberdw run FAILED in DAG ingest_pos: the working file {path} is"
                           f" open in another program (")
    assert f"PID {other.pid}" in line and "Traceback" not in line
    assert entry["outcome"] == "failed in DAG ingest_pos"
    assert lock.working_file_in_use("IOException: some other error") is None
