"""Campaign effect statistics from per-arm sufficient statistics (intent to treat).

``campaign_effects(stats, min_group_size=100)`` takes one row per (campaign_id, arm,
stratum) with member and converter counts and the sums Σy, Σy², Σx, Σx², Σxy, where y is a
member's GMV in the campaign window and x their GMV in the equal-length window before it
(members without purchases count with y = 0), and returns one row per campaign: conversion
lift (Wald CI, z-test), incremental GMV (Welch CI), the same after CUPED, and a balance
check on x. Every member assigned to an arm counts, reached or not.

The comparison arm:

- ``control_group``: the campaign has control members; each arm's strata are pooled (the
  sums add) and treatment is compared with control directly.
- ``lookalike``: no control group; the comparison is untouched members outside the audience,
  per stratum (pre-campaign value group), standardised to the treatment's stratum mix with
  weights w_s = n_t,s / n_t. Only strata holding both treatment and lookalike members are
  analysed: treatment members of a stratum without lookalike members are dropped and counted
  in ``unmatched_treatment_count``; lookalike strata without treatment members would weigh 0
  and are left out as well (also from the CUPED θ). The control-group case is the same
  computation with one stratum of weight 1, apart from the conversion p-value (pooled there).

Difference in differences (coupons without a control group) is the CUPED computation with θ
fixed at 1: each member's y' = y − (x − x̄), so the treatment − comparison difference of
means is (ȳ_t − x̄_t) − (ȳ_c − x̄_c), per stratum and standardised as for lookalikes, and
its Welch/Satterthwaite interval is the interval of the per-member differences y − x.

Variances are sample variances (divisor n − 1); a group of one member has variance 0.
A campaign whose treatment or comparison arm has fewer than ``min_group_size`` members gets
null lift, p-value and incremental columns; its rates, means and balance figures stay.
All money is handled as float.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import pandas as pd
from scipy import stats as sps

CONFIDENCE = 0.95
BALANCE_MAX_SMD = 0.1
ARMS = ("treatment", "control", "lookalike")

INPUT_COLUMNS = (
    "campaign_id", "arm", "stratum", "member_count", "converted_count", "gmv_sum",
    "gmv_sq_sum", "pre_gmv_sum", "pre_gmv_sq_sum", "gmv_pre_gmv_sum",
)
SUM_COLUMNS = INPUT_COLUMNS[3:]

# Output columns and their pandas dtypes ("str": text, "boolean": True/False/<NA>).
OUTPUT_DTYPES = {
    "campaign_id": "str",
    "natural_rate_source": "str",
    "treatment_member_count": "int64",
    "comparison_member_count": "int64",
    "unmatched_treatment_count": "int64",
    "treatment_conversion_rate": "float64",
    "natural_conversion_rate": "float64",
    "conversion_lift": "float64",
    "conversion_lift_ci_low": "float64",
    "conversion_lift_ci_high": "float64",
    "conversion_lift_p_value": "float64",
    "relative_lift": "float64",
    "treatment_gmv_per_member": "float64",
    "comparison_gmv_per_member": "float64",
    "incremental_gmv_amount": "float64",
    "incremental_gmv_ci_low": "float64",
    "incremental_gmv_ci_high": "float64",
    "incremental_gmv_cuped_amount": "float64",
    "incremental_gmv_cuped_ci_low": "float64",
    "incremental_gmv_cuped_ci_high": "float64",
    "cuped_theta": "float64",
    "treatment_pre_gmv_per_member": "float64",
    "comparison_pre_gmv_per_member": "float64",
    "pre_gmv_std_diff": "float64",
    "is_balanced": "boolean",
}
OUTPUT_COLUMNS = tuple(OUTPUT_DTYPES)

# Nulled when an arm is smaller than min_group_size.
LIFT_COLUMNS = (
    "conversion_lift", "conversion_lift_ci_low", "conversion_lift_ci_high",
    "conversion_lift_p_value", "relative_lift",
    "incremental_gmv_amount", "incremental_gmv_ci_low", "incremental_gmv_ci_high",
    "incremental_gmv_cuped_amount", "incremental_gmv_cuped_ci_low",
    "incremental_gmv_cuped_ci_high",
)

NAN = float("nan")


# --- small helpers -----------------------------------------------------------------------

def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is 0."""
    return numerator / denominator if denominator else NAN


