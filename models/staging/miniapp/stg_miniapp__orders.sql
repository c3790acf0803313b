-- An order is re-sent on every status change: the newest updated_at is its state.
{{ config(**keyed_incremental(['order_id'])) }}

with

source as (
    select * from {{ source('miniapp', 'orders') }}
    where
        {{ delivered_by_as_of() }}
        and {{ touched_keys_only(source('miniapp', 'orders'), ['order_id']) }}
),

ranked as (
    select
        *,
        {{ copies_in_delivery('order_id, updated_at') }} as _copies_in_delivery,
        {{ version_rank('order_id', 'updated_at desc, _dt desc, _loaded_at desc, _source_line desc') }}
            as version_rank
    from source
),

latest as (
    select
        order_id,
        {{ pii_hash('openid') }} as openid_hash,
        {{ pii_hash('unionid') }} as unionid_hash,
        member_id,
        store_code,
        {{ business_time('created_at') }} as created_at,
        {{ business_time('paid_at') }} as paid_at,
        {{ business_time('updated_at') }} as updated_at,
        status,
        items,
        coupon_codes,
        total_paid as total_paid_amount,
        utm_source,
        utm_medium,
        utm_campaign,
        {{ pii_hash('shared_by_openid') }} as shared_by_openid_hash,
        _copies_in_delivery,
        _source_file,
        _source_line,
        _loaded_at
    from ranked
    where version_rank = 1
)

select * from latest
