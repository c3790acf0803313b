"""memberdw.stats against independent computations: scipy's Welch t-test on per-member
arrays, statsmodels' two-proportion test, numpy CUPED on arrays, and hand-worked numbers."""

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from memberdw import stats
from memberdw.stats import campaign_effects

Z = sps.norm.ppf(0.975)


def arm_row(campaign_id, arm, stratum, y, x=None, converted=None):
    """One input row of sufficient statistics built from per-member arrays y (window GMV)
    and x (pre-window GMV); converted defaults to the members with y > 0."""
    y = np.asarray(y, dtype=float)
    x = np.zeros_like(y) if x is None else np.asarray(x, dtype=float)
    return {
        "campaign_id": campaign_id, "arm": arm, "stratum": stratum,
        "member_count": len(y),
        "converted_count": int((y > 0).sum()) if converted is None else int(converted.sum()),
        "gmv_sum": y.sum(), "gmv_sq_sum": (y ** 2).sum(),
        "pre_gmv_sum": x.sum(), "pre_gmv_sq_sum": (x ** 2).sum(),
        "gmv_pre_gmv_sum": (x * y).sum(),
    }


def members(rng, n, buy_rate=0.3, lift=0.0, pre_weight=0.8):
    """Simulated members: pre GMV x; buyers (probability buy_rate) spend
    pre_weight·x + noise + lift, so y correlates with x; non-buyers have y = 0."""
    x = rng.gamma(1.5, 60.0, n)
    buys = rng.random(n) < buy_rate
    y = np.where(buys, pre_weight * x + rng.gamma(2.0, 20.0, n) + lift, 0.0)
    return y, x


def one(frame):
    assert len(frame) == 1
    return frame.iloc[0]


# --- Welch ---------------------------------------------------------------------------------

def test_welch_diff_matches_scipy_on_arrays():
    rng = np.random.default_rng(11)
    y_t, _ = members(rng, 700, lift=15.0)
    y_c, _ = members(rng, 450)
    expected = sps.ttest_ind(y_t, y_c, equal_var=False)
    ci = expected.confidence_interval(0.95)

    got = stats.welch_diff(y_t.mean(), y_t.var(ddof=1), len(y_t),
                           y_c.mean(), y_c.var(ddof=1), len(y_c))
    assert got.diff == pytest.approx(y_t.mean() - y_c.mean(), rel=1e-12)
    assert got.ci_low == pytest.approx(ci.low, rel=1e-9)
    assert got.ci_high == pytest.approx(ci.high, rel=1e-9)
    assert got.p_value == pytest.approx(expected.pvalue, rel=1e-9)

    from_stats = sps.ttest_ind_from_stats(y_t.mean(), y_t.std(ddof=1), len(y_t),
                                          y_c.mean(), y_c.std(ddof=1), len(y_c),
                                          equal_var=False)
    assert got.p_value == pytest.approx(from_stats.pvalue, rel=1e-9)


def test_incremental_gmv_is_welch_on_members_scaled_by_treatment_count():
    rng = np.random.default_rng(12)
    y_t, x_t = members(rng, 600, lift=10.0)
    y_c, x_c = members(rng, 500)
    # control split over two strata: the sums of an arm pool
    frame = pd.DataFrame([
        arm_row("c1", "treatment", "high", y_t[:200], x_t[:200]),
        arm_row("c1", "treatment", "low", y_t[200:], x_t[200:]),
        arm_row("c1", "control", "high", y_c[:100], x_c[:100]),
        arm_row("c1", "control", "low", y_c[100:], x_c[100:]),
    ])
    row = one(campaign_effects(frame))
    ci = sps.ttest_ind(y_t, y_c, equal_var=False).confidence_interval(0.95)

    assert row["natural_rate_source"] == "control_group"
    assert row["treatment_member_count"] == 600
    assert row["comparison_member_count"] == 500
    assert row["unmatched_treatment_count"] == 0
    assert row["treatment_gmv_per_member"] == pytest.approx(y_t.mean())
    assert row["comparison_gmv_per_member"] == pytest.approx(y_c.mean())
    assert row["incremental_gmv_amount"] == pytest.approx((y_t.mean() - y_c.mean()) * 600)
    assert row["incremental_gmv_ci_low"] == pytest.approx(ci.low * 600, rel=1e-9)
    assert row["incremental_gmv_ci_high"] == pytest.approx(ci.high * 600, rel=1e-9)


