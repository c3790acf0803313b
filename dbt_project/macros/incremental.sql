{#- Incremental staging (DECISIONLOG, "Incremental staging"). A staging model keeps the
    newest version of each business key of an append-only raw table. On an incremental run it rebuilds only
    the keys that rows loaded since its last build (`_loaded_at` past the newest it holds)
    touch, from every version of those keys, and dbt's delete+insert swaps them in by key;
    a full build (first run, `--full-refresh`) reads everything. memberdw.incremental
    decides when a run must be a full one (new code or PII key, another as-of date, an
    erasure). `keys` are the raw key columns, `relation` the raw source. -#}
{% macro touched_keys_only(relation, keys) -%}
    {%- if is_incremental() -%}
        ({{ keys | join(', ') }}) in (
            select {{ keys | join(', ') }}
            from {{ relation }}
            where _loaded_at > (select max(_loaded_at) from {{ this }})
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The config of an incremental staging model: dbt's delete+insert by `unique_key` (the
    staging key; raw's key columns may be named otherwise, see touched_keys_only). -#}
{% macro keyed_incremental(unique_key) -%}
    {#- Spark: a table (memberdw.spark_build always builds from the whole raw zone, and
        dbt-spark has no delete+insert on Parquet) -#}
    {%- if target.type == 'spark' -%}
        {{ return({'materialized': 'table'}) }}
    {%- endif -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': unique_key,
        'on_schema_change': 'fail',
    }) }}
{%- endmacro %}
