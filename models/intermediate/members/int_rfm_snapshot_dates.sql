-- The dates RFM is computed as of: every month end the order data covers (on or after the
-- first order date: a snapshot before the data starts would show every member arriving
-- from nothing) up to the as-of date, and the as-of date itself (the current snapshot),
-- each with the first day of its RFM window and whether it is a month end.
with

as_of as (select * from {{ ref('int_as_of_date') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),

data_start as (
    select min(order_date) as data_start_date
    from orders
),

months as (
    select
        unnest(generate_series(
            cast(date_trunc('month', (select data_start.data_start_date from data_start)) as date),
            cast(date_trunc('month', (select as_of.as_of_date from as_of)) as date),
            interval 1 month
        )) as month_start
),

month_ends as (
    select cast(month_start + interval 1 month - interval 1 day as date) as month_end_date
    from months
),

snapshot_dates as (
    select month_end_date as as_of_date
    from month_ends
    where
        month_end_date >= (select data_start.data_start_date from data_start)
        and month_end_date < (select as_of.as_of_date from as_of)
    union
    select as_of_date from as_of
),

final as (
    select
        as_of_date,
        cast({{ dbt.dateadd('day', 1 - var('rfm_window_days'), 'as_of_date') }} as date)
            as rfm_window_start_date,
        as_of_date = (select as_of.as_of_date from as_of) as is_current,
        cast({{ dbt.date_trunc('month', dbt.dateadd('day', 1, 'as_of_date')) }} as date)
        = cast({{ dbt.dateadd('day', 1, 'as_of_date') }} as date) as is_month_end
    from snapshot_dates
)

select * from final
