{#- Apache Spark SQL versions of the engine-specific macros (dbt-spark, --target spark:
    memberdw.spark_build and issue 11's benchmark). Every macro here is the spark__
    implementation of a macro dispatched from dbt_project/macros (engine_sql.sql and a few
    others) or of a dbt cross-database macro done differently here; DuckDB keeps its own.
    The keyed hash memberdw_pii_hash() is a Python UDF memberdw.spark_build puts on the
    session (the key stays in Python), so pii.sql's default__ versions serve Spark as is.
    The session runs in UTC with ANSI mode off (as dbt-spark sets it). -#}

{#- on-run-start: one view per landed source over its Parquet folder in the raw zone
    (MEMBERDW_RAW_ZONE, written by memberdw.raw_zone.export: a path or any URI Spark reads,
    s3a://... on a cluster), in a database named as the source's schema (raw, meta). The
    python_models source is not landed data: memberdw.spark_build writes those tables. -#}
{% macro spark__create_raw_zone_views() -%}
    {%- if execute -%}
        {%- set zone = env_var('MEMBERDW_RAW_ZONE') | replace('\\', '/') -%}
        {%- set databases = [] -%}
        {%- for source in graph.sources.values() | sort(attribute='unique_id')
                if source.source_name != 'python_models' -%}
            {%- if source.schema not in databases -%}
                {%- do run_query('create database if not exists ' ~ source.schema) -%}
                {%- do databases.append(source.schema) -%}
            {%- endif -%}
            {%- do run_query('create or replace view ' ~ source.schema ~ '.' ~ source.identifier
                ~ ' as select * from parquet.`' ~ zone ~ '/' ~ source.schema ~ '/'
                ~ source.identifier ~ '`') -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- A timestamptz (Spark: TIMESTAMP, an instant) as business-time wall time: TIMESTAMP_NTZ,
    as DuckDB's `at time zone` gives a TIMESTAMP, whatever the session time zone. -#}
{% macro spark__business_time(expression) -%}
    convert_timezone('{{ var("business_timezone") }}', {{ expression }})
{%- endmacro %}

{#- measures.sql's ratio in double precision: dbt-spark's dbt.type_float() is FLOAT, single
    precision in Spark too. Spark casts a decimal to double as DuckDB does (the unscaled
    integer over 10^scale). -#}
{% macro spark__ratio(numerator, denominator) -%}
    (cast({{ numerator }} as double) / nullif({{ denominator }}, 0))
{%- endmacro %}

{#- JSON is text on Spark (the raw zone writes JSON columns as text). -#}
{% macro spark__json_text(json, key) -%}
    get_json_object({{ json }}, '$.{{ key }}')
{%- endmacro %}

{% macro spark__json_array_element(json, index) -%}
    get_json_object({{ json }}, concat('$[', cast({{ index }} as string), ']'))
{%- endmacro %}

{#- DuckDB's json_array_length is 0 for a JSON value that is not an array; Spark's is NULL. -#}
{% macro spark__json_array_size(json) -%}
    (case when {{ json }} is not null then coalesce(json_array_length({{ json }}), 0) end)
{%- endmacro %}

{#- sequence(a, b) counts down when b < a: the slice keeps generate_series' empty result
    (no lambda: Spark takes no subquery inside one, and the bounds may be subqueries). With a
    step, Spark raises an error where DuckDB gives no row (stop before start); the one model
    with a step (int_rfm_snapshot_dates) never has one. -#}
{% macro spark__series_rows(start, stop, step) -%}
    {%- if step is none -%}
    explode(slice(sequence({{ start }}, {{ stop }}), 1, greatest({{ stop }} - {{ start }} + 1, 0)))
    {%- else -%}
    explode(sequence({{ start }}, {{ stop }}, {{ step }}))
    {%- endif -%}
{%- endmacro %}

{#- The registry's DuckDB spellings in a record key: strftime(x, '%Y-%m-%d %H:%M:%S') and
    cast(x as varchar) (the only ones it has; the record keys must equal those the suites
    computed on DuckDB, character for character). -#}
{% macro spark__dq_record_key_sql(expression) -%}
    {%- set translated = expression | replace('strftime(', 'date_format(')
        | replace("'%Y-%m-%d %H:%M:%S'", "'yyyy-MM-dd HH:mm:ss'") | replace(' as varchar)', ' as string)') -%}
    {%- if '%' in translated -%}
        {{ exceptions.raise_compiler_error("dq: no Spark form for the record key " ~ expression) }}
    {%- endif -%}
    {{ return(translated) }}
{%- endmacro %}

{#- DuckDB's round(double, n): half away from zero on x * 10^n in double precision. Spark's
    round(double, n) rounds the shortest decimal form of x half up (617.175 gives 617.18,
    DuckDB 617.17); round(y, 0) of y = x * 10^n is std::round of that double, as DuckDB's. -#}
{% macro spark__round_double(expression, digits) -%}
    (round(({{ expression }}) * {{ 10 ** digits }}D, 0) / {{ 10 ** digits }}D)
{%- endmacro %}

{#- A double as decimal: rounded in double precision first as DuckDB does (round_double),
    then the cast is exact. A decimal operand (an avg() on Spark, a double on DuckDB)
    becomes a double first. -#}
{% macro spark__double_to_decimal(expression, precision, scale) -%}
    cast({{ spark__round_double('cast(' ~ expression ~ ' as double)', scale) }} as decimal({{ precision }}, {{ scale }}))
{%- endmacro %}

{% macro spark__regexp_contains(value, pattern) -%}
    ({{ value }} rlike {{ pattern }})
{%- endmacro %}

{#- DuckDB's strptime reads 1 or 2 digits for each field but the year. -#}
{% macro spark__try_strptime_ymd_hms(value) -%}
    try_to_timestamp({{ value }}, 'yyyy-M-d H:m:s')
{%- endmacro %}

{% macro spark__try_cast_timestamptz(value) -%}
    try_cast({{ value }} as timestamp)
{%- endmacro %}

{#- get_json_object reads a malformed text only up to the path it looks for;
    json_object_keys reads it all (NULL unless a whole, valid JSON object: what the
    quarantined records parsed here are). -#}
{% macro spark__try_parse_json(value) -%}
    (case when json_object_keys({{ value }}) is not null then {{ value }} end)
{%- endmacro %}

{#- Spark's recursive CTEs take only UNION ALL, so a walk over links that loop (a-b-a)
    never reaches a fixpoint by itself: each step keeps the distinct members reached at that
    depth, up to var identity_max_link_depth steps, and the build fails (raise_error) if a
    member is first reached at the last step, i.e. a group may reach further. -#}
{% macro spark__reachable_members_cte() -%}
    {%- set max_depth = var('identity_max_link_depth', 8) | int -%}
reachable_steps (member_id, reachable_member_id, depth) as (
    select
        member_id,
        member_id as reachable_member_id,
        0 as depth
    from members
    union all
    select distinct
        reachable_steps.member_id,
        links.to_member_id as reachable_member_id,
        reachable_steps.depth + 1 as depth
    from reachable_steps
    inner join links on reachable_steps.reachable_member_id = links.from_member_id
    where reachable_steps.depth < {{ max_depth }}
),

reachable_first as (
    select
        member_id,
        reachable_member_id,
        min(depth) as first_depth
    from reachable_steps
    group by member_id, reachable_member_id
),

reachable as (
    select
        member_id,
        reachable_member_id
    from reachable_first
    where
        case
            when first_depth < {{ max_depth }} then true
            else raise_error('int_member_id_map: an identity group spans more than {{ max_depth }}'
                || ' links; raise var identity_max_link_depth')
        end
)
{%- endmacro %}

{#- dbt's own macros (dispatch: dbt -> memberdw first, dbt_project.yml) -#}

{#- dbt-spark's listagg ignores the order (collect_list); Spark 4 has the standard one. -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num -%}
        {{ exceptions.raise_compiler_error("spark__listagg: limit_num is not supported") }}
    {%- endif -%}
    listagg({{ measure }}, {{ delimiter_text }})
    {%- if order_by_clause %} within group ({{ order_by_clause }}){% endif %}
{%- endmacro %}

{#- The contracts' data types (DuckDB names in the models' YAML) in Spark's: dbt builds its
    contract check from cast(null as <data_type>), and unit tests cast their fixtures. A
    DuckDB TIMESTAMP is wall time (Spark TIMESTAMP_NTZ), a TIMESTAMPTZ an instant. -#}
{% macro spark__cast(field, type) -%}
    {%- set spark_types = {'varchar': 'string', 'text': 'string', 'timestamp': 'timestamp_ntz',
                           'timestamp with time zone': 'timestamp', 'timestamptz': 'timestamp'} -%}
    cast({{ field }} as {{ spark_types.get(type | trim | lower, type) }})
{%- endmacro %}

{#- The exact sum in units of 10^-scale as a double (exact below 2^53) over the count times
    10^scale: DuckDB's one division. -#}
{% macro spark__avg_double(expression, over, scale) -%}
    {%- set window = ' ' ~ over if over else '' -%}
    (cast(cast(sum({{ expression }}){{ window }} * {{ 10 ** scale }} as bigint) as double)
        / nullif(cast(count({{ expression }}){{ window }} as double) * {{ 10 ** scale }}D, 0))
{%- endmacro %}
