-- A code redeemed twice stays twice here (the marts count it once and flag the repeat);
-- only the same redemption delivered again is collapsed.
{{ config(**keyed_incremental(['coupon_code'])) }}

with

source as (
    select * from {{ source('marketing', 'coupon_redemptions') }}
    where
        {{ delivered_by_as_of() }}
        and {{ touched_keys_only(source('marketing', 'coupon_redemptions'), ['coupon_code']) }}
),

ranked as (
    select
        *,
        {{ version_rank("coupon_code, redeemed_at, coalesce(order_ref, '')",
                        '_dt desc, _loaded_at desc, _source_line desc') }} as version_rank
    from source
),

latest as (
    select
        coupon_code,
        member_id,
        {{ business_time('redeemed_at') }} as redeemed_at,
        order_ref,
        store_code,
        discount_amount,
        _source_file,
        _source_line,
        {{ loaded_or_erased_at() }} as _loaded_at
    from ranked
    where version_rank = 1
)

select * from latest
