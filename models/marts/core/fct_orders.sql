-- One row per order across channels: POS tickets (sales and returns) and mini-program
-- orders (sales, and refunds as their own negative rows). GMV is the net paid amount.
with

orders as (select * from {{ ref('int_orders_unioned') }}),
flags as (select * from {{ ref('int_quality_flags') }}),

review as (
    select distinct record_key as order_id
    from flags
    where rule = 'amount_outlier'
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
        review.order_id is not null as is_needs_review
    from orders
    left join review on orders.order_id = review.order_id
)

select * from final
