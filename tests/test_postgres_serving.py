"""The marts published into the local PostgreSQL (memberdw.postgres_serving), checked through
real connections as each reading role: what memberdw_bi and memberdw_audit may read
succeeds, everything else is refused by the server.

A fresh database per module, a tiny warehouse built by the real pipeline. PostgreSQL down
is an error here, never a skip (.ci/run starts it).
"""

from __future__ import annotations

import math
import re
import secrets
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import duckdb
import psycopg2
import pytest
import yaml
from psycopg2 import errors, sql

from memberdw import postgres_serving as ps
from memberdw.generate import generate
from test_marts import memberdw_run

REPO = Path(__file__).resolve().parents[1]
PG = {"host": "127.0.0.1", "port": 5432}
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
DB_PREFIX = "memberdw_test_pg"
MART_YAML = sorted((REPO / "models" / "marts").rglob("_*.yml"))


def admin(statement: str, *args, dbname: str = "postgres"):
    conn = psycopg2.connect(PG_ADMIN_DSN.replace("dbname=postgres", f"dbname={dbname}"))
    conn.autocommit = True  # CREATE / DROP DATABASE cannot run in a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(statement, args or None)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def url(database: str, user: str = "postgres") -> str:
    return f"postgresql://{user}@{PG['host']}:{PG['port']}/{database}"


def fresh_database() -> str:
    name = f"{DB_PREFIX}_{secrets.token_hex(4)}"
    admin(f'create database "{name}"')
    return name


def as_role(database: str, role: str):
    conn = psycopg2.connect(**PG, user=role, dbname=database)
    conn.autocommit = True
    return conn


def denied(conn, statement: str) -> str:
    """The server's refusal of ``statement`` (the test fails if it is allowed)."""
    with pytest.raises(errors.InsufficientPrivilege) as refused, conn.cursor() as cur:
        cur.execute(statement)
    return str(refused.value)


def rows(conn, statement: str, *args):
    with conn.cursor() as cur:
        cur.execute(statement, args or None)
        return cur.fetchall()


@pytest.fixture(scope="module")
def pipeline_database():
    """The database `memberdw run` itself publishes into (MEMBERDW_POSTGRES_URL)."""
    name = fresh_database()
    yield name
    admin(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="module")
def serving(tmp_path_factory, pipeline_database) -> Path:
    base = tmp_path_factory.mktemp("pg_serving")
    generate(base / "landing", members=150, days=3, seed=33)
    with pytest.MonkeyPatch.context() as env:
        env.setenv(ps.URL_VARIABLE, url(pipeline_database))
        run = memberdw_run(base / "landing", base / "wh")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return base / "wh" / "marts.duckdb"


def test_the_pipeline_publishes_into_postgres_when_the_url_is_set(serving, pipeline_database):
    """The transform DAG's publish task swapped the run's marts in: every table of the
    serving file, with its row count, in schema marts or audit."""
    duck = duckdb.connect(str(serving), read_only=True)
    expected = {t for (t,) in duck.execute("select table_name from duckdb_tables()"
                                           " where database_name = current_database()").fetchall()}
    conn = psycopg2.connect(url(pipeline_database))
    try:
        with conn.cursor() as cur:
            cur.execute("select table_schema, table_name from information_schema.tables"
                        " where table_schema in ('marts', 'audit')")
            landed = {name for _, name in cur.fetchall()}
            assert landed == expected
            cur.execute("select count(*) from marts.fct_orders")
            (orders,) = cur.fetchone()
    finally:
        conn.close()
    assert orders == duck.execute("select count(*) from fct_orders").fetchone()[0] > 0


@pytest.fixture(scope="module")
def database():
    name = fresh_database()
    yield name
    admin(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="module")
def published(serving, database) -> dict:
    return ps.publish(serving, url(database))


@pytest.fixture(scope="module")
def readers(published, database):
    """Two login roles, as a deployment would make them: one granted each reading role."""
    suffix = secrets.token_hex(4)
    logins = {"bi": f"memberdw_test_bi_{suffix}", "audit": f"memberdw_test_audit_{suffix}",
              "nobody": f"memberdw_test_nobody_{suffix}"}
    for login, role in ((logins["bi"], ps.BI_ROLE), (logins["audit"], ps.AUDIT_ROLE),
                        (logins["nobody"], None)):
        admin(f'create role "{login}" login')
        if role:
            admin(f'grant {role} to "{login}"')
    yield logins
    for login in logins.values():
        admin(f'drop role if exists "{login}"')


