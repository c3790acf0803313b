{#- SQL that differs between engines and has no dbt cross-database macro. Each default__
    is the DuckDB form the models always had; other engines' forms are in
    dbt_project/macros/engines/<adapter>.sql. -#}

{#- The text of `key` of a JSON object (NULL when missing): DuckDB's json_extract_string(x, '$.key'). -#}
{% macro json_text(json, key) -%}
    {{ return(adapter.dispatch('json_text', 'memberdw')(json, key)) }}
{%- endmacro %}

{% macro default__json_text(json, key) -%}
    json_extract_string({{ json }}, '$.{{ key }}')
{%- endmacro %}

{#- The element at the 0-based `index` (an expression) of a JSON array, as JSON. -#}
{% macro json_array_element(json, index) -%}
    {{ return(adapter.dispatch('json_array_element', 'memberdw')(json, index)) }}
{%- endmacro %}

{% macro default__json_array_element(json, index) -%}
    json_extract({{ json }}, '$[' || cast({{ index }} as varchar) || ']')
{%- endmacro %}

{#- How many elements a JSON array has (NULL for NULL). -#}
{% macro json_array_size(json) -%}
    {{ return(adapter.dispatch('json_array_size', 'memberdw')(json)) }}
{%- endmacro %}

{% macro default__json_array_size(json) -%}
    json_array_length({{ json }})
{%- endmacro %}

{#- In a select list: one row per value from `start` to `stop` (inclusive), by `step`
    when given (an interval for timestamps); no row when either end is NULL. -#}
{% macro series_rows(start, stop, step=none) -%}
    {{ return(adapter.dispatch('series_rows', 'memberdw')(start, stop, step)) }}
{%- endmacro %}

{% macro default__series_rows(start, stop, step) -%}
    unnest(generate_series({{ start }}, {{ stop }}{% if step is not none %}, {{ step }}{% endif %}))
{%- endmacro %}

{#- A Great Expectations record key expression (dq_registry, in DuckDB SQL as GE runs it)
    in this engine's SQL. -#}
{% macro dq_record_key_sql(expression) -%}
    {{ return(adapter.dispatch('dq_record_key_sql', 'memberdw')(expression)) }}
{%- endmacro %}

{% macro default__dq_record_key_sql(expression) -%}
    {{ return(expression) }}
{%- endmacro %}

{#- The double-precision float type (DuckDB's FLOAT, dbt.type_float(), is single precision),
    also in the marts' contracts (data_type in the models' YAML). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'memberdw')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    {{ return('double') }}
{%- endmacro %}

{#- round(x, digits) of a double as DuckDB rounds it: half away from zero on x * 10^digits
    in double precision (a sum of cents over a count lands on .xx5 often enough for the
    exact decimal rounding of other engines to differ). -#}
{% macro round_double(expression, digits) -%}
    {{ return(adapter.dispatch('round_double', 'memberdw')(expression, digits)) }}
{%- endmacro %}

{% macro default__round_double(expression, digits) -%}
    round({{ expression }}, {{ digits }})
{%- endmacro %}

{#- Whether `value` matches the regular expression `pattern` anywhere. -#}
{% macro regexp_contains(value, pattern) -%}
    {{ return(adapter.dispatch('regexp_contains', 'memberdw')(value, pattern)) }}
{%- endmacro %}

{% macro default__regexp_contains(value, pattern) -%}
    regexp_matches({{ value }}, {{ pattern }})
{%- endmacro %}

{#- Text as a timestamp by strptime format '%Y-%m-%d %H:%M:%S' (the only one the models
    use), NULL when it does not parse. -#}
{% macro try_strptime_ymd_hms(value) -%}
    {{ return(adapter.dispatch('try_strptime_ymd_hms', 'memberdw')(value)) }}
{%- endmacro %}

{% macro default__try_strptime_ymd_hms(value) -%}
    try_strptime({{ value }}, '%Y-%m-%d %H:%M:%S')
{%- endmacro %}

{#- Text as a timestamptz, NULL when it does not parse. -#}
{% macro try_cast_timestamptz(value) -%}
    {{ return(adapter.dispatch('try_cast_timestamptz', 'memberdw')(value)) }}
{%- endmacro %}

{% macro default__try_cast_timestamptz(value) -%}
    try_cast({{ value }} as timestamptz)
{%- endmacro %}

{#- Text as JSON, NULL when it is not valid JSON. -#}
{% macro try_parse_json(value) -%}
    {{ return(adapter.dispatch('try_parse_json', 'memberdw')(value)) }}
{%- endmacro %}

{% macro default__try_parse_json(value) -%}
    try(json({{ value }}))
{%- endmacro %}

{#- A double as decimal(precision, scale), rounded as DuckDB casts it: half away from zero
    on x * 10^scale in double precision (round_double). -#}
{% macro double_to_decimal(expression, precision=18, scale=2) -%}
    {{ return(adapter.dispatch('double_to_decimal', 'memberdw')(expression, precision, scale)) }}
{%- endmacro %}

{% macro default__double_to_decimal(expression, precision, scale) -%}
    cast({{ expression }} as decimal({{ precision }}, {{ scale }}))
{%- endmacro %}

{#- int_member_id_map: the CTE `reachable` (member_id, reachable_member_id): every member of
    the CTE `members` with each member it reaches through the CTE `links` (itself included),
    a recursive CTE walking the links to a fixpoint. -#}
{% macro reachable_members_cte() -%}
    {{ return(adapter.dispatch('reachable_members_cte', 'memberdw')()) }}
{%- endmacro %}

{% macro default__reachable_members_cte() -%}
reachable as (
    select
        member_id,
        member_id as reachable_member_id
    from members
    union
    select
        reachable.member_id,
        links.to_member_id as reachable_member_id
    from reachable
    inner join links on reachable.reachable_member_id = links.from_member_id
)
{%- endmacro %}

{#- on-run-start: make the landed sources readable. DuckDB (and PostgreSQL, which
    memberdw.postgres_build loads) read them as tables; Spark reads them as views over the
    Parquet raw zone (memberdw.raw_zone). -#}
{% macro create_raw_zone_views() -%}
    {{ return(adapter.dispatch('create_raw_zone_views', 'memberdw')()) }}
{%- endmacro %}

{% macro default__create_raw_zone_views() -%}
{%- endmacro %}

{#- avg() of a decimal of `scale` decimals, as a double, the way DuckDB computes it: the sum
    in units of 10^-scale (an exact integer) over count * 10^scale, one correctly rounded
    division (equal to DuckDB's avg on 300,000 random groups). Spark averages a decimal as
    a decimal rounded to 6 places, and cast(sum as double) / count rounds twice. `over`: a
    window clause, for the window function. -#}
{% macro avg_double(expression, over='', scale=2) -%}
    {{ return(adapter.dispatch('avg_double', 'memberdw')(expression, over, scale)) }}
{%- endmacro %}

{% macro default__avg_double(expression, over, scale) -%}
    avg({{ expression }}){% if over %} {{ over }}{% endif %}
{%- endmacro %}
