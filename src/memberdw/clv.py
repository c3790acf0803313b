"""Customer lifetime value: BG/NBD purchase counts and Gamma-Gamma spend, fitted by maximum
likelihood on one weighted row per distinct (x, t_x, T).

Time is in days. A member's purchase history is read at the grain of purchase days (several
orders on one day are one purchase, their spend summed); from the calibration end back:

    x    repeat purchase days (distinct purchase days after the first)
    t_x  days from the first purchase day to the last one (0 when x = 0)
    T    days from the first purchase day to the calibration end

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive a
member buys at Poisson rate λ; after every repeat purchase they drop out with probability
p; λ ~ Gamma(r, α) (shape r, rate α, so α is in days), p ~ Beta(a, b). Likelihood:

    L(r, α, a, b | x, t_x, T) = Γ(r+x) α^r / Γ(r) · [ B(a, b+x)/B(a, b) · (α+T)^-(r+x)
                                 + 1{x>0} · B(a+1, b+x−1)/B(a, b) · (α+t_x)^-(r+x) ]

summed in logs (log-sum-exp of the two terms). The member's alive probability, the expected
repeat purchases in (0, t] of a new member (eq. 9) and those of a member in the next t days
given their history (eq. 10; z = t / (α+T+t)):

    P(alive | x, t_x, T) = 1 / (1 + 1{x>0} · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))
    E[X(t)]              = (a+b−1)/(a−1) · [1 − (α/(α+t))^r · ₂F₁(r, b; a+b−1; t/(α+t))]
    E[Y(t) | x, t_x, T]  = (a+b+x−1)/(a−1)
                           · [1 − ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x; a+b+x−1; z)]
                           · P(alive | x, t_x, T)

E[X(t)] is E[Y(t) | 0, 0, 0]. Eq. 10 is not evaluated through ₂F₁ (see
_expected_purchases_if_alive): as printed it cancels catastrophically and scipy's hyp2f1
overflows once a and b are in the thousands (a fit at 1M members gave a ≈ 1,092,
b ≈ 130,903), and its Euler and Pfaff transforms fail in other parts of the range. Instead,
with q = 1−z, N ~ NB(r+x, q) (the purchases an alive member would make in the t days,
P(N=n) = (r+x)_n/n! · q^(r+x) z^n) and J the purchase after which they drop out
(P(J ≥ n) = D(n) = (b+x)_(n−1)/(a+b+x)_(n−1), p ~ Beta(a, b+x) being the dropout posterior
of an alive member), Y(t) given alive is min(N, J), so

    E[Y(t) | x, t_x, T] = P(alive | x, t_x, T) · Σ_{n≥1} P(N = n) · Σ_{m=1..n} D(m),

a series of positive terms: no cancellation, no (a−1) to divide by, nothing to overflow.
Term by term it is eq. 10 (expand q^(r+x) ₂F₁'s series and sum by parts). As a, b grow with
a/b → 0, D(m) → 1 and E[Y(t)] tends to the NBD's (r+x)·t/(α+T) · P(alive), its upper bound.

Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie 2013, "The Gamma-Gamma
model of monetary value"): a member's purchase-day spends are Gamma(p, ν), ν ~ Gamma(q, v)
(rates), independent of the purchase process; z̄, the mean spend of the x repeat purchase
days, has the likelihood (members with x > 0 only)

    f(z̄ | p, q, v; x) = Γ(px+q) / (Γ(px) Γ(q)) · v^q · z̄^(px−1) · x^(px) / (v + x·z̄)^(px+q)

and the member's expected spend per purchase day is

    E[Z | x, z̄] = p (v + x·z̄) / (px + q − 1)      (p·v/(q−1), the population mean, at x = 0)

CLV over a horizon is E[Y(horizon) | x, t_x, T] · E[Z | x, z̄]: undiscounted GMV, no margin.

Parameters are fitted on their logarithms with L-BFGS-B and analytic gradients. Both
likelihoods depend on the data only through their rows' distinct values, so rows are
grouped first; every term depending on x, t_x or T alone is computed once per distinct
value. The log-likelihood reported is in the time unit of the input (days): rescaling time
by c multiplies α by c and subtracts log(c) · Σx from the log-likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.special import betaln, digamma, expit, gammaln

# Fewer members with a repeat purchase than this leave a, b (and GG's p, q, v) unidentified.
MIN_REPEAT_MEMBERS = 100
# A calibration period (longest T) shorter than this cannot tell a slow buyer from a lost one.
MIN_CALIBRATION_DAYS = 90
# Bounds on log-parameters: 6e-6 .. 1.6e5; a parameter ending within LOG_BOUND_MARGIN of one
# means the data do not determine it.
LOG_BOUND = 12.0
LOG_BOUND_MARGIN = 1e-3
# Largest per-member gradient (in log-parameters) accepted when L-BFGS-B stops otherwise.
GRADIENT_TOLERANCE = 1e-5
# The series of expected_purchases stops once a bound on its remaining terms is below
# SERIES_TOLERANCE of its sum; a row still short of that after SERIES_MAX_TERMS terms gets
# NaN: only when t/(α+T) is above about 2,000 (a year's horizon and α+T under 0.18 days).
SERIES_TOLERANCE = 1e-15
SERIES_MAX_TERMS = 100_000


class InsufficientHistory(ValueError):
    """The purchase history cannot support a fit (too few repeat buyers, too short a
    calibration period, or a likelihood without an interior maximum)."""


@dataclass(frozen=True)
class BgNbdFit:
    """Fitted BG/NBD: λ ~ Gamma(r, α) per day, dropout p ~ Beta(a, b); log_likelihood is
    Σ w·log L at the optimum with time in days, member_count is Σ w."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    member_count: float


