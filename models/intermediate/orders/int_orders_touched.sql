-- The orders an incremental run of the order facts rebuilds (macros/incremental.sql,
-- DECISIONLOG "Incremental order facts"), one row per fact order_id: POS tickets also by
-- (store_code, order_no), mini-program orders by their own order_id (source_order_id);
-- sales whose returns or refunds changed by order_id alone. An order is touched when
--   - a delivery loaded since the last finished marts build (var marts_watermark) holds
--     one of its lines (POS) or a version of it (mini-program);
--   - a Great Expectations flag of it, or of one of its lines, is new or gone since the
--     validation run that build read (int_quality_flags_changed);
--   - identity resolution now credits it to another member than its fact says;
--   - one of its returns or refunds is touched (new or former original_order_id).
-- built_order_date, built_member_id: the order's date and member as the facts had them
-- (int_rfm_snapshots_touched, int_members_touched); built_order_type, built_gmv_amount,
-- built_returned_in_full_date: the rest of what a purchase and its GMV are read from
-- (int_order_changes).
-- A full build reads none of it: then it is empty.

{% if not incremental_facts_run() %}

    select
        cast(null as {{ dbt.type_string() }}) as order_id,
        cast(null as {{ dbt.type_string() }}) as store_code,
        cast(null as {{ dbt.type_string() }}) as order_no,
        cast(null as {{ dbt.type_string() }}) as source_order_id,
        cast(null as date) as built_order_date,
        cast(null as {{ dbt.type_string() }}) as built_member_id,
        cast(null as {{ dbt.type_string() }}) as built_order_type,
        cast(null as decimal(38, 2)) as built_gmv_amount,
        cast(null as date) as built_returned_in_full_date
    where 1 = 0

{% else %}

with

pos_lines as (select * from {{ ref('stg_pos__order_lines') }}),
miniapp_orders as (select * from {{ ref('stg_miniapp__orders') }}),
changed_flags as (select * from {{ ref('int_quality_flags_changed') }}),
pos_built as (select * from {{ built_before('int_orders__pos') }}),
miniapp_built as (select * from {{ built_before('int_orders__miniapp') }}),
orders_built as (select * from {{ built_before('int_orders_unioned') }}),

pos_tickets as (
    select
        store_code,
        order_no
    from pos_lines
    where {{ loaded_since_marts_build() }}
    union
    select
        store_code,
        order_no
    from pos_lines
    where {{ dq_record_key('pos_order_lines') }} in (
        select record_key from changed_flags where dataset = 'pos_order_lines'
    )
    union
    select
        pos_built.store_code,
        pos_built.order_no
    from pos_built
    {{ credited_member_joins('pos', 'pos_built') }}
    where {{ credited_member_id('pos') }} is distinct from pos_built.member_id
),

miniapp_order_ids as (
    select order_id as source_order_id
    from miniapp_orders
    where {{ loaded_since_marts_build() }}
    union
    select record_key as source_order_id
    from changed_flags
    where dataset = 'miniapp_orders'
    union
    select miniapp_built.source_order_id
    from miniapp_built
    {{ credited_member_joins('miniapp', 'miniapp_built') }}
    where {{ credited_member_id('miniapp') }} is distinct from miniapp_built.member_id
),

line_orders as (
    select
        'pos:' || store_code || ':' || order_no as order_id,
        store_code,
        order_no,
        cast(null as {{ dbt.type_string() }}) as source_order_id
    from pos_tickets
    union all
    select
        'mp:' || source_order_id as order_id,
        null as store_code,
        null as order_no,
        source_order_id
    from miniapp_order_ids
    union all
    select
        'mp:' || source_order_id || ':refund' as order_id,
        null as store_code,
        null as order_no,
        source_order_id
    from miniapp_order_ids
),

-- orders touched as a whole: the sale a touched return points at now, or did, and orders
-- whose order-level flags changed
orders_alone as (
    select 'pos:' || pos_lines.store_code || ':' || pos_lines.original_order_no as order_id
    from pos_lines
    inner join pos_tickets
        on pos_lines.store_code = pos_tickets.store_code and pos_lines.order_no = pos_tickets.order_no
    where pos_lines.order_type = 'return' and pos_lines.original_order_no is not null
    union
    select pos_built.original_order_id as order_id
    from pos_built
    inner join pos_tickets
        on pos_built.store_code = pos_tickets.store_code and pos_built.order_no = pos_tickets.order_no
    where pos_built.original_order_id is not null
    union
    select record_key as order_id
    from changed_flags
    where dataset = 'order_amounts'
),

touched as (
    select * from line_orders
    union all
    select
        order_id,
        null as store_code,
        null as order_no,
        null as source_order_id
    from orders_alone
),

final as (
    select
        touched.*,
        orders_built.order_date as built_order_date,
        orders_built.member_id as built_member_id,
        orders_built.order_type as built_order_type,
        orders_built.gmv_amount as built_gmv_amount,
        orders_built.returned_in_full_date as built_returned_in_full_date
    from touched
    left join orders_built on touched.order_id = orders_built.order_id
)

select * from final

{% endif %}
