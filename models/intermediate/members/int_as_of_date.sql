-- The one date member marts are "as of": var as_of_date, else the newest order date; and
-- the first day of the RFM window (rfm_window_days ending on and including it).
with

orders as (select * from {{ ref('int_orders_unioned') }}),

as_of as (
    {% if var('as_of_date') -%}
        select cast('{{ var("as_of_date") }}' as date) as as_of_date
    {%- else -%}
        select max(order_date) as as_of_date from orders
    {%- endif %}
),

with_window as (
    select
        as_of_date,
        cast({{ dbt.dateadd('day', 1 - var('rfm_window_days'), 'as_of_date') }} as date)
            as rfm_window_start_date
    from as_of
)

select * from with_window