@dataclass(frozen=True)
class GammaGammaFit:
    """Fitted Gamma-Gamma: spend ~ Gamma(p, ν), ν ~ Gamma(q, v), fitted on the members
    with x > 0; log_likelihood is Σ w·log f(z̄) at the optimum."""

    p: float
    q: float
    v: float
    log_likelihood: float


# --- RFM summary ---------------------------------------------------------------------------

def summarise(purchases: pd.DataFrame, calibration_end: date, member_col: str = "member_id",
              date_col: str = "order_date", amount_col: str = "gmv_amount") -> pd.DataFrame:
    """One row per member whose first purchase is on or before ``calibration_end``.

    Columns: ``member_col``, x, t_x, T (days, float), monetary_value (mean spend of the
    calibration repeat purchase days, a day's spend being the sum of its purchases; 0 when
    x = 0), holdout_x (distinct purchase days after ``calibration_end``) and holdout_days
    (days from ``calibration_end`` to the last date in ``purchases``, at least 0).
    """
    day = pd.to_datetime(purchases[date_col]).to_numpy().astype("datetime64[D]")
    day = day.astype(np.int64)
    end = np.datetime64(calibration_end, "D").astype(np.int64)
    orders = pd.DataFrame({"member": purchases[member_col].to_numpy(), "day": day,
                           "amount": purchases[amount_col].astype("float64").to_numpy()})
    daily = orders.groupby(["member", "day"], sort=True, as_index=False)["amount"].sum()
    first = daily.groupby("member")["day"].transform("min").to_numpy()
    daily, first = daily[first <= end], first[first <= end]
    in_calibration = (daily["day"] <= end).to_numpy()
    repeat = in_calibration & (daily["day"].to_numpy() > first)
    per_member = daily.assign(
        first=first,
        last=np.where(in_calibration, daily["day"], first),
        x=repeat.astype(np.int64),
        spend=np.where(repeat, daily["amount"], 0.0),
        holdout_x=(~in_calibration).astype(np.int64),
    ).groupby("member", sort=True).agg(
        first=("first", "min"), last=("last", "max"), x=("x", "sum"), spend=("spend", "sum"),
        holdout_x=("holdout_x", "sum"))
    x = per_member["x"].to_numpy()
    holdout_days = max(int(day.max()) - int(end), 0) if len(day) else 0
    return pd.DataFrame({
        member_col: per_member.index.to_numpy(),
        "x": x.astype("float64"),
        "t_x": (per_member["last"] - per_member["first"]).to_numpy().astype("float64"),
        "T": (end - per_member["first"]).to_numpy().astype("float64"),
        "monetary_value": np.divide(per_member["spend"].to_numpy(), x,
                                    out=np.zeros(len(x)), where=x > 0),
        "holdout_x": per_member["holdout_x"].to_numpy().astype("float64"),
        "holdout_days": np.full(len(x), float(holdout_days)),
    })


# --- grouping ------------------------------------------------------------------------------

