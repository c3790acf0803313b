-- The one date member marts are "as of": var as_of_date, else the newest order date.
with

orders as (select * from {{ ref('int_orders_unioned') }}),

as_of as (
    select
        {% if var('as_of_date') %}
            cast('{{ var("as_of_date") }}' as date)
        {% else %}
            max(order_date)
        {% endif %} as as_of_date
    from orders
)

select * from as_of
