"""Land files from a landing root into the warehouse's raw layer.

The files of complete ``dt=`` folders (those holding ``_SUCCESS``) that the ledger has not
seen are loaded together, one transaction per batch: typed rows go to
``raw.<source>__<entity>`` (append-only, with source file and line), rows that do not
parse go to ``meta.quarantine`` with a reason code, and one ledger row per file records
its sha256, encoding and counts. Per file, rows read = rows loaded + rows rejected, always.
The same bytes under another name are recorded as a duplicate and load nothing. Nothing in
the landing root is ignored without a record: folders and files that are not deliveries go
to ``meta.skipped_folders``, files that cannot be read at all are quarantined line by line.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import logging
import os
import re
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from memberdw import parsing, progress, warehouse
from memberdw.contract import SOURCES, Entity, entities_of
from memberdw.parsing import quote

log = logging.getLogger(__name__)

DT_FOLDER = re.compile(r"dt=(\d{4}-\d{2}-\d{2})")
SUFFIXES = {"csv": (".csv",), "jsonl": (".jsonl", ".json")}
# New files of an entity load together, one transaction per this many bytes.
BATCH_BYTES = 256 * 1024 * 1024
# A CSV line longer than this takes the careful path (DuckDB's reader refuses lines over
# its max_line_size, 2 MB by default, and such a file is quarantined as csv_unreadable).
MAX_FAST_LINE = 1_000_000
# Files read by one statement are shared out among this many read_text calls, which DuckDB
# runs side by side (``_lines_sql``).
PARTS = 8
BOM = b"\xef\xbb\xbf"
# Encodings the contract does not allow, recognised by their byte order mark.
FOREIGN_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
                (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
# Root entries that belong to no source are recorded by this source's run only, once.
ROOT_OWNER = SOURCES[0]
# Columns of a CSV copy framed by this module (see ``_csv_input``): the record's number in
# the delivered file, and for a record that does not frame, its reason and text.
FRAMED = ("_source_line", "_fault", "_raw")
# RFC 4180 fields: a quoted field (possessive, so an unterminated quote fails in one scan),
# or anything up to the next comma or line end (a quote inside it is kept as text).
QUOTED_FIELD = re.compile(r'"((?:[^"]++|"")*+)"')
UNQUOTED_FIELD = re.compile(r"[^,\r\n]*")
LINE_END = re.compile(r"\r\n|\n|\r")
# Column kinds delivered as JSON values, not text (mini-program items and coupon codes).
JSON_KINDS = ("json_list", "order_items")


class IngestError(RuntimeError):
    """A file or folder the loader cannot take at all."""


class _FileFault(Exception):
    """A fault of a whole file's framing (a bare ``\\r`` line end): no line can be trusted."""


@dataclass
class Decoded:
    encoding: str  # what the file was read as: utf-8, utf-8-sig, gb18030, or what it is
    text: str
    fault: str | None = None  # why the file cannot be read at all, if it cannot
    note: str | None = None


