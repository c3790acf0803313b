-- The Great Expectations row flags that differ between the newest validation run
-- (int_quality_flags) and the run the last finished marts build read (var marts_dq_run),
-- by dataset and record:
-- what an incremental marts build must rebuild besides new deliveries (int_orders_touched,
-- int_rfm_snapshots_touched). Empty on a full build, which reads every flag anyway.
{% if not incremental_facts_run() %}

    select
        cast(null as {{ dbt.type_string() }}) as dataset,
        cast(null as {{ dbt.type_string() }}) as record_key
    where 1 = 0

{% else %}

with

all_flags as (select * from {{ source('meta', 'dq_row_flags') }}),
current_flags as (select * from {{ ref('int_quality_flags') }}),

flag_keys as (
    select
        dataset,
        rule,
        action,
        record_key
    from current_flags
),

built_flag_keys as (
    select
        dataset,
        rule,
        action,
        record_key
    from all_flags
    where run_id = '{{ var("marts_dq_run", "") }}'
),

changed_flags as (
    (select * from flag_keys except select * from built_flag_keys)
    union
    (select * from built_flag_keys except select * from flag_keys)
),

-- a record whose flag changed in any way: new, gone, another rule or action
changed_records as (
    select distinct
        dataset,
        record_key
    from changed_flags
)

select * from changed_records

{% endif %}
