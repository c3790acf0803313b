{#- Incremental date-keyed models (DECISIONLOG, "Mini-program KPIs by touched date"). A model
    keyed on a business date deletes its rows of the dates a `dates_model` lists (a
    pre-hook) and appends them rebuilt, as the order facts do by order (macros/incremental.sql:
    append_after_delete, touched_only). A dates model lists, on an incremental marts run,
    the dates a change since the last finished marts build reaches; on a full build it is
    empty and the model is built from everything. `extra_hooks` run after the delete. -#}
{% macro dates_incremental(dates_model, date_column, dates_column, extra_hooks=[]) -%}
    {%- set delete_hook = "{{ delete_touched_dates('" ~ dates_model ~ "', '" ~ date_column ~ "', '"
        ~ dates_column ~ "') }}" -%}
    {{ return(append_after_delete([delete_hook] + extra_hooks)) }}
{%- endmacro %}

{% macro delete_touched_dates(dates_model, date_column, dates_column) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ touched_only(dates_model, date_column, dates_column) }}
    {%- endif -%}
{%- endmacro %}

{#- int_miniapp_visitor_days: the dates int_miniapp_event_dates_touched lists are deleted
    and appended rebuilt; then the other days of a visitor whose first visit moved (a late
    event earlier than it, or their first day's events moved away) take the new
    first_visit_date from int_miniapp_visitors_touched. -#}
{% macro miniapp_visitor_days_incremental() -%}
    {{ return(dates_incremental('int_miniapp_event_dates_touched', 'event_date', 'event_date',
                                ["{{ update_moved_first_visits() }}"])) }}
{%- endmacro %}

{% macro update_moved_first_visits() -%}
    {%- if is_incremental() -%}
        {#- a visitor new or gone has no row off the touched dates: only a date that moved -#}
        update {{ this }}
        set first_visit_date = moved.first_visit_date
        from {{ ref('int_miniapp_visitors_touched') }} as moved
        where
            {{ this.identifier }}.openid_hash = moved.openid_hash
            and moved.first_visit_date <> moved.built_first_visit_date
    {%- endif -%}
{%- endmacro %}
