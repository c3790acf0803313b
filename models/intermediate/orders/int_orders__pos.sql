-- One row per POS ticket. A ticket without a member card is credited to the member whose
-- mobile the cashier typed, when that mobile belongs to a known member. A return ticket
-- points at the sale it returns (original_order_no, same store) by original_order_id.
-- Incremental: a run rebuilds the tickets int_orders_touched lists.
{{ config(**order_facts_incremental('pos_ticket', 'store_code, order_no')) }}

with

lines as (
    select * from {{ ref('int_order_lines__pos') }}
    where {{ touched_orders_only('pos_ticket', 'store_code, order_no') }}
),

tickets as (
    select
        store_code,
        order_no,
        min(ordered_at) as ordered_at,
        max(member_id) as source_member_id,
        max(mobile_hash) as mobile_hash,
        max(order_type) as order_type,
        max(original_order_no) as original_order_no,
        sum(quantity) as item_quantity,
        sum(paid_amount) as gmv_amount,
        sum(coalesce(discount_amount, 0)) as discount_amount,
        count(distinct coupon_code) as coupon_count
    from lines
    group by store_code, order_no
),

orders as (
    select
        'pos:' || tickets.store_code || ':' || tickets.order_no as order_id,
        'pos' as channel,
        tickets.store_code,
        tickets.order_no,
        {{ credited_member_id('pos') }} as member_id,
        tickets.source_member_id,
        tickets.mobile_hash,
        tickets.ordered_at,
        cast(tickets.ordered_at as date) as order_date,
        tickets.order_type,
        case
            when tickets.order_type = 'return' and tickets.original_order_no is not null
                then 'pos:' || tickets.store_code || ':' || tickets.original_order_no
        end as original_order_id,
        tickets.item_quantity,
        tickets.gmv_amount,
        tickets.discount_amount,
        tickets.coupon_count
    from tickets
    {{ credited_member_joins('pos', 'tickets') }}
)

select * from orders
