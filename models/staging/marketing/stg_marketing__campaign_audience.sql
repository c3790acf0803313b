{{ config(**keyed_incremental(['campaign_id', 'member_id'], member_key='member_id')) }}

with

source as (
    select * from {{ source('marketing', 'campaign_audience') }}
    where
        {{ delivered_by_as_of() }}
        and {{ touched_keys_only(source('marketing', 'campaign_audience'), ['campaign_id', 'member_id']) }}
),

ranked as (
    select
        *,
        {{ version_rank('campaign_id, member_id', '_dt desc, _loaded_at desc, _source_line desc') }}
            as version_rank
    from source
),

latest as (
    select
        campaign_id,
        member_id,
        {{ adapter.quote('group') }} as audience_group,
        {{ business_time('assigned_at') }} as assigned_at,
        _source_file,
        _source_line,
        {{ loaded_or_erased_at() }} as _loaded_at
    from ranked
    where version_rank = 1
)

select * from latest
