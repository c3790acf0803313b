"""memberdw.clv against the papers' CDNOW figures, hand-worked cases, numeric integration,
Monte Carlo and parameter recovery from memberdw.generate.bgnbd.

tests/data/cdnow_sample.txt is the CDNOW sample (2,357 customers of the 1997 Q1 cohort,
purchases 1997-01-01 .. 1998-06-30; columns: master id, sample id, date YYYYMMDD, CDs,
dollars), see tests/data/README.md. Counting one purchase per customer per day, its
calibration summary (to 1997-09-30) is the papers': 2,457 repeat purchases by 946 repeat
buyers, and every x, t_x / 7, T / 7 and z̄ equal to the summary lifetimes ships beside it
(cdnow_customers_summary_with_transactions.csv, weeks to two decimals; compared once, not
vendored).
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal, localcontext
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.optimize import approx_fprime
from scipy.special import hyp2f1

from memberdw import clv
from memberdw.generate.bgnbd import draw_purchases

CDNOW = Path(__file__).parent / "data" / "cdnow_sample.txt"
CALIBRATION_END = date(1997, 9, 30)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    raw = pd.read_csv(CDNOW, sep=r"\s+", header=None, dtype={"date": str},
                      names=["master_id", "member_id", "date", "cd_count", "gmv_amount"])
    raw["order_date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return clv.summarise(raw, CALIBRATION_END)


@pytest.fixture(scope="module")
def cdnow_fit(cdnow) -> clv.BgNbdFit:
    return clv.fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])


def weeks(value: float) -> float:
    return value / 7


# --- CDNOW: the papers' figures ------------------------------------------------------------

def test_cdnow_summary_is_the_papers(cdnow):
    assert len(cdnow) == 2357
    assert cdnow["x"].sum() == 2457 and (cdnow["x"] > 0).sum() == 946
    first = cdnow.iloc[0]                   # customer 1: 1997-01-01, -01-18, -08-02, -12-12
    assert (first["x"], first["t_x"], first["T"]) == (2, 213, 272)
    assert first["monetary_value"] == pytest.approx((29.73 + 14.96) / 2)
    assert (first["holdout_x"], first["holdout_days"]) == (1, 273)


def test_cdnow_bgnbd_matches_the_paper(cdnow, cdnow_fit):
    # Fader, Hardie & Lee (2005), section 5: r = 0.243, α = 4.414 (weeks), a = 0.793,
    # b = 2.426, LL = −9582.4. Fitted in days, α is 7 times the weekly α and the LL is the
    # weekly LL − log(7)·Σx (every repeat purchase's density is per day instead of per week).
    fit = cdnow_fit
    assert fit.r == pytest.approx(0.243, rel=0.01)
    assert weeks(fit.alpha) == pytest.approx(4.414, rel=0.01)
    assert fit.a == pytest.approx(0.793, rel=0.01)
    assert fit.b == pytest.approx(2.426, rel=0.01)
    weekly_ll = fit.log_likelihood + math.log(7) * cdnow["x"].sum()
    assert weekly_ll == pytest.approx(-9582.4, abs=0.5)
    assert fit.member_count == 2357
    # The conversion: the likelihood of the data in weeks at (r, α/7, a, b) is that LL.
    in_weeks = clv._BgNbdData(*clv.group_rows(cdnow["x"], weeks(cdnow["t_x"]),
                                              weeks(cdnow["T"])))
    theta = (fit.r, weeks(fit.alpha), fit.a, fit.b)
    assert clv._bgnbd_terms(theta, in_weeks, gradient=False)[0] == pytest.approx(weekly_ll)


def test_cdnow_holdout_forecast(cdnow, cdnow_fit):
    # Holdout 1997-10-01 .. 1998-06-30 (39 weeks): 1,882 repeat purchase days (1,959 rows;
    # 1,787 customer-weeks, the ~1,788 one reads with weekly data). The paper compares the
    # two graphically (its Figures 3 and 6: close, slightly under). Here the sum of eq. 10
    # over the customers is 1,653, 12% under; the cohort's cumulative repeat purchases at
    # week 78 from eq. 9 are 4,161 against 4,339 actual, 4% under.
    actual = cdnow["holdout_x"].sum()
    assert actual == 1882
    predicted = clv.expected_purchases(cdnow_fit, cdnow["holdout_days"], cdnow["x"],
                                       cdnow["t_x"], cdnow["T"]).sum()
    assert predicted == pytest.approx(actual, rel=0.15)
    T = cdnow["T"].to_numpy()
    cumulative = clv.expected_repeat_purchases_unconditional(cdnow_fit, T + 273).sum()
    assert cumulative == pytest.approx(cdnow["x"].sum() + actual, rel=0.05)


def test_cdnow_gamma_gamma_matches_fader_hardie_2013(cdnow):
    # Fader & Hardie (2013), "The Gamma-Gamma model of monetary value": the 946 repeat
    # buyers, z̄ = mean spend of the calibration repeat purchases (a day's purchases
    # summed, as in their data): p = 6.25, q = 3.74, v = 15.44.
    fit = clv.fit_gamma_gamma(cdnow["x"], cdnow["monetary_value"])
    assert fit.p == pytest.approx(6.25, rel=0.01)
    assert fit.q == pytest.approx(3.74, rel=0.01)
    assert fit.v == pytest.approx(15.44, rel=0.01)
    mean = clv.expected_order_value(fit, 0, 0.0)
    assert mean == pytest.approx(fit.p * fit.v / (fit.q - 1))


# --- grouping ------------------------------------------------------------------------------

def test_weighted_triples_give_the_same_fit(cdnow):
    rows = cdnow[["x", "t_x", "T"]]
    triples = rows.value_counts().reset_index()
    assert len(triples) < len(rows)
    by_rows = clv.fit_bgnbd(rows["x"], rows["t_x"], rows["T"])
    by_triples = clv.fit_bgnbd(triples["x"], triples["t_x"], triples["T"],
                               weights=triples["count"])
    for name in ("r", "alpha", "a", "b", "log_likelihood", "member_count"):
        assert getattr(by_triples, name) == pytest.approx(getattr(by_rows, name), rel=1e-12)
    # ... and the grouped log-likelihood is the sum of the members' own.
    one_row_each = clv._BgNbdData(rows["x"].to_numpy(), rows["t_x"].to_numpy(),
                                  rows["T"].to_numpy(), np.ones(len(rows)))
    theta = (by_rows.r, by_rows.alpha, by_rows.a, by_rows.b)
    ll, _ = clv._bgnbd_terms(theta, one_row_each, gradient=False)
    assert ll == pytest.approx(by_rows.log_likelihood, rel=1e-12)

    repeat = cdnow[cdnow["x"] > 0]
    pairs = repeat[["x", "monetary_value"]].value_counts().reset_index()
    gg_rows = clv.fit_gamma_gamma(repeat["x"], repeat["monetary_value"])
    gg_pairs = clv.fit_gamma_gamma(pairs["x"], pairs["monetary_value"], weights=pairs["count"])
    for name in ("p", "q", "v", "log_likelihood"):
        assert getattr(gg_pairs, name) == pytest.approx(getattr(gg_rows, name), rel=1e-12)


def test_analytic_gradients_match_finite_differences(cdnow):
    data = clv._BgNbdData(*clv.group_rows(cdnow["x"], cdnow["t_x"], cdnow["T"]))
    for theta in (np.array([0.3, 20.0, 0.8, 2.5]), np.array([2.0, 5.0, 1.5, 0.7])):
        _, grad = clv._bgnbd_terms(theta, data, gradient=True)
        numeric = approx_fprime(theta, lambda t: clv._bgnbd_terms(t, data, False)[0],
                                1e-7 * theta)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5)
    repeat = cdnow[cdnow["x"] > 0]
    gg = clv._GammaGammaData(*clv.group_rows(repeat["x"], repeat["monetary_value"]))
    for theta in (np.array([6.0, 3.0, 15.0]), np.array([1.0, 2.0, 3.0])):
        _, grad = clv._gamma_gamma_terms(theta, gg, gradient=True)
        numeric = approx_fprime(theta, lambda t: clv._gamma_gamma_terms(t, gg, False)[0],
                                1e-7 * theta)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5)


# --- p_alive and expected purchases --------------------------------------------------------

FIT = clv.BgNbdFit(r=0.243, alpha=30.9, a=0.793, b=2.426, log_likelihood=0.0, member_count=0)


def test_hand_worked_cases():
    fit = clv.BgNbdFit(r=1.0, alpha=1.0, a=1.0, b=2.0, log_likelihood=0.0, member_count=0)
    # 1 / (1 + a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)) = 1 / (1 + 1/2 · (4/2)²)
    assert clv.p_alive(fit, 1, 1, 3) == pytest.approx(1 / 3)
    assert clv.p_alive(FIT, 0, 0, 500) == 1.0
    # a = 2, b = 1, r = 2 (so a+b−1−r = 0 and the ₂F₁ is 1), x = 0: with λ ~ Gamma(2, α+T)
    # and p ~ Beta(2, 1), E[(1 − e^(−λpt))/p] = 2·∫(1 − β²/(β+pt)²)dp = 2t/(β+t), β = α+T.
    fit = clv.BgNbdFit(r=2.0, alpha=10.0, a=2.0, b=1.0, log_likelihood=0.0, member_count=0)
    assert clv.expected_purchases(fit, 30, 0, 0, 50) == pytest.approx(2 * 30 / (60 + 30))
    assert clv.expected_repeat_purchases_unconditional(fit, 30) == pytest.approx(60 / 40)
    # A new member's E[X(t)] is E[Y(t) | 0, 0, 0]; nothing is expected in no time.
    assert clv.expected_repeat_purchases_unconditional(FIT, 0) == 0
    assert clv.expected_purchases(FIT, 0, 3, 100, 200) == 0


def _by_quadrature(fit, t, x, t_x, T):
    """E[Y(t) | x, t_x, T] and P(alive) by integrating over p ~ Beta(a, b) numerically,
    λ ~ Gamma(r, α) integrated out by hand: with K = r+x and β = α+T, the member's
    likelihood given p is ∝ (1−p)^x + 1{x>0} p(1−p)^(x−1) (β/(α+t_x))^K, the alive part
    is (1−p)^x, and E[(1 − e^(−λpt))/p; alive] ∝ (1−p)^x (1 − (β/(β+pt))^K) / p."""
    r, alpha, a, b = fit.r, fit.alpha, fit.a, fit.b
    k, beta = r + x, alpha + T

    def future(p):
        if p == 0:
            return k * t / beta
        return (1 - p) ** x / p * -math.expm1(-k * math.log1p(p * t / beta))

    def dead(p):
        return p * (1 - p) ** (x - 1) * (beta / (alpha + t_x)) ** k if x > 0 else 0.0

    def integral(g):
        return integrate.quad(g, 0, 1, weight="alg", wvar=(a - 1, b - 1), epsabs=0,
                              epsrel=1e-11, limit=200)[0]

    alive = integral(lambda p: (1 - p) ** x)
    evidence = alive + integral(dead)
    return integral(future) / evidence, alive / evidence


CASES = [  # (t, x, t_x, T)
    (273, 0, 0, 272), (273, 2, 213, 272), (273, 5, 100, 272), (30, 1, 5, 200),
    (1, 3, 250, 272), (0.01, 4, 100, 300), (10_000, 4, 100, 300), (365, 60, 700, 720),
    (365, 200, 700, 720), (3650, 1000, 2900, 3000),
]


@pytest.mark.parametrize("fit", [FIT, clv.BgNbdFit(2.0, 10.0, 3.0, 5.0, 0.0, 0)])
@pytest.mark.parametrize("case", CASES)
def test_expected_purchases_and_p_alive_against_quadrature(fit, case):
    expected, alive = _by_quadrature(fit, *case)
    assert clv.expected_purchases(fit, *case) == pytest.approx(expected, rel=1e-9)
    assert clv.p_alive(fit, *case[1:]) == pytest.approx(alive, rel=1e-9)


def test_eq_10_as_printed_agrees_where_it_is_finite_and_fails_where_ours_does_not():
    def as_printed(fit, t, x, t_x, T):
        r, alpha, a, b = fit.r, fit.alpha, fit.a, fit.b
        bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(
            r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        odds = a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x) if x > 0 else 0
        return (a + b + x - 1) / (a - 1) * bracket / (1 + odds)

    for case in CASES[:-1]:
        assert clv.expected_purchases(FIT, *case) == pytest.approx(as_printed(FIT, *case),
                                                                   rel=1e-9)
    with np.errstate(all="ignore"):
        assert not np.isfinite(as_printed(FIT, *CASES[-1]))
    assert np.isfinite(clv.expected_purchases(FIT, *CASES[-1]))


def test_unconditional_expectation_against_monte_carlo():
    # X(t) = min(N, J): N ~ Poisson(λt) purchases while alive, J ~ Geometric(p) the one
    # after which the member drops out.
    rng = np.random.default_rng(5)
    n, t = 2_000_000, 365.0
    rate = rng.gamma(FIT.r, 1 / FIT.alpha, n)
    dropout = rng.beta(FIT.a, FIT.b, n)
    draws = np.minimum(rng.poisson(rate * t), rng.geometric(dropout))
    standard_error = draws.std() / math.sqrt(n)
    expected = clv.expected_repeat_purchases_unconditional(FIT, t)
    assert abs(draws.mean() - expected) < 4 * standard_error


def test_expected_purchases_broadcasts(cdnow, cdnow_fit):
    horizons = np.array([[30.0], [90.0], [365.0]])
    grid = clv.expected_purchases(cdnow_fit, horizons, cdnow["x"].to_numpy(),
                                  cdnow["t_x"].to_numpy(), cdnow["T"].to_numpy())
    assert grid.shape == (3, len(cdnow))
    assert (np.diff(grid, axis=0) > 0).all()         # more days, more purchases


# --- order value and CLV -------------------------------------------------------------------

def test_expected_order_value_and_clv():
    gg = clv.GammaGammaFit(p=6.0, q=4.0, v=15.0, log_likelihood=0.0)
    population = 6.0 * 15.0 / 3.0
    assert clv.expected_order_value(gg, 0, 123.0) == pytest.approx(population)
    # A weighted average of the population mean and the member's own: weights (q−1) and px.
    x, z = 3, 50.0
    shrunk = (3.0 * population + 18.0 * z) / (3.0 + 18.0)
    assert clv.expected_order_value(gg, x, z) == pytest.approx(shrunk)
    value = clv.clv(FIT, gg, 365, x, 200, 272, z)
    assert value == pytest.approx(clv.expected_purchases(FIT, 365, x, 200, 272) * shrunk)
    assert clv.expected_order_value(clv.GammaGammaFit(1.0, 0.5, 1.0, 0.0), 0, 0.0) == np.inf


# --- summarise -----------------------------------------------------------------------------

def test_summarise_counts_purchase_days():
    purchases = pd.DataFrame({
        "member_id": ["a", "a", "a", "a", "a", "b", "c", "c"],
        "order_date": [date(2026, 1, 1), date(2026, 1, 1), date(2026, 1, 11),
                       date(2026, 1, 21), date(2026, 2, 5), date(2026, 1, 31),
                       date(2026, 2, 1), date(2026, 2, 3)],
        "gmv_amount": [10.0, 5.0, 20.0, 40.0, 99.0, 7.0, 1.0, 1.0],
    })
    summary = clv.summarise(purchases, date(2026, 1, 31)).set_index("member_id")
    assert list(summary.index) == ["a", "b"]           # c first bought after the end
    a, b = summary.loc["a"], summary.loc["b"]
    assert (a["x"], a["t_x"], a["T"], a["monetary_value"]) == (2, 20, 30, 30.0)
    assert (a["holdout_x"], a["holdout_days"]) == (1, 5)
    assert (b["x"], b["t_x"], b["T"], b["monetary_value"], b["holdout_x"]) == (0, 0, 0, 0, 0)


# --- insufficient history ------------------------------------------------------------------

def test_insufficient_history_names_what_is_missing():
    with pytest.raises(clv.InsufficientHistory, match="members with repeat purchases"):
        clv.fit_bgnbd([0, 1, 2], [0, 10, 40], [100, 100, 100])
    many = np.ones(500)
    with pytest.raises(clv.InsufficientHistory, match="calibration period of 30 days"):
        clv.fit_bgnbd(many, 10 * many, 30 * many)
    with pytest.raises(clv.InsufficientHistory, match="members with repeat purchases"):
        clv.fit_gamma_gamma([0, 1, 2], [0, 10.0, 12.0])
    with pytest.raises(ValueError, match="t_x"):
        clv.fit_bgnbd(many, 40 * many, 30 * many)


def test_optimum_at_a_bound_is_insufficient_history(cdnow, monkeypatch):
    monkeypatch.setattr(clv, "LOG_BOUND", 2.0)       # α = 30.9 per day is beyond e² = 7.4
    with pytest.raises(clv.InsufficientHistory, match=r"at a bound: alpha\)"):
        clv.fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])


# --- recovery from the generator -----------------------------------------------------------

TRUE_BGNBD = {"r": 0.5, "alpha": 15.0, "a": 0.8, "b": 3.0}
TRUE_GAMMA_GAMMA = {"p": 6.0, "q": 4.0, "v": 15.0}
# Over 30 seeds of this draw (40,000 members, two years, first purchases in the first
# year) the relative errors had standard deviations r 0.7%, α 1.2%, a 2.0%, b 3.2%,
# p 2.4%, q 1.0%, v 3.3% and means within 1%; each tolerance is about 4 of them.
TOLERANCE = {"r": 0.04, "alpha": 0.06, "a": 0.10, "b": 0.15, "p": 0.10, "q": 0.05, "v": 0.15}


def test_generator_is_deterministic_with_one_purchase_per_day():
    args = dict(n_members=2000, start=date(2025, 1, 1), days=200, **TRUE_BGNBD,
                **TRUE_GAMMA_GAMMA, acquisition_days=100)
    drawn = draw_purchases(**args, seed=3)
    pd.testing.assert_frame_equal(drawn, draw_purchases(**args, seed=3))
    assert not drawn.equals(draw_purchases(**args, seed=4))
    assert not drawn.duplicated(["member_index", "order_date"]).any()
    assert drawn["member_index"].nunique() == 2000
    assert drawn["order_date"].min() >= pd.Timestamp("2025-01-01")
    assert drawn["order_date"].max() <= pd.Timestamp("2025-01-01") + pd.Timedelta(days=199)
    first = drawn.groupby("member_index")["order_date"].min()
    assert first.max() < pd.Timestamp("2025-01-01") + pd.Timedelta(days=100)
    assert (drawn["amount"] >= 0.01).all()


def test_parameters_are_recovered_from_drawn_purchases():
    start, days = date(2024, 1, 1), 730
    drawn = draw_purchases(40_000, start, days, **TRUE_BGNBD, **TRUE_GAMMA_GAMMA, seed=7,
                           acquisition_days=365)
    summary = clv.summarise(drawn, start + timedelta(days=days - 1), member_col="member_index",
                            amount_col="amount")
    assert len(summary) == 40_000
    bgnbd = clv.fit_bgnbd(summary["x"], summary["t_x"], summary["T"])
    gamma_gamma = clv.fit_gamma_gamma(summary["x"], summary["monetary_value"])
    fitted = {**{k: getattr(bgnbd, k) for k in TRUE_BGNBD},
              **{k: getattr(gamma_gamma, k) for k in TRUE_GAMMA_GAMMA}}
    for name, true in {**TRUE_BGNBD, **TRUE_GAMMA_GAMMA}.items():
        assert fitted[name] == pytest.approx(true, rel=TOLERANCE[name]), name


# --- expected purchases over the whole parameter range ------------------------------------

def _eq_10_in_60_digits(fit, t, x, t_x, T):
    """Eq. 10 as printed, ₂F₁ summed by its series (positive terms for these parameters) in
    60-digit decimal arithmetic, where its cancellation costs nothing that matters: an oracle
    independent of the library's series and of scipy."""
    r, alpha, a, b, t, x, t_x, T = (Decimal(repr(float(v))) for v in (
        fit.r, fit.alpha, fit.a, fit.b, t, x, t_x, T))
    with localcontext() as ctx:
        ctx.prec = 60
        z = t / (alpha + T + t)
        big_a, big_b, c = r + x, b + x, a + b + x - 1
        term = total = Decimal(1)
        k = 0
        while True:
            ratio = (big_a + k) * (big_b + k) / ((c + k) * (k + 1)) * z
            term *= ratio
            total += term
            k += 1
            if ratio < 1 and term < total * Decimal("1e-40"):
                break
        bracket = 1 - ((alpha + T) / (alpha + T + t)) ** big_a * total
        alive = 1 if x == 0 else 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** big_a)
        return float(c / (a - 1) * bracket * alive)


