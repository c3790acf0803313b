{{ config(**keyed_incremental(['campaign_id', 'member_id', 'channel', 'sent_at'], member_key='member_id')) }}

with

source as (
    select * from {{ source('marketing', 'campaign_touches') }}
    where
        {{ delivered_by_as_of() }}
        and {{ touched_keys_only(
            source('marketing', 'campaign_touches'), ['campaign_id', 'member_id', 'channel', 'sent_at']
        ) }}
),

ranked as (
    select
        *,
        {{ version_rank('campaign_id, member_id, channel, sent_at',
                        '_dt desc, _loaded_at desc, _source_line desc') }} as version_rank
    from source
),

latest as (
    select
        campaign_id,
        member_id,
        channel,
        {{ business_time('sent_at') }} as sent_at,
        delivered as is_delivered,
        {{ business_time('opened_at') }} as opened_at,
        {{ business_time('clicked_at') }} as clicked_at,
        _source_file,
        _source_line,
        {{ loaded_or_erased_at() }} as _loaded_at
    from ranked
    where version_rank = 1
)

select * from latest
