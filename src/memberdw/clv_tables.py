"""The warehouse's CLV tables from memberdw.clv, for the dbt Python models int_clv_fit and
int_member_clv: pandas frames in, pandas frames out, one place for their columns.

Inputs come from int_clv_member_summary, one row per member whose first purchase day is on
or before the calibration end (frequency x, recency_days t_x, tenure_days T, monetary_value,
holdout_purchase_count; days), and int_clv_calibration, one row (calibration_end_date,
as_of_date, horizon_days). The fit reads the summary grouped by distinct (x, t_x, T) and
(x, monetary_value), with member_count the weight, so what crosses from the database into
Python is a few distinct rows even for millions of members.
"""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import pandas as pd

from memberdw import clv

log = logging.getLogger(__name__)

FIT_DTYPES = {
    "calibration_end_date": "datetime64[s]",
    "as_of_date": "datetime64[s]",
    "horizon_days": "int64",
    "fit_status": "str",
    "fit_note": "str",
    "member_count": "int64",
    "repeat_buyer_count": "int64",
    "bgnbd_r": "float64",
    "bgnbd_alpha": "float64",
    "bgnbd_a": "float64",
    "bgnbd_b": "float64",
    "log_likelihood": "float64",
    "gg_p": "float64",
    "gg_q": "float64",
    "gg_v": "float64",
    "gg_log_likelihood": "float64",
    "holdout_days": "int64",
    "holdout_predicted_repeat_purchases": "float64",
    "holdout_actual_repeat_purchases": "float64",
}

MEMBER_DTYPES = {
    "member_id": "str",
    "p_alive": "float64",
    "expected_purchases": "float64",
    "expected_order_value_amount": "float64",
    "clv_amount": "float64",
}


def _day(value) -> date:
    return pd.Timestamp(value).date()


def _columns(frame: pd.DataFrame, *names: str) -> tuple[np.ndarray, ...]:
    return tuple(frame[n].to_numpy(dtype="float64") for n in names)


def fit_row(triples: pd.DataFrame, spends: pd.DataFrame, calibration: pd.DataFrame
            ) -> pd.DataFrame:
    """One row: the fit, or fit_status 'insufficient_history' with fit_note
    (clv.InsufficientHistory's message) and null parameters.

    triples: distinct (frequency, recency_days, tenure_days) with member_count and the sum of
    their holdout_purchase_count; spends: distinct (frequency, monetary_value) of the members
    with frequency > 0, with member_count. Holdout columns (the calibrated members' purchase
    days after the calibration end up to the as-of date, predicted by eq. 10 and counted)
    are null when the calibration end is the as-of date. Raises ValueError when the
    calibration end is after the as-of date."""
    (cal,) = calibration.itertuples(index=False)
    end, as_of = _day(cal.calibration_end_date), _day(cal.as_of_date)
    if end > as_of:
        raise ValueError(f"clv_calibration_end {end} is after the as-of date {as_of}:"
                         " the fit can only be calibrated on data the marts hold")
    x, t_x, T, w = _columns(triples, "frequency", "recency_days", "tenure_days", "member_count")
    holdout_days = (as_of - end).days
    row = dict.fromkeys(FIT_DTYPES, np.nan)
    row.update(calibration_end_date=pd.Timestamp(end), as_of_date=pd.Timestamp(as_of),
               horizon_days=int(cal.horizon_days), member_count=int(w.sum()),
               repeat_buyer_count=int(w[x > 0].sum()), holdout_days=holdout_days)
    try:
        bgnbd = clv.fit_bgnbd(x, t_x, T, weights=w)
        gamma_gamma = clv.fit_gamma_gamma(*_columns(spends, "frequency", "monetary_value"),
                                          weights=spends["member_count"].to_numpy("float64"))
    except clv.InsufficientHistory as reason:
        row.update(fit_status="insufficient_history", fit_note=str(reason))
    else:
        row.update(fit_status="fitted", fit_note="",
                   bgnbd_r=bgnbd.r, bgnbd_alpha=bgnbd.alpha, bgnbd_a=bgnbd.a, bgnbd_b=bgnbd.b,
                   log_likelihood=bgnbd.log_likelihood, gg_p=gamma_gamma.p,
                   gg_q=gamma_gamma.q, gg_v=gamma_gamma.v,
                   gg_log_likelihood=gamma_gamma.log_likelihood)
        if holdout_days > 0:
            predicted = clv.expected_purchases(bgnbd, holdout_days, x, t_x, T)
            row.update(holdout_predicted_repeat_purchases=float((w * predicted).sum()),
                       holdout_actual_repeat_purchases=float(
                           triples["holdout_purchase_count"].sum()))
    return pd.DataFrame([row]).astype(FIT_DTYPES)


def member_scores(summary: pd.DataFrame, fit: pd.DataFrame) -> pd.DataFrame:
    """One row per member of ``summary`` from a fitted row of fit_row: P(alive), expected
    purchase days over horizon_days after the calibration end, the Gamma-Gamma expected
    spend per purchase day, and clv_amount = their product. No rows when not fitted."""
    (f,) = fit.itertuples(index=False)
    if f.fit_status != "fitted":
        return pd.DataFrame(columns=list(MEMBER_DTYPES)).astype(MEMBER_DTYPES)
    bgnbd = clv.BgNbdFit(f.bgnbd_r, f.bgnbd_alpha, f.bgnbd_a, f.bgnbd_b, f.log_likelihood,
                         f.member_count)
    gamma_gamma = clv.GammaGammaFit(f.gg_p, f.gg_q, f.gg_v, f.gg_log_likelihood)
    x, t_x, T, spend = _columns(summary, "frequency", "recency_days", "tenure_days",
                                "monetary_value")
    purchases = clv.expected_purchases(bgnbd, f.horizon_days, x, t_x, T)
    # clv.expected_purchases is finite for every fit (its series replaced scipy's hyp2f1,
    # which overflowed at 1M members); NaN is left only for a NaN or infinite input or a
    # series still unconverged after clv.SERIES_MAX_TERMS terms. Such members' expected
    # purchases and CLV stay NULL, never infinite, and the log says how many.
    unstable = ~np.isfinite(purchases)
    if unstable.any():
        log.warning("CLV: expected purchases not computable for %d of %d members (r=%.4g,"
                    " alpha=%.4g, a=%.4g, b=%.4g); their CLV is left NULL", unstable.sum(),
                    len(purchases), f.bgnbd_r, f.bgnbd_alpha, f.bgnbd_a, f.bgnbd_b)
        purchases = np.where(unstable, np.nan, purchases)
    order_value = clv.expected_order_value(gamma_gamma, x, spend)
    return pd.DataFrame({
        "member_id": summary["member_id"],
        "p_alive": clv.p_alive(bgnbd, x, t_x, T),
        "expected_purchases": purchases,
        "expected_order_value_amount": order_value,
        "clv_amount": purchases * order_value,
    }).astype(MEMBER_DTYPES)
