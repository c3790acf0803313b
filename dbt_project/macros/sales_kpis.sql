{#- The store scorecard's figures (mart_store_* and mart_region_*), written once. `orders`
    names a CTE of fct_orders rows (channel, member_id, item_quantity, gmv_amount,
    is_purchase) carrying the grain's `keys` columns. -#}

{#- Sums per grain: GMV (returns and refunds negative on their own day), purchase orders
    (a sale returned in full is no order), items net of returns, member GMV, and GMV by
    channel. -#}
{% macro sales_totals(orders, keys) -%}
    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        sum(gmv_amount) as gmv_amount,
        sum(case when is_purchase then 1 else 0 end) as order_count,
        sum(item_quantity) as item_quantity,
        sum(case when member_id is not null then gmv_amount else 0 end) as member_gmv_amount,
        sum(case when channel = 'pos' then gmv_amount else 0 end) as pos_gmv_amount,
        sum(case when channel = 'miniapp' then gmv_amount else 0 end) as miniapp_gmv_amount
    from {{ orders }}
    group by {{ keys | join(', ') }}
{%- endmacro %}

{#- Members with a purchase per grain, counted once however many stores of it they bought
    at, and those with at least two purchases in it (repeat buyers). -#}
{% macro buyer_counts(orders, keys) -%}
    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        count(*) as buyer_count,
        sum(case when purchase_count >= 2 then 1 else 0 end) as repeat_buyer_count
    from (
        select
            {%- for key in keys %}
            {{ key }},
            {%- endfor %}
            member_id,
            count(*) as purchase_count
        from {{ orders }}
        where is_purchase and member_id is not null
        group by {{ keys | join(', ') }}, member_id
    ) as member_purchases
    group by {{ keys | join(', ') }}
{%- endmacro %}

{#- The published columns from a sales_totals relation and a buyer_counts one (either may
    have no row for the grain: zero): attach rate 连带率 = items / orders, AOV 客单价 =
    GMV / orders, member GMV share. -#}
{% macro sales_kpi_columns(sales, buyers) -%}
        cast(coalesce({{ sales }}.gmv_amount, 0) as decimal(18, 2)) as gmv_amount,
        cast(coalesce({{ sales }}.order_count, 0) as bigint) as order_count,
        cast(coalesce({{ sales }}.item_quantity, 0) as bigint) as item_quantity,
        {{ ratio(sales ~ '.item_quantity', sales ~ '.order_count') }} as attach_rate,
        cast({{ round_double(ratio(sales ~ '.gmv_amount', sales ~ '.order_count'), 2) }} as decimal(18, 2))
            as aov_amount,
        cast(coalesce({{ sales }}.member_gmv_amount, 0) as decimal(18, 2)) as member_gmv_amount,
        {{ ratio(sales ~ '.member_gmv_amount', sales ~ '.gmv_amount') }} as member_gmv_share,
        cast(coalesce({{ buyers }}.buyer_count, 0) as bigint) as buyer_count,
        cast(coalesce({{ buyers }}.repeat_buyer_count, 0) as bigint) as repeat_buyer_count,
        cast(coalesce({{ sales }}.pos_gmv_amount, 0) as decimal(18, 2)) as pos_gmv_amount,
        cast(coalesce({{ sales }}.miniapp_gmv_amount, 0) as decimal(18, 2)) as miniapp_gmv_amount
{%- endmacro %}
