"""The same dbt models on PostgreSQL (dbt-postgres, ``--target postgres``; issue 11's
benchmark, memberdw.postgres_build): a small landing root built by the real pipeline on
DuckDB, then on the local PostgreSQL from the working file's raw and meta schemas; every
mart must be the same table on both, row for row.

"The same" (memberdw.postgres_build.mart_differences): the same tables, the same column
names in the same order with the same types (DuckDB's as postgres_serving maps them:
DECIMAL(18,2) numeric(18,2), DOUBLE double precision, VARCHAR text ...), and the same
multiset of rows. Only representation is normalised, never a value: the two drivers hand
over equal values as equal Python objects (Decimal('50.0') == Decimal('50.00'), aware
datetimes compare by instant) except NaN, which equals nothing, so NaN is compared as a
marker; jsonb (in staging only) as psycopg2 parses it against DuckDB's JSON text parsed.
Doubles are compared exactly: the models compute them the same way on both engines.

The Python models (int_clv_fit, int_member_clv, int_campaign_effects, int_coupon_effects)
are computed outside dbt on PostgreSQL; the campaign and coupon effects have rows here,
the CLV fit says why it was not made (a month of history: the fit needs 90 days and
thousands of members, tests/test_clv_marts.py), so mart_member_clv is empty on both.
A fresh database per module; PostgreSQL down is an error here, never a skip.
"""

from __future__ import annotations

import os
import secrets
from datetime import date
from pathlib import Path

import duckdb
import psycopg2
import pytest

from memberdw import pii
from memberdw import postgres_build as pb
from memberdw.generate import generate
from test_marts import memberdw_run

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
MEMBERS, DAYS, SEED, START = 300, 30, 12, date(2026, 9, 1)


def admin(statement: str) -> None:
    conn = psycopg2.connect(PG_ADMIN_DSN)
    conn.autocommit = True  # CREATE / DROP DATABASE cannot run in a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("pg_target")
    generate(base / "landing", members=MEMBERS, days=DAYS, seed=SEED, start=START)
    run = memberdw_run(base / "landing", base / "wh")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    database = f"memberdw_test_pgtarget_{secrets.token_hex(4)}"
    url = f"postgresql://postgres@127.0.0.1:5432/{database}"
    result = pb.build(base / "wh", url, work_dir=base / "pg")
    yield base, url, result
    admin(f'drop database if exists "{database}" with (force)')


def pg_rows(url: str, statement: str):
    conn = pb.connect(url)
    try:
        with conn, conn.cursor() as cur:  # committed on leaving
            cur.execute(statement)
            return cur.fetchall()
    finally:
        conn.close()


def test_every_mart_is_the_same_on_postgres_row_for_row(built):
    base, url, result = built
    assert pb.mart_differences(base / "wh", url) == {}
    duck = duckdb.connect(str(base / "wh" / "warehouse.duckdb"), read_only=True)
    try:
        marts = {t: n for t, n in duck.execute(
            "select table_name, estimated_size from duckdb_tables() where schema_name = 'marts'"
        ).fetchall()}
        (fit_status,) = duck.execute("select fit_status from marts.mart_clv_model").fetchall()[0]
    finally:
        duck.close()
    # not an empty comparison: the marts are there and the main ones hold rows, the
    # Python models' among them
    assert len(marts) >= 30
    for table in ("dim_members", "fct_orders", "fct_order_lines", "mart_member_rfm",
                  "mart_store_daily", "mart_sales_reconciliation", "mart_clv_model",
                  "mart_campaign_retrospective", "mart_coupon_effect"):
        assert marts[table] > 0, table
    assert fit_status == "insufficient_history"
    # every model and test dbt-postgres ran passed, and the timings name every model
    assert set(result["tests"]) == {"pass"}
    for model in ("int_member_rfm", "mart_member_rfm", "fct_orders", "int_clv_fit"):
        assert result["models"][model] >= 0


