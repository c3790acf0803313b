-- The campaigns whose every outcome row an incremental marts build recomputes in
-- int_campaign_member_outcomes (DECISIONLOG "Incremental campaign outcomes"); the other
-- campaigns keep their rows but those of the members int_campaign_members_touched lists. A
-- campaign is touched when
--   - its window ends on or after the earliest date a change reaches: the date, before and
--     after, of an order the build touched (int_orders_touched) that is new, gone or
--     changed in member, type or GMV, or the earlier return date of one returned in full
--     at another date; an order dated after the end is in none of its windows, its
--     members' history or its eve RFM snapshot;
--   - its eve RFM snapshot is recomputed (int_rfm_snapshots_touched);
--   - audience or touch rows of it were loaded (or erased) since the last finished marts
--     build, or their quality flags changed;
--   - it is new in int_campaign_windows or its window moved since that build
--     (int_campaign_windows_as_built).
-- A campaign no longer in int_campaign_windows loses its rows (the model's delete hook).
-- Empty on a full build, which computes every campaign.
{% if not incremental_facts_run() %}

    select cast(null as {{ dbt.type_string() }}) as campaign_id
    where 1 = 0

{% else %}

with

campaigns as (select * from {{ ref('int_campaign_windows') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),
touched_orders as (select * from {{ ref('int_orders_touched') }}),
snapshots_touched as (select * from {{ ref('int_rfm_snapshots_touched') }}),
snapshot_dates as (select * from {{ ref('int_rfm_snapshot_dates') }}),
changed_flags as (select * from {{ ref('int_quality_flags_changed') }}),
audience as (select * from {{ ref('stg_marketing__campaign_audience') }}),
touches as (select * from {{ ref('stg_marketing__campaign_touches') }}),
windows_built as (select * from {{ built_before('int_campaign_windows_as_built') }}),

-- each touched order as the facts had it and as it is now, in what a campaign reads of it
-- (window_member_outcomes, is_purchase_as_of)
order_versions as (
    select
        touched_orders.built_order_date,
        touched_orders.built_member_id,
        touched_orders.built_order_type,
        touched_orders.built_gmv_amount,
        touched_orders.built_returned_in_full_date,
        orders.order_date,
        orders.member_id,
        orders.order_type,
        orders.gmv_amount,
        orders.returned_in_full_date,
        touched_orders.built_order_date is distinct from orders.order_date
        or touched_orders.built_member_id is distinct from orders.member_id
        or touched_orders.built_order_type is distinct from orders.order_type
        or touched_orders.built_gmv_amount is distinct from orders.gmv_amount as is_moved
    from touched_orders
    left join orders on touched_orders.order_id = orders.order_id
),

-- an order new, gone or changed in date, member, type or GMV changes what every window up
-- to its dates (before and after) holds; one whose only change is when it was returned in
-- full changes no window ending before the earlier of its return dates (a mini-program
-- order's status moving on changes none)
change_dates as (
    select built_order_date as change_date from order_versions where is_moved
    union
    select order_date as change_date from order_versions where is_moved
    union
    select
        case
            when built_returned_in_full_date is null then returned_in_full_date
            when returned_in_full_date is null then built_returned_in_full_date
            when returned_in_full_date < built_returned_in_full_date then returned_in_full_date
            else built_returned_in_full_date
        end as change_date
    from order_versions
    where
        not is_moved
        and built_returned_in_full_date is distinct from returned_in_full_date
),

eve_snapshots as (
    select
        campaigns.campaign_id,
        max(snapshot_dates.as_of_date) as snapshot_date
    from campaigns
    inner join snapshot_dates on campaigns.start_date > snapshot_dates.as_of_date
    group by campaigns.campaign_id
),

touched as (
    select campaigns.campaign_id
    from campaigns
    where
        campaigns.end_date >= (select min(change_dates.change_date) from change_dates)
        or not exists (
            select 1
            from windows_built
            where
                windows_built.campaign_id = campaigns.campaign_id
                and windows_built.start_date = campaigns.start_date
                and windows_built.end_date = campaigns.end_date
        )
    union
    select eve_snapshots.campaign_id
    from eve_snapshots
    where eve_snapshots.snapshot_date in (select snapshots_touched.as_of_date from snapshots_touched)
    union
    select audience.campaign_id
    from audience
    where {{ loaded_since_marts_build() }}
    union
    select touches.campaign_id
    from touches
    where {{ loaded_since_marts_build() }}
    union
    select {{ dbt.split_part('changed_flags.record_key', "'|'", 1) }} as campaign_id
    from changed_flags
    where changed_flags.dataset in ('campaign_audience', 'campaign_touches')
)

select * from touched

{% endif %}
