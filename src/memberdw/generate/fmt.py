"""Vectorised text formatting for the generator: money, timestamps, mobiles, CSV and JSON.

Values are numpy arrays of Python ``str`` (object dtype): element-wise concatenation runs
in numpy's C loops, indexing and ``tolist`` are cheap, and low-cardinality values (money,
small integers, ids) are formatted once per distinct value and mapped back.
Times are int64 *local seconds* counted from 00:00 of the generator's start date
(Asia/Shanghai wall time; Shanghai has no DST, so UTC is always local - 8 h).
"""

from __future__ import annotations

import functools
import itertools
import json
import operator
import re
from datetime import date, timedelta

import numpy as np

S = np.dtype(object)  # text arrays hold Python str
DAY = 86_400
HOUR = 3_600

_TOD = np.array([f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60)
                 for s in range(60)], dtype=object)
_DATE_TABLE_BEFORE = 40_000  # days covered before the start date (birthdays ~ 1917)


def sarr(values) -> np.ndarray:
    """Text array (a scalar gives a 0-d array that broadcasts)."""
    if isinstance(values, str):
        return np.array(values, dtype=object)
    return np.asarray(values, dtype=object)


def cat(*parts) -> np.ndarray:
    """Element-wise concatenation of text arrays and str scalars."""
    parts = [p.astype(object) if isinstance(p, np.ndarray) and p.dtype != object else p
             for p in parts]
    out = functools.reduce(operator.add, parts)
    return out if isinstance(out, np.ndarray) else sarr([out])


def mapped(values: np.ndarray, fmt) -> np.ndarray:
    """``fmt(v)`` for every value, computed once per distinct value."""
    values = np.asarray(values)
    if len(values) == 0:
        return np.zeros(0, dtype=object)
    u, inv = np.unique(values, return_inverse=True)
    return np.array([fmt(x) for x in u.tolist()], dtype=object)[inv.ravel()]


def int_text(values: np.ndarray) -> np.ndarray:
    return mapped(np.asarray(values, dtype=np.int64), str)


def zpad(values: np.ndarray, width: int) -> np.ndarray:
    return mapped(np.asarray(values, dtype=np.int64), lambda v: f"{v:0{width}d}")


