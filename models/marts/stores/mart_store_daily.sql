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
    select
        store_code,
        sales_date,
        sum(gmv_amount) as gmv_amount,
        sum(case when is_purchase then 1 else 0 end) as order_count,
        sum(item_quantity) as item_quantity,
        sum(case when member_id is not null then gmv_amount else 0 end) as member_gmv_amount,
        sum(case when channel = 'pos' then gmv_amount else 0 end) as pos_gmv_amount,
        sum(case when channel = 'miniapp' then gmv_amount else 0 end) as miniapp_gmv_amount
    from store_orders
    group by store_code, sales_date
),

member_purchases as (
    select
        store_code,
        sales_date,
        member_id,
        count(*) as purchase_count
    from store_orders
    where is_purchase and member_id is not null
    group by store_code, sales_date, member_id
),

buyers as (
    select
        store_code,
        sales_date,
        count(*) as buyer_count,
        sum(case when purchase_count >= 2 then 1 else 0 end) as repeat_buyer_count
    from member_purchases
    group by store_code, sales_date
),

final as (
    select
        sales.store_code,
        sales.sales_date,
        coalesce(stores.region, 'unknown') as region,
        cast(sales.gmv_amount as decimal(18, 2)) as gmv_amount,
        cast(sales.order_count as bigint) as order_count,
        cast(sales.item_quantity as bigint) as item_quantity,
        {{ ratio('sales.item_quantity', 'sales.order_count') }} as attach_rate,
        cast(round({{ ratio('sales.gmv_amount', 'sales.order_count') }}, 2) as decimal(18, 2))
            as aov_amount,
        cast(sales.member_gmv_amount as decimal(18, 2)) as member_gmv_amount,
        {{ ratio('sales.member_gmv_amount', 'sales.gmv_amount') }} as member_gmv_share,
        cast(coalesce(buyers.buyer_count, 0) as bigint) as buyer_count,
        cast(coalesce(buyers.repeat_buyer_count, 0) as bigint) as repeat_buyer_count,
        cast(sales.pos_gmv_amount as decimal(18, 2)) as pos_gmv_amount,
        cast(sales.miniapp_gmv_amount as decimal(18, 2)) as miniapp_gmv_amount
    from sales
    left join buyers
        on
            sales.store_code = buyers.store_code
            and sales.sales_date = buyers.sales_date
    left join stores on sales.store_code = stores.store_code
)

select * from final
