-- One row per campaign with a valid window (start_date ... end_date, both days included,
-- Asia/Shanghai business dates; a campaign whose window ends before it starts is flagged
-- for review and left out), the equal-length window before it (pre_*), and whether the
-- window is complete by the as-of date (a running campaign's figures are partial).
with

campaigns as (
    select * from {{ ref('stg_marketing__campaigns') }}
    where {{ dq_not_quarantined('campaigns') }}
),

as_of as (select * from {{ ref('int_as_of_date') }}),

windows as (
    select
        campaign_id,
        campaign_name,
        scenario,
        region,
        channel,
        start_date,
        end_date,
        {% set days_in_window = dbt.datediff('start_date', 'end_date', 'day') ~ ' + 1' -%}
        cast({{ days_in_window }} as integer) as window_days,
        cost_amount,
        budget_amount,
        target_segment
    from campaigns
    where end_date >= start_date
),

final as (
    select
        windows.*,
        cast({{ dbt.dateadd('day', '-windows.window_days', 'windows.start_date') }} as date)
            as pre_start_date,
        cast({{ dbt.dateadd('day', -1, 'windows.start_date') }} as date) as pre_end_date,
        as_of.as_of_date,
        windows.end_date <= as_of.as_of_date as is_window_complete
    from windows
    cross join as_of
)

select * from final
