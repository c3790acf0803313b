-- Where every delivered sales record went, per channel, store, business date, outcome and
-- reason. The audit reads raw and meta itself: it must see what staging leaves out (older
-- versions, rows that did not parse), which no staging model shows.
-- Incremental by store-day (macros/incremental_store_dates.sql): a marts build recomputes
-- the (channel, store_code, business_date) int_store_dates_touched lists, from the tickets
-- and orders that may sit on them, and keeps the rest; a full build is the query below
-- without the filters.
{{ config(**store_dates_incremental()) }}
{%- set some_store_days = store_dates_run() %}

with
{% if some_store_days %}
touched as (
    select
        channel,
        store_code,
        business_date
    from {{ ref('int_store_dates_touched') }}
),
pos_touched as (
    select
        store_code,
        business_date
    from touched
    where channel = 'pos'
),
miniapp_touched as (
    select
        store_code,
        business_date
    from touched
    where channel = 'miniapp'
),

-- A ticket is dated on one of its current lines' dates (fct_orders: the earliest), so the
-- tickets of a touched store-day have a current line on it.
pos_tickets_in_scope as (
    select distinct
        current_lines.store_code,
        current_lines.order_no
    from {{ ref('stg_pos__order_lines') }} as current_lines
    inner join pos_touched
        on
            current_lines.store_code = pos_touched.store_code
            and current_lines.order_date = pos_touched.business_date
),

-- A mini-program order sits on its state's store and sale date, its refund on the refund
-- date.
miniapp_orders_in_scope as (
    select current_orders.order_id
    from {{ ref('stg_miniapp__orders') }} as current_orders
    inner join miniapp_touched
        on
            coalesce(current_orders.store_code, 'unknown') = miniapp_touched.store_code
            and cast(coalesce(current_orders.paid_at, current_orders.created_at) as date)
            = miniapp_touched.business_date
    union
    select current_orders.order_id
    from {{ ref('stg_miniapp__orders') }} as current_orders
    inner join miniapp_touched
        on
            coalesce(current_orders.store_code, 'unknown') = miniapp_touched.store_code
            and cast(current_orders.updated_at as date) = miniapp_touched.business_date
),
{% endif %}
pos_raw as (
    select * from {{ source('pos', 'order_lines') }}
    {%- if some_store_days %}
        where
            {{ delivered_by_as_of() }}
            and (
                (store_code, order_no) in (
                    select
                        pos_tickets_in_scope.store_code,
                        pos_tickets_in_scope.order_no
                    from pos_tickets_in_scope
                )
                -- a row without a ticket key is placed by its own time
                or (
                    (store_code is null or order_no is null)
                    and (
                        coalesce(store_code, 'unknown'),
                        cast({{ business_time('order_time') }} as date)
                    ) in (
                        select
                            pos_touched.store_code,
                            pos_touched.business_date
                        from pos_touched
                    )
                )
            )
    {%- else %}
        where {{ delivered_by_as_of() }}
    {%- endif %}
),
miniapp_raw as (
    select * from {{ source('miniapp', 'orders') }}
    {%- if some_store_days %}
        where
            {{ delivered_by_as_of() }}
            and order_id in (select miniapp_orders_in_scope.order_id from miniapp_orders_in_scope)
    {%- else %}
        where {{ delivered_by_as_of() }}
    {%- endif %}
),
quarantine as (select * from {{ source('meta', 'quarantine') }}),
ledger as (
    select * from {{ source('meta', 'load_ledger') }}
    where {{ delivered_by_as_of('dt') }}
),
pos_lines as (
    select * from {{ ref('stg_pos__order_lines') }}
    {%- if some_store_days %}
        where
            (store_code, order_no) in (
                select
                    pos_tickets_in_scope.store_code,
                    pos_tickets_in_scope.order_no
                from pos_tickets_in_scope
            )
    {%- endif %}
),
miniapp_orders as (
    select * from {{ ref('stg_miniapp__orders') }}
    {%- if some_store_days %}
        where order_id in (select miniapp_orders_in_scope.order_id from miniapp_orders_in_scope)
    {%- endif %}
),
flags as (select * from {{ ref('int_quality_flags') }}),
orders as (select * from {{ ref('fct_orders') }}),

-- Row verdicts on one delivered record, joined on its source file and line.
record_flags as (
    select distinct
        'pos' as channel,
        action,
        rule,
        source_file,
        source_line
    from flags
    where {{ dq_flags_of('pos_order_lines') }}
    union all
    select distinct
        'miniapp' as channel,
        action,
        rule,
        source_file,
        source_line
    from flags
    where {{ dq_flags_of('miniapp_orders') }}
),