BENCH_1M = clv.BgNbdFit(0.918491, 14.795527, 1092.418863, 130903.282432, 0.0, 0)
GRID_FITS = [  # ordinary fits, the 1M-member bench's, and beyond it towards the NBD limit
    FIT, clv.BgNbdFit(2.0, 1.0, 0.5, 20.0, 0.0, 0), clv.BgNbdFit(0.2, 50.0, 5.0, 1.0, 0.0, 0),
    clv.BgNbdFit(1.0, 5.0, 1.0000001, 3.0, 0.0, 0), BENCH_1M,
    clv.BgNbdFit(1.0, 5.0, 1e4, 1e7, 0.0, 0), clv.BgNbdFit(0.5, 20.0, 3e5, 1e8, 0.0, 0),
]


@pytest.mark.parametrize("fit", GRID_FITS, ids=lambda f: f"a={f.a:g},b={f.b:g}")
def test_expected_purchases_against_a_60_digit_eq_10(fit):
    worst = 0.0
    for x, T in ((0, 0), (0, 100), (1, 30), (5, 100), (12, 90), (50, 400)):
        for t in (1, 30, 365):
            t_x = 0 if x == 0 else 0.7 * T
            got = clv.expected_purchases(fit, t, x, t_x, T)
            want = _eq_10_in_60_digits(fit, t, x, t_x, T)
            assert np.isfinite(got) and want > 0
            worst = max(worst, abs(got / want - 1))
    assert worst < 1e-8


