-- One row per paid mini-program order (ordered at payment), plus one 'refund' row per
-- refunded order at its refund time, pointing at its sale by original_order_id: GMV is
-- net of refunds, like POS returns. Orders Great Expectations quarantined stay out
-- (listed in meta.dq_row_flags).
-- Incremental: a run rebuilds the orders int_orders_touched lists.
{{ config(**order_facts_incremental('miniapp_order', 'source_order_id')) }}

with

orders as (
    select * from {{ ref('stg_miniapp__orders') }}
    where {{ touched_orders_only('miniapp_order', 'order_id') }}
),
flags as (select * from {{ ref('int_quality_flags') }}),
lines as (
    select * from {{ ref('int_order_lines__miniapp') }}
    where {{ touched_orders_only('miniapp_order', 'source_order_id') }}
),

line_totals as (
    select
        order_id,
        sum(quantity) as item_quantity,
        sum(discount_amount) as discount_amount
    from lines
    group by order_id
),

paid_orders as (
    select
        orders.order_id,
        orders.store_code,
        orders.member_id as source_member_id,
        orders.unionid_hash,
        orders.openid_hash,
        orders.updated_at,
        orders.status,
        orders.total_paid_amount,
        {{ credited_member_id('miniapp') }} as member_id,
        coalesce(orders.paid_at, orders.created_at) as ordered_at,
        coalesce({{ json_array_size('orders.coupon_codes') }}, 0) as coupon_count
    from orders
    {{ credited_member_joins('miniapp', 'orders', card='member_id') }}
    where
        orders.status in ('paid', 'shipped', 'completed', 'refunded')
        and {{ dq_record_key('miniapp_orders') }} not in (
            select flags.record_key
            from flags
            where {{ dq_flags_of('miniapp_orders', action='quarantine') }}
        )
),

sales_and_refunds as (
    select
        'mp:' || order_id as order_id,
        order_id as source_order_id,
        store_code,
        member_id,
        source_member_id,
        unionid_hash,
        openid_hash,
        ordered_at,
        'sale' as order_type,
        cast(null as {{ dbt.type_string() }}) as original_order_id,
        total_paid_amount as gmv_amount,
        coupon_count
    from paid_orders
    union all
    select
        'mp:' || order_id || ':refund' as order_id,
        order_id as source_order_id,
        store_code,
        member_id,
        source_member_id,
        unionid_hash,
        openid_hash,
        updated_at as ordered_at,
        'refund' as order_type,
        'mp:' || order_id as original_order_id,
        -total_paid_amount as gmv_amount,
        0 as coupon_count
    from paid_orders
    where status = 'refunded'
),

orders_with_items as (
    select
        sales_and_refunds.order_id,
        'miniapp' as channel,
        sales_and_refunds.store_code,
        sales_and_refunds.member_id,
        sales_and_refunds.source_member_id,
        sales_and_refunds.ordered_at,
        cast(sales_and_refunds.ordered_at as date) as order_date,
        sales_and_refunds.order_type,
        sales_and_refunds.original_order_id,
        sales_and_refunds.gmv_amount,
        sales_and_refunds.coupon_count,
        coalesce(line_totals.item_quantity, 0) as item_quantity,
        coalesce(line_totals.discount_amount, 0) as discount_amount,
        sales_and_refunds.source_order_id,
        sales_and_refunds.unionid_hash,
        sales_and_refunds.openid_hash
    from sales_and_refunds
    left join line_totals on sales_and_refunds.order_id = line_totals.order_id
)

select * from orders_with_items