-- Review verdicts on a whole order (amount_outlier), keyed by fct_orders.order_id: they
-- apply to every current record of the order.
order_flags as (
    select distinct
        record_key as order_id,
        action,
        rule
    from flags
    where {{ dq_flags_of('order_amounts', action='review') }}
),

order_review_flags as (
    select
        'pos' as channel,
        order_flags.action,
        order_flags.rule,
        pos_lines._source_file as source_file,
        pos_lines._source_line as source_line
    from order_flags
    inner join pos_lines
        on order_flags.order_id = 'pos:' || pos_lines.store_code || ':' || pos_lines.order_no
    union all
    select
        'miniapp' as channel,
        order_flags.action,
        order_flags.rule,
        miniapp_orders._source_file as source_file,
        miniapp_orders._source_line as source_line
    from order_flags
    inner join miniapp_orders on order_flags.order_id = 'mp:' || miniapp_orders.order_id
),

all_flags as (
    select * from record_flags
    union
    select * from order_review_flags
),

-- Several rules on one record name it once, under all its rules (`rule_a + rule_b`).
record_rules as (
    select
        channel,
        source_file,
        source_line,
        {{ listagg("case when action = 'quarantine' then rule end", "' + '", 'order by rule') }}
            as quarantine_rules,
        {{ listagg("case when action = 'review' then rule end", "' + '", 'order by rule') }}
            as review_rules
    from all_flags
    group by channel, source_file, source_line
),

-- A ticket's business date is the one fct_orders gives it; a ticket that is not published
-- takes the date of its earliest current line.
pos_ticket_dates as (
    select
        pos_lines.store_code,
        pos_lines.order_no,
        coalesce(max(orders.order_date), min(pos_lines.order_date)) as business_date
    from pos_lines
    left join orders
        on
            orders.channel = 'pos'
            and orders.order_id = 'pos:' || pos_lines.store_code || ':' || pos_lines.order_no
    group by pos_lines.store_code, pos_lines.order_no
),