def duck_tables(serving: Path) -> dict[str, list[tuple[str, str]]]:
    con = duckdb.connect(str(serving), read_only=True)
    try:
        return {t: con.execute("select column_name, data_type from duckdb_columns() where"
                               " database_name = current_database() and table_name = ?"
                               " order by column_index", [t]).fetchall()
                for (t,) in con.execute("select table_name from duckdb_tables() where"
                                        " database_name = current_database()").fetchall()}
    finally:
        con.close()


def profile(execute, table: str, columns: list[tuple[str, str]]) -> list:
    """Rows, non-null count of every column and the sum of every numeric one."""
    parts = ["count(*)"]
    for name, data_type in columns:
        parts.append(f'count("{name}")')
        if re.match(r"(DECIMAL|BIGINT|INTEGER|DOUBLE)", data_type):
            parts.append(f'sum("{name}")')
    return list(execute(f"select {', '.join(parts)} from {table}"))


def ps_tables(serving: Path) -> list[ps.Table]:
    con = duckdb.connect(str(serving), read_only=True)
    try:
        return ps.read_tables(con)
    finally:
        con.close()


def pg_state(database: str) -> dict:
    """Schemas, tables with their row counts, and every privilege, as the catalog holds them."""
    conn = psycopg2.connect(**PG, user="postgres", dbname=database)
    try:
        return {
            "schemas": rows(conn, "select nspname, coalesce(nspacl, acldefault('n',"
                                  " nspowner))::text from pg_namespace where nspname"
                                  " !~ '^(pg_|information_schema)' order by 1"),
            "tables": rows(conn, "select n.nspname, c.relname, coalesce(c.relacl,"
                                 " acldefault('r', c.relowner))::text, c.reltuples"
                                 " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                                 " where n.nspname in ('marts', 'audit') and c.relkind = 'r'"
                                 " order by 1, 2"),
            "columns": rows(conn, "select table_schema, table_name, column_name, grantee,"
                                  " privilege_type from information_schema.column_privileges"
                                  " where grantee like 'memberdw%' order by 1, 2, 3, 4"),
        }
    finally:
        conn.close()


def oids(database: str) -> dict:
    return dict(admin("select n.nspname || '.' || c.relname, c.oid from pg_class c join"
                      " pg_namespace n on n.oid = c.relnamespace where n.nspname in"
                      " ('marts', 'audit') and c.relkind = 'r'", dbname=database))


def leftover_schemas(database: str) -> list[str]:
    return [s for (s,) in admin("select nspname from pg_namespace where nspname ~"
                                " '^(marts|audit)_(new|old)'", dbname=database)]


