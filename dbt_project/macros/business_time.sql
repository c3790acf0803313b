{#- A timestamptz as Asia/Shanghai wall time: business dates and day boundaries use it. -#}
{% macro business_time(expression) -%}
    {{ return(adapter.dispatch('business_time', 'memberdw')(expression)) }}
{%- endmacro %}

{% macro default__business_time(expression) -%}
    ({{ expression }} at time zone '{{ var("business_timezone") }}')
{%- endmacro %}

{#- The newest version of each key: row 1 of `order_by` within `partition_by`. -#}
{#- How many rows of the same delivered file (load) share this key: 1 as it should be. -#}
{% macro copies_in_delivery(partition_by) -%}
    count(*) over (partition by {{ partition_by }}, _load_id)
{%- endmacro %}

{% macro version_rank(partition_by, order_by) -%}
    row_number() over (partition by {{ partition_by }} order by {{ order_by }})
{%- endmacro %}