-- Each delivered line version against the current version of its line (staging's).
pos_versions as (
    select
        pos_raw.store_code,
        pos_raw.order_no,
        pos_raw.order_time,
        pos_raw.paid_amount,
        pos_raw._source_file,
        pos_raw._source_line,
        coalesce(
            pos_raw._source_file = pos_lines._source_file
            and pos_raw._source_line = pos_lines._source_line,
            false
        ) as is_newest,
        coalesce(pos_raw._source_file = pos_lines._source_file, false) as is_same_file
    from pos_raw
    left join pos_lines
        on
            pos_raw.store_code = pos_lines.store_code
            and pos_raw.order_no = pos_lines.order_no
            and pos_raw.line_no = pos_lines.line_number
),

pos_records as (
    select
        'pos' as channel,
        pos_versions.store_code,
        coalesce(
            pos_ticket_dates.business_date,
            cast({{ business_time('pos_versions.order_time') }} as date)
        ) as business_date,
        case
            when not pos_versions.is_newest then 'superseded'
            when record_rules.quarantine_rules is not null then 'quarantined'
            when record_rules.review_rules is not null then 'review'
            else 'kept'
        end as outcome,
        case
            when not pos_versions.is_newest and pos_versions.is_same_file then 'repeated_in_file'
            when not pos_versions.is_newest then 'newer_version'
            when record_rules.quarantine_rules is not null then record_rules.quarantine_rules
            when record_rules.review_rules is not null then record_rules.review_rules
            else 'no_flag'
        end as reason,
        1 as row_count,
        pos_versions.paid_amount
    from pos_versions
    left join pos_ticket_dates
        on
            pos_versions.store_code = pos_ticket_dates.store_code
            and pos_versions.order_no = pos_ticket_dates.order_no
    left join record_rules
        on
            record_rules.channel = 'pos'
            and pos_versions._source_file = record_rules.source_file
            and pos_versions._source_line = record_rules.source_line
),

-- The newest version of each order is its state (staging's rule): it is sold on its
-- payment date (else creation date) and, when refunded, given back on its refund date.
miniapp_states as (
    select
        miniapp_orders.order_id,
        miniapp_orders.store_code,
        miniapp_orders.status,
        miniapp_orders._source_file,
        miniapp_orders._source_line,
        cast(coalesce(miniapp_orders.paid_at, miniapp_orders.created_at) as date) as sale_date,
        cast(miniapp_orders.updated_at as date) as refund_date,
        case
            when miniapp_orders.status in ('paid', 'shipped', 'completed', 'refunded')
                then miniapp_orders.total_paid_amount
            else 0
        end as sale_amount,
        case
            when record_rules.quarantine_rules is not null then 'quarantined'
            when miniapp_orders.status not in ('paid', 'shipped', 'completed', 'refunded')
                then 'not_a_sale'
            when record_rules.review_rules is not null then 'review'
            else 'kept'
        end as outcome,
        case
            when record_rules.quarantine_rules is not null then record_rules.quarantine_rules
            when miniapp_orders.status not in ('paid', 'shipped', 'completed', 'refunded')
                then 'status:' || coalesce(miniapp_orders.status, 'null')
            when record_rules.review_rules is not null then record_rules.review_rules
            else 'no_flag'
        end as reason
    from miniapp_orders
    left join record_rules
        on
            record_rules.channel = 'miniapp'
            and miniapp_orders._source_file = record_rules.source_file
            and miniapp_orders._source_line = record_rules.source_line
),

-- Every delivered version is a row of its order, on the order's store and sale date.
miniapp_versions as (
    select
        miniapp_states.store_code,
        miniapp_states.sale_date,
        miniapp_states.outcome,
        miniapp_states.reason,
        miniapp_states.sale_amount,
        coalesce(
            miniapp_raw._source_file = miniapp_states._source_file
            and miniapp_raw._source_line = miniapp_states._source_line,
            false
        ) as is_newest
    from miniapp_raw
    inner join miniapp_states on miniapp_raw.order_id = miniapp_states.order_id
),

-- Only the newest version carries the order's amount: versions restate one order, they
-- do not add up.
miniapp_records as (
    select
        'miniapp' as channel,
        store_code,
        sale_date as business_date,
        case when is_newest then outcome else 'superseded' end as outcome,
        case when is_newest then reason else 'newer_version' end as reason,
        1 as row_count,
        case when is_newest then sale_amount else 0 end as paid_amount
    from miniapp_versions
),

-- A refunded order's money goes back on its refund date: a movement of no delivered row.
miniapp_refunds as (
    select
        'miniapp' as channel,
        store_code,
        refund_date as business_date,
        outcome,
        reason,
        0 as row_count,
        -sale_amount as paid_amount
    from miniapp_states
    where status = 'refunded'
),

-- Rows that did not parse: their store and date as far as the delivered text tells
-- (typed rows keep it as JSON), else the file's dt folder and store 'unknown'. Their
-- amount is unknown.
rejected_text as (
    select
        quarantine.source,
        quarantine.reason,
        ledger.dt,
        {{ try_parse_json('quarantine.raw_record') }} as record
    from quarantine
    inner join ledger on quarantine.load_id = ledger.load_id
    where {{ rejected_sale('quarantine') }}
),

rejected_fields as (
    select
        source,
        reason,
        dt,
        {{ rejected_sale_fields('record') }}
    from rejected_text
),

rejected_records as (
    select
        source as channel,
        coalesce(store_code, 'unknown') as store_code,
        {{ rejected_sale_date() }} as business_date,
        'parse_rejected' as outcome,
        reason,
        1 as row_count,
        cast(null as decimal(18, 2)) as paid_amount
    from rejected_fields
),

outcomes as (
    select
        channel,
        store_code,
        business_date,
        outcome,
        reason,
        row_count,
        paid_amount
    from pos_records
    union all
    select
        channel,
        store_code,
        business_date,
        outcome,
        reason,
        row_count,
        paid_amount
    from miniapp_records
    union all
    select
        channel,
        store_code,
        business_date,
        outcome,
        reason,
        row_count,
        paid_amount
    from miniapp_refunds
    union all
    select
        channel,
        store_code,
        business_date,
        outcome,
        reason,
        row_count,
        paid_amount
    from rejected_records
),

final as (
    select
        channel,
        coalesce(store_code, 'unknown') as store_code,
        business_date,
        outcome,
        reason,
        cast(sum(row_count) as bigint) as row_count,
        cast(sum(paid_amount) as decimal(18, 2)) as paid_amount
    from outcomes
    group by channel, coalesce(store_code, 'unknown'), business_date, outcome, reason
)

select * from final
where {{ touched_store_dates_only('channel, store_code, business_date') }}