def test_every_table_of_the_serving_file_lands_in_its_schema_with_its_rows_and_sums(
        database, serving, published):
    tables = duck_tables(serving)
    assert published["tables"]["audit"].keys() == {
        "mart_sales_reconciliation", "mart_sales_reconciliation_reasons", "mart_erasure_log",
        "publication"}
    assert published["tables"]["marts"].keys() == tables.keys() - {
        "mart_sales_reconciliation", "mart_sales_reconciliation_reasons", "mart_erasure_log"}
    assert {"dim_members", "fct_orders", "mart_store_daily"} <= published["tables"]["marts"].keys()
    duck = duckdb.connect(str(serving), read_only=True)
    pg = psycopg2.connect(**PG, user="postgres", dbname=database)
    try:
        for schema, loaded in published["tables"].items():
            for table in loaded:
                expected = profile(lambda q: duck.execute(q).fetchone(), f'main."{table}"',
                                   tables[table])
                got = profile(lambda q: rows(pg, q)[0], f'{schema}."{table}"', tables[table])
                assert len(got) == len(expected) and all(
                    math.isclose(g, e, rel_tol=1e-12) if isinstance(e, float) else g == e
                    for g, e in zip(got, expected)), (f"{schema}.{table}", got, expected)
                assert got[0] == loaded[table]
        assert rows(pg, "select count(*) from marts.fct_orders")[0][0] > 100
        published_types = dict(rows(
            pg, "select table_name || '.' || column_name, format_type(atttypid, atttypmod)"
                " from information_schema.columns join pg_attribute on attrelid ="
                " (table_schema || '.' || table_name)::regclass and attname = column_name"
                " where table_schema = 'marts'"))
        assert {k: published_types[k] for k in (
            "fct_orders.gmv_amount", "fct_orders.ordered_at", "fct_orders.item_quantity",
            "fct_orders.is_purchase", "fct_orders.order_date", "mart_member_rfm.frequency",
            "mart_store_daily.attach_rate", "publication.published_at", "dim_members.city",
        )} == {
            "fct_orders.gmv_amount": "numeric(18,2)",
            "fct_orders.ordered_at": "timestamp without time zone",
            "fct_orders.item_quantity": "bigint", "fct_orders.is_purchase": "boolean",
            "fct_orders.order_date": "date", "mart_member_rfm.frequency": "integer",
            "mart_store_daily.attach_rate": "double precision",
            "publication.published_at": "timestamp with time zone", "dim_members.city": "text",
        }
        assert rows(pg, "select obj_description('marts'::regnamespace)")[0][0].startswith(
            "memberdw marts as of ")
        # the serving file's table and column comments (the dbt descriptions) come along
        described = duck.execute(
            "select table_name, null, comment from duckdb_tables() where comment is not null"
            " and database_name = current_database() union all select table_name, column_name,"
            " comment from duckdb_columns() where comment is not null and database_name ="
            " current_database()").fetchall()
        carried = rows(pg, "select c.relname, a.attname, d.description from pg_description d"
                           " join pg_class c on c.oid = d.objoid and d.classoid ="
                           " 'pg_class'::regclass left join pg_attribute a on a.attrelid ="
                           " c.oid and a.attnum = d.objsubid and d.objsubid > 0 where"
                           " c.relnamespace in ('marts'::regnamespace, 'audit'::regnamespace)")
        assert set(carried) == set(described)
    finally:
        duck.close()
        pg.close()
    withheld = published["personal_data_columns"]
    assert withheld["dim_members"] == ["mobile_hash", "name_masked"]
    assert withheld["mart_fission"] == ["sharer_key"]
    assert leftover_schemas(database) == []


def test_the_bi_role_reads_every_mart_but_no_personal_data_column(serving, database, readers):
    tables = duck_tables(serving)
    bi = as_role(database, readers["bi"])
    try:
        marts = [t for (t,) in rows(bi, "select tablename from pg_tables where"
                                        " schemaname = 'marts'")]
        assert not set(marts) & (ps.AUDIT_TABLES - ps.BOTH_SCHEMAS)
        assert len(marts) == len(tables) - len(ps.AUDIT_TABLES - ps.BOTH_SCHEMAS)
        for table in marts:
            readable = [c for c, _ in tables[table] if not ps.is_personal_data(table, c)]
            rows(bi, sql.SQL("select {} from marts.{} limit 5").format(
                sql.SQL(", ").join(map(sql.Identifier, readable)), sql.Identifier(table)))
        assert rows(bi, "select count(member_id), count(city) from marts.dim_members")[0][0] > 100
        assert rows(bi, "select count(*) from marts.fct_orders")[0][0] > 100  # no personal data
        for statement in ("select * from marts.dim_members",
                          "select mobile_hash from marts.dim_members",
                          "select member_id from marts.dim_members where name_masked like '%'",
                          "select count(distinct mobile_hash) from marts.dim_members",
                          "select sharer_key from marts.mart_fission",
                          "select * from marts.mart_fission"):
            assert "permission denied for table" in denied(bi, statement), statement
        for statement in ("select * from audit.mart_sales_reconciliation",
                          "select * from audit.publication",
                          "create table audit.mine (x int)"):
            assert "permission denied for schema audit" in denied(bi, statement), statement
        for statement in ("insert into marts.dim_stores (store_code) values ('X')",
                          "update marts.fct_orders set gmv_amount = 0",
                          "delete from marts.fct_orders",
                          "truncate marts.fct_orders",
                          "drop table marts.fct_orders",
                          "alter table marts.fct_orders add column mine int",
                          "grant select on marts.dim_members to public",
                          "comment on table marts.fct_orders is 'mine'"):
            denied(bi, statement)
        assert "permission denied for schema marts" in denied(bi, "create table marts.mine (x int)")
        denied(bi, "drop schema marts cascade")
    finally:
        bi.close()
    # what the catalog says memberdw_bi may not read is exactly the personal-data columns
    withheld = admin(
        "select c.table_name, c.column_name from information_schema.columns c where"
        " c.table_schema = 'marts' and not has_column_privilege(%s, format('marts.%%I',"
        " c.table_name), c.column_name, 'select') order by 1, c.ordinal_position",
        ps.BI_ROLE, dbname=database)
    assert withheld == [(table, column) for table, columns in
                        sorted(ps.personal_data_columns(ps_tables(serving)).items())
                        for column in columns]
    assert {("dim_members", "mobile_hash"), ("dim_members", "name_masked"),
            ("mart_fission", "sharer_key")} <= set(withheld)


