"""(b) of issue 11's benchmark: the member RFM snapshot the way an analyst computes it in
pandas, straight from the landed files, with memberdw's definitions (not a floor).

    python bench/pandas_part.py LANDING AS_OF [--compare WAREHOUSE_DIR] [--as-of-run]

AS_OF is the snapshot date (``select max(as_of_date) from publication``), or ``auto`` for
the newest order date, as ``memberdw run`` picks it. Prints JSON: compute seconds (reading
the files included, Python start-up excluded), members and peak resident memory; with
``--compare`` also how many rows differ from ``<wh>/marts.duckdb`` ``mart_member_rfm``.

What it reproduces, step by step (the models and rules named are memberdw's):

- landing (memberdw.ingest): complete ``dt=`` folders only (``_SUCCESS``), files of the
  entity's suffix, the same bytes delivered twice read once (the first copy, in folder and
  name order), UTF-8 with or without BOM else GB18030 (files neither, or with NUL bytes or
  bare ``\\r`` line ends, give no rows), rows that do not frame or whose fields do not
  parse by the contract (memberdw.contract/parsing: trimmed, empty = NULL, required
  columns, money / integer / timestamp / date / flag / mobile / JSON formats) dropped;
- erasure (memberdw.erasure): any delivered CRM record with deleted = 1 erases the member:
  their rows point at the tombstone ``erased_member_id``, their mobile / unionid / openid
  leave POS lines and mini-program orders unless a member who is not erased holds them;
- staging: the newest version of each key wins (stg_pos__order_lines: ``_dt``, load,
  line; stg_miniapp__orders and stg_crm__members: ``updated_at`` first), times as
  Asia/Shanghai wall time; the current store list is the newest complete ``stores/stores``
  delivery (stg_stores__stores);
- Great Expectations quarantine rules (action=QUARANTINE) on what reaches the facts:
  POS lines with an order type other than sale/return, an unknown store or dated at or
  after the future bound; mini-program orders with an unknown status or store or created
  at or after it; CRM members missing more than 20 % of the key fields
  (incomplete_profile) leave the member marts;
- identity resolution (int_member_id_map): members sharing a normalised mobile or a
  unionid, transitively, are one person named by the smallest member_id; erased members
  never merge; POS tickets without a card go to the member of the typed mobile,
  mini-program orders without a known member_id to the member of the unionid, then openid;
- orders (int_orders__pos, int_orders__miniapp, int_orders_unioned): tickets summed from
  their lines, paid mini-program orders plus a refund row per refunded order, each sale
  netted with its own returns and refunds (returned in full: not a purchase);
- RFM (int_member_rfm, mart_member_rfm): R from the last purchase ever up to D, F and M in
  the rfm_window_days ending on D, scores 1 + floor(5 x percent_rank) capped at 5, the eight
  segments against the means, the value groups and the consumption stage.

The future bound of the "not in the future" rules is, as in memberdw.quality, the day
after the as-of date for a run given ``--as-of`` (``--as-of-run`` here, which also ignores
deliveries after it), else now (Asia/Shanghai wall time).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import hmac
import io
import json
import os
import re
import resource
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
TZ = "Asia/Shanghai"
DEFAULT_VARS = {"rfm_window_days": 365, "core_days": 30, "potential_days": 90,
                "normal_days": 180, "incomplete_profile_max_missing_share": 0.2,
                "erased_member_id": "ERASED"}
RFM_COLUMNS = ["as_of_date", "member_id", "recency_days", "frequency", "monetary_amount",
               "r_score", "f_score", "m_score", "rfm_segment", "rfm_segment_cn",
               "value_group", "lifecycle_stage"]

# --- the landing contract, for the four entities RFM reads: column -> (kind, required) --
CONTRACT = {
    "crm/members": ("csv", {
        "member_id": ("text", True), "mobile": ("mobile", False), "unionid": ("text", False),
        "openid": ("text", False), "name": ("text", False), "gender": ("text", False),
        "birthday": ("date", False), "province": ("text", False), "city": ("text", False),
        "register_time": ("local_ts", False), "register_channel": ("text", False),
        "register_store_code": ("text", False), "referrer_member_id": ("text", False),
        "tier": ("text", False), "points_balance": ("int", False),
        "sms_opt_in": ("flag", False), "updated_at": ("local_ts", True),
        "deleted": ("flag", False)}),
    "pos/order_lines": ("csv", {
        "store_code": ("text", True), "order_no": ("text", True), "line_no": ("int", True),
        "order_time": ("local_ts", True), "member_id": ("text", False),
        "mobile": ("mobile", False), "sku_code": ("text", False), "category": ("text", False),
        "quantity": ("int", True), "unit_price": ("money", False),
        "discount_amount": ("money", False), "paid_amount": ("money", True),
        "coupon_code": ("text", False), "payment_method": ("text", False),
        "order_type": ("text", True), "original_order_no": ("text", False)}),
    "miniapp/orders": ("jsonl", {
        "order_id": ("text", True), "openid": ("text", False), "unionid": ("text", False),
        "member_id": ("text", False), "store_code": ("text", False),
        "created_at": ("iso_ts", True), "paid_at": ("iso_ts", False),
        "updated_at": ("iso_ts", True), "status": ("text", True),
        "items": ("order_items", False), "coupon_codes": ("json_list", False),
        "total_paid": ("money", False), "utm_source": ("text", False),
        "utm_medium": ("text", False), "utm_campaign": ("text", False),
        "shared_by_openid": ("text", False)}),
    "stores/stores": ("csv", {
        "store_code": ("text", True), "name": ("text", False), "region": ("text", False),
        "province": ("text", False), "city": ("text", False), "store_type": ("text", False),
        "opened_on": ("date", False), "closed_on": ("date", False)}),
}
# Optional text columns nothing downstream reads: no rule can reject a row for them.
UNUSED = {"crm/members": {"province", "referrer_member_id"},
          "pos/order_lines": {"sku_code", "category", "coupon_code", "payment_method"},
          "miniapp/orders": {"utm_source", "utm_medium", "utm_campaign", "shared_by_openid"},
          "stores/stores": {"name", "region", "province", "city", "store_type"}}
SUFFIXES = {"csv": (".csv",), "jsonl": (".jsonl", ".json")}
BATCH_BYTES = 256 * 1024 * 1024  # memberdw.ingest loads an entity's new files in such batches
MONEY_RE = r"-?[0-9]{1,16}(?:\.[0-9]{1,2})?"
INT_RE = r"-?[0-9]{1,18}"
LOCAL_TS_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"
ISO_TS_RE = (r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
             r"(?:Z|[+-][0-9]{2}:?[0-9]{2})")
DATE_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
MOBILE_RE = r"(?:\+?86)?1[3-9][0-9]{9}"
UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
QUOTED = re.compile(r'"(?:[^"]|"")*"')
PAID = ["paid", "shipped", "completed", "refunded"]
MINIAPP_STATUSES = ["created", "paid", "shipped", "completed", "cancelled", "refunded"]
SEGMENT_CN = {"important_value": "重要价值", "important_develop": "重要发展",
              "important_retain": "重要保持", "important_winback": "重要挽留",
              "general_value": "一般价值", "general_develop": "一般发展",
              "general_retain": "一般保持", "general_winback": "一般挽留"}
VALUE_GROUP = {"important_value": "high_value", "important_develop": "potential",
               "general_value": "potential", "general_develop": "potential",
               "important_retain": "general", "general_retain": "general",
               "important_winback": "churn_risk", "general_winback": "churn_risk"}


def project_vars() -> dict:
    """The dbt vars RFM uses, from dbt_project/dbt_project.yml (their one home)."""
    found = dict(DEFAULT_VARS)
    try:
        import yaml

        with open(REPO / "dbt_project" / "dbt_project.yml", encoding="utf-8") as f:
            declared = yaml.safe_load(f).get("vars", {})
        found.update({k: declared[k] for k in DEFAULT_VARS if k in declared})
    except (OSError, ImportError):
        pass
    return found


# --- reading the landing ------------------------------------------------------------------

@dataclass
class Delivery:
    dt: date
    path: str         # relative to the landing root
    batch: int        # load batch (memberdw's _loaded_at order)
    order: int        # position in load order
    status: str       # loaded / duplicate / rejected
    content: int      # order of the delivery whose rows these bytes are (a duplicate's first copy)
    data: bytes | None = None


def deliveries(root: Path, entity: str, up_to: date | None) -> list[Delivery]:
    """Files of complete dt folders in load order, each with what the loader makes of it."""
    fmt = CONTRACT[entity][0]
    base = root / entity
    files = []
    folders = sorted(p for p in base.iterdir() if not p.name.startswith((".", "_"))) \
        if base.is_dir() else []
    for folder in folders:
        match = re.fullmatch(r"dt=([0-9]{4}-[0-9]{2}-[0-9]{2})", folder.name)
        if not folder.is_dir() or not match:
            continue
        try:
            dt = date.fromisoformat(match.group(1))
        except ValueError:
            continue
        if (up_to and dt > up_to) or not (folder / "_SUCCESS").is_file():
            continue
        files += [(dt, p) for p in sorted(folder.iterdir())
                  if not p.is_dir() and p.name != "_SUCCESS"]
    out, seen, batch, batch_bytes = [], {}, 0, 0
    for order, (dt, path) in enumerate(files):
        data = path.read_bytes()
        sha = hashlib.sha256(data).digest()
        content, data_kept = seen.get(sha, order), None
        if sha in seen:
            status = "duplicate"
        elif not path.name.endswith(SUFFIXES[fmt]) or path.name.startswith((".", "_")):
            status = "rejected"
        else:
            seen[sha] = order
            status, data_kept = "loaded", data
        out.append(Delivery(dt, path.relative_to(root).as_posix(), batch, order, status,
                            content, data_kept))
        batch_bytes += len(data)
        if batch_bytes >= BATCH_BYTES:
            batch, batch_bytes = batch + 1, 0
    return out


def decode(data: bytes, fmt: str) -> str | None:
    """The file's text as memberdw.ingest reads it, or None when no line of it loads."""
    for bom in (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"):
        if data.startswith(bom):
            return None
    head = data[:64]
    if len(head) >= 4 and (head[1::2].count(0) >= len(head) // 4 and 0 not in head[0::2]
                           or head[0::2].count(0) >= len(head) // 4 and 0 not in head[1::2]):
        return None  # UTF-16 without a BOM
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            text = data[3:].decode("utf-8")
        except UnicodeDecodeError:
            return None
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            utf8 = sum(len(m) for m in UTF8_SEQUENCE.findall(data))
            if utf8 >= 8 and utf8 >= 0.9 * sum(b > 127 for b in data):
                return None  # damaged UTF-8, not GB18030
            try:
                text = data.decode("gb18030").removeprefix("\ufeff")
            except UnicodeDecodeError:
                return None
    if "\0" in text:
        return None
    if text.count("\r") != text.count("\r\n"):
        outside = QUOTED.sub("", text) if fmt == "csv" and '"' in text else None
        if outside is None or re.search(r"\r(?!\n)", outside):
            return None  # bare \r line ends
    return text


def csv_rows(text: str, columns: list[str]) -> pd.DataFrame | None:
    """A CSV file's records that frame, as text, with their record number (header = 1);
    None for an empty file (the loader rejects it)."""
    if text == "":
        return None
    if '"' not in text:
        lines = pd.Series(text.split("\n"))
        if lines.iloc[-1] == "":
            lines = lines.iloc[:-1]
        lines = lines.str.removesuffix("\r")
        header = lines.iloc[0].split(",")
        body = lines.iloc[1:]
        if sorted(header) != sorted(columns):
            return pd.DataFrame(columns=columns + ["_line"])
        good = body[body.str.count(",") == len(header) - 1]
        if good.empty:
            return pd.DataFrame(columns=columns + ["_line"])
        frame = pd.read_csv(io.StringIO("\n".join(good)), header=None, names=header,
                            dtype=str, keep_default_na=False, na_filter=False,
                            quoting=csv.QUOTE_NONE, skip_blank_lines=False)
        frame["_line"] = good.index.to_numpy() + 1
        return frame[columns + ["_line"]]
    # quoted fields: pandas cannot say which record a row was, so frame with csv
    records = list(csv.reader(io.StringIO(text, newline="")))
    header = records[0] if records else []
    if sorted(header) != sorted(columns):
        return pd.DataFrame(columns=columns + ["_line"])
    kept = [(n, r) for n, r in enumerate(records[1:], 2) if len(r) == len(header)]
    frame = pd.DataFrame([r for _, r in kept], columns=header, dtype=str)
    frame["_line"] = np.array([n for n, _ in kept], dtype=np.int64)
    return frame[columns + ["_line"]]


def json_text(value):
    """DuckDB's json_extract_string of one value: the string itself, other JSON as text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _no_constant(name):
    raise ValueError(name)


def jsonl_rows(text: str, columns: list[str]) -> pd.DataFrame:
    """Lines that are JSON objects, as text columns (nested values as parsed JSON), with
    their line number."""
    lines = text.split("\n")
    if lines and lines[-1].rstrip("\r") == "":
        lines.pop()
    objects, numbers = [], []
    for n, line in enumerate(lines, 1):  # pandas' read_json cannot skip a bad line
        try:
            obj = json.loads(line.rstrip("\r"), parse_constant=_no_constant)
        except ValueError:
            continue
        if isinstance(obj, dict):
            objects.append(obj)
            numbers.append(n)
    frame = pd.DataFrame.from_records(objects, columns=columns)
    frame = frame.astype(object).where(frame.notna(), None)
    frame["_line"] = np.array(numbers, dtype=np.int64)
    return frame


def read_entity(root: Path, entity: str, up_to: date | None):
    """(typed rows as raw holds them, rejected CRM-style rows' text, the deliveries)."""
    fmt, spec = CONTRACT[entity]
    columns = list(spec)
    files = deliveries(root, entity, up_to)
    frames = []
    for d in files:
        if d.status != "loaded":
            continue
        text = decode(d.data, fmt)
        d.data = None
        if text is None:
            continue
        rows = csv_rows(text, columns) if fmt == "csv" else jsonl_rows(text, columns)
        if rows is None:
            d.status = "rejected"  # an empty CSV file
            continue
        if len(rows):
            frames.append(rows.assign(_dt=pd.Timestamp(d.dt), _batch=d.batch, _order=d.order))
    if frames:
        raw = pd.concat(frames, ignore_index=True)
    else:
        raw = pd.DataFrame(columns=columns + ["_line", "_dt", "_batch", "_order"])
    typed, ok = type_columns(raw, {c: k for c, k in spec.items()
                                   if not (k == ("text", False) and c in UNUSED[entity])}, fmt)
    rejected = raw[~ok].reset_index(drop=True)
    rejected = rejected.astype(object).where(rejected.notna() & (rejected != ""), None)
    return typed[ok].reset_index(drop=True), rejected, files


# --- typing by the contract (memberdw.parsing), vectorised -----------------------------------

def _text(s: pd.Series, fmt: str) -> pd.Series:
    """nullif(trim(text), ''): DuckDB's trim takes spaces only."""
    if fmt == "jsonl" and pd.api.types.infer_dtype(s, skipna=True) != "string":
        s = s.map(json_text, na_action="ignore")
    s = s.astype("str").str.strip(" ")
    return s.where(s != "")


def _timestamp(s: pd.Series, with_time: bool):
    """(value, valid) of ``YYYY-MM-DD[ HH:MM:SS]`` text (already matched by its pattern):
    strptime's, so 2026-02-30 or 25:00:00 do not parse."""
    fmt = "%Y-%m-%d %H:%M:%S" if with_time else "%Y-%m-%d"
    value = pd.to_datetime(s, format=fmt, errors="coerce")
    return value, value.notna()


def _money_cents(s: pd.Series) -> pd.Series:
    """Money text (already matched by its pattern) as integer cents, exactly: through a
    float where that is exact (below 10^13 yuan), digit by digit beyond."""
    number = pd.to_numeric(s)
    cents = pd.Series(np.round(number.to_numpy() * 100), index=s.index).astype("Int64")
    big = (number.abs() >= 1e13).to_numpy()
    if big.any():
        parts = s[big].str.extract(r"^(-?)([0-9]+)(?:\.([0-9]{1,2}))?$")
        exact = (pd.to_numeric(parts[1]).astype("Int64") * 100
                 + pd.to_numeric(parts[2].fillna("0").str.ljust(2, "0")).astype("Int64"))
        cents[big] = exact.where(parts[0] != "-", -exact)
    return cents


def type_columns(raw: pd.DataFrame, spec: dict, fmt: str):
    """Typed columns and whether each row parses (memberdw.parsing.typed_select)."""
    out = pd.DataFrame(index=raw.index)
    ok = pd.Series(True, index=raw.index)
    for col, (kind, required) in spec.items():
        if kind in ("json_list", "order_items"):
            value = raw[col]
            present = value.notna()
            out[col] = value
            if kind == "json_list":
                ok &= ~present | value.map(lambda v: isinstance(v, list))
            else:
                ok &= ~present | value.map(_items_ok)
            continue
        s = _text(raw[col], fmt)
        present = s.notna()
        if required:
            ok &= present
        if kind == "text":
            out[col] = s
            continue
        p = s.fillna("")
        if kind == "int":
            good = p.str.fullmatch(INT_RE)
            out[col] = pd.to_numeric(s.where(good)).astype("Int64")
        elif kind == "money":
            good = p.str.fullmatch(MONEY_RE)
            out[col] = _money_cents(s.where(good))
        elif kind == "local_ts":
            good = p.str.fullmatch(LOCAL_TS_RE)
            value, valid = _timestamp(s.where(good), True)
            good &= valid
            out[col] = value  # Asia/Shanghai wall time, as staging's business_time gives it
        elif kind == "iso_ts":
            good = p.str.fullmatch(ISO_TS_RE)
            value = pd.to_datetime(s.where(good), utc=True, format="ISO8601", errors="coerce")
            good &= value.notna()
            out[col] = value.dt.tz_convert(TZ).dt.tz_localize(None)
        elif kind == "date":
            good = p.str.fullmatch(DATE_RE)
            value, valid = _timestamp(s.where(good), False)
            good &= valid
            out[col] = value
        elif kind == "flag":
            good = p.str.fullmatch("[01]")
            out[col] = (s == "1").where(present).astype("boolean")
        elif kind == "mobile":
            compact = p.str.replace(r"[ -]", "", regex=True)
            good = compact.str.fullmatch(MOBILE_RE)
            out[col] = compact.str.slice(-11).where(present)
        else:
            raise ValueError(kind)
        ok &= ~present | good
    for col in ("_line", "_dt", "_batch", "_order"):
        out[col] = raw[col].to_numpy()
    return out, ok


def _items_ok(items) -> bool:
    """order_items: a JSON array of objects whose quantity and amounts parse."""
    if not isinstance(items, list):
        return False
    for item in items:
        if not isinstance(item, dict):
            return False
        for field, pattern in (("quantity", INT_RE), ("unit_price", MONEY_RE),
                               ("paid_amount", MONEY_RE)):
            if not re.fullmatch(pattern, json_text(item.get(field)) or ""):
                return False
    return True


def newest(frame: pd.DataFrame, key: list[str], order: list[str]) -> pd.DataFrame:
    """Row 1 of each key by ``order`` (all descending): staging's version_rank = 1."""
    ranked = frame.sort_values(order + ["_order"], ascending=False, kind="stable")
    return ranked.drop_duplicates(key, keep="first")


# --- identity resolution ---------------------------------------------------------------------

def id_map(members: pd.DataFrame) -> pd.Series:
    """source member_id -> merged member_id: members linked by a mobile or a unionid,
    directly or through others, take the smallest member_id of their group; erased (and
    not plainly not-deleted) members merge with nobody."""
    ids = np.sort(members["member_id"].to_numpy(object))
    alive = members[members["is_deleted"].eq(False).fillna(False).to_numpy(bool)]
    links = pd.concat([
        pd.DataFrame({"member": alive["member_id"], "identity": "m:" + alive["mobile"]}),
        pd.DataFrame({"member": alive["member_id"], "identity": "u:" + alive["unionid"]}),
    ]).dropna()
    links = links[links.groupby("identity")["member"].transform("size") > 1]
    member = np.searchsorted(ids, links["member"].to_numpy(object))  # ids as their rank
    identity = pd.factorize(links["identity"])[0]
    label = np.arange(len(ids))
    while len(member):  # label propagation to the group minimum
        group_min = pd.Series(label[member]).groupby(identity).transform("min").to_numpy()
        best = pd.Series(group_min).groupby(member).min()
        lower = best.to_numpy() < label[best.index]
        if not lower.any():
            break
        label[best.index[lower]] = best.to_numpy()[lower]
    return pd.Series(ids[label], index=ids)


def text_agg(grouped_by, values: pd.Series, how: str) -> pd.Series:
    """min/max of a text column per group, as SQL takes them (NULLs ignored). pandas
    aggregates python-backed strings group by group; their sorted ranks it does in C."""
    codes, uniques = pd.factorize(values, sort=True)
    ranks = pd.Series(np.where(codes < 0, np.nan, codes), index=values.index)
    picked = getattr(ranks.groupby(grouped_by, sort=False), how)()
    texts = np.asarray(uniques, dtype=object)[np.nan_to_num(picked.to_numpy()).astype(np.int64)]
    return pd.Series(texts, index=picked.index).where(picked.notna().to_numpy())


# --- the computation -------------------------------------------------------------------------

def rfm(landing_root, as_of=None, *, as_of_run: bool = False, now: datetime | None = None
        ) -> pd.DataFrame:
    """mart_member_rfm as memberdw builds it from ``landing_root`` (the current snapshot,
    as of ``as_of``; None or "auto": the newest order date). ``as_of_run``: reproduce
    ``memberdw run --as-of AS_OF`` (deliveries after it ignored, the future bound the day
    after it) rather than a run without --as-of (everything delivered, bound = ``now``)."""
    root = Path(landing_root)
    var = project_vars()
    dead = str(var["erased_member_id"])
    explicit = None if as_of in (None, "", "auto") else pd.Timestamp(str(as_of)).normalize()
    up_to = explicit.date() if as_of_run and explicit is not None else None
    if up_to:
        bound = pd.Timestamp(up_to + timedelta(days=1))
    else:
        bound = pd.Timestamp((now or datetime.now(ZoneInfo(TZ))).replace(tzinfo=None))

    crm, crm_bad, _ = read_entity(root, "crm/members", up_to)
    pos, _, _ = read_entity(root, "pos/order_lines", up_to)
    mini, _, _ = read_entity(root, "miniapp/orders", up_to)
    stores_rows, _, store_files = read_entity(root, "stores/stores", up_to)

    # current store list: every file of the newest dt with a loaded (or duplicate) delivery
    # (a duplicate delivery's rows are those of the first copy of its bytes)
    snap = [d for d in store_files if d.status in ("loaded", "duplicate")]
    newest_dt = max((d.dt for d in snap), default=None)
    current = {d.content for d in snap if d.dt == newest_dt}
    stores = set(stores_rows.loc[stores_rows["_order"].isin(current), "store_code"])

    # erasure (memberdw.erasure): requests from loaded and rejected CRM records
    requests = set(crm.loc[crm["deleted"].eq(True).fillna(False).to_numpy(bool), "member_id"])
    bad = crm_bad[crm_bad["member_id"].notna() & (crm_bad["deleted"] == "1")]
    requests |= set(bad["member_id"])
    requests.discard(dead)
    erased_rows = crm["member_id"].isin(requests)
    kept_rows = ~erased_rows & (crm["member_id"] != dead) \
        & crm["deleted"].eq(False).fillna(False).to_numpy(bool)
    erased_values = {}
    for col in ("mobile", "unionid", "openid"):
        theirs = set(crm.loc[erased_rows, col].dropna())
        rejected = crm_bad.loc[crm_bad["member_id"].isin(requests), col].dropna()
        if col == "mobile":
            rejected = rejected.astype(str).str.replace(r"[^0-9]", "", regex=True).str.slice(-11)
        theirs |= set(rejected[rejected != ""])
        theirs -= set(crm.loc[kept_rows, col].dropna())
        erased_values[col] = {v for v in theirs if len(v) >= 2}
    crm.loc[erased_rows, ["mobile", "unionid", "openid", "name", "birthday"]] = None
    crm.loc[erased_rows, "member_id"] = dead
    pos.loc[pos["member_id"].isin(requests), "member_id"] = dead
    pos.loc[pos["mobile"].isin(erased_values["mobile"]), "mobile"] = None
    mini.loc[mini["member_id"].isin(requests), "member_id"] = dead
    for col in ("openid", "unionid"):
        mini.loc[mini[col].isin(erased_values[col]), col] = None

    # staging: the newest version of each key
    members = newest(crm, ["member_id"], ["updated_at", "_dt", "_batch", "_line"])
    members["is_deleted"] = members["deleted"] | (members["member_id"] == dead)
    lines = newest(pos, ["store_code", "order_no", "line_no"], ["_dt", "_batch", "_line"])
    orders = newest(mini, ["order_id"], ["updated_at", "_dt", "_batch", "_line"])

    # Great Expectations quarantine rules on what reaches the facts
    lines = lines[lines["order_type"].isin(["sale", "return"])
                  & lines["store_code"].isin(stores) & ~(lines["order_time"] >= bound)]
    orders = orders[orders["status"].isin(PAID)
                    & (orders["store_code"].isna() | orders["store_code"].isin(stores))
                    & ~(orders["created_at"] >= bound)]
    key_fields = (members[["mobile", "unionid", "name", "gender", "birthday", "city",
                           "register_time", "register_channel", "register_store_code",
                           "tier"]].isna().sum(axis=1))
    incomplete = ~members["is_deleted"].fillna(False).to_numpy(bool) & (
        key_fields / 10.0 > float(var["incomplete_profile_max_missing_share"]))

    # identity resolution and the members the marts are about
    merged = id_map(members)
    alive = members[members["is_deleted"].eq(False).fillna(False).to_numpy(bool)].copy()
    alive["merged_id"] = alive["member_id"].map(merged)
    resolved = set(alive.loc[~incomplete[alive.index], "merged_id"])
    by_identity = {}
    for col in ("mobile", "unionid", "openid"):
        keyed = alive.dropna(subset=[col])
        by_identity[col] = text_agg(keyed[col], keyed["merged_id"], "min")
    by_mobile, by_unionid, by_openid = by_identity.values()

    # POS tickets (int_orders__pos)
    # max(mobile_hash): only a ticket whose lines carry different mobiles needs the hash
    hashed = bool(len(lines)) and bool(
        (lines.groupby(["store_code", "order_no"])["mobile"].transform("nunique") > 1).any())
    mobile_key = lines["mobile"].map(_pii_hash, na_action="ignore") if hashed else lines["mobile"]
    ticket = [lines["store_code"], lines["order_no"]]
    by_ticket = lines.groupby(ticket, sort=False)
    tickets = by_ticket.agg(ordered_at=("order_time", "min"), gmv=("paid_amount", "sum"))
    for name, column in (("source_member_id", lines["member_id"]), ("mobile_key", mobile_key),
                         ("order_type", lines["order_type"]),
                         ("original_order_no", lines["original_order_no"])):
        tickets[name] = text_agg(ticket, column, "max")
    tickets = tickets.reset_index()
    if hashed:
        tickets["mobile"] = tickets["mobile_key"].map(dict(zip(mobile_key, lines["mobile"])))
    else:
        tickets["mobile"] = tickets["mobile_key"]
    owner = tickets["source_member_id"].map(merged)
    card_less = tickets["source_member_id"].isna()
    owner = owner.where(~card_less, tickets["mobile"].map(by_mobile))
    pos_orders = pd.DataFrame({
        "order_id": "pos:" + tickets["store_code"] + ":" + tickets["order_no"],
        "member_id": owner,
        "order_date": tickets["ordered_at"].dt.normalize(),
        "order_type": tickets["order_type"],
        "original_order_id": ("pos:" + tickets["store_code"] + ":"
                              + tickets["original_order_no"]).where(
            tickets["order_type"] == "return"),
        "gmv": tickets["gmv"].astype("Int64"),
    })

    # mini-program orders and their refunds (int_orders__miniapp)
    owner = orders["member_id"].map(merged)
    owner = owner.fillna(orders["unionid"].map(by_unionid)).fillna(orders["openid"].map(by_openid))
    sales = pd.DataFrame({
        "order_id": "mp:" + orders["order_id"], "member_id": owner,
        "order_date": orders["paid_at"].fillna(orders["created_at"]).dt.normalize(),
        "order_type": "sale", "original_order_id": None,
        "gmv": orders["total_paid"].astype("Int64")})
    refunded = (orders["status"] == "refunded").to_numpy()
    refunds = pd.DataFrame({
        "order_id": sales["order_id"][refunded] + ":refund",
        "member_id": owner[refunded],
        "order_date": orders["updated_at"][refunded].dt.normalize(),
        "order_type": "refund", "original_order_id": sales["order_id"][refunded],
        "gmv": -sales["gmv"][refunded]})
    unioned = pd.concat([pos_orders, sales, refunds], ignore_index=True)
    unioned["member_id"] = unioned["member_id"].astype(object)

    if explicit is None:
        explicit = unioned["order_date"].max()
    d = explicit

    # each sale netted with its own returns and refunds (int_orders_unioned)
    returns = (unioned.dropna(subset=["original_order_id"])
               .groupby(["original_order_id", "order_date"], as_index=False)["gmv"].sum(min_count=1))
    sale_gmv = unioned.loc[unioned["order_type"] == "sale"].set_index("order_id")["gmv"]
    returns = returns[returns["original_order_id"].isin(sale_gmv.index)].sort_values(
        ["original_order_id", "order_date"])
    returns["net"] = (returns["original_order_id"].map(sale_gmv)
                      + returns.groupby("original_order_id")["gmv"].cumsum())
    returned_in_full = (returns[(returns["net"] <= 0).fillna(False).to_numpy(bool)]
                        .groupby("original_order_id")["order_date"].min())
    unioned["returned_in_full_date"] = unioned["order_id"].map(returned_in_full)

    # RFM as of D (int_member_rfm, current snapshot)
    o = unioned[unioned["member_id"].isin(resolved) & (unioned["order_date"] <= d)].copy()
    window_start = d - pd.Timedelta(days=int(var["rfm_window_days"]) - 1)
    o["in_window"] = o["order_date"] >= window_start
    o["purchase"] = ((o["order_type"] == "sale") & (o["gmv"] > 0).fillna(False)
                     & (o["returned_in_full_date"].isna() | (o["returned_in_full_date"] > d)))
    purchases = o[o["purchase"]]
    per_member = pd.DataFrame({
        "last_purchase": purchases.groupby("member_id")["order_date"].max(),
        "frequency": purchases[purchases["in_window"]].groupby("member_id")["order_id"].nunique(),
        "monetary": o[o["in_window"]].groupby("member_id")["gmv"].sum(),
    })
    per_member = per_member[per_member["last_purchase"].notna()]
    out = pd.DataFrame({"member_id": per_member.index.astype(object)})
    out["recency_days"] = (d - per_member["last_purchase"]).dt.days.to_numpy(np.int64)
    out["frequency"] = per_member["frequency"].fillna(0).to_numpy(np.int64)
    out["monetary_cents"] = per_member["monetary"].fillna(0).to_numpy(np.int64)
    n = len(out)
    for score, column, ascending in (("r_score", "recency_days", False),
                                     ("f_score", "frequency", True),
                                     ("m_score", "monetary_cents", True)):
        first = out[column].rank(method="min", ascending=ascending).to_numpy()
        percent = (first - 1) / (n - 1) if n > 1 else np.zeros(n)
        out[score] = np.minimum(5, 1 + np.floor(5 * percent)).astype(np.int64)
    # high/low against the mean, compared exactly: x >= sum / n  <=>  x * n >= sum
    r_high = out["recency_days"] * n <= out["recency_days"].sum()
    f_high = out["frequency"] * n >= out["frequency"].sum()
    m_high = out["monetary_cents"] * n >= out["monetary_cents"].sum()
    segment = np.select(
        [r_high & f_high & m_high, r_high & ~f_high & m_high, ~r_high & f_high & m_high,
         ~r_high & ~f_high & m_high, r_high & f_high, r_high, f_high],
        ["important_value", "important_develop", "important_retain", "important_winback",
         "general_value", "general_develop", "general_retain"], "general_winback")
    out["rfm_segment"] = segment
    out["rfm_segment_cn"] = out["rfm_segment"].map(SEGMENT_CN)
    out["value_group"] = out["rfm_segment"].map(VALUE_GROUP)
    out["lifecycle_stage"] = np.select(
        [out["recency_days"] <= var["core_days"], out["recency_days"] <= var["potential_days"],
         out["recency_days"] <= var["normal_days"]], ["core", "potential", "normal"], "dormant")
    out["monetary_amount"] = [Decimal(int(c)).scaleb(-2) for c in out["monetary_cents"]]
    out["as_of_date"] = d.date()
    return out[RFM_COLUMNS].sort_values("member_id", ignore_index=True)


def _pii_hash(value: str) -> str:
    """staging's mobile_hash (HMAC-SHA256 under MEMBERDW_PII_KEY), only to break the tie
    max(mobile_hash) breaks when the lines of one ticket carry different mobiles."""
    key = os.environ.get("MEMBERDW_PII_KEY", "")
    if not key:
        return value
    return hmac.digest(key.encode("utf-8"), value.encode("utf-8"), "sha256").hex()


def peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def run(landing_root, as_of: str, **options) -> dict:
    """Compute the snapshot; seconds (reading the files included), rows and peak RSS."""
    started = time.perf_counter()
    result = rfm(landing_root, as_of, **options)
    return {"seconds": round(time.perf_counter() - started, 3), "members": len(result),
            "peak_mb": peak_mb()}


def compare(result: pd.DataFrame, warehouse_dir) -> dict:
    """Rows of ``result`` and ``<wh>/marts.duckdb`` mart_member_rfm that differ: a full
    outer join on member_id, every column compared (decimals to the cent)."""
    import duckdb

    con = duckdb.connect(str(Path(warehouse_dir) / "marts.duckdb"), read_only=True)
    try:
        mart = con.execute("select * from mart_member_rfm").df()
    finally:
        con.close()
    both = result.merge(mart, on="member_id", how="outer", suffixes=("_pandas", "_mart"),
                        indicator=True)
    differs = both["_merge"] != "both"
    by_column = {}
    for col in RFM_COLUMNS[2:] + ["as_of_date"]:
        a, b = both[col + "_pandas"], both[col + "_mart"]
        if col == "monetary_amount":
            a, b = (x.map(lambda v: None if pd.isna(v) else round(Decimal(v) * 100),
                          na_action="ignore") for x in (a, b))
        elif col == "as_of_date":
            a, b = (pd.to_datetime(x).dt.date for x in (a, b))
        else:
            a, b = a.astype(object), b.astype(object)
        bad = ~((a == b) | (a.isna() & b.isna())) & (both["_merge"] == "both")
        by_column[col] = int(bad.sum())
        differs |= bad
    sample = both.loc[differs].head(5).astype(str).to_dict("records")
    return {"mart_rows": len(mart), "pandas_rows": len(result),
            "only_in_pandas": int((both["_merge"] == "left_only").sum()),
            "only_in_mart": int((both["_merge"] == "right_only").sum()),
            "rows_differing": int(differs.sum()), "by_column": by_column, "sample": sample}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("landing", type=Path)
    ap.add_argument("as_of", help="snapshot date YYYY-MM-DD, or auto (newest order date)")
    ap.add_argument("--compare", type=Path, metavar="WAREHOUSE_DIR",
                    help="also count rows differing from <wh>/marts.duckdb mart_member_rfm")
    ap.add_argument("--as-of-run", action="store_true",
                    help="reproduce `memberdw run --as-of AS_OF` (deliveries up to it, future"
                         " bound the next day) instead of a run without --as-of")
    args = ap.parse_args()
    started = time.perf_counter()
    result = rfm(args.landing, args.as_of, as_of_run=args.as_of_run)
    report = {"seconds": round(time.perf_counter() - started, 3), "members": len(result),
              "peak_mb": peak_mb()}
    if args.compare:
        report["compare"] = compare(result, args.compare)
    print(json.dumps(report, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
