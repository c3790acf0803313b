{#- PostgreSQL versions of the engine-specific macros (dbt-postgres, --target postgres:
    memberdw.postgres_build and issue 11's benchmark). Every macro here is the postgres__
    implementation of a macro dispatched from dbt_project/macros; DuckDB keeps its own. -#}

{#- HMAC-SHA256, lower-case hex, as memberdw.pii does it: pgcrypto's hmac() under the key
    libpq hands the session out of band (PGOPTIONS="-c memberdw.pii_key=..."), so the key is
    in no compiled SQL, artifact or log. Without the setting current_setting() fails the
    model, as a missing key fails the DuckDB build. -#}
{% macro postgres__pii_hash(expression) -%}
    encode(hmac(({{ expression }})::text, current_setting('memberdw.pii_key'), 'sha256'), 'hex')
{%- endmacro %}

{#- NULL outside a rotation: the setting missing (missing_ok) or empty. -#}
{% macro postgres__pii_hash_previous(expression) -%}
    encode(hmac(({{ expression }})::text, nullif(current_setting('memberdw.pii_key_previous', true), ''), 'sha256'), 'hex')
{%- endmacro %}


{#- JSON: the sources' JSON columns are jsonb (memberdw.postgres_build); text holding
    JSON is cast. -#}
{% macro postgres__json_text(json, key) -%}
    (cast({{ json }} as jsonb) ->> '{{ key }}')
{%- endmacro %}

{% macro postgres__json_array_element(json, index) -%}
    (cast({{ json }} as jsonb) -> cast({{ index }} as integer))
{%- endmacro %}

{#- DuckDB's json_array_length is 0 for a JSON value that is not an array;
    jsonb_array_length would fail on one. -#}
{% macro postgres__json_array_size(json) -%}
    (case when jsonb_typeof(cast({{ json }} as jsonb)) = 'array' then jsonb_array_length(cast({{ json }} as jsonb))
        when {{ json }} is not null then 0 end)
{%- endmacro %}

{#- generate_series is a set-returning function in a select list already. -#}
{% macro postgres__series_rows(start, stop, step) -%}
    generate_series({{ start }}, {{ stop }}{% if step is not none %}, {{ step }}{% endif %})
{%- endmacro %}

{#- The registry's record keys use DuckDB's strftime(ts, '%Y-%m-%d %H:%M:%S'); to_char
    formats the same in the same session time zone (postgres_build sets DuckDB's). -#}
{% macro postgres__dq_record_key_sql(expression) -%}
    {%- set translated = modules.re.sub(
        "strftime\\(\\s*([A-Za-z_][A-Za-z0-9_.]*)\\s*,\\s*'%Y-%m-%d %H:%M:%S'\\s*\\)",
        "to_char(\\1, 'YYYY-MM-DD HH24:MI:SS')", expression) -%}
    {%- if 'strftime(' in translated -%}
        {{ exceptions.raise_compiler_error("dq: no PostgreSQL form for the record key " ~ expression) }}
    {%- endif -%}
    {{ return(translated) }}
{%- endmacro %}

{% macro postgres__type_double() -%}
    {{ return('double precision') }}
{%- endmacro %}

{#- DuckDB's round(double, n) is half away from zero on x * 10^n in double precision;
    PostgreSQL has round(double) (half even) and round(numeric, n) (exact decimal), so the
    same steps are written out. -#}
{% macro postgres__round_double(expression, digits) -%}
    {%- set scaled = '(' ~ expression ~ ') * ' ~ (10 ** digits) ~ '.0' -%}
    (case when {{ scaled }} >= 0 then floor({{ scaled }} + 0.5) else ceil({{ scaled }} - 0.5) end / {{ 10 ** digits }}.0)
{%- endmacro %}

{% macro postgres__regexp_contains(value, pattern) -%}
    ({{ value }} ~ {{ pattern }})
{%- endmacro %}

{#- PostgreSQL 15 has no try_cast: functions memberdw.postgres_build creates
    (memberdw_try_timestamp, memberdw_try_timestamptz) return NULL where a cast fails. -#}
{% macro postgres__try_strptime_ymd_hms(value) -%}
    memberdw_try_timestamp({{ value }})
{%- endmacro %}

{% macro postgres__try_cast_timestamptz(value) -%}
    memberdw_try_timestamptz({{ value }})
{%- endmacro %}

{% macro postgres__try_parse_json(value) -%}
    memberdw_try_jsonb({{ value }})
{%- endmacro %}

{#- PostgreSQL casts a double to numeric through its 15 significant digits, then rounds
    exactly: 557.67499999999995 becomes 557.68 where DuckDB gives 557.67. Rounded in double
    precision first as DuckDB does, the cast is exact. -#}
{% macro postgres__double_to_decimal(expression, precision, scale) -%}
    {#- a numeric (an avg() DuckDB would give as a double) becomes a double first -#}
    cast({{ postgres__round_double('cast(' ~ expression ~ ' as double precision)', scale) }} as numeric({{ precision }}, {{ scale }}))
{%- endmacro %}
