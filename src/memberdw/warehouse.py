"""The working warehouse file: its location, its raw and meta tables, and transactions.

``<warehouse_dir>/warehouse.duckdb`` is the pipeline's working database (raw, meta,
staging and later layers). Only one process may write it at a time; Airflow tasks that
open it share the ``warehouse_writer`` pool of one slot.

Every connection that writes it, dbt's included (``settings:`` in dbt_project/profiles.yml),
runs under the same DuckDB resources (``resources``): a memory limit and the machine's
cores as threads. A join or sort larger than the limit spills to DuckDB's own folder beside
the file, ``warehouse.duckdb.tmp``, instead of taking the machine's memory.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from memberdw import parsing
from memberdw.contract import ENTITIES

WORKING_FILE = "warehouse.duckdb"
# DuckDB resources, read by resources() and, for dbt, by profiles.yml
MEMORY_LIMIT_VARIABLE = "MEMBERDW_DUCKDB_MEMORY_LIMIT"
THREADS_VARIABLE = "MEMBERDW_DUCKDB_THREADS"
DEFAULT_MEMORY_LIMIT_GIB = 6

META_DDL = """
create schema if not exists raw;
create schema if not exists meta;
create table if not exists meta.load_ledger (
    load_id varchar primary key,
    run_id varchar not null,
    file_path varchar not null,         -- relative to the landing root, or a MySQL batch
    source varchar not null,
    entity varchar not null,
    dt date,
    sha256 varchar not null,
    size_bytes bigint not null,
    encoding varchar,                   -- utf-8, utf-8-sig, gb18030, undecodable
    status varchar not null,            -- loaded, duplicate, rejected
    duplicate_of varchar,               -- file_path of the same bytes loaded before
    content_load_id varchar,            -- load whose raw rows hold this file's content
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_rejected bigint not null,
    note varchar,
    recorded_at timestamptz not null default now()
);
create table if not exists meta.quarantine (
    load_id varchar not null,
    source varchar not null,
    entity varchar not null,
    source_file varchar not null,
    source_line bigint,                 -- CSV: record number, header = 1; JSONL: line
    reason varchar not null,
    column_name varchar,
    raw_record varchar,
    quarantined_at timestamptz not null
);
create table if not exists meta.skipped_folders (
    run_id varchar not null,
    folder varchar not null,
    reason varchar not null,
    recorded_at timestamptz not null default now()
);
-- Great Expectations results (memberdw.quality): one row per expectation per run ...
create table if not exists meta.dq_results (
    run_id varchar not null,
    validated_at timestamptz not null,
    suite varchar not null,
    dataset varchar not null,
    expectation varchar not null,       -- GE expectation type
    rule varchar not null,              -- stable rule name, e.g. invalid_enum:tier
    column_name varchar,                -- column, or columns joined by ','
    severity varchar not null,          -- error, warn
    action varchar,                     -- quarantine, review, or NULL
    success boolean not null,
    element_count bigint,
    unexpected_count bigint,
    unexpected_percent double,          -- of the non-null values checked (GE's definition)
    exception_message varchar           -- the expectation could not be evaluated
);
-- the rows GE evaluated: the new batch (the whole dataset on a full validation)
alter table meta.dq_results add column if not exists validated_rows bigint;
-- ... and its verdicts on single rows: quarantine or review.
create table if not exists meta.dq_row_flags (
    run_id varchar not null,
    dataset varchar not null,
    rule varchar not null,
    severity varchar not null,
    action varchar not null,
    record_key varchar not null,
    member_id varchar,
    source_file varchar,
    source_line bigint,
    flagged_at timestamptz not null default now()
);
-- What each validation saw, so that the next one can tell whether anything is new
-- (memberdw.quality): kept beside the results it describes, not in GE's store, which a
-- person may delete without the results going stale.
create table if not exists meta.dq_fingerprints (
    run_id varchar not null,
    dataset varchar not null,
    fingerprint varchar not null,       -- sha256: inputs, query, rules, future picks
    validated_at timestamptz not null
);
-- The rows the newest validation of each dataset saw, as hashes of their record key and
-- of the whole row, so the next one validates only the rows that are new or changed
-- (memberdw.quality, "Only new batches"); and which run, rules and future bound they were
-- judged under.
create table if not exists meta.dq_seen (
    dataset varchar not null,
    key_hash ubigint not null,
    row_hash ubigint not null
);
create table if not exists meta.dq_seen_state (
    dataset varchar primary key,
    run_id varchar not null,
    definition varchar not null,        -- sha256: query, record key, rules, GE's version
    future_bound varchar not null
);
-- Erasures (memberdw.erasure): one row per member_id whose erasure was carried out ...
create table if not exists meta.erasure_log (
    member_id varchar primary key,      -- the CRM key the request named; no fact carries it now
    requested_at timestamptz not null,  -- updated_at of the first record with deleted = 1
    request_file varchar,               -- the file (or MySQL batch) that delivered it
    erased_at timestamptz not null,
    run_id varchar not null,
    compacted_at timestamptz            -- the working file rewritten without the old values
);
-- ... one row per pass that changed anything ...
create table if not exists meta.erasure_passes (
    run_id varchar not null,
    ran_at timestamptz not null,
    members_erased bigint not null,
    rows_changed bigint not null
);
-- ... and what each pass changed, by table and column.
create table if not exists meta.erasure_changes (
    run_id varchar not null,
    table_name varchar not null,
    column_name varchar not null,
    rows_changed bigint not null
);
create table if not exists meta.watermarks (
    source varchar not null,
    entity varchar not null,
    watermark varchar not null,
    primary key (source, entity)
);
"""

LINEAGE_DDL = ("_dt DATE, _source_file VARCHAR, _source_line BIGINT, _load_id VARCHAR,"
               " _loaded_at TIMESTAMPTZ, _erased_at TIMESTAMPTZ")
# _erased_at: when an erasure last changed the row in place (memberdw.erasure), so that
# incremental staging rebuilds it as it would a new load (macro touched_keys_only)


@dataclass
class LedgerRow:
    run_id: str
    file_path: str
    source: str
    entity: str
    dt: date | None
    sha256: str
    size_bytes: int
    load_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    encoding: str | None = None
    status: str = "pending"
    duplicate_of: str | None = None
    content_load_id: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    note: str | None = None

    def __post_init__(self):
        if self.content_load_id is None:
            self.content_load_id = self.load_id


def working_path(warehouse_dir: Path) -> Path:
    return Path(warehouse_dir) / WORKING_FILE


def resources(warehouse_dir: Path) -> dict[str, str]:
    """DuckDB settings of every connection that writes the warehouse: ``memory_limit`` from
    MEMBERDW_DUCKDB_MEMORY_LIMIT (default: 6 GiB, or half the machine's memory if less;
    DuckDB's own default is 80 %) and ``threads`` from MEMBERDW_DUCKDB_THREADS (default: the
    cores this process may use). Applied by SET after connecting, not as connect()
    configuration: DuckDB refuses a second in-process connection to one file with another
    configuration (``airflow dags test`` runs dbt and the other tasks in one process). The
    spill folder is left at DuckDB's default, ``<file>.tmp`` beside the file: setting it
    again on every connection, as dbt does with its settings, fails once anything spilled
    ("Cannot switch temporary directory after the current one has been used")."""
    memory = os.environ.get(MEMORY_LIMIT_VARIABLE, "") or _default_memory_limit()
    threads = os.environ.get(THREADS_VARIABLE, "") or str(len(os.sched_getaffinity(0)))
    return {"memory_limit": memory, "threads": threads}


def _default_memory_limit() -> str:
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{min(DEFAULT_MEMORY_LIMIT_GIB * 1024, total // 2**21)}MiB"


def apply_resources(con: duckdb.DuckDBPyConnection, warehouse_dir: Path) -> None:
    for name, value in resources(warehouse_dir).items():
        con.execute(f"set {name} = ?", [value])


def connect(warehouse_dir: Path) -> duckdb.DuckDBPyConnection:
    """Open the working file for writing under ``resources`` and make sure raw and meta
    tables exist."""
    path = working_path(warehouse_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    apply_resources(con, warehouse_dir)
    con.execute("set TimeZone = 'Asia/Shanghai'")
    con.execute("set enable_progress_bar = false")
    con.execute(META_DDL)
    for entity in ENTITIES:
        con.execute(f"create table if not exists raw.{entity.raw_table} "
                    f"({parsing.raw_columns_ddl(entity)}, {LINEAGE_DDL})")
        # a warehouse from before the column
        con.execute(f"alter table raw.{entity.raw_table}"
                    f" add column if not exists _erased_at timestamptz")
    return con


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection):
    con.begin()
    try:
        yield con
    except BaseException:
        con.rollback()
        raise
    con.commit()


def insert_ledger(con: duckdb.DuckDBPyConnection, *rows: LedgerRow) -> None:
    """Insert ledger rows, in one statement (one list parameter per column)."""
    if not rows:
        return
    names = list(asdict(rows[0]))
    columns = [[getattr(row, name) for row in rows] for name in names]
    con.execute(f"insert into meta.load_ledger ({', '.join(names)}) select "
                f"{', '.join('unnest(?)' for _ in names)}", columns)


def record_skip(con: duckdb.DuckDBPyConnection, run_id: str, folder: str, reason: str) -> None:
    con.execute("insert into meta.skipped_folders (run_id, folder, reason) values (?, ?, ?)",
                [run_id, folder, reason])
