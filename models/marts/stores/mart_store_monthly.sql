-- Store KPIs per calendar month against the month's target (stores/targets), as of the
-- as-of date. achievement_rate is sales against the whole month's target; for the month
-- still running (the as-of month) mtd_achievement_rate compares the sales so far with the
-- target prorated to the days elapsed. Buyers and repeat buyers are counted over the month
-- (not summed from days), so repurchase_rate is the month's.
with

orders as (select * from {{ ref('fct_orders') }}),
stores as (select * from {{ ref('dim_stores') }}),
targets as (select * from {{ ref('stg_stores__targets') }}),
as_of as (select * from {{ ref('int_as_of_date') }}),

store_orders as (
    select
        store_code,
        channel,
        member_id,
        item_quantity,
        gmv_amount,
        is_purchase,
        cast({{ dbt.date_trunc('month', 'order_date') }} as date) as sales_month
    from orders
    where store_code is not null
),

sales as (
    select
        store_code,
        sales_month,
        sum(gmv_amount) as gmv_amount,
        sum(case when is_purchase then 1 else 0 end) as order_count,
        sum(item_quantity) as item_quantity,
        sum(case when member_id is not null then gmv_amount else 0 end) as member_gmv_amount,
        sum(case when channel = 'pos' then gmv_amount else 0 end) as pos_gmv_amount,
        sum(case when channel = 'miniapp' then gmv_amount else 0 end) as miniapp_gmv_amount
    from store_orders
    group by store_code, sales_month
),

member_purchases as (
    select
        store_code,
        sales_month,
        member_id,
        count(*) as purchase_count
    from store_orders
    where is_purchase and member_id is not null
    group by store_code, sales_month, member_id
),

buyers as (
    select
        store_code,
        sales_month,
        count(*) as buyer_count,
        sum(case when purchase_count >= 2 then 1 else 0 end) as repeat_buyer_count
    from member_purchases
    group by store_code, sales_month
),

monthly_targets as (
    select
        store_code,
        sales_target_amount as target_amount,
        cast(target_month || '-01' as date) as sales_month
    from targets
),

store_months as (
    select
        store_code,
        sales_month
    from sales
    union
    select
        store_code,
        sales_month
    from monthly_targets
),

calendar as (
    select
        store_months.store_code,
        store_months.sales_month,
        as_of.as_of_date,
        cast({{ dbt.dateadd('month', 1, 'store_months.sales_month') }} as date) as next_month
    from store_months
    cross join as_of
),

month_days as (
    select
        store_code,
        sales_month,
        as_of_date,
        {{ dbt.datediff('sales_month', 'next_month', 'day') }}
            as days_in_month,
        {{ dbt.datediff('sales_month', 'as_of_date', 'day') }}
            as days_from_month_start
    from calendar
),

elapsed as (
    select
        store_code,
        sales_month,
        as_of_date,
        days_in_month,
        case
            when days_from_month_start < 0 then 0
            when days_from_month_start >= days_in_month then days_in_month
            else days_from_month_start + 1
        end as days_elapsed
    from month_days
),

final as (
    select
        elapsed.store_code,
        elapsed.sales_month,
        coalesce(stores.region, 'unknown') as region,
        elapsed.as_of_date,
        cast(elapsed.days_in_month as integer) as days_in_month,
        cast(elapsed.days_elapsed as integer) as days_elapsed,
        elapsed.days_elapsed = elapsed.days_in_month as is_complete_month,
        cast(coalesce(sales.gmv_amount, 0) as decimal(18, 2)) as gmv_amount,
        cast(coalesce(sales.order_count, 0) as bigint) as order_count,
        cast(coalesce(sales.item_quantity, 0) as bigint) as item_quantity,
        {{ ratio('sales.item_quantity', 'sales.order_count') }} as attach_rate,
        cast(round({{ ratio('sales.gmv_amount', 'sales.order_count') }}, 2) as decimal(18, 2))
            as aov_amount,
        cast(coalesce(sales.member_gmv_amount, 0) as decimal(18, 2)) as member_gmv_amount,
        {{ ratio('sales.member_gmv_amount', 'sales.gmv_amount') }} as member_gmv_share,
        cast(coalesce(buyers.buyer_count, 0) as bigint) as buyer_count,
        cast(coalesce(buyers.repeat_buyer_count, 0) as bigint) as repeat_buyer_count,
        {{ ratio('buyers.repeat_buyer_count', 'buyers.buyer_count') }} as repurchase_rate,
        cast(monthly_targets.target_amount as decimal(18, 2)) as target_amount,
        {{ ratio('coalesce(sales.gmv_amount, 0)', 'monthly_targets.target_amount') }} as achievement_rate,
        cast(
            round(monthly_targets.target_amount * elapsed.days_elapsed / elapsed.days_in_month, 2)
            as decimal(18, 2)
        ) as mtd_target_amount,
        {{ ratio(
            'coalesce(sales.gmv_amount, 0)',
            'round(monthly_targets.target_amount * elapsed.days_elapsed / elapsed.days_in_month, 2)'
        ) }} as mtd_achievement_rate,
        cast(coalesce(sales.pos_gmv_amount, 0) as decimal(18, 2)) as pos_gmv_amount,
        cast(coalesce(sales.miniapp_gmv_amount, 0) as decimal(18, 2)) as miniapp_gmv_amount
    from elapsed
    left join sales
        on
            elapsed.store_code = sales.store_code
            and elapsed.sales_month = sales.sales_month
    left join buyers
        on
            elapsed.store_code = buyers.store_code
            and elapsed.sales_month = buyers.sales_month
    left join monthly_targets
        on
            elapsed.store_code = monthly_targets.store_code
            and elapsed.sales_month = monthly_targets.sales_month
    left join stores on elapsed.store_code = stores.store_code
)

select * from final
