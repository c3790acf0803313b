-- RFM of every member with at least one purchase up to each snapshot date D (data after D
-- is ignored); one row per snapshot date and member. A purchase is a sale whose net paid
-- amount after its own returns and refunds up to D is above zero (is_purchase_as_of): a
-- sale returned in full counts for nothing in R, F or the stage. R = days from the last
-- purchase to D; F = purchases and M = net paid amount of every order (returns and refunds
-- subtract) in the rfm_window_days ending on and including D.
-- Scores 1-5 by quintile of percent rank, so tied members share a score (5 best).
-- Incremental: a snapshot, once computed, stays until a change reaches it; a run computes
-- the snapshots int_rfm_snapshots_touched lists and drops those no longer wanted.
{{ config(**rfm_snapshots_incremental()) }}

with

orders as (select * from {{ ref('int_orders_unioned') }}),
members as (select * from {{ ref('int_members_resolved') }}),
snapshot_dates as (
    select * from {{ ref('int_rfm_snapshot_dates') }}
    where {{ touched_snapshots_only('as_of_date') }}
),

member_orders as (
    select
        orders.member_id,
        orders.order_id,
        orders.order_date,
        orders.gmv_amount,
        snapshot_dates.as_of_date,
        snapshot_dates.is_current,
        orders.order_date >= snapshot_dates.rfm_window_start_date as is_in_window,
        {{ is_purchase_as_of('snapshot_dates.as_of_date', 'orders') }} as is_purchase
    from orders
    inner join members on orders.member_id = members.member_id
    inner join snapshot_dates on orders.order_date <= snapshot_dates.as_of_date
),

per_member as (
    select
        member_id,
        as_of_date,
        is_current,
        max(case when is_purchase then order_date end) as last_purchase_date,
        count(distinct case when is_purchase and is_in_window then order_id end) as frequency,
        coalesce(sum(case when is_in_window then gmv_amount end), 0) as monetary_amount
    from member_orders
    group by member_id, as_of_date, is_current
),

measured as (
    select
        as_of_date,
        is_current,
        member_id,
        {{ dbt.datediff('last_purchase_date', 'as_of_date', 'day') }}
            as recency_days,
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
        monetary_amount >= {{ avg_double('monetary_amount', 'over (partition by as_of_date)') }}
            as is_m_high
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
        {{ rfm_value_group('rfm_segment') }} as value_group,
        {{ consumption_stage('recency_days') }} as lifecycle_stage
    from segmented
)

select * from final
