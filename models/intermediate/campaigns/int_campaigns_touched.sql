-- The campaigns whose every outcome row an incremental marts build recomputes in
-- int_campaign_member_outcomes (DECISIONLOG "Incremental campaign outcomes"); the other
-- campaigns keep their rows but those of the members int_member_attributes_touched lists. A
-- campaign is touched when
--   - its window ends on or after the earliest date an order changed on (int_order_changes);
--     an order dated after the end is in none of its windows, its members' history or its
--     eve RFM snapshot;
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
order_changes as (select * from {{ ref('int_order_changes') }}),
snapshots_touched as (select * from {{ ref('int_rfm_snapshots_touched') }}),
snapshot_dates as (select * from {{ ref('int_rfm_snapshot_dates') }}),
changed_flags as (select * from {{ ref('int_quality_flags_changed') }}),
audience as (select * from {{ ref('stg_marketing__campaign_audience') }}),
touches as (select * from {{ ref('stg_marketing__campaign_touches') }}),
windows_built as (select * from {{ built_before('int_campaign_windows_as_built') }}),

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
        campaigns.end_date >= (select min(order_changes.change_date) from order_changes)
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
