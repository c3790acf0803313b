{#- Incremental sales reconciliation (DECISIONLOG, "Incremental sales reconciliation").
    mart_sales_reconciliation_reasons and mart_sales_reconciliation keep each (channel,
    store_code, business_date) until a change reaches it: int_store_dates_touched lists
    the store-days of every delivered row, ledger or quarantine row recorded since the last
    finished marts build, and of every order that build's successor touched (its dates in
    the facts before and after, the dates of all its delivered versions). Each model
    deletes its rows of those store-days (a pre-hook) and appends them recomputed; a full
    build (first run, --full-refresh, what memberdw.incremental names) reads everything. -#}
{% macro store_dates_incremental() -%}
    {{ return(append_after_delete("{{ delete_touched_store_dates() }}")) }}
{%- endmacro %}

{#- True when this build recomputes only the touched store-days: an incremental model in a
    marts build that has the last build's position. A model built on its own without it
    (pipeline.transform of one model) recomputes every store-day: delete all, append all. -#}
{% macro store_dates_run() -%}
    {{ return(is_incremental() and incremental_facts_run()) }}
{%- endmacro %}

{% macro delete_touched_store_dates() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ touched_store_dates_only('channel, store_code, business_date') }}
    {%- endif -%}
{%- endmacro %}

{#- A condition on `key` (channel, store code, business date columns of the model's rows):
    this run recomputes that store-day; true on a full build and outside a marts build. -#}
{% macro touched_store_dates_only(key) -%}
    {%- if not store_dates_run() -%}
        {#- the model depends on the touched model whatever this build is -#}
        {%- do ref('int_store_dates_touched') -%}
        {{ return('true') }}
    {%- endif -%}
    {{ return(touched_only('int_store_dates_touched', key, 'channel, store_code, business_date')) }}
{%- endmacro %}

{#- The store and times a rejected POS line or mini-program order's delivered text tells
    (`record`: its raw_record parsed as JSON): store_code, order_time, sold_at. -#}
{% macro rejected_sale_fields(record) -%}
    {{ json_text(record, 'store_code') }} as store_code,
        {{ json_text(record, 'order_time') }} as order_time,
        coalesce(
            {{ json_text(record, 'paid_at') }},
            {{ json_text(record, 'created_at') }}
        ) as sold_at
{%- endmacro %}

{#- A condition on meta.quarantine (`relation`: its alias): the rejected row was a POS line
    or a mini-program order, a sale had it parsed. -#}
{% macro rejected_sale(relation) -%}
    (
        ({{ relation }}.source = 'pos' and {{ relation }}.entity = 'order_lines')
        or ({{ relation }}.source = 'miniapp' and {{ relation }}.entity = 'orders')
    )
{%- endmacro %}

{#- The business date of a rejected sale (the columns of rejected_sale_fields, `source` and
    the file's `dt`): its order time (POS) or, when it carries a zone, its sale time
    (mini-program), else the dt folder it was delivered in. -#}
{% macro rejected_sale_date() -%}
    coalesce(
            case
                when source = 'pos'
                    then cast({{ try_strptime_ymd_hms('order_time') }} as date)
            end,
            case
                when source = 'miniapp' and {{ regexp_contains('sold_at', "'(Z|[+-][0-9]{2}:[0-9]{2})$'") }}
                    then cast({{ business_time(try_cast_timestamptz('sold_at')) }} as date)
            end,
            dt
        )
{%- endmacro %}
