-- Orders of both channels, one row per order, each sale with what its own returns and
-- refunds (rows whose original_order_id points at it) left of it: net_paid_amount, the
-- date they took it to zero (returned_in_full_date) and is_purchase (metrics.md: a sale
-- whose net paid amount after its own returns is above zero). A snapshot as of an earlier
-- date asks is_purchase_as_of(), which ignores returns after that date.
-- Incremental: a run rebuilds the orders int_orders_touched lists, from all their returns.
{{ config(**order_facts_incremental('order', 'order_id')) }}

with

pos_orders as (select * from {{ ref('int_orders__pos') }}),
miniapp_orders as (select * from {{ ref('int_orders__miniapp') }}),

all_orders as (
    select
        order_id,
        channel,
        store_code,
        member_id,
        source_member_id,
        ordered_at,
        order_date,
        order_type,
        original_order_id,
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
        original_order_id,
        item_quantity,
        gmv_amount,
        discount_amount,
        coupon_count
    from miniapp_orders
),

unioned as (
    select * from all_orders
    where {{ touched_orders_only('order', 'order_id') }}
),

returns_per_day as (
    select
        original_order_id as order_id,
        order_date as returned_date,
        sum(gmv_amount) as returned_amount
    from all_orders
    where
        original_order_id is not null
        and {{ touched_orders_only('order', 'original_order_id') }}
    group by original_order_id, order_date
),

sales_net_by_day as (
    select
        sales.order_id,
        returns_per_day.returned_date,
        sales.gmv_amount + sum(returns_per_day.returned_amount) over (
            partition by sales.order_id
            order by returns_per_day.returned_date
            rows between unbounded preceding and current row
        ) as net_paid_amount
    from unioned as sales
    inner join returns_per_day on sales.order_id = returns_per_day.order_id
    where sales.order_type = 'sale'
),

-- what each sale's own returns took off it in all; a sale without returns keeps its gmv
returned_per_order as (
    select
        order_id,
        sum(returned_amount) as returned_amount
    from returns_per_day
    group by order_id
),

returned_in_full as (
    select
        order_id,
        min(returned_date) as returned_in_full_date
    from sales_net_by_day
    where net_paid_amount <= 0
    group by order_id
),

with_net as (
    select
        unioned.*,
        case
            when unioned.order_type = 'sale'
                then unioned.gmv_amount + coalesce(returned_per_order.returned_amount, 0)
        end as net_paid_amount
    from unioned
    left join returned_per_order on unioned.order_id = returned_per_order.order_id
),

final as (
    select
        with_net.*,
        returned_in_full.returned_in_full_date,
        coalesce(with_net.net_paid_amount > 0, false) as is_purchase
    from with_net
    left join returned_in_full on with_net.order_id = returned_in_full.order_id
)

select * from final