def group_rows(*columns, weights=None) -> tuple[np.ndarray, ...]:
    """Distinct rows of ``columns`` (1-d arrays of one length), sorted, with summed weights
    (1 per row when ``weights`` is None): returns (*distinct columns, weights)."""
    frame = pd.DataFrame({i: np.asarray(c, dtype="float64") for i, c in enumerate(columns)})
    frame["w"] = 1.0 if weights is None else np.asarray(weights, dtype="float64")
    grouped = frame.groupby(list(range(len(columns))), sort=True)["w"].sum()
    keys = [grouped.index.get_level_values(i).to_numpy() for i in range(len(columns))]
    return (*keys, grouped.to_numpy())


def _check_triples(x, t_x, T, w) -> None:
    if not (np.isfinite(x).all() and np.isfinite(t_x).all() and np.isfinite(T).all()):
        raise ValueError("BG/NBD input holds NaN or infinite values")
    if (x < 0).any() or (x != np.floor(x)).any():
        raise ValueError("x must be whole numbers >= 0")
    if (t_x < 0).any() or (t_x > T).any() or ((x == 0) & (t_x != 0)).any():
        raise ValueError("need 0 <= t_x <= T, and t_x = 0 where x = 0")
    if not (np.isfinite(w).all() and (w >= 0).all()):
        raise ValueError("weights must be finite and >= 0")


# --- BG/NBD --------------------------------------------------------------------------------

class _BgNbdData:
    """Grouped (x, t_x, T, w), each distinct x, t_x and T indexed, so that terms of one of
    them alone are computed once per distinct value."""

    def __init__(self, x, t_x, T, w):
        keep = w > 0
        x, t_x, T, w = x[keep], t_x[keep], T[keep], w[keep]
        self.ux, self.ix = np.unique(x, return_inverse=True)
        self.uT, self.iT = np.unique(T, return_inverse=True)
        self.ut, self.it = np.unique(t_x, return_inverse=True)
        self.x, self.w = x, w
        self.w_by_x = np.bincount(self.ix, weights=w, minlength=len(self.ux))
        self.w_total = w.sum()
        self.wx_total = (w * x).sum()


def _bgnbd_terms(theta, d: _BgNbdData, gradient: bool):
    """Log-likelihood Σ w·ℓ and, if asked, its gradient in (r, α, a, b)."""
    r, alpha, a, b = theta
    ux = d.ux
    ux_rep = np.maximum(ux, 1.0)                       # b+x−1 > 0 wherever it is used
    log_alpha_T, log_alpha_tx = np.log(alpha + d.uT), np.log(alpha + d.ut)
    # ℓ = head(x) + log(e^term1 + e^term2), head(x) = log Γ(r+x) − log Γ(r) + r log α;
    # term2 = −∞ at x = 0, where the sum is term1 alone.
    head = gammaln(r + ux) - gammaln(r) + r * np.log(alpha)
    b1 = betaln(a, b + ux) - betaln(a, b)
    b2 = np.where(ux > 0, betaln(a + 1, b + ux_rep - 1) - betaln(a, b), -np.inf)
    rx = r + d.x
    term1 = b1[d.ix] - rx * log_alpha_T[d.iT]
    term2 = b2[d.ix] - rx * log_alpha_tx[d.it]
    lse = np.logaddexp(term1, term2)
    ll = (d.w_by_x * head).sum() + (d.w * lse).sum()
    if not gradient:
        return ll, None
    share1 = np.exp(term1 - lse)                       # term1's share of the sum
    w1, w2 = d.w * share1, d.w * (1.0 - share1)
    w1_x = np.bincount(d.ix, weights=w1, minlength=len(ux))
    w2_x = np.bincount(d.ix, weights=w2, minlength=len(ux))
    psi_ab = digamma(a + b)
    psi_abx = digamma(a + b + ux)
    d_r = ((d.w_by_x * (digamma(r + ux) - digamma(r) + np.log(alpha))).sum()
           - (w1 * log_alpha_T[d.iT]).sum() - (w2 * log_alpha_tx[d.it]).sum())
    d_alpha = (r * d.w_total / alpha
               - (w1 * rx / (alpha + d.uT)[d.iT]).sum() - (w2 * rx / (alpha + d.ut)[d.it]).sum())
    # ∂/∂a, ∂/∂b of log B(a, b+x) − log B(a, b) and of log B(a+1, b+x−1) − log B(a, b)
    d_a = ((w1_x * (psi_ab - psi_abx)).sum()
           + (w2_x * (digamma(a + 1) - digamma(a) + psi_ab - psi_abx)).sum())
    d_b = ((w1_x * (digamma(b + ux) - psi_abx - digamma(b) + psi_ab)).sum()
           + (w2_x * (digamma(b + ux_rep - 1) - psi_abx - digamma(b) + psi_ab)).sum())
    return ll, np.array([d_r, d_alpha, d_a, d_b])


