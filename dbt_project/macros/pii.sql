{#- Personal data leaves staging only as a keyed hash or a masked name. The hash is
    HMAC-SHA256 (lower-case hex) by memberdw_pii_hash(), which memberdw.dbt_plugin puts on
    dbt's connection: the key stays in Python, so it is in no compiled SQL, artifact or log.
    There is no default key (docs/pii.md). -#}
{% macro pii_hash(expression) -%}
    {{ return(adapter.dispatch('pii_hash', 'memberdw')(expression)) }}
{%- endmacro %}

{% macro default__pii_hash(expression) -%}
    memberdw_pii_hash({{ expression }})
{%- endmacro %}

{#- The same under MEMBERDW_PII_KEY_PREVIOUS during a key rotation; NULL outside one. -#}
{% macro pii_hash_previous(expression) -%}
    {{ return(adapter.dispatch('pii_hash_previous', 'memberdw')(expression)) }}
{%- endmacro %}

{% macro default__pii_hash_previous(expression) -%}
    memberdw_pii_hash_previous({{ expression }})
{%- endmacro %}

{#- 张三 -> 张*: the family name stays for salutations, nothing else. -#}
{% macro mask_name(expression) -%}
    case when {{ expression }} is not null then left({{ expression }}, 1) || '*' end
{%- endmacro %}

{#- The member_id every row of an erased member points at instead of theirs, the same for
    all of them (memberdw.erasure re-keys raw; docs/pii.md, "Erasure"). It is not a member:
    staging marks it is_deleted, so member-level marts leave it out and totals keep it. -#}
{% macro erased_member_id() -%}
    '{{ var("erased_member_id") }}'
{%- endmacro %}

{#- The distinct non-null values of `columns` of CTE `relation`, each with its keyed hash
    (value, value_hash): a model with many more rows than identifiers (an event per page a
    visitor views) joins this instead of calling pii_hash per row, so the key's hash (a
    Python function on DuckDB) runs once per visitor, not once per event. -#}
{% macro pii_hashed_values(relation, columns) -%}
    select
        pii_values.value,
        {{ pii_hash('pii_values.value') }} as value_hash
    from (
        {%- for column in columns %}
        select {{ column }} as value from {{ relation }}
        {%- if not loop.last %}
        union
        {%- endif %}
        {%- endfor %}
    ) as pii_values
    where pii_values.value is not null
{%- endmacro %}
