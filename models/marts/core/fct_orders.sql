-- One row per order across channels: POS tickets (sales and returns) and mini-program
-- orders (sales, and refunds as their own negative rows). GMV is the net paid amount.
-- is_needs_review: the order's amount is an outlier, one of its POS lines was flagged for
-- review, or the mini-program order was (meta.dq_row_flags says which rule).
-- Incremental: a run rebuilds the orders int_orders_touched lists.
{{ config(**order_facts_incremental('order', 'order_id')) }}

with

orders as (
    select * from {{ ref('int_orders_unioned') }}
    where {{ touched_orders_only('order', 'order_id') }}
),
pos_lines as (
    select * from {{ ref('int_order_lines__pos') }}
    where {{ touched_orders_only('pos_ticket', 'store_code, order_no') }}
),
flags as (select * from {{ ref('int_quality_flags') }}),

review as (
    select record_key as order_id
    from flags
    where {{ dq_flags_of('order_amounts', action='review') }}
    union
    select 'mp:' || record_key as order_id
    from flags
    where {{ dq_flags_of('miniapp_orders', action='review') }}
    union
    select 'pos:' || store_code || ':' || order_no as order_id
    from pos_lines
    where is_needs_review
),

final as (
    select
        orders.order_id,
        orders.channel,
        orders.store_code,
        orders.member_id,
        orders.source_member_id,
        orders.ordered_at,
        orders.order_date,
        orders.order_type,
        cast(orders.item_quantity as bigint) as item_quantity,
        cast(orders.gmv_amount as decimal(18, 2)) as gmv_amount,
        cast(orders.discount_amount as decimal(18, 2)) as discount_amount,
        cast(orders.coupon_count as bigint) as coupon_count,
        orders.original_order_id,
        orders.is_purchase,
        review.order_id is not null as is_needs_review
    from orders
    left join review on orders.order_id = review.order_id
)

select * from final
