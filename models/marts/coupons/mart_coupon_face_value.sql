-- Face-value sensitivity (面额敏感度): per coupon type and face value, over its templates,
-- the funnel, usage rate, redeemer AOV and incremental GMV per issued coupon (templates
-- with an effect estimate only), so "is 10 yuan worth more than 5?" is one query.
with

effects as (select * from {{ ref('mart_coupon_effect') }}),

final as (
    select
        coupon_type,
        face_value_amount,
        cast(count(*) as bigint) as template_count,
        cast(sum(issued_count) as bigint) as issued_count,
        cast(sum(claimed_count) as bigint) as claimed_count,
        cast(sum(redeemed_count) as bigint) as redeemed_count,
        {{ ratio('sum(claimed_count)', 'sum(issued_count)') }} as claim_rate,
        {{ ratio('sum(redeemed_count)', 'sum(claimed_count)') }} as usage_rate,
        cast(
            {{ ratio('sum(redeemer_aov_amount * redeemer_count)',
                     'sum(case when redeemer_aov_amount is not null then redeemer_count end)') }}
            as decimal(18, 2)
        ) as redeemer_aov_amount,
        {{ double_to_decimal('sum(incremental_gmv_amount)') }} as incremental_gmv_amount,
        {{ ratio('sum(incremental_gmv_amount)',
                 'sum(case when incremental_gmv_amount is not null then issued_count end)') }}
            as incremental_gmv_per_issued_amount,
        cast(sum(cost_amount) as decimal(18, 2)) as cost_amount
    from effects
    group by coupon_type, face_value_amount
)

select * from final
