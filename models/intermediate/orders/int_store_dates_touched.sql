-- The (channel, store_code, business_date) an incremental marts build recomputes in
-- mart_sales_reconciliation_reasons and mart_sales_reconciliation (macros/
-- incremental_store_dates.sql, DECISIONLOG "Incremental sales reconciliation"). A
-- store-day is touched when a change since the last finished marts build (var
-- marts_watermark) may move a delivered record into, out of or within it:
--   - a POS ticket or mini-program order with a row loaded since (raw, so a late older
--     version counts too), or that int_orders_touched lists (new deliveries, changed
--     Great Expectations flags of it or its lines, order-level flags, returns): every
--     date any delivered version of it names (its ticket date, before and after, is one
--     of its lines' dates; a mini-program order sits on its state's sale date and refund
--     date, and the state before and after is one of its versions), on its store;
--   - such an order's date in fct_orders, now and as the previous build had it
--     (int_orders_touched.built_order_date);
--   - a quarantine or ledger row recorded since (meta.quarantine.quarantined_at,
--     meta.load_ledger.recorded_at): where the rejected text places it, and its dt folder.
-- Store codes as the marts write them ('unknown' for none). Another as-of date, an erasure
-- or new code make the whole marts build full (memberdw.incremental). A full build reads
-- none of it: then it is empty.
{% if not incremental_facts_run() %}

    select
        cast(null as {{ dbt.type_string() }}) as channel,
        cast(null as {{ dbt.type_string() }}) as store_code,
        cast(null as date) as business_date
    where 1 = 0

{% else %}

with

pos_raw as (
    select * from {{ source('pos', 'order_lines') }}
    where {{ delivered_by_as_of() }}
),
miniapp_raw as (
    select * from {{ source('miniapp', 'orders') }}
    where {{ delivered_by_as_of() }}
),
quarantine as (select * from {{ source('meta', 'quarantine') }}),
ledger as (
    select * from {{ source('meta', 'load_ledger') }}
    where {{ delivered_by_as_of('dt') }}
),
touched_orders as (select * from {{ ref('int_orders_touched') }}),
orders as (select * from {{ ref('fct_orders') }}),

pos_tickets as (
    select
        store_code,
        order_no
    from pos_raw
    where {{ loaded_since_marts_build() }}
    union
    select
        store_code,
        order_no
    from touched_orders
    where store_code is not null
    union
    -- orders touched as a whole (returned sales, order-level flags): their ticket
    select
        orders.store_code,
        substr(orders.order_id, length(orders.store_code) + 6) as order_no
    from orders
    inner join touched_orders on orders.order_id = touched_orders.order_id
    where orders.channel = 'pos'
),

pos_versions as (
    select
        pos_raw.store_code,
        pos_raw.order_time
    from pos_raw
    inner join pos_tickets
        on pos_raw.store_code = pos_tickets.store_code and pos_raw.order_no = pos_tickets.order_no
    union all
    -- rows without a ticket key are placed by their own time
    select
        store_code,
        order_time
    from pos_raw
    where {{ loaded_since_marts_build() }}
),

miniapp_order_ids as (
    select order_id
    from miniapp_raw
    where {{ loaded_since_marts_build() }}
    union
    select source_order_id as order_id
    from touched_orders
    where source_order_id is not null
    union
    select substr(order_id, 4) as order_id
    from touched_orders
    where source_order_id is null and order_id like 'mp:%'
    union
    select substr(order_id, 4, length(order_id) - 10) as order_id
    from touched_orders
    where source_order_id is null and order_id like 'mp:%:refund'
),

miniapp_versions as (
    select
        miniapp_raw.order_id,
        miniapp_raw.store_code,
        cast(
            coalesce(
                {{ business_time('miniapp_raw.paid_at') }},
                {{ business_time('miniapp_raw.created_at') }}
            ) as date
        ) as sale_date,
        cast({{ business_time('miniapp_raw.updated_at') }} as date) as refund_date
    from miniapp_raw
    inner join miniapp_order_ids on miniapp_raw.order_id = miniapp_order_ids.order_id
),

-- the previous build's date of a touched order, on its store (POS: the ticket's; a
-- mini-program order: every store its versions or its fact name)
built_orders as (
    select
        touched_orders.order_id,
        touched_orders.built_order_date,
        coalesce(touched_orders.store_code, orders.store_code) as store_code,
        coalesce(
            touched_orders.source_order_id,
            case when touched_orders.order_id like 'mp:%' then substr(touched_orders.order_id, 4) end
        ) as source_order_id
    from touched_orders
    left join orders on touched_orders.order_id = orders.order_id
    where touched_orders.built_order_date is not null
),

rejected_text as (
    select
        quarantine.source,
        ledger.dt,
        {{ try_parse_json('quarantine.raw_record') }} as record
    from quarantine
    inner join ledger on quarantine.load_id = ledger.load_id
    where
        {{ rejected_sale('quarantine') }}
        and (
            {{ loaded_since_marts_build('quarantine.quarantined_at') }}
            or {{ loaded_since_marts_build('ledger.recorded_at') }}
        )
),

rejected_fields as (
    select
        source,
        dt,
        {{ rejected_sale_fields('record') }}
    from rejected_text
),

touched as (
    select
        'pos' as channel,
        store_code,
        cast({{ business_time('order_time') }} as date) as business_date
    from pos_versions
    union
    select
        'miniapp' as channel,
        store_code,
        sale_date as business_date
    from miniapp_versions
    union
    select
        'miniapp' as channel,
        store_code,
        refund_date as business_date
    from miniapp_versions
    union
    select
        channel,
        store_code,
        order_date as business_date
    from orders
    where orders.order_id in (select touched_orders.order_id from touched_orders)
    union
    select
        'pos' as channel,
        store_code,
        built_order_date as business_date
    from built_orders
    where order_id like 'pos:%'
    union
    select
        'miniapp' as channel,
        built_orders.store_code,
        built_orders.built_order_date as business_date
    from built_orders
    where built_orders.order_id like 'mp:%'
    union
    select
        'miniapp' as channel,
        miniapp_versions.store_code,
        built_orders.built_order_date as business_date
    from built_orders
    inner join miniapp_versions on built_orders.source_order_id = miniapp_versions.order_id
    where built_orders.order_id like 'mp:%'
    union
    select
        source as channel,
        store_code,
        {{ rejected_sale_date() }} as business_date
    from rejected_fields
    union
    select
        source as channel,
        store_code,
        dt as business_date
    from rejected_fields
),

final as (
    select distinct
        channel,
        coalesce(store_code, 'unknown') as store_code,
        business_date
    from touched
    where business_date is not null
)

select * from final

{% endif %}
