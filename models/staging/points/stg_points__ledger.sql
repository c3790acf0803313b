{{ config(**keyed_incremental(['entry_id'])) }}

with

source as (
    select * from {{ source('points', 'ledger') }}
    where
        {{ delivered_by_as_of() }}
        and {{ touched_keys_only(source('points', 'ledger'), ['entry_id']) }}
),

ranked as (
    select
        *,
        {{ copies_in_delivery('entry_id') }} as _copies_in_delivery,
        {{ version_rank('entry_id', '_dt desc, _loaded_at desc, _source_line desc') }} as version_rank
    from source
),

latest as (
    select
        entry_id,
        member_id,
        {{ business_time('occurred_at') }} as occurred_at,
        points,
        reason,
        campaign_id,
        gift_sku,
        gift_cost as gift_cost_amount,
        _copies_in_delivery,
        _source_file,
        _source_line,
        {{ loaded_or_erased_at() }} as _loaded_at
    from ranked
    where version_rank = 1
)

select * from latest
