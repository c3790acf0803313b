"""Deliver the rendered tables as landing files and plant the file-level defects:
shuffled headers, CRLF, BOM and GB18030 files, malformed rows, a resent duplicate, a late
file and a dt folder without ``_SUCCESS``. Every one of them is recorded for the truth file."""

from __future__ import annotations

import hashlib
import re
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np

from memberdw.generate.fmt import Calendar
from memberdw.generate.render import Table


@dataclass
class OutFile:
    entity: str
    day: int
    name: str
    fmt: str  # csv / jsonl
    header: list[str] | None
    table: Table | None = None
    lo: int = 0  # first row of the table in this file
    hi: int = 0  # end of its rows
    shuffled: bool = False
    encoding: str = "utf-8"
    eol: str = "\n"
    arrival: int = 1  # days after dt
    duplicate_of: str | None = None
    malformed: list = field(default_factory=list)  # [line, reason, column]
    inserts: list = field(default_factory=list)  # (after row, text) of the broken copies
    data: bytes = b""  # kept only for the source of the planted resend
    sha256: str = ""
    size: int = 0
    rows: int = 0

    @property
    def n(self) -> int:
        """Rows of the table in this file (before broken copies are inserted)."""
        return self.hi - self.lo

    def path(self, cal: Calendar) -> str:
        return f"{self.entity}/dt={cal.pydate(self.day).isoformat()}/{self.name}"


# (entity, reason, column) of the malformed rows; each planted `k` times
MALFORMED = [
    ("pos/order_lines", "csv_too_many_columns", None),
    ("pos/order_lines", "csv_missing_columns", None),
    ("points/ledger", "csv_missing_columns", None),
    ("pos/order_lines", "invalid_money", "paid_amount"),
    ("marketing/coupon_redemptions", "invalid_money", "discount_amount"),
    ("pos/order_lines", "invalid_timestamp", "order_time"),
    ("miniapp/orders", "invalid_timestamp", "created_at"),
    ("pos/order_lines", "invalid_integer", "quantity"),
    ("crm/members", "invalid_mobile", "mobile"),
    ("crm/members", "missing_required", "member_id"),
    ("miniapp/events", "invalid_json", None),
    ("marketing/acquisition_costs", "invalid_money", "cost"),
    ("marketing/acquisition_costs", "invalid_month", "month"),
]
BAD_VALUES = {"invalid_money": ["12.345", "abc", "1,99"], "invalid_timestamp": ["2026/10/05 25:61:00"],
              "invalid_integer": ["two"], "invalid_mobile": ["12345"], "missing_required": [""],
              "invalid_month": ["2026-13", "202610"]}


def build_files(tables: list[Table]) -> tuple[list[OutFile], set[tuple[str, int]]]:
    """Cut every table into its files (row spans; nothing is rendered yet). A file without
    rows is not delivered (its dt folder still is, with its ``_SUCCESS``): empty files
    would be byte-identical to each other."""
    out, folders = [], set()
    for t in tables:
        key = t.entity.key
        n = len(t.day)
        folders |= {(key, day) for day, _ in t.files}
        if n == 0:
            continue
        # rows of one file are contiguous: find each file's slice
        change = np.r_[True, (t.day[1:] != t.day[:-1]) | (t.file[1:] != t.file[:-1])]
        starts = np.flatnonzero(change)
        ends = np.r_[starts[1:], n]
        spans = {(int(t.day[s]), t.name_of(t.file[s])): (int(s), int(e))
                 for s, e in zip(starts.tolist(), ends.tolist())}
        assert len(spans) == len(starts), f"{key}: rows of a file are not contiguous"
        assert set(spans) <= set(t.files), (key, sorted(set(spans) - set(t.files))[:3])
        header = list(t.entity.column_names) if t.entity.format == "csv" else None
        for (day, name), (lo, hi) in sorted(spans.items()):
            out.append(OutFile(key, day, name, t.entity.format, header, t, lo, hi))
    return out, folders