# --- conversion ----------------------------------------------------------------------------

def test_two_proportion_hand_worked():
    # 30/100 against 20/100:
    #   lift = 0.3 - 0.2 = 0.1
    #   unpooled se = sqrt(0.3*0.7/100 + 0.2*0.8/100) = sqrt(0.0037) = 0.0608276
    #   CI = 0.1 -/+ 1.959964 * 0.0608276 = [-0.0192205, 0.2192205]
    #   pooled p = 50/200 = 0.25, se = sqrt(0.25*0.75*(1/100 + 1/100)) = sqrt(0.00375)
    #   z = 0.1 / 0.0612372 = 1.632993, p = 2 * (1 - Phi(1.632993)) = 0.102470
    got = stats.two_proportion(30, 100, 20, 100)
    assert got.diff == pytest.approx(0.1)
    assert got.ci_low == pytest.approx(-0.0192205, abs=1e-6)
    assert got.ci_high == pytest.approx(0.2192205, abs=1e-6)
    assert got.p_value == pytest.approx(0.102470, abs=1e-6)


def test_two_proportion_matches_statsmodels():
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    for x_t, n_t, x_c, n_c in [(130, 1000, 101, 950), (7, 120, 19, 150), (0, 300, 4, 280)]:
        got = stats.two_proportion(x_t, n_t, x_c, n_c)
        _, p_value = proportion.proportions_ztest([x_t, x_c], [n_t, n_c])
        low, high = proportion.confint_proportions_2indep(
            x_t, n_t, x_c, n_c, method="wald", compare="diff")
        assert got.p_value == pytest.approx(p_value, rel=1e-9)
        assert got.ci_low == pytest.approx(low, rel=1e-9)
        assert got.ci_high == pytest.approx(high, rel=1e-9)


def test_conversion_columns_in_the_table():
    rng = np.random.default_rng(13)
    y_t, _ = members(rng, 800, buy_rate=0.35)
    y_c, _ = members(rng, 700, buy_rate=0.30)
    row = one(campaign_effects(pd.DataFrame([
        arm_row("c1", "treatment", "all", y_t), arm_row("c1", "control", "all", y_c),
    ])))
    p_t, p_c = (y_t > 0).mean(), (y_c > 0).mean()
    expected = stats.two_proportion((y_t > 0).sum(), 800, (y_c > 0).sum(), 700)
    assert row["treatment_conversion_rate"] == pytest.approx(p_t)
    assert row["natural_conversion_rate"] == pytest.approx(p_c)
    assert row["conversion_lift"] == pytest.approx(p_t - p_c)
    assert row["relative_lift"] == pytest.approx((p_t - p_c) / p_c)
    assert row["conversion_lift_ci_low"] == pytest.approx(expected.ci_low)
    assert row["conversion_lift_ci_high"] == pytest.approx(expected.ci_high)
    assert row["conversion_lift_p_value"] == pytest.approx(expected.p_value)


def test_relative_lift_is_null_without_natural_conversions():
    row = one(campaign_effects(pd.DataFrame([
        arm_row("c1", "treatment", "all", np.r_[np.zeros(150), np.full(50, 20.0)]),
        arm_row("c1", "control", "all", np.zeros(200)),
    ])))
    assert row["natural_conversion_rate"] == 0
    assert row["conversion_lift"] == pytest.approx(0.25)
    assert math.isnan(row["relative_lift"])