def _maximise(terms, data, start: np.ndarray, weight_total: float, model: str,
              names: tuple[str, ...]) -> np.ndarray:
    """Maximise terms(θ, data) over log θ by L-BFGS-B; the objective is per member so that
    tolerances mean the same at any size. Raises InsufficientHistory without an interior
    optimum."""
    def objective(log_theta):
        theta = np.exp(log_theta)
        ll, grad = terms(theta, data, True)
        return -ll / weight_total, -grad * theta / weight_total

    result = optimize.minimize(objective, np.clip(start, -LOG_BOUND + 1, LOG_BOUND - 1),
                               jac=True, method="L-BFGS-B",
                               bounds=[(-LOG_BOUND, LOG_BOUND)] * len(start),
                               options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-8})
    at_bound = np.abs(result.x) > LOG_BOUND - LOG_BOUND_MARGIN
    if not np.isfinite(result.fun) or at_bound.any():
        raise InsufficientHistory(
            f"{model}: no interior maximum of the likelihood (at a bound: "
            f"{', '.join(n for n, hit in zip(names, at_bound) if hit) or 'none'});"
            f" more history is needed")
    # A line search stopped by rounding next to the optimum is not a failure.
    if not (result.success or np.abs(result.jac).max() < GRADIENT_TOLERANCE):
        raise InsufficientHistory(f"{model}: optimizer did not converge ({result.message})")
    return np.exp(result.x)


def fit_bgnbd(x, t_x, T, weights=None) -> BgNbdFit:
    """Maximum-likelihood BG/NBD on per-member (x, t_x, T) in days, each row counted
    ``weights`` times (1 when None); identical rows are grouped first.

    Raises InsufficientHistory when fewer than MIN_REPEAT_MEMBERS members have x > 0, when
    the longest T is below MIN_CALIBRATION_DAYS, or when the optimum is not interior.
    """
    x, t_x, T = (np.asarray(v, dtype="float64").ravel() for v in (x, t_x, T))
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype="float64").ravel()
    _check_triples(x, t_x, T, w)
    repeat_members = w[x > 0].sum()
    if repeat_members < MIN_REPEAT_MEMBERS:
        raise InsufficientHistory(f"BG/NBD: {repeat_members:g} members with repeat purchases,"
                                  f" fewer than {MIN_REPEAT_MEMBERS}")
    if T[w > 0].max() < MIN_CALIBRATION_DAYS:
        raise InsufficientHistory(f"BG/NBD: calibration period of {T[w > 0].max():g} days,"
                                  f" shorter than {MIN_CALIBRATION_DAYS}")
    # Start at r = a = b = 1, α = observed days per repeat purchase (1/rate of a Poisson fit).
    start = np.log([1.0, (w * T).sum() / max((w * x).sum(), 1.0), 1.0, 1.0])
    data = _BgNbdData(*group_rows(x, t_x, T, weights=w))
    r, alpha, a, b = _maximise(_bgnbd_terms, data, start, data.w_total, "BG/NBD",
                             ("r", "alpha", "a", "b"))
    ll, _ = _bgnbd_terms((r, alpha, a, b), data, gradient=False)
    return BgNbdFit(float(r), float(alpha), float(a), float(b), float(ll), float(data.w_total))


def p_alive(fit: BgNbdFit, x, t_x, T) -> np.ndarray:
    """P(alive | x, t_x, T) = 1 / (1 + 1{x>0} · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))."""
    x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype="float64") for v in (x, t_x, T)))
    x_rep = np.maximum(x, 1.0)
    log_odds_dead = (np.log(fit.a) - np.log(fit.b + x_rep - 1)
                     + (fit.r + x) * (np.log(fit.alpha + T) - np.log(fit.alpha + t_x)))
    return np.where(x > 0, expit(-log_odds_dead), 1.0)