def plant_defects(rng: np.random.Generator, cal: Calendar, files: list[OutFile], k: int
                  ) -> dict:
    D = cal.days
    by_entity: dict[str, list[OutFile]] = {}
    for f in files:
        by_entity.setdefault(f.entity, []).append(f)
    # ---- the incomplete folder
    incomplete = ("miniapp/events", D // 2)  # a middle day of the events export

    def complete(f: OutFile) -> bool:
        return (f.entity, f.day) != incomplete

    special: set[int] = set()
    pos = [f for f in by_entity["pos/order_lines"] if complete(f) and f.n]
    order = rng.permutation(len(pos))
    pos = [pos[i] for i in order]
    # ---- GB18030 files from old tills
    gb = []
    for f in pos:
        if len(gb) >= max(1, min(3, k)):
            break
        gb.append(f)
        f.encoding = "gb18030"
        special.add(id(f))
    # ---- a late file (a store's export that arrived days after its dt)
    late = None
    for f in pos:
        if id(f) not in special and (f.day <= D - 2 or D < 3):
            late = f
            f.arrival = int(rng.integers(2, 5))
            special.add(id(f))
            break
    # ---- the duplicate delivery source (the copy is made after rendering)
    dup_src = None
    for f in pos:
        if id(f) not in special:
            dup_src = f
            special.add(id(f))
            break
    # ---- BOM files: one of several CSV entities
    bom = []
    for ent in ("crm/members", "marketing/coupon_issues", "pos/order_lines", "points/ledger"):
        cands = [f for f in by_entity[ent] if f.n and id(f) not in special and complete(f)]
        if cands and len(bom) < max(2, min(4, k + 1)):
            f = cands[int(rng.integers(0, len(cands)))]
            f.encoding = "utf-8-sig"
            bom.append(f)
    # ---- CRLF and shuffled headers
    csv_files = [f for f in files if f.fmt == "csv"]
    for f in csv_files:
        if rng.random() < 0.07:
            f.eol = "\r\n"
        if rng.random() < 0.07:
            f.shuffled = True
    for ent in ("pos/order_lines", "crm/members", "marketing/coupon_issues"):
        cands = [f for f in by_entity[ent] if f.n]
        if cands and not any(f.eol == "\r\n" for f in by_entity[ent]):
            cands[int(rng.integers(0, len(cands)))].eol = "\r\n"
        if cands and not any(f.shuffled for f in by_entity[ent]):
            cands[int(rng.integers(0, len(cands)))].shuffled = True
    for f in csv_files:
        if f.shuffled:
            _shuffle_header(rng, f)

    # ---- malformed rows: a broken copy of a real row, inserted after it
    inserts: dict[int, list] = {}
    for ent, reason, column in MALFORMED:
        cands = [f for f in by_entity.get(ent, []) if f.n and complete(f)
                 and id(f) not in special]
        if not cands:
            continue
        for j in range(k):
            f = cands[int(rng.integers(0, len(cands)))]
            i = int(rng.integers(0, f.n))
            inserts.setdefault(id(f), []).append((f, i, reason, column, j))
    for key, items in inserts.items():
        f = items[0][0]
        extra: dict[int, list] = {}
        for _, i, reason, column, j in items:
            extra.setdefault(i, []).append((_broken(f, i, reason, column, j), reason, column))
        added = 0
        for i in sorted(extra):
            for text, reason, column in extra[i]:
                added += 1
                line_no = i + 1 + added + (1 if f.fmt == "csv" else 0)
                f.malformed.append([line_no, reason, column])
                f.inserts.append((i, text))
    return {"incomplete": incomplete, "late": late, "dup_src": dup_src, "gb": gb, "bom": bom}


def _shuffle_header(rng, f: OutFile) -> None:
    names = f.table.entity.column_names
    perm = list(rng.permutation(len(names)))
    if perm == list(range(len(perm))):
        perm = perm[1:] + perm[:1]
    f.header = [names[i] for i in perm]
    f.shuffled = True


_CREATED = re.compile(r'"created_at":"([^"]*)"')


def _broken(f: OutFile, i: int, reason: str, column: str | None, j: int) -> str:
    if f.fmt == "jsonl":
        line = f.table.line(f.lo + i)
        if reason == "invalid_json":
            return line[: max(1, len(line) // 2)]
        if reason == "invalid_timestamp":
            v = _CREATED.search(line).group(1)
            return line.replace(f'"created_at":"{v}"', f'"created_at":"{v[:19]}"')  # no offset
        raise ValueError(reason)
    fields = f.table.fields(f.lo + i, f.header)
    if reason == "csv_too_many_columns":
        return ",".join(fields + [fields[-1] or "x"])
    if reason == "csv_missing_columns":
        return ",".join(fields[:-1])
    values = BAD_VALUES[reason]
    v = values[j % len(values)]
    if "," in v:
        v = '"' + v + '"'
    fields[f.header.index(column)] = v
    return ",".join(fields)


def render_bytes(f: OutFile) -> bytes:
    """The file's bytes: header, rows and the broken copies after their rows."""
    t = f.table
    eol = f.eol if f.fmt == "csv" else "\n"
    parts = [(",".join(f.header) + eol).encode("utf-8")] if f.fmt == "csv" else []
    at = 0
    for i, text in sorted(f.inserts, key=lambda x: x[0]):  # stable: planting order
        parts.append(t.body(f.lo + at, f.lo + i + 1, f.header, eol))
        parts.append((text + eol).encode("utf-8"))
        at = i + 1
    parts.append(t.body(f.lo + at, f.hi, f.header, eol))
    data = b"".join(parts)
    if f.encoding == "gb18030":
        data = data.decode("utf-8").encode("gb18030")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        raise AssertionError(f"{f.name}: GB18030 bytes that are also valid UTF-8")
    if f.encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + data
    return data


def write_all(out: Path, cal: Calendar, files: list[OutFile], folders: set, info: dict,
              rng: np.random.Generator, progress=None) -> dict:
    """Render, check and write every file, one at a time (a few writes in flight; bytes are
    dropped once written), add the planted resend, and write the ``_SUCCESS`` markers."""
    incomplete = info["incomplete"]
    for ent, d in sorted(folders):
        (out / ent / f"dt={cal.pydate(d).isoformat()}").mkdir(parents=True, exist_ok=True)
    src = info["dup_src"]
    seen: set[str] = set()
    with ThreadPoolExecutor(max_workers=2) as pool:  # file writes release the GIL
        pending: deque = deque()
        for f in sorted(files, key=lambda f: f.path(cal)):
            data = render_bytes(f)
            # the only bytes delivered twice must be the planted resend: a snapshot that did
            # not change gets another column order (still the same content)
            for _ in range(20):
                f.sha256 = hashlib.sha256(data).hexdigest()
                if f.sha256 not in seen:
                    break
                assert f.fmt == "csv" and not f.malformed, f"identical files {f.path(cal)}"
                _shuffle_header(rng, f)
                data = render_bytes(f)
            seen.add(f.sha256)
            f.size, f.rows = len(data), f.n + len(f.inserts)
            if f is src:
                f.data = data
            pending.append(pool.submit((out / f.path(cal)).write_bytes, data))
            del data
            while len(pending) > 3:
                pending.popleft().result()
            if progress is not None:
                progress(f)
        # the resend: same bytes, another name, the next dt folder of the entity (or the same)
        dup = None
        if src is not None:
            folder_days = sorted({d for e, d in folders if e == src.entity})
            later = [d for d in folder_days if d > src.day and (src.entity, d) != incomplete]
            d = later[0] if later else src.day
            stem, ext = src.name.rsplit(".", 1)
            dup = OutFile(src.entity, d, f"{stem}_resend.{ext}", src.fmt, src.header,
                          lo=src.lo, hi=src.hi, shuffled=src.shuffled, encoding=src.encoding,
                          eol=src.eol, arrival=max(1, src.day + 2 - d),
                          duplicate_of=src.path(cal), sha256=src.sha256, size=src.size,
                          rows=src.rows)
            files.append(dup)
            pending.append(pool.submit((out / dup.path(cal)).write_bytes, src.data))
            src.data = b""
        for p in pending:
            p.result()
    markers = []
    for ent, d in sorted(folders):
        if (ent, d) == incomplete:
            continue
        folder = f"{ent}/dt={cal.pydate(d).isoformat()}"
        (out / folder / "_SUCCESS").write_bytes(b"")
        markers.append({"folder": folder, "arrival_date": cal.pydate(d + 1).isoformat()})
    return {"dup": dup, "markers": markers}


def file_record(cal: Calendar, f: OutFile) -> dict:
    return {"path": f.path(cal), "entity": f.entity, "dt": cal.pydate(f.day).isoformat(),
            "sha256": f.sha256, "bytes": f.size, "rows": f.rows,
            "encoding": f.encoding, "line_ending": f.eol, "header_shuffled": bool(f.shuffled),
            "arrival_date": (cal.pydate(f.day) + timedelta(days=f.arrival)).isoformat(),
            "duplicate_of": f.duplicate_of}
