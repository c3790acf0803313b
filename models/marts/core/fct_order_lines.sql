-- Incremental: a run rebuilds the lines of the orders int_orders_touched lists.
{{ config(**order_facts_incremental('order_with_lines', 'order_id')) }}

with

pos_lines as (
    select * from {{ ref('int_order_lines__pos') }}
    where {{ touched_orders_only('pos_ticket', 'store_code, order_no') }}
),
miniapp_lines as (
    select * from {{ ref('int_order_lines__miniapp') }}
    where {{ touched_orders_only('miniapp_order', 'source_order_id') }}
),

unioned as (
    select
        'pos:' || store_code || ':' || order_no as order_id,
        line_number,
        sku_code,
        category,
        quantity,
        unit_price_amount,
        coalesce(discount_amount, 0) as discount_amount,
        paid_amount,
        coupon_code,
        is_needs_review
    from pos_lines
    union all
    select
        order_id,
        line_number,
        sku_code,
        category,
        quantity,
        unit_price_amount,
        discount_amount,
        paid_amount,
        null as coupon_code,
        false as is_needs_review
    from miniapp_lines
),

final as (
    select
        order_id,
        cast(line_number as bigint) as line_number,
        sku_code,
        category,
        cast(quantity as bigint) as quantity,
        cast(unit_price_amount as decimal(18, 2)) as unit_price_amount,
        cast(discount_amount as decimal(18, 2)) as discount_amount,
        cast(paid_amount as decimal(18, 2)) as paid_amount,
        coupon_code,
        is_needs_review
    from unioned
)

select * from final
