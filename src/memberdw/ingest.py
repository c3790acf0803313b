"""Land files from a landing root into the warehouse's raw layer.

For every complete ``dt=`` folder of an entity (one holding ``_SUCCESS``) each file not
yet in the ledger is loaded in one transaction: typed rows go to ``raw.<source>__<entity>``
(append-only, with source file and line), rows that do not parse go to
``meta.quarantine`` with a reason code, and one ledger row records the file's sha256,
encoding and counts. Per file, rows read = rows loaded + rows rejected, always.
The same bytes under another name are recorded as a duplicate and load nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from memberdw import parsing, warehouse
from memberdw.contract import Entity, entities_of
from memberdw.parsing import quote

log = logging.getLogger(__name__)

DT_FOLDER = re.compile(r"dt=(\d{4}-\d{2}-\d{2})")
SUFFIXES = {"csv": (".csv",), "jsonl": (".jsonl", ".json")}
BOM = b"\xef\xbb\xbf"


class IngestError(RuntimeError):
    """A file or folder the loader cannot take at all."""


@dataclass
class Decoded:
    encoding: str  # what the file was read as: utf-8, utf-8-sig or gb18030
    text: str


@dataclass
class LoadReport:
    """What one call of ``land_source`` did."""

    files_loaded: int = 0
    files_duplicate: int = 0
    files_rejected: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    skipped_folders: list[tuple[str, str]] = field(default_factory=list)

    def add(self, other: LoadReport) -> None:
        for name in ("files_loaded", "files_duplicate", "files_rejected",
                     "rows_read", "rows_loaded", "rows_rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.skipped_folders += other.skipped_folders


def decode(data: bytes) -> Decoded | None:
    """Detect a file's encoding: UTF-8 (BOM or not), else GB18030; None if neither fits.

    Undecodable bytes are never replaced: a file that is neither is rejected whole.
    """
    if data.startswith(BOM):
        try:
            return Decoded("utf-8-sig", data[len(BOM):].decode("utf-8"))
        except UnicodeDecodeError:
            return None
    for encoding in ("utf-8", "gb18030"):
        try:
            return Decoded(encoding, data.decode(encoding))
        except UnicodeDecodeError:
            continue
    return None


def complete_folders(root: Path, entity: Entity, as_of: date | None):
    """Yield (dt, folder) of complete folders; report the rest as (folder, reason)."""
    base = root / entity.source / entity.name
    ready, skipped = [], []
    if not base.is_dir():
        return ready, skipped
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        rel = folder.relative_to(root).as_posix()
        match = DT_FOLDER.fullmatch(folder.name)
        try:
            dt = date.fromisoformat(match.group(1)) if match else None
        except ValueError:
            dt = None
        if dt is None:
            skipped.append((rel, "bad_folder_name"))
        elif as_of is not None and dt > as_of:
            continue
        elif not (folder / "_SUCCESS").is_file():
            skipped.append((rel, "incomplete_no_success_marker"))
        else:
            ready.append((dt, folder))
    return ready, skipped


def land_source(con: duckdb.DuckDBPyConnection, root: Path, source: str,
                as_of: date | None = None, run_id: str | None = None) -> LoadReport:
    """Load every new file of every entity of ``source``; idempotent."""
    run_id = run_id or uuid.uuid4().hex
    report = LoadReport()
    for entity in entities_of(source):
        ready, skipped = complete_folders(root, entity, as_of)
        for folder, reason in skipped:
            warehouse.record_skip(con, run_id, folder, reason)
            log.warning("skipped %s: %s", folder, reason)
        report.skipped_folders += skipped
        for dt, folder in ready:
            for path in sorted(p for p in folder.iterdir()
                               if p.is_file() and not p.name.startswith(("_", "."))):
                report.add(land_file(con, root, entity, dt, path, run_id))
    return report


def land_file(con: duckdb.DuckDBPyConnection, root: Path, entity: Entity, dt: date,
              path: Path, run_id: str) -> LoadReport:
    """Load one file in one transaction; a file already in the ledger is a no-op."""
    rel = path.relative_to(root).as_posix()
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    seen = con.execute(
        "select sha256 from meta.load_ledger where file_path = ?", [rel]).fetchall()
    if any(s == sha for (s,) in seen):
        return LoadReport()
    ledger = warehouse.LedgerRow(
        run_id=run_id, file_path=rel, source=entity.source, entity=entity.name, dt=dt,
        sha256=sha, size_bytes=len(data))
    original = con.execute(
        "select file_path, load_id from meta.load_ledger"
        " where sha256 = ? and source = ? and entity = ? and status = 'loaded'",
        [sha, entity.source, entity.name]).fetchone()
    if seen:
        ledger.status, ledger.note = "rejected", "changed_in_place: the path was loaded before with other bytes"
    elif original:
        ledger.status, ledger.duplicate_of, ledger.content_load_id = "duplicate", *original
    elif not path.name.endswith(SUFFIXES[entity.format]):
        ledger.status, ledger.note = "rejected", f"unexpected_file_type: expected {entity.format}"
    if ledger.status != "pending":
        with warehouse.transaction(con):
            warehouse.insert_ledger(con, ledger)
        return report_of(ledger)

    decoded = decode(data)
    with warehouse.transaction(con), tempfile.TemporaryDirectory() as tmp:
        if decoded is None:
            ledger.encoding = "undecodable"
            decoded = Decoded("undecodable", data.decode("utf-8", errors="backslashreplace"))
            text_path = _write_utf8(Path(tmp), decoded.text)
            _reject_all_lines(con, entity, ledger, text_path, "undecodable_bytes")
        else:
            ledger.encoding = decoded.encoding
            text_path = path if decoded.encoding == "utf-8" else _write_utf8(Path(tmp), decoded.text)
            if entity.format == "csv":
                _load_csv(con, entity, ledger, text_path, decoded.text)
            else:
                _load_jsonl(con, entity, ledger, text_path)
        ledger.status = "loaded"
        if ledger.rows_read != ledger.rows_loaded + ledger.rows_rejected:
            raise IngestError(f"{rel}: rows do not reconcile: {ledger}")
        warehouse.insert_ledger(con, ledger)
    return report_of(ledger)


def report_of(ledger: warehouse.LedgerRow) -> LoadReport:
    report = LoadReport(rows_read=ledger.rows_read, rows_loaded=ledger.rows_loaded,
                        rows_rejected=ledger.rows_rejected)
    if ledger.status == "loaded":
        report.files_loaded = 1
    elif ledger.status == "duplicate":
        report.files_duplicate = 1
    else:
        report.files_rejected = 1
    return report


def _write_utf8(tmp: Path, text: str) -> Path:
    out = tmp / "utf8.txt"
    out.write_text(text, encoding="utf-8", newline="")
    return out


def _string_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _lines_sql(path: Path) -> str:
    """The physical lines of a UTF-8 file as (line, text), numbered from 1."""
    return f"""(
        select line, rtrim(text, chr(13)) as text from (
            select unnest(generate_series(1, len(parts))) as line, unnest(parts) as text,
                   len(parts) as line_count
            from (select string_split(content, chr(10)) as parts
                  from read_text({_string_literal(str(path))}))
        )
        -- the newline that ends the last line does not start another one
        where not (line = line_count and text = '')
    )"""


def _header(text: str) -> list[str]:
    first = text.split("\n", 1)[0].rstrip("\r")
    return next(csv.reader(io.StringIO(first)), [])


def _read_csv_sql(path: Path, header: list[str], rejects: str) -> str:
    columns = "{" + ", ".join(f"{_string_literal(h)}: 'VARCHAR'" for h in header) + "}"
    return (
        f"read_csv({_string_literal(str(path))}, header = true, auto_detect = false,"
        f" delim = ',', quote = '\"', escape = '\"', columns = {columns},"
        f" store_rejects = true, rejects_table = '{rejects}_errors',"
        f" rejects_scan = '{rejects}_scans', parallel = false)"
    )


def _load_csv(con, entity: Entity, ledger, path: Path, text: str) -> None:
    header = _header(text)
    expected = set(entity.column_names)
    if len(header) != len(set(header)) or set(header) != expected:
        missing = sorted(expected - set(header))
        extra = sorted(set(header) - expected)
        ledger.note = f"header_mismatch: missing {missing}, unexpected {extra}"
        _reject_all_lines(con, entity, ledger, path, "header_mismatch")
        return
    rejects = f"rej_{uuid.uuid4().hex[:12]}"
    # Row ids of uncommitted rows are not positions, so number the rows while reading.
    con.execute(f"create or replace temp table csv_rows as select row_number() over () - 1"
                f" as row_index, * from {_read_csv_sql(path, header, rejects)}")
    con.execute(
        f"create or replace temp table csv_rejects as select line,"
        f" min(error_type) as error_type, min(trim(csv_line, chr(10) || chr(13))) as csv_line"
        f" from {rejects}_errors group by line")
    con.execute(f"drop table {rejects}_errors; drop table {rejects}_scans")
    # DuckDB reports a rejected record's number (header = 1); accepted records fill the
    # numbers in between, in file order.
    con.execute("""
        create or replace temp table csv_lines as
        with numbers as (
            select range as line from range(2, 2 + (select count(*) from csv_rows)
                                              + (select count(*) from csv_rejects))
        )
        select line, row_number() over (order by line) - 1 as row_index
        from numbers where line not in (select line from csv_rejects)
    """)
    con.execute("create or replace temp table parsed_input as select l.line, r.*"
                " from csv_rows r join csv_lines l using (row_index)")
    insert_typed(con, entity, ledger, lambda c: quote(c.name), record_sql=csv_record_sql(entity))
    structural = con.execute(
        "insert into meta.quarantine select ?, ?, ?, ?, line,"
        " 'csv_' || lower(replace(error_type, ' ', '_')), null, csv_line, now()"
        " from csv_rejects returning 1",
        [ledger.load_id, entity.source, entity.name, ledger.file_path]).fetchall()
    ledger.rows_read += len(structural)
    ledger.rows_rejected += len(structural)


def csv_record_sql(entity: Entity) -> str:
    """The delivered text of a row, as a JSON object, for its quarantine record."""
    fields = ", ".join(f"{quote(c)} := {quote(c)}" for c in entity.column_names)
    return f"to_json(struct_pack({fields}))"


def _load_jsonl(con, entity: Entity, ledger, path: Path) -> None:
    con.execute(f"""
        create or replace temp table parsed_input as
        select line, text, try(json(text)) as j from {_lines_sql(path)}
    """)

    def text_of(col):
        path_ = _string_literal("$." + quote(col.name))
        if col.kind in ("json_list", "order_items"):
            return f"nullif(json_extract(j, {path_})::varchar, 'null')"
        return f"json_extract_string(j, {path_})"

    insert_typed(con, entity, ledger, text_of, record_sql="text",
                  structural_reason="case when coalesce(json_type(j) <> 'OBJECT', true)"
                                    " then 'invalid_json' end")


def insert_typed(con, entity: Entity, ledger, text_of, record_sql: str,
                  structural_reason: str = "null") -> None:
    """Type ``parsed_input`` rows; good ones to raw, the rest to quarantine."""
    items, reason, failing = parsing.typed_select(entity, text_of)
    con.execute(f"""
        create or replace temp table typed_rows as
        select line, coalesce({structural_reason}, {reason}) as _reason,
               case when {structural_reason} is null then {failing} end as _column,
               {record_sql} as _record,
               {', '.join(items)}
        from parsed_input
    """)
    names = ", ".join(quote(c) for c in entity.column_names)
    loaded = con.execute(
        f"insert into raw.{entity.raw_table} ({names}, _dt, _source_file, _source_line,"
        f" _load_id, _loaded_at)"
        f" select {names}, ?::date, ?, line, ?, now() from typed_rows where _reason is null"
        f" returning 1",
        [ledger.dt, ledger.file_path, ledger.load_id]).fetchall()
    rejected = con.execute(
        "insert into meta.quarantine select ?, ?, ?, ?, line, _reason, _column,"
        " _record::varchar, now() from typed_rows where _reason is not null returning 1",
        [ledger.load_id, entity.source, entity.name, ledger.file_path]).fetchall()
    ledger.rows_read += len(loaded) + len(rejected)
    ledger.rows_loaded += len(loaded)
    ledger.rows_rejected += len(rejected)


def _reject_all_lines(con, entity: Entity, ledger, path: Path, reason: str) -> None:
    """Quarantine every data line of a file the loader cannot take as a whole."""
    skip_header = 1 if entity.format == "csv" else 0
    rows = con.execute(f"""
        insert into meta.quarantine
        select ?, ?, ?, ?, line, ?, null, text, now() from {_lines_sql(path)}
        where line > {skip_header}
        returning 1
    """, [ledger.load_id, entity.source, entity.name, ledger.file_path, reason]).fetchall()
    ledger.rows_read += len(rows)
    ledger.rows_rejected += len(rows)
