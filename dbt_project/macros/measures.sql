{#- numerator / denominator as a double-precision float, null when the denominator is zero
    or null. (DuckDB's FLOAT, dbt.type_float(), is single precision.) -#}
{% macro ratio(numerator, denominator) -%}
    {{ return(adapter.dispatch('ratio', 'memberdw')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__ratio(numerator, denominator) -%}
    (cast({{ numerator }} as {{ dbt.type_float() }}) / nullif({{ denominator }}, 0))
{%- endmacro %}

{% macro duckdb__ratio(numerator, denominator) -%}
    (cast({{ numerator }} as double) / nullif({{ denominator }}, 0))
{%- endmacro %}

{#- The sufficient statistics of one arm for memberdw.stats.campaign_effects, aggregated over
    rows of int_campaign_member_outcomes: members, converters (a purchase in the window), and
    sums, squares and the cross product of window GMV (y) and pre-window GMV (x, CUPED). -#}
{% macro effect_sufficient_stats() -%}
    count(*) as member_count,
    sum(case when has_purchase then 1 else 0 end) as converted_count,
    sum(cast(gmv_amount as double)) as gmv_sum,
    sum(cast(gmv_amount as double) * cast(gmv_amount as double)) as gmv_sq_sum,
    sum(cast(pre_gmv_amount as double)) as pre_gmv_sum,
    sum(cast(pre_gmv_amount as double) * cast(pre_gmv_amount as double)) as pre_gmv_sq_sum,
    sum(cast(gmv_amount as double) * cast(pre_gmv_amount as double)) as gmv_pre_gmv_sum
{%- endmacro %}
