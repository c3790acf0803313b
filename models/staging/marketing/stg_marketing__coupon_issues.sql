{{ config(**keyed_incremental(['coupon_code'])) }}

with

source as (
    select * from {{ source('marketing', 'coupon_issues') }}
    where
        {{ delivered_by_as_of() }}
        and {{ touched_keys_only(source('marketing', 'coupon_issues'), ['coupon_code']) }}
),

ranked as (
    select
        *,
        {{ copies_in_delivery('coupon_code') }} as _copies_in_delivery,
        {{ version_rank('coupon_code', '_dt desc, _loaded_at desc, _source_line desc') }} as version_rank
    from source
),

latest as (
    select
        coupon_code,
        template_id,
        member_id,
        campaign_id,
        {{ business_time('issued_at') }} as issued_at,
        {{ business_time('claimed_at') }} as claimed_at,
        channel,
        {{ business_time('expires_at') }} as expires_at,
        _copies_in_delivery,
        _source_file,
        _source_line,
        {{ loaded_or_erased_at() }} as _loaded_at
    from ranked
    where version_rank = 1
)

select * from latest
