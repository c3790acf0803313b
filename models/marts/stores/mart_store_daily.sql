-- Store KPIs per business day, from fct_orders exactly as it books sales: every order
-- credited to the store (POS tickets and mini-program orders) on its own date, returns and
-- refunds as negative rows on the day they happen, quarantined lines already out. Orders
-- are purchases (is_purchase): a sale returned or refunded in full is no order.
with

orders as (select * from {{ ref('fct_orders') }}),
stores as (select * from {{ ref('dim_stores') }}),

store_orders as (
    select
        store_code,
        order_date as sales_date,
        channel,
        member_id,
        item_quantity,
        gmv_amount,
        is_purchase
    from orders
    where store_code is not null
),

sales as (
    {{ sales_totals('store_orders', ['store_code', 'sales_date']) }}
),

buyers as (
    {{ buyer_counts('store_orders', ['store_code', 'sales_date']) }}
),

final as (
    select
        sales.store_code,
        sales.sales_date,
        coalesce(stores.region, 'unknown') as region,
        {{ sales_kpi_columns('sales', 'buyers') }}
    from sales
    left join buyers
        on
            sales.store_code = buyers.store_code
            and sales.sales_date = buyers.sales_date
    left join stores on sales.store_code = stores.store_code
)

select * from final
