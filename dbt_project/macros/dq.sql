{#- How the models read the Great Expectations row flags, by names the registry
    (dq_registry.sql, generated from the suites) knows: an unknown dataset, rule or
    action fails compilation instead of silently matching no flag. -#}

{#- The record key of a row of `dataset`, over the staging columns of that dataset. -#}
{% macro dq_record_key(dataset) -%}
    {{ return(dq_record_key_sql(_dq_dataset(dataset)['record_key'])) }}
{%- endmacro %}

{#- A condition on int_quality_flags: the flags of `dataset` with `action` (quarantine,
    review) and/or of one `rule`. -#}
{% macro dq_flags_of(dataset, action=none, rule=none) -%}
    {%- set rules = _dq_dataset(dataset)['rules'] -%}
    {%- if rule is not none and rule not in rules -%}
        {{ exceptions.raise_compiler_error("dq: dataset " ~ dataset ~ " has no rule " ~ rule ~ "; it has " ~ (rules | list | join(', '))) }}
    {%- endif -%}
    {%- if action is not none and action not in rules.values() | list -%}
        {{ exceptions.raise_compiler_error("dq: no rule of " ~ dataset ~ " has action " ~ action) }}
    {%- endif -%}
    dataset = '{{ dataset }}'
    {%- if action is not none %} and action = '{{ action }}'{% endif %}
    {%- if rule is not none %} and rule = '{{ rule }}'{% endif %}
{%- endmacro %}

{% macro _dq_dataset(dataset) -%}
    {%- set registry = dq_registry() -%}
    {%- if dataset not in registry -%}
        {{ exceptions.raise_compiler_error("dq: unknown dataset " ~ dataset ~ "; known: " ~ (registry | list | join(', '))) }}
    {%- endif -%}
    {{ return(registry[dataset]) }}
{%- endmacro %}

{#- A condition on a staging relation of `dataset`: the row was not quarantined by the
    newest validation run (its flags keep it listed with its reason). -#}
{% macro dq_not_quarantined(dataset) -%}
    {{ dq_record_key(dataset) }} not in (
        select quarantined.record_key
        from {{ ref('int_quality_flags') }} as quarantined
        where {{ dq_flags_of(dataset, action='quarantine') }}
    )
{%- endmacro %}
