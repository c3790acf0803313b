-- One row per mini-program visitor and business day with at least one event. A visitor is
-- an openid (its keyed hash from staging; guests included, events without an openid left
-- out). The funnel flags say which steps the visitor reached that day; first_visit_date is
-- the visitor's first day with an event in the data.
-- Incremental: a run rebuilds the dates int_miniapp_event_dates_touched lists, with the
-- first visits of int_miniapp_visitors_touched (every visitor of those dates), and moves
-- the first_visit_date of the other days of a visitor whose first visit moved
-- (macros/incremental_dates.sql).
{{ config(**miniapp_visitor_days_incremental()) }}
-- depends_on: {{ ref('int_miniapp_visitors_touched') }}

with

events as (
    select * from {{ ref('stg_miniapp__events') }}
    where {{ touched_only('int_miniapp_event_dates_touched', 'event_date', 'event_date') }}
),

visitor_days as (
    select
        openid_hash,
        event_date,
        count(*) as event_count,
        {{ dbt.bool_or("event_name = 'product_view'") }} as has_product_view,
        {{ dbt.bool_or("event_name = 'add_to_cart'") }} as has_add_to_cart,
        {{ dbt.bool_or("event_name = 'checkout_start'") }} as has_checkout_start,
        {{ dbt.bool_or("event_name = 'order_paid'") }} as has_order_paid
    from events
    where openid_hash is not null and event_date is not null
    group by openid_hash, event_date
),

{% if is_incremental() %}

    final as (
        select
            visitor_days.*,
            visitors.first_visit_date
        from visitor_days
        inner join {{ ref('int_miniapp_visitors_touched') }} as visitors
            on visitor_days.openid_hash = visitors.openid_hash
    )

{% else %}

    final as (
        select
            *,
            min(event_date) over (partition by openid_hash) as first_visit_date
        from visitor_days
    )

{% endif %}

select * from final
