-- Region KPIs per calendar month against the sum of its stores' targets, as of the as-of
-- date: mart_store_monthly's figures over the stores of a region, buyers counted once per
-- region. The target, the prorated month-to-date target and the days come from the store
-- months (every store of a region shares the calendar).
with

orders as (select * from {{ ref('fct_orders') }}),
stores as (select * from {{ ref('dim_stores') }}),
store_months as (select * from {{ ref('mart_store_monthly') }}),

region_orders as (
    select
        orders.member_id,
        orders.is_purchase,
        coalesce(stores.region, 'unknown') as region,
        cast({{ dbt.date_trunc('month', 'orders.order_date') }} as date) as sales_month
    from orders
    left join stores on orders.store_code = stores.store_code
    where orders.store_code is not null
),

member_purchases as (
    select
        region,
        sales_month,
        member_id,
        count(*) as purchase_count
    from region_orders
    where is_purchase and member_id is not null
    group by region, sales_month, member_id
),

buyers as (
    select
        region,
        sales_month,
        count(*) as buyer_count,
        sum(case when purchase_count >= 2 then 1 else 0 end) as repeat_buyer_count
    from member_purchases
    group by region, sales_month
),

regions as (
    select
        region,
        sales_month,
        max(as_of_date) as as_of_date,
        max(days_in_month) as days_in_month,
        max(days_elapsed) as days_elapsed,
        count(*) as store_count,
        sum(gmv_amount) as gmv_amount,
        sum(order_count) as order_count,
        sum(item_quantity) as item_quantity,
        sum(member_gmv_amount) as member_gmv_amount,
        sum(target_amount) as target_amount,
        sum(mtd_target_amount) as mtd_target_amount,
        sum(pos_gmv_amount) as pos_gmv_amount,
        sum(miniapp_gmv_amount) as miniapp_gmv_amount
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
        cast(regions.gmv_amount as decimal(18, 2)) as gmv_amount,
        cast(regions.order_count as bigint) as order_count,
        cast(regions.item_quantity as bigint) as item_quantity,
        {{ ratio('regions.item_quantity', 'regions.order_count') }} as attach_rate,
        cast(round({{ ratio('regions.gmv_amount', 'regions.order_count') }}, 2) as decimal(18, 2))
            as aov_amount,
        cast(regions.member_gmv_amount as decimal(18, 2)) as member_gmv_amount,
        {{ ratio('regions.member_gmv_amount', 'regions.gmv_amount') }} as member_gmv_share,
        cast(coalesce(buyers.buyer_count, 0) as bigint) as buyer_count,
        cast(coalesce(buyers.repeat_buyer_count, 0) as bigint) as repeat_buyer_count,
        {{ ratio('buyers.repeat_buyer_count', 'buyers.buyer_count') }} as repurchase_rate,
        cast(regions.target_amount as decimal(18, 2)) as target_amount,
        {{ ratio('regions.gmv_amount', 'regions.target_amount') }} as achievement_rate,
        cast(regions.mtd_target_amount as decimal(18, 2)) as mtd_target_amount,
        {{ ratio('regions.gmv_amount', 'regions.mtd_target_amount') }} as mtd_achievement_rate,
        cast(regions.pos_gmv_amount as decimal(18, 2)) as pos_gmv_amount,
        cast(regions.miniapp_gmv_amount as decimal(18, 2)) as miniapp_gmv_amount
    from regions
    left join buyers
        on
            regions.region = buyers.region
            and regions.sales_month = buyers.sales_month
)

select * from final