def expected_purchases(fit: BgNbdFit, t, x, t_x, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T], expected purchase days in the t days after T (eq. 10), arrays
    broadcast: P(alive | x, t_x, T) times the expectation given alive, which depends on
    (x, z = t/(α+T+t)) only and is summed once per distinct pair (see the module docstring).
    NaN where an input is NaN or infinite, or t < 0."""
    t, x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype="float64")
                                         for v in (t, x, t_x, T)))
    out = np.full(t.shape, np.nan)
    ok = np.isfinite(t) & np.isfinite(x) & np.isfinite(t_x) & np.isfinite(T) & (t >= 0)
    if not ok.any():
        return out
    x_ok, z = x[ok], t[ok] / (fit.alpha + T[ok] + t[ok])
    x_code, x_values = pd.factorize(x_ok)
    z_code, z_values = pd.factorize(z)
    pair, pairs = pd.factorize(x_code * np.int64(len(z_values)) + z_code)
    if_alive = _expected_purchases_if_alive(fit, x_values[pairs // len(z_values)],
                                            z_values[pairs % len(z_values)])
    out[ok] = if_alive[pair] * p_alive(fit, x_ok, t_x[ok], T[ok])
    return out


def _expected_purchases_if_alive(fit: BgNbdFit, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """E[min(N, J)] = Σ_{n≥1} P(N = n) · S(n), S(n) = Σ_{m=1..n} D(m), per (x, z) row:
    N ~ NB(r+x, 1−z), P(J ≥ m) = D(m) = (b+x)_(m−1)/(a+b+x)_(m−1) (module docstring).

    Every factor is built by its ratio from the one before, so a term costs a few flops and
    all terms are positive. After term n the rest is at most
    P(N=n) · [S(n) ρ/(1−ρ) + D(n+1) ρ/(1−ρ)²], ρ = max(z, (r+x+n)/(n+1) · z) bounding the
    ratios of the later P(N=·) and D(·) decreasing; a row stops when that is below
    SERIES_TOLERANCE of its sum (after about (r+x)·t/(α+T) terms, the mean of N, plus its
    tail). P(N=n) is carried divided by exp(log_scale), which starts at log P(N=0) and is
    raised whenever the carried value grows large, so P(N=0) = (1−z)^(r+x) may underflow."""
    k, b_x = fit.r + x, fit.b + x
    log_scale = k * np.log1p(-z)                 # log P(N=0)
    pmf = np.ones_like(z)                        # P(N=n) / exp(log_scale)
    s = np.zeros_like(z)                         # S(n)
    d = np.ones_like(z)                          # D(n+1)
    total = np.zeros_like(z)                     # Σ_{m≤n} P(N=m) S(m) / exp(log_scale)
    out = np.full(z.shape, np.nan)
    rows = np.arange(len(z))
    for n in range(1, SERIES_MAX_TERMS + 1):
        if not len(rows):
            break
        pmf *= (k + (n - 1)) / n * z
        s += d
        d *= (b_x + (n - 1)) / (fit.a + b_x + (n - 1))
        total += pmf * s
        rho = np.maximum(z, (k + n) / (n + 1) * z)
        with np.errstate(divide="ignore", invalid="ignore"):
            rest = pmf * rho / (1 - rho) * (s + d / (1 - rho))
        done = (rho < 1) & (rest <= SERIES_TOLERANCE * total)
        if done.any():
            out[rows[done]] = total[done] * np.exp(log_scale[done])
            keep = ~done
            rows, k, b_x, z, log_scale, pmf, s, d, total = (
                v[keep] for v in (rows, k, b_x, z, log_scale, pmf, s, d, total))
        big = pmf > 2.0 ** 500
        if big.any():
            pmf[big] *= 2.0 ** -500
            total[big] *= 2.0 ** -500
            log_scale[big] += 500 * np.log(2.0)
    return out


def expected_repeat_purchases_unconditional(fit: BgNbdFit, t) -> np.ndarray:
    """E[X(t)], expected repeat purchase days in (0, t] of a member first buying at 0 (eq. 9):

    (a+b−1)/(a−1) · [1 − (α/(α+t))^r · ₂F₁(r, b; a+b−1; t/(α+t))] = E[Y(t) | 0, 0, 0],
    evaluated as that (by the series of expected_purchases)."""
    return expected_purchases(fit, t, 0.0, 0.0, 0.0)


# --- Gamma-Gamma ---------------------------------------------------------------------------

class _GammaGammaData:
    """Grouped (x, z̄, w) of repeat buyers with the sums the likelihood needs but once."""

    def __init__(self, x, mean_spend, w):
        self.ux, self.ix = np.unique(x, return_inverse=True)
        self.w_by_x = np.bincount(self.ix, weights=w, minlength=len(self.ux))
        self.wx_by_x = self.w_by_x * self.ux
        self.spend = x * mean_spend                    # x·z̄, the repeat days' total
        self.w, self.w_total = w, w.sum()
        log_z = np.log(mean_spend)
        self.w_log_z = (w * log_z).sum()
        self.wx_log_zx = (w * x * (log_z + np.log(x))).sum()


def _gamma_gamma_terms(theta, d: _GammaGammaData, gradient: bool):
    """Σ w·log f(z̄ | p, q, v; x) and, if asked, its gradient in (p, q, v)."""
    p, q, v = theta
    px = p * d.ux
    log_vs = np.log(v + d.spend)
    ll = ((d.w_by_x * (gammaln(px + q) - gammaln(px))).sum()
          + d.w_total * (q * np.log(v) - gammaln(q))
          + p * d.wx_log_zx - d.w_log_z
          - (d.w * (p * d.ux[d.ix] + q) * log_vs).sum())
    if not gradient:
        return ll, None
    psi_pxq = digamma(px + q)
    d_p = ((d.wx_by_x * (psi_pxq - digamma(px))).sum() + d.wx_log_zx
           - (d.w * d.ux[d.ix] * log_vs).sum())
    d_q = ((d.w_by_x * psi_pxq).sum() + d.w_total * (np.log(v) - digamma(q))
           - (d.w * log_vs).sum())
    d_v = d.w_total * q / v - (d.w * (p * d.ux[d.ix] + q) / (v + d.spend)).sum()
    return ll, np.array([d_p, d_q, d_v])


def fit_gamma_gamma(x, monetary_value, weights=None) -> GammaGammaFit:
    """Maximum-likelihood Gamma-Gamma on the members with x > 0 (mean repeat spend
    ``monetary_value``), each counted ``weights`` times; identical rows are grouped first.

    A repeat buyer's mean spend must be > 0 (ValueError otherwise); fewer than
    MIN_REPEAT_MEMBERS repeat buyers, or no interior optimum, raise InsufficientHistory.
    """
    x, z = (np.asarray(v, dtype="float64").ravel() for v in (x, monetary_value))
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype="float64").ravel()
    repeat = (x > 0) & (w > 0)
    x, z, w = x[repeat], z[repeat], w[repeat]
    if not (np.isfinite(z).all() and (z > 0).all()):
        raise ValueError("Gamma-Gamma: every repeat buyer needs a finite mean spend > 0")
    if w.sum() < MIN_REPEAT_MEMBERS:
        raise InsufficientHistory(f"Gamma-Gamma: {w.sum():g} members with repeat purchases,"
                                  f" fewer than {MIN_REPEAT_MEMBERS}")
    data = _GammaGammaData(*group_rows(x, z, weights=w))
    # Start at p = q = 2 and v such that the population mean p·v/(q−1) is the data's.
    start = np.log([2.0, 2.0, (data.w * data.spend).sum() / (data.wx_by_x.sum() * 2.0)])
    p, q, v = _maximise(_gamma_gamma_terms, data, start, data.w_total, "Gamma-Gamma",
                        ("p", "q", "v"))
    ll, _ = _gamma_gamma_terms((p, q, v), data, gradient=False)
    return GammaGammaFit(float(p), float(q), float(v), float(ll))


def expected_order_value(fit: GammaGammaFit, x, monetary_value) -> np.ndarray:
    """E[Z | x, z̄] = p (v + x·z̄) / (px + q − 1), a member's expected spend per purchase day;
    p·v/(q−1) at x = 0 (monetary_value unused there). Infinite where px + q ≤ 1."""
    x, z = np.broadcast_arrays(*(np.asarray(v, dtype="float64") for v in (x, monetary_value)))
    spend = np.where(x > 0, x * z, 0.0)
    denominator = fit.p * x + fit.q - 1
    with np.errstate(divide="ignore"):
        return np.where(denominator > 0, fit.p * (fit.v + spend) / denominator, np.inf)


def clv(bgnbd: BgNbdFit, gamma_gamma: GammaGammaFit, horizon_days, x, t_x, T,
        monetary_value) -> np.ndarray:
    """Expected GMV in the next ``horizon_days``: E[Y(horizon) | x, t_x, T] · E[Z | x, z̄].

    Undiscounted and before costs; the Gamma-Gamma model assumes spend independent of the
    purchase process."""
    return (expected_purchases(bgnbd, horizon_days, x, t_x, T)
            * expected_order_value(gamma_gamma, x, monetary_value))