# --- CUPED ---------------------------------------------------------------------------------

def test_cuped_matches_numpy_adjustment_and_shrinks_the_ci():
    rng = np.random.default_rng(14)
    y_t, x_t = members(rng, 900, buy_rate=0.9, lift=12.0, pre_weight=1.0)
    y_c, x_c = members(rng, 800, buy_rate=0.9, pre_weight=1.0)
    row = one(campaign_effects(pd.DataFrame([
        arm_row("c1", "treatment", "all", y_t, x_t), arm_row("c1", "control", "all", y_c, x_c),
    ])))

    y, x = np.r_[y_t, y_c], np.r_[x_t, x_c]
    theta = np.cov(y, x, ddof=1)[0, 1] / np.var(x, ddof=1)
    adj_t = y_t - theta * (x_t - x.mean())
    adj_c = y_c - theta * (x_c - x.mean())
    ci = sps.ttest_ind(adj_t, adj_c, equal_var=False).confidence_interval(0.95)

    assert row["cuped_theta"] == pytest.approx(theta, rel=1e-9)
    assert row["incremental_gmv_cuped_amount"] == pytest.approx(
        (adj_t.mean() - adj_c.mean()) * 900, rel=1e-9)
    assert row["incremental_gmv_cuped_ci_low"] == pytest.approx(ci.low * 900, rel=1e-9)
    assert row["incremental_gmv_cuped_ci_high"] == pytest.approx(ci.high * 900, rel=1e-9)

    raw_width = row["incremental_gmv_ci_high"] - row["incremental_gmv_ci_low"]
    cuped_width = row["incremental_gmv_cuped_ci_high"] - row["incremental_gmv_cuped_ci_low"]
    assert cuped_width < 0.8 * raw_width


def test_cuped_without_covariate_variation_is_the_raw_estimate():
    rng = np.random.default_rng(15)
    y_t, _ = members(rng, 300)
    y_c, _ = members(rng, 300)
    row = one(campaign_effects(pd.DataFrame([
        arm_row("c1", "treatment", "all", y_t, np.full(300, 50.0)),
        arm_row("c1", "control", "all", y_c, np.full(300, 50.0)),
    ])))
    assert row["cuped_theta"] == 0
    for suffix in ("amount", "ci_low", "ci_high"):
        assert row[f"incremental_gmv_cuped_{suffix}"] == pytest.approx(
            row[f"incremental_gmv_{suffix}"])


# --- lookalike standardisation -------------------------------------------------------------

def stratum_row(campaign_id, arm, stratum, n, converted, mean, var, x_mean=0.0, x_var=0.0):
    """A row from a stratum's mean and sample variance: Σy = n·m, Σy² = (n−1)·s² + n·m²."""
    return {
        "campaign_id": campaign_id, "arm": arm, "stratum": stratum, "member_count": n,
        "converted_count": converted, "gmv_sum": n * mean,
        "gmv_sq_sum": (n - 1) * var + n * mean ** 2 if n else 0.0,
        "pre_gmv_sum": n * x_mean,
        "pre_gmv_sq_sum": (n - 1) * x_var + n * x_mean ** 2 if n else 0.0,
        "gmv_pre_gmv_sum": n * mean * x_mean,  # y, x uncorrelated within a stratum
    }


def lookalike_example():
    return pd.DataFrame([
        # treatment: A 300 members (60 convert), B 100 (50), C 20 without lookalikes
        stratum_row("c9", "treatment", "A", 300, 60, 10.0, 400.0, 5.0, 25.0),
        stratum_row("c9", "treatment", "B", 100, 50, 30.0, 900.0, 20.0, 100.0),
        stratum_row("c9", "treatment", "C", 20, 10, 50.0, 100.0, 40.0, 4.0),
        stratum_row("c9", "control", "A", 0, 0, 0.0, 0.0),
        stratum_row("c9", "lookalike", "A", 1000, 150, 8.0, 300.0, 5.0, 25.0),
        stratum_row("c9", "lookalike", "B", 400, 160, 20.0, 800.0, 20.0, 100.0),
        stratum_row("c9", "lookalike", "C", 0, 0, 0.0, 0.0),
    ])


