"""The published marts served from PostgreSQL too, for BI tools that connect over the network.

``publish(serving, url)`` reads the serving file ``marts.duckdb`` (read-only, after
``pipeline.publish`` wrote it, so after every check passed) and loads its tables into the
PostgreSQL database of ``url`` (``MEMBERDW_POSTGRES_URL``, the pipeline's own login):
the marts into schema ``marts``, the audit tables (``AUDIT_TABLES``) into schema ``audit``,
under the serving file's table names. Everything is built in schemas ``marts_new`` and
``audit_new`` and swapped in by renames in the same transaction, so a BI session sees the
old marts or the new ones, never a mix, and a failure anywhere leaves the old ones as they
were. The old schemas (``marts_old_<token>``, ``audit_old_<token>``) are dropped after the
swap has committed, so a long BI query on the old tables delays only that drop, never the
swap or anybody's next query.

Privileges are reset on every publication to exactly these (tables are new every time):
``memberdw_bi`` may read every column of the marts except personal data
(``personal_data_columns``: hashes and masked values too), ``memberdw_audit`` may read the
audit schema, and only the pipeline's login, which owns both schemas, may write. Both roles
are created NOLOGIN if missing; a deployment grants them to its users.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg2
from psycopg2 import errors, sql

log = logging.getLogger(__name__)

URL_VARIABLE = "MEMBERDW_POSTGRES_URL"
MARTS_SCHEMA = "marts"
AUDIT_SCHEMA = "audit"
BI_ROLE = "memberdw_bi"
AUDIT_ROLE = "memberdw_audit"
ROLES = {
    BI_ROLE: "memberdw: reads the marts (schema marts) except personal-data columns",
    AUDIT_ROLE: "memberdw: reads the audit tables (schema audit)",
}
# Tables of the serving file that land in schema audit rather than marts. The
# publication row lands in both: auditors keep it, BI tools show the data's as-of date.
AUDIT_TABLES = frozenset({"mart_sales_reconciliation", "mart_sales_reconciliation_reasons",
                          "mart_erasure_log", "publication"})
BOTH_SCHEMAS = frozenset({"publication"})
# Personal data, even hashed or masked, by column name: keyed hashes and masked values of
# identifiers, and any column named after a contact or platform identifier.
PERSONAL_DATA_NAME = re.compile(
    r"(_hash|_masked)$|(^|_)(mobile|phone|openid|unionid|email|id_card|address)(_|$)")
# ... and the columns whose names do not say so (the marts' YAML describes each).
PERSONAL_DATA_COLUMNS = {
    "mart_fission": frozenset({"sharer_key"}),  # member_id, else the openid's keyed hash
}
# One publisher per database at a time (pg_advisory_xact_lock key: "memberdw" in ASCII).
PUBLISH_LOCK = 0x6D656D6265726477

DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
NESTED = re.compile(r"^(STRUCT|MAP|UNION)\(|\]$")
POSTGRES_TYPES = {
    "BOOLEAN": "boolean",
    "TINYINT": "smallint", "SMALLINT": "smallint", "INTEGER": "integer", "BIGINT": "bigint",
    "UTINYINT": "smallint", "USMALLINT": "integer", "UINTEGER": "bigint",
    "UBIGINT": "numeric(20,0)", "HUGEINT": "numeric(39,0)", "UHUGEINT": "numeric(39,0)",
    "FLOAT": "real", "DOUBLE": "double precision",
    "VARCHAR": "text", "UUID": "uuid", "JSON": "jsonb", "BLOB": "bytea", "BIT": "bit varying",
    "DATE": "date", "TIME": "time", "TIME WITH TIME ZONE": "timetz", "INTERVAL": "interval",
    "TIMESTAMP": "timestamp", "TIMESTAMP_S": "timestamp", "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_NS": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


class PostgresServingError(RuntimeError):
    """The marts could not be published into PostgreSQL; the published ones are unchanged."""


@dataclass(frozen=True)
class Column:
    name: str
    duckdb_type: str
    postgres_type: str
    export: str  # the DuckDB expression whose CSV text PostgreSQL reads as postgres_type
    comment: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    schemas: tuple[str, ...]  # target schemas: marts, audit or both
    columns: tuple[Column, ...]
    row_count: int
    comment: str | None = None


def url_from_environment(environ=os.environ) -> str | None:
    """``MEMBERDW_POSTGRES_URL``, or None: PostgreSQL serving is off."""
    return environ.get(URL_VARIABLE) or None


def postgres_type(duckdb_type: str) -> str:
    """The PostgreSQL type a DuckDB column is published as; nested types become jsonb."""
    if duckdb_type in POSTGRES_TYPES:
        return POSTGRES_TYPES[duckdb_type]
    if match := DECIMAL.fullmatch(duckdb_type):
        return f"numeric({match[1]},{match[2]})"
    if duckdb_type.startswith("ENUM("):
        return "text"
    if NESTED.search(duckdb_type):
        return "jsonb"
    raise PostgresServingError(f"no PostgreSQL type for the DuckDB type {duckdb_type}")


def _export(name: str, duckdb_type: str, pg_type: str) -> str:
    column = '"' + name.replace('"', '""') + '"'
    if pg_type == "jsonb":
        return f"to_json({column})"
    if pg_type == "bytea":
        return f"'\\x' || hex({column})"
    return column


def is_personal_data(table: str, column: str) -> bool:
    return bool(PERSONAL_DATA_NAME.search(column)) or column in PERSONAL_DATA_COLUMNS.get(table, ())


def personal_data_columns(tables) -> dict[str, list[str]]:
    """Per mart, the columns ``memberdw_bi`` may not read."""
    found = {t.name: [c.name for c in t.columns if is_personal_data(t.name, c.name)]
             for t in tables if MARTS_SCHEMA in t.schemas}
    return {name: columns for name, columns in found.items() if columns}


def read_tables(con: duckdb.DuckDBPyConnection) -> list[Table]:
    """The tables of the serving file, typed for PostgreSQL."""
    tables = []
    for name, comment in con.execute(
            "select table_name, comment from duckdb_tables() where database_name ="
            " current_database() and schema_name = 'main' order by table_name").fetchall():
        columns = tuple(
            Column(column, data_type, pg_type := postgres_type(data_type),
                   _export(column, data_type, pg_type), column_comment)
            for column, data_type, column_comment in con.execute(
                "select column_name, data_type, comment from duckdb_columns() where"
                " database_name = current_database() and schema_name = 'main' and"
                " table_name = ? order by column_index", [name]).fetchall())
        schemas = ((MARTS_SCHEMA, AUDIT_SCHEMA) if name in BOTH_SCHEMAS else
                   (AUDIT_SCHEMA,) if name in AUDIT_TABLES else (MARTS_SCHEMA,))
        (rows,) = con.execute(f'select count(*) from main."{name}"').fetchone()
        tables.append(Table(name, schemas, columns, rows, comment))
    return tables


def connect(url: str):
    """A psycopg2 connection; SQLAlchemy-style ``postgresql+psycopg2://`` URLs work too."""
    url = re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", url)
    conn = psycopg2.connect(url, application_name="memberdw publish")
    conn.set_client_encoding("UTF8")
    return conn


