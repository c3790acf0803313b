-- Sufficient statistics for the effect of each coupon template, per effect method, arm and
-- stratum (int_coupon_effect_members), in the layout of int_campaign_arm_stats.
with

effect_members as (select * from {{ ref('int_coupon_effect_members') }}),

final as (
    select
        template_id,
        effect_method,
        arm,
        stratum,
        {{ effect_sufficient_stats() }}
    from effect_members
    group by template_id, effect_method, arm, stratum
)

select * from final
