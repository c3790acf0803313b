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

newest as (
    select * from ranked
    where version_rank = 1
),

hashed as (
    {{ pii_hashed_values('newest', ['openid', 'unionid', 'shared_by_openid']) }}
),

latest as (
    select
        newest.order_id,
        openid_hashed.value_hash as openid_hash,
        unionid_hashed.value_hash as unionid_hash,
        newest.member_id,
        newest.store_code,
        {{ business_time('newest.created_at') }} as created_at,
        {{ business_time('newest.paid_at') }} as paid_at,
        {{ business_time('newest.updated_at') }} as updated_at,
        newest.status,
        newest.items,
        newest.coupon_codes,
        newest.total_paid as total_paid_amount,
        newest.utm_source,
        newest.utm_medium,
        newest.utm_campaign,
        shared_by_hashed.value_hash as shared_by_openid_hash,
        newest._copies_in_delivery,
        newest._source_file,
        newest._source_line,
        {{ loaded_or_erased_at('newest') }} as _loaded_at
    from newest
    left join hashed as openid_hashed on newest.openid = openid_hashed.value
    left join hashed as unionid_hashed on newest.unionid = unionid_hashed.value
    left join hashed as shared_by_hashed on newest.shared_by_openid = shared_by_hashed.value
)

select * from latest