def test_staging_and_intermediate_rows_are_the_same_too(built):
    """Rows only: intermediate tables are not contracted, and PostgreSQL types a sum of
    numeric(18,2) as numeric where DuckDB says DECIMAL(38,2) (the marts cast them)."""
    base, url, _ = built
    for schema in ("staging", "intermediate"):
        differences = pb.mart_differences(base / "wh", url, schema=schema)
        differences.pop("columns", None)
        assert differences == {}, schema


def test_the_comparison_sees_one_changed_value(built):
    """The check can fail: one cent more on one order on PostgreSQL is one row on each
    side; taken back, the marts are equal again."""
    base, url, _ = built
    (order_id,) = pg_rows(url, "select min(order_id) from marts.fct_orders")[0]
    change = "update marts.fct_orders set gmv_amount = gmv_amount {} 0.01 where order_id = '{}'"
    pg_rows(url, change.format("+", order_id) + " returning 1")
    try:
        differences = pb.mart_differences(base / "wh", url)
    finally:
        pg_rows(url, change.format("-", order_id) + " returning 1")
    assert set(differences) == {"rows"} and set(differences["rows"]) == {"fct_orders"}
    found = differences["rows"]["fct_orders"]
    assert len(found["duckdb only"]) == len(found["postgres only"]) == 1
    assert found["duckdb only"][0][0] == found["postgres only"][0][0] == order_id
    assert pb.mart_differences(base / "wh", url) == {}


def test_the_pii_key_is_in_no_sql_artifact_or_log(built):
    """The key reaches PostgreSQL as a session setting through PGOPTIONS only: not in the
    compiled or run SQL, the manifest or run results, nor dbt's log."""
    base, _, _ = built
    key = pii.current_key()
    files = [p for p in (base / "pg").rglob("*") if p.is_file()]
    assert any(p.name == "manifest.json" for p in files)
    assert any(p.suffix == ".log" for p in files)
    assert not [p for p in files if key in p.read_bytes()]
    assert "current_setting('memberdw.pii_key')" in "".join(
        p.read_text() for p in files if p.name == "stg_crm__members.sql")


def test_the_hash_on_postgres_is_memberdw_pii_hash(built):
    """pgcrypto's hmac() under the key from PGOPTIONS gives memberdw.pii's hash."""
    _, url, _ = built
    env = pb.dbt_environment(url, "/nonexistent")
    conn = psycopg2.connect("host=127.0.0.1 user=postgres dbname=postgres",
                            options=env["PGOPTIONS"])
    try:
        with conn.cursor() as cur:
            cur.execute("create extension if not exists pgcrypto")
            cur.execute("select encode(hmac('13800138000'::text,"
                        " current_setting('memberdw.pii_key'), 'sha256'), 'hex')")
            assert cur.fetchone()[0] == pii.pii_hash("13800138000")
    finally:
        conn.rollback()
        conn.close()


def test_without_a_key_there_is_no_postgres_build(monkeypatch, tmp_path):
    monkeypatch.delenv("MEMBERDW_PII_KEY", raising=False)
    with pytest.raises(pii.PiiKeyError):
        pb.dbt_environment("postgresql://postgres@127.0.0.1:5432/x", tmp_path)


def test_a_key_with_spaces_and_backslashes_survives_pgoptions(monkeypatch):
    key = "a key with spaces \\ and a backslash, 32 bytes or more"
    monkeypatch.setenv("MEMBERDW_PII_KEY", key)
    env = pb.dbt_environment("postgresql://postgres@127.0.0.1:5432/postgres", Path("/x"))
    conn = psycopg2.connect("host=127.0.0.1 user=postgres dbname=postgres",
                            options=env["PGOPTIONS"])
    try:
        with conn.cursor() as cur:
            cur.execute("select current_setting('memberdw.pii_key')")
            assert cur.fetchone()[0] == key
    finally:
        conn.close()
    assert os.environ["MEMBERDW_PII_KEY"] == key