def test_lookalike_standardised_to_treatment_mix_hand_worked():
    row = one(campaign_effects(lookalike_example()))
    assert row["natural_rate_source"] == "lookalike"
    assert row["unmatched_treatment_count"] == 20  # stratum C dropped from both sides
    assert row["treatment_member_count"] == 400
    assert row["comparison_member_count"] == 1400

    # weights w_A = 300/400 = 0.75, w_B = 0.25
    # treatment rate 110/400 = 0.275; natural = 0.75*0.15 + 0.25*0.40 = 0.2125
    # (the unweighted lookalike rate 310/1400 = 0.2214 would be wrong)
    assert row["treatment_conversion_rate"] == pytest.approx(0.275)
    assert row["natural_conversion_rate"] == pytest.approx(0.2125)
    assert row["conversion_lift"] == pytest.approx(0.0625)
    assert row["relative_lift"] == pytest.approx(0.0625 / 0.2125)
    # var = 0.275*0.725/400 + 0.75²*0.15*0.85/1000 + 0.25²*0.4*0.6/400
    #     = 4.984375e-4 + 7.171875e-5 + 3.75e-5 = 6.0765625e-4
    se = math.sqrt(6.0765625e-4)
    assert row["conversion_lift_ci_low"] == pytest.approx(0.0625 - Z * se)
    assert row["conversion_lift_ci_high"] == pytest.approx(0.0625 + Z * se)
    assert row["conversion_lift_p_value"] == pytest.approx(2 * sps.norm.sf(0.0625 / se))

    # GMV: treatment mean (300*10 + 100*30)/400 = 15; lookalike 0.75*8 + 0.25*20 = 11
    assert row["treatment_gmv_per_member"] == pytest.approx(15.0)
    assert row["comparison_gmv_per_member"] == pytest.approx(11.0)
    assert row["incremental_gmv_amount"] == pytest.approx(4.0 * 400)
    # treatment variance over its 400 members: Σy² = 299*400 + 300*100 + 99*900 + 100*900
    t_var = (299 * 400 + 300 * 100 + 99 * 900 + 100 * 900 - 400 * 15.0 ** 2) / 399
    parts = [(t_var / 400, 399), (0.75 ** 2 * 300 / 1000, 999), (0.25 ** 2 * 800 / 400, 399)]
    variance = sum(v for v, _ in parts)
    df = variance ** 2 / sum(v ** 2 / d for v, d in parts)
    half = sps.t.ppf(0.975, df) * math.sqrt(variance)
    assert row["incremental_gmv_ci_low"] == pytest.approx((4.0 - half) * 400)
    assert row["incremental_gmv_ci_high"] == pytest.approx((4.0 + half) * 400)

    # balance: same pre-GMV per stratum -> the standardised lookalike matches exactly
    assert row["treatment_pre_gmv_per_member"] == pytest.approx(0.75 * 5 + 0.25 * 20)
    assert row["comparison_pre_gmv_per_member"] == pytest.approx(0.75 * 5 + 0.25 * 20)
    assert row["pre_gmv_std_diff"] == pytest.approx(0.0, abs=1e-12)
    assert row["is_balanced"] is True or row["is_balanced"] == True  # noqa: E712


