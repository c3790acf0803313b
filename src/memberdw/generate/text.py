"""Byte-level, vectorised rendering of contract text for a range of rows.

A row of a CSV or JSON Lines file is a sequence of *pieces*; a piece is a uint8 matrix with
one row per output row (or one row shared by all, for constants), each row holding a value
of at most the matrix width padded with NUL bytes (which contract text never holds), and
its length. ``assemble`` writes every piece side by side into one matrix and drops the NUL
bytes, which leaves the rows' bytes in order: no Python code runs per row, and the memory
used is that of the rows rendered.

Rendering randomness (money styles, UTC offsets, omitted JSON nulls) is a pure function of
the row index (``coin``), so any split of a table into chunks renders the same bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np

U8 = np.uint8
_POW10 = 10 ** np.arange(1, 19, dtype=np.int64)
_CSV_SPECIAL = re.compile(r'[,"\r\n]')


@dataclass
class Piece:
    mat: np.ndarray  # uint8 (n, w), or (1, w) shared by every row
    ln: np.ndarray | None = None  # per-row length; None: the whole width
    right: bool = False  # value in the last ln bytes instead of the first

    @property
    def width(self) -> int:
        return self.mat.shape[1]


def const(text: str | bytes) -> Piece:
    b = text.encode("utf-8") if isinstance(text, str) else text
    return Piece(np.frombuffer(b, dtype=U8).reshape(1, -1))


def blank(pieces: list[Piece], mask: np.ndarray, n: int) -> list[Piece]:
    """The same pieces with the rows of `mask` written as nothing."""
    out = []
    mask = np.asarray(mask, dtype=bool)
    keep = (~mask).view(U8)[:, None]
    for p in pieces:
        ln = np.full(n, p.width, dtype=np.int64) if p.ln is None else np.broadcast_to(p.ln, n)
        out.append(Piece(p.mat * keep, np.where(mask, 0, ln), p.right))
    return out


def expand(pieces: list[Piece], rows: np.ndarray, n: int) -> list[Piece]:
    """Pieces rendered for `rows` only, as pieces of n rows (nothing in the others)."""
    out = []
    for p in pieces:
        mat = np.zeros((n, p.width), dtype=U8)
        mat[rows] = p.mat
        ln = np.zeros(n, dtype=np.int64)
        ln[rows] = p.width if p.ln is None else p.ln
        out.append(Piece(mat, ln, p.right))
    return out


def sparse(make, has: np.ndarray) -> list[Piece]:
    """``make(rows)`` for the rows of `has` only (a column that is mostly empty)."""
    rows = np.flatnonzero(has)
    return expand(make(rows), rows, len(has))


def row_lengths(pieces: list[Piece], n: int) -> np.ndarray:
    total = np.zeros(n, dtype=np.int64)
    for p in pieces:
        total += p.width if p.ln is None else p.ln
    return total


_TRI: dict = {}


def _tri(w: int, right: bool) -> np.ndarray:
    """Row l: the mask of a value of length l in a cell of width w."""
    key = (w, right)
    if key not in _TRI:
        t = np.arange(w) < np.arange(w + 1)[:, None]
        _TRI[key] = t[:, ::-1].copy() if right else t
    return _TRI[key]


def assemble(pieces: list[Piece], n: int) -> bytes:
    """The bytes of n rows, each the concatenation of its pieces."""
    if n == 0:
        return b""
    widths = [p.width for p in pieces]
    w = sum(widths)
    tpl = np.zeros(w, dtype=U8)  # the constants, copied to every row at once
    off = 0
    for p, pw in zip(pieces, widths):
        if p.mat.shape[0] == 1:
            tpl[off:off + pw] = p.mat[0]
        off += pw
    buf = np.empty((n, w), dtype=U8)
    buf[:] = tpl
    off = 0
    for p, pw in zip(pieces, widths):
        if pw and p.mat.shape[0] != 1:
            buf[:, off:off + pw] = p.mat
        off += pw
    flat = buf.reshape(-1)
    return flat[flat != 0].tobytes()


# ------------------------------------------------------------------------ value tables

class TextTable:
    """Distinct texts, encoded once: ``piece(idx)`` gathers them for rows."""

    def __init__(self, texts, quote_csv: bool = False, json_quoted: bool = False):
        texts = [str(t) for t in texts]
        if json_quoted:
            texts = [json.dumps(t, ensure_ascii=False) for t in texts]
        elif quote_csv:
            texts = ['"' + t.replace('"', '""') + '"' if _CSV_SPECIAL.search(t) else t
                     for t in texts]
        enc = [t.encode("utf-8") for t in texts] or [b""]
        self.texts = texts
        self.lens = np.fromiter(map(len, enc), dtype=np.int64, count=len(enc))
        width = max(1, int(self.lens.max(initial=0)))
        self.mat = np.array(enc, dtype=f"S{width}").view(U8).reshape(len(enc), width)

    def keyed(self, head: str) -> "TextTable":
        """Rows: ``head`` + every value, then ``head`` + ``null``, then nothing (a JSON
        member written, written as null, or left out)."""
        cache = self.__dict__.setdefault("_keyed", {})
        if head not in cache:
            h = np.frombuffer(head.encode("utf-8"), dtype=U8)
            null = np.frombuffer(b"null", dtype=U8)
            n, w = self.mat.shape
            kt = TextTable.__new__(TextTable)
            kt.texts = None
            kt.mat = np.zeros((n + 2, len(h) + max(w, 4)), dtype=U8)
            kt.mat[:n, :len(h)] = h
            kt.mat[:n, len(h):len(h) + w] = self.mat
            kt.mat[n, :len(h)] = h
            kt.mat[n, len(h):len(h) + 4] = null
            kt.lens = np.r_[self.lens + len(h), len(h) + 4, 0]
            cache[head] = kt
        return cache[head]

    def piece(self, idx) -> Piece:
        idx = np.asarray(idx)
        return Piece(self.mat[idx], self.lens[idx])


def factorize(values) -> tuple[np.ndarray, list[str]]:
    """(code of every value, distinct values) in first-seen order (deterministic)."""
    import pandas as pd
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), sort=False)
    return codes.astype(np.int32), [str(u) for u in uniques]


# ------------------------------------------------------------------------ numbers

def digits(a: np.ndarray, width: int) -> np.ndarray:
    """(n, width) ASCII digits of non-negative integers, right-aligned, zero-filled."""
    a = np.asarray(a, dtype=np.int64).copy()
    out = np.empty((len(a), width), dtype=U8)
    for j in range(width - 1, -1, -1):
        a, r = np.divmod(a, 10)
        out[:, j] = r
    out += 48
    return out


def ints(values, zero_width: int = 0, neg: np.ndarray | None = None) -> Piece:
    """Decimal text of integers (``-`` where negative, or where `neg`), zero-padded to at
    least ``zero_width`` digits."""
    v = np.asarray(values, dtype=np.int64)
    n = len(v)
    if neg is None:
        neg = v < 0
    a = np.abs(v)
    if n == 0:
        return Piece(np.zeros((0, 1), dtype=U8), np.zeros(0, dtype=np.int64), True)
    lo, hi = int(a.min()), int(a.max())
    if zero_width == 0 and hi < 4096 and not neg.any():
        tab = _small_ints()
        return Piece(tab.mat[a], tab.lens[a])
    nd = 1 + np.searchsorted(_POW10, a, side="right")
    nd = np.maximum(nd, zero_width)
    has_neg = bool(neg.any())
    w = int(nd.max()) + has_neg
    mat = digits(a, w)
    ln = nd + neg
    if has_neg:
        rows = np.flatnonzero(neg)
        mat[rows, w - 1 - nd[rows]] = ord("-")
    del lo
    mat *= _tri(w, True)[ln]  # NUL before the number
    return Piece(mat, ln, right=True)


_SMALL = None


def _small_ints() -> TextTable:
    global _SMALL
    if _SMALL is None:
        _SMALL = TextTable(range(4096))
    return _SMALL


_DEC = None


def _decimals() -> TextTable:
    """Index short * 100 + cents % 100: the decimal part of an amount."""
    global _DEC
    if _DEC is None:
        two = [f".{c:02d}" for c in range(100)]
        short = ["" if c == 0 else f".{c // 10}" if c % 10 == 0 else f".{c:02d}"
                 for c in range(100)]
        _DEC = TextTable(two + short)
    return _DEC


def money(cents, short: np.ndarray) -> list[Piece]:
    """Decimal yuan text: ``199``/``199.9`` where `short`, else ``199.90``."""
    c = np.asarray(cents, dtype=np.int64)
    a = np.abs(c)
    return [ints(a // 100, neg=c < 0),
            _decimals().piece(short.astype(np.int64) * 100 + a % 100)]


# ------------------------------------------------------------------------ noise

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def coin(salt: int, idx, p: float) -> np.ndarray:
    """A deterministic Bernoulli(p) draw per row index (splitmix64 of index and salt)."""
    with np.errstate(over="ignore"):
        z = np.asarray(idx, dtype=np.uint64) + np.uint64((salt * 0x9E3779B97F4A7C15) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53) < p


# ------------------------------------------------------------------------ dates

class Clock:
    """Date and time-of-day tables of a fmt.Calendar, as bytes."""

    def __init__(self, cal):
        self.cal = cal
        self.lo = cal.lo
        self.dates = TextTable(cal._dates.tolist())
        self.compact = TextTable(cal._compact.tolist())
        self.tod = TextTable([f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60)
                              for s in range(60)])
        self.zone = TextTable(["+08:00", "Z"])

    def date(self, day) -> Piece:
        return self.dates.piece(np.asarray(day, dtype=np.int64) - self.lo)

    def day_compact(self, day) -> Piece:
        return self.compact.piece(np.asarray(day, dtype=np.int64) - self.lo)

    def local_ts(self, t) -> list[Piece]:
        t = np.asarray(t, dtype=np.int64)
        return [self.date(t // 86400), const(" "), self.tod.piece(t % 86400)]

    def iso_ts(self, t, utc: np.ndarray | None = None) -> list[Piece]:
        t = np.asarray(t, dtype=np.int64)
        if utc is not None:
            t = t - np.where(utc, 8 * 3600, 0)
        zone = (self.zone.piece(np.zeros(len(t), dtype=np.int64)) if utc is None
                else self.zone.piece(utc.astype(np.int64)))
        return [self.date(t // 86400), const("T"), self.tod.piece(t % 86400), zone]


# ------------------------------------------------------------------------ mobiles

_MOB = None


def mobile(numbers, fmt) -> list[Piece]:
    """11-digit numbers (0 = none -> nothing) in the contract's four formats (0 plain,
    1 ``+86 138 0013 8000``, 2 ``138-0013-8000``, 3 ``8613800138000``)."""
    global _MOB
    if _MOB is None:
        _MOB = (TextTable(["", "+86 ", "", "86"]), TextTable(["", " ", "-", ""]))
    num = np.asarray(numbers, dtype=np.int64)
    f = np.asarray(fmt, dtype=np.int64)
    pre, sep = _MOB

    def make(rows):
        d = digits(num[rows], 11)
        fr = f[rows]
        return [pre.piece(fr), Piece(d[:, :3]), sep.piece(fr), Piece(d[:, 3:7]),
                sep.piece(fr), Piece(d[:, 7:])]
    return sparse(make, num != 0)


# ------------------------------------------------------------------------ JSON fields

def jfield(key: str, value: list[Piece], first: bool = False, quoted: bool = True) -> list[Piece]:
    head = ("{" if first else ",") + f'"{key}":' + ('"' if quoted else "")
    return [const(head), *value] + ([const('"')] if quoted else [])


def jopt(key: str, value: list[Piece], null: np.ndarray, omit: np.ndarray, n: int,
         quoted: bool = True) -> list[Piece]:
    """An optional member: the value, or ``null`` where `null` (left out where also
    `omit`)."""
    gone = null & omit
    head = blank([const(f',"{key}":')], gone, n)
    q = [const('"')] if quoted else []
    body = blank(q + value + q, null, n)
    word = blank([const("null")], ~null | omit, n)
    return head + body + word


def jopt_table(key: str, table: TextTable, codes, null: np.ndarray, omit: np.ndarray
               ) -> list[Piece]:
    """An optional member whose values are JSON literals of `table`: one piece."""
    kt = table.keyed(f',"{key}":')
    n = len(kt.lens) - 2
    return [kt.piece(np.where(null, np.where(omit, n + 1, n), codes))]


def csv_row(columns: list[list[Piece]], eol: str) -> list[Piece]:
    out: list[Piece] = []
    for i, c in enumerate(columns):
        if i:
            out.append(const(","))
        out += c
    out.append(const(eol))
    return out


def ragged(flat: np.ndarray, starts, lens) -> Piece:
    """Variable-length values cut out of one byte buffer."""
    starts = np.asarray(starts, dtype=np.int64)
    lens = np.asarray(lens, dtype=np.int64)
    w = max(1, int(lens.max(initial=0)))
    if len(flat) == 0:
        return Piece(np.zeros((len(starts), w), dtype=U8), lens)
    pad = np.zeros(len(flat) + w, dtype=U8)
    pad[:len(flat)] = flat
    windows = np.lib.stride_tricks.sliding_window_view(pad, w)  # row i: pad[i:i + w]
    return Piece(windows[starts] * _tri(w, False)[lens], lens)