def test_the_audit_role_reads_the_audit_tables_only(database, published, readers):
    auditor = as_role(database, readers["audit"])
    try:
        for table, count in published["tables"]["audit"].items():
            assert rows(auditor, f"select count(*) from audit.{table}")[0][0] == count
        assert rows(auditor, "select sum(delivered_amount) = sum(published_amount"
                             " + superseded_amount + quarantined_amount + unexplained_amount) from"
                             " audit.mart_sales_reconciliation")[0][0] is True
        for statement in ("select * from marts.fct_orders", "select * from marts.publication",
                          "create table marts.mine (x int)"):
            assert "permission denied for schema marts" in denied(auditor, statement), statement
        for statement in ("insert into audit.publication (run_id) values ('mine')",
                          "update audit.mart_sales_reconciliation set is_reconciled = true",
                          "delete from audit.mart_sales_reconciliation_reasons",
                          "truncate audit.publication",
                          "drop table audit.publication",
                          "create table audit.mine (x int)"):
            denied(auditor, statement)
    finally:
        auditor.close()


def test_publishing_again_swaps_in_the_same_state(serving, database, published, readers):
    before, tables_before = pg_state(database), oids(database)
    # SQLAlchemy-style URLs (as Airflow connections spell them) work too
    again = ps.publish(serving, url(database).replace("postgresql://", "postgresql+psycopg2://"))
    assert again["tables"] == published["tables"]
    assert again["roles_created"] == []
    assert pg_state(database) == before
    assert set(oids(database).values()).isdisjoint(tables_before.values())  # new tables
    assert leftover_schemas(database) == []
    bi = as_role(database, readers["bi"])
    try:
        assert rows(bi, "select count(*) from marts.fct_orders")[0][0] == \
            published["tables"]["marts"]["fct_orders"]
        denied(bi, "select mobile_hash from marts.dim_members")
    finally:
        bi.close()


def test_default_privileges_of_the_database_open_no_other_way_in(
        serving, database, published, readers):
    before = pg_state(database)
    grant = ("alter default privileges for role postgres grant select on tables to public;"
             " alter default privileges for role postgres grant usage on schemas to public")
    admin(grant, dbname=database)
    try:
        ps.publish(serving, url(database))
    finally:
        admin(grant.replace("grant", "revoke").replace(" to ", " from "), dbname=database)
    assert pg_state(database) == before
    bi, nobody = as_role(database, readers["bi"]), as_role(database, readers["nobody"])
    try:
        denied(bi, "select mobile_hash from marts.dim_members")
        for statement in ("select count(*) from marts.fct_orders",
                          "select count(*) from audit.publication"):
            assert "permission denied for schema" in denied(nobody, statement)
    finally:
        bi.close()
        nobody.close()


def test_a_database_closed_to_public_is_opened_to_the_reading_roles_only(
        serving, database, published, readers):
    admin(f'revoke connect on database "{database}" from public')
    try:
        ps.publish(serving, url(database))
        for reader in ("bi", "audit"):
            as_role(database, readers[reader]).close()
        with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
            as_role(database, readers["nobody"])
    finally:
        admin(f'grant connect on database "{database}" to public;'
              f' revoke connect on database "{database}" from {ps.BI_ROLE}, {ps.AUDIT_ROLE}')


def test_a_failure_mid_load_leaves_the_published_marts_as_they_were(
        serving, database, published, readers, monkeypatch):
    before, tables_before = pg_state(database), oids(database)
    loaded = []
    real_load = ps.load_table

    def load_then_fail(cur, duck, table, schema, scratch):
        if len(loaded) == 3:
            raise ConnectionResetError("the network went away")
        loaded.append(table.name)
        return real_load(cur, duck, table, schema, scratch)

    monkeypatch.setattr(ps, "load_table", load_then_fail)
    with pytest.raises(ConnectionResetError):
        ps.publish(serving, url(database))
    assert len(loaded) == 3
    assert oids(database) == tables_before
    assert pg_state(database) == before
    assert leftover_schemas(database) == []
    bi = as_role(database, readers["bi"])
    try:
        assert rows(bi, "select count(*) from marts.dim_members")[0][0] == \
            published["tables"]["marts"]["dim_members"]
    finally:
        bi.close()