def test_lookalike_cuped_adjusts_per_stratum_against_arrays():
    """Lookalike CUPED from member arrays: θ pooled over every analysed member, y adjusted,
    then the standardised comparison (weights from the treatment) as in the raw case."""
    rng = np.random.default_rng(16)
    t = {s: members(rng, n, buy_rate=r, lift=8.0) for s, n, r in [("A", 400, 0.3), ("B", 200, 0.6)]}
    c = {s: members(rng, n, buy_rate=r) for s, n, r in [("A", 900, 0.3), ("B", 300, 0.6)]}
    frame = pd.DataFrame([arm_row("c1", "treatment", s, *t[s]) for s in t]
                         + [arm_row("c1", "lookalike", s, *c[s]) for s in c])
    row = one(campaign_effects(frame))

    y = np.concatenate([t[s][0] for s in t] + [c[s][0] for s in c])
    x = np.concatenate([t[s][1] for s in t] + [c[s][1] for s in c])
    theta = np.cov(y, x, ddof=1)[0, 1] / np.var(x, ddof=1)
    adjust = {k: (yy - theta * (xx - x.mean())) for k, (yy, xx) in
              [(("t", s), t[s]) for s in t] + [(("c", s), c[s]) for s in c]}
    adj_t = np.r_[adjust["t", "A"], adjust["t", "B"]]
    w = {"A": 400 / 600, "B": 200 / 600}
    c_mean = sum(w[s] * adjust["c", s].mean() for s in w)
    parts = [(adj_t.var(ddof=1) / 600, 599)] + [
        (w[s] ** 2 * adjust["c", s].var(ddof=1) / len(adjust["c", s]), len(adjust["c", s]) - 1)
        for s in w]
    variance = sum(v for v, _ in parts)
    df = variance ** 2 / sum(v ** 2 / d for v, d in parts)
    half = sps.t.ppf(0.975, df) * math.sqrt(variance)
    diff = adj_t.mean() - c_mean

    assert row["cuped_theta"] == pytest.approx(theta, rel=1e-9)
    assert row["incremental_gmv_cuped_amount"] == pytest.approx(diff * 600, rel=1e-9)
    assert row["incremental_gmv_cuped_ci_low"] == pytest.approx((diff - half) * 600, rel=1e-9)
    assert row["incremental_gmv_cuped_ci_high"] == pytest.approx((diff + half) * 600, rel=1e-9)


def test_diff_in_diff_is_welch_on_member_differences():
    """θ fixed at 1, one stratum: the incremental GMV is the difference of the groups' mean
    y − x, with scipy's Welch interval on those per-member differences, times n_t."""
    rng = np.random.default_rng(21)
    y_t, x_t = members(rng, 500, lift=12.0)
    y_c, x_c = members(rng, 1500)
    x_t = x_t + 30.0  # a level difference before the window, which DiD removes
    y_t = y_t + 30.0
    frame = pd.DataFrame([arm_row("t1", "treatment", "s", y_t, x_t),
                          arm_row("t1", "lookalike", "s", y_c, x_c)])
    row = one(campaign_effects(frame, theta=1.0))

    d_t, d_c = y_t - x_t, y_c - x_c
    ci = sps.ttest_ind(d_t, d_c, equal_var=False).confidence_interval(0.95)
    assert row["cuped_theta"] == 1.0
    assert row["incremental_gmv_cuped_amount"] == pytest.approx((d_t.mean() - d_c.mean()) * 500,
                                                                rel=1e-9)
    assert row["incremental_gmv_cuped_ci_low"] == pytest.approx(ci.low * 500, rel=1e-9)
    assert row["incremental_gmv_cuped_ci_high"] == pytest.approx(ci.high * 500, rel=1e-9)


