"""CRM members read straight from the CRM's MySQL/MariaDB ``members`` table.

Rows are read in (updated_at, member_id) order after the watermark kept in
``meta.watermarks``; each batch is typed by the same rules as the CRM files and lands in
``raw.crm__members`` (source file ``mysql://host/db/members``, line = row in batch) with
one ledger row. The watermark moves in the same transaction, so a killed run re-reads
exactly the rows it did not commit.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import io
import logging
from dataclasses import dataclass

import duckdb
import pandas as pd
import pymysql

from memberdw import ingest, warehouse
from memberdw.contract import BY_KEY
from memberdw.parsing import quote

log = logging.getLogger(__name__)

ENTITY = BY_KEY["crm/members"]
LOCAL_TS = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class MySQLSource:
    host: str
    port: int
    user: str
    password: str
    database: str
    table: str = "members"
    batch_rows: int = 50_000

    @property
    def label(self) -> str:
        return f"mysql://{self.host}:{self.port}/{self.database}/{self.table}"


def as_contract_text(value) -> str:
    """A MySQL value as the text a CRM export would carry (empty for NULL)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime(LOCAL_TS)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(value)


def land_members(con: duckdb.DuckDBPyConnection, source: MySQLSource,
                 run_id: str) -> ingest.LoadReport:
    """Load every CRM row changed since the watermark, one transaction per batch."""
    report = ingest.LoadReport()
    columns = ", ".join(f"`{c}`" for c in ENTITY.column_names)
    with pymysql.connect(host=source.host, port=source.port, user=source.user,
                         password=source.password, database=source.database,
                         charset="utf8mb4") as mysql:
        while True:
            mark = _watermark(con, source)
            with mysql.cursor() as cur:
                if mark is None:
                    cur.execute(f"select {columns} from `{source.table}`"
                                f" order by updated_at, member_id limit %s", [source.batch_rows])
                else:
                    cur.execute(f"select {columns} from `{source.table}`"
                                f" where (updated_at, member_id) > (%s, %s)"
                                f" order by updated_at, member_id limit %s",
                                [mark[0], mark[1], source.batch_rows])
                rows = cur.fetchall()
            if not rows:
                return report
            report.add(_land_batch(con, source, rows, mark, run_id))


def _watermark(con, source: MySQLSource) -> tuple[str, str] | None:
    row = con.execute("select watermark from meta.watermarks where source = ? and entity = ?",
                      [source.label, ENTITY.name]).fetchone()
    return tuple(row[0].split("|", 1)) if row else None


def _land_batch(con, source: MySQLSource, rows, mark, run_id) -> ingest.LoadReport:
    ledger_path = f"{source.label}?after={'|'.join(mark) if mark else ''}"
    frame = pd.DataFrame([[as_contract_text(v) for v in row] for row in rows],
                         columns=ENTITY.column_names, dtype="string")
    text = io.StringIO()
    frame.to_csv(text, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    payload = text.getvalue().encode("utf-8")
    frame.insert(0, "line", range(1, len(frame) + 1))
    frame.insert(0, "_file", ledger_path)
    last = rows[-1]
    updated_at = as_contract_text(last[ENTITY.column_names.index("updated_at")])
    member_id = as_contract_text(last[ENTITY.column_names.index("member_id")])
    ledger = warehouse.LedgerRow(
        run_id=run_id, source=ENTITY.source, entity=ENTITY.name,
        file_path=ledger_path,
        dt=dt.date.fromisoformat(updated_at[:10]),
        sha256=hashlib.sha256(payload).hexdigest(), size_bytes=len(payload),
        encoding="utf-8")
    with warehouse.transaction(con):
        con.register("mysql_batch", frame)
        con.execute("create or replace temp table parsed_input as select * from mysql_batch")
        con.unregister("mysql_batch")
        ingest.insert_typed(
            con, ENTITY, {ledger_path: ledger}, lambda c: quote(c.name),
            record_sql=ingest.csv_record_sql(ENTITY))
        ledger.status = "loaded"
        warehouse.insert_ledger(con, ledger)
        con.execute("insert or replace into meta.watermarks values (?, ?, ?)",
                    [source.label, ENTITY.name, f"{updated_at}|{member_id}"])
    log.info("crm mysql batch: %s rows loaded, %s rejected", ledger.rows_loaded,
             ledger.rows_rejected)
    return ingest.report_of(ledger)
