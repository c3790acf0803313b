"""Turn the generated world into contract text: one ``Table`` per entity holding, for the
big entities, compact arrays and a function that renders any range of rows as bytes
(``memberdw.generate.text``), for the small ones the formatted column values (CSV) or
rendered lines (JSON Lines); and the dt of every row and the file it belongs to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from memberdw.contract import BY_KEY, Entity
from memberdw.generate import text as X
from memberdw.generate.fmt import (DAY, HOUR, S, Calendar, blank_where, cat, csv_join, csv_quote,
                                   int_text, money, sarr, to_list, zpad)
from memberdw.generate.world import TIERS, Campaigns, Members, Skus, Stores

# rows rendered at once: bounds the byte matrices of ``text.assemble``
RENDER_ROWS = 8_192


@dataclass
class Table:
    entity: Entity
    day: np.ndarray  # int day of every row
    file: np.ndarray  # file of every row: its name, or an index into `names` (contiguous)
    files: list[tuple[int, str]]  # every file to deliver, including empty ones
    cols: dict[str, list[str]] = field(default_factory=dict)  # CSV: quoted field text
    lines: list[str] | None = None  # JSONL: one JSON object per row
    raw: dict[str, np.ndarray] = field(default_factory=dict)  # some raw values
    names: list[str] | None = None
    # byte tables: CSV rows lo..hi -> {column: pieces}; JSONL rows lo..hi -> pieces
    pieces: Callable[[int, int], dict] | None = None
    jpieces: Callable[[int, int], list] | None = None
    _block: tuple | None = field(default=None, repr=False)

    def name_of(self, f) -> str:
        return self.names[int(f)] if self.names is not None else f

    def body(self, lo: int, hi: int, header: list[str] | None, eol: str = "\n") -> bytes:
        """Rows lo..hi-1 as bytes, each ending with `eol` (CSV fields in `header` order)."""
        if hi <= lo:
            return b""
        if self.pieces is None and self.jpieces is None:
            if self.entity.format == "csv":
                text = eol.join(csv_join([self.cols[c][lo:hi] for c in header])) + eol
            else:
                text = "\n".join(self.lines[lo:hi]) + "\n"
            return text.encode("utf-8")
        plain = self.jpieces is not None or (eol == "\n"
                                             and list(header) == self.entity.column_names)
        if not plain:
            return b"".join(self._render(a, min(hi, a + RENDER_ROWS), header, eol)[0]
                            for a in range(lo, hi, RENDER_ROWS))
        # files are written in row order: render blocks of rows across files, cut them up
        out = []
        while lo < hi:
            blk = self._block
            if blk is None or not blk[0] <= lo < blk[1]:
                b = min(len(self.day), lo + RENDER_ROWS)
                data, ends = self._render(lo, b, header, eol)
                blk = self._block = (lo, b, data, np.r_[0, ends])
            a, b, data, offs = blk
            end = min(hi, b)
            out.append(data[offs[lo - a]:offs[end - a]])
            lo = end
        return b"".join(out)

    def _render(self, lo: int, hi: int, header, eol) -> tuple[bytes, np.ndarray]:
        if self.jpieces is not None:
            row = self.jpieces(lo, hi) + [X.const("\n")]
        else:
            cols = self.pieces(lo, hi)
            row = X.csv_row([cols[c] for c in header], eol)
        return X.assemble(row, hi - lo), np.cumsum(X.row_lengths(row, hi - lo))

    def fields(self, i: int, header: list[str]) -> list[str]:
        """The CSV field texts of row i."""
        if self.pieces is None:
            return [str(self.cols[c][i]) for c in header]
        cols = self.pieces(i, i + 1)
        return [X.assemble(cols[c], 1).decode("utf-8") for c in header]

    def line(self, i: int) -> str:
        """The JSON text of row i."""
        if self.jpieces is None:
            return self.lines[i]
        return X.assemble(self.jpieces(i, i + 1), 1).decode("utf-8")


def _sort(*keys) -> np.ndarray:
    """Row order by keys (first key most significant)."""
    keys = [np.asarray(k) for k in keys]
    if len(keys[0]) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.lexsort(keys[::-1])


def _finish(entity_key: str, day, file, values: dict, files: list[tuple[int, str]]) -> Table:
    """Rows must already be in delivery order (grouped by day and file)."""
    ent = BY_KEY[entity_key]
    cols = {c: csv_quote(to_list(values[c])) for c in ent.column_names}
    n = len(day)
    assert all(len(v) == n for v in cols.values()), entity_key
    return Table(ent, np.asarray(day, dtype=np.int64), np.asarray(file, dtype=object),
                 sorted(set(files)), cols=cols)


def _daily(entity_key: str, cal: Calendar, stem: str, day, ext: str = "csv", **kw) -> Table:
    """A byte table with one file per day (rows sorted by day)."""
    files, names = daily_files(cal, stem, ext)
    day = np.asarray(day, dtype=np.int32)
    return Table(BY_KEY[entity_key], day, day, files, names=names.tolist(), **kw)


def _ids(arr_ids: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Ids for indices; -1 -> empty."""
    idx = np.asarray(idx, dtype=np.int64)
    ids = np.asarray(arr_ids)
    if ids.dtype != S:
        ids = ids.astype(S)
    return np.where(idx >= 0, ids[np.maximum(idx, 0)], sarr(""))


def daily_files(cal: Calendar, stem: str, ext: str = "csv") -> tuple[list, np.ndarray]:
    days = np.arange(cal.days)
    names = cat(stem + "_", cal.compact(days), "." + ext).astype(object)
    return list(zip(days.tolist(), names.tolist())), names


def snapshot_days(cal: Calendar) -> list[int]:
    return sorted(set(range(0, cal.days, 7)) | {cal.days - 1})


# ---------------------------------------------------------------------------- byte helpers

