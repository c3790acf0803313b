-- Mini-program KPIs per business day: active visitors (DAU, trailing-30-day MAU,
-- stickiness), the closed funnel product_view -> add_to_cart -> checkout_start ->
-- order_paid (a visitor is at a step on a day when they reached it and every step before
-- it that day), and the channel's orders and GMV from fct_orders.
-- Incremental: a run rebuilds the dates int_miniapp_daily_dates_touched lists
-- (macros/incremental_dates.sql); MAU and the first event date read every visitor-day.
{{ config(**dates_incremental('int_miniapp_daily_dates_touched', 'activity_date', 'activity_date')) }}

with

visitor_days as (select * from {{ ref('int_miniapp_visitor_days') }}),
orders as (select * from {{ ref('fct_orders') }}),

rebuilt_visitor_days as (
    select * from visitor_days
    where {{ touched_only('int_miniapp_daily_dates_touched', 'event_date', 'activity_date') }}
),

sales as (
    select
        order_date as activity_date,
        sum(case when is_purchase then 1 else 0 end) as order_count,
        sum(gmv_amount) as gmv_amount
    from orders
    where
        channel = 'miniapp'
        and {{ touched_only('int_miniapp_daily_dates_touched', 'order_date', 'activity_date') }}
    group by order_date
),

activity_dates as (
    select event_date as activity_date from rebuilt_visitor_days
    union
    select activity_date from sales
),

first_event as (
    select min(event_date) as first_event_date from visitor_days
),

daily as (
    select
        event_date as activity_date,
        count(*) as dau,
        sum(event_count) as event_count,
        sum(case when first_visit_date = event_date then 1 else 0 end) as new_visitor_count,
        sum(case when has_product_view then 1 else 0 end) as product_view_user_count,
        sum(case when has_product_view and has_add_to_cart then 1 else 0 end)
            as add_to_cart_user_count,
        sum(case when has_product_view and has_add_to_cart and has_checkout_start then 1 else 0 end)
            as checkout_start_user_count,
        sum(
            case
                when has_product_view and has_add_to_cart and has_checkout_start and has_order_paid
                    then 1
                else 0
            end
        ) as order_paid_user_count
    from rebuilt_visitor_days
    group by event_date
),

trailing_30_days as (
    select
        activity_dates.activity_date,
        count(distinct visitor_days.openid_hash) as mau
    from activity_dates
    inner join visitor_days
        on
            activity_dates.activity_date >= visitor_days.event_date
            and {{ dbt.dateadd('day', -30, 'activity_dates.activity_date') }} < visitor_days.event_date
    group by activity_dates.activity_date
),

final as (
    select
        activity_dates.activity_date,
        coalesce(daily.event_count, 0) > 0 as has_event_data,
        cast(coalesce(daily.event_count, 0) as bigint) as event_count,
        cast(coalesce(daily.dau, 0) as bigint) as dau,
        cast(coalesce(trailing_30_days.mau, 0) as bigint) as mau,
        {{ dbt.dateadd('day', -29, 'activity_dates.activity_date') }} >= first_event.first_event_date
            as is_mau_window_complete,
        {{ ratio('daily.dau', 'trailing_30_days.mau') }} as stickiness,
        cast(coalesce(daily.new_visitor_count, 0) as bigint) as new_visitor_count,
        cast(coalesce(daily.product_view_user_count, 0) as bigint) as product_view_user_count,
        cast(coalesce(daily.add_to_cart_user_count, 0) as bigint) as add_to_cart_user_count,
        cast(coalesce(daily.checkout_start_user_count, 0) as bigint) as checkout_start_user_count,
        cast(coalesce(daily.order_paid_user_count, 0) as bigint) as order_paid_user_count,
        {{ ratio('daily.add_to_cart_user_count', 'daily.product_view_user_count') }} as view_to_cart_rate,
        {{ ratio('daily.checkout_start_user_count', 'daily.add_to_cart_user_count') }}
            as cart_to_checkout_rate,
        {{ ratio('daily.order_paid_user_count', 'daily.checkout_start_user_count') }}
            as checkout_to_paid_rate,
        {{ ratio('daily.order_paid_user_count', 'daily.product_view_user_count') }} as view_to_paid_rate,
        cast(coalesce(sales.order_count, 0) as bigint) as order_count,
        cast(coalesce(sales.gmv_amount, 0) as decimal(18, 2)) as gmv_amount
    from activity_dates
    cross join first_event
    left join daily on activity_dates.activity_date = daily.activity_date
    left join trailing_30_days on activity_dates.activity_date = trailing_30_days.activity_date
    left join sales on activity_dates.activity_date = sales.activity_date
)

select * from final
