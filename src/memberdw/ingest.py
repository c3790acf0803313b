"""Land files from a landing root into the warehouse's raw layer.

The files of complete ``dt=`` folders (those holding ``_SUCCESS``) that the ledger has not
seen are loaded together, one transaction per batch: typed rows go to
``raw.<source>__<entity>`` (append-only, with source file and line), rows that do not
parse go to ``meta.quarantine`` with a reason code, and one ledger row per file records
its sha256, encoding and counts. Per file, rows read = rows loaded + rows rejected, always.
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
# New files of an entity load together, one transaction per this many bytes.
BATCH_BYTES = 256 * 1024 * 1024
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
    for folder in sorted(base.iterdir()):
        rel = folder.relative_to(root).as_posix()
        if not folder.is_dir():
            if not folder.name.startswith((".", "_")):
                skipped.append((rel, "file_outside_dt_folder"))
            continue
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
    entities = entities_of(source)
    if (root / source).is_dir():
        known = {e.name for e in entities}
        for folder in sorted((root / source).iterdir()):
            if folder.name not in known and not folder.name.startswith((".", "_")):
                rel = folder.relative_to(root).as_posix()
                warehouse.record_skip(con, run_id, rel, "unknown_entity")
                report.skipped_folders.append((rel, "unknown_entity"))
    for entity in entities:
        ready, skipped = complete_folders(root, entity, as_of)
        for folder, reason in skipped:
            warehouse.record_skip(con, run_id, folder, reason)
            log.warning("skipped %s: %s", folder, reason)
        report.skipped_folders += skipped
        files = [(dt, path) for dt, folder in ready for path in sorted(
            p for p in folder.iterdir() if p.is_file() and not p.name.startswith(("_", ".")))]
        for batch in _batches(con, root, entity, files, run_id):
            report.add(_land_batch(con, entity, batch))
    return report


@dataclass
class _Delivery:
    """A file the ledger has not seen: its ledger row and, if it is to be read, its text."""

    ledger: warehouse.LedgerRow
    path: Path
    decoded: Decoded | None = None


def _batches(con, root: Path, entity: Entity, files, run_id: str):
    """Decide each file against the ledger; yield batches of new files to load together.

    Same path and bytes as before: nothing to do. Same path, other bytes: rejected (files
    are never edited in place). Same bytes as a loaded file: duplicate. Otherwise read.
    """
    known = con.execute(
        "select file_path, sha256, status, load_id, content_load_id from meta.load_ledger"
        " where source = ? and entity = ?", [entity.source, entity.name]).fetchall()
    shas_by_path: dict[str, set[str]] = {}
    loaded: dict[str, tuple[str, str]] = {}
    for path, sha, status, load_id, content_load_id in known:
        shas_by_path.setdefault(path, set()).add(sha)
        if status == "loaded":
            loaded.setdefault(sha, (path, content_load_id))
    batch, batch_bytes = [], 0
    for dt, path in files:
        rel = path.relative_to(root).as_posix()
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if sha in shas_by_path.get(rel, ()):
            continue
        ledger = warehouse.LedgerRow(
            run_id=run_id, file_path=rel, source=entity.source, entity=entity.name, dt=dt,
            sha256=sha, size_bytes=len(data))
        delivery = _Delivery(ledger, path)
        if rel in shas_by_path:
            ledger.status = "rejected"
            ledger.note = "changed_in_place: the path was loaded before with other bytes"
        elif sha in loaded:
            ledger.status = "duplicate"
            ledger.duplicate_of, ledger.content_load_id = loaded[sha]
        elif not path.name.endswith(SUFFIXES[entity.format]):
            ledger.status, ledger.note = "rejected", f"unexpected_file_type: expected {entity.format}"
        else:
            delivery.decoded = decode(data)
            loaded[sha] = (rel, ledger.load_id)
        shas_by_path.setdefault(rel, set()).add(sha)
        batch.append(delivery)
        batch_bytes += len(data)
        if batch_bytes >= BATCH_BYTES:
            yield batch
            batch, batch_bytes = [], 0
    if batch:
        yield batch


def _land_batch(con, entity: Entity, batch: list[_Delivery]) -> LoadReport:
    """Load a batch of files in one transaction: raw rows, quarantine rows, ledger rows."""
    report = LoadReport()
    to_read = [d for d in batch if d.ledger.status == "pending"]
    with warehouse.transaction(con), tempfile.TemporaryDirectory() as tmp:
        readable: dict[str, _Delivery] = {}
        for i, d in enumerate(to_read):
            if d.decoded is None:
                d.ledger.encoding = "undecodable"
                text = d.path.read_bytes().decode("utf-8", errors="backslashreplace")
                _reject_all_lines(con, entity, d, _write_utf8(Path(tmp) / f"{i}.txt", text),
                                  "undecodable_bytes")
                continue
            d.ledger.encoding = d.decoded.encoding
            read_path = (d.path if d.decoded.encoding == "utf-8"
                         else _write_utf8(Path(tmp) / f"{i}.txt", d.decoded.text))
            readable[str(read_path)] = d
        if entity.format == "csv":
            _load_csv(con, entity, readable)
        else:
            _load_jsonl(con, entity, readable)
        for d in batch:
            ledger = d.ledger
            if ledger.status == "pending":
                ledger.status = "loaded"
                if ledger.rows_read != ledger.rows_loaded + ledger.rows_rejected:
                    raise IngestError(f"{ledger.file_path}: rows do not reconcile: {ledger}")
            warehouse.insert_ledger(con, ledger)
            report.add(report_of(ledger))
    return report


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


def _write_utf8(out: Path, text: str) -> Path:
    out.write_text(text, encoding="utf-8", newline="")
    return out


def _string_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _path_list(paths) -> str:
    return "[" + ", ".join(_string_literal(str(p)) for p in paths) + "]"


def _lines_sql(paths) -> str:
    """The physical lines of UTF-8 files as (_file, line, text), numbered from 1."""
    return f"""(
        select _file, line, rtrim(text, chr(13)) as text from (
            select filename as _file, unnest(generate_series(1, len(parts))) as line,
                   unnest(parts) as text, len(parts) as line_count
            from (select filename, string_split(content, chr(10)) as parts
                  from read_text({_path_list(paths)}))
        )
        -- the newline that ends the last line does not start another one
        where not (line = line_count and text = '')
    )"""


def _header(text: str) -> list[str]:
    first = text.split("\n", 1)[0].rstrip("\r")
    return next(csv.reader(io.StringIO(first)), [])


def _read_csv_sql(paths, header: list[str], rejects: str) -> str:
    columns = "{" + ", ".join(f"{_string_literal(h)}: 'VARCHAR'" for h in header) + "}"
    return (
        f"read_csv({_path_list(paths)}, header = true, auto_detect = false,"
        f" delim = ',', quote = '\"', escape = '\"', columns = {columns},"
        f" filename = '_file', store_rejects = true, rejects_table = '{rejects}_errors',"
        f" rejects_scan = '{rejects}_scans', parallel = false)"
    )


def _load_csv(con, entity: Entity, readable: dict[str, _Delivery]) -> None:
    """CSV files whose header is the contract's, grouped by column order, one read each."""
    by_header: dict[tuple[str, ...], list[str]] = {}
    expected = set(entity.column_names)
    for read_path, d in readable.items():
        header = _header(d.decoded.text)
        if len(header) != len(set(header)) or set(header) != expected:
            missing = sorted(expected - set(header))
            extra = sorted(set(header) - expected)
            d.ledger.note = f"header_mismatch: missing {missing}, unexpected {extra}"
            _reject_all_lines(con, entity, d, Path(read_path), "header_mismatch")
        else:
            by_header.setdefault(tuple(header), []).append(read_path)
    for header, paths in by_header.items():
        group = {p: readable[p] for p in paths}
        rejects = f"rej_{uuid.uuid4().hex[:12]}"
        # Row ids of uncommitted rows are not positions, so number the rows while reading.
        con.execute(f"create or replace temp table csv_rows as select row_number() over ()"
                    f" as row_index, * from {_read_csv_sql(paths, list(header), rejects)}")
        con.execute(
            f"create or replace temp table csv_rejects as select s.file_path as _file, e.line,"
            f" min(e.error_type) as error_type,"
            f" min(trim(e.csv_line, chr(10) || chr(13))) as csv_line"
            f" from {rejects}_errors e join {rejects}_scans s using (scan_id, file_id)"
            f" group by s.file_path, e.line")
        con.execute(f"drop table {rejects}_errors; drop table {rejects}_scans")
        # DuckDB reports a rejected record's number (header = 1); accepted records fill the
        # numbers in between, in file order.
        con.execute("""
            create or replace temp table parsed_input as
            with per_file as (
                select _file, count(*) as accepted from csv_rows group by _file
            ),
            numbers as (
                select p._file,
                       unnest(generate_series(2, 1 + p.accepted + (
                           select count(*) from csv_rejects r where r._file = p._file))) as line
                from per_file p
            ),
            accepted_lines as (
                select _file, line, row_number() over (partition by _file order by line) as k
                from numbers anti join csv_rejects using (_file, line)
            ),
            accepted_rows as (
                select *, row_index - min(row_index) over (partition by _file) + 1 as k
                from csv_rows
            )
            select accepted_lines.line, accepted_rows.*
            from accepted_rows join accepted_lines using (_file, k)
        """)
        insert_typed(con, entity, group, lambda c: quote(c.name), record_sql=csv_record_sql(entity))
        structural = con.execute(
            "insert into meta.quarantine select f.load_id, ?, ?, f.file_path, r.line,"
            " 'csv_' || lower(replace(r.error_type, ' ', '_')), null, r.csv_line, now()"
            " from csv_rejects r join batch_files f on f.read_path = r._file"
            " returning source_file", [entity.source, entity.name]).fetchall()
        by_path = {d.ledger.file_path: d.ledger for d in group.values()}
        for (file_path,) in structural:
            by_path[file_path].rows_read += 1
            by_path[file_path].rows_rejected += 1