@dataclass(frozen=True)
class Group:
    """Sufficient statistics of one group of members (an arm, or one stratum of an arm).

    y: GMV in the window, x: GMV in the window before; sums run over the n members.
    """

    n: float = 0.0
    converted: float = 0.0
    y_sum: float = 0.0
    y_sq_sum: float = 0.0
    x_sum: float = 0.0
    x_sq_sum: float = 0.0
    xy_sum: float = 0.0

    def __add__(self, other: Group) -> Group:
        """Pooling two groups: every sum adds."""
        return Group(*(a + b for a, b in zip(self._sums(), other._sums())))

    def _sums(self) -> tuple[float, ...]:
        return (self.n, self.converted, self.y_sum, self.y_sq_sum, self.x_sum,
                self.x_sq_sum, self.xy_sum)

    @property
    def rate(self) -> float:
        """Conversion rate p = converted / n."""
        return _ratio(self.converted, self.n)

    @property
    def mean_y(self) -> float:
        return _ratio(self.y_sum, self.n)

    @property
    def mean_x(self) -> float:
        return _ratio(self.x_sum, self.n)

    @property
    def var_y(self) -> float:
        """Sample variance (Σy² − (Σy)²/n) / (n − 1); 0 for a single member."""
        return _sample_comoment(self.y_sq_sum, self.y_sum, self.y_sum, self.n)

    @property
    def var_x(self) -> float:
        return _sample_comoment(self.x_sq_sum, self.x_sum, self.x_sum, self.n)

    @property
    def cov_xy(self) -> float:
        """Sample covariance (Σxy − Σx·Σy/n) / (n − 1); 0 for a single member."""
        return _sample_comoment(self.xy_sum, self.x_sum, self.y_sum, self.n, clamp=False)


def _sample_comoment(ab_sum: float, a_sum: float, b_sum: float, n: float,
                     clamp: bool = True) -> float:
    """(Σab − Σa·Σb/n) / (n − 1): a sample variance (a = b) or covariance.

    NaN for an empty group, 0 for one member. A variance is clamped at 0 against rounding.
    """
    if n <= 0:
        return NAN
    if n == 1:
        return 0.0
    value = (ab_sum - a_sum * b_sum / n) / (n - 1)
    return max(value, 0.0) if clamp else value


class Interval(NamedTuple):
    """A difference with its standard error, confidence interval and two-sided p-value."""

    diff: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float


def z_interval(diff: float, variance: float, confidence: float = CONFIDENCE) -> Interval:
    """Normal (Wald) interval: diff ± z_(1−α/2)·√variance; p = 2·(1 − Φ(|diff| / √variance)).

    With variance 0 the interval is [diff, diff] and the p-value is undefined (NaN).
    """
    se = math.sqrt(variance) if variance >= 0 else NAN
    z_crit = sps.norm.ppf(0.5 + confidence / 2)
    p_value = 2 * sps.norm.sf(abs(diff) / se) if se > 0 else NAN
    return Interval(diff, se, diff - z_crit * se, diff + z_crit * se, p_value)


