with

pos_lines as (select * from {{ ref('int_order_lines__pos') }}),
miniapp_lines as (select * from {{ ref('int_order_lines__miniapp') }}),

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
