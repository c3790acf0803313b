{#- Personal data leaves staging only as a keyed hash or a masked name. The key comes from
    MEMBERDW_PII_KEY; the default is for demo data only. -#}
{% macro pii_hash(expression) -%}
    {{ return(adapter.dispatch('pii_hash', 'memberdw')(expression)) }}
{%- endmacro %}

{% macro default__pii_hash(expression) -%}
    case when {{ expression }} is not null
        then sha256('{{ env_var("MEMBERDW_PII_KEY", "memberdw-demo-key") }}' || {{ expression }})
    end
{%- endmacro %}

{#- 张三 -> 张*: the family name stays for salutations, nothing else. -#}
{% macro mask_name(expression) -%}
    case when {{ expression }} is not null then left({{ expression }}, 1) || '*' end
{%- endmacro %}