def test_a_bi_query_on_the_old_marts_delays_only_the_drop_of_them(
        serving, database, published, readers):
    bi = psycopg2.connect(**PG, user=readers["bi"], dbname=database)  # a transaction stays open
    try:
        old_count = rows(bi, "select count(*) from marts.fct_orders")[0][0]
        done = {}
        # lock_timeout on the whole session: a swap that waited for the reader would fail
        publisher = threading.Thread(target=lambda: done.update(ps.publish(
            serving, url(database) + "?options=-c%20lock_timeout%3D20s",
            drop_lock_timeout="300ms")))
        publisher.start()
        publisher.join(60)
        assert done, "publish did not return"
        [kept] = leftover_schemas(database)  # still read by the open transaction
        assert kept.startswith("marts_old_")
        assert rows(bi, "select count(*) from marts.fct_orders")[0][0] == old_count
        newcomer = as_role(database, readers["bi"])  # ... while new sessions get the new marts
        try:
            assert rows(newcomer, "select count(*) from marts.fct_orders")[0][0] == old_count
            assert rows(newcomer, "select 'marts.fct_orders'::regclass::oid")[0][0] == \
                oids(database)["marts.fct_orders"]
        finally:
            newcomer.close()
        bi.commit()
    finally:
        bi.close()
    conn = ps.connect(url(database))
    try:
        assert ps.drop_old(conn) == [kept]
    finally:
        conn.close()
    assert leftover_schemas(database) == []


def test_the_reading_roles_are_created_nologin_once(database, published):
    role = f"memberdw_test_role_{secrets.token_hex(4)}"
    conn = ps.connect(url(database))
    try:
        assert ps.ensure_roles(conn, {role: "a test role"}) == [role]
        assert ps.ensure_roles(conn, {role: "a test role"}) == []
        assert rows(conn, "select rolcanlogin, shobj_description(oid, 'pg_authid') from pg_roles"
                          " where rolname = %s", role) == [(False, "a test role")]
    finally:
        conn.close()
        admin(f'drop role if exists "{role}"')
    for created in (ps.BI_ROLE, ps.AUDIT_ROLE):
        assert admin("select rolcanlogin from pg_roles where rolname = %s", created) == [(False,)]


