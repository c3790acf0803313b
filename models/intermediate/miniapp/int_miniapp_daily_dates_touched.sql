-- The activity dates an incremental marts build rebuilds in mart_miniapp_daily
-- (macros/incremental_dates.sql): every date whose trailing 30 days (D-29 ... D) hold a
-- date int_miniapp_event_dates_touched lists (its DAU, funnel and MAU may have changed);
-- both first visit dates of a visitor whose first visit moved (new_visitor_count); the
-- dates, before and after, of mini-program orders int_orders_touched lists (orders, GMV);
-- and, when the first event date in the data moved (is_mau_window_complete), every date.
-- A full build reads none of it: then it is empty.

{% if not incremental_facts_run() %}

    select cast(null as date) as activity_date
    where 1 = 0

{% else %}

with

event_dates as (select * from {{ ref('int_miniapp_event_dates_touched') }}),
visitors as (select * from {{ ref('int_miniapp_visitors_touched') }}),
visitor_days as (select * from {{ ref('int_miniapp_visitor_days') }}),
touched_orders as (select * from {{ ref('int_orders_touched') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),
daily_built as (select * from {{ built_before('mart_miniapp_daily') }}),

-- mini-program orders (their fact ids begin 'mp:'), dated as built and as now
order_dates as (
    select built_order_date as activity_date
    from touched_orders
    where touched_orders.order_id like 'mp:%' and built_order_date is not null
    union
    select orders.order_date as activity_date
    from orders
    where
        orders.channel = 'miniapp'
        and orders.order_id in (select touched_orders.order_id from touched_orders)
),

-- every date the mart may hold after this run: a date with events or orders now that it
-- did not hold is a touched event or order date
candidate_dates as (
    select activity_date from daily_built
    union
    select event_date as activity_date from event_dates
    union
    select activity_date from order_dates
),

first_event_moved as (
    select
        (select min(daily_built.activity_date) from daily_built where daily_built.has_event_data)
        is distinct from (select min(visitor_days.event_date) from visitor_days) as is_moved
),

touched as (
    select candidate_dates.activity_date
    from candidate_dates
    inner join event_dates
        on
            candidate_dates.activity_date >= event_dates.event_date
            and candidate_dates.activity_date < {{ dbt.dateadd('day', 30, 'event_dates.event_date') }}
    union
    -- a visitor new or gone has their first visit on a touched date
    select first_visit_date as activity_date
    from visitors
    where first_visit_date <> built_first_visit_date
    union
    select built_first_visit_date as activity_date
    from visitors
    where first_visit_date <> built_first_visit_date
    union
    select activity_date from order_dates
    union
    select candidate_dates.activity_date
    from candidate_dates
    where (select first_event_moved.is_moved from first_event_moved)
)

select * from touched

{% endif %}
