-- One row per member whose first purchase day is on or before the calibration end: the
-- history the CLV fit reads (int_clv_fit, int_member_clv), in days. frequency x = purchase
-- days after the first up to the calibration end; recency t_x = days from the first purchase
-- day to the last one in that span; tenure T = days from the first purchase day to the
-- calibration end; monetary value = mean spend of those repeat days (0 without one);
-- holdout_purchase_count = purchase days after the calibration end, up to the as-of date.
with

days as (select * from {{ ref('int_clv_purchase_days') }}),
calibration as (select * from {{ ref('int_clv_calibration') }}),

firsts as (
    select
        member_id,
        min(order_date) as first_purchase_date
    from days
    group by member_id
),

-- the calibration's repeat purchase days: after the first, up to the calibration end
flagged as (
    select
        days.member_id,
        days.order_date,
        days.gmv_amount,
        firsts.first_purchase_date,
        calibration.calibration_end_date,
        days.order_date > firsts.first_purchase_date
        and days.order_date <= calibration.calibration_end_date as is_repeat,
        days.order_date > calibration.calibration_end_date as is_holdout
    from days
    inner join firsts on days.member_id = firsts.member_id
    cross join calibration
    where firsts.first_purchase_date <= calibration.calibration_end_date
),

per_member as (
    select
        member_id,
        first_purchase_date,
        calibration_end_date,
        sum(case when is_repeat then 1 else 0 end) as frequency,
        max(case when not is_holdout then order_date end) as last_purchase_date,
        {{ avg_double('case when is_repeat then gmv_amount end') }} as repeat_spend_amount,
        sum(case when is_holdout then 1 else 0 end) as holdout_purchase_count
    from flagged
    group by member_id, first_purchase_date, calibration_end_date
),

final as (
    select
        member_id,
        first_purchase_date,
        cast(frequency as integer) as frequency,
        {{ dbt.datediff('first_purchase_date', 'last_purchase_date', 'day') }}
            as recency_days,
        {{ dbt.datediff('first_purchase_date', 'calibration_end_date', 'day') }}
            as tenure_days,
        cast(coalesce(repeat_spend_amount, 0) as {{ type_double() }}) as monetary_value,
        cast(holdout_purchase_count as integer) as holdout_purchase_count
    from per_member
)

select * from final
