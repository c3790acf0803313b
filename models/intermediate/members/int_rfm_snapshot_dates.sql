-- The dates RFM is computed as of: every month end the order data covers (on or after the
-- first order date: a snapshot before the data starts would show every member arriving
-- from nothing) up to the as-of date, the as-of date itself (the current snapshot), and
-- the eve of every campaign (the day before its start, in the same span), so a campaign's
-- members are segmented as they were when it began. Each with the first day of its RFM
-- window, whether it is a month end and whether it is a period snapshot (a month end or
-- the as-of date: the steps of int_member_migration) rather than only a campaign eve.
with

as_of as (select * from {{ ref('int_as_of_date') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),
campaigns as (select * from {{ ref('int_campaign_windows') }}),

data_start as (
    select min(order_date) as data_start_date
    from orders
),

months as (
    select
        {{ series_rows(
            "cast(date_trunc('month', (select data_start.data_start_date from data_start)) as timestamp)",
            "cast(date_trunc('month', (select as_of.as_of_date from as_of)) as timestamp)",
            "interval '1 month'"
        ) }} as month_start
),

month_ends as (
    select
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'month_start')) }} as date)
            as month_end_date
    from months
),

period_dates as (
    select month_end_date as as_of_date
    from month_ends
    where
        month_end_date >= (select data_start.data_start_date from data_start)
        and month_end_date < (select as_of.as_of_date from as_of)
    union
    select as_of_date from as_of
),

campaign_eves as (
    select distinct pre_end_date as as_of_date
    from campaigns
    where
        pre_end_date >= (select data_start.data_start_date from data_start)
        and pre_end_date < (select as_of.as_of_date from as_of)
),

snapshot_dates as (
    select
        as_of_date,
        true as is_period_snapshot
    from period_dates
    union all
    select
        as_of_date,
        false as is_period_snapshot
    from campaign_eves
    where as_of_date not in (select period_dates.as_of_date from period_dates)
),

final as (
    select
        as_of_date,
        is_period_snapshot,
        cast({{ dbt.dateadd('day', 1 - var('rfm_window_days'), 'as_of_date') }} as date)
            as rfm_window_start_date,
        as_of_date = (select as_of.as_of_date from as_of) as is_current,
        cast({{ dbt.date_trunc('month', dbt.dateadd('day', 1, 'as_of_date')) }} as date)
        = cast({{ dbt.dateadd('day', 1, 'as_of_date') }} as date) as is_month_end
    from snapshot_dates
)

select * from final
