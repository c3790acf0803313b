-- The RFM snapshots an incremental marts build (re)computes in int_member_rfm: the current
-- one, snapshot dates it does not hold yet or holds with another is_current, and every
-- snapshot on or after the earliest date a change reaches: the date an order the build
-- touched changed on (int_order_changes), and the first order of a member taken in or out
-- of int_members_resolved or merged otherwise since the last finished marts build
-- (int_member_attributes_touched). A snapshot
-- before all of them has the same orders and members as when it was computed. On a full
-- build int_member_rfm computes every snapshot and reads none of this: then it is empty.
{% if not incremental_facts_run() %}

    select cast(null as date) as as_of_date
    where 1 = 0

{% else %}

with

snapshot_dates as (select * from {{ ref('int_rfm_snapshot_dates') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),
order_changes as (select * from {{ ref('int_order_changes') }}),
attributes_touched as (select * from {{ ref('int_member_attributes_touched') }}),
rfm_built as (select * from {{ built_before('int_member_rfm') }}),

built_snapshots as (
    select distinct
        as_of_date,
        is_current
    from rfm_built
),

changed_members as (
    select member_id from attributes_touched where is_membership_changed
),

change_dates as (
    select change_date from order_changes
    union
    select min(orders.order_date) as change_date
    from orders
    where orders.member_id in (select changed_members.member_id from changed_members)
),

touched as (
    select snapshot_dates.as_of_date
    from snapshot_dates
    left join built_snapshots on snapshot_dates.as_of_date = built_snapshots.as_of_date
    where
        snapshot_dates.is_current
        or built_snapshots.as_of_date is null
        or built_snapshots.is_current <> snapshot_dates.is_current
        or snapshot_dates.as_of_date >= (select min(change_dates.change_date) from change_dates)
)

select * from touched

{% endif %}