def test_diff_in_diff_per_stratum_is_standardised_to_the_treatment_mix():
    """Two strata: Σ w_s·(d̄_t,s − d̄_c,s) with w_s = n_t,s / n_t, on arrays."""
    rng = np.random.default_rng(22)
    t = {s: members(rng, n, buy_rate=r) for s, n, r in [("A", 300, 0.3), ("B", 100, 0.6)]}
    c = {s: members(rng, n, buy_rate=r) for s, n, r in [("A", 600, 0.3), ("B", 900, 0.6)]}
    frame = pd.DataFrame([arm_row("t1", "treatment", s, *t[s]) for s in t]
                         + [arm_row("t1", "lookalike", s, *c[s]) for s in c])
    row = one(campaign_effects(frame, theta=1.0))
    d_t = np.r_[t["A"][0] - t["A"][1], t["B"][0] - t["B"][1]]
    d_c = {s: (c[s][0] - c[s][1]).mean() for s in c}
    expected = d_t.mean() - (0.75 * d_c["A"] + 0.25 * d_c["B"])
    assert row["incremental_gmv_cuped_amount"] == pytest.approx(expected * 400, rel=1e-9)


def test_control_group_wins_over_lookalike_rows():
    frame = lookalike_example()
    control = stratum_row("c9", "control", "A", 500, 100, 9.0, 350.0, 6.0, 30.0)
    frame = pd.concat([frame[frame["arm"] != "control"], pd.DataFrame([control])])
    row = one(campaign_effects(frame))
    assert row["natural_rate_source"] == "control_group"
    assert row["treatment_member_count"] == 420  # every treatment stratum, C included
    assert row["comparison_member_count"] == 500
    assert row["unmatched_treatment_count"] == 0
    assert row["natural_conversion_rate"] == pytest.approx(0.2)


# --- min_group_size ------------------------------------------------------------------------

def test_small_groups_have_no_lift_but_keep_rates():
    rng = np.random.default_rng(17)
    y_t, x_t = members(rng, 150)
    y_c, x_c = members(rng, 90)
    frame = pd.DataFrame([arm_row("c1", "treatment", "all", y_t, x_t),
                          arm_row("c1", "control", "all", y_c, x_c)])
    small = one(campaign_effects(frame))  # control 90 < 100
    for column in stats.LIFT_COLUMNS:
        assert math.isnan(small[column]), column
    assert small["treatment_conversion_rate"] == pytest.approx((y_t > 0).mean())
    assert small["natural_conversion_rate"] == pytest.approx((y_c > 0).mean())
    assert small["treatment_gmv_per_member"] == pytest.approx(y_t.mean())

    allowed = one(campaign_effects(frame, min_group_size=90))
    for column in stats.LIFT_COLUMNS:
        assert not math.isnan(allowed[column]), column


def test_min_group_size_on_lookalike_counts_the_whole_comparison():
    frame = lookalike_example()  # treatment 400 analysed, lookalike 1000 + 400
    assert not math.isnan(one(campaign_effects(frame, min_group_size=400))["conversion_lift"])
    assert math.isnan(one(campaign_effects(frame, min_group_size=401))["conversion_lift"])
    assert not math.isnan(one(campaign_effects(frame, min_group_size=400))["relative_lift"])


# --- simulations ---------------------------------------------------------------------------