def two_proportion(x_t: float, n_t: float, x_c: float, n_c: float,
                   confidence: float = CONFIDENCE) -> Interval:
    """Difference of two proportions p_t − p_c (p = x / n).

    CI (Wald, unpooled): (p_t − p_c) ± z·√(p_t(1−p_t)/n_t + p_c(1−p_c)/n_c).
    p-value (pooled z-test): p̄ = (x_t + x_c)/(n_t + n_c),
    z = (p_t − p_c) / √(p̄(1−p̄)(1/n_t + 1/n_c)), p = 2·(1 − Φ(|z|)); NaN when p̄ is 0 or 1.
    """
    if not (n_t > 0 and n_c > 0):
        return Interval(NAN, NAN, NAN, NAN, NAN)
    p_t, p_c = x_t / n_t, x_c / n_c
    diff = p_t - p_c
    wald = z_interval(diff, p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c, confidence)
    pooled = _ratio(x_t + x_c, n_t + n_c)
    pooled_var = pooled * (1 - pooled) * (1 / n_t + 1 / n_c)
    p_value = 2 * sps.norm.sf(abs(diff) / math.sqrt(pooled_var)) if pooled_var > 0 else NAN
    return wald._replace(p_value=p_value)


def satterthwaite_interval(diff: float, components: list[tuple[float, float]],
                           confidence: float = CONFIDENCE) -> Interval:
    """t interval for a difference whose variance is a sum of independent components.

    components: (v_i, df_i) pairs, v_i = the variance a group contributes (e.g. s²/n, or
    w²·s²/n for a weighted stratum), df_i = its degrees of freedom (n − 1).
    se = √Σv_i; Satterthwaite df = (Σv_i)² / Σ(v_i² / df_i) (components with v_i = 0 left
    out); CI = diff ± t_(1−α/2, df)·se; p = 2·(1 − T_df(|diff| / se)).
    With se = 0 the interval is [diff, diff] and the p-value is NaN.
    """
    variance = sum(v for v, _ in components)
    if not variance > 0:
        se = math.sqrt(variance) if variance == 0 else NAN
        return Interval(diff, se, diff - se if se == 0 else NAN,
                        diff + se if se == 0 else NAN, NAN)
    se = math.sqrt(variance)
    df = variance ** 2 / sum(v ** 2 / d for v, d in components if v > 0)
    t_crit = sps.t.ppf(0.5 + confidence / 2, df)
    p_value = 2 * sps.t.sf(abs(diff) / se, df)
    return Interval(diff, se, diff - t_crit * se, diff + t_crit * se, p_value)


def welch_diff(mean_t: float, var_t: float, n_t: float, mean_c: float, var_c: float,
               n_c: float, confidence: float = CONFIDENCE) -> Interval:
    """Welch's difference of means mean_t − mean_c (unequal variances).

    se = √(s_t²/n_t + s_c²/n_c); df (Welch–Satterthwaite) =
    (s_t²/n_t + s_c²/n_c)² / ((s_t²/n_t)²/(n_t − 1) + (s_c²/n_c)²/(n_c − 1));
    CI = diff ± t_(1−α/2, df)·se.
    """
    return satterthwaite_interval(
        mean_t - mean_c, [(var_t / n_t, n_t - 1), (var_c / n_c, n_c - 1)], confidence)


def cuped_theta(groups: list[Group]) -> tuple[float, float]:
    """CUPED coefficient and centre over the pooled members of ``groups``.

    θ = cov(y, x) / var(x) = (Σxy − Σx·Σy/N) / (Σx² − (Σx)²/N), x̄ = Σx / N, all sums and
    N over every member of every group. When x does not vary (Σ(x − x̄)² is 0 up to
    rounding) it carries no information: θ = 0, no adjustment.
    """
    pooled = sum(groups, Group())
    if pooled.n == 0:
        return 0.0, NAN
    sxx = pooled.x_sq_sum - pooled.x_sum ** 2 / pooled.n
    sxy = pooled.xy_sum - pooled.x_sum * pooled.y_sum / pooled.n
    if sxx <= 1e-12 * pooled.x_sq_sum or sxx <= 0:
        return 0.0, pooled.mean_x
    return sxy / sxx, pooled.mean_x


