{#- Incremental staging (DECISIONLOG, "Incremental staging"). A staging model keeps the
    newest version of each business key of an append-only raw table. On an incremental run it rebuilds only
    the keys that rows loaded since its last build (`_loaded_at` past the newest it holds)
    touch, from every version of those keys, and dbt's delete+insert swaps them in by key;
    a full build (first run, `--full-refresh`) reads everything. memberdw.incremental
    decides when a run must be a full one (new code or PII key, another as-of date). An
    erasure changes raw rows in place and stamps them `_erased_at` (memberdw.erasure): they
    are rebuilt as new loads are. `keys` are the raw key columns, `relation` the raw source.
    The newest `_loaded_at` a staging model holds is the newest load or erasure it was
    built from (loaded_or_erased_at), so no later load or erasure is older. -#}
{% macro touched_keys_only(relation, keys) -%}
    {%- if is_incremental() -%}
        ({{ keys | join(', ') }}) in (
            select {{ keys | join(', ') }}
            from {{ relation }}
            where _loaded_at > (select max(_loaded_at) from {{ this }})
                or _erased_at > (select max(_loaded_at) from {{ this }})
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The config of an incremental staging model: dbt's delete+insert by `unique_key` (the
    staging key; raw's key columns may be named otherwise, see touched_keys_only). When
    the key holds a member (`member_key`: its column), an erasure moves the member's rows
    to the tombstone's key: a pre-hook deletes them under the old one. -#}
{% macro keyed_incremental(unique_key, member_key=none) -%}
    {#- Spark: a table (memberdw.spark_build always builds from the whole raw zone, and
        dbt-spark has no delete+insert on Parquet) -#}
    {%- if target.type == 'spark' -%}
        {{ return({'materialized': 'table'}) }}
    {%- endif -%}
    {%- set config = {
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': unique_key,
        'on_schema_change': 'fail',
    } -%}
    {%- if member_key -%}
        {%- do config.update({'pre_hook': "{{ delete_erased_members('" ~ member_key ~ "') }}"}) -%}
    {%- endif -%}
    {{ return(config) }}
{%- endmacro %}

{% macro delete_erased_members(member_key) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ member_key }} in (select member_id from {{ source('meta', 'erasure_log') }})
    {%- endif -%}
{%- endmacro %}

{#- A staging row's `_loaded_at`: when its raw version was loaded or, if later, changed by
    an erasure (touched_keys_only; the marts' loaded_since_marts_build). -#}
{% macro loaded_or_erased_at(relation=none) -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    greatest({{ prefix }}_loaded_at, {{ prefix }}_erased_at)
{%- endmacro %}

{#- Incremental order facts (DECISIONLOG, "Incremental order facts"). The order models
    rebuild only the orders int_orders_touched lists: each deletes its rows of those orders
    (a pre-hook, so an order that now has no rows, e.g. every line quarantined, goes) and
    appends them rebuilt from the current upstream. memberdw's build_marts task passes the
    position of the last finished marts build (vars marts_watermark, marts_dq_run); a full
    build (first run, --full-refresh, what memberdw.incremental names) reads everything.
    `level` says which orders a model's rows are keyed by: pos_ticket (store_code,
    order_no), miniapp_order (the mini-program's own order_id), order_with_lines (the facts'
    order_id of those two) or order (the facts' order_id of every touched order, including
    sales whose returns changed). -#}
{% macro incremental_facts_run() -%}
    {{ return(var('marts_watermark', none) is not none and not flags.FULL_REFRESH) }}
{%- endmacro %}

{% macro require_marts_position() -%}
    {%- if not incremental_facts_run() -%}
        {{ exceptions.raise_compiler_error(this.identifier ~ " is built incrementally from the position of the last marts build (vars marts_watermark and marts_dq_run, which memberdw's build_marts task passes); run it with --full-refresh otherwise") }}
    {%- endif -%}
{%- endmacro %}

{#- A fact keyed by order_id also tells memberdw.pipeline.publish (meta publish_delta) that
    the serving file needs only the rows of the orders int_orders_touched lists. -#}
{% macro order_facts_incremental(level, key) -%}
    {%- set delta = {'key': key, 'touched': 'int_orders_touched'} if key == 'order_id' else none -%}
    {{ return(append_after_delete("{{ delete_touched_orders('" ~ level ~ "', '" ~ key ~ "') }}", delta)) }}
{%- endmacro %}

{#- The config of a model that deletes what it rebuilds (`delete_hook`) and appends it
    rebuilt; on Spark a table (memberdw.spark_build always builds from the whole raw zone).
    `publish_delta` ({key, touched}: the touched model's `key` column lists the keys a build
    rebuilt) lets publish copy only those rows into the serving file. -#}
{% macro append_after_delete(delete_hook, publish_delta=none) -%}
    {%- if target.type == 'spark' -%}
        {{ return({'materialized': 'table'}) }}
    {%- endif -%}
    {%- set config = {
        'materialized': 'incremental',
        'incremental_strategy': 'append',
        'on_schema_change': 'fail',
        'pre_hook': delete_hook,
    } -%}
    {%- if publish_delta -%}
        {%- do config.update({'meta': {'publish_delta': publish_delta}}) -%}
    {%- endif -%}
    {{ return(config) }}
{%- endmacro %}

{% macro delete_touched_orders(level, key) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ touched_orders_only(level, key) }}
    {%- endif -%}
{%- endmacro %}

{#- A condition on `key` (columns of the model's rows): the row belongs to an order this run
    rebuilds; true on a full build. -#}
{% macro touched_orders_only(level, key) -%}
    {%- set columns = {
        'pos_ticket': ('store_code, order_no', 'store_code is not null'),
        'miniapp_order': ('source_order_id', 'source_order_id is not null'),
        'order_with_lines': ('order_id', 'store_code is not null or source_order_id is not null'),
        'order': ('order_id', 'true'),
    }[level] -%}
    {{ return(touched_only('int_orders_touched', key, columns[0], columns[1])) }}
{%- endmacro %}

{#- A condition on `key` of an incremental model's rows: they are among the `columns` of
    the rows of `touched_model` (int_orders_touched, int_rfm_snapshots_touched) that
    `where` picks, i.e. this run rebuilds them; true on a full build. -#}
{% macro touched_only(touched_model, key, columns, where='true') -%}
    {%- if is_incremental() -%}
        {%- do require_marts_position() -%}
        {%- set condition -%}
            ({{ key }}) in (select {{ columns }} from {{ ref(touched_model) }} where {{ where }})
        {%- endset -%}
        {{ return(condition) }}
    {%- endif -%}
    {#- the model depends on the touched model whatever this build is -#}
    {%- do ref(touched_model) -%}
    {{ return('true') }}
{%- endmacro %}

{#- A condition on a staging relation: the row was loaded after the last finished marts
    build started (var marts_watermark), so that build did not see it; `column`: another
    timestamp of when a row was written (meta.quarantine.quarantined_at,
    meta.load_ledger.recorded_at). -#}
{% macro loaded_since_marts_build(column='_loaded_at') -%}
    {{ column }} > cast('{{ var("marts_watermark") }}' as timestamp with time zone)
{%- endmacro %}

{#- The table a model built on an earlier run (its state before this run), for
    int_orders_touched; an incremental run needs it. -#}
{% macro built_before(model_name) -%}
    {%- if not execute -%}
        {{ return(this) }}
    {%- endif -%}
    {#- the model's own database and schema (a mart lives in marts, the model reading it
        may not) -#}
    {%- set nodes = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
        | selectattr('name', 'equalto', model_name) | list -%}
    {%- set relation = adapter.get_relation(nodes[0].database, nodes[0].schema, nodes[0].alias)
        if nodes else none -%}
    {%- if relation is none -%}
        {{ exceptions.raise_compiler_error(model_name ~ " is not built: the marts must be built in full (--full-refresh)") }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}

{#- int_member_rfm by snapshot: each run deletes the snapshots it recomputes
    (int_rfm_snapshots_touched) and those int_rfm_snapshot_dates no longer lists, and
    appends the recomputed ones. -#}
{% macro rfm_snapshots_incremental() -%}
    {{ return(append_after_delete("{{ delete_touched_snapshots() }}")) }}
{%- endmacro %}

{% macro delete_touched_snapshots() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where
            {{ touched_snapshots_only('as_of_date') }}
            or as_of_date not in (select as_of_date from {{ ref('int_rfm_snapshot_dates') }})
    {%- endif -%}
{%- endmacro %}

{% macro touched_snapshots_only(column) -%}
    {{ return(touched_only('int_rfm_snapshots_touched', column, 'as_of_date')) }}
{%- endmacro %}

{#- int_member_order_totals by member: each run deletes the members it recomputes
    (int_members_touched) and appends them recomputed. -#}
{% macro delete_touched_members() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ touched_members_only('member_id') }}
    {%- endif -%}
{%- endmacro %}

{% macro touched_members_only(column) -%}
    {{ return(touched_only('int_members_touched', column, 'member_id')) }}
{%- endmacro %}
