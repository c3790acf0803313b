-- The earliest date each order an incremental marts build touched (int_orders_touched)
-- changed on, in what the models that read orders up to a date take of it (int_member_rfm,
-- window_member_outcomes, is_purchase_as_of: credited member, date, type, GMV, date of a
-- full return), for int_rfm_snapshots_touched and int_campaigns_touched: a snapshot or
-- window ending before change_date sees the order as it did.
--   - an order new, gone or changed in member, date, type or GMV: the earlier of its dates
--     before and after;
--   - one whose only change is its full return: the earlier return date (before it, the
--     order was a purchase either way);
--   - none (no row): a mini-program order's status moving on, a line re-delivered as it
--     was.
-- Empty on a full build.
{% if not incremental_facts_run() %}

    select
        cast(null as {{ dbt.type_string() }}) as order_id,
        cast(null as date) as change_date
    where 1 = 0

{% else %}

with

touched_orders as (select * from {{ ref('int_orders_touched') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),

versions as (
    select
        touched_orders.order_id,
        touched_orders.built_order_date,
        touched_orders.built_returned_in_full_date,
        orders.order_date,
        orders.returned_in_full_date,
        touched_orders.built_order_date is null
        or orders.order_date is null
        or touched_orders.built_order_date <> orders.order_date
        or touched_orders.built_member_id is distinct from orders.member_id
        or touched_orders.built_order_type is distinct from orders.order_type
        or touched_orders.built_gmv_amount is distinct from orders.gmv_amount as is_moved
    from touched_orders
    left join orders on touched_orders.order_id = orders.order_id
),

final as (
    select
        order_id,
        -- least() leaves a NULL out (DuckDB, PostgreSQL, Spark alike)
        case
            when is_moved then least(built_order_date, order_date)
            when built_returned_in_full_date is distinct from returned_in_full_date
                then least(built_returned_in_full_date, returned_in_full_date)
        end as change_date
    from versions
)

select * from final
where change_date is not null

{% endif %}
