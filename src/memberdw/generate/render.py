"""Turn the generated world into contract text: one ``Table`` per entity holding the
formatted column values (CSV) or rendered lines (JSON Lines), the dt of every row and the
file it belongs to."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from memberdw.contract import BY_KEY, Entity
from memberdw.generate.fmt import (DAY, HOUR, S, Calendar, blank_where, cat, csv_quote, int_text,
                                   json_lines, mobile_text, money, sarr,
                                   to_list, zpad)
from memberdw.generate.world import TIERS, Campaigns, Members, Skus, Stores


@dataclass
class Table:
    entity: Entity
    day: np.ndarray  # int day of every row
    file: np.ndarray  # object file name of every row (rows of a file are contiguous)
    files: list[tuple[int, str]]  # every file to deliver, including empty ones
    cols: dict[str, list[str]] = field(default_factory=dict)  # CSV: quoted field text
    lines: list[str] | None = None  # JSONL: one JSON object per row
    raw: dict[str, np.ndarray] = field(default_factory=dict)  # JSONL: some raw values


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


# ---------------------------------------------------------------------------- crm

def crm_members(rng, cal: Calendar, m: Members, v: pd.DataFrame) -> Table:
    o = _sort(v["day"], v["t"], v["member"])
    v = v.iloc[o]
    mi = v["member"].to_numpy()
    vals = {
        "member_id": m.id[mi],
        "mobile": mobile_text(m.mobile[mi], m.mobile_fmt[mi]),
        "unionid": m.unionid[mi], "openid": m.openid[mi], "name": m.name[mi],
        "gender": m.gender[mi],
        "birthday": blank_where(cal.date(m.birthday_day[mi]), m.birthday_blank[mi]),
        "province": m.province[mi],
        "city": np.where(m.city_blank[mi], "", m.city[mi]),
        "register_time": blank_where(cal.local_ts(m.t_reg[mi]), m.reg_time_blank[mi]),
        "register_channel": m.channel[mi], "register_store_code": m.store_code[mi],
        "referrer_member_id": m.referrer[mi],
        "tier": np.where(m.tier_blank[mi], "", TIERS[v["tier"].to_numpy()]),
        "points_balance": int_text(v["points"].to_numpy()),
        "sms_opt_in": int_text(v["sms"].to_numpy()),
        "updated_at": cal.local_ts(v["t"].to_numpy()),
        "deleted": int_text(v["deleted"].to_numpy()),
    }
    files, names = daily_files(cal, "members")
    day = v["day"].to_numpy()
    return _finish("crm/members", day, names[day], vals, files)


# ---------------------------------------------------------------------------- pos

def by_oid(orders: pd.DataFrame, col: str, fill=-1) -> np.ndarray:
    """Dense array indexed by oid."""
    vals = orders[col].to_numpy()
    if not isinstance(vals.dtype, np.dtype) or vals.dtype.kind in "OUT":
        vals = vals.astype(object)
    arr = np.full(int(orders["oid"].max()) + 1, fill, dtype=vals.dtype)
    arr[orders["oid"].to_numpy()] = vals
    return arr


def pos_numbers(cal: Calendar, stores: Stores, orders: pd.DataFrame) -> np.ndarray:
    """order_no of every POS order, indexed by oid: <store>-<yyyymmdd>-<seq>."""
    pos = orders[orders["channel"] == 0]
    o = _sort(pos["store"], pos["day"], pos["t"], pos["oid"])
    pos = pos.iloc[o]
    seq = pos.groupby(["store", "day"], sort=False).cumcount().to_numpy() + 1
    code = stores.df["code"].to_numpy().astype(S)[pos["store"].to_numpy()]
    no = cat(code, "-", cal.compact(pos["day"].to_numpy()), "-",
             zpad(seq, 4))
    out = np.full(int(orders["oid"].max()) + 1, "", dtype=S)
    out[pos["oid"].to_numpy()] = no
    return out


def mini_ids(cal: Calendar, orders: pd.DataFrame) -> np.ndarray:
    mo = orders[orders["channel"] == 1]
    mo = mo.iloc[_sort(mo["day"], mo["t"], mo["oid"])]
    seq = mo.groupby("day", sort=False).cumcount().to_numpy() + 1
    ids = cat("MO", cal.compact(mo["day"].to_numpy()), zpad(seq, 6))
    out = np.full(int(orders["oid"].max()) + 1, "", dtype=S)
    out[mo["oid"].to_numpy()] = ids
    return out


def pos_lines(rng, cal, stores: Stores, skus: Skus, m: Members, orders, lines,
              order_no: np.ndarray) -> Table:
    ch = by_oid(orders, "channel")
    ln = lines[ch[lines["oid"].to_numpy()] == 0]
    line_no = ln.groupby("oid", sort=False).cumcount().to_numpy() + 1
    oi = ln["oid"].to_numpy()
    store = by_oid(orders, "store")[oi]
    day = by_oid(orders, "day")[oi]
    t = by_oid(orders, "t")[oi]
    o = _sort(day, store, t, oi, line_no)
    ln, oi, store, day, t, line_no = ln.iloc[o], oi[o], store[o], day[o], t[o], line_no[o]
    typed = by_oid(orders, "typed", 0)[oi]
    orig = by_oid(orders, "orig")[oi]
    sku = ln["sku"].to_numpy()
    code = stores.df["code"].to_numpy().astype(S)[store]
    vals = {
        "store_code": code,
        "order_no": order_no[oi],
        "line_no": int_text(line_no),
        "order_time": cal.local_ts(t),
        "member_id": _ids(m.id, by_oid(orders, "member")[oi]),
        "mobile": mobile_text(typed, by_oid(orders, "typed_fmt", 0)[oi]),
        "sku_code": skus.code[sku], "category": skus.category[sku],
        "quantity": int_text(ln["qty"].to_numpy()),
        "unit_price": money(ln["price"].to_numpy(), rng),
        "discount_amount": money(ln["promo"].to_numpy() + ln["cdisc"].to_numpy(), rng),
        "paid_amount": money(ln["paid"].to_numpy(), rng),
        "coupon_code": ln["coupon"].to_numpy(),
        "payment_method": by_oid(orders, "pay", "")[oi],
        "order_type": by_oid(orders, "order_type", "")[oi],
        "original_order_no": np.where(orig >= 0, order_no[np.maximum(orig, 0)], sarr("")),
    }
    names = cat("pos_", code, "_", cal.compact(day), ".csv").astype(object)
    s_idx, d_idx = np.nonzero(stores.open)
    all_names = cat("pos_", stores.df["code"].to_numpy().astype(S)[s_idx], "_",
                    cal.compact(d_idx), ".csv")
    files = list(zip(d_idx.tolist(), all_names.tolist()))
    return _finish("pos/order_lines", day, names, vals, files)


# ---------------------------------------------------------------------------- miniapp

CHANNEL_UTM = {"sms": ("sms", "message"), "wecom": ("wecom", "private_domain"),
               "miniapp_push": ("miniapp", "push"), "moments_ad": ("moments", "paid_social"),
               "wechat_article": ("official_account", "article"), "ai_call": ("ai_call", "call")}


def mini_orders(rng, cal, stores, skus, m: Members, guests, camp: Campaigns, orders, lines,
                versions, mini_id: np.ndarray) -> Table:
    mo = orders[orders["channel"] == 1]
    moid = mo["oid"].to_numpy()
    n_o = len(mo)
    pos_of = np.full(int(orders["oid"].max()) + 1, -1, dtype=np.int64)
    pos_of[moid] = np.arange(n_o)
    # items JSON per order: mini-program lines are contiguous per order
    ch = by_oid(orders, "channel")
    ln = lines[ch[lines["oid"].to_numpy()] == 1]
    loid = ln["oid"].to_numpy()
    assert (np.diff(loid) >= 0).all()
    sku = ln["sku"].to_numpy()
    item = cat('{"sku_code":"', skus.code[sku].astype(S),
               '","category":"', skus.category[sku].astype(S),
               '","quantity":', int_text(ln["qty"].to_numpy()),
               ',"unit_price":"', money(ln["price"].to_numpy(), rng),
               '","paid_amount":"', money(ln["paid"].to_numpy(), rng), '"}')
    lp = pos_of[loid]
    cnt = np.bincount(lp, minlength=n_o)
    first = np.r_[0, np.cumsum(cnt)[:-1]]
    items = np.full(n_o, "[", dtype=S)
    for k in range(int(cnt.max()) if n_o else 0):
        has = cnt > k
        frag = item[np.minimum(first + k, len(item) - 1)]
        if k:
            frag = cat(",", frag)
        items = np.where(has, cat(items, frag), items)
    items = cat(items, "]")
    total = np.bincount(lp, weights=ln["paid"].to_numpy(), minlength=n_o).astype(np.int64)
    coupon = np.full(n_o, "", dtype=object)
    wc = (ln["coupon"] != "").to_numpy()
    coupon[lp[wc]] = ln["coupon"].to_numpy()[wc]
    mem = mo["member"].to_numpy()
    gi = mo["guest"].to_numpy()
    openid = np.where(mem >= 0, m.openid[np.maximum(mem, 0)],
                      guests["openid"].to_numpy()[np.maximum(gi, 0)]).astype(object)
    unionid = np.where(mem >= 0, m.unionid[np.maximum(mem, 0)],
                       guests["unionid"].to_numpy()[np.maximum(gi, 0)]).astype(object)
    # utm: some orders come from an active campaign, a few through a member's share link
    utm_s = np.full(n_o, "", dtype=object)
    utm_m = np.full(n_o, "", dtype=object)
    utm_c = np.full(n_o, "", dtype=object)
    oday = mo["day"].to_numpy()
    for _, r in camp.df.iterrows():
        hit = (oday >= r["start_day"]) & (oday <= r["end_day"]) & (rng.random(n_o) < 0.2) & (utm_c == "")
        src, med = CHANNEL_UTM.get(r["channel"], ("other", "other"))
        utm_s[hit], utm_m[hit], utm_c[hit] = src, med, r["campaign_id"]
    sharers = m.openid[m.openid != ""]
    shared_by = np.full(n_o, "", dtype=object)
    if len(sharers) > 1:
        shared = (rng.random(n_o) < 0.06) & (utm_c == "")
        pick = sharers[rng.integers(0, len(sharers), n_o)]
        shared &= pick != openid
        shared_by[shared] = pick[shared]
        utm_s[shared], utm_m[shared] = "share", "fission"
    code = stores.df["code"].to_numpy().astype(object)
    # one line per status version, in dt / updated_at order
    tu_all = versions["tu"].to_numpy()
    v = versions.iloc[_sort(tu_all // DAY, tu_all, versions["oid"], versions["k"])]
    p = pos_of[v["oid"].to_numpy()]
    n = len(v)
    tu = v["tu"].to_numpy()
    t_paid = mo["t_paid"].to_numpy()[p]
    utc = rng.random(n) < 0.12
    paid_known = (t_paid >= 0) & (t_paid <= tu)
    paid_at = np.where(paid_known, cal.iso_ts(np.maximum(t_paid, 0), utc), "")
    cp = coupon[p]
    coupons = np.where(cp == "", "[]", cat('["', cp, '"]'))
    created = cal.iso_ts(mo["t"].to_numpy()[p], utc)
    lines_ = json_lines([
        ("order_id", mini_id[v["oid"].to_numpy()], "str"),
        ("openid", openid[p], "opt"),
        ("unionid", unionid[p], "opt"),
        ("member_id", _ids(m.id, mem[p]), "opt"),
        ("store_code", code[mo["store"].to_numpy()[p]], "str"),
        ("created_at", created, "str"),
        ("paid_at", paid_at, "opt"),
        ("updated_at", cal.iso_ts(tu, utc), "str"),
        ("status", v["status"].to_numpy(), "str"),
        ("items", items[p], "raw"),
        ("coupon_codes", coupons, "raw"),
        ("total_paid", money(total[p], rng), "str"),
        ("utm_source", utm_s[p], "opt"),
        ("utm_medium", utm_m[p], "opt"),
        ("utm_campaign", utm_c[p], "opt"),
        ("shared_by_openid", shared_by[p], "opt"),
    ], rng)
    day = tu // DAY
    files, names = daily_files(cal, "orders", "jsonl")
    return Table(BY_KEY["miniapp/orders"], day, names[day], files, lines=lines_,
                 raw={"created_at": created})


def mini_events(rng, cal, skus, m: Members, guests, camp: Campaigns, ev: pd.DataFrame) -> Table:
    n = len(ev)
    user = ev["user"].to_numpy()
    is_m = user < m.n
    gi = np.where(is_m, 0, user - m.n)
    mi = np.where(is_m, user, 0)
    openid = np.where(is_m, m.openid[mi], guests["openid"].to_numpy()[gi])
    unionid = np.where(is_m, m.unionid[mi], guests["unionid"].to_numpy()[gi])
    ref = ev["ref"].to_numpy()
    shared = np.where(ref >= 0, m.openid[np.maximum(ref, 0)], "")
    ci = ev["camp"].to_numpy()
    cids = camp.df["campaign_id"].to_numpy().astype(S)
    cid = np.where(ci >= 0, cids[np.maximum(ci, 0)], sarr(""))
    chans = camp.df["channel"].to_numpy()
    src = sarr([CHANNEL_UTM.get(c, ("other", "other"))[0] for c in chans])
    med = sarr([CHANNEL_UTM.get(c, ("other", "other"))[1] for c in chans])
    name = ev["name"].to_numpy()
    has_utm = (ci >= 0) & (name != "coupon_claim")
    us = np.where(ref >= 0, sarr("share"), np.where(has_utm, src[np.maximum(ci, 0)], sarr("")))
    um = np.where(ref >= 0, sarr("fission"), np.where(has_utm, med[np.maximum(ci, 0)], sarr("")))
    sku = ev["sku"].to_numpy()
    t = ev["t"].to_numpy()
    day = t // DAY
    new_day = np.r_[True, day[1:] != day[:-1]]
    idx = np.arange(n)
    seq = idx - np.maximum.accumulate(np.where(new_day, idx, 0)) + 1
    event_id = cat("EV", cal.compact(day), zpad(seq, 7))
    utc = rng.random(n) < 0.1
    lines_ = json_lines([
        ("event_id", event_id, "str"),
        ("openid", openid, "str"),
        ("unionid", unionid, "opt"),
        ("event_time", cal.iso_ts(t, utc), "str"),
        ("event_name", name, "str"),
        ("page", ev["page"].to_numpy(), "opt"),
        ("sku_code", np.where(sku >= 0, skus.code[np.maximum(sku, 0)], ""), "opt"),
        ("campaign_id", cid, "opt"),
        ("utm_source", us, "opt"),
        ("utm_medium", um, "opt"),
        ("utm_campaign", np.where(has_utm, cid, ""), "opt"),
        ("shared_by_openid", shared, "opt"),
    ], rng)
    files, names = daily_files(cal, "events", "jsonl")
    return Table(BY_KEY["miniapp/events"], day, names[day], files, lines=lines_, raw={})


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


def issues_table(rng, cal, m: Members, camp: Campaigns, iss: pd.DataFrame) -> Table:
    d_iss = iss["t_issue"].to_numpy() // DAY
    tc = iss["t_claim"].to_numpy()
    d_cl = np.where(tc >= 0, tc // DAY, -1)
    later = (tc >= 0) & (d_cl > d_iss)
    first = iss.assign(day=d_iss, show_claim=(tc >= 0) & ~later)
    second = iss[later].assign(day=d_cl[later], show_claim=True)
    r = pd.concat([first, second], ignore_index=True)
    r["t_row"] = np.where(r["show_claim"], r["t_claim"], r["t_issue"])
    r = r.iloc[_sort(r["day"], r["t_row"], r["seq"])]
    utc = rng.random(len(r)) < 0.15
    cidx = r["campaign"].to_numpy()
    cids = camp.df["campaign_id"].to_numpy().astype(S)
    vals = {"coupon_code": r["code"].to_numpy(),
            "template_id": camp.templates["template_id"].to_numpy()[r["template"].to_numpy()],
            "member_id": m.id[r["member"].to_numpy()],
            "campaign_id": np.where(cidx >= 0, cids[np.maximum(cidx, 0)], sarr("")),
            "issued_at": cal.iso_ts(r["t_issue"].to_numpy(), utc),
            "claimed_at": blank_where(cal.iso_ts(np.maximum(r["t_claim"].to_numpy(), 0), utc),
                                      ~r["show_claim"].to_numpy()),
            "channel": r["channel"].to_numpy(),
            "expires_at": cal.iso_ts(r["t_expire"].to_numpy(), utc)}
    files, names = daily_files(cal, "coupon_issues")
    day = r["day"].to_numpy()
    tab = _finish("marketing/coupon_issues", day, names[day], vals, files)
    tab.raw = {"seq": r["seq"].to_numpy(), "claimed": r["show_claim"].to_numpy()}
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
    ref = np.where(rng.random(n) < 0.06, sarr(""), ref)
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


def audience_tables(rng, cal, m: Members, camp: Campaigns) -> tuple[Table, Table]:
    a = camp.audience
    ci = a["campaign"].to_numpy().astype(np.int64)
    mem = a["member"].to_numpy().astype(np.int64)
    sd = camp.df["start_day"].to_numpy()[ci]
    t_as = sd * DAY + 8 * HOUR + rng.integers(0, 1800, len(a))
    o = _sort(sd, ci, mem)
    ci, mem, sd, t_as, grp = ci[o], mem[o], sd[o], t_as[o], a["group"].to_numpy()[o]
    cid = camp.df["campaign_id"].to_numpy()[ci]
    vals = {"campaign_id": cid, "member_id": m.id[mem], "group": grp,
            "assigned_at": cal.iso_ts(t_as, rng.random(len(a)) < 0.1)}
    files, names = daily_files(cal, "campaign_audience")
    aud = _finish("marketing/campaign_audience", sd, names[sd], vals, files)
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
    t_open = T["t"].to_numpy() + rng.integers(30, 4 * HOUR, n)
    t_click = t_open + rng.integers(5, 1800, n)
    utc = rng.random(n) < 0.1
    day = T["t"].to_numpy() // DAY
    vals = {"campaign_id": c["campaign_id"].to_numpy()[T["ci"].to_numpy()],
            "member_id": m.id[T["member"].to_numpy()], "channel": T["channel"].to_numpy(),
            "sent_at": cal.iso_ts(T["t"].to_numpy(), utc),
            "delivered": int_text(delivered.astype(int)),
            "opened_at": blank_where(cal.iso_ts(t_open, utc), ~opened),
            "clicked_at": blank_where(cal.iso_ts(t_click, utc), ~clicked)}
    files, names = daily_files(cal, "campaign_touches")
    touches = _finish("marketing/campaign_touches", day, names[day], vals, files)
    touches.raw = {"campaign": T["ci"].to_numpy(), "member": T["member"].to_numpy(),
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

def ledger_table(rng, cal, m: Members, camp: Campaigns, led: pd.DataFrame) -> Table:
    from memberdw.generate.activity import GIFTS
    ci = led["campaign"].to_numpy()
    gi = led["gift"].to_numpy()
    gift_sku = sarr([g[1] for g in GIFTS])
    gift_cost = np.array([g[2] for g in GIFTS], dtype=np.int64)
    cids = camp.df["campaign_id"].to_numpy().astype(S)
    vals = {"entry_id": led["entry_id"].to_numpy(), "member_id": m.id[led["member"].to_numpy()],
            "occurred_at": cal.local_ts(led["t"].to_numpy()),
            "points": int_text(led["points"].to_numpy()), "reason": led["reason"].to_numpy(),
            "campaign_id": np.where(ci >= 0, cids[np.maximum(ci, 0)], sarr("")),
            "gift_sku": np.where(gi >= 0, gift_sku[np.maximum(gi, 0)], sarr("")),
            "gift_cost": np.where(gi >= 0, money(gift_cost[np.maximum(gi, 0)], rng), sarr(""))}
    files, names = daily_files(cal, "ledger")
    day = led["t"].to_numpy() // DAY  # the ledger is already sorted by time
    tab = _finish("points/ledger", day, names[day], vals, files)
    tab.raw = {"campaign": ci, "gift": gi, "member": led["member"].to_numpy(),
               "reason": led["reason"].to_numpy()}
    return tab
