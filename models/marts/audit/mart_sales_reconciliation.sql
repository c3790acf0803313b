-- Sales delivered by the source against sales published in fct_orders, per channel, store
-- and business date, the difference explained to the cent:
--   delivered_amount = published_amount + superseded_amount + quarantined_amount
--                      + unexplained_amount
-- and every delivered row accounted for:
--   delivered_rows = published_source_rows + parse_rejected_rows + superseded_rows
--                    + quarantined_rows + not_a_sale_rows + unexplained_rows
-- Incremental by store-day as mart_sales_reconciliation_reasons (macros/
-- incremental_store_dates.sql): a marts build recomputes the store-days
-- int_store_dates_touched lists, from their outcomes and published orders.
{{ config(**store_dates_incremental()) }}

with

outcomes as (
    select * from {{ ref('mart_sales_reconciliation_reasons') }}
    where {{ touched_store_dates_only('channel, store_code, business_date') }}
),
orders as (
    select * from {{ ref('fct_orders') }}
    where {{ touched_store_dates_only("channel, coalesce(store_code, 'unknown'), order_date") }}
),
order_lines as (
    select * from {{ ref('fct_order_lines') }}
    {%- if store_dates_run() %}
        where order_id in (select orders.order_id from orders)
    {%- endif %}
),

delivered as (
    select
        channel,
        store_code,
        business_date,
        sum(row_count) as delivered_rows,
        sum(coalesce(paid_amount, 0)) as delivered_amount,
        sum(case when outcome = 'parse_rejected' then row_count else 0 end) as parse_rejected_rows,
        sum(case when outcome = 'superseded' then row_count else 0 end) as superseded_rows,
        sum(case when outcome = 'superseded' then paid_amount else 0 end) as superseded_amount,
        sum(case when outcome = 'quarantined' then row_count else 0 end) as quarantined_rows,
        sum(case when outcome = 'quarantined' then paid_amount else 0 end) as quarantined_amount,
        sum(case when outcome = 'not_a_sale' then row_count else 0 end) as not_a_sale_rows,
        sum(case when outcome = 'review' then row_count else 0 end) as review_rows,
        sum(case when outcome = 'review' then paid_amount else 0 end) as review_amount
    from outcomes
    group by channel, store_code, business_date
),

published_orders as (
    select
        channel,
        coalesce(store_code, 'unknown') as store_code,
        order_date as business_date,
        order_id,
        order_type,
        gmv_amount
    from orders
),

pos_lines_per_order as (
    select
        order_id,
        count(*) as line_count
    from order_lines
    group by order_id
),

-- The delivered rows behind the published orders: a POS ticket's lines, a mini-program
-- sale (its refund row is a movement of the same delivered order, not another row).
published as (
    select
        published_orders.channel,
        published_orders.store_code,
        published_orders.business_date,
        count(*) as published_order_rows,
        sum(
            case
                when published_orders.channel = 'pos' then coalesce(pos_lines_per_order.line_count, 0)
                when published_orders.order_type = 'sale' then 1
                else 0
            end
        ) as published_source_rows,
        sum(published_orders.gmv_amount) as published_amount
    from published_orders
    left join pos_lines_per_order
        on
            published_orders.channel = 'pos'
            and published_orders.order_id = pos_lines_per_order.order_id
    group by published_orders.channel, published_orders.store_code, published_orders.business_date
),

store_days as (
    select
        channel,
        store_code,
        business_date
    from delivered
    union
    select
        channel,
        store_code,
        business_date
    from published
),

joined as (
    select
        store_days.channel,
        store_days.store_code,
        store_days.business_date,
        coalesce(delivered.delivered_rows, 0) as delivered_rows,
        coalesce(delivered.delivered_amount, 0) as delivered_amount,
        coalesce(delivered.parse_rejected_rows, 0) as parse_rejected_rows,
        coalesce(delivered.superseded_rows, 0) as superseded_rows,
        coalesce(delivered.superseded_amount, 0) as superseded_amount,
        coalesce(delivered.quarantined_rows, 0) as quarantined_rows,
        coalesce(delivered.quarantined_amount, 0) as quarantined_amount,
        coalesce(delivered.not_a_sale_rows, 0) as not_a_sale_rows,
        coalesce(delivered.review_rows, 0) as review_rows,
        coalesce(delivered.review_amount, 0) as review_amount,
        coalesce(published.published_order_rows, 0) as published_order_rows,
        coalesce(published.published_source_rows, 0) as published_source_rows,
        coalesce(published.published_amount, 0) as published_amount
    from store_days
    left join delivered
        on
            store_days.channel = delivered.channel
            and store_days.store_code = delivered.store_code
            and store_days.business_date = delivered.business_date
    left join published
        on
            store_days.channel = published.channel
            and store_days.store_code = published.store_code
            and store_days.business_date = published.business_date
),

explained as (
    select
        channel,
        store_code,
        business_date,
        cast(delivered_rows as bigint) as delivered_rows,
        cast(delivered_amount as decimal(18, 2)) as delivered_amount,
        cast(delivered_rows - parse_rejected_rows as bigint) as loaded_rows,
        cast(delivered_amount as decimal(18, 2)) as loaded_amount,
        cast(parse_rejected_rows as bigint) as parse_rejected_rows,
        cast(superseded_rows as bigint) as superseded_rows,
        cast(superseded_amount as decimal(18, 2)) as superseded_amount,
        cast(quarantined_rows as bigint) as quarantined_rows,
        cast(quarantined_amount as decimal(18, 2)) as quarantined_amount,
        cast(not_a_sale_rows as bigint) as not_a_sale_rows,
        cast(review_rows as bigint) as review_rows,
        cast(review_amount as decimal(18, 2)) as review_amount,
        cast(published_order_rows as bigint) as published_order_rows,
        cast(published_source_rows as bigint) as published_source_rows,
        cast(published_amount as decimal(18, 2)) as published_amount,
        cast(
            delivered_rows - published_source_rows - parse_rejected_rows - superseded_rows
            - quarantined_rows - not_a_sale_rows as bigint
        ) as unexplained_rows,
        cast(
            delivered_amount - published_amount - superseded_amount - quarantined_amount
            as decimal(18, 2)
        ) as unexplained_amount
    from joined
),

final as (
    select
        *,
        unexplained_rows = 0 and unexplained_amount = 0 as is_reconciled
    from explained
)

select * from final