def ensure_roles(conn, roles: dict[str, str] = ROLES) -> list[str]:
    """Create the reading roles NOLOGIN where missing (a concurrent creation is fine);
    returns the ones created. An existing role is left as the deployment made it."""
    created = []
    for role, comment in roles.items():
        with conn, conn.cursor() as cur:
            cur.execute("select 1 from pg_roles where rolname = %s", [role])
            if cur.fetchone():
                continue
            try:
                cur.execute("savepoint create_role")
                cur.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
                cur.execute(sql.SQL("comment on role {} is %s").format(sql.Identifier(role)),
                            [comment])
                created.append(role)
            except (errors.DuplicateObject, errors.UniqueViolation):
                cur.execute("rollback to savepoint create_role")
            except errors.InsufficientPrivilege as exc:
                raise PostgresServingError(
                    f"role {role} does not exist and this login may not create it"
                    f" ({str(exc).strip()}); give the login CREATEROLE or have a DBA run:"
                    f" CREATE ROLE {role} NOLOGIN") from exc
    return created


def load_table(cur, duck: duckdb.DuckDBPyConnection, table: Table, schema: str,
               scratch: Path) -> int:
    """Create ``schema.table`` and COPY the serving file's rows into it (CSV DuckDB wrote:
    empty unquoted is NULL, ``""`` the empty string, as PostgreSQL's CSV reads them)."""
    target = sql.Identifier(schema, table.name)
    cur.execute(sql.SQL("create table {} ({})").format(target, sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.postgres_type))
        for c in table.columns)))
    csv = scratch / f"{table.name}.csv"
    duck.execute(f"copy (select {', '.join(c.export for c in table.columns)}"
                 f' from main."{table.name}") to \'{csv.as_posix().replace(chr(39), chr(39) * 2)}\''
                 " (format csv, header false)")
    try:
        with open(csv, "rb") as rows:
            cur.copy_expert(sql.SQL("copy {} ({}) from stdin with (format csv)").format(
                target, sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns)
            ).as_string(cur), rows, size=1 << 20)
        loaded = cur.rowcount
    finally:
        csv.unlink(missing_ok=True)
    if loaded != table.row_count:
        raise PostgresServingError(
            f"{schema}.{table.name}: loaded {loaded} rows of {table.row_count}")
    comments = [(sql.SQL("comment on table {} is {}").format(target, sql.Literal(table.comment)))
                ] if table.comment else []
    comments += [sql.SQL("comment on column {}.{} is {}").format(
        target, sql.Identifier(c.name), sql.Literal(c.comment)) for c in table.columns if c.comment]
    if comments:
        cur.execute(sql.SQL("; ").join(comments))
    return loaded