def cuped(group: Group, theta: float, x_centre: float) -> tuple[float, float]:
    """Mean and sample variance of the adjusted y' = y − θ(x − x̄) within one group.

    mean(y') = ȳ − θ(x̄_group − x̄); var(y') = var(y) − 2θ·cov(y, x) + θ²·var(x).
    """
    mean = group.mean_y - theta * (group.mean_x - x_centre)
    var = group.var_y - 2 * theta * group.cov_xy + theta ** 2 * group.var_x
    return mean, max(var, 0.0) if not math.isnan(var) else NAN


def standardise(weights: list[float], means: list[float], variances: list[float],
                counts: list[float]) -> tuple[float, list[tuple[float, float]]]:
    """Comparison mean standardised to the treatment's stratum mix.

    weights w_s = n_t,s / n_t (summing to 1), means m_s, per-member variances v_s and
    counts n_s of the comparison strata. Returns Σ w_s·m_s and the variance components
    (w_s²·v_s/n_s, n_s − 1), whose sum is the variance of that mean. For a rate, m_s = p_s
    and v_s = p_s(1 − p_s), so the variance is Σ w_s²·p_s(1−p_s)/n_s.
    """
    mean = sum(w * m for w, m in zip(weights, means))
    components = [(w ** 2 * v / n, n - 1) for w, v, n in zip(weights, variances, counts)]
    return mean, components


def std_mean_diff(mean_t: float, var_t: float, mean_c: float, var_c: float) -> float:
    """Standardised mean difference (mean_t − mean_c) / √((var_t + var_c)/2).

    When both variances are 0: 0 if the means are equal, else undefined (NaN).
    """
    diff = mean_t - mean_c
    scale = math.sqrt((var_t + var_c) / 2)
    if scale > 0:
        return diff / scale
    return 0.0 if diff == 0 else NAN


# --- one campaign ------------------------------------------------------------------------

