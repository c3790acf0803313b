-- POS ticket lines that make it into the marts: a ticket with any line Great Expectations
-- quarantined (unknown store or member, invalid enum, sign mismatch, future date) is left
-- out whole; the flagged rows stay listed in meta.dq_row_flags with their rule.
with

lines as (select * from {{ ref('stg_pos__order_lines') }}),
flags as (select * from {{ ref('int_quality_flags') }}),

quarantined_lines as (
    select record_key
    from flags
    where dataset = 'pos_order_lines' and action = 'quarantine'
),

quarantined_tickets as (
    select distinct
        store_code,
        order_no
    from lines
    where
        concat_ws('|', store_code, order_no, cast(line_number as varchar))
        in (select quarantined_lines.record_key from quarantined_lines)
),

kept_lines as (
    select lines.*
    from lines
    where not exists (
        select 1
        from quarantined_tickets
        where
            quarantined_tickets.store_code = lines.store_code
            and quarantined_tickets.order_no = lines.order_no
    )
)

select * from kept_lines