class Texts:
    """Byte tables shared by the renderers: the clock, member and store texts."""

    def __init__(self, cal: Calendar, stores: Stores, skus: Skus, m: Members, guests=None,
                 camp: Campaigns | None = None):
        self.clock = X.Clock(cal)
        self.m = m
        self._member: dict = {}
        self.store = X.TextTable(stores.df["code"].tolist(), quote_csv=True)
        self.sku = X.TextTable(skus.code.tolist(), quote_csv=True)
        self.category = X.TextTable(skus.category.tolist(), quote_csv=True)
        self.jsku = X.TextTable(skus.code.tolist(), json_quoted=True)
        self.jcategory = X.TextTable(skus.category.tolist(), json_quoted=True)
        self.guests = guests
        if camp is not None:
            self.campaign = X.TextTable(camp.df["campaign_id"].tolist(), quote_csv=True)

    def member_id(self, mi, none=None) -> list:
        """``M0000001`` of member indices (nothing where `none`)."""
        mi = np.asarray(mi, dtype=np.int64)
        p = [X.const("M"), X.ints(np.maximum(mi, 0) + 1, zero_width=7)]
        return X.blank(p, none, len(mi)) if none is not None else p

    def attr(self, name: str, json: bool = False) -> tuple[np.ndarray, X.TextTable]:
        """(code per member, table) of a text attribute of the members."""
        key = (name, json)
        if key not in self._member:
            codes, uniq = X.factorize(getattr(self.m, name))
            self._member[key] = (codes, X.TextTable(uniq, quote_csv=not json, json_quoted=json))
        return self._member[key]

    def member_text(self, name: str, mi) -> list:
        codes, tab = self.attr(name)
        return [tab.piece(codes[np.asarray(mi, dtype=np.int64)])]

    def user_json(self, name: str, mi, gi) -> tuple[list, np.ndarray]:
        """JSON literal of a member's (mi >= 0) or a guest's (gi) openid/unionid, and
        whether it is empty."""
        key = ("user", name)
        if key not in self._member:
            codes, uniq = X.factorize(np.r_[getattr(self.m, name).astype(object),
                                            self.guests[name].to_numpy().astype(object)])
            self._member[key] = (codes, X.TextTable(uniq, json_quoted=True),
                                 np.array([u == "" for u in uniq]))
        codes, tab, empty = self._member[key]
        mi = np.asarray(mi, dtype=np.int64)
        c = codes[np.where(mi >= 0, mi, self.m.n + np.asarray(gi, dtype=np.int64))]
        return [tab.piece(c)], empty[c]

    def user_opt(self, key: str, name: str, mi, gi, null, omit) -> list:
        """An optional JSON member: a member's or guest's openid/unionid (null where
        empty or where `null`)."""
        self.user_json(name, np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))
        codes, tab, empty = self._member[("user", name)]
        mi = np.asarray(mi, dtype=np.int64)
        c = codes[np.where(mi >= 0, mi, self.m.n + np.asarray(gi, dtype=np.int64))]
        return X.jopt_table(key, tab, c, empty[c] | null, omit)


def _code(values, categories) -> np.ndarray:
    c = pd.Categorical(np.asarray(values, dtype=object), categories=list(categories)).codes
    assert (c >= 0).all()
    return c.astype(np.int8)


# ---------------------------------------------------------------------------- crm

def crm_members(rng, cal: Calendar, m: Members, v: pd.DataFrame, tx: Texts) -> Table:
    o = _sort(v["day"], v["t"], v["member"])
    v = v.iloc[o]
    mi = v["member"].to_numpy().astype(np.int32)
    tier = v["tier"].to_numpy().astype(np.int8)
    points = v["points"].to_numpy().astype(np.int64)
    sms = v["sms"].to_numpy().astype(np.int8)
    t = v["t"].to_numpy().astype(np.int64)
    deleted = v["deleted"].to_numpy().astype(np.int8)
    tiers = X.TextTable(TIERS.tolist())
    ck = tx.clock

    def pieces(lo, hi):
        i = mi[lo:hi]
        n = hi - lo
        return {
            "member_id": tx.member_id(i),
            "mobile": X.mobile(m.mobile[i], m.mobile_fmt[i]),
            "unionid": tx.member_text("unionid", i), "openid": tx.member_text("openid", i),
            "name": tx.member_text("name", i), "gender": tx.member_text("gender", i),
            "birthday": X.blank([ck.date(m.birthday_day[i])], m.birthday_blank[i], n),
            "province": tx.member_text("province", i),
            "city": X.blank(tx.member_text("city", i), m.city_blank[i], n),
            "register_time": X.blank(ck.local_ts(m.t_reg[i]), m.reg_time_blank[i], n),
            "register_channel": tx.member_text("channel", i),
            "register_store_code": tx.member_text("store_code", i),
            "referrer_member_id": tx.member_text("referrer", i),
            "tier": X.blank([tiers.piece(tier[lo:hi])], m.tier_blank[i], n),
            "points_balance": [X.ints(points[lo:hi])],
            "sms_opt_in": [X.ints(sms[lo:hi])],
            "updated_at": ck.local_ts(t[lo:hi]),
            "deleted": [X.ints(deleted[lo:hi])],
        }
    return _daily("crm/members", cal, "members", v["day"].to_numpy(), pieces=pieces)


# ---------------------------------------------------------------------------- pos

def by_oid(orders: pd.DataFrame, col: str, fill=-1) -> np.ndarray:
    """Dense array indexed by oid."""
    vals = orders[col].to_numpy()
    if not isinstance(vals.dtype, np.dtype) or vals.dtype.kind in "OUT":
        vals = vals.astype(object)
    arr = np.full(int(orders["oid"].max()) + 1, fill, dtype=vals.dtype)
    arr[orders["oid"].to_numpy()] = vals
    return arr


