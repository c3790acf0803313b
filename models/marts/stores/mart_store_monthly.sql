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
    {{ sales_totals('store_orders', ['store_code', 'sales_month']) }}
),

buyers as (
    {{ buyer_counts('store_orders', ['store_code', 'sales_month']) }}
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
        {{ sales_kpi_columns('sales', 'buyers') }},
        {{ ratio('buyers.repeat_buyer_count', 'buyers.buyer_count') }} as repurchase_rate,
        cast(monthly_targets.target_amount as decimal(18, 2)) as target_amount,
        {{ ratio('coalesce(sales.gmv_amount, 0)', 'monthly_targets.target_amount') }} as achievement_rate,
        {#- DuckDB divides a decimal by an integer in double precision: written out, so
            every engine does the same -#}
        {%- set mtd_target = round_double(
            'cast(monthly_targets.target_amount * elapsed.days_elapsed as ' ~ type_double()
            ~ ') / elapsed.days_in_month', 2) %}
        cast({{ mtd_target }} as decimal(18, 2)) as mtd_target_amount,
        {{ ratio('coalesce(sales.gmv_amount, 0)', mtd_target) }} as mtd_achievement_rate
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
