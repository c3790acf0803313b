-- One row per coupon template, comparison arm, stratum and person: the members whose window
-- GMV each template's incremental GMV compares (int_coupon_arm_stats, int_coupon_effects).
-- effect_method control_group, when the template's campaign has a control group: the
-- campaign's treatment members issued the template against its whole control group over the
-- campaign window (outcomes from int_campaign_member_outcomes; one stratum, 'all').
-- effect_method diff_in_diff, otherwise: every person issued the template (intent to treat:
-- claimed or not), at their first issue, against the persons never issued it (arm
-- lookalike), both registered before the wave's pre-window began (see did_arms), stratified
-- by wave and pre-period RFM segment. A wave is one effect window: the campaign window for a
-- campaign's coupon, else the issue date to the expiry date; the segment is the member's at
-- the newest RFM snapshot before the wave (a month end, or the campaign's eve; 'none': no
-- purchase by then). The lookalike arm is drawn from int_lookalike_panel, a fixed
-- pseudo-random panel of members (all of them up to var lookalike_panel_size). gmv_amount
-- is the GMV in the window and pre_gmv_amount in the equal-length window before it, so the
-- estimate is the difference in differences. A person counts once per template and wave.
-- Row budget: the lookalike arm is waves x panel rows (a coupon without a campaign has a
-- wave per issue day: 121 waves, 8.7M rows at 300,000 members and 60 days), growing with the
-- days however small the panel. Each wave therefore takes the panel members whose panel_rank
-- is at most var lookalike_row_budget / the number of waves (all of the panel while waves x
-- panel fits the budget, so small builds are unchanged; none if there are more waves than
-- the budget, and no estimate then). A prefix of the panel's hash order is itself a
-- pseudo-random sample that says nothing about how a member buys, so each stratum's mean is
-- still estimated without bias; the interval, from the arm's own counts and variances,
-- widens as the arm shrinks. Window GMV is worked out per arm member from that member's
-- orders alone (a join on member_id, then the dates), not for every member with an order in
-- every wave's window and joined afterwards.
with

issues as (select * from {{ ref('int_coupon_issues_enriched') }}),
campaigns as (select * from {{ ref('int_campaign_windows') }}),
outcomes as (select * from {{ ref('int_campaign_member_outcomes') }}),
members as (select * from {{ ref('int_members_resolved') }}),
panel as (select * from {{ ref('int_lookalike_panel') }}),
rfm as (select * from {{ ref('int_member_rfm') }}),
snapshot_dates as (select * from {{ ref('int_rfm_snapshot_dates') }}),

-- orders of the members either arm can hold (window_member_outcomes reads `orders`)
orders as (
    select *
    from {{ ref('int_orders_unioned') }}
    where
        member_id in (select panel.member_id from panel)
        or member_id in (select issues.member_id from issues)
),

-- (template, campaign) pairs whose campaign has a control group (a semi-join: joining the
-- issues to every control member and then taking distinct pairs was issues x control
-- members per campaign, 7.6 billion rows at 300,000 members)
control_pairs as (
    select distinct
        issues.template_id,
        issues.campaign_id
    from issues
    where
        issues.campaign_id in (
            select outcomes.campaign_id from outcomes
            where outcomes.arm = 'control'
        )
),

control_group_members as (
    select
        control_pairs.template_id,
        'control_group' as effect_method,
        outcomes.arm,
        'all' as stratum,
        outcomes.member_id,
        campaigns.start_date as window_start_date,
        campaigns.end_date as window_end_date,
        outcomes.has_purchase,
        outcomes.gmv_amount,
        outcomes.pre_gmv_amount
    from control_pairs
    inner join campaigns on control_pairs.campaign_id = campaigns.campaign_id
    inner join outcomes on control_pairs.campaign_id = outcomes.campaign_id
    where
        outcomes.arm = 'control'
        or (
            outcomes.arm = 'treatment'
            and exists (
                select 1
                from issues
                where
                    issues.template_id = control_pairs.template_id
                    and issues.member_id = outcomes.member_id
            )
        )
),

-- diff_in_diff: each person's first issue of a template without a control group
first_issues as (
    select
        issues.template_id,
        issues.member_id,
        coalesce(campaigns.start_date, issues.issued_date) as start_date,
        coalesce(campaigns.end_date, cast(issues.expires_at as date)) as end_date,
        row_number() over (
            partition by issues.template_id, issues.member_id
            order by issues.issued_at nulls last, issues.coupon_code
        ) as issue_rank
    from issues
    left join campaigns on issues.campaign_id = campaigns.campaign_id
    where issues.template_id not in (select control_pairs.template_id from control_pairs)
),

