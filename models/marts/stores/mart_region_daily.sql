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
    {{ sales_totals('region_orders', ['region', 'sales_date']) }}
),

stores_selling as (
    select
        region,
        sales_date,
        count(distinct store_code) as store_count
    from region_orders
    group by region, sales_date
),

buyers as (
    {{ buyer_counts('region_orders', ['region', 'sales_date']) }}
),

final as (
    select
        sales.region,
        sales.sales_date,
        cast(stores_selling.store_count as bigint) as store_count,
        {{ sales_kpi_columns('sales', 'buyers') }}
    from sales
    inner join stores_selling
        on
            sales.region = stores_selling.region
            and sales.sales_date = stores_selling.sales_date
    left join buyers
        on
            sales.region = buyers.region
            and sales.sales_date = buyers.sales_date
)

select * from final
