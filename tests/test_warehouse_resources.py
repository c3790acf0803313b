"""DuckDB resources: memberdw's own connections and dbt's run under the same memory limit
and threads (memberdw.warehouse.resources, profiles.yml ``settings:``), and a query larger
than the limit spills beside the file instead of failing, on a connection that set them
again after spilling (as dbt does on every cursor)."""

import os
import pytest

from memberdw import pipeline, warehouse

SETTINGS = ("memory_limit", "threads")


def _settings(con) -> dict:
    return dict(con.execute("select name, value from duckdb_settings() where name in "
                            "('memory_limit', 'threads')").fetchall())


@pytest.fixture
def limits(monkeypatch):
    monkeypatch.setenv(warehouse.MEMORY_LIMIT_VARIABLE, "777MiB")
    monkeypatch.setenv(warehouse.THREADS_VARIABLE, "1")


def test_defaults_follow_the_machine(monkeypatch, tmp_path):
    monkeypatch.delenv(warehouse.MEMORY_LIMIT_VARIABLE, raising=False)
    monkeypatch.delenv(warehouse.THREADS_VARIABLE, raising=False)
    got = warehouse.resources(tmp_path)
    assert got["threads"] == str(len(os.sched_getaffinity(0)))
    half = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**21
    assert got["memory_limit"] == f"{min(6 * 1024, half)}MiB"
    assert set(got) == {"memory_limit", "threads"}


def test_memberdw_connections_use_them(limits, tmp_path):
    con = warehouse.connect(tmp_path)
    try:
        assert _settings(con) == {"memory_limit": "777.0 MiB", "threads": "1"}
    finally:
        con.close()


def test_a_query_over_the_limit_spills_and_the_settings_can_be_set_again(monkeypatch,
                                                                          tmp_path):
    monkeypatch.setenv(warehouse.MEMORY_LIMIT_VARIABLE, "128MiB")
    monkeypatch.setenv(warehouse.THREADS_VARIABLE, "1")
    con = warehouse.connect(tmp_path)
    try:
        con.execute("set enable_progress_bar = false")
        (rows,) = con.execute(
            "select count(*) from (select i, md5(cast(i as varchar)) as h"
            " from range(6000000) t(i) order by h)").fetchone()
        assert rows == 6_000_000
        assert (tmp_path / "warehouse.duckdb.tmp").is_dir()  # it spilled there
        warehouse.apply_resources(con, tmp_path)  # what dbt does on its next cursor
        assert _settings(con)["memory_limit"] == "128.0 MiB"
    finally:
        con.close()


def test_dbt_connections_use_the_same(limits, tmp_path):
    """dbt's connection (profiles.yml) gets what memberdw's connections get; checked on the
    connection dbt itself opens, by `dbt show`."""
    from dbt.cli.main import dbtRunner

    os.environ["MEMBERDW_WAREHOUSE_DIR"] = str(tmp_path)
    os.environ[warehouse.MEMORY_LIMIT_VARIABLE] = warehouse.resources(tmp_path)["memory_limit"]
    query = ("select " + ", ".join(f"current_setting('{name}') as {name}" for name in SETTINGS))
    result = dbtRunner().invoke([
        "show", "--inline", query, "--project-dir", str(pipeline.DBT_PROJECT_DIR),
        "--profiles-dir", str(pipeline.DBT_PROJECT_DIR), "--target-path",
        str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"), "--quiet"])
    pipeline._release_dbt_connection()
    assert result.success, result.exception
    row = dict(zip(SETTINGS, result.result.results[0].agate_table.rows[0]))
    assert row["memory_limit"] == "777.0 MiB"
    assert str(row["threads"]) == "1"