def _reset_privileges(cur, schema: str) -> None:
    """Revoke whatever default privileges gave others on a new schema and its tables, so
    the grants that follow are the only ones."""
    cur.execute(
        "select distinct coalesce(r.rolname, 'public') from pg_class c"
        " cross join lateral aclexplode(c.relacl) a left join pg_roles r on r.oid = a.grantee"
        " where c.relnamespace = %s::regnamespace and a.grantee <> c.relowner"
        " union select coalesce(r.rolname, 'public') from pg_namespace n"
        " cross join lateral aclexplode(n.nspacl) a left join pg_roles r on r.oid = a.grantee"
        " where n.nspname = %s and a.grantee <> n.nspowner", [schema, schema])
    for (grantee,) in cur.fetchall():
        who = sql.SQL("public") if grantee == "public" else sql.Identifier(grantee)
        cur.execute(sql.SQL("revoke all on all tables in schema {0} from {1};"
                            " revoke all on schema {0} from {1}").format(
            sql.Identifier(schema), who))


def _grant(cur, tables: list[Table], staged: dict[str, str]) -> None:
    for schema, stage in staged.items():
        _reset_privileges(cur, stage)
    stage = sql.Identifier(staged[MARTS_SCHEMA])
    cur.execute(sql.SQL("grant usage on schema {} to {}").format(stage, sql.Identifier(BI_ROLE)))
    for table in tables:
        if MARTS_SCHEMA not in table.schemas:
            continue
        readable = [c.name for c in table.columns if not is_personal_data(table.name, c.name)]
        target = sql.Identifier(staged[MARTS_SCHEMA], table.name)
        if len(readable) == len(table.columns):
            cur.execute(sql.SQL("grant select on {} to {}").format(target, sql.Identifier(BI_ROLE)))
        elif readable:
            cur.execute(sql.SQL("grant select ({}) on {} to {}").format(
                sql.SQL(", ").join(map(sql.Identifier, readable)), target,
                sql.Identifier(BI_ROLE)))
    audit = sql.Identifier(staged[AUDIT_SCHEMA])
    cur.execute(sql.SQL("grant usage on schema {0} to {1};"
                        " grant select on all tables in schema {0} to {1}").format(
        audit, sql.Identifier(AUDIT_ROLE)))
    for role in ROLES:  # CONNECT comes from PUBLIC unless the deployment revoked it
        cur.execute("select has_database_privilege(%s, current_database(), 'connect')", [role])
        if not cur.fetchone()[0]:
            try:
                cur.execute("savepoint grant_connect")
                cur.execute(sql.SQL("grant connect on database {} to {}").format(
                    sql.Identifier(cur.connection.info.dbname), sql.Identifier(role)))
            except errors.InsufficientPrivilege:
                cur.execute("rollback to savepoint grant_connect")
                log.warning("%s may not connect to database %s and this login cannot grant it",
                            role, cur.connection.info.dbname)


def _schema_comment(publication: dict | None) -> str:
    if not publication:
        return "memberdw marts"
    return (f"memberdw marts as of {publication.get('as_of_date')}, published"
            f" {publication.get('published_at')} (run {publication.get('run_id')})")


