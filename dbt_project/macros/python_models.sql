{#- A relation a dbt Python model builds (int_clv_fit, int_member_clv, int_campaign_effects,
    int_coupon_effects). dbt-duckdb runs Python models, so on duckdb it is ref(). The other
    adapters here run none (the models are disabled there, `enabled` in their YAML): their
    consumers read the source python_models instead, the same tables computed outside dbt
    by the models' own code (memberdw.postgres_build). -#}
{% macro python_model_ref(name) -%}
    {{ return(adapter.dispatch('python_model_ref', 'memberdw')(name)) }}
{%- endmacro %}

{% macro duckdb__python_model_ref(name) -%}
    {{ return(ref(name)) }}
{%- endmacro %}

{% macro default__python_model_ref(name) -%}
    {{ return(source('python_models', name)) }}
{%- endmacro %}
