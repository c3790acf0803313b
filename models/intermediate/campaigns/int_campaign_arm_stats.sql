-- Sufficient statistics of each campaign arm (treatment, control, lookalike) per stratum
-- (pre-campaign value group), for the effect estimates in int_campaign_effects: member and
-- converter counts (intent to treat: any purchase in the window), and sums, squares and the
-- cross product of window GMV (y) and pre-window GMV (x, the CUPED covariate).
with

outcomes as (select * from {{ ref('int_campaign_member_outcomes') }}),

final as (
    select
        campaign_id,
        arm,
        value_group as stratum,
        {{ effect_sufficient_stats() }}
    from outcomes
    group by campaign_id, arm, value_group
)

select * from final
