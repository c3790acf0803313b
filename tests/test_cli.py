"""The command line's usage errors: one line on stderr naming the problem, exit 2, no
traceback unless --debug; `generate` never overwrites a non-empty folder without --force;
progress lines only on a terminal. (The lock: test_lock.py; status and re-runs:
test_status.py.)"""

import io
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def memberdw(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memberdw.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def one_line_usage_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("args, says", [
    (["run", "--landing", REPO, "--warehouse", README],
     f"memberdw run: warehouse {README} is a file, not a directory"),
    (["report", "--warehouse", README],
     f"memberdw report: warehouse {README} is a file, not a directory"),
    (["run", "--landing", README, "--warehouse", "{tmp}/wh"],
     f"memberdw run: landing root {README} is a file, not a directory"),
    (["generate", "--out", "{tmp}/landing", "--members", "10"],
     "memberdw generate: members must be at least 50"),
    (["generate", "--out", README / "landing"],
     f"memberdw generate: output folder {README / 'landing'}: {README} is a file, not a directory"),
    (["run", "--landing", REPO, "--warehouse", "{tmp}/wh", "--as-of", "15.10.2026"],
     "memberdw run: argument --as-of: '15.10.2026' is not a date in the format YYYY-MM-DD"),
    (["run", "--landing", REPO, "--warehouse", "{tmp}/wh", "--clv-calibration-end", "2026-02-30"],
     "memberdw run: argument --clv-calibration-end: '2026-02-30' is not a date in the format"
     " YYYY-MM-DD"),
])
def test_a_misuse_is_one_line_and_exit_2(args, says, tmp_path):
    done = memberdw(*(str(a).format(tmp=tmp_path) for a in args))
    assert one_line_usage_error(done).startswith(says)
    assert not any(tmp_path.iterdir())  # nothing written, nothing created


def test_debug_shows_the_traceback(tmp_path):
    done = memberdw("--debug", "generate", "--out", tmp_path / "landing", "--members", "10")
    assert done.returncode == 2
    assert "Traceback" in done.stderr and "ValueError: members must be at least 50" in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "memberdw generate: members must be at least 50"
    after = memberdw("generate", "--out", tmp_path / "landing", "--members", "10", "--debug")
    assert after.returncode == 2 and "Traceback" in after.stderr


def test_version():
    done = memberdw("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"memberdw {version('memberdw')}"


def test_every_generate_option_has_help_and_as_of_states_its_format():
    generate = memberdw("generate", "--help").stdout
    options = generate.split("options:", 1)[1]
    for option in ("--out", "--members", "--days", "--seed", "--start", "--purchase-process",
                   "--force"):
        block = options.split(f"\n  {option}", 1)[1].split("\n  -", 1)[0]
        assert len(block.split()) > 3, f"{option} has no help: {block!r}"
    run = " ".join(memberdw("run", "--help").stdout.split())
    assert "this date (YYYY-MM-DD)" in run


def test_generate_refuses_a_non_empty_folder_and_force_regenerates(tmp_path):
    out = tmp_path / "landing"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    line = one_line_usage_error(memberdw("generate", "--out", out, "--members", 50, "--days", 1))
    assert line == (f"memberdw generate: output folder {out} is not empty (notes.txt); choose a"
                    " new or empty folder, or pass --force to replace its data")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]

    done = memberdw("generate", "--out", out, "--members", 50, "--days", 1, "--force")
    assert done.returncode == 0, done.stderr
    assert (out / "notes.txt").read_text() == "mine\n"
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert out / "_truth.json" in before and (out / "crm").is_dir()

    line = one_line_usage_error(memberdw("generate", "--out", out, "--members", 50, "--days", 1,
                                         "--seed", 7))
    assert f"output folder {out} is not empty (_truth.json, crm, " in line and "--force" in line
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before

    again = memberdw("generate", "--out", out, "--members", 50, "--days", 1, "--seed", 7,
                     "--force")
    assert again.returncode == 0, again.stderr
    assert (out / "_truth.json").stat().st_mtime_ns != before[out / "_truth.json"]
    assert '"seed": 7' in (out / "_truth.json").read_text()


def test_status_of_a_file_is_one_line(tmp_path):
    line = one_line_usage_error(memberdw("status", "--warehouse", README))
    assert line == f"memberdw status: warehouse {README} is a file, not a directory"


def test_run_help_names_rebuild():
    run = " ".join(memberdw("run", "--help").stdout.split())
    assert "--rebuild run every DAG even if nothing new landed" in run


def test_the_runner_names_the_crm_mysql_connection_as_the_dags_do():
    from memberdw import dags, runner

    assert runner.CRM_MYSQL_CONN_ID == dags.CRM_MYSQL_CONN_ID


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal():
    from memberdw import progress

    screen = _Terminal()
    progress.enable(screen)
    yield screen
    progress.enable(io.StringIO())  # off again for the tests after


def test_progress_counts_files_on_a_terminal_and_clears_its_line(terminal):
    from memberdw import progress

    assert list(progress.counted(["a", "b", "c"], "landing pos/order_lines", "files")) == [
        "a", "b", "c"]
    drawn = terminal.getvalue().split(progress.CLEAR_LINE)
    assert drawn[1].startswith("  landing pos/order_lines: 0/3 files, ")
    assert drawn[-1].startswith("  landing pos/order_lines: 3/3 files, ")
    progress.clear()
    assert terminal.getvalue().endswith(progress.CLEAR_LINE)


def test_progress_counts_dbt_nodes_from_dbts_events(terminal):
    from dbt.events.types import CommandCompleted, LogStartLine, NodeFinished
    from dbt_common.events.base_types import msg_from_base_event

    from memberdw import progress

    (callback,) = progress.dbt_callbacks("dbt build tag:marts")
    callback(msg_from_base_event(LogStartLine(description="sql table model", index=1, total=2,
                                              node_info={"node_name": "dim_members"})))
    assert terminal.getvalue().endswith("  dbt build tag:marts: 0/2 nodes, 0.0 s (dim_members)")
    time.sleep(progress.REDRAW_SECONDS)  # redraws are at most this frequent
    callback(msg_from_base_event(NodeFinished(node_info={"node_name": "dim_members"})))
    assert " 1/2 nodes, " in terminal.getvalue().rsplit(progress.CLEAR_LINE, 1)[1]
    callback(msg_from_base_event(CommandCompleted(command="cli build", success=True,
                                                  elapsed=0.1)))
    assert terminal.getvalue().endswith(progress.CLEAR_LINE)


def test_progress_is_quiet_unless_on_a_terminal():
    from memberdw import progress

    pipe = io.StringIO()
    progress.enable(pipe)
    assert list(progress.counted([1, 2], "landing crm/members", "files")) == [1, 2]
    assert progress.dbt_callbacks("dbt build tag:staging") == []
    progress.show("anything")
    progress.clear()
    assert pipe.getvalue() == ""
