-- The event dates an incremental marts build rebuilds in int_miniapp_visitor_days
-- (macros/incremental_dates.sql; DECISIONLOG "Mini-program KPIs by touched date"): the
-- business date of every event whose staging row was loaded since the last finished
-- marts build (var marts_watermark), and the dates of the earlier versions of those
-- events (staging keeps the newest version of an event_id only; the raw table keeps
-- every version, dated as staging dates it: business_time of event_time). Events have no
-- Great Expectations dataset, so no flag changes reach them. A full build reads none of
-- it: then it is empty.

{% if not incremental_facts_run() %}

    select cast(null as date) as event_date
    where 1 = 0

{% else %}

with

events as (select * from {{ ref('stg_miniapp__events') }}),
raw_events as (
    select * from {{ source('miniapp', 'events') }}
    where {{ delivered_by_as_of() }}
),

loaded as (
    select
        event_id,
        event_date
    from events
    where {{ loaded_since_marts_build() }}
),

touched as (
    select event_date from loaded
    union
    select cast({{ business_time('raw_events.event_time') }} as date) as event_date
    from raw_events
    where raw_events.event_id in (select loaded.event_id from loaded)
),

final as (
    select event_date
    from touched
    where event_date is not null
)

select * from final

{% endif %}
