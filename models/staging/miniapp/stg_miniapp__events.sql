{{ config(**keyed_incremental(['event_id'])) }}

with

source as (
    select * from {{ source('miniapp', 'events') }}
    where
        {{ delivered_by_as_of() }}
        and {{ touched_keys_only(source('miniapp', 'events'), ['event_id']) }}
),

ranked as (
    select
        *,
        {{ version_rank('event_id', '_dt desc, _loaded_at desc, _source_line desc') }} as version_rank
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
        newest.event_id,
        openid_hashed.value_hash as openid_hash,
        unionid_hashed.value_hash as unionid_hash,
        {{ business_time('newest.event_time') }} as event_at,
        cast({{ business_time('newest.event_time') }} as date) as event_date,
        newest.event_name,
        newest.page,
        newest.sku_code,
        newest.campaign_id,
        newest.utm_source,
        newest.utm_medium,
        newest.utm_campaign,
        shared_by_hashed.value_hash as shared_by_openid_hash,
        newest._source_file,
        newest._source_line,
        {{ loaded_or_erased_at('newest') }} as _loaded_at
    from newest
    left join hashed as openid_hashed on newest.openid = openid_hashed.value
    left join hashed as unionid_hashed on newest.unionid = unionid_hashed.value
    left join hashed as shared_by_hashed on newest.shared_by_openid = shared_by_hashed.value
)

select * from latest