def test_values_and_comments_survive_the_trip_through_csv(tmp_path):
    """Every DuckDB type the mapping knows, with the values CSV could get wrong."""
    path = tmp_path / "marts.duckdb"
    con = duckdb.connect(str(path))
    con.execute("""
        create type mood as enum ('calm', 'busy');
        create table mart_types as select * from (values
            ('', null::varchar, 'a,"b''c', 'x
y', '\\N', '蒋*', 12.34::decimal(18,2), -0.01::decimal(4,2), 0.1::double,
             'inf'::double, 1.5::float, 9223372036854775807::bigint, (-2147483648)::integer,
             (-32768)::smallint, 127::tinyint, 18446744073709551615::ubigint,
             170141183460469231731687303715884105727::hugeint, true,
             date '2026-10-01', time '23:59:59.999999', timestamp '2026-10-01 12:34:56.789012',
             timestamptz '2026-10-01 12:34:56.5+08', interval '1 month 2 days 03:04:05',
             uuid 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\xDE\\xAD'::blob, 'calm'::mood,
             [1, 2], {'k': 'v', 'n': 1}, map {'a': 1}, '{"j": [1]}'::json),
            (null, '', ' ', '"', ',', 'NULL', null, null, 'nan'::double,
             '-inf'::double, null, null, null, null, null, null, null, false,
             null, null, null, null, null, null, null, null, [], null, null, null))
            t(empty, nothing, quoted, newline, backslash_n, masked_name, amount, small_amount,
              ratio, infinite, single, big, int_min, small, tiny, ubig, huge, flag, day,
              clock, ts, tstz, span, id, bytes, mood, list, struct, map, doc);
        comment on table mart_types is 'One row per trap';
        comment on column mart_types.amount is 'Money, decimal(18,2)';
    """)
    expected = con.execute("select * from mart_types").fetchall()
    con.close()
    name = fresh_database()
    try:
        result = ps.publish(path, url(name))
        assert result["tables"] == {"marts": {"mart_types": 2}, "audit": {}}
        conn = psycopg2.connect(**PG, user="postgres", dbname=name)
        try:
            got = rows(conn, "select * from marts.mart_types order by flag desc")
            types = dict(rows(conn, "select attname, format_type(atttypid, atttypmod) from"
                                    " pg_attribute where attrelid = 'marts.mart_types'::regclass"
                                    " and attnum > 0"))
            comments = rows(conn, "select obj_description('marts.mart_types'::regclass),"
                                  " col_description('marts.mart_types'::regclass, 7)")
        finally:
            conn.close()
    finally:
        admin(f'drop database if exists "{name}" with (force)')
    assert comments == [("One row per trap", "Money, decimal(18,2)")]
    assert types == {
        "empty": "text", "nothing": "text", "quoted": "text", "newline": "text",
        "backslash_n": "text", "masked_name": "text", "amount": "numeric(18,2)",
        "small_amount": "numeric(4,2)", "ratio": "double precision",
        "infinite": "double precision", "single": "real", "big": "bigint", "int_min": "integer",
        "small": "smallint", "tiny": "smallint", "ubig": "numeric(20,0)", "huge": "numeric(39,0)",
        "flag": "boolean", "day": "date", "clock": "time without time zone",
        "ts": "timestamp without time zone", "tstz": "timestamp with time zone",
        "span": "interval", "id": "uuid", "bytes": "bytea", "mood": "text", "list": "jsonb",
        "struct": "jsonb", "map": "jsonb", "doc": "jsonb",
    }
    first, second = got
    assert first[:8] == expected[0][:8] == ("", None, 'a,"b\'c', "x\ny", "\\N", "蒋*",
                                            Decimal("12.34"), Decimal("-0.01"))
    assert first[8:18] == (0.1, math.inf, 1.5, 2**63 - 1, -2**31, -2**15, 127, 2**64 - 1,
                           2**127 - 1, True)
    assert first[18:23] == (date(2026, 10, 1), expected[0][19],
                            datetime(2026, 10, 1, 12, 34, 56, 789012),
                            datetime(2026, 10, 1, 4, 34, 56, 500000, tzinfo=timezone.utc),
                            timedelta(days=32, hours=3, minutes=4, seconds=5))
    assert UUID(first[23]) == expected[0][23] and bytes(first[24]) == b"\xde\xad"
    assert first[25:] == ("calm", [1, 2], {"k": "v", "n": 1}, {"a": 1}, {"j": [1]})
    assert second[:6] == (None, "", " ", '"', ",", "NULL")
    assert math.isnan(second[8]) and second[9] == -math.inf
    assert second[10:17] == (None,) * 7 and second[17] is False and second[26] == []


def test_type_mapping_refuses_what_it_does_not_know():
    assert ps.postgres_type("DECIMAL(38,10)") == "numeric(38,10)"
    assert ps.postgres_type("VARCHAR[]") == "jsonb"
    assert ps.postgres_type("INTEGER[3]") == "jsonb"
    assert ps.postgres_type("STRUCT(a INTEGER)") == "jsonb"
    with pytest.raises(ps.PostgresServingError, match="no PostgreSQL type for the DuckDB type"):
        ps.postgres_type("GEOMETRY")


def test_personal_data_columns_cover_every_hash_and_mask_the_marts_yaml_describes():
    """The one list of personal-data columns (postgres_serving) against the marts' YAML: a
    column named or described as a hash or a masked value is withheld from memberdw_bi,
    and every column named in PERSONAL_DATA_COLUMNS still exists."""
    columns = {}
    for path in MART_YAML:
        for model in yaml.safe_load(path.read_text()).get("models", []):
            for column in model.get("columns", []):
                columns[(model["name"], column["name"])] = column.get("description", "")
    assert len(columns) > 300
    described = {key for key, text in columns.items()
                 if re.search(r"hash|mask", key[1]) or re.search(r"\bhash\b|\bmask", text, re.I)}
    assert {("dim_members", "mobile_hash"), ("dim_members", "name_masked"),
            ("mart_fission", "sharer_key")} <= described
    assert [key for key in described if not ps.is_personal_data(*key)] == []
    for table, names in ps.PERSONAL_DATA_COLUMNS.items():
        assert {(table, name) for name in names} <= columns.keys()
    # ... and nothing a BI tool needs is caught by the name pattern by accident
    assert [key for key in columns if ps.is_personal_data(*key) and key not in described] == []