class OrderNumbers:
    """order_no of POS orders (``<store>-<yyyymmdd>-<seq>``) or order_id of mini-program
    orders (``MO<yyyymmdd><seq>``), by oid: ``[oids]`` gives text ("" for other orders),
    ``pieces(oids)`` bytes."""

    def __init__(self, cal: Calendar, orders: pd.DataFrame, channel: int, stores: Stores):
        sel = orders[orders["channel"] == channel]
        n = int(orders["oid"].max()) + 1
        if channel == 0:
            o = _sort(sel["store"], sel["day"], sel["t"], sel["oid"])
            sel = sel.iloc[o]
            seq = sel.groupby(["store", "day"], sort=False).cumcount().to_numpy() + 1
        else:
            sel = sel.iloc[_sort(sel["day"], sel["t"], sel["oid"])]
            seq = sel.groupby("day", sort=False).cumcount().to_numpy() + 1
        self.channel, self.cal = channel, cal
        self.seq = np.zeros(n, dtype=np.int32)
        self.day = np.zeros(n, dtype=np.int32)
        self.store = np.zeros(n, dtype=np.int16)
        oid = sel["oid"].to_numpy()
        self.seq[oid] = seq
        self.day[oid] = sel["day"].to_numpy()
        self.store[oid] = sel["store"].to_numpy()
        self.codes = stores.df["code"].to_numpy().astype(object)

    def __getitem__(self, oids) -> np.ndarray:
        if np.ndim(oids) == 0:
            return self[np.array([oids])][0]
        oids = np.asarray(oids, dtype=np.int64)
        seq = self.seq[oids]
        if self.channel == 0:
            txt = cat(self.codes[self.store[oids]], "-", self.cal.compact(self.day[oids]), "-",
                      zpad(seq, 4))
        else:
            txt = cat("MO", self.cal.compact(self.day[oids]), zpad(seq, 6))
        return np.where(seq > 0, txt, sarr("")) if len(oids) else np.zeros(0, dtype=object)

    def pieces(self, oids, tx: Texts, none=None) -> list:
        oids = np.asarray(oids, dtype=np.int64)
        day = tx.clock.day_compact(self.day[oids])
        if self.channel == 0:
            p = [tx.store.piece(self.store[oids]), X.const("-"), day, X.const("-"),
                 X.ints(self.seq[oids], zero_width=4)]
        else:
            p = [X.const("MO"), day, X.ints(self.seq[oids], zero_width=6)]
        return X.blank(p, none, len(oids)) if none is not None else p


def pos_numbers(cal: Calendar, stores: Stores, orders: pd.DataFrame) -> OrderNumbers:
    return OrderNumbers(cal, orders, 0, stores)


def mini_ids(cal: Calendar, orders: pd.DataFrame, stores: Stores) -> OrderNumbers:
    return OrderNumbers(cal, orders, 1, stores)


def coupon_number(codes) -> np.ndarray:
    """The number of coupon codes ``CQ0000000012`` (0 for "")."""
    codes = np.asarray(codes, dtype=object)
    out = np.zeros(len(codes), dtype=np.int64)
    has = np.flatnonzero(codes != "")
    out[has] = [int(c[2:]) for c in codes[has].tolist()]
    return out


def coupon_pieces(num, none) -> list:
    p = [X.const("CQ"), X.ints(num, zero_width=10)]
    return X.blank(p, none, len(num)) if none is not None else p


# salts of the per-row rendering draws (text.coin)
SALT = {"pos money": 1, "crm": 2, "events utc": 3, "events omit": 4, "orders utc": 5,
        "orders omit": 6, "orders money": 7, "ledger money": 8, "issues utc": 9,
        "audience utc": 10, "touches utc": 11}


def pos_lines(rng, cal, stores: Stores, skus: Skus, m: Members, orders, lines,
              order_no: OrderNumbers, tx: Texts) -> Table:
    ch = by_oid(orders, "channel")
    ln = lines[ch[lines["oid"].to_numpy()] == 0]
    line_no = ln.groupby("oid", sort=False).cumcount().to_numpy() + 1
    oi = ln["oid"].to_numpy()
    store = by_oid(orders, "store")[oi]
    day = by_oid(orders, "day")[oi]
    t = by_oid(orders, "t")[oi]
    o = _sort(day, store, t, oi, line_no)
    oi, store, day = oi[o].astype(np.int32), store[o].astype(np.int16), day[o].astype(np.int32)
    t, line_no = t[o], line_no[o].astype(np.int16)
    ln = ln.iloc[o]
    sku = ln["sku"].to_numpy().astype(np.int16)
    qty = ln["qty"].to_numpy().astype(np.int32)
    price = ln["price"].to_numpy().astype(np.int64)
    disc = (ln["promo"].to_numpy() + ln["cdisc"].to_numpy()).astype(np.int64)
    paid = ln["paid"].to_numpy().astype(np.int64)
    coupon = coupon_number(ln["coupon"].to_numpy())
    del ln
    member = by_oid(orders, "member")
    typed = by_oid(orders, "typed", 0)
    typed_fmt = by_oid(orders, "typed_fmt", 0)
    pays = sorted(set(orders["pay"].tolist()))
    pay = _code(by_oid(orders, "pay", pays[0]), pays)
    ret = by_oid(orders, "order_type", "") == "return"
    orig = by_oid(orders, "orig")
    pay_t = X.TextTable(pays, quote_csv=True)
    type_t = X.TextTable(["sale", "return"])
    ck = tx.clock
    d = cal.days

    def pieces(lo, hi):
        n = hi - lo
        o_ = oi[lo:hi]
        idx = np.arange(lo, hi)
        s = sku[lo:hi]
        mem = member[o_]
        org = orig[o_]
        short = [X.coin(SALT["pos money"] * 3 + k, idx, 0.5) for k in range(3)]
        return {
            "store_code": [tx.store.piece(store[lo:hi])],
            "order_no": order_no.pieces(o_, tx),
            "line_no": [X.ints(line_no[lo:hi])],
            "order_time": ck.local_ts(t[lo:hi]),
            "member_id": tx.member_id(mem, mem < 0),
            "mobile": X.mobile(typed[o_], typed_fmt[o_]),
            "sku_code": [tx.sku.piece(s)], "category": [tx.category.piece(s)],
            "quantity": [X.ints(qty[lo:hi])],
            "unit_price": X.money(price[lo:hi], short[0]),
            "discount_amount": X.money(disc[lo:hi], short[1]),
            "paid_amount": X.money(paid[lo:hi], short[2]),
            "coupon_code": X.sparse(lambda r: coupon_pieces(coupon[lo:hi][r], None),
                                    coupon[lo:hi] > 0),
            "payment_method": [pay_t.piece(pay[o_])],
            "order_type": [type_t.piece(ret[o_].astype(np.int8))],
            "original_order_no": X.sparse(lambda r: order_no.pieces(org[r], tx), org >= 0),
        }
    s_idx, d_idx = np.nonzero(stores.open)
    codes = stores.df["code"].to_numpy().astype(S)
    names = cat("pos_", codes[np.arange(len(codes)).repeat(d)], "_",
                cal.compact(np.tile(np.arange(d), len(codes))), ".csv").tolist()
    files = [(int(dd), names[int(ss) * d + int(dd)]) for ss, dd in zip(s_idx, d_idx)]
    return Table(BY_KEY["pos/order_lines"], day, store.astype(np.int32) * d + day, files,
                 names=names, pieces=pieces)


