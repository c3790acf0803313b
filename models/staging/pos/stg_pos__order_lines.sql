-- A corrected ticket line arrives in a later file: the newest delivery of a line wins.
-- Incremental: a run rebuilds only the lines its new deliveries touch (touched_keys_only).
{{ config(**keyed_incremental(['store_code', 'order_no', 'line_number'])) }}

with

source as (
    select * from {{ source('pos', 'order_lines') }}
    where
        {{ delivered_by_as_of() }}
        and {{ touched_keys_only(
            source('pos', 'order_lines'), ['store_code', 'order_no', 'line_no']
        ) }}
),

ranked as (
    select
        *,
        {{ copies_in_delivery('store_code, order_no, line_no') }} as _copies_in_delivery,
        {{ version_rank('store_code, order_no, line_no', '_dt desc, _loaded_at desc, _source_line desc') }}
            as version_rank
    from source
),

latest as (
    select
        store_code,
        order_no,
        line_no as line_number,
        {{ business_time('order_time') }} as ordered_at,
        cast({{ business_time('order_time') }} as date) as order_date,
        member_id,
        {{ pii_hash('mobile') }} as mobile_hash,
        sku_code,
        category,
        quantity,
        unit_price as unit_price_amount,
        discount_amount,
        paid_amount,
        coupon_code,
        payment_method,
        order_type,
        original_order_no,
        _copies_in_delivery,
        _source_file,
        _source_line,
        {{ loaded_or_erased_at() }} as _loaded_at
    from ranked
    where version_rank = 1
)

select * from latest
