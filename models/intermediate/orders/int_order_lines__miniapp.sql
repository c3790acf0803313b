-- Items of paid mini-program orders, one row per item; a refunded order also gets its
-- refund: the same lines negated, under order_id '<order>:refund'. Orders Great
-- Expectations quarantined stay out (listed in meta.dq_row_flags).
-- Incremental: a run rebuilds the orders int_orders_touched lists.
{{ config(**order_facts_incremental('miniapp_order', 'source_order_id')) }}

with

orders as (
    select * from {{ ref('stg_miniapp__orders') }}
    where {{ touched_orders_only('miniapp_order', 'order_id') }}
),
flags as (select * from {{ ref('int_quality_flags') }}),

quarantined_orders as (
    select record_key
    from flags
    where {{ dq_flags_of('miniapp_orders', action='quarantine') }}
),

paid_orders as (
    select
        order_id,
        status,
        items
    from orders
    where
        status in ('paid', 'shipped', 'completed', 'refunded')
        and {{ dq_record_key('miniapp_orders') }} not in (
            select quarantined_orders.record_key from quarantined_orders
        )
),

item_positions as (
    select
        order_id,
        status,
        items,
        {{ series_rows(1, 'cast(' ~ json_array_size('items') ~ ' as integer)') }} as line_number
    from paid_orders
),

items as (
    select
        order_id,
        status,
        line_number,
        {{ json_array_element('items', 'line_number - 1') }} as item
    from item_positions
),

sale_lines as (
    select
        status,
        line_number,
        cast({{ json_text('item', 'quantity') }} as integer) as quantity,
        cast({{ json_text('item', 'unit_price') }} as decimal(18, 2)) as unit_price_amount,
        cast({{ json_text('item', 'paid_amount') }} as decimal(18, 2)) as paid_amount,
        'mp:' || order_id as order_id,
        order_id as source_order_id,
        {{ json_text('item', 'sku_code') }} as sku_code,
        {{ json_text('item', 'category') }} as category
    from items
),

all_lines as (
    select
        order_id,
        line_number,
        sku_code,
        category,
        quantity,
        unit_price_amount,
        quantity * unit_price_amount - paid_amount as discount_amount,
        paid_amount,
        source_order_id
    from sale_lines
    union all
    select
        order_id || ':refund' as order_id,
        line_number,
        sku_code,
        category,
        -quantity as quantity,
        unit_price_amount,
        -(quantity * unit_price_amount - paid_amount) as discount_amount,
        -paid_amount as paid_amount,
        source_order_id
    from sale_lines
    where status = 'refunded'
)

select * from all_lines
