{#- Only what was delivered up to the run's as-of date (var as_of_date): a run with an
    earlier --as-of on a warehouse that already holds later deliveries sees exactly what a
    fresh load up to that date would. `column` is the delivery date (raw `_dt`, ledger `dt`);
    without an as-of date the condition is `true`. -#}
{% macro delivered_by_as_of(column='_dt') -%}
    {%- if var('as_of_date') -%}
        {{ column }} <= cast('{{ var("as_of_date") }}' as date)
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