class Calendar:
    """Date strings for day offsets relative to the start date."""

    def __init__(self, start: date, days: int):
        self.start = start
        self.days = days
        self.lo = -_DATE_TABLE_BEFORE
        hi = days + 800
        base = np.datetime64(start.isoformat(), "D")
        self._dates = np.datetime_as_string(base + np.arange(self.lo, hi)).astype(object)
        self._months = np.array([d[:7] for d in self._dates], dtype=object)
        self._compact = np.array([d.replace("-", "") for d in self._dates], dtype=object)

    def date(self, day) -> np.ndarray:
        return self._dates[np.asarray(day) - self.lo]

    def month(self, day) -> np.ndarray:
        return self._months[np.asarray(day) - self.lo]

    def month_index(self, day) -> np.ndarray:
        """Calendar month of a day offset as an integer (year * 12 + month - 1)."""
        d = np.datetime64(self.start.isoformat(), "D") + np.asarray(day, dtype=np.int64)
        return d.astype("datetime64[M]").astype(np.int64)

    def compact(self, day) -> np.ndarray:
        return self._compact[np.asarray(day) - self.lo]

    def pydate(self, day: int) -> date:
        return self.start + timedelta(days=int(day))

    def local_ts(self, t: np.ndarray) -> np.ndarray:
        """``YYYY-MM-DD HH:MM:SS`` local wall time."""
        t = np.asarray(t, dtype=np.int64)
        return cat(self.date(t // DAY), " ", _TOD[t % DAY])

    def iso_ts(self, t: np.ndarray, utc: np.ndarray | None = None) -> np.ndarray:
        """ISO-8601 with ``+08:00``; rows where ``utc`` is true are written in UTC with ``Z``."""
        t = np.asarray(t, dtype=np.int64)
        local = cat(self.date(t // DAY), "T", _TOD[t % DAY], "+08:00")
        if utc is None or not utc.any():
            return local
        u = t[utc] - 8 * HOUR
        local[utc] = cat(self.date(u // DAY), "T", _TOD[u % DAY], "Z")
        return local


def blank_where(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, "", values).astype(object)


def _money_texts(cents: int) -> tuple[str, str]:
    """(shortest form, two-decimal form) of an amount in cents."""
    sign = "-" if cents < 0 else ""
    y, c = divmod(abs(cents), 100)
    two = f"{sign}{y}.{c:02d}"
    short = f"{sign}{y}" if c == 0 else f"{sign}{y}.{c // 10}" if c % 10 == 0 else two
    return short, two


def money(cents: np.ndarray, rng: np.random.Generator, p_short: float = 0.5) -> np.ndarray:
    """Decimal yuan text with at most 2 places, mixing ``199``/``199.9`` and ``199.90``."""
    cents = np.asarray(cents, dtype=np.int64)
    if len(cents) == 0:
        return np.zeros(0, dtype=object)
    u, inv = np.unique(cents, return_inverse=True)
    forms = [_money_texts(c) for c in u.tolist()]
    short = np.array([f[0] for f in forms], dtype=object)[inv]
    two = np.array([f[1] for f in forms], dtype=object)[inv]
    return np.where(rng.random(len(cents)) < p_short, short, two)


MOBILE_FORMATS = ("plain", "spaced", "hyphen", "cc")


def mobile_text(numbers: np.ndarray, fmt: np.ndarray) -> np.ndarray:
    """11-digit numbers (int64, 0 = none -> "") in one of the contract's four formats
    (0 plain, 1 ``+86 138 0013 8000``, 2 ``138-0013-8000``, 3 ``8613800138000``)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    fmt = np.asarray(fmt)
    out = np.full(len(numbers), "", dtype=object)
    has = numbers != 0
    out[has] = numbers[has].astype(str).astype(object)
    for f in (1, 2, 3):
        sel = has & (fmt == f)
        if not sel.any():
            continue
        n = numbers[sel]
        a = (n // 10**8).astype(str).astype(object)
        b = zpad(n // 10**4 % 10**4, 4)
        c = zpad(n % 10**4, 4)
        out[sel] = (cat("+86 ", a, " ", b, " ", c) if f == 1 else
                    cat(a, "-", b, "-", c) if f == 2 else cat("86", out[sel]))
    return out


# --------------------------------------------------------------------------- CSV / JSON
# The final join of a row's fields is ``str.join`` mapped over ``zip`` of the column
# lists: C-level iteration, no Python code runs per row.

def to_list(values) -> list[str]:
    if isinstance(values, list):
        return values
    a = np.asarray(values)
    out = a.tolist()
    if a.dtype != object or (out and not isinstance(out[0], str)):
        out = [str(x) for x in out]
    return out


_CSV_SPECIAL = re.compile(r'[,"\r\n]')


def csv_quote(values: list[str]) -> list[str]:
    """RFC 4180 minimal quoting (only the values that need it)."""
    if not _CSV_SPECIAL.search("".join(values)):
        return values
    return ['"' + v.replace('"', '""') + '"' if _CSV_SPECIAL.search(v) else v for v in values]


def csv_join(columns: list[list[str]]) -> list[str]:
    return list(map(",".join, zip(*columns)))


_UNSAFE_JSON = re.compile(r'["\\\x00-\x1f]')


def json_str(values, safe: bool = False) -> np.ndarray:
    """JSON string literals; ``safe`` values are known to hold no quote, backslash or
    control character (generated ids, enums, timestamps, money)."""
    v = sarr(values)
    if not safe:
        return np.asarray(_literals(to_list(v), "", None), dtype=object)
    return cat('"', v, '"')


def _literals(vals: list[str], head: str, null: str | None) -> list[str]:
    """``head`` + JSON literal of every value, computed per distinct value; "" is
    written as ``null`` (if ``null`` is None, "" is the empty string literal)."""
    distinct = set(vals)
    distinct.discard(_OMIT)
    if _UNSAFE_JSON.search("".join(distinct)):
        lit = {u: head + json.dumps(u, ensure_ascii=False) for u in distinct}
    else:
        lit = dict(zip(distinct, map((head + '"{}"').format, distinct)))
    if null is not None:
        lit[""] = head + null
    lit[_OMIT] = ""
    return list(map(lit.__getitem__, vals))


_OMIT = "\x00omit"


def json_lines(fields: list[tuple[str, object, str]], rng: np.random.Generator,
               p_omit: float = 0.6) -> list[str]:
    """Render JSON objects, one per row, by joining constant and column pieces.

    ``fields`` is ``(key, values, kind)``: ``str`` values are safe non-null strings,
    ``opt`` values are strings where "" is NULL, ``raw`` values are JSON already (lists).
    In a share ``p_omit`` of the rows NULL members are left out instead of written as
    ``null`` (both mean NULL to the contract).
    """
    n = len(fields[0][1])
    omit = rng.random(n) < p_omit
    pieces = []
    for i, (key, values, kind) in enumerate(fields):
        head = ("{" if i == 0 else ",") + f'"{key}":'
        if kind == "str":
            pieces += [itertools.repeat(head + '"'), to_list(values), itertools.repeat('"')]
        elif kind == "opt":
            v = sarr(values)
            v = np.where(omit & (v == ""), _OMIT, v)
            pieces.append(_literals(v.tolist(), head, "null"))
        elif kind == "raw":
            pieces.append(to_list(cat(head, sarr(values))))
        else:
            raise ValueError(kind)
    pieces.append(itertools.repeat("}"))
    return list(map("".join, zip(*pieces)))