def csv_record_sql(entity: Entity) -> str:
    """The delivered text of a row, as a JSON object, for its quarantine record."""
    fields = ", ".join(f"{quote(c)} := {quote(c)}" for c in entity.column_names)
    return f"to_json(struct_pack({fields}))"


def _load_jsonl(con, entity: Entity, readable: dict[str, _Delivery]) -> None:
    if not readable:
        return
    con.execute(f"""
        create or replace temp table parsed_input as
        select _file, line, text, try(json(text)) as j from {_lines_sql(readable)}
    """)

    def text_of(col):
        path_ = _string_literal("$." + quote(col.name))
        if col.kind in ("json_list", "order_items"):
            return f"nullif(json_extract(j, {path_})::varchar, 'null')"
        return f"json_extract_string(j, {path_})"

    insert_typed(con, entity, readable, text_of, record_sql="text",
                 structural_reason="case when coalesce(json_type(j) <> 'OBJECT', true)"
                                   " then 'invalid_json' end")


def insert_typed(con, entity: Entity, files: dict[str, _Delivery | warehouse.LedgerRow],
                 text_of, record_sql: str, structural_reason: str = "null") -> None:
    """Type ``parsed_input`` (``_file``, ``line``, text columns) rows of ``files`` (keyed
    by the ``_file`` they were read from): good rows to raw, the rest to quarantine, and
    the counts onto each file's ledger row."""
    ledgers = {k: getattr(v, "ledger", v) for k, v in files.items()}
    con.execute("create or replace temp table batch_files (read_path varchar, load_id varchar,"
                " file_path varchar, dt date)")
    con.executemany("insert into batch_files values (?, ?, ?, ?)",
                    [[k, v.load_id, v.file_path, v.dt] for k, v in ledgers.items()])
    items, reason, failing = parsing.typed_select(entity, text_of)
    con.execute(f"""
        create or replace temp table typed_rows as
        select _file, line, coalesce({structural_reason}, {reason}) as _reason,
               case when {structural_reason} is null then {failing} end as _column,
               {record_sql} as _record,
               {', '.join(items)}
        from parsed_input
    """)
    names = ", ".join(quote(c) for c in entity.column_names)
    con.execute(
        f"insert into raw.{entity.raw_table} ({names}, _dt, _source_file, _source_line,"
        f" _load_id, _loaded_at)"
        f" select {', '.join('t.' + quote(c) for c in entity.column_names)}, f.dt, f.file_path,"
        f" t.line, f.load_id, now()"
        f" from typed_rows t join batch_files f on f.read_path = t._file"
        f" where t._reason is null")
    con.execute(
        "insert into meta.quarantine select f.load_id, ?, ?, f.file_path, t.line, t._reason,"
        " t._column, t._record::varchar, now()"
        " from typed_rows t join batch_files f on f.read_path = t._file"
        " where t._reason is not null", [entity.source, entity.name])
    counts = con.execute("select _file, count(*) filter (where _reason is null),"
                         " count(*) filter (where _reason is not null)"
                         " from typed_rows group by _file").fetchall()
    for read_path, good, bad in counts:
        ledger = ledgers[read_path]
        ledger.rows_read += good + bad
        ledger.rows_loaded += good
        ledger.rows_rejected += bad


def _reject_all_lines(con, entity: Entity, delivery: _Delivery, path: Path, reason: str) -> None:
    """Quarantine every data line of a file the loader cannot take as a whole."""
    ledger = delivery.ledger
    skip_header = 1 if entity.format == "csv" else 0
    (rows,) = con.execute(f"""
        insert into meta.quarantine
        select ?, ?, ?, ?, line, ?, null, text, now() from {_lines_sql([path])}
        where line > {skip_header}
    """, [ledger.load_id, entity.source, entity.name, ledger.file_path, reason]).fetchone()
    ledger.rows_read += rows
    ledger.rows_rejected += rows