def _campaign_effect(campaign_id: str, rows: pd.DataFrame, min_group_size: int,
                     theta: float | None) -> dict:
    """The output row of one campaign (rows: its input rows, sums already float)."""
    def groups(arm: str) -> dict[str, Group]:
        arm_rows = rows[rows["arm"] == arm]
        found: dict[str, Group] = {}
        for record in arm_rows.itertuples(index=False):
            group = Group(*(getattr(record, c) for c in SUM_COLUMNS))
            found[record.stratum] = found.get(record.stratum, Group()) + group
        return found

    treatment_strata = groups("treatment")
    control = sum(groups("control").values(), Group())
    unmatched = 0.0
    if control.n > 0:
        source = "control_group"
        treatment = sum(treatment_strata.values(), Group())
        comparison = [control]
        weights = [1.0]
    else:
        source = "lookalike"
        lookalike = groups("lookalike")
        matched = [s for s, g in treatment_strata.items()
                   if g.n > 0 and lookalike.get(s, Group()).n > 0]
        unmatched = sum(g.n for s, g in treatment_strata.items() if s not in matched)
        treatment = sum((treatment_strata[s] for s in matched), Group())
        comparison = [lookalike[s] for s in matched]
        weights = [treatment_strata[s].n / treatment.n for s in matched]

    n_t = treatment.n
    n_c = sum(g.n for g in comparison)

    # Conversion: treatment rate against the (standardised) comparison rate.
    natural_rate, rate_components = standardise(
        weights, [g.rate for g in comparison], [g.rate * (1 - g.rate) for g in comparison],
        [g.n for g in comparison])
    if source == "control_group":
        conversion = two_proportion(treatment.converted, n_t, control.converted, n_c)
    else:
        t_rate_var = treatment.rate * (1 - treatment.rate) / n_t if n_t else NAN
        conversion = z_interval(treatment.rate - natural_rate,
                                t_rate_var + sum(v for v, _ in rate_components))

    # GMV per member, raw: Welch (one weight-1 stratum) or its standardised form.
    comparison_gmv, gmv_components = standardise(
        weights, [g.mean_y for g in comparison], [g.var_y for g in comparison],
        [g.n for g in comparison])
    gmv = satterthwaite_interval(
        treatment.mean_y - comparison_gmv,
        [(_ratio(treatment.var_y, n_t), n_t - 1)] + gmv_components)

    # CUPED: θ over all analysed members (or the θ given), y adjusted in each group, then
    # the same.
    estimated_theta, x_centre = cuped_theta([treatment] + comparison)
    theta = estimated_theta if theta is None else theta
    t_mean, t_var = cuped(treatment, theta, x_centre)
    adjusted = [cuped(g, theta, x_centre) for g in comparison]
    c_mean, cuped_components = standardise(
        weights, [m for m, _ in adjusted], [v for _, v in adjusted],
        [g.n for g in comparison])
    cuped_gmv = satterthwaite_interval(
        t_mean - c_mean, [(_ratio(t_var, n_t), n_t - 1)] + cuped_components)

    # Balance on x: the comparison's standardised mean and the variance of its reweighted
    # members, Σ w_s·var_s + Σ w_s·(x̄_s − x̄*)² (the arm's own variance for a control group).
    comparison_pre = sum(w * g.mean_x for w, g in zip(weights, comparison))
    comparison_pre_var = sum(w * (g.var_x + (g.mean_x - comparison_pre) ** 2)
                             for w, g in zip(weights, comparison))
    if n_t and n_c:
        smd = std_mean_diff(treatment.mean_x, treatment.var_x, comparison_pre,
                            comparison_pre_var)
    else:
        comparison_pre, smd = (comparison_pre if n_c else NAN), NAN
    balanced = None if math.isnan(smd) else bool(abs(smd) <= BALANCE_MAX_SMD)

    row = {
        "campaign_id": campaign_id,
        "natural_rate_source": source,
        "treatment_member_count": int(round(n_t)),
        "comparison_member_count": int(round(n_c)),
        "unmatched_treatment_count": int(round(unmatched)),
        "treatment_conversion_rate": treatment.rate,
        "natural_conversion_rate": natural_rate if n_c else NAN,
        "conversion_lift": conversion.diff,
        "conversion_lift_ci_low": conversion.ci_low,
        "conversion_lift_ci_high": conversion.ci_high,
        "conversion_lift_p_value": conversion.p_value,
        "relative_lift": _ratio(conversion.diff, natural_rate),
        "treatment_gmv_per_member": treatment.mean_y,
        "comparison_gmv_per_member": comparison_gmv if n_c else NAN,
        # Incremental GMV: the per-member difference scaled by the treatment count.
        "incremental_gmv_amount": gmv.diff * n_t,
        "incremental_gmv_ci_low": gmv.ci_low * n_t,
        "incremental_gmv_ci_high": gmv.ci_high * n_t,
        "incremental_gmv_cuped_amount": cuped_gmv.diff * n_t,
        "incremental_gmv_cuped_ci_low": cuped_gmv.ci_low * n_t,
        "incremental_gmv_cuped_ci_high": cuped_gmv.ci_high * n_t,
        "cuped_theta": theta,
        "treatment_pre_gmv_per_member": treatment.mean_x,
        "comparison_pre_gmv_per_member": comparison_pre,
        "pre_gmv_std_diff": smd,
        "is_balanced": balanced,
    }
    if n_t < min_group_size or n_c < min_group_size or n_t == 0 or n_c == 0:
        row.update(dict.fromkeys(LIFT_COLUMNS, NAN))
    return row


# --- the table ---------------------------------------------------------------------------

