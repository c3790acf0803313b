-- One row per step between consecutive RFM snapshots and member in RFM at either end: the
-- segment and value group before and after ('none': no purchase as of that date), whether
-- the member moved to a lower value group, and the net GMV the member bought in the step.
-- Snapshots are the month ends the data covers and, last, the as-of date, which need not be
-- a month end (is_to_month_end says so); campaign eves are not steps (is_period_snapshot).
with

rfm as (select * from {{ ref('int_member_rfm') }}),
snapshot_dates as (select * from {{ ref('int_rfm_snapshot_dates') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),

ordered_dates as (
    select
        lag(as_of_date) over (order by as_of_date) as from_date,
        as_of_date as to_date,
        is_month_end as is_to_month_end
    from snapshot_dates
    where is_period_snapshot
),

steps as (
    select
        from_date,
        to_date,
        is_to_month_end
    from ordered_dates
    where from_date is not null
),

members_in_step as (
    select
        steps.from_date,
        steps.to_date,
        steps.is_to_month_end,
        rfm.member_id
    from steps
    inner join rfm on steps.from_date = rfm.as_of_date or steps.to_date = rfm.as_of_date
    group by steps.from_date, steps.to_date, steps.is_to_month_end, rfm.member_id
),

moves as (
    select
        members_in_step.from_date,
        members_in_step.to_date,
        members_in_step.is_to_month_end,
        members_in_step.member_id,
        coalesce(before_step.rfm_segment, 'none') as from_segment,
        coalesce(after_step.rfm_segment, 'none') as to_segment,
        coalesce(before_step.value_group, 'none') as from_value_group,
        coalesce(after_step.value_group, 'none') as to_value_group
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
        moves.from_date,
        moves.to_date,
        moves.is_to_month_end,
        moves.member_id,
        moves.from_segment,
        moves.to_segment,
        moves.from_value_group,
        moves.to_value_group,
        {{ value_group_rank('moves.to_value_group') }}
        < {{ value_group_rank('moves.from_value_group') }} as is_downgrade,
        cast(gmv_in_step.gmv_amount as decimal(18, 2)) as gmv_amount
    from moves
    inner join gmv_in_step
        on
            moves.from_date = gmv_in_step.from_date
            and moves.to_date = gmv_in_step.to_date
            and moves.member_id = gmv_in_step.member_id
)

select * from final
