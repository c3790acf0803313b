{#- The classic eight RFM segments in Chinese, as the operations team names them. -#}
{% macro rfm_segment_cn(segment) -%}
    case {{ segment }}
        when 'important_value' then '重要价值'
        when 'important_develop' then '重要发展'
        when 'important_retain' then '重要保持'
        when 'important_winback' then '重要挽留'
        when 'general_value' then '一般价值'
        when 'general_develop' then '一般发展'
        when 'general_retain' then '一般保持'
        when 'general_winback' then '一般挽留'
    end
{%- endmacro %}

{#- Consumption-interval stage from days since the last purchase (null: never bought). -#}
{% macro consumption_stage(days_since_last_purchase) -%}
    case
        when {{ days_since_last_purchase }} is null then 'unconsumed'
        when {{ days_since_last_purchase }} <= {{ var('core_days') }} then 'core'
        when {{ days_since_last_purchase }} <= {{ var('potential_days') }} then 'potential'
        when {{ days_since_last_purchase }} <= {{ var('normal_days') }} then 'normal'
        else 'dormant'
    end
{%- endmacro %}

{#- The four value groups, a roll-up of the classic eight (metrics.md): every segment has
    exactly one group; anything else (no segment: 'none') has none. -#}
{% macro rfm_value_group(segment) -%}
    case {{ segment }}
        when 'important_value' then 'high_value'
        when 'important_develop' then 'potential'
        when 'general_value' then 'potential'
        when 'general_develop' then 'potential'
        when 'important_retain' then 'general'
        when 'general_retain' then 'general'
        when 'important_winback' then 'churn_risk'
        when 'general_winback' then 'churn_risk'
    end
{%- endmacro %}

{#- Rank of a value group, high_value > potential > general > churn_risk; no group (no
    purchase left: 'none') ranks below them all, so falling out of RFM is a move down. -#}
{% macro value_group_rank(value_group) -%}
    case {{ value_group }}
        when 'high_value' then 4
        when 'potential' then 3
        when 'general' then 2
        when 'churn_risk' then 1
        else 0
    end
{%- endmacro %}

{#- Whether an order of int_orders_unioned is a purchase as of a date: a sale whose net paid
    amount after its own returns and refunds dated up to that date is above zero (data after
    the date is ignored). `orders` is the relation's alias, or empty. -#}
{% macro is_purchase_as_of(as_of_date, orders='') -%}
    {%- set prefix = orders ~ '.' if orders else '' -%}
    (
        {{ prefix }}order_type = 'sale'
        and {{ prefix }}gmv_amount > 0
        and (
            {{ prefix }}returned_in_full_date is null
            or {{ prefix }}returned_in_full_date > {{ as_of_date }}
        )
    )
{%- endmacro %}