def test_the_1m_member_fit_gives_finite_values_below_the_nbd_limit():
    # a ≈ 1,092, b ≈ 130,903: scipy's hyp2f1 overflowed for every member. E[Y(t)] given
    # alive is E[min(N, J)] ≤ E[N] = (r+x)·t/(α+T), the NBD's; with p ~ Beta(a, b+x) this
    # narrow it is close to p's mean plugged in: E[(1 − (1 + p·t/(α+T))^−(r+x)) / p].
    x = np.arange(0.0, 51.0)
    T = np.maximum(x, 1.0) * 4.0
    t_x = np.where(x > 0, 0.9 * T, 0.0)
    fit = BENCH_1M
    for t in (1.0, 30.0, 365.0):
        got = clv.expected_purchases(fit, t, x, t_x, T)
        alive = clv.p_alive(fit, x, t_x, T)
        nbd = (fit.r + x) * t / (fit.alpha + T) * alive
        assert np.isfinite(got).all() and (got > 0).all() and (got < nbd).all()
        p = fit.a / (fit.a + fit.b + x)
        plugged = -np.expm1(-(fit.r + x) * np.log1p(p * t / (fit.alpha + T))) / p * alive
        np.testing.assert_allclose(got, plugged, rtol=2e-3)
    # ... and towards the limit itself (a, b → ∞, a/b → 0) it is the NBD's.
    limit = clv.BgNbdFit(fit.r, fit.alpha, 1e3, 1e12, 0.0, 0)
    got = clv.expected_purchases(limit, 365.0, x, t_x, T)
    nbd = (fit.r + x) * 365.0 / (fit.alpha + T) * clv.p_alive(limit, x, t_x, T)
    np.testing.assert_allclose(got, nbd, rtol=1e-6)


def test_expected_purchases_of_an_underflowing_nb_start_and_bad_inputs():
    # (1 − z)^(r+x) = P(N = 0) is about e^−1400 here; the series carries it scaled.
    got = clv.expected_purchases(FIT, 3650, 2000, 2900, 3000)
    assert got == pytest.approx(_eq_10_in_60_digits(FIT, 3650, 2000, 2900, 3000), rel=1e-9)
    bad = clv.expected_purchases(FIT, [30, np.nan, -1, np.inf], 2, 10, 20)
    assert np.isfinite(bad[0]) and np.isnan(bad[1:]).all()