@dataclass
class Record:
    """One CSV record: its number (header = 1, like DuckDB's), its fields (None if it does
    not frame), its text."""

    line: int
    fields: list[str] | None
    fault: str | None
    raw: str


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

    Undecodable bytes are never replaced: a file that is neither is rejected whole. A file
    that is UTF-8 but for a damaged character is not taken for GB18030 (which decodes most
    byte soup): its valid UTF-8 sequences give it away.
    """
    if data.startswith(BOM):
        try:
            return Decoded("utf-8-sig", data[len(BOM):].decode("utf-8"))
        except UnicodeDecodeError:
            return None
    try:
        return Decoded("utf-8", data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    utf8_bytes = sum(len(m) for m in UTF8_SEQUENCE.findall(data))
    if utf8_bytes >= 8 and utf8_bytes >= 0.9 * sum(b > 127 for b in data):
        return None
    try:
        # GB18030 has a BOM of its own; like UTF-8's it is not part of the text.
        return Decoded("gb18030", data.decode("gb18030").removeprefix("\ufeff"))
    except UnicodeDecodeError:
        return None


def foreign_encoding(data: bytes) -> str | None:
    """UTF-16/32 by their BOM, or UTF-16 without one by the NUL byte beside every ASCII
    character of its (ASCII) header."""
    for bom, encoding in FOREIGN_BOMS:
        if data.startswith(bom):
            return encoding
    head = data[:64]
    if len(head) >= 4 and 0 not in head[0::2] and head[1::2].count(0) >= len(head) // 4:
        return "utf-16-le"
    if len(head) >= 4 and 0 not in head[1::2] and head[0::2].count(0) >= len(head) // 4:
        return "utf-16-be"
    return None


def examine(data: bytes, fmt: str) -> Decoded:
    """Decode a file and say what, if anything, makes it unreadable as a whole."""
    if encoding := foreign_encoding(data):
        text = data.decode(encoding, errors="backslashreplace").removeprefix("\ufeff")
        return Decoded(encoding, text, "unsupported_encoding",
                       f"{encoding}: the contract allows UTF-8 (with or without BOM) or GB18030")
    decoded = decode(data)
    if decoded is None:
        return Decoded("undecodable", data.decode("utf-8", errors="backslashreplace"),
                       "undecodable_bytes", "neither UTF-8 nor GB18030")
    text = decoded.text
    if "\0" in text:
        decoded.fault = "nul_bytes"
        decoded.note = f"a NUL byte on line {text.count(chr(10), 0, text.index(chr(0))) + 1}"
    elif text.count("\r") != text.count("\r\n") and (fmt == "jsonl" or not _csv_frames(text)):
        decoded.fault = "bare_cr_line_ends"
        decoded.note = "lines end in a bare \\r; the contract allows \\n or \\r\\n"
    return decoded


def physical_lines(text: str) -> list[str]:
    """The lines a person sees: split at \\r\\n, \\n or \\r; a final line end starts no line."""
    lines = LINE_END.split(text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def csv_records(text: str):
    """Frame RFC 4180 text into Records, header first.

    A record that does not frame (a quote that never closes, text after a closing quote)
    is the line it starts on, and framing goes on at the next line: one broken quote never
    swallows the rows after it. Records are numbered like DuckDB's, header = 1: the line
    number unless a quoted field holds a newline. A bare ``\\r`` outside quotes raises
    ``_FileFault``.
    """
    pos, line, end = 0, 1, len(text)
    while pos < end:
        start, fields, fault = pos, [], None
        while True:
            if text.startswith('"', pos):
                match = QUOTED_FIELD.match(text, pos)
                if match is None:
                    fault = "csv_unterminated_quote"
                    break
                fields.append(match.group(1).replace('""', '"'))
            else:
                match = UNQUOTED_FIELD.match(text, pos)
                fields.append(match.group())
            pos = match.end()
            if text.startswith(",", pos):
                pos += 1
            elif pos == end or text.startswith(("\r\n", "\n"), pos):
                break
            elif text.startswith("\r", pos):
                raise _FileFault("bare_cr_line_ends")
            else:
                fault = "csv_unquoted_value"
                break
        if fault:
            newline = text.find("\n", start)
            pos = end if newline < 0 else newline + 1
            yield Record(line, None, fault, text[start:pos].rstrip("\r\n"))
            line += 1
            continue
        raw = text[start:pos]
        pos += 2 if text.startswith("\r\n", pos) else 1
        yield Record(line, fields, "blank_line" if raw == "" else None, raw)
        line += 1


def _csv_frames(text: str) -> bool:
    """False if a bare \\r ends a line of the text (outside any quoted field)."""
    if '"' not in text:
        return False
    try:
        for _ in csv_records(text):
            pass
    except _FileFault:
        return False
    return True


def _regular_csv(text: str, columns: int) -> bool:
    """No quotes, one kind of line end, every line with one comma fewer than the header
    has columns: DuckDB's reader frames such a file exactly as a person does (blank lines,
    a trailing delimiter or an unterminated quote it would silently drop or swallow)."""
    if '"' in text:
        return False
    if "\r" in text and not text.count("\r\n") == text.count("\n") == text.count("\r"):
        return False
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return set(map(str.count, lines, itertools.repeat(","))) == {columns - 1}


def _fast_verdict(data: bytes, entity: Entity) -> tuple[str, tuple[str, ...]] | None:
    """(encoding, CSV header) of a file that ``examine`` would find sound and DuckDB may read
    as delivered, decided on its bytes (no text kept): UTF-8 (a CSV may have a BOM), no NUL
    byte, no bare ``\\r``; a CSV must also be ``_regular_csv`` with the entity's columns in
    its header, in any order, and no line DuckDB's reader would refuse as too long. None:
    the file takes the careful path (``examine``)."""
    if data.startswith(BOM) and entity.format != "csv":
        return None  # read from a copy without the BOM (``_load_jsonl``)
    body = data.removeprefix(BOM)
    if not body or b"\0" in body or foreign_encoding(data):
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    encoding = "utf-8-sig" if data.startswith(BOM) else "utf-8"
    crs = body.count(b"\r") if b"\r" in body else 0
    if entity.format == "jsonl":
        return (encoding, ()) if not crs or crs == body.count(b"\r\n") else None
    if b'"' in body or crs and not body.count(b"\r\n") == body.count(b"\n") == crs:
        return None
    lines = body.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    header = tuple(lines[0].removesuffix(b"\r").decode("utf-8").split(","))
    if (sorted(header) != sorted(entity.column_names) or max(map(len, lines)) > MAX_FAST_LINE
            or set(map(bytes.count, lines, itertools.repeat(b","))) != {len(header) - 1}):
        return None
    return encoding, header


def complete_folders(root: Path, entity: Entity, as_of: date | None):
    """Yield (dt, folder) of complete folders; report the rest as (folder, reason)."""
    base = root / entity.source / entity.name
    ready, skipped = [], []
    for folder in _listing(base):
        rel = folder.relative_to(root).as_posix()
        if not folder.is_dir():
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

    def skip(path: Path, reason: str) -> None:
        rel = path.relative_to(root).as_posix()
        warehouse.record_skip(con, run_id, rel, reason)
        log.warning("skipped %s: %s", rel, reason)
        report.skipped_folders.append((rel, reason))

    if source == ROOT_OWNER:
        for entry in _listing(root):
            if not entry.is_dir():
                skip(entry, "file_outside_dt_folder")
            elif entry.name not in SOURCES:
                skip(entry, "unknown_source")
    known = {e.name for e in entities}
    for entry in _listing(root / source):
        if not entry.is_dir():
            skip(entry, "file_outside_dt_folder")
        elif entry.name not in known:
            skip(entry, "unknown_entity")
    for entity in entities:
        ready, skipped = complete_folders(root, entity, as_of)
        for folder, reason in skipped:
            skip(root / folder, reason)
        files = []
        for dt, folder in ready:
            for path in sorted(folder.iterdir()):
                if path.is_dir():
                    skip(path, "unexpected_directory")
                elif path.name != "_SUCCESS":
                    files.append((dt, path))
        files = progress.counted(files, f"landing {entity.key}", "files")
        for batch in _batches(con, root, entity, files, run_id):
            report.add(_land_batch(con, entity, batch))
    return report


def _listing(folder: Path) -> list[Path]:
    """A folder's entries, without the names ``_`` or ``.`` mark as not data (markers such
    as the generator's ``_truth.json``, ``.DS_Store``); inside a dt folder every entry counts."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if not p.name.startswith((".", "_")))


