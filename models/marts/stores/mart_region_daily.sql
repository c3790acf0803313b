-- Region KPIs per business day: mart_store_daily's figures over the stores of a region
-- (dim_stores.region), buyers counted once per region however many of its stores they
-- bought at, so buyer counts are not the sum of the stores'.
with

orders as (select * from {{ ref('fct_orders') }}),
stores as (select * from {{ ref('dim_stores') }}),

region_orders as (
    select
        orders.store_code,
        orders.order_date as sales_date,
        orders.channel,
        orders.member_id,
        orders.item_quantity,
        orders.gmv_amount,
        orders.is_purchase,
        coalesce(stores.region, 'unknown') as region
    from orders
    left join stores on orders.store_code = stores.store_code
    where orders.store_code is not null
),

sales as (
    select
        region,
        sales_date,
        count(distinct store_code) as store_count,
        sum(gmv_amount) as gmv_amount,
        sum(case when is_purchase then 1 else 0 end) as order_count,
        sum(item_quantity) as item_quantity,
        sum(case when member_id is not null then gmv_amount else 0 end) as member_gmv_amount,
        sum(case when channel = 'pos' then gmv_amount else 0 end) as pos_gmv_amount,
        sum(case when channel = 'miniapp' then gmv_amount else 0 end) as miniapp_gmv_amount
    from region_orders
    group by region, sales_date
),

member_purchases as (
    select
        region,
        sales_date,
        member_id,
        count(*) as purchase_count
    from region_orders
    where is_purchase and member_id is not null
    group by region, sales_date, member_id
),

buyers as (
    select
        region,
        sales_date,
        count(*) as buyer_count,
        sum(case when purchase_count >= 2 then 1 else 0 end) as repeat_buyer_count
    from member_purchases
    group by region, sales_date
),

final as (
    select
        sales.region,
        sales.sales_date,
        cast(sales.store_count as bigint) as store_count,
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
            sales.region = buyers.region
            and sales.sales_date = buyers.sales_date
)

select * from final