def campaign_effects(stats: pd.DataFrame, min_group_size: int = 100,
                     theta: float | None = None) -> pd.DataFrame:
    """One row per campaign_id of effect estimates from per-(campaign, arm, stratum) sums.

    See the module docstring for the definitions; the columns are OUTPUT_COLUMNS.
    ``theta`` fixes the CUPED coefficient instead of estimating it: with θ = 1 the
    incremental_gmv_cuped_* columns are the difference-in-differences estimate.
    """
    missing = [c for c in INPUT_COLUMNS if c not in stats.columns]
    if missing:
        raise ValueError(f"campaign_effects: missing input columns {missing}")
    unknown = set(stats["arm"].dropna().unique()) - set(ARMS)
    if unknown or stats["arm"].isna().any():
        raise ValueError(f"campaign_effects: unknown arm values {sorted(map(str, unknown))}")

    data = stats.loc[:, list(INPUT_COLUMNS)].copy()
    data["campaign_id"] = data["campaign_id"].astype(str)
    data["stratum"] = data["stratum"].map(lambda s: "" if pd.isna(s) else str(s))
    for column in SUM_COLUMNS:
        # Decimal (DuckDB DECIMAL/HUGEINT) and NULL sums over no members -> float, 0.
        values = data[column].astype(object).map(lambda v: NAN if v is None else float(v))
        data[column] = values.astype("float64").fillna(0.0)

    # rows in a fixed order: float sums over strata then do not depend on the order the
    # database returned them in
    data = data.sort_values(["campaign_id", "arm", "stratum"], kind="stable")
    rows = [_campaign_effect(campaign_id, group, min_group_size, theta)
            for campaign_id, group in data.groupby("campaign_id", sort=True)]
    result = pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))
    return result.astype(OUTPUT_DTYPES)


# --- coupon templates --------------------------------------------------------------------

# method -> (fixed CUPED θ, the campaign_effects columns holding its estimate)
EFFECT_METHODS = {"control_group": (None, "incremental_gmv"),
                  "diff_in_diff": (1.0, "incremental_gmv_cuped")}

COUPON_OUTPUT_DTYPES = {
    "template_id": "str",
    "effect_method": "str",
    "treatment_member_count": "int64",
    "comparison_member_count": "int64",
    "unmatched_treatment_count": "int64",
    "incremental_gmv_amount": "float64",
    "incremental_gmv_ci_low": "float64",
    "incremental_gmv_ci_high": "float64",
}


def coupon_effects(stats: pd.DataFrame, min_group_size: int = 100) -> pd.DataFrame:
    """Incremental GMV per coupon template from per-(template, effect_method, arm, stratum)
    sums (columns: template_id, effect_method and INPUT_COLUMNS but campaign_id).

    effect_method control_group: the raw Welch estimate against the control group.
    diff_in_diff: strata of issued members (arm treatment) against never-issued members of
    the same wave and pre-period segment (arm lookalike); the estimate is the θ = 1 CUPED
    one, the difference in differences. One row per template, COUPON_OUTPUT_DTYPES.
    """
    unknown = set(stats["effect_method"].dropna().unique()) - set(EFFECT_METHODS)
    if unknown or stats["effect_method"].isna().any():
        raise ValueError(f"coupon_effects: unknown effect_method {sorted(map(str, unknown))}")
    if stats.groupby("template_id")["effect_method"].nunique().gt(1).any():
        raise ValueError("coupon_effects: a template has rows of two effect methods")
    parts = []
    for method, (theta, prefix) in EFFECT_METHODS.items():
        rows = stats[stats["effect_method"] == method].rename(columns={"template_id": "campaign_id"})
        if rows.empty:
            continue
        effects = campaign_effects(rows, min_group_size, theta=theta)
        parts.append(pd.DataFrame({
            "template_id": effects["campaign_id"],
            "effect_method": method,
            "treatment_member_count": effects["treatment_member_count"],
            "comparison_member_count": effects["comparison_member_count"],
            "unmatched_treatment_count": effects["unmatched_treatment_count"],
            "incremental_gmv_amount": effects[f"{prefix}_amount"],
            "incremental_gmv_ci_low": effects[f"{prefix}_ci_low"],
            "incremental_gmv_ci_high": effects[f"{prefix}_ci_high"],
        }))
    result = (pd.concat(parts, ignore_index=True) if parts
              else pd.DataFrame(columns=list(COUPON_OUTPUT_DTYPES)))
    return result.sort_values("template_id", ignore_index=True).astype(COUPON_OUTPUT_DTYPES)
