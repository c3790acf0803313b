-- Region KPIs per calendar month against the sum of its stores' targets, as of the as-of
-- date: the figures of mart_store_monthly over the orders of a region's stores, buyers
-- counted once per region. The target, the prorated month-to-date target and the days come
-- from the store months (every store of a region shares the calendar).
with

orders as (select * from {{ ref('fct_orders') }}),
stores as (select * from {{ ref('dim_stores') }}),
store_months as (select * from {{ ref('mart_store_monthly') }}),

region_orders as (
    select
        orders.channel,
        orders.member_id,
        orders.item_quantity,
        orders.gmv_amount,
        orders.is_purchase,
        coalesce(stores.region, 'unknown') as region,
        cast({{ dbt.date_trunc('month', 'orders.order_date') }} as date) as sales_month
    from orders
    left join stores on orders.store_code = stores.store_code
    where orders.store_code is not null
),

sales as (
    {{ sales_totals('region_orders', ['region', 'sales_month']) }}
),

buyers as (
    {{ buyer_counts('region_orders', ['region', 'sales_month']) }}
),

regions as (
    select
        region,
        sales_month,
        max(as_of_date) as as_of_date,
        max(days_in_month) as days_in_month,
        max(days_elapsed) as days_elapsed,
        count(*) as store_count,
        sum(target_amount) as target_amount,
        sum(mtd_target_amount) as mtd_target_amount
    from store_months
    group by region, sales_month
),

final as (
    select
        regions.region,
        regions.sales_month,
        regions.as_of_date,
        cast(regions.days_in_month as integer) as days_in_month,
        cast(regions.days_elapsed as integer) as days_elapsed,
        regions.days_elapsed = regions.days_in_month as is_complete_month,
        cast(regions.store_count as bigint) as store_count,
        {{ sales_kpi_columns('sales', 'buyers') }},
        {{ ratio('buyers.repeat_buyer_count', 'buyers.buyer_count') }} as repurchase_rate,
        cast(regions.target_amount as decimal(18, 2)) as target_amount,
        {{ ratio('coalesce(sales.gmv_amount, 0)', 'regions.target_amount') }} as achievement_rate,
        cast(regions.mtd_target_amount as decimal(18, 2)) as mtd_target_amount,
        {{ ratio('coalesce(sales.gmv_amount, 0)', 'regions.mtd_target_amount') }}
            as mtd_achievement_rate
    from regions
    left join sales
        on
            regions.region = sales.region
            and regions.sales_month = sales.sales_month
    left join buyers
        on
            regions.region = buyers.region
            and regions.sales_month = buyers.sales_month
)

select * from final