@dataclass
class _Delivery:
    """A file the ledger has not seen: its ledger row and, if it is to be read, its text, or
    for a file DuckDB reads as delivered (``fast``), its encoding and CSV header only."""

    ledger: warehouse.LedgerRow
    path: Path
    decoded: Decoded | None = None
    fast: bool = False
    header: tuple[str, ...] = ()

    def examine(self, fmt: str) -> None:
        """Leave the fast path: read and examine the file as any other."""
        self.fast, self.decoded = False, examine(self.path.read_bytes(), fmt)


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
        elif (not path.name.endswith(SUFFIXES[entity.format])
              or path.name.startswith((".", "_"))):
            ledger.status = "rejected"
            ledger.note = f"unexpected_file_type: expected {entity.format}"
        else:
            if verdict := _fast_verdict(data, entity):
                delivery.fast, delivery.header = True, verdict[1]
                delivery.decoded = Decoded(verdict[0], "")
            else:
                delivery.decoded = examine(data, entity.format)
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
    """Load a batch of files in one transaction: raw rows, quarantine rows, ledger rows.

    CSV files are read into temporary tables just before the transaction: a statement that
    fails aborts DuckDB's transaction, and a file its reader fails on must not take the
    other files of the batch with it (see ``_read_csv_groups``). Files that are sound as
    delivered (``_fast_verdict``, the usual case) are read and typed by one statement
    (``_type_fast_csv``, ``_load_jsonl``); the others take the careful path, framed and
    decoded here.
    """
    report = LoadReport()
    to_read = [d for d in batch if d.ledger.status == "pending"]
    if entity.format == "csv":
        fast = _type_fast_csv(con, entity, {str(d.path): d for d in to_read if d.fast})
    for d in to_read:
        d.ledger.encoding = d.decoded.encoding
        if d.decoded.fault:
            d.ledger.note = f"{d.decoded.fault}: {d.decoded.note}"
    with tempfile.TemporaryDirectory() as tmp:
        if entity.format == "csv":
            inputs = {}
            for i, d in enumerate(to_read):
                if d.fast:
                    continue
                read = _csv_input(entity, d, Path(tmp) / f"{i}.csv")
                if read is not None:
                    inputs[read[0]] = (read[1], d)
            groups = _read_csv_groups(con, entity, inputs, Path(tmp))
        with warehouse.transaction(con):
            if entity.format == "csv":
                if fast:
                    insert_typed_rows(con, entity, *fast)
                for group in groups:
                    _insert_csv_group(con, entity, group)
            else:
                _load_jsonl(con, entity, to_read, Path(tmp))
            for d in batch:
                ledger = d.ledger
                if ledger.status == "pending":
                    ledger.status = "loaded"
                    if ledger.rows_read != ledger.rows_loaded + ledger.rows_rejected:
                        raise IngestError(f"{ledger.file_path}: rows do not reconcile: {ledger}")
                report.add(report_of(ledger))
            warehouse.insert_ledger(con, *(d.ledger for d in batch))
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


