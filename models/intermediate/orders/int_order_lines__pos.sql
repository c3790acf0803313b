-- POS ticket lines that make it into the marts, at line grain: a line Great Expectations
-- quarantined (unknown store, invalid order type, future date) leaves only itself out,
-- never the other lines of its ticket; a line flagged for review (zero quantity, gift,
-- price adjustment, sign mismatch ...) stays and carries is_needs_review. Every flag
-- stays listed in meta.dq_row_flags with its rule, source file and line.
-- Incremental: a run rebuilds the tickets int_orders_touched lists.
{{ config(**order_facts_incremental('pos_ticket', 'store_code, order_no')) }}

with

lines as (
    select * from {{ ref('stg_pos__order_lines') }}
    where {{ touched_orders_only('pos_ticket', 'store_code, order_no') }}
),
flags as (select * from {{ ref('int_quality_flags') }}),

quarantined_lines as (
    select distinct record_key
    from flags
    where {{ dq_flags_of('pos_order_lines', action='quarantine') }}
),

review_lines as (
    select distinct record_key
    from flags
    where {{ dq_flags_of('pos_order_lines', action='review') }}
),

kept_lines as (
    select
        lines.*,
        review_lines.record_key is not null as is_needs_review
    from lines
    left join review_lines on {{ dq_record_key('pos_order_lines') }} = review_lines.record_key
    where {{ dq_record_key('pos_order_lines') }} not in (
        select quarantined_lines.record_key from quarantined_lines
    )
)

select * from kept_lines
