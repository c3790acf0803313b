"""What happens in the period: orders in stores and in the mini-program, coupons issued,
claimed and redeemed, returns and refunds, points, CRM changes and mini-program events.

All tables are pandas frames with integer codes (member index, store index, local
seconds); turning them into contract text is the job of ``memberdw.generate.render``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from memberdw.generate.fmt import DAY, HOUR, Calendar
from memberdw.generate.world import (Campaigns, Members, Skus, Stores, random_tokens, rng_for,
                                     season)

log = logging.getLogger(__name__)

POS_HOURS = np.array([0] * 10 + [3, 4, 5, 6, 7, 6, 6, 7, 9, 10, 8, 5] + [0, 0], dtype=float)
WEB_HOURS = np.array([2, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4, 5, 6, 5, 4, 4, 5, 5, 6, 8, 10,
                      11, 9, 5], dtype=float)
PAY_METHODS = np.array(["wechat_pay", "alipay", "card", "cash", "stored_value", "points"],
                       dtype=object)


def _times(rng, days: np.ndarray, hours_w: np.ndarray) -> np.ndarray:
    h = rng.choice(24, size=len(days), p=hours_w / hours_w.sum())
    return days.astype(np.int64) * DAY + h * HOUR + rng.integers(0, HOUR, size=len(days))


# ============================================================================ orders

class BgNbdPurchases:
    """Member purchase days from a BG/NBD process (purchase_process "bgnbd"), day by day.

    Per member: λ ~ Gamma(r, rate α) per day, dropout π ~ Beta(a, b), and a first purchase
    on a day drawn uniformly from the registration (or the first day, for members registered
    before it) to the last day. From the next day on, while alive, the member makes a
    Poisson(λ) number of repeat purchases a day, at most one a day (the warehouse's grain): a
    second one moves to their next day (merging them instead would lose the heaviest buyers'
    purchases and bias the fitted α up by about 10%; memberdw.generate.bgnbd does the same),
    and drops out after each repeat purchase with probability π. An erased member stops
    buying when erased. Campaigns change nothing in this mode.
    """

    def __init__(self, seed: int, days: int, m: Members, params: dict):
        rng = self.rng = rng_for(seed, "bgnbd purchases")
        self.rate = rng.gamma(params["r"], 1.0 / params["alpha"], m.n)
        self.dropout = rng.beta(params["a"], params["b"], m.n)
        earliest = np.clip(m.reg_day + 1, 0, days - 1)
        self.first = earliest + np.floor(rng.random(m.n) * (days - earliest)).astype(np.int64)
        self.alive = np.ones(m.n, dtype=bool)
        self.due = np.zeros(m.n, dtype=np.int64)  # repeat purchases moved to a later day
        self.erased_day = m.del_day

    def day(self, d: int) -> np.ndarray:
        """Purchases (0 or 1) of every member on day d."""
        repeat = (self.first < d) & self.alive
        self.due[repeat] += self.rng.poisson(self.rate[repeat])
        buys = repeat & (self.due > 0)
        self.due[buys] -= 1
        self.alive &= ~(buys & (self.rng.random(len(self.rate)) < self.dropout))
        return ((buys | (self.first == d)) & (self.erased_day > d)).astype(np.int64)


def make_orders(seed: int, cal: Calendar, stores: Stores, skus: Skus, m: Members,
                camp: Campaigns, bgnbd: dict | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Orders, their lines and the mini-program guests. Members buy at their rate lam,
    seasonally and boosted by the campaigns they are targeted by; with ``bgnbd`` (its
    parameters r, alpha, a, b) their purchase days follow BgNbdPurchases instead."""
    rng = rng_for(seed, "orders")
    process = BgNbdPurchases(seed, cal.days, m, bgnbd) if bgnbd else None
    D, n = cal.days, m.n
    f_off, f_on = season(cal)
    cdf = camp.df
    treat = camp.audience[camp.audience["group"] == "treatment"]
    by_c = {c: g["member"].to_numpy() for c, g in treat.groupby("campaign")}
    sw = stores.df["weight"].to_numpy()
    sp = sw / sw.sum()
    ns = len(sw)

    mem_l, day_l, onl_l = [], [], []
    for d in range(D):
        if process is not None:
            k = process.day(d)
        else:
            boost = np.ones(n)
            for ci, r in cdf.iterrows():
                if r["start_day"] <= d <= r["end_day"] and ci in by_c:
                    boost[by_c[ci]] *= 1.0 + r["uplift"]
            lam = m.lam * f_off[d] * boost
            lam[(m.reg_day >= d) | (m.del_day <= d)] = 0.0
            k = rng.poisson(lam)
        nz = np.flatnonzero(k)
        mem = np.repeat(nz, k[nz])
        online = rng.random(len(mem)) < np.clip(m.p_online[mem] * f_on[d], 0, 0.95)
        mem_l.append(mem)
        day_l.append(np.full(len(mem), d))
        onl_l.append(online)
    mem = np.concatenate(mem_l)
    day = np.concatenate(day_l)
    online = np.concatenate(onl_l)

    # ---- member store orders
    pm, pd_ = mem[~online], day[~online]
    store = np.where(rng.random(len(pm)) < 0.85, m.home_store[pm], rng.choice(ns, len(pm), p=sp))
    for _ in range(60):
        bad = ~stores.open[store, pd_]
        if not bad.any():
            break
        store[bad] = rng.choice(ns, int(bad.sum()), p=sp)
    card = rng.random(len(pm)) >= 0.06
    typed = np.where(~card, m.mobile[pm], 0)
    typed_fmt = np.where(rng.random(len(pm)) < 0.8, 0, m.mobile_fmt[pm])
    pos_m = pd.DataFrame({"channel": 0, "member": np.where(card, pm, -1), "buyer": pm,
                          "store": store, "day": pd_, "typed": typed, "typed_fmt": typed_fmt,
                          "guest": -1})
    # ---- non-member store traffic
    open_days = stores.open.sum()
    base = max(3.0, 0.7 * len(pm) / max(open_days, 1))
    lam_sd = base * (sw / sw.mean())[:, None] * f_off[None, :] * stores.open
    k = rng.poisson(lam_sd)
    s_idx, d_idx = np.nonzero(k)
    cnt = k[s_idx, d_idx]
    nm_store, nm_day = np.repeat(s_idx, cnt), np.repeat(d_idx, cnt)
    has_typed = rng.random(len(nm_store)) < 0.06
    spare = m.spare_mobiles
    nm_typed = np.where(has_typed, spare[rng.integers(0, len(spare), len(nm_store))], 0)
    pos_nm = pd.DataFrame({"channel": 0, "member": -1, "buyer": -1, "store": nm_store,
                           "day": nm_day, "typed": nm_typed, "typed_fmt": 0, "guest": -1})
    # ---- online: members and guests
    om, od = mem[online], day[online]
    n_guest = max(30, n // 3)
    per_day = np.bincount(od, minlength=D)
    gk = rng.poisson(np.maximum(1.0, 0.3 * per_day) * f_on)
    g_day = np.repeat(np.arange(D), gk)
    gw = 1.0 / (np.arange(n_guest) + 3.0)
    g_id = rng.choice(n_guest, size=len(g_day), p=gw / gw.sum())
    mini = pd.DataFrame({"channel": 1, "member": np.r_[om, np.full(len(g_day), -1)],
                         "buyer": np.r_[om, np.full(len(g_day), -1)],
                         "store": np.r_[m.home_store[om], rng.choice(ns, len(g_day), p=sp)],
                         "day": np.r_[od, g_day], "typed": 0, "typed_fmt": 0,
                         "guest": np.r_[np.full(len(om), -1), g_id]})
    # online orders are credited to an open store
    ms = mini["store"].to_numpy().copy()
    mday = mini["day"].to_numpy()
    for _ in range(60):
        bad = ~stores.open[ms, mday]
        if not bad.any():
            break
        ms[bad] = rng.choice(ns, int(bad.sum()), p=sp)
    mini["store"] = ms
    orders = pd.concat([pos_m, pos_nm, mini], ignore_index=True)
    no = len(orders)
    is_pos = orders["channel"].to_numpy() == 0
    orders["t"] = np.where(is_pos, _times(rng, orders["day"].to_numpy(), POS_HOURS),
                           _times(rng, orders["day"].to_numpy(), WEB_HOURS))
    member_pay = rng.choice(6, size=no, p=[0.48, 0.27, 0.08, 0.05, 0.09, 0.03])
    guest_pay = rng.choice(4, size=no, p=[0.55, 0.3, 0.08, 0.07])
    pay = np.where(orders["member"].to_numpy() >= 0, member_pay, guest_pay)
    pay = np.where(is_pos, pay, np.where(rng.random(no) < 0.85, 0, 1))
    orders["pay"] = PAY_METHODS[pay]
    orders["order_type"] = "sale"
    orders["orig"] = -1
    orders["outlier"] = False
    # deterministic order of rows: by time, then channel/store
    orders = orders.sort_values(["t", "channel", "store", "member", "guest"],
                                kind="stable").reset_index(drop=True)
    orders["oid"] = np.arange(no)

    # ---- lines
    is_pos = orders["channel"].to_numpy() == 0
    buyer = orders["buyer"].to_numpy()
    basket = np.where(buyer >= 0, m.basket[np.maximum(buyer, 0)], 1.0)
    nl = np.where(is_pos, 1 + np.minimum(rng.poisson(0.7 * basket), 5),
                  1 + np.minimum(rng.poisson(0.45 * basket), 3))
    l_oid = np.repeat(np.arange(no), nl)
    nlines = len(l_oid)
    sku = rng.choice(len(skus.code), size=nlines, p=skus.pop)
    qty = 1 + np.minimum(rng.poisson(0.2 * basket[l_oid]), 2)
    l_day = orders["day"].to_numpy()[l_oid]
    p_promo = np.where(f_off[l_day] >= 1.5, 0.35, 0.14)
    pct = np.where(rng.random(nlines) < p_promo, rng.choice([10, 20, 30], size=nlines), 0)
    lines = pd.DataFrame({"oid": l_oid, "sku": sku, "qty": qty, "pct": pct,
                          "coupon_face": np.zeros(nlines, dtype=np.int64), "coupon": ""})
    guests = pd.DataFrame({"openid": random_tokens(rng, n_guest, "oM", 26).astype(object)})
    guests["unionid"] = np.where(rng.random(n_guest) < 0.5,
                                 random_tokens(rng, n_guest, "oU", 26), "").astype(object)
    return orders, lines, guests


def line_amounts(lines: pd.DataFrame, skus: Skus) -> pd.DataFrame:
    """Recompute gross, promo, coupon discount and paid (cents) of sale lines."""
    price = skus.price[lines["sku"].to_numpy()]
    gross = lines["qty"].to_numpy() * price
    promo = (gross * lines["pct"].to_numpy() // 1000) * 10
    cdisc = np.minimum(lines["coupon_face"].to_numpy(), gross - promo)
    lines["price"] = price
    lines["gross"] = gross
    lines["promo"] = promo
    lines["cdisc"] = cdisc
    lines["paid"] = gross - promo - cdisc
    return lines


# ============================================================================ coupons

def make_issues(seed: int, cal: Calendar, m: Members, camp: Campaigns) -> pd.DataFrame:
    rng = rng_for(seed, "issues")
    D = cal.days
    tpl = camp.templates
    parts = []
    p_claim = tpl["p_claim"].to_numpy()
    # new-member gift: at registration
    new = np.flatnonzero(m.reg_day >= 0)
    t = m.t_reg[new] + 30
    claim = np.where(rng.random(len(new)) < p_claim[0], t + rng.integers(5, 900, len(new)), -1)
    parts.append(pd.DataFrame({"template": 0, "member": new, "campaign": -1, "t_issue": t,
                               "t_claim": claim, "channel": "register"}))
    # free shipping coupons for some mini-program users, any day
    online = np.flatnonzero(m.p_online > 0)
    sel = online[rng.random(len(online)) < 0.08]
    t = _times(rng, rng.integers(0, D, len(sel)), WEB_HOURS)
    claim = np.where(rng.random(len(sel)) < p_claim[1], t + rng.integers(60, 3 * DAY, len(sel)), -1)
    parts.append(pd.DataFrame({"template": 1, "member": sel, "campaign": -1, "t_issue": t,
                               "t_claim": claim, "channel": "miniapp"}))
    # campaign coupons for the treatment group: one per member, drawn among the campaign's
    # templates
    aud = camp.audience[camp.audience["group"] == "treatment"]
    for ci, r in camp.df.iterrows():
        tpls = np.asarray(r["templates"], dtype=np.int64)
        if len(tpls) == 0:
            continue
        mem = aud.loc[aud["campaign"] == ci, "member"].to_numpy()
        tp = tpls[rng.integers(0, len(tpls), len(mem))] if len(tpls) > 1 else np.full(len(mem), tpls[0])
        t = r["start_day"] * DAY + 9 * HOUR + rng.integers(0, 2 * HOUR, len(mem))
        delay = np.minimum(rng.exponential(20 * HOUR, len(mem)).astype(np.int64),
                           tpl["valid_days"].to_numpy()[tp] * DAY - 1)
        claim = np.where(rng.random(len(mem)) < p_claim[tp], t + 60 + delay, -1)
        parts.append(pd.DataFrame({"template": tp, "member": mem, "campaign": ci,
                                   "t_issue": t, "t_claim": claim, "channel": r["channel"]}))
    iss = pd.concat(parts, ignore_index=True)
    iss["t_issue"] = iss["t_issue"].astype(np.int64)
    iss["t_claim"] = iss["t_claim"].astype(np.int64)
    iss = iss[iss["t_issue"] < D * DAY]
    iss.loc[iss["t_claim"] >= D * DAY, "t_claim"] = -1  # not claimed yet as of the last day
    iss["t_expire"] = iss["t_issue"] + tpl["valid_days"].to_numpy()[iss["template"]] * DAY
    iss = iss.sort_values(["t_issue", "member", "template"], kind="stable").reset_index(drop=True)
    iss["seq"] = np.arange(len(iss))
    iss["code"] = [f"CQ{i + 1:010d}" for i in range(len(iss))]
    return iss


def redeem(seed: int, orders: pd.DataFrame, lines: pd.DataFrame, iss: pd.DataFrame,
           camp: Campaigns, skus: Skus) -> pd.DataFrame:
    """Match claimed coupons to the member's next order and put the coupon on a line."""
    rng = rng_for(seed, "redeem")
    tpl = camp.templates
    elig = orders[(orders["member"] >= 0) & orders["payable"]]
    ok = elig.sort_values(["member", "t"], kind="stable")
    big = np.int64(10**10)
    okey = ok["member"].to_numpy() * big + ok["t"].to_numpy()
    cl = iss[iss["t_claim"] >= 0]
    ckey = cl["member"].to_numpy() * big + cl["t_claim"].to_numpy()
    pos = np.searchsorted(okey, ckey, side="right")
    hit = pos < len(ok)
    pos = np.minimum(pos, max(len(ok) - 1, 0))
    if len(ok) == 0:
        return pd.DataFrame(columns=["oid", "code", "template"])
    o_mem = ok["member"].to_numpy()[pos]
    o_t = ok["t"].to_numpy()[pos]
    o_ch = ok["channel"].to_numpy()[pos]
    tp = cl["template"].to_numpy()
    hit &= (o_mem == cl["member"].to_numpy()) & (o_t <= cl["t_expire"].to_numpy())
    hit &= rng.random(len(cl)) < tpl["p_redeem"].to_numpy()[tp]
    hit &= ~((tpl["coupon_type"].to_numpy()[tp] == "shipping") & (o_ch == 0))
    red = pd.DataFrame({"oid": ok["oid"].to_numpy()[pos][hit], "code": cl["code"].to_numpy()[hit],
                        "template": tp[hit]})
    red = red.sort_values(["oid", "code"]).drop_duplicates("oid").reset_index(drop=True)
    # choose the line: the dearest line of the coupon's category (any category if none)
    lines = line_amounts(lines, skus)
    lj = lines[["oid", "sku", "gross", "promo"]].reset_index().merge(red, on="oid")
    tcat = tpl["category"].to_numpy()[lj["template"].to_numpy()]
    lj = lj[(tcat == "") | (skus.category[lj["sku"].to_numpy()] == tcat)]
    # threshold on the order's amount after promotions
    net = (lines["gross"] - lines["promo"]).groupby(lines["oid"]).sum()
    thr = tpl["threshold"].to_numpy()[lj["template"].to_numpy()]
    lj = lj[net.reindex(lj["oid"]).to_numpy() >= thr]
    lj = lj.sort_values(["oid", "gross", "index"], ascending=[True, False, True],
                        kind="stable").drop_duplicates("oid")
    lines.loc[lj["index"].to_numpy(), "coupon"] = lj["code"].to_numpy()
    lines.loc[lj["index"].to_numpy(), "coupon_face"] = tpl["face"].to_numpy()[lj["template"].to_numpy()]
    return lj[["oid", "code", "template"]].reset_index(drop=True)


# ============================================================================ outliers

def pos_sale_z(orders: pd.DataFrame, lines: pd.DataFrame, cal: Calendar) -> pd.DataFrame:
    """z-score of every POS sale order's paid amount within its store and calendar month
    (sample standard deviation, ddof=1)."""
    sale = orders[(orders["channel"] == 0) & (orders["order_type"] == "sale")]
    oid = sale["oid"].to_numpy()
    paid_by = np.bincount(lines["oid"].to_numpy(), weights=lines["paid"].to_numpy(),
                          minlength=int(orders["oid"].max()) + 1)
    paid = paid_by[oid]
    month = cal.month_index(sale["day"].to_numpy())
    g = sale["store"].to_numpy().astype(np.int64) * 100_000 + month
    _, g = np.unique(g, return_inverse=True)
    cnt = np.bincount(g).astype(float)
    s1 = np.bincount(g, paid)
    mean = s1 / cnt
    dev = paid - mean[g]
    var = np.bincount(g, dev * dev) / np.maximum(cnt - 1, 1)
    std = np.sqrt(var)[g]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where((std > 0) & (cnt[g] > 1), dev / std, 0.0)
    return pd.DataFrame({"oid": oid, "paid": paid, "z": z, "group": g, "count": cnt[g]})


def _ranges(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(start[i], end[i])``."""
    k = end - start
    return np.repeat(start - np.cumsum(k) + k, k) + np.arange(int(k.sum()))


def tame(orders, lines, cal, skus) -> pd.DataFrame:
    """Shrink natural POS orders above mean + 2.9 sigma of their store-month so that the
    planted outliers are the only ones (keeps the truth file exact). Round by round, an
    order still above goes one level further: quantities 1, then one line (the coupon
    line, else the first), then the cheapest SKU of the category, then the cheapest SKU
    without promotion. Only the offending orders' lines are recomputed each round."""
    oid_l = lines["oid"].to_numpy()
    assert (np.diff(oid_l) >= 0).all()
    no = int(orders["oid"].max()) + 1
    sku = lines["sku"].to_numpy().astype(np.int64).copy()
    qty = lines["qty"].to_numpy().astype(np.int64).copy()
    pct = lines["pct"].to_numpy().astype(np.int64).copy()
    face = lines["coupon_face"].to_numpy().astype(np.int64)
    hasc = (lines["coupon"] != "").to_numpy()
    keep = np.ones(len(oid_l), dtype=bool)

    def paid_of(li):
        gross = qty[li] * skus.price[sku[li]]
        promo = (gross * pct[li] // 1000) * 10
        return gross - promo - np.minimum(face[li], gross - promo)

    paid_l = paid_of(np.arange(len(oid_l)))
    paid_o = np.bincount(oid_l, weights=paid_l, minlength=no)
    start = np.searchsorted(oid_l, np.arange(no), side="left")
    end = np.searchsorted(oid_l, np.arange(no), side="right")
    sale = orders[(orders["channel"] == 0) & (orders["order_type"] == "sale")]
    soid = sale["oid"].to_numpy()
    g = sale["store"].to_numpy().astype(np.int64) * 100_000 + cal.month_index(sale["day"].to_numpy())
    _, g = np.unique(g, return_inverse=True)
    cnt = np.bincount(g).astype(float)
    level = np.zeros(no, dtype=np.int64)
    cheapest = int(np.argmin(skus.price))
    for _round in range(80):
        paid = paid_o[soid]
        mean = np.bincount(g, paid) / cnt
        dev = paid - mean[g]
        std = np.sqrt(np.bincount(g, dev * dev) / np.maximum(cnt - 1, 1))[g]
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where((std > 0) & (cnt[g] > 1), dev / std, 0.0)
        bad = soid[z > 2.9]
        log.debug("tame round %d: %d orders above 2.9 sigma", _round, len(bad))
        if len(bad) == 0:
            break
        level[bad] += 1
        li = _ranges(start[bad], end[bad])
        li = li[keep[li]]
        lv = level[oid_l[li]]
        qty[li] = 1
        two = li[lv == 2]
        if len(two):  # keep one line: the coupon line, else the first
            o = np.lexsort((two, ~hasc[two], oid_l[two]))
            t2 = two[o]
            first = np.r_[True, oid_l[t2][1:] != oid_l[t2][:-1]]
            keep[t2[~first]] = False
            li = li[keep[li]]
            lv = level[oid_l[li]]
        sel = li[lv == 3]
        sku[sel] = skus.cheap_of_category[sku[sel]]
        sel = li[lv >= 4]
        sku[sel] = cheapest
        pct[sel] = 0
        li_all = _ranges(start[bad], end[bad])
        paid_l[li_all] = np.where(keep[li_all], paid_of(li_all), 0)
        paid_o[bad] = np.add.reduceat(paid_l[li_all], np.r_[0, np.cumsum(end[bad] - start[bad])[:-1]])
    lines = lines.assign(sku=sku, qty=qty, pct=pct)[keep].reset_index(drop=True)
    return line_amounts(lines, skus)


def plant_outliers(rng, orders, lines, cal, skus, k: int, avoid=None) -> list[int]:
    """Blow up k POS sale orders beyond 3 sigma of their store and month. Orders bought by
    a member of ``avoid`` (indices: the campaign audiences) are left alone, so that no
    planted outlier lands in a campaign comparison."""
    z = pos_sale_z(orders, lines, cal)
    zo = z["oid"].to_numpy()
    excluded = np.isin(zo, lines.loc[lines["coupon"] != "", "oid"].to_numpy())
    if avoid is not None and len(avoid):
        buyer = np.full(int(orders["oid"].max()) + 1, -1, dtype=np.int64)
        buyer[orders["oid"].to_numpy()] = orders["buyer"].to_numpy()
        excluded |= np.isin(buyer[zo], avoid)
    groups = z.groupby("group")["count"].first().sort_values(ascending=False, kind="stable")
    groups = groups[groups >= 15]  # with n orders z <= (n-1)/sqrt(n) (ddof=1)
    zg, zpaid = z["group"].to_numpy(), z["paid"].to_numpy()
    oid_l = lines["oid"].to_numpy()
    picked = []
    for g in rng.permutation(np.array(groups.index))[:max(k, 1)]:
        in_g = np.flatnonzero(zg == g)
        cand = in_g[~excluded[in_g] & (zpaid[in_g] > 0)]
        if len(cand) == 0:
            continue
        at = int(cand[rng.integers(0, len(cand))])
        oid = int(zo[at])
        li = lines.index[int(np.searchsorted(oid_l, oid))]
        assert lines.at[li, "oid"] == oid
        base_q = int(lines.at[li, "qty"])
        paid0 = int(lines.at[li, "paid"])
        group_paid = zpaid[in_g].astype(float)
        me = int(np.searchsorted(in_g, at))
        for f in (40, 80, 160, 320, 640):
            lines.at[li, "qty"] = base_q * f
            lines.loc[[li], :] = line_amounts(lines.loc[[li]].copy(), skus)
            paid = group_paid.copy()
            paid[me] += int(lines.at[li, "paid"]) - paid0
            std = paid.std(ddof=1)
            if std > 0 and (paid[me] - paid.mean()) / std > 3.3:  # only its group changes
                picked.append(oid)
                break
        else:  # could not get it beyond 3 sigma: leave the order as it was
            lines.at[li, "qty"] = base_q
            lines.loc[[li], :] = line_amounts(lines.loc[[li]].copy(), skus)
    orders.loc[orders["oid"].isin(picked), "outlier"] = True
    return sorted(picked)


# ============================================================================ returns

def make_returns(rng, cal, stores, orders, lines) -> tuple[pd.DataFrame, pd.DataFrame]:
    D = cal.days
    sale = orders[(orders["channel"] == 0) & ~orders["outlier"]]
    pick = sale[rng.random(len(sale)) < 0.025].copy()
    rday = pick["day"].to_numpy() + rng.integers(1, 11, len(pick))
    okd = rday < D
    pick, rday = pick[okd], rday[okd]
    okst = stores.open[pick["store"].to_numpy(), rday]
    pick, rday = pick[okst], rday[okst]
    ret = pick.copy()
    ret["orig"] = pick["oid"].to_numpy()
    ret["day"] = rday
    ret["t"] = _times(rng, rday, POS_HOURS)
    ret["order_type"] = "return"
    # return the cheapest line of the ticket, whole quantity
    ls = lines[lines["oid"].isin(ret["orig"]) & (lines["paid"] > 0)]
    ls = ls.sort_values(["oid", "paid"], kind="stable").drop_duplicates("oid").copy()
    ret = ret[ret["orig"].isin(ls["oid"])]
    new_oid = np.full(int(orders["oid"].max()) + 1, -1, dtype=np.int64)
    new_oid[ret["orig"].to_numpy()] = np.arange(len(ret)) + int(orders["oid"].max()) + 1
    ret["oid"] = new_oid[ret["orig"].to_numpy()]
    ls["oid"] = new_oid[ls["oid"].to_numpy()]
    for c in ("qty", "gross", "promo", "cdisc", "paid"):
        ls[c] = -ls[c]
    ls["coupon"] = ""
    ls["coupon_face"] = 0
    orders = pd.concat([orders, ret], ignore_index=True)
    lines = pd.concat([lines, ls], ignore_index=True)
    return orders, lines


# ============================================================================ mini-program

def lifecycle(rng, cal, orders) -> pd.DataFrame:
    """Decide the status history of mini-program orders; adds t_paid/payable to orders."""
    end = cal.days * DAY
    is_m = (orders["channel"] == 1).to_numpy()
    n = len(orders)
    t = orders["t"].to_numpy()
    cancel = rng.random(n) < 0.07
    t_paid = t + rng.integers(30, 600, n)
    t_cancel = t + 1800
    t_ship = t_paid + rng.integers(4 * HOUR, 36 * HOUR, n)
    t_done = t_ship + rng.integers(2 * DAY, 6 * DAY, n)
    refund = ~cancel & (rng.random(n) < 0.05)
    t_ref = t_paid + rng.integers(1 * HOUR, 10 * DAY, n)
    st = []
    idx = np.arange(n)
    st.append(pd.DataFrame({"oid": idx, "status": "created", "tu": t, "k": 0}))
    st.append(pd.DataFrame({"oid": idx[cancel], "status": "cancelled", "tu": t_cancel[cancel], "k": 1}))
    paid = ~cancel
    st.append(pd.DataFrame({"oid": idx[paid], "status": "paid", "tu": t_paid[paid], "k": 1}))
    sh = paid & ~(refund & (t_ref < t_ship))
    st.append(pd.DataFrame({"oid": idx[sh], "status": "shipped", "tu": t_ship[sh], "k": 2}))
    dn = sh & ~(refund & (t_ref < t_done))
    st.append(pd.DataFrame({"oid": idx[dn], "status": "completed", "tu": t_done[dn], "k": 3}))
    st.append(pd.DataFrame({"oid": idx[refund], "status": "refunded", "tu": t_ref[refund], "k": 4}))
    v = pd.concat(st, ignore_index=True)
    v = v[is_m[v["oid"].to_numpy()] & (v["tu"].to_numpy() < end)]
    v = v.sort_values(["oid", "tu", "k"], kind="stable").reset_index(drop=True)
    orders["t_paid"] = np.where(is_m & paid, t_paid, -1)
    orders["payable"] = np.where(is_m, paid & (t_paid < end), True)
    orders["t_refund"] = np.where(is_m & refund & (t_ref < end), t_ref, -1)
    return v


# ============================================================================ points

GIFTS = [(500, "G001", 2550), (1000, "G002", 5900), (2000, "G003", 12880), (3000, "G004", 19900)]


def make_ledger(rng, cal, m, camp, orders, lines) -> pd.DataFrame:
    D = cal.days
    end = D * DAY
    paid = lines.groupby("oid")["paid"].sum()
    o = orders[orders["member"] >= 0].copy()
    o["amount"] = paid.reindex(o["oid"]).fillna(0).to_numpy()
    parts = []
    pos = o[o["channel"] == 0]
    pts = (np.abs(pos["amount"].to_numpy()) // 100) * np.sign(pos["amount"].to_numpy())
    parts.append(pd.DataFrame({"member": pos["member"], "t": pos["t"] + 5, "points": pts,
                               "reason": np.where(pos["order_type"] == "sale", "purchase",
                                                  "adjustment"), "campaign": -1, "gift": -1}))
    mo = o[(o["channel"] == 1) & (o["t_paid"] >= 0) & (o["t_paid"] < end)]
    parts.append(pd.DataFrame({"member": mo["member"], "t": mo["t_paid"] + 5,
                               "points": mo["amount"] // 100, "reason": "purchase",
                               "campaign": -1, "gift": -1}))
    rf = o[(o["channel"] == 1) & (o["t_refund"] >= 0)]
    parts.append(pd.DataFrame({"member": rf["member"], "t": rf["t_refund"] + 5,
                               "points": -(rf["amount"] // 100), "reason": "adjustment",
                               "campaign": -1, "gift": -1}))
    purch = pd.concat(parts[:2], ignore_index=True)
    purch = purch[(purch["reason"] == "purchase") & (purch["points"] > 0)]
    for ci, r in camp.df.iterrows():  # member days: double points
        if r["scenario"] != "member_day":
            continue
        w = purch[(purch["t"] >= r["start_day"] * DAY) & (purch["t"] < (r["end_day"] + 1) * DAY)]
        parts.append(pd.DataFrame({"member": w["member"], "t": w["t"] + 1, "points": w["points"],
                                   "reason": "campaign_bonus", "campaign": ci, "gift": -1}))
    # gift redemptions, more of them during a points campaign
    pc = camp.df.index[camp.df["scenario"] == "points"]
    rich = np.flatnonzero((m.points0 >= 500) & (m.del_day > D))
    f = np.ones(D)
    for ci in pc:
        f[camp.df.at[ci, "start_day"]:camp.df.at[ci, "end_day"] + 1] = 4.0
    k = rng.poisson(0.0008 * len(rich) * f)
    gday = np.repeat(np.arange(D), k)
    if len(rich) and len(gday):
        gm = rich[rng.integers(0, len(rich), len(gday))]
        afford = np.searchsorted([g[0] for g in GIFTS], m.points0[gm], side="right")
        gi = (rng.random(len(gday)) * np.maximum(afford, 1)).astype(int)
        camp_of_day = np.full(D, -1)
        for ci in pc:
            camp_of_day[camp.df.at[ci, "start_day"]:camp.df.at[ci, "end_day"] + 1] = ci
        parts.append(pd.DataFrame({"member": gm, "t": _times(rng, gday, WEB_HOURS),
                                   "points": -np.array([g[0] for g in GIFTS])[gi],
                                   "reason": "gift_redemption", "campaign": camp_of_day[gday],
                                   "gift": gi}))
    # expiry on the first of a month
    for d in range(D):
        if cal.pydate(d).day == 1:
            who = np.flatnonzero((m.points0 > 0) & (m.reg_day < -365) & (m.del_day > d))
            who = who[rng.random(len(who)) < 0.03]
            parts.append(pd.DataFrame({"member": who, "t": d * DAY + 2 * HOUR + (who % 600),
                                       "points": -np.minimum(m.points0[who], rng.integers(50, 500, len(who))),
                                       "reason": "expiry", "campaign": -1, "gift": -1}))
    # manual adjustments
    k = rng.poisson(max(1.0, 0.0004 * m.n * D))
    am = rng.integers(0, m.n, k)
    aday = np.maximum(m.first_day[am], rng.integers(0, D, k))
    parts.append(pd.DataFrame({"member": am, "t": _times(rng, aday, POS_HOURS),
                               "points": rng.integers(1, 20, k) * 10 * rng.choice([-1, 1], k),
                               "reason": "adjustment", "campaign": -1, "gift": -1}))
    led = pd.concat(parts, ignore_index=True)
    led = led[(led["points"] != 0) & (led["t"] < end)]
    led = led[led["t"] < m.t_del[led["member"].to_numpy()] + np.where(
        m.del_day[led["member"].to_numpy()] < 10**6, 0, 10**12)]
    led = led.astype({"member": np.int64, "t": np.int64, "points": np.int64,
                      "campaign": np.int64, "gift": np.int64})
    led = led.sort_values(["t", "member", "reason", "points"], kind="stable").reset_index(drop=True)
    led["entry_id"] = [f"PL{i + 1:010d}" for i in range(len(led))]
    return led


# ============================================================================ crm versions

def member_versions(rng, cal, m: Members, ledger: pd.DataFrame) -> pd.DataFrame:
    """One row per CRM export of a member: first appearance, later updates, deletion."""
    D = cal.days
    n = m.n
    parts = [pd.DataFrame({"member": np.arange(n), "day": m.first_day, "t": m.t_first,
                           "tier_up": 0, "sms_flip": 0, "deleted": 0})]
    can = np.flatnonzero((m.first_day < D - 1) & (m.del_day >= 10**6))
    upd = can[rng.random(len(can)) < 0.12]
    d1 = m.first_day[upd] + 1 + (rng.random(len(upd)) * (D - 1 - m.first_day[upd])).astype(np.int64)
    parts.append(pd.DataFrame({"member": upd, "day": d1, "t": _times(rng, d1, POS_HOURS),
                               "tier_up": (rng.random(len(upd)) < 0.3).astype(int),
                               "sms_flip": (rng.random(len(upd)) < 0.1).astype(int),
                               "deleted": 0}))
    two = (d1 < D - 1) & (rng.random(len(upd)) < 0.25)
    u2, dd = upd[two], d1[two]
    d2 = dd + 1 + (rng.random(len(u2)) * (D - 1 - dd)).astype(np.int64)
    parts.append(pd.DataFrame({"member": u2, "day": d2, "t": _times(rng, d2, POS_HOURS),
                               "tier_up": (rng.random(len(u2)) < 0.3).astype(int),
                               "sms_flip": (rng.random(len(u2)) < 0.1).astype(int),
                               "deleted": 0}))
    dl = np.flatnonzero(m.del_day < 10**6)
    parts.append(pd.DataFrame({"member": dl, "day": m.del_day[dl], "t": m.t_del[dl],
                               "tier_up": 0, "sms_flip": 0, "deleted": 1}))
    v = pd.concat(parts, ignore_index=True).sort_values(["member", "t"], kind="stable")
    v = v.reset_index(drop=True)
    g = v.groupby("member")
    v["tier"] = np.minimum(m.tier[v["member"].to_numpy()] + g["tier_up"].cumsum().to_numpy(), 3)
    v["sms"] = (m.sms[v["member"].to_numpy()] + g["sms_flip"].cumsum().to_numpy()) % 2
    # points balance: opening balance + ledger up to updated_at
    led = ledger.sort_values(["member", "t"], kind="stable")
    big = np.int64(10**10)
    lkey = led["member"].to_numpy() * big + led["t"].to_numpy()
    csum = np.r_[0, np.cumsum(led["points"].to_numpy())]
    vkey = v["member"].to_numpy() * big + v["t"].to_numpy()
    hi = np.searchsorted(lkey, vkey, side="right")
    lo = np.searchsorted(lkey, v["member"].to_numpy() * big - big // 2, side="left")
    v["points"] = m.points0[v["member"].to_numpy()] + csum[hi] - csum[lo]
    return v.sort_values(["day", "t", "member"], kind="stable").reset_index(drop=True)


# ============================================================================ events

def make_events(rng, cal, m: Members, guests: pd.DataFrame, camp: Campaigns, orders, lines,
                issues, skus) -> pd.DataFrame:
    D = cal.days
    end = D * DAY
    n_sku = len(skus.code)
    ng = len(guests)
    # users: members with an openid (index < n) and guests (n + g)
    mem_users = np.flatnonzero(m.openid != "")
    # ---------------- sessions
    mini = orders[orders["channel"] == 1]
    o_user = np.where(mini["member"] >= 0, mini["member"], m.n + mini["guest"])
    nitems = lines.groupby("oid").size().reindex(mini["oid"]).fillna(1).astype(int).to_numpy()
    s_user = [o_user]
    s_start = [mini["t"].to_numpy() - rng.integers(120, 1200, len(mini))]
    s_kind = [np.zeros(len(mini), dtype=int)]  # 0 order session, 1 browse, 2 share click
    s_pv = [np.ones(len(mini), dtype=int)]
    s_prod = [nitems + rng.poisson(0.6, len(mini))]
    s_cart = [nitems]
    s_chk = [np.ones(len(mini), dtype=int)]
    s_paid_t = [np.where(mini["t_paid"] >= 0, mini["t_paid"], -1)]
    s_share = [np.zeros(len(mini), dtype=int)]
    s_ref = [np.full(len(mini), -1)]
    # browsing
    per_day = np.bincount(mini["day"], minlength=D)
    w_mem = m.lam[mem_users] * (m.p_online[mem_users] + 0.05) + 0.002
    wu = np.r_[w_mem, np.full(ng, 0.004)]
    users = np.r_[mem_users, m.n + np.arange(ng)]
    k = rng.poisson(0.8 * per_day + 0.001 * len(users) + 2)
    bday = np.repeat(np.arange(D), k)
    nb = len(bday)
    bu = users[rng.choice(len(users), size=nb, p=wu / wu.sum())]
    bu = np.where((bu < m.n) & (m.first_day[np.minimum(bu, m.n - 1)] > bday),
                  m.n + rng.integers(0, ng, nb), bu)
    prod = rng.poisson(1.5, nb)
    cart = ((prod > 0) & (rng.random(nb) < 0.22)).astype(int)
    chk = ((cart > 0) & (rng.random(nb) < 0.3)).astype(int)
    share = ((bu < m.n) & (prod > 0) & (rng.random(nb) < 0.05)).astype(int)
    s_user.append(bu)
    s_start.append(_times(rng, bday, WEB_HOURS))
    s_kind.append(np.ones(nb, dtype=int))
    s_pv.append(1 + rng.poisson(1.0, nb))
    s_prod.append(prod)
    s_cart.append(cart)
    s_chk.append(chk)
    s_paid_t.append(np.full(nb, -1))
    s_share.append(share)
    s_ref.append(np.full(nb, -1))
    S = pd.DataFrame({"user": np.concatenate(s_user), "start": np.concatenate(s_start),
                      "kind": np.concatenate(s_kind), "pv": np.concatenate(s_pv),
                      "prod": np.concatenate(s_prod), "cart": np.concatenate(s_cart),
                      "chk": np.concatenate(s_chk), "paid_t": np.concatenate(s_paid_t),
                      "share": np.concatenate(s_share), "ref": np.concatenate(s_ref)})
    # clicks on shared links
    sh = S[S["share"] > 0]
    nclick = rng.poisson(1.3, len(sh))
    c_src = np.repeat(sh["user"].to_numpy(), nclick)
    c_t = np.repeat(sh["start"].to_numpy(), nclick) + rng.integers(600, 2 * DAY, len(c_src))
    c_user = users[rng.integers(0, len(users), len(c_src))]
    c_user = np.where(c_user == c_src, m.n + rng.integers(0, ng, len(c_src)), c_user)
    nc = len(c_src)
    C = pd.DataFrame({"user": c_user, "start": c_t, "kind": 2, "pv": 1,
                      "prod": rng.poisson(1.2, nc), "cart": 0, "chk": 0, "paid_t": -1,
                      "share": 0, "ref": c_src})
    S = pd.concat([S, C], ignore_index=True)
    S["sid"] = np.arange(len(S))
    # campaign utm on some browse sessions that fall in a campaign window
    S["camp"] = -1
    sday = S["start"].to_numpy() // DAY
    for ci, r in camp.df.iterrows():
        inwin = (S["kind"].to_numpy() == 1) & (sday >= r["start_day"]) & (sday <= r["end_day"])
        S.loc[inwin & (rng.random(len(S)) < 0.1), "camp"] = ci

    # ---------------- expand to events
    def block(count, name, rank):
        sid = np.repeat(S["sid"].to_numpy(), count)
        return pd.DataFrame({"sid": sid, "name": name, "rank": rank})

    ev = pd.concat([block(S["pv"].to_numpy(), "page_view", 0),
                    block(S["prod"].to_numpy(), "product_view", 1),
                    block(S["cart"].to_numpy(), "add_to_cart", 2),
                    block(S["share"].to_numpy(), "share", 3),
                    block(S["chk"].to_numpy(), "checkout_start", 4)], ignore_index=True)
    ev = ev.sort_values(["sid", "rank"], kind="stable").reset_index(drop=True)
    gap = rng.integers(5, 90, len(ev))
    first = np.r_[True, ev["sid"].to_numpy()[1:] != ev["sid"].to_numpy()[:-1]]
    cs = np.cumsum(gap)
    base = np.maximum.accumulate(np.where(first, cs - gap, 0))
    ev["t"] = S["start"].to_numpy()[ev["sid"].to_numpy()] + cs - base - gap
    paid = S[S["paid_t"] >= 0]
    ev = pd.concat([ev, pd.DataFrame({"sid": paid["sid"].to_numpy(), "name": "order_paid",
                                      "rank": 5, "t": paid["paid_t"].to_numpy()})],
                   ignore_index=True)
    sidx = ev["sid"].to_numpy()
    ev["user"] = S["user"].to_numpy()[sidx]
    ev["ref"] = np.where(S["kind"].to_numpy()[sidx] == 2, S["ref"].to_numpy()[sidx], -1)
    ev["camp"] = S["camp"].to_numpy()[sidx]
    name = ev["name"].to_numpy()
    ev["sku"] = np.where(np.isin(name, ["product_view", "add_to_cart", "share"]),
                         rng.choice(n_sku, len(ev), p=skus.pop), -1)
    pages = np.array(["home", "category", "campaign", "member_center", "search"], dtype=object)
    ev["page"] = np.select([name == "page_view", np.isin(name, ["product_view", "add_to_cart", "share"]),
                            name == "checkout_start", name == "order_paid"],
                           [pages[rng.integers(0, len(pages), len(ev))], "product_detail",
                            "checkout", "pay_result"], "")
    ev = ev.drop(columns=["sid", "rank"])
    # coupon claims in the mini-program
    cl = issues[(issues["t_claim"] >= 0) & (m.openid[issues["member"].to_numpy()] != "")]
    ce = pd.DataFrame({"name": "coupon_claim", "t": cl["t_claim"].to_numpy(),
                       "user": cl["member"].to_numpy(), "ref": -1,
                       "camp": cl["campaign"].to_numpy(), "sku": -1, "page": "coupon_center"})
    ev = pd.concat([ev, ce], ignore_index=True)
    ev = ev[(ev["t"] >= 0) & (ev["t"] < end)]
    ev = ev.sort_values(["t", "user", "name", "sku"], kind="stable").reset_index(drop=True)
    return ev
