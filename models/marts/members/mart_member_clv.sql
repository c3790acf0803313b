-- One row per member with a purchase on or before the CLV calibration end: P(alive), the
-- purchase days expected over the horizon, the expected spend per purchase day and CLV
-- (int_member_clv); empty when mart_clv_model has no fit.
with

scores as (select * from {{ python_model_ref('int_member_clv') }}),
summary as (select * from {{ ref('int_clv_member_summary') }}),
calibration as (select * from {{ ref('int_clv_calibration') }}),

final as (
    select
        scores.member_id,
        calibration.calibration_end_date,
        calibration.horizon_days,
        summary.frequency,
        cast(summary.recency_days as integer) as recency_days,
        cast(summary.tenure_days as integer) as tenure_days,
        {{ double_to_decimal('summary.monetary_value') }} as monetary_value_amount,
        scores.p_alive,
        scores.expected_purchases,
        {{ double_to_decimal('scores.expected_order_value_amount') }} as expected_order_value_amount,
        {{ double_to_decimal('scores.clv_amount') }} as clv_amount
    from scores
    inner join summary on scores.member_id = summary.member_id
    cross join calibration
)

select * from final