treated as (
    select
        template_id,
        member_id,
        start_date,
        end_date
    from first_issues
    where issue_rank = 1
),

waves as (
    select distinct
        template_id,
        start_date,
        end_date,
        {% set days_in_window = dbt.datediff('start_date', 'end_date', 'day') ~ ' + 1' -%}
        cast({{ dbt.dateadd('day', '-(' ~ days_in_window ~ ')', 'start_date') }} as date)
            as pre_start_date,
        cast({{ dbt.dateadd('day', -1, 'start_date') }} as date) as pre_end_date
    from treated
),

-- the panel members each wave's lookalike arm may hold: the first lookalike_row_budget /
-- waves by panel_rank (the whole panel while waves x panel is within the budget)
lookalike_pool as (
    select
        panel.member_id,
        members.register_date
    from panel
    inner join members on panel.member_id = members.member_id
    where panel.panel_rank <= (select {{ var('lookalike_row_budget') }} / nullif(count(*), 0) from waves)
),

wave_snapshots as (
    select
        waves.template_id,
        waves.start_date,
        waves.end_date,
        max(snapshot_dates.as_of_date) as snapshot_date
    from waves
    inner join snapshot_dates on waves.start_date > snapshot_dates.as_of_date
    group by waves.template_id, waves.start_date, waves.end_date
),

-- both arms: members registered before the wave's pre-window, so every compared member has
-- a whole pre-period; an issued person who was not (or is no longer a member: erased) stays
-- in the treatment arm under stratum 'unmatched', which has no comparison members, so the
-- estimate leaves them out and counts them (unmatched_treatment_count)
did_arms as (
    select
        treated.template_id,
        'treatment' as arm,
        treated.member_id,
        treated.start_date,
        treated.end_date,
        waves.pre_start_date,
        waves.pre_end_date,
        coalesce(members.register_date < waves.pre_start_date, false) as has_pre_period
    from treated
    inner join waves
        on
            treated.template_id = waves.template_id
            and treated.start_date = waves.start_date
            and treated.end_date = waves.end_date
    left join members on treated.member_id = members.member_id
    union all
    select
        waves.template_id,
        'lookalike' as arm,
        lookalike_pool.member_id,
        waves.start_date,
        waves.end_date,
        waves.pre_start_date,
        waves.pre_end_date,
        true as has_pre_period
    from waves
    inner join lookalike_pool on waves.pre_start_date > lookalike_pool.register_date
    where
        not exists (
            select 1
            from first_issues
            where
                first_issues.template_id = waves.template_id
                and first_issues.member_id = lookalike_pool.member_id
        )
),

-- one row per arm member and wave (the arms are disjoint: a lookalike was never issued the
-- template), each member's own orders only
wave_outcomes as (
    {{ window_member_outcomes('did_arms', ['template_id', 'start_date', 'end_date'], by_member=true) }}
),

did_members as (
    select
        did_arms.template_id,
        'diff_in_diff' as effect_method,
        did_arms.arm,
        case
            when did_arms.has_pre_period
                then {{ dbt.concat([
                    dbt.cast('did_arms.start_date', dbt.type_string()),
                    dbt.string_literal(' '),
                    "coalesce(rfm.rfm_segment, 'none')",
                ]) }}
            else 'unmatched'
        end as stratum,
        did_arms.member_id,
        did_arms.start_date as window_start_date,
        did_arms.end_date as window_end_date,
        coalesce(wave_outcomes.has_purchase, false) as has_purchase,
        cast(coalesce(wave_outcomes.gmv_amount, 0) as decimal(18, 2)) as gmv_amount,
        cast(coalesce(wave_outcomes.pre_gmv_amount, 0) as decimal(18, 2)) as pre_gmv_amount
    from did_arms
    left join wave_snapshots
        on
            did_arms.template_id = wave_snapshots.template_id
            and did_arms.start_date = wave_snapshots.start_date
            and did_arms.end_date = wave_snapshots.end_date
    left join rfm
        on wave_snapshots.snapshot_date = rfm.as_of_date and did_arms.member_id = rfm.member_id
    left join wave_outcomes
        on
            did_arms.template_id = wave_outcomes.template_id
            and did_arms.start_date = wave_outcomes.start_date
            and did_arms.end_date = wave_outcomes.end_date
            and did_arms.member_id = wave_outcomes.member_id
),

final as (
    select * from control_group_members
    union all
    select * from did_members
)

select * from final
