-- Sufficient statistics for the effect of each coupon template whose campaign has a control
-- group (effect_method control_group): the campaign's treatment members issued this
-- template against the campaign's control group, over the campaign window, in the layout
-- of int_campaign_arm_stats (one stratum: the groups were randomly assigned).
with

outcomes as (select * from {{ ref('int_campaign_member_outcomes') }}),
issues as (select * from {{ ref('int_coupon_issues_enriched') }}),

issued_members as (
    select distinct
        template_id,
        campaign_id,
        member_id
    from issues
    where campaign_id is not null
),

arms as (
    select
        issued_members.template_id,
        outcomes.*
    from issued_members
    inner join outcomes
        on
            issued_members.campaign_id = outcomes.campaign_id
            and issued_members.member_id = outcomes.member_id
            and outcomes.arm = 'treatment'
    union all
    select
        templates_with_control.template_id,
        outcomes.*
    from (select distinct
        template_id,
        campaign_id
    from issued_members) as templates_with_control
    inner join outcomes
        on
            templates_with_control.campaign_id = outcomes.campaign_id
            and outcomes.arm = 'control'
),

final as (
    select
        template_id,
        arm,
        'all' as stratum,
        {{ effect_sufficient_stats() }}
    from arms
    where
        template_id in (
            select control_arms.template_id from arms as control_arms
            where control_arms.arm = 'control'
        )
    group by template_id, arm
)

select * from final
