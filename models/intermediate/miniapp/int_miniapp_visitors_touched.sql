-- The visitors with a visitor-day on a date int_miniapp_event_dates_touched lists, before
-- or after this run (macros/incremental_dates.sql): their first_visit_date after the run
-- (their earliest day: the kept days off the touched dates and the rebuilt ones) and as
-- int_miniapp_visitor_days had it (built_first_visit_date). A visitor on no touched date
-- keeps every day and so their first visit. Null first_visit_date: the visitor has no day
-- left; null built_first_visit_date: a new visitor. A full build reads none of it: then
-- it is empty.

{% if not incremental_facts_run() %}

    select
        cast(null as {{ dbt.type_string() }}) as openid_hash,
        cast(null as date) as first_visit_date,
        cast(null as date) as built_first_visit_date
    where 1 = 0

{% else %}

with

events as (select * from {{ ref('stg_miniapp__events') }}),
touched_dates as (select * from {{ ref('int_miniapp_event_dates_touched') }}),
days_built as (select * from {{ built_before('int_miniapp_visitor_days') }}),

-- the days int_miniapp_visitor_days rebuilds, as it will have them
rebuilt_days as (
    select distinct
        openid_hash,
        event_date
    from events
    where
        openid_hash is not null
        and event_date in (select touched_dates.event_date from touched_dates)
),

visitors as (
    select openid_hash from rebuilt_days
    union
    select openid_hash
    from days_built
    where event_date in (select touched_dates.event_date from touched_dates)
),

visitor_days_built as (
    select
        openid_hash,
        event_date,
        first_visit_date
    from days_built
    where openid_hash in (select visitors.openid_hash from visitors)
),

visitor_days as (
    select
        openid_hash,
        event_date
    from visitor_days_built
    where event_date not in (select touched_dates.event_date from touched_dates)
    union all
    select
        openid_hash,
        event_date
    from rebuilt_days
),

first_visits as (
    select
        openid_hash,
        min(event_date) as first_visit_date
    from visitor_days
    group by openid_hash
),

built_first_visits as (
    select
        openid_hash,
        min(first_visit_date) as built_first_visit_date
    from visitor_days_built
    group by openid_hash
),

final as (
    select
        visitors.openid_hash,
        first_visits.first_visit_date,
        built_first_visits.built_first_visit_date
    from visitors
    left join first_visits on visitors.openid_hash = first_visits.openid_hash
    left join built_first_visits on visitors.openid_hash = built_first_visits.openid_hash
)

select * from final

{% endif %}