def drop_old(conn, lock_timeout: str = "10s") -> list[str]:
    """Drop the schemas swaps left behind (``marts_old_<token>``, ``audit_old_<token>``); one
    a BI query still reads stays, after ``lock_timeout``, until the next publication drops
    it. Returns the schemas dropped."""
    with conn, conn.cursor() as cur:
        cur.execute("select nspname from pg_namespace where nspname ~ %s order by 1",
                    [f"^({MARTS_SCHEMA}|{AUDIT_SCHEMA})_old_[0-9a-f]+$"])
        leftovers = [schema for (schema,) in cur.fetchall()]
    dropped = []
    for schema in leftovers:
        try:
            with conn, conn.cursor() as cur:
                cur.execute("select set_config('lock_timeout', %s, true)", [lock_timeout])
                cur.execute(sql.SQL("drop schema if exists {} cascade").format(
                    sql.Identifier(schema)))
                dropped.append(schema)
        except errors.LockNotAvailable:
            log.warning("schema %s is still being read; the next publication drops it", schema)
    return dropped


def publish(serving: str | Path, url: str, drop_lock_timeout: str = "10s") -> dict:
    """Publish the serving file's tables into PostgreSQL (see the module docstring).

    Returns the database, the row counts per schema and table, the personal-data columns
    withheld from ``memberdw_bi``, the roles created and the seconds taken. Raises
    ``PostgresServingError`` (or psycopg2's error) with the published marts unchanged.
    """
    started = time.monotonic()
    serving = Path(serving)
    if not serving.exists():
        raise PostgresServingError(f"no serving file {serving} to publish")
    duck = duckdb.connect(str(serving), read_only=True)
    try:
        duck.execute("set TimeZone = 'UTC'")  # timestamptz in CSV as +00, exact either way
        tables = read_tables(duck)
        if not any(MARTS_SCHEMA in t.schemas for t in tables):
            raise PostgresServingError(f"the serving file {serving} holds no marts")
        publication = None
        if any(t.name == "publication" for t in tables):
            cursor = duck.execute("select * from publication")
            publication = dict(zip([d[0] for d in cursor.description], cursor.fetchone() or ()))
        conn = connect(url)
        try:
            created = ensure_roles(conn)
            staged = {s: f"{s}_new" for s in (MARTS_SCHEMA, AUDIT_SCHEMA)}
            counts = {MARTS_SCHEMA: {}, AUDIT_SCHEMA: {}}
            with conn, conn.cursor() as cur, tempfile.TemporaryDirectory(
                    prefix="memberdw-pg-") as scratch:
                cur.execute("select pg_advisory_xact_lock(%s)", [PUBLISH_LOCK])
                for schema, stage in staged.items():
                    cur.execute(sql.SQL("drop schema if exists {0} cascade; create schema {0}")
                                .format(sql.Identifier(stage)))
                for table in tables:
                    for schema in table.schemas:
                        counts[schema][table.name] = load_table(
                            cur, duck, table, staged[schema], Path(scratch))
                        cur.execute(sql.SQL("analyze {}").format(
                            sql.Identifier(staged[schema], table.name)))
                _grant(cur, tables, staged)
                cur.execute(sql.SQL("comment on schema {} is %s").format(
                    sql.Identifier(staged[MARTS_SCHEMA])), [_schema_comment(publication)])
                cur.execute(sql.SQL("comment on schema {} is %s").format(
                    sql.Identifier(staged[AUDIT_SCHEMA])),
                    ["memberdw audit: sales reconciliation and the publication row"])
                # the swap: no table lock, so BI queries on the old tables neither wait
                # nor block it; the old schemas stop being browsable but stay readable to
                # the queries already running on them until drop_old
                token = secrets.token_hex(4)
                for schema, stage in staged.items():
                    cur.execute("select 1 from pg_namespace where nspname = %s", [schema])
                    if cur.fetchone():
                        old = sql.Identifier(f"{schema}_old_{token}")
                        cur.execute(sql.SQL("alter schema {} rename to {}").format(
                            sql.Identifier(schema), old))
                        cur.execute(sql.SQL("revoke all on schema {} from {}").format(
                            old, sql.SQL(", ").join(map(sql.Identifier, ROLES))))
                    cur.execute(sql.SQL("alter schema {} rename to {}").format(
                        sql.Identifier(stage), sql.Identifier(schema)))
            drop_old(conn, drop_lock_timeout)
            database = f"{conn.info.host}:{conn.info.port}/{conn.info.dbname}"
        finally:
            conn.close()
    finally:
        duck.close()
    seconds = round(time.monotonic() - started, 2)
    log.info("published %d marts and %d audit tables to PostgreSQL %s in %.1f s",
             len(counts[MARTS_SCHEMA]), len(counts[AUDIT_SCHEMA]), database, seconds)
    return {"database": database, "as_of_date": (publication or {}).get("as_of_date"),
            "tables": counts, "personal_data_columns": personal_data_columns(tables),
            "roles_created": created, "seconds": seconds}
