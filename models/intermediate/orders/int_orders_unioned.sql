with

pos_orders as (select * from {{ ref('int_orders__pos') }}),
miniapp_orders as (select * from {{ ref('int_orders__miniapp') }}),

unioned as (
    select
        order_id,
        channel,
        store_code,
        member_id,
        source_member_id,
        ordered_at,
        order_date,
        order_type,
        item_quantity,
        gmv_amount,
        discount_amount,
        coupon_count
    from pos_orders
    union all
    select
        order_id,
        channel,
        store_code,
        member_id,
        source_member_id,
        ordered_at,
        order_date,
        order_type,
        item_quantity,
        gmv_amount,
        discount_amount,
        coupon_count
    from miniapp_orders
)

select * from unioned
