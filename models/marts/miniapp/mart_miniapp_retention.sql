-- Weekly cohorts of mini-program visitors by the week (Monday) of their first visit, with
-- 7-day retention (back on any of days 1-7 after the first visit day, day 0) and
-- next-month retention (back on any of days 30-59: the 30-day month after the first), as
-- of the as-of date. Counts are what the data shows so far; a rate is null until every
-- visitor of the cohort has had the whole window (is_*_window_complete).
with

visitor_days as (select * from {{ ref('int_miniapp_visitor_days') }}),
as_of as (select * from {{ ref('int_as_of_date') }}),

visitors as (
    select
        openid_hash,
        first_visit_date,
        max(
            case
                when
                    event_date > first_visit_date
                    and event_date <= {{ dbt.dateadd('day', 7, 'first_visit_date') }}
                    then 1
                else 0
            end
        ) as is_retained_7d,
        max(
            case
                when
                    event_date >= {{ dbt.dateadd('day', 30, 'first_visit_date') }}
                    and event_date <= {{ dbt.dateadd('day', 59, 'first_visit_date') }}
                    then 1
                else 0
            end
        ) as is_retained_next_month
    from visitor_days
    group by openid_hash, first_visit_date
),

cohorts as (
    select
        cast({{ dbt.date_trunc('week', 'first_visit_date') }} as date) as cohort_week,
        count(*) as cohort_user_count,
        sum(is_retained_7d) as retained_7d_count,
        sum(is_retained_next_month) as retained_next_month_count
    from visitors
    group by cast({{ dbt.date_trunc('week', 'first_visit_date') }} as date)
),

windows as (
    select
        cohorts.*,
        as_of.as_of_date,
        {{ dbt.dateadd('day', 13, 'cohorts.cohort_week') }} <= as_of.as_of_date as is_7d_window_complete,
        {{ dbt.dateadd('day', 65, 'cohorts.cohort_week') }} <= as_of.as_of_date
            as is_next_month_window_complete
    from cohorts
    cross join as_of
),

final as (
    select
        cohort_week,
        as_of_date,
        cast(cohort_user_count as bigint) as cohort_user_count,
        cast(retained_7d_count as bigint) as retained_7d_count,
        is_7d_window_complete,
        case
            when is_7d_window_complete then {{ ratio('retained_7d_count', 'cohort_user_count') }}
        end as retention_7d_rate,
        cast(retained_next_month_count as bigint) as retained_next_month_count,
        is_next_month_window_complete,
        case
            when is_next_month_window_complete
                then {{ ratio('retained_next_month_count', 'cohort_user_count') }}
        end as retention_next_month_rate
    from windows
)

select * from final
