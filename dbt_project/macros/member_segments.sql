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
