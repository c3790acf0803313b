"""The campaign and coupon part of the truth file: what the warehouse can see of every
campaign and coupon template, and the planted effects it should recover.

Counts are over loadable rows only: a row in the dt folder without ``_SUCCESS`` is never
loaded, and a malformed line is a broken *copy* inserted after a real row (the real row
still loads), so counting the rendered rows of complete folders is exact.

Persons: campaign audiences hold no later member_id of a duplicate person (and nobody
erased during the period), so a person is one audience member_id; the purchases of the
person's other member_ids count for them (the warehouse merges the ids).

Expectations (intent to treat, over the whole audience, treatment and control)::

    rate of attributed purchases of account j on day d (untreated by this campaign)
        r_jd = lam_j * f_off[d] * B_jd * [(1 - o_jd) * a_j * s_pos + o_jd * s_mini]
    B_jd   boosts of the *other* campaigns whose treatment group holds j on day d
    o_jd   share of j's orders placed online: clip(p_online_j * f_on[d], 0, 0.95)
    a_j    share of j's store orders the warehouse attributes: card shown (0.94), else a
           typed mobile (0.06, when j has one)
    s_pos  share of attributable store sales in the window that are purchases as of the end
           date (amount > 0, not returned in full by then), s_mini the share of member
           mini-program orders created in the window that are paid and not refunded by the
           end date: both estimated from the generated orders of every member in the window
    R0 = sum over the window and the person's accounts of r_jd; R1 the same with the
    person's own account boosted by (1 + uplift)
    expected_conversion_lift = mean over the audience of exp(-R0) - exp(-R1)

GMV: an order of account j is worth ``v_ch(basket_j) = kappa_ch * E[lines] * E[quantity]``
(closed form in the basket factor) where kappa_ch, per campaign and channel, makes the sum
over the window's member orders equal to their net value as the warehouse sees it at the end
date (paid plus the discount of this campaign's coupons, less own returns or refunds dated
by the end date; zero when not a purchase). The incremental GMV of a treated person is
``uplift * sum_d lam * f_off * B * [(1 - o) a v_pos + o v_mini]`` of their own account,
averaged over the audience, less the discount of the campaign's coupons redeemed on orders
dated in the window (taken from the generated redemptions, per treatment member).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from memberdw.generate.activity import GIFTS
from memberdw.generate.fmt import DAY
from memberdw.generate.world import person_of, season

CARD = 0.94  # activity.make_orders: a member shows the card in 94 % of store orders


def _expect_trunc(lam: np.ndarray, cap: int) -> np.ndarray:
    """E[1 + min(Poisson(lam), cap)]."""
    lam = np.asarray(lam, dtype=float)
    pmf = np.exp(-lam)
    cdf = pmf.copy()
    out = np.ones_like(lam)
    for k in range(1, cap + 1):
        out += 1.0 - cdf  # P(X >= k)
        pmf = pmf * lam / k
        cdf = cdf + pmf
    return out


def _order_size(basket: np.ndarray, channel: int) -> np.ndarray:
    """E[lines] * E[quantity per line] of an order (activity.make_orders)."""
    lines = _expect_trunc(0.7 * basket, 5) if channel == 0 else _expect_trunc(0.45 * basket, 3)
    return lines * _expect_trunc(0.2 * basket, 2)


def _yuan(cents) -> float:
    return round(float(cents) / 100.0, 2)


def campaign_truth(cal, m, camp, orders, lines, issues, tables, delivered) -> tuple[dict, dict]:
    D = cal.days
    f_off, f_on = season(cal)
    cdf, tpl = camp.df, camp.templates
    aud = tables["marketing/campaign_audience"]
    tch = tables["marketing/campaign_touches"]
    iss_t = tables["marketing/coupon_issues"]
    red_t = tables["marketing/coupon_redemptions"]
    person = person_of(m)
    accounts: dict[int, list[int]] = {}
    for j in np.flatnonzero(person != np.arange(m.n)):
        accounts.setdefault(int(person[j]), []).append(int(j))
    a_att = CARD + (1 - CARD) * (m.mobile != 0)
    treat = camp.audience[camp.audience["group"] == "treatment"]
    in_treat = {c: set(g["member"].tolist()) for c, g in treat.groupby("campaign")}

    # ---- per order: value as the warehouse sees it, by campaign end date
    o = orders
    paid = lines.groupby("oid")["paid"].sum()
    oid_paid = paid.reindex(o["oid"]).fillna(0).to_numpy()
    code_tpl = dict(zip(issues["code"], issues["template"]))
    code_camp = dict(zip(issues["code"], issues["campaign"]))
    cl = lines[lines["coupon"] != ""]
    cl_camp = np.array([code_camp[c] for c in cl["coupon"]], dtype=np.int64)
    rets = o[o["order_type"] == "return"]
    ret_amt = rets.assign(amt=paid.reindex(rets["oid"]).fillna(0).to_numpy())
    o = o.copy()
    o = o.assign(amount=oid_paid)
    sales = o[(o["order_type"] == "sale") & (o["buyer"] >= 0)]
    # issues codes -> template rows, for the per-template truth
    n_iss = len(issues)

    campaigns = {}
    for ci, r in cdf.iterrows():
        s, e = int(r["start_day"]), int(r["end_day"])
        days = np.arange(s, e + 1)
        u = float(r["uplift"])
        end_t = (e + 1) * DAY
        # --- counts over the loaded rows
        ok = delivered("marketing/campaign_audience", aud.day) & (aud.raw["campaign"] == ci)
        grp = aud.raw["group"][ok]
        mem = aud.raw["member"][ok]
        tr = set(person[mem[grp == "treatment"]].tolist())
        ct = set(person[mem[grp == "control"]].tolist()) - tr
        okt = delivered("marketing/campaign_touches", tch.day) & (tch.raw["campaign"] == ci)
        tm = person[tch.raw["member"][okt]]

        def persons(flag):
            return len(set(tm[tch.raw[flag][okt]].tolist()) & tr)

        # --- shares and values from the window's member orders
        w = sales[(sales["day"] >= s) & (sales["day"] <= e)]
        wp = w[(w["channel"] == 0) & ((w["member"] >= 0) | (w["typed"] != 0))]
        r_by = ret_amt[(ret_amt["day"] <= e)].groupby("orig")["amt"].sum()
        net_p = wp["amount"].to_numpy() + r_by.reindex(wp["oid"]).fillna(0).to_numpy()
        purch_p = (wp["amount"].to_numpy() > 0) & (net_p > 0)
        wm = w[w["channel"] == 1]
        purch_m = (wm["payable"].to_numpy() & (wm["amount"].to_numpy() > 0)
                   & ~((wm["t_refund"].to_numpy() >= 0) & (wm["t_refund"].to_numpy() < end_t)))
        s_pos = float(purch_p.mean()) if len(wp) else 1.0
        s_mini = float(purch_m.mean()) if len(wm) else 1.0
        # this campaign's coupon discount goes back into the value of an order
        own = cl[cl_camp == ci].groupby("oid")["cdisc"].sum()
        v_p = np.where(purch_p, net_p, 0) + own.reindex(wp["oid"]).fillna(0).to_numpy() * (wp["amount"].to_numpy() > 0)
        v_m = np.where(purch_m, wm["amount"].to_numpy() + own.reindex(wm["oid"]).fillna(0).to_numpy(), 0)
        k_p = v_p.sum() / max(_order_size(m.basket[wp["buyer"].to_numpy()], 0).sum(), 1e-9)
        k_m = v_m.sum() / max(_order_size(m.basket[wm["buyer"].to_numpy()], 1).sum(), 1e-9)

        # --- expectations over the generated audience
        a_all = camp.audience[camp.audience["campaign"] == ci]
        am = a_all["member"].to_numpy().astype(np.int64)
        lift = gmv = 0.0
        if len(am) and u != 0:
            # boosts of the other campaigns on the window days
            B = np.ones((len(am), len(days)))
            for cj, rj in cdf.iterrows():
                if cj == ci or cj not in in_treat:
                    continue
                on = (days >= rj["start_day"]) & (days <= rj["end_day"])
                if not on.any():
                    continue
                hit = np.isin(am, list(in_treat[cj]))
                B[np.ix_(hit, on)] *= 1.0 + rj["uplift"]

            def rates(j, Bj):
                alive = ((m.reg_day[j][:, None] < days[None, :])
                         & (m.del_day[j][:, None] > days[None, :]))
                onl = np.clip(m.p_online[j][:, None] * f_on[days][None, :], 0, 0.95)
                base = m.lam[j][:, None] * f_off[days][None, :] * Bj * alive
                conv = base * ((1 - onl) * a_att[j][:, None] * s_pos + onl * s_mini)
                val = base * ((1 - onl) * a_att[j][:, None] * k_p * _order_size(m.basket[j], 0)[:, None]
                              + onl * k_m * _order_size(m.basket[j], 1)[:, None])
                return conv.sum(axis=1), val.sum(axis=1)

            own_r, own_v = rates(am, B)
            other = np.zeros(len(am))
            for i, p_ in enumerate(am.tolist()):
                for j in accounts.get(p_, []):
                    other[i] += rates(np.array([j]), np.ones((1, len(days))))[0][0]
            r0 = own_r + other
            r1 = (1 + u) * own_r + other
            lift = float(np.mean(np.exp(-r0) - np.exp(-r1)))
            gmv = float(np.mean(u * own_v))
        # the discount of this campaign's coupons on orders dated in the window
        odate = np.where(o["channel"].to_numpy() == 0, o["day"].to_numpy(),
                         np.where(o["t_paid"].to_numpy() >= 0, o["t_paid"].to_numpy() // DAY, -1))
        oday = pd.Series(odate, index=o["oid"].to_numpy())
        own_days = oday.reindex(own.index).to_numpy()
        loss = float(own[(own_days >= s) & (own_days <= e)].sum()) / 100.0
        n_tr = len(tr)
        per = gmv / 100.0 - (loss / n_tr if n_tr else 0.0)
        rec = {
            "name": r["name"], "scenario": r["scenario"],
            "start_date": cal.pydate(s).isoformat(), "end_date": cal.pydate(e).isoformat(),
            "has_control": bool(r["control"]), "uplift": u,
            "template_ids": [tpl.at[t, "template_id"] for t in r["templates"]],
            "targeted_count": n_tr, "control_count": len(ct),
            "reached_count": persons("delivered"), "opened_count": persons("opened"),
            "clicked_count": persons("clicked"),
            "expected_conversion_lift": round(lift, 6),
            "expected_incremental_gmv_per_member": round(per, 4),
            "expected_incremental_gmv_amount": round(per * n_tr, 2),
            "coupon_discount_amount": round(loss, 2),
        }
        if r["scenario"] == "points":
            rec.update(_points(cal, m, ci, s, e, tables["points/ledger"], delivered, person))
        campaigns[r["campaign_id"]] = rec

    # ---- templates
    oki = delivered("marketing/coupon_issues", iss_t.day)
    seq = iss_t.raw["seq"]
    issued = np.zeros(n_iss, dtype=bool)
    claimed = np.zeros(n_iss, dtype=bool)
    issued[seq[oki]] = True
    claimed[seq[oki & iss_t.raw["claimed"]]] = True
    okr = delivered("marketing/coupon_redemptions", red_t.day)
    rcode = red_t.raw["code"][okr]
    rtpl = np.array([code_tpl[c] for c in rcode], dtype=np.int64)
    seq_of = dict(zip(issues["code"], issues["seq"]))
    redeemed = np.zeros(n_iss, dtype=bool)
    redeemed[[seq_of[c] for c in set(rcode.tolist())]] = True
    itpl = issues["template"].to_numpy()
    expired = issues["t_expire"].to_numpy() < D * DAY
    templates = {}
    for ti, t in tpl.iterrows():
        mine = itpl == ti
        rows = rtpl == ti
        templates[t["template_id"]] = {
            "name": t["name"], "campaign_id": t["campaign_id"], "coupon_type": t["coupon_type"],
            "face_value": _yuan(t["face"]), "threshold_amount": _yuan(t["threshold"]),
            "claim_probability": float(t["p_claim"]), "usage_probability": float(t["p_redeem"]),
            "issued_count": int((mine & issued).sum()),
            "claimed_count": int((mine & claimed).sum()),
            "redeemed_count": int((mine & redeemed).sum()),
            "redemption_rows": int(rows.sum()),
            "duplicate_redemption_rows": int((rows & red_t.raw["dup"][okr]).sum()),
            "no_order_ref_rows": int((rows & red_t.raw["no_ref"][okr]).sum()),
            "expired_unused_count": int((mine & issued & ~redeemed & expired).sum()),
        }
    return campaigns, templates


def _points(cal, m, ci, s, e, led_t, delivered, person) -> dict:
    raw = led_t.raw
    ok = (delivered("points/ledger", led_t.day) & (raw["campaign"] == ci)
          & (raw["reason"] == "gift_redemption") & (led_t.day >= s) & (led_t.day <= e))
    cost = np.array([g[2] for g in GIFTS], dtype=np.int64)[raw["gift"][ok]]
    return {"gift_cost_amount": _yuan(cost.sum()), "gifts_redeemed_count": int(ok.sum()),
            "redeeming_member_count": len(set(person[raw["member"][ok]].tolist()))}
