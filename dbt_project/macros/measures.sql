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
    sums, squares and the cross product of window GMV (y) and pre-window GMV (x, CUPED).
    Summed as decimals, exactly: a float sum depends on the order the rows arrive in, and
    the estimates would differ in their last digits from one build to the next. -#}
{% macro effect_sufficient_stats() -%}
    count(*) as member_count,
    sum(case when has_purchase then 1 else 0 end) as converted_count,
    sum(gmv_amount) as gmv_sum,
    sum(gmv_amount * gmv_amount) as gmv_sq_sum,
    sum(pre_gmv_amount) as pre_gmv_sum,
    sum(pre_gmv_amount * pre_gmv_amount) as pre_gmv_sq_sum,
    sum(gmv_amount * pre_gmv_amount) as gmv_pre_gmv_sum
{%- endmacro %}
