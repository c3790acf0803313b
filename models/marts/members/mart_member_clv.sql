-- One row per member with a purchase on or before the CLV calibration end: P(alive), the
-- purchase days expected over the horizon, the expected spend per purchase day and CLV
-- (int_member_clv); empty when mart_clv_model has no fit.
with

scores as (select * from {{ ref('int_member_clv') }}),
calibration as (select * from {{ ref('int_clv_calibration') }}),

final as (
    select
        scores.member_id,
        calibration.calibration_end_date,
        calibration.horizon_days,
        cast(scores.frequency as integer) as frequency,
        scores.recency_days,
        scores.tenure_days,
        cast(scores.monetary_value_amount as decimal(18, 2)) as monetary_value_amount,
        scores.p_alive,
        scores.expected_purchases,
        cast(scores.expected_order_value_amount as decimal(18, 2)) as expected_order_value_amount,
        cast(scores.clv_amount as decimal(18, 2)) as clv_amount
    from scores
    cross join calibration
)

select * from final
