-- The members whose order totals an incremental marts build recomputes
-- (int_member_order_totals): the member each order it touched (int_orders_touched) is
-- credited to now, and the one the facts credited it to before. Every other member has
-- the same orders as when their totals were computed. Empty on a full build, which
-- computes every member's.
{% if not incremental_facts_run() %}

    select cast(null as {{ dbt.type_string() }}) as member_id
    where 1 = 0

{% else %}

with

orders as (select * from {{ ref('int_orders_unioned') }}),
touched_orders as (select * from {{ ref('int_orders_touched') }}),

touched as (
    select orders.member_id
    from orders
    where
        orders.order_id in (select touched_orders.order_id from touched_orders)
        and orders.member_id is not null
    union
    select built_member_id as member_id
    from touched_orders
    where built_member_id is not null
)

select * from touched

{% endif %}
