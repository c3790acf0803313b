-- One row per CLV fit (the run's): BG/NBD and Gamma-Gamma parameters, log-likelihood and
-- the holdout check, or why there is no fit (int_clv_fit).
with

fit as (select * from {{ python_model_ref('int_clv_fit') }}),

final as (
    select
        cast(as_of_date as date) as as_of_date,
        cast(calibration_end_date as date) as calibration_end_date,
        cast(horizon_days as integer) as horizon_days,
        fit_status,
        nullif(fit_note, '') as fit_note,
        cast(member_count as bigint) as member_count,
        cast(repeat_buyer_count as bigint) as repeat_buyer_count,
        bgnbd_r,
        bgnbd_alpha,
        bgnbd_a,
        bgnbd_b,
        log_likelihood,
        gg_p,
        gg_q,
        gg_v,
        gg_log_likelihood,
        cast(holdout_days as integer) as holdout_days,
        holdout_predicted_repeat_purchases,
        holdout_actual_repeat_purchases
    from fit
)

select * from final
