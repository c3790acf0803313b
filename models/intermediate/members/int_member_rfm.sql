-- RFM of every member who bought at least once up to each snapshot date D (data after D
-- is ignored); one row per snapshot date and member. R = days from the last purchase to
-- D; F = sale orders and M = net paid amount (returns and refunds subtract) in the
-- rfm_window_days ending on and including D.
-- Scores 1-5 by quintile of percent rank, so tied members share a score (5 best).
with

orders as (select * from {{ ref('fct_orders') }}),
members as (select * from {{ ref('dim_members') }}),
as_of as (select * from {{ ref('int_rfm_snapshot_dates') }}),

member_orders as (
    select
        orders.member_id,
        orders.order_id,
        orders.order_type,
        orders.order_date,
        orders.gmv_amount,
        as_of.as_of_date,
        as_of.is_current,
        orders.order_date >= as_of.rfm_window_start_date as is_in_window
    from orders
    inner join members on orders.member_id = members.member_id
    inner join as_of on orders.order_date <= as_of.as_of_date
),

per_member as (
    select
        member_id,
        as_of_date,
        is_current,
        max(case when order_type = 'sale' then order_date end) as last_purchase_date,
        count(distinct case when order_type = 'sale' and is_in_window then order_id end)
            as frequency,
        coalesce(sum(case when is_in_window then gmv_amount end), 0) as monetary_amount
    from member_orders
    group by member_id, as_of_date, is_current
),

measured as (
    select
        as_of_date,
        is_current,
        member_id,
        as_of_date - last_purchase_date as recency_days,
        frequency,
        cast(monetary_amount as decimal(18, 2)) as monetary_amount
    from per_member
    where last_purchase_date is not null
),

scored as (
    select
        *,
        least(5, 1 + floor(5 * percent_rank() over (
            partition by as_of_date order by recency_days desc
        ))) as r_score,
        least(5, 1 + floor(5 * percent_rank() over (
            partition by as_of_date order by frequency
        ))) as f_score,
        least(5, 1 + floor(5 * percent_rank() over (
            partition by as_of_date order by monetary_amount
        ))) as m_score,
        recency_days <= avg(recency_days) over (partition by as_of_date) as is_r_high,
        frequency >= avg(frequency) over (partition by as_of_date) as is_f_high,
        monetary_amount >= avg(monetary_amount) over (partition by as_of_date) as is_m_high
    from measured
),

segmented as (
    select
        *,
        case
            when is_r_high and is_f_high and is_m_high then 'important_value'
            when is_r_high and not is_f_high and is_m_high then 'important_develop'
            when not is_r_high and is_f_high and is_m_high then 'important_retain'
            when not is_r_high and not is_f_high and is_m_high then 'important_winback'
            when is_r_high and is_f_high then 'general_value'
            when is_r_high then 'general_develop'
            when is_f_high then 'general_retain'
            else 'general_winback'
        end as rfm_segment
    from scored
),

final as (
    select
        as_of_date,
        is_current,
        member_id,
        cast(recency_days as integer) as recency_days,
        cast(frequency as integer) as frequency,
        monetary_amount,
        cast(r_score as integer) as r_score,
        cast(f_score as integer) as f_score,
        cast(m_score as integer) as m_score,
        rfm_segment,
        {{ rfm_segment_cn('rfm_segment') }} as rfm_segment_cn,
        case
            when r_score >= 4 and f_score >= 4 and m_score >= 4 then 'high_value'
            when r_score <= 2 and f_score <= 2 and m_score <= 2 then 'churn_risk'
            when r_score <= 2 then 'potential'
            else 'general'
        end as value_group,
        {{ consumption_stage('recency_days') }} as lifecycle_stage
    from segmented
)

select * from final