def _lines_sql(paths, parts: int = 1, layout: str | None = None, columns=()) -> str:
    """The physical lines of UTF-8 files as (_file, line, text), numbered from 1, and the
    ``columns`` of the file's row in table ``layout`` (keyed by ``read_path``), if any.

    DuckDB reads a ``read_text`` call's files on one thread and holds them at once: with
    ``parts`` > 1 the files are shared out by size among that many calls (``_shares``),
    a union that runs them side by side when rows need not keep their order
    (``_unordered``)."""
    carried = "".join(f", {c}" for c in columns)
    parts_sql = []
    for share in _shares(paths, parts):
        texts = f"read_text({_path_list(share)})"
        if layout:
            texts = f"(select t.*{carried} from {texts} t join {layout} on read_path = filename)"
        # rtrim reads a whole line: only for the lines that end in a carriage return
        parts_sql.append(f"""
        select _file, line, if(suffix(text, chr(13)), rtrim(text, chr(13)), text) as text{carried}
        from (
            select filename as _file, unnest(generate_series(1, len(parts))) as line,
                   unnest(parts) as text, len(parts) as line_count{carried}
            from (select filename, string_split(content, chr(10)) as parts{carried} from {texts})
        )
        -- the newline that ends the last line does not start another one
        where not (line = line_count and text = '')""")
    return "(" + " union all ".join(parts_sql) + ")"


def _shares(paths, parts: int) -> list[list[str]]:
    """``paths`` in at most ``parts`` lists of about the same bytes."""
    paths = list(paths)
    if parts < 2 or len(paths) < 2:
        return [paths]
    shares, sizes = [[] for _ in range(min(parts, len(paths)))], [0] * min(parts, len(paths))
    for path in sorted(paths, key=os.path.getsize, reverse=True):
        i = sizes.index(min(sizes))
        shares[i].append(path)
        sizes[i] += os.path.getsize(path)
    return shares


