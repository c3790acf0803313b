-- Members moving between RFM segments from one snapshot (month end) to the next, the last
-- step ending on the as-of date. 'none' is no segment (no purchase yet). gmv_amount is the
-- net GMV the moving members bought between the two dates; is_high_to_low marks flows
-- from an important_* segment down to a general_* one or to none.
with

rfm as (select * from {{ ref('int_member_rfm') }}),
snapshot_dates as (select * from {{ ref('int_rfm_snapshot_dates') }}),
orders as (select * from {{ ref('fct_orders') }}),

steps as (
    select
        from_date,
        to_date
    from (
        select
            lag(as_of_date) over (order by as_of_date) as from_date,
            as_of_date as to_date
        from snapshot_dates
    ) as ordered_dates
    where from_date is not null
),

members_in_step as (
    select
        steps.from_date,
        steps.to_date,
        rfm.member_id
    from steps
    inner join rfm on steps.from_date = rfm.as_of_date or steps.to_date = rfm.as_of_date
    group by steps.from_date, steps.to_date, rfm.member_id
),

moves as (
    select
        members_in_step.from_date,
        members_in_step.to_date,
        members_in_step.member_id,
        coalesce(before_step.rfm_segment, 'none') as from_segment,
        coalesce(after_step.rfm_segment, 'none') as to_segment
    from members_in_step
    left join rfm as before_step
        on
            members_in_step.member_id = before_step.member_id
            and members_in_step.from_date = before_step.as_of_date
    left join rfm as after_step
        on
            members_in_step.member_id = after_step.member_id
            and members_in_step.to_date = after_step.as_of_date
),

gmv_in_step as (
    select
        moves.from_date,
        moves.to_date,
        moves.member_id,
        coalesce(sum(orders.gmv_amount), 0) as gmv_amount
    from moves
    left join orders
        on
            moves.member_id = orders.member_id
            and moves.from_date < orders.order_date
            and moves.to_date >= orders.order_date
    group by moves.from_date, moves.to_date, moves.member_id
),

final as (
    select
        cast({{ dbt.date_trunc('month', 'moves.from_date') }} as date) as from_month,
        cast({{ dbt.date_trunc('month', 'moves.to_date') }} as date) as to_month,
        moves.from_date,
        moves.to_date,
        moves.from_segment,
        moves.to_segment,
        count(*) as member_count,
        cast(sum(gmv_in_step.gmv_amount) as decimal(18, 2)) as gmv_amount,
        moves.from_segment like 'important%'
        and (moves.to_segment like 'general%' or moves.to_segment = 'none') as is_high_to_low
    from moves
    inner join gmv_in_step
        on
            moves.from_date = gmv_in_step.from_date
            and moves.to_date = gmv_in_step.to_date
            and moves.member_id = gmv_in_step.member_id
    group by
        moves.from_date, moves.to_date, moves.from_segment, moves.to_segment
)

select * from final