# ---------------------------------------------------------------------------- miniapp

CHANNEL_UTM = {"sms": ("sms", "message"), "wecom": ("wecom", "private_domain"),
               "miniapp_push": ("miniapp", "push"), "moments_ad": ("moments", "paid_social"),
               "wechat_article": ("official_account", "article"), "ai_call": ("ai_call", "call")}
STATUSES = ["created", "cancelled", "paid", "shipped", "completed", "refunded"]


def _utm_tables(camp: Campaigns) -> tuple[X.TextTable, X.TextTable, X.TextTable]:
    """JSON literals by campaign row, and 'share'/'fission' after the last campaign."""
    chans = camp.df["channel"].tolist()
    src = [CHANNEL_UTM.get(c, ("other", "other"))[0] for c in chans] + ["share", ""]
    med = [CHANNEL_UTM.get(c, ("other", "other"))[1] for c in chans] + ["fission", ""]
    cid = camp.df["campaign_id"].tolist() + ["", ""]
    return (X.TextTable(src, json_quoted=True), X.TextTable(med, json_quoted=True),
            X.TextTable(cid, json_quoted=True))


def mini_orders(rng, cal, stores, skus, m: Members, guests, camp: Campaigns, orders, lines,
                versions, mini_id: OrderNumbers, tx: Texts) -> Table:
    mo = orders[orders["channel"] == 1]
    moid = mo["oid"].to_numpy()
    n_o = len(mo)
    pos_of = np.full(int(orders["oid"].max()) + 1, -1, dtype=np.int64)
    pos_of[moid] = np.arange(n_o)
    ch = by_oid(orders, "channel")
    ln = lines[ch[lines["oid"].to_numpy()] == 1]
    loid = ln["oid"].to_numpy()
    assert (np.diff(loid) >= 0).all()
    l_sku = ln["sku"].to_numpy().astype(np.int16)
    l_qty = ln["qty"].to_numpy().astype(np.int32)
    l_price = ln["price"].to_numpy().astype(np.int64)
    l_paid = ln["paid"].to_numpy().astype(np.int64)
    lp = pos_of[loid]
    cnt = np.bincount(lp, minlength=n_o)
    first = np.r_[0, np.cumsum(cnt)[:-1]].astype(np.int64)
    total = np.bincount(lp, weights=l_paid, minlength=n_o).astype(np.int64)
    coupon = np.zeros(n_o, dtype=np.int64)
    cnum = coupon_number(ln["coupon"].to_numpy())
    wc = cnum > 0
    coupon[lp[wc]] = cnum[wc]
    del ln
    mem = mo["member"].to_numpy().astype(np.int64)
    gi = mo["guest"].to_numpy().astype(np.int64)
    # utm: some orders come from an active campaign, a few through a member's share link
    nc = len(camp.df)
    utm = np.full(n_o, nc + 1, dtype=np.int16)  # campaign row, nc share, nc + 1 none
    oday = mo["day"].to_numpy()
    for ci, r in camp.df.iterrows():
        hit = ((oday >= r["start_day"]) & (oday <= r["end_day"]) & (rng.random(n_o) < 0.2)
               & (utm == nc + 1))
        utm[hit] = ci
    openid_m = m.openid
    sharers = np.flatnonzero(openid_m != "")
    shared_by = np.full(n_o, -1, dtype=np.int64)
    if len(sharers) > 1:
        shared = (rng.random(n_o) < 0.06) & (utm == nc + 1)
        pick = sharers[rng.integers(0, len(sharers), n_o)]
        buyer_openid = np.where(mem >= 0, openid_m[np.maximum(mem, 0)],
                                guests["openid"].to_numpy()[np.maximum(gi, 0)])
        shared &= openid_m[pick] != buyer_openid  # the sharer is another user
        shared_by[shared] = pick[shared]
        utm[shared] = nc
    store = mo["store"].to_numpy().astype(np.int16)
    t_created = mo["t"].to_numpy().astype(np.int64)
    t_paid = mo["t_paid"].to_numpy().astype(np.int64)
    # one line per status version, in dt / updated_at order
    tu_all = versions["tu"].to_numpy()
    v = versions.iloc[_sort(tu_all // DAY, tu_all, versions["oid"], versions["k"])]
    v_p = pos_of[v["oid"].to_numpy()].astype(np.int32)
    v_oid = v["oid"].to_numpy().astype(np.int32)
    v_tu = v["tu"].to_numpy().astype(np.int64)
    v_st = _code(v["status"].to_numpy(), STATUSES)
    del v
    src_t, med_t, cid_t = _utm_tables(camp)
    status_t = X.TextTable(STATUSES)
    ck = tx.clock
    comma = X.const(",")

    def items(p) -> X.Piece:
        """``[{...},{...}]`` of the orders at positions p."""
        k = cnt[p]
        li = np.repeat(first[p], k) + (np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k))
        nl = len(li)
        last = np.zeros(nl, dtype=bool)
        last[np.cumsum(k)[k > 0] - 1] = True
        short = [X.coin(SALT["orders money"] * 3 + j, li, 0.5) for j in range(2)]
        s = l_sku[li]
        row = ([X.const('{"sku_code":'), tx.jsku.piece(s), X.const(',"category":'),
                tx.jcategory.piece(s), X.const(',"quantity":'), X.ints(l_qty[li]),
                X.const(',"unit_price":"'), *X.money(l_price[li], short[0]),
                X.const('","paid_amount":"'), *X.money(l_paid[li], short[1]), X.const('"}')]
               + X.blank([comma], last, nl))
        flat = np.frombuffer(X.assemble(row, nl), dtype=np.uint8)
        per_line = X.row_lengths(row, nl)
        ends = np.cumsum(per_line)
        order_end = ends[np.cumsum(k) - 1] if nl else np.zeros(len(p), dtype=np.int64)
        lens = order_end - np.r_[0, order_end[:-1]] if len(p) else order_end
        return X.ragged(flat, order_end - lens, lens)

    def jpieces(lo, hi):
        n = hi - lo
        idx = np.arange(lo, hi)
        p = v_p[lo:hi]
        tu = v_tu[lo:hi]
        utc = X.coin(SALT["orders utc"], idx, 0.12)
        omit = X.coin(SALT["orders omit"], idx, 0.6)
        mm, gg = mem[p], gi[p]
        tp = t_paid[p]
        paid_known = (tp >= 0) & (tp <= tu)
        cp = coupon[p]
        u = utm[p]
        sb = shared_by[p]
        zero = np.zeros(n, dtype=np.int64)
        none = np.zeros(n, dtype=bool)
        return (X.jfield("order_id", mini_id.pieces(v_oid[lo:hi], tx), first=True)
                + tx.user_opt("openid", "openid", mm, gg, none, omit)
                + tx.user_opt("unionid", "unionid", mm, gg, none, omit)
                + X.jopt("member_id", tx.member_id(mm), mm < 0, omit, n)
                + X.jfield("store_code", [tx.store.piece(store[p])])
                + X.jfield("created_at", ck.iso_ts(t_created[p], utc))
                + X.jopt("paid_at", ck.iso_ts(np.maximum(tp, 0), utc), ~paid_known, omit, n)
                + X.jfield("updated_at", ck.iso_ts(tu, utc))
                + X.jfield("status", [status_t.piece(v_st[lo:hi])])
                + X.jfield("items", [X.const("["), items(p), X.const("]")], quoted=False)
                + X.jfield("coupon_codes", [X.const("[")] + X.blank(
                    [X.const('"')] + coupon_pieces(cp, none) + [X.const('"')], cp == 0, n)
                    + [X.const("]")], quoted=False)
                + X.jfield("total_paid", X.money(total[p], X.coin(SALT["orders money"], p, 0.5)))
                + X.jopt_table("utm_source", src_t, u, u > nc, omit)
                + X.jopt_table("utm_medium", med_t, u, u > nc, omit)
                + X.jopt_table("utm_campaign", cid_t, u, u >= nc, omit)
                + tx.user_opt("shared_by_openid", "openid", np.maximum(sb, 0), zero, sb < 0,
                              omit)
                + [X.const("}")])
    return _daily("miniapp/orders", cal, "orders", v_tu // DAY, ext="jsonl", jpieces=jpieces)


EVENT_NAMES = ["page_view", "product_view", "add_to_cart", "share", "checkout_start",
               "order_paid", "coupon_claim"]
PAGES = ["", "home", "category", "campaign", "member_center", "search", "product_detail",
         "checkout", "pay_result", "coupon_center"]


def mini_events(rng, cal, skus, m: Members, guests, camp: Campaigns, ev: pd.DataFrame,
                tx: Texts) -> Table:
    n_all = len(ev)
    user = ev["user"].to_numpy().astype(np.int64)
    ref = ev["ref"].to_numpy().astype(np.int64)
    ci = ev["camp"].to_numpy().astype(np.int16)
    name = _code(ev["name"].to_numpy(), EVENT_NAMES)
    page = _code(ev["page"].to_numpy(), PAGES)
    sku = ev["sku"].to_numpy().astype(np.int16)
    t = ev["t"].to_numpy().astype(np.int64)
    day = t // DAY
    day_start = np.searchsorted(day, np.arange(cal.days))
    nc = len(camp.df)
    src_t, med_t, cid_t = _utm_tables(camp)
    name_t = X.TextTable(EVENT_NAMES)
    page_t = X.TextTable(PAGES, json_quoted=True)
    ck = tx.clock
    del n_all

    def jpieces(lo, hi):
        n = hi - lo
        idx = np.arange(lo, hi)
        u = user[lo:hi]
        is_m = u < m.n
        mi = np.where(is_m, u, -1)
        gi = np.where(is_m, 0, u - m.n)
        omit = X.coin(SALT["events omit"], idx, 0.6)
        utc = X.coin(SALT["events utc"], idx, 0.1)
        openid, _ = tx.user_json("openid", mi, gi)
        r = ref[lo:hi]
        zero = np.zeros(n, dtype=np.int64)
        c = ci[lo:hi]
        nm = name[lo:hi]
        has_utm = (c >= 0) & (nm != EVENT_NAMES.index("coupon_claim"))
        # utm source/medium: the campaign's, or share/fission through a shared link
        us = np.where(r >= 0, nc, np.where(has_utm, c, nc + 1))
        s = sku[lo:hi]
        d = day[lo:hi]
        seq = idx - day_start[d] + 1
        pg = page[lo:hi]
        return (X.jfield("event_id", [X.const("EV"), ck.day_compact(d),
                                      X.ints(seq, zero_width=7)], first=True)
                + X.jfield("openid", openid, quoted=False)
                + tx.user_opt("unionid", "unionid", mi, gi, zero > 0, omit)
                + X.jfield("event_time", ck.iso_ts(t[lo:hi], utc))
                + X.jfield("event_name", [name_t.piece(nm)])
                + X.jopt_table("page", page_t, pg, pg == 0, omit)
                + X.jopt_table("sku_code", tx.jsku, np.maximum(s, 0), s < 0, omit)
                + X.jopt_table("campaign_id", cid_t, np.where(c >= 0, c, nc), c < 0, omit)
                + X.jopt_table("utm_source", src_t, us, us > nc, omit)
                + X.jopt_table("utm_medium", med_t, us, us > nc, omit)
                + X.jopt_table("utm_campaign", cid_t, np.where(has_utm, c, nc), ~has_utm, omit)
                + tx.user_opt("shared_by_openid", "openid", np.maximum(r, 0), zero, r < 0,
                              omit)
                + [X.const("}")])
    return _daily("miniapp/events", cal, "events", day, ext="jsonl", jpieces=jpieces)


# ---------------------------------------------------------------------------- marketing

def templates_table(rng, cal, camp: Campaigns) -> Table:
    tpl = camp.templates
    cdf = camp.df.set_index("campaign_id")
    rows = []
    for d in snapshot_days(cal):
        for i, r in tpl.iterrows():
            if r["campaign_id"] == "" or cdf.at[r["campaign_id"], "start_day"] <= d + 10:
                rows.append((d, i))
    day = np.array([r[0] for r in rows], dtype=np.int64)
    ti = np.array([r[1] for r in rows], dtype=np.int64)
    t = tpl.iloc[ti]
    thr = t["threshold"].to_numpy()
    vals = {"template_id": t["template_id"].to_numpy(), "name": t["name"].to_numpy(),
            "coupon_type": t["coupon_type"].to_numpy(),
            "face_value": money(t["face"].to_numpy(), rng),
            "threshold_amount": np.where(thr > 0, money(thr, rng), sarr("")),
            "category": t["category"].to_numpy(),
            "valid_days": int_text(t["valid_days"].to_numpy()),
            "campaign_id": t["campaign_id"].to_numpy(),
            "unit_cost": money(t["unit_cost"].to_numpy(), rng)}
    names = cat("coupon_templates_", cal.compact(day), ".csv").astype(object)
    return _finish("marketing/coupon_templates", day, names, vals,
                   list(zip(day.tolist(), names.tolist())))


def campaigns_table(rng, cal, camp: Campaigns) -> Table:
    cdf = camp.df
    rows = [(d, i) for d in snapshot_days(cal) for i in range(len(cdf))
            if cdf.at[i, "start_day"] <= d + 10]
    day = np.array([r[0] for r in rows], dtype=np.int64)
    ci = np.array([r[1] for r in rows], dtype=np.int64)
    c = cdf.iloc[ci]
    s, e = c["start_day"].to_numpy(), c["end_day"].to_numpy()
    frac = np.clip((day - s + 1) / (e - s + 1), 0, 1)
    budget = c["budget"].to_numpy().astype(np.int64)
    cost = (budget * frac * 0.93).astype(np.int64)
    vals = {"campaign_id": c["campaign_id"].to_numpy(), "name": c["name"].to_numpy(),
            "scenario": c["scenario"].to_numpy(), "region": c["region"].to_numpy(),
            "channel": c["channel"].to_numpy(), "start_date": cal.date(s),
            "end_date": cal.date(e), "budget": money(budget, rng), "cost": money(cost, rng),
            "target_segment": c["target_segment"].to_numpy()}
    names = cat("campaigns_", cal.compact(day), ".csv").astype(object)
    return _finish("marketing/campaigns", day, names, vals,
                   list(zip(day.tolist(), names.tolist())))


def acquisition_costs_table(rng, cal, acq: pd.DataFrame) -> Table:
    """One file per month, ``acquisition_costs_YYYYMM.csv``, in the dt it is delivered
    (world.make_acquisition_costs). raw: cents of every row."""
    day = acq["day"].to_numpy().astype(np.int64)
    mon = acq["month"].to_numpy().astype(object)
    vals = {"month": mon, "register_channel": acq["register_channel"].to_numpy(),
            "store_code": acq["store_code"].to_numpy(),
            "cost": money(acq["cents"].to_numpy(), rng)}
    names = np.array([f"acquisition_costs_{x.replace('-', '')}.csv" for x in mon], dtype=object)
    tab = _finish("marketing/acquisition_costs", day, names, vals,
                  list(zip(day.tolist(), names.tolist())))
    tab.raw = {"cents": acq["cents"].to_numpy().astype(np.int64)}
    return tab


def issues_table(rng, cal, m: Members, camp: Campaigns, iss: pd.DataFrame, tx: Texts) -> Table:
    d_iss = iss["t_issue"].to_numpy() // DAY
    tc = iss["t_claim"].to_numpy()
    d_cl = np.where(tc >= 0, tc // DAY, -1)
    later = (tc >= 0) & (d_cl > d_iss)
    first = iss.assign(day=d_iss, show_claim=(tc >= 0) & ~later)
    second = iss[later].assign(day=d_cl[later], show_claim=True)
    r = pd.concat([first, second], ignore_index=True)
    r["t_row"] = np.where(r["show_claim"], r["t_claim"], r["t_issue"])
    r = r.iloc[_sort(r["day"], r["t_row"], r["seq"])]
    seq = r["seq"].to_numpy()
    tpl = r["template"].to_numpy().astype(np.int16)
    mem = r["member"].to_numpy().astype(np.int32)
    cidx = r["campaign"].to_numpy().astype(np.int16)
    t_issue = r["t_issue"].to_numpy()
    t_claim = r["t_claim"].to_numpy()
    t_expire = r["t_expire"].to_numpy()
    show = r["show_claim"].to_numpy()
    ch_codes, ch_names = X.factorize(r["channel"].to_numpy())
    ch_t = X.TextTable(ch_names, quote_csv=True)
    tpl_t = X.TextTable(camp.templates["template_id"].tolist(), quote_csv=True)
    cid_t = X.TextTable(camp.df["campaign_id"].tolist() + [""], quote_csv=True)
    nc = len(camp.df)
    ck = tx.clock
    day = r["day"].to_numpy()
    del r

    def pieces(lo, hi):
        n = hi - lo
        utc = X.coin(SALT["issues utc"], np.arange(lo, hi), 0.15)
        c = cidx[lo:hi]
        return {"coupon_code": coupon_pieces(seq[lo:hi] + 1, np.zeros(n, dtype=bool)),
                "template_id": [tpl_t.piece(tpl[lo:hi])],
                "member_id": tx.member_id(mem[lo:hi]),
                "campaign_id": [cid_t.piece(np.where(c >= 0, c, nc))],
                "issued_at": ck.iso_ts(t_issue[lo:hi], utc),
                "claimed_at": X.blank(ck.iso_ts(np.maximum(t_claim[lo:hi], 0), utc),
                                      ~show[lo:hi], n),
                "channel": [ch_t.piece(ch_codes[lo:hi])],
                "expires_at": ck.iso_ts(t_expire[lo:hi], utc)}
    tab = _daily("marketing/coupon_issues", cal, "coupon_issues", day, pieces=pieces)
    tab.raw = {"seq": seq, "claimed": show}
    return tab


def redemptions_table(rng, cal, stores, m, orders, lines, order_no, mini_id) -> Table:
    """One row per redeemed coupon (the line it went on), ~6 % without order_ref, and a few
    (2 %, at least one) logged twice by the coupon system: the same coupon_code again,
    minutes to hours later, without order_ref. raw: code, dup (the repeat), no_ref."""
    cl = lines[(lines["coupon"] != "") & (lines["qty"] > 0)]
    oi = cl["oid"].to_numpy()
    is_pos = by_oid(orders, "channel")[oi] == 0
    t = np.where(is_pos, by_oid(orders, "t")[oi], by_oid(orders, "t_paid")[oi])
    o = _sort(t // DAY, t, oi)
    cl, oi, is_pos, t = cl.iloc[o], oi[o], is_pos[o], t[o]
    n = len(cl)
    ref = np.where(is_pos, order_no[oi], mini_id[oi])
    no_ref = rng.random(n) < 0.06
    if n >= 20 and not no_ref.any():  # at least one, as the coupon system's logs always have
        no_ref[int(rng.integers(0, n))] = True
    ref = np.where(no_ref, sarr(""), ref)
    code = stores.df["code"].to_numpy().astype(S)[by_oid(orders, "store")[oi]]
    code = np.where(~is_pos & (rng.random(n) < 0.4), sarr(""), code)
    coupon = cl["coupon"].to_numpy().astype(S)
    member = m.id.astype(S)[by_oid(orders, "member")[oi]]
    disc = money(cl["cdisc"].to_numpy(), rng)
    # the double-logged redemptions
    end = cal.days * DAY
    delay = rng.integers(3 * 60, 20 * HOUR, n) if n else np.zeros(0, dtype=np.int64)
    fits = np.flatnonzero(t + delay < end)
    n_dup = min(len(fits), max(1, int(round(0.02 * n)))) if n else 0
    pick = np.sort(rng.choice(fits, size=n_dup, replace=False)) if n_dup else np.zeros(0, dtype=np.int64)
    dup = np.r_[np.zeros(n, dtype=bool), np.ones(n_dup, dtype=bool)]
    src = np.r_[np.arange(n), pick]
    t = np.r_[t, t[pick] + delay[pick]]
    ref = np.r_[ref, np.full(n_dup, "", dtype=S)].astype(S)
    o = _sort(t // DAY, t, src, dup)
    src, t, ref, dup = src[o], t[o], ref[o], dup[o]
    vals = {"coupon_code": coupon[src], "member_id": member[src],
            "redeemed_at": cal.iso_ts(t, rng.random(len(t)) < 0.15), "order_ref": ref,
            "store_code": code[src], "discount_amount": disc[src]}
    files, names = daily_files(cal, "coupon_redemptions")
    day = t // DAY
    tab = _finish("marketing/coupon_redemptions", day, names[day], vals, files)
    tab.raw = {"code": coupon[src].astype(object), "dup": dup, "no_ref": ref == sarr("")}
    return tab


def audience_tables(rng, cal, m: Members, camp: Campaigns, tx: Texts) -> tuple[Table, Table]:
    a = camp.audience
    ci = a["campaign"].to_numpy().astype(np.int64)
    mem = a["member"].to_numpy().astype(np.int64)
    sd = camp.df["start_day"].to_numpy()[ci]
    t_as = sd * DAY + 8 * HOUR + rng.integers(0, 1800, len(a))
    o = _sort(sd, ci, mem)
    ci, mem, sd, t_as, grp = ci[o], mem[o], sd[o], t_as[o], a["group"].to_numpy()[o]
    cid_t = X.TextTable(camp.df["campaign_id"].tolist(), quote_csv=True)
    grp_t = X.TextTable(["treatment", "control"])
    ctrl = (grp == "control").astype(np.int8)
    ck = tx.clock

    a_ci, a_mem = ci, mem

    def aud_pieces(lo, hi):
        return {"campaign_id": [cid_t.piece(a_ci[lo:hi])],
                "member_id": tx.member_id(a_mem[lo:hi]),
                "group": [grp_t.piece(ctrl[lo:hi])],
                "assigned_at": ck.iso_ts(t_as[lo:hi],
                                         X.coin(SALT["audience utc"], np.arange(lo, hi), 0.1))}
    aud = _daily("marketing/campaign_audience", cal, "campaign_audience", sd, pieces=aud_pieces)
    aud.raw = {"campaign": ci, "member": mem, "group": grp}
    # touches: treatment only; a reminder for longer campaigns
    tr = a[a["group"] == "treatment"]
    ci = tr["campaign"].to_numpy().astype(np.int64)
    mem = tr["member"].to_numpy().astype(np.int64)
    c = camp.df
    s, e = c["start_day"].to_numpy()[ci], c["end_day"].to_numpy()[ci]
    ch = c["channel"].to_numpy()[ci].astype(object)
    t1 = s * DAY + 10 * HOUR + rng.integers(0, 2 * HOUR, len(tr))
    rem = (e - s >= 4) & (rng.random(len(tr)) < 0.5) & (s + 2 < cal.days)
    t2 = (s + 2) * DAY + 19 * HOUR + rng.integers(0, HOUR, len(tr))
    ch2 = np.where(m.mobile[mem] != 0, "sms", "wecom").astype(object)
    T = pd.DataFrame({"ci": np.r_[ci, ci[rem]], "member": np.r_[mem, mem[rem]],
                      "channel": np.r_[ch, ch2[rem]], "t": np.r_[t1, t2[rem]]})
    T = T.iloc[_sort(T["t"] // DAY, T["t"], T["member"], T["ci"])]
    n = len(T)
    p_del = np.where(T["channel"] == "ai_call", 0.62, np.where(T["channel"] == "sms", 0.96, 0.9))
    no_mobile = (m.mobile[T["member"].to_numpy()] == 0) & T["channel"].isin(["sms", "ai_call"]).to_numpy()
    delivered = (rng.random(n) < p_del) & ~no_mobile
    opened = delivered & (rng.random(n) < 0.45)
    clicked = opened & (rng.random(n) < 0.35)
    t_sent = T["t"].to_numpy()
    t_open = t_sent + rng.integers(30, 4 * HOUR, n)
    t_click = t_open + rng.integers(5, 1800, n)
    day = t_sent // DAY
    tci = T["ci"].to_numpy().astype(np.int16)
    tmem = T["member"].to_numpy().astype(np.int32)
    tch_codes, tch_names = X.factorize(T["channel"].to_numpy())
    tch_t = X.TextTable(tch_names, quote_csv=True)
    del T

    def touch_pieces(lo, hi):
        n_ = hi - lo
        utc = X.coin(SALT["touches utc"], np.arange(lo, hi), 0.1)
        return {"campaign_id": [cid_t.piece(tci[lo:hi])], "member_id": tx.member_id(tmem[lo:hi]),
                "channel": [tch_t.piece(tch_codes[lo:hi])],
                "sent_at": ck.iso_ts(t_sent[lo:hi], utc),
                "delivered": [X.ints(delivered[lo:hi].astype(np.int8))],
                "opened_at": X.blank(ck.iso_ts(t_open[lo:hi], utc), ~opened[lo:hi], n_),
                "clicked_at": X.blank(ck.iso_ts(t_click[lo:hi], utc), ~clicked[lo:hi], n_)}
    touches = _daily("marketing/campaign_touches", cal, "campaign_touches", day,
                     pieces=touch_pieces)
    touches.raw = {"campaign": tci, "member": tmem,
                   "delivered": delivered, "opened": opened, "clicked": clicked}
    return aud, touches


# ---------------------------------------------------------------------------- stores

def stores_table(rng, cal, stores: Stores) -> Table:
    sdf = stores.df
    # weekly, plus the day a store opens or closes; a store is listed once it has opened
    events = [int(x) for x in np.r_[sdf["opened_day"], sdf["closed_day"]] if 0 <= x < cal.days]
    days = sorted(set(snapshot_days(cal)) | set(events))
    rows = [(d, i) for d in days for i in range(len(sdf)) if sdf.at[i, "opened_day"] <= d]
    day = np.array([r[0] for r in rows], dtype=np.int64)
    si = np.array([r[1] for r in rows], dtype=np.int64)
    s = sdf.iloc[si]
    cd = s["closed_day"].to_numpy()
    vals = {"store_code": s["code"].to_numpy(), "name": s["name"].to_numpy(),
            "region": s["region"].to_numpy(), "province": s["province"].to_numpy(),
            "city": s["city"].to_numpy(), "store_type": s["store_type"].to_numpy(),
            "opened_on": cal.date(s["opened_day"].to_numpy()),
            "closed_on": blank_where(cal.date(np.minimum(cd, cal.days)), cd > day)}
    names = cat("stores_", cal.compact(day), ".csv").astype(object)
    return _finish("stores/stores", day, names, vals, list(zip(day.tolist(), names.tolist())))


def targets_table(rng, cal, stores: Stores, orders, lines) -> Table:
    pos = orders[orders["channel"] == 0]
    paid = lines.groupby("oid")["paid"].sum().reindex(pos["oid"]).fillna(0).to_numpy()
    month = cal.month(pos["day"].to_numpy()).astype(object)
    gmv = pd.Series(paid).groupby([pos["store"].to_numpy(), month]).sum()
    day_month = cal.month(np.arange(cal.days)).astype(object)
    covered = pd.Series(day_month).value_counts()
    rows = []
    for d in range(cal.days):
        if d == 0 or cal.pydate(d).day == 1:
            mon = day_month[d]
            first = cal.pydate(d).replace(day=1)
            nxt = (first.replace(day=28) + pd.Timedelta(days=4)).replace(day=1)
            dim = (nxt - first).days
            for s in range(len(stores.df)):
                if (s, mon) in gmv.index and gmv[(s, mon)] > 0:
                    full = gmv[(s, mon)] * dim / covered[mon]
                    tgt = max(10_000, int(round(full * rng.uniform(0.9, 1.25) / 100_000)) * 1000)
                    rows.append((d, s, mon, tgt * 100))
    day = np.array([r[0] for r in rows], dtype=np.int64)
    si = np.array([r[1] for r in rows], dtype=np.int64)
    mon = np.array([r[2] for r in rows], dtype=object)
    vals = {"store_code": stores.df["code"].to_numpy()[si], "month": mon,
            "sales_target": money(np.array([r[3] for r in rows], dtype=np.int64), rng)}
    names = np.array([f"targets_{x.replace('-', '')}.csv" for x in mon], dtype=object)
    return _finish("stores/targets", day, names, vals, list(zip(day.tolist(), names.tolist())))


# ---------------------------------------------------------------------------- points

def ledger_table(rng, cal, m: Members, camp: Campaigns, led: pd.DataFrame, tx: Texts) -> Table:
    from memberdw.generate.activity import GIFTS
    ci = led["campaign"].to_numpy().astype(np.int16)
    gi = led["gift"].to_numpy().astype(np.int8)
    mem = led["member"].to_numpy().astype(np.int32)
    t = led["t"].to_numpy()
    points = led["points"].to_numpy()
    r_codes, r_names = X.factorize(led["reason"].to_numpy())
    reason_t = X.TextTable(r_names, quote_csv=True)
    nc = len(camp.df)
    cid_t = X.TextTable(camp.df["campaign_id"].tolist() + [""], quote_csv=True)
    gift_t = X.TextTable([g[1] for g in GIFTS] + [""], quote_csv=True)
    gift_cost = np.array([g[2] for g in GIFTS], dtype=np.int64)
    ck = tx.clock

    def pieces(lo, hi):
        n = hi - lo
        c, g = ci[lo:hi], gi[lo:hi]
        short = X.coin(SALT["ledger money"], np.arange(lo, hi), 0.5)
        return {"entry_id": [X.const("PL"), X.ints(np.arange(lo, hi) + 1, zero_width=10)],
                "member_id": tx.member_id(mem[lo:hi]),
                "occurred_at": ck.local_ts(t[lo:hi]),
                "points": [X.ints(points[lo:hi])], "reason": [reason_t.piece(r_codes[lo:hi])],
                "campaign_id": [cid_t.piece(np.where(c >= 0, c, nc))],
                "gift_sku": [gift_t.piece(np.where(g >= 0, g, len(GIFTS)))],
                "gift_cost": X.blank(X.money(gift_cost[np.maximum(g, 0)], short), g < 0, n)}
    day = t // DAY  # the ledger is already sorted by time
    tab = _daily("points/ledger", cal, "ledger", day, pieces=pieces)
    reason = np.asarray(r_names, dtype=object)[r_codes]
    tab.raw = {"campaign": ci.astype(np.int64), "gift": gi.astype(np.int64), "member": mem,
               "reason": reason}
    return tab