@contextlib.contextmanager
def _unordered(con):
    """Let DuckDB run a statement's union branches at once: rows need not keep their order
    (every row carries its file and line)."""
    (before,) = con.execute("select current_setting('preserve_insertion_order')").fetchone()
    con.execute("set preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute(f"set preserve_insertion_order = {'true' if before else 'false'}")


def _read_csv_sql(paths, header: list[str], rejects: str) -> str:
    columns = "{" + ", ".join(f"{_string_literal(h)}: 'VARCHAR'" for h in header) + "}"
    return (
        f"read_csv({_path_list(paths)}, header = true, auto_detect = false,"
        f" delim = ',', quote = '\"', escape = '\"', columns = {columns},"
        f" filename = '_file', store_rejects = true, rejects_table = '{rejects}_errors',"
        f" rejects_scan = '{rejects}_scans', parallel = false)"
    )


def _type_fast_csv(con, entity: Entity, fast: dict[str, _Delivery]):
    """Type the rows of fast CSV files (``_fast_verdict``), whatever their column order, in
    one statement outside the batch's transaction: (files, typed table) for
    ``insert_typed_rows``, or None if there are none. Such a file frames as a person reads
    it, so its line numbers are its records' numbers and its fields split at commas (an
    empty field is NULL, like DuckDB's reader gives it). Should the statement fail, the
    files take the careful path."""
    if not fast:
        return None
    # Where each column is in each file's header, one row per file, joined to its text.
    layout = f"csv_layout_{uuid.uuid4().hex[:12]}"
    positions = [f"_p{i}" for i in range(len(entity.columns))]
    con.execute(f"create temp table {layout} (read_path varchar,"
                f" {', '.join(p + ' integer' for p in positions)})")
    con.execute(f"insert into {layout} select {', '.join(['unnest(?)'] * (len(positions) + 1))}",
                [list(fast)] + [[d.header.index(c) + 1 for d in fast.values()]
                                for c in entity.column_names])
    fields = ", ".join(f"nullif(_parts[{p}], '') as {quote(c)}"
                       for p, c in zip(positions, entity.column_names))
    source = f"""(
        select _file, line, {fields}
        from (select _file, line, string_split(text, ',') as _parts, {', '.join(positions)}
              from {_lines_sql(fast, PARTS, layout, positions)} where line > 1)
    )"""
    table = f"typed_csv_{uuid.uuid4().hex[:12]}"
    try:
        type_rows(con, entity, source, lambda c: quote(c.name), csv_record_sql(entity), table)
    except duckdb.Error as error:
        log.warning("%d files: the fast read failed, reading them one by one: %s", len(fast),
                    str(error).splitlines()[0])
        for d in fast.values():
            d.examine(entity.format)
        return None
    finally:
        con.execute(f"drop table {layout}")
    return fast, table


def _csv_input(entity: Entity, d: _Delivery, out: Path):
    """(path DuckDB reads, header to read it with) of a CSV file; None if it has no rows.

    A regular file (``_regular_csv``) is read as delivered, or from a UTF-8 copy. Any other
    is framed here and copied with one record per line and the ``FRAMED`` columns: each
    record's number in the delivered file and, for a record that does not frame or a
    file that cannot be read at all, the reason and the delivered text. So every line of
    every file is accounted for by the same batched read and insert.
    """
    decoded, expected = d.decoded, entity.column_names
    if decoded.fault:
        lines = enumerate(physical_lines(decoded.text)[1:], 2)
        return _write_framed(out, expected, ((n, None, decoded.fault, t) for n, t in lines))
    if decoded.text == "":
        d.ledger.status, d.ledger.note = "rejected", "empty_file: not even a header row"
        return None
    records = csv_records(decoded.text)
    first = next(records)
    header = first.fields or []
    if first.fault or sorted(header) != sorted(expected):
        d.ledger.note = (f"header_mismatch: missing {sorted(set(expected) - set(header))},"
                         f" unexpected {sorted(set(header) - set(expected))},"
                         f" duplicated {sorted({h for h in header if header.count(h) > 1})}")
        return _write_framed(out, expected,
                             ((r.line, None, "header_mismatch", r.raw) for r in records))
    if _regular_csv(decoded.text, len(header)):
        path = d.path if decoded.encoding == "utf-8" else _write_utf8(out, decoded.text)
        return str(path), tuple(header)

    def framed():
        for r in records:
            fault = r.fault
            if fault is None and len(r.fields) != len(header):
                fault = ("csv_missing_columns" if len(r.fields) < len(header)
                         else "csv_too_many_columns")
            yield r.line, None if fault else r.fields, fault, r.raw

    return _write_framed(out, header, framed())


def _write_framed(out: Path, header, rows) -> tuple[str, tuple[str, ...]]:
    """Write (line, fields or None, fault, delivered text) rows as a ``FRAMED`` CSV copy."""
    header = tuple(header) + FRAMED
    blank = [""] * (len(header) - len(FRAMED))
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        for line, fields, fault, raw in rows:
            writer.writerow((blank if fields is None else fields)
                            + [line, fault or "", raw if fault else ""])
    return str(out), header


@dataclass
class _CsvGroup:
    """Files read by one ``read_csv`` into ``<table>_rows`` and ``<table>_rejects``."""

    header: tuple[str, ...]
    files: dict[str, _Delivery]  # by the path DuckDB read
    table: str = field(default_factory=lambda: f"csv_{uuid.uuid4().hex[:12]}")


def _read_csv_groups(con, entity: Entity, inputs: dict, tmp: Path) -> list[_CsvGroup]:
    """Read the files, one ``read_csv`` per header order, outside the batch's transaction.

    Should DuckDB's reader fail on a group, its files are read one by one, and a file it
    cannot read at all is quarantined line by line (``csv_unreadable``, the reader's error
    in the ledger note): one bad file never stops the others.
    """
    by_header: dict[tuple[str, ...], dict[str, _Delivery]] = {}
    for path, (header, d) in inputs.items():
        by_header.setdefault(header, {})[path] = d
    pending = [_CsvGroup(header, files) for header, files in by_header.items()]
    groups = []
    while pending:
        group = pending.pop()
        try:
            _read_csv_group(con, group)
        except duckdb.Error as error:
            if len(group.files) > 1:
                pending += [_CsvGroup(group.header, {p: d}) for p, d in group.files.items()]
                continue
            ((path, d),) = group.files.items()
            if FRAMED[0] in group.header:
                raise  # a copy written by ``_write_framed``: a fault of ours, not of the file
            log.warning("%s: DuckDB cannot read it: %s", d.ledger.file_path, error)
            d.ledger.note = "csv_unreadable: " + str(error).splitlines()[0]
            lines = enumerate(physical_lines(d.decoded.text)[1:], 2)
            path, header = _write_framed(tmp / f"{group.table}.csv", entity.column_names,
                                         ((n, None, "csv_unreadable", t) for n, t in lines))
            pending.append(_CsvGroup(header, {path: d}))
            continue
        groups.append(group)
    return groups


def _read_csv_group(con, group: _CsvGroup) -> None:
    rejects = f"{group.table}_rej"
    try:
        # Row ids of uncommitted rows are not positions, so number the rows while reading.
        con.execute(f"create temp table {group.table}_rows as select row_number() over ()"
                    f" as row_index, * from"
                    f" {_read_csv_sql(list(group.files), list(group.header), rejects)}")
        con.execute(
            f"create temp table {group.table}_rejects as select s.file_path as _file, e.line,"
            f" min(e.error_type) as error_type,"
            f" min(trim(e.csv_line, chr(10) || chr(13))) as csv_line"
            f" from {rejects}_errors e join {rejects}_scans s using (scan_id, file_id)"
            f" group by s.file_path, e.line")
    finally:
        con.execute(f"drop table if exists {rejects}_errors; drop table if exists {rejects}_scans")


def _insert_csv_group(con, entity: Entity, group: _CsvGroup) -> None:
    """Type a group's rows into raw and quarantine; count them onto each file's ledger row."""
    rows, rejects = f"{group.table}_rows", f"{group.table}_rejects"
    record = csv_record_sql(entity)
    if FRAMED[0] in group.header:
        con.execute(f"create or replace temp table parsed_input as"
                    f" select _source_line::bigint as line, * from {rows}")
        insert_typed(con, entity, group.files, lambda c: quote(c.name),
                     record_sql=f"case when nullif(_fault, '') is null then {record}::varchar"
                                f" else coalesce(_raw, '') end",
                     structural_reason="nullif(_fault, '')")
    else:
        # DuckDB reports a rejected record's number (header = 1); accepted records fill the
        # numbers in between, in file order.
        con.execute(f"""
            create or replace temp table parsed_input as
            with per_file as (
                select _file, count(*) as accepted from {rows} group by _file
            ),
            numbers as (
                select p._file,
                       unnest(generate_series(2, 1 + p.accepted + (
                           select count(*) from {rejects} r where r._file = p._file))) as line
                from per_file p
            ),
            accepted_lines as (
                select _file, line, row_number() over (partition by _file order by line) as k
                from numbers anti join {rejects} using (_file, line)
            ),
            accepted_rows as (
                select *, row_index - min(row_index) over (partition by _file) + 1 as k
                from {rows}
            )
            select accepted_lines.line, accepted_rows.*
            from accepted_rows join accepted_lines using (_file, k)
        """)
        insert_typed(con, entity, group.files, lambda c: quote(c.name), record_sql=record)
    structural = con.execute(
        "insert into meta.quarantine select f.load_id, ?, ?, f.file_path, r.line,"
        " 'csv_' || lower(replace(r.error_type, ' ', '_')), null, r.csv_line, now()"
        f" from {rejects} r join batch_files f on f.read_path = r._file"
        " returning source_file", [entity.source, entity.name]).fetchall()
    by_path = {d.ledger.file_path: d.ledger for d in group.files.values()}
    for (file_path,) in structural:
        by_path[file_path].rows_read += 1
        by_path[file_path].rows_rejected += 1
    con.execute(f"drop table {rows}; drop table {rejects}")


def csv_record_sql(entity: Entity) -> str:
    """The delivered text of a row, as a JSON object, for its quarantine record."""
    fields = ", ".join(f"{quote(c)} := {quote(c)}" for c in entity.column_names)
    return f"to_json(struct_pack({fields}))"


def _load_jsonl(con, entity: Entity, deliveries: list[_Delivery], tmp: Path) -> None:
    readable: dict[str, _Delivery] = {}
    for i, d in enumerate(deliveries):
        if d.decoded.fault:
            lines = "".join(line + "\n" for line in physical_lines(d.decoded.text))
            _reject_all_lines(con, entity, d, _write_utf8(tmp / f"{i}.txt", lines), d.decoded.fault)
        elif d.decoded.encoding == "utf-8":
            readable[str(d.path)] = d
        else:
            readable[str(_write_utf8(tmp / f"{i}.txt", d.decoded.text))] = d
    if not readable:
        return
    # Each line is parsed once for all its text columns (once more for its JSON ones): a
    # list of paths per extraction, NULL where the line is not JSON. A JSON text is an
    # object exactly when its first character but white space is a brace.
    scalar = [c for c in entity.columns if c.kind not in JSON_KINDS]
    nested = [c for c in entity.columns if c.kind in JSON_KINDS]
    extract = f"try(json_extract_string(text, {_json_paths(scalar)})) as _scalar"
    if nested:
        extract += f", try(json_extract(text, {_json_paths(nested)})) as _nested"
    source = f"(select _file, line, text, {extract} from {_lines_sql(readable, PARTS)})"

    def text_of(col):
        if col.kind in JSON_KINDS:
            return f"nullif(_nested[{nested.index(col) + 1}]::varchar, 'null')"
        return f"_scalar[{scalar.index(col) + 1}]"

    insert_typed(con, entity, readable, text_of, record_sql="text",
                 structural_reason="case when text = '' then 'blank_line'"
                                   " when _scalar is null or not starts_with("
                                   "ltrim(text, ' ' || chr(9) || chr(10) || chr(13)), '{')"
                                   " then 'invalid_json' end",
                 source=source)


def _json_paths(columns) -> str:
    paths = ", ".join(_string_literal("$." + quote(c.name)) for c in columns)
    return f"[{paths}]::varchar[]"


def insert_typed(con, entity: Entity, files: dict[str, _Delivery | warehouse.LedgerRow],
                 text_of, record_sql: str, structural_reason: str = "null",
                 source: str = "parsed_input") -> None:
    """Type ``source`` (``_file``, ``line``, text columns) rows of ``files`` (keyed by the
    ``_file`` they were read from): good rows to raw, the rest to quarantine, and the counts
    onto each file's ledger row."""
    type_rows(con, entity, source, text_of, record_sql, "typed_rows", structural_reason)
    insert_typed_rows(con, entity, files, "typed_rows")


def type_rows(con, entity: Entity, source: str, text_of, record_sql: str, table: str,
              structural_reason: str = "null") -> None:
    """Create the temporary ``table`` of ``source``'s rows typed by the entity's rules, with
    ``_reason`` (NULL for a good row), ``_column`` and ``_record`` (the delivered text) for
    the others. Each column's text is trimmed once and every rule reads it; reasons and
    records are only worked out for the rows that fail."""
    raws = {c.name: f"_raw_{i}" for i, c in enumerate(entity.columns)}
    items, valid, reason, failing = parsing.typed_select(entity, lambda c: raws[c.name])
    trimmed = ", ".join(f"{parsing.raw_text(text_of(c))} as {raws[c.name]}"
                        for c in entity.columns)
    with _unordered(con):
        con.execute(f"""
        create or replace temp table {table} as
        select _file, line,
               case when not _ok then coalesce(_structural, {reason}) end as _reason,
               case when not _ok and _structural is null then {failing} end as _column,
               case when not _ok then {record_sql} end as _record,
               {', '.join(items)}
        from (select *, _structural is null and {valid} as _ok
              from (select *, {structural_reason} as _structural, {trimmed} from {source}))
    """)


def insert_typed_rows(con, entity: Entity, files: dict[str, _Delivery | warehouse.LedgerRow],
                      table: str) -> None:
    """Insert a ``type_rows`` table: good rows to raw, the rest to quarantine, the counts
    onto each file's ledger row; then drop it."""
    ledgers = {k: getattr(v, "ledger", v) for k, v in files.items()}
    con.execute("create or replace temp table batch_files (read_path varchar, load_id varchar,"
                " file_path varchar, dt date)")
    con.execute("insert into batch_files select unnest(?), unnest(?), unnest(?), unnest(?)",
                [list(ledgers), [v.load_id for v in ledgers.values()],
                 [v.file_path for v in ledgers.values()], [v.dt for v in ledgers.values()]])
    names = ", ".join(quote(c) for c in entity.column_names)
    con.execute(
        f"insert into raw.{entity.raw_table} ({names}, _dt, _source_file, _source_line,"
        f" _load_id, _loaded_at)"
        f" select {', '.join('t.' + quote(c) for c in entity.column_names)}, f.dt, f.file_path,"
        f" t.line, f.load_id, now()"
        f" from {table} t join batch_files f on f.read_path = t._file"
        f" where t._reason is null")
    con.execute(
        "insert into meta.quarantine select f.load_id, ?, ?, f.file_path, t.line, t._reason,"
        " t._column, t._record::varchar, now()"
        f" from {table} t join batch_files f on f.read_path = t._file"
        " where t._reason is not null", [entity.source, entity.name])
    counts = con.execute("select _file, count(*) filter (where _reason is null),"
                         " count(*) filter (where _reason is not null)"
                         f" from {table} group by _file").fetchall()
    for read_path, good, bad in counts:
        ledger = ledgers[read_path]
        ledger.rows_read += good + bad
        ledger.rows_loaded += good
        ledger.rows_rejected += bad
    con.execute(f"drop table {table}")


def _reject_all_lines(con, entity: Entity, delivery: _Delivery, path: Path, reason: str) -> None:
    """Quarantine every line of a JSON Lines file the loader cannot take as a whole (CSV
    files take the same way as their other rows, see ``_csv_input``)."""
    ledger = delivery.ledger
    (rows,) = con.execute(f"""
        insert into meta.quarantine
        select ?, ?, ?, ?, line, ?, null, text, now() from {_lines_sql([path])}
    """, [ledger.load_id, entity.source, entity.name, ledger.file_path, reason]).fetchone()
    ledger.rows_read += rows
    ledger.rows_rejected += rows
