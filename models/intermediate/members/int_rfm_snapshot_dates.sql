-- The dates RFM is computed as of: every month end from the one before the first order up
-- to the as-of date, and the as-of date itself (the current snapshot), each with the
-- first day of its RFM window.
with

as_of as (select * from {{ ref('int_as_of_date') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),

months as (
    select
        unnest(generate_series(
            cast(date_trunc('month', (select min(orders.order_date) from orders)) as date)
            - interval 1 month,
            cast(date_trunc('month', (select as_of.as_of_date from as_of)) as date),
            interval 1 month
        )) as month_start
),

snapshot_dates as (
    select cast(month_start + interval 1 month - interval 1 day as date) as as_of_date
    from months
    where month_start + interval 1 month - interval 1 day < (select as_of.as_of_date from as_of)
    union
    select as_of_date from as_of
),

final as (
    select
        as_of_date,
        cast({{ dbt.dateadd('day', 1 - var('rfm_window_days'), 'as_of_date') }} as date)
            as rfm_window_start_date,
        as_of_date = (select as_of.as_of_date from as_of) as is_current
    from snapshot_dates
)

select * from final
