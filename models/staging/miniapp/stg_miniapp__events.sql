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

latest as (
    select
        event_id,
        {{ pii_hash('openid') }} as openid_hash,
        {{ pii_hash('unionid') }} as unionid_hash,
        {{ business_time('event_time') }} as event_at,
        cast({{ business_time('event_time') }} as date) as event_date,
        event_name,
        page,
        sku_code,
        campaign_id,
        utm_source,
        utm_medium,
        utm_campaign,
        {{ pii_hash('shared_by_openid') }} as shared_by_openid_hash,
        _source_file,
        _source_line,
        _loaded_at
    from ranked
    where version_rank = 1
)

select * from latest
