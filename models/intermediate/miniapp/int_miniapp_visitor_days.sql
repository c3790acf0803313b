-- One row per mini-program visitor and business day with at least one event. A visitor is
-- an openid (its keyed hash from staging; guests included, events without an openid left
-- out). The funnel flags say which steps the visitor reached that day; first_visit_date is
-- the visitor's first day with an event in the data.
with

events as (select * from {{ ref('stg_miniapp__events') }}),

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

final as (
    select
        *,
        min(event_date) over (partition by openid_hash) as first_visit_date
    from visitor_days
)

select * from final
