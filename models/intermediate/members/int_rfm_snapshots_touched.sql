-- The RFM snapshots an incremental marts build (re)computes in int_member_rfm: the current
-- one, snapshot dates it does not hold yet or holds with another is_current, and every
-- snapshot on or after the earliest date a change reaches: the date (before and after) of
-- an order the build touched (int_orders_touched), and the first order of a member whose
-- CRM record was delivered since the last finished marts build or whose incomplete-profile
-- flag changed (either may take the member in or out of int_members_resolved). A snapshot
-- before all of them has the same orders and members as when it was computed. On a full
-- build int_member_rfm computes every snapshot and reads none of this: then it is empty.
{% if not incremental_facts_run() %}

    select cast(null as date) as as_of_date
    where 1 = 0

{% else %}

with

snapshot_dates as (select * from {{ ref('int_rfm_snapshot_dates') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),
touched_orders as (select * from {{ ref('int_orders_touched') }}),
changed_flags as (select * from {{ ref('int_quality_flags_changed') }}),
members as (select * from {{ ref('stg_crm__members') }}),
id_map as (select * from {{ ref('int_member_id_map') }}),
rfm_built as (select * from {{ built_before('int_member_rfm') }}),

built_snapshots as (
    select distinct
        as_of_date,
        is_current
    from rfm_built
),

changed_members as (
    select id_map.member_id
    from id_map
    where id_map.source_member_id in (
        select member_id from members
        where {{ loaded_since_marts_build() }}
        union
        select record_key from changed_flags where dataset = 'members'
    )
),

change_dates as (
    select built_order_date as change_date from touched_orders
    union
    select orders.order_date as change_date
    from orders
    where orders.order_id in (select touched_orders.order_id from touched_orders)
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