def simulate(seed, campaigns, n, gmv_lift=0.0, rate_lift=0.0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(campaigns):
        y_t, x_t = members(rng, n, buy_rate=0.3 + rate_lift, lift=gmv_lift)
        y_c, x_c = members(rng, n, buy_rate=0.3)
        rows += [arm_row(f"c{i:03d}", "treatment", "all", y_t, x_t),
                 arm_row(f"c{i:03d}", "control", "all", y_c, x_c)]
    return campaign_effects(pd.DataFrame(rows))


def covers(frame, low, high, truth):
    return ((frame[low] <= truth) & (truth <= frame[high])).mean()


def test_zero_effect_intervals_cover_zero():
    out = simulate(seed=21, campaigns=1, n=2000)
    row = one(out)
    assert row["conversion_lift_ci_low"] <= 0 <= row["conversion_lift_ci_high"]
    assert row["incremental_gmv_ci_low"] <= 0 <= row["incremental_gmv_ci_high"]
    assert row["incremental_gmv_cuped_ci_low"] <= 0 <= row["incremental_gmv_cuped_ci_high"]
    assert row["conversion_lift_p_value"] > 0.05

    # and about 95% of the time over many campaigns (binomial sd 1.3% at 300)
    many = simulate(seed=22, campaigns=300, n=400)
    for prefix in ("conversion_lift", "incremental_gmv", "incremental_gmv_cuped"):
        coverage = covers(many, f"{prefix}_ci_low", f"{prefix}_ci_high", 0.0)
        assert 0.91 <= coverage <= 0.99, (prefix, coverage)
    assert 0.01 <= (many["conversion_lift_p_value"] < 0.05).mean() <= 0.09


def test_planted_effect_intervals_cover_the_truth():
    n, rate_lift, gmv_lift = 3000, 0.05, 20.0
    # truth per member: buyers spend mean(0.8x) + mean(noise) + lift
    base_spend = 0.8 * 1.5 * 60.0 + 2.0 * 20.0
    true_gmv = (0.35 * (base_spend + gmv_lift) - 0.30 * base_spend) * n
    row = one(simulate(seed=23, campaigns=1, n=n, gmv_lift=gmv_lift, rate_lift=rate_lift))
    assert row["conversion_lift_ci_low"] <= rate_lift <= row["conversion_lift_ci_high"]
    assert row["conversion_lift_ci_low"] > 0
    assert row["incremental_gmv_ci_low"] <= true_gmv <= row["incremental_gmv_ci_high"]
    assert row["incremental_gmv_cuped_ci_low"] <= true_gmv <= row["incremental_gmv_cuped_ci_high"]

    many = simulate(seed=24, campaigns=300, n=400, gmv_lift=gmv_lift, rate_lift=rate_lift)
    true_gmv_400 = true_gmv / n * 400
    for prefix, truth in (("conversion_lift", rate_lift), ("incremental_gmv", true_gmv_400),
                          ("incremental_gmv_cuped", true_gmv_400)):
        coverage = covers(many, f"{prefix}_ci_low", f"{prefix}_ci_high", truth)
        assert 0.91 <= coverage <= 0.99, (prefix, coverage)


# --- balance -------------------------------------------------------------------------------

def test_standardised_mean_difference():
    rng = np.random.default_rng(25)
    x_t, x_c = rng.normal(100, 20, 500), rng.normal(103, 30, 400)
    row = one(campaign_effects(pd.DataFrame([
        arm_row("c1", "treatment", "all", np.zeros(500), x_t),
        arm_row("c1", "control", "all", np.zeros(400), x_c),
    ])))
    smd = (x_t.mean() - x_c.mean()) / math.sqrt((x_t.var(ddof=1) + x_c.var(ddof=1)) / 2)
    assert row["treatment_pre_gmv_per_member"] == pytest.approx(x_t.mean())
    assert row["comparison_pre_gmv_per_member"] == pytest.approx(x_c.mean())
    assert row["pre_gmv_std_diff"] == pytest.approx(smd)
    assert bool(row["is_balanced"]) == (abs(smd) <= 0.1)

    shifted = one(campaign_effects(pd.DataFrame([
        arm_row("c1", "treatment", "all", np.zeros(500), x_t + 10),
        arm_row("c1", "control", "all", np.zeros(400), x_c),
    ])))
    assert shifted["pre_gmv_std_diff"] > 0.1
    assert not shifted["is_balanced"]


def test_smd_without_variance():
    assert stats.std_mean_diff(0.0, 0.0, 0.0, 0.0) == 0.0
    assert math.isnan(stats.std_mean_diff(1.0, 0.0, 0.0, 0.0))
    row = one(campaign_effects(pd.DataFrame([
        arm_row("c1", "treatment", "all", np.ones(120)), arm_row("c1", "control", "all", np.ones(130)),
    ])))  # nobody bought before: x = 0 everywhere
    assert row["pre_gmv_std_diff"] == 0
    assert row["is_balanced"] == True  # noqa: E712


# --- the frame -----------------------------------------------------------------------------

def test_output_columns_and_dtypes_are_stable():
    empty = campaign_effects(pd.DataFrame(columns=list(stats.INPUT_COLUMNS)))
    assert list(empty.columns) == list(stats.OUTPUT_COLUMNS)
    assert len(empty) == 0
    full = campaign_effects(lookalike_example())
    assert dict(empty.dtypes.astype(str)) == dict(full.dtypes.astype(str))
    assert empty["treatment_member_count"].dtype == "int64"
    assert empty["conversion_lift"].dtype == "float64"
    assert empty["is_balanced"].dtype == "boolean"
    assert pd.api.types.is_string_dtype(empty["campaign_id"])


def test_decimal_and_null_money_inputs():
    frame = lookalike_example()
    as_decimal = frame.copy()
    for column in stats.SUM_COLUMNS[2:]:
        as_decimal[column] = [Decimal(repr(float(v))) for v in frame[column]]
    money = list(stats.SUM_COLUMNS[2:])
    as_decimal[money] = as_decimal[money].astype(object)
    as_decimal.loc[as_decimal["member_count"] == 0, list(stats.SUM_COLUMNS[2:])] = None
    pd.testing.assert_frame_equal(campaign_effects(as_decimal), campaign_effects(frame))


def test_one_row_per_campaign_sorted():
    frame = pd.concat([lookalike_example().assign(campaign_id=cid) for cid in ("b", "a")])
    out = campaign_effects(frame)
    assert list(out["campaign_id"]) == ["a", "b"]


def test_unknown_arm_is_an_error():
    frame = lookalike_example()
    frame.loc[0, "arm"] = "holdout"
    with pytest.raises(ValueError, match="holdout"):
        campaign_effects(frame)


def test_coupon_effects_picks_the_estimate_of_each_method():
    rng = np.random.default_rng(23)
    y_t, x_t = members(rng, 300, lift=10.0)
    y_c, x_c = members(rng, 600)
    rows = [arm_row("T1", "treatment", "all", y_t, x_t), arm_row("T1", "control", "all", y_c, x_c),
            arm_row("T2", "treatment", "w", y_t, x_t), arm_row("T2", "lookalike", "w", y_c, x_c)]
    frame = pd.DataFrame(rows).rename(columns={"campaign_id": "template_id"})
    frame["effect_method"] = ["control_group"] * 2 + ["diff_in_diff"] * 2
    got = stats.coupon_effects(frame).set_index("template_id")

    assert list(got.index) == ["T1", "T2"]
    assert got.loc["T1", "effect_method"] == "control_group"
    assert got.loc["T1", "incremental_gmv_amount"] == pytest.approx(
        (y_t.mean() - y_c.mean()) * 300, rel=1e-9)
    assert got.loc["T2", "effect_method"] == "diff_in_diff"
    assert got.loc["T2", "incremental_gmv_amount"] == pytest.approx(
        ((y_t - x_t).mean() - (y_c - x_c).mean()) * 300, rel=1e-9)
    assert got.loc["T2", "comparison_member_count"] == 600


def test_coupon_effects_refuses_mixed_or_unknown_methods():
    rng = np.random.default_rng(24)
    y, x = members(rng, 50)
    frame = pd.DataFrame([arm_row("T1", "treatment", "all", y, x),
                          arm_row("T1", "control", "all", y, x)]).rename(
        columns={"campaign_id": "template_id"})
    frame["effect_method"] = ["control_group", "diff_in_diff"]
    with pytest.raises(ValueError, match="two effect methods"):
        stats.coupon_effects(frame)
    frame["effect_method"] = ["matching", "matching"]
    with pytest.raises(ValueError, match="unknown effect_method"):
        stats.coupon_effects(frame)
    assert list(stats.coupon_effects(frame.iloc[:0]).columns) == list(stats.COUPON_OUTPUT_DTYPES)
