-- One row per campaign and member of its comparison arms: the treatment and control groups
-- as randomly assigned (intent to treat: every assigned member, reached or not) and, for a
-- campaign without a control group, the lookalike arm: members registered before the start
-- and not in the audience, compared within their pre-campaign value group.
-- A person holding several member_ids counts once per campaign, in the group of their
-- earliest assignment. Nothing after the window leaks in: a purchase is a sale not returned
-- in full by end_date (is_purchase_as_of); GMV is net of returns dated in the window.
-- pre_* measure the equal-length window before the start, history the days before it.
-- value_group: the member's RFM value group on the campaign's eve (the RFM snapshot of the
-- day before the start, int_rfm_snapshot_dates); 'none' when they had no purchase by then.
-- Incremental (macros/incremental_campaigns.sql): a run recomputes every row of the
-- campaigns int_campaigns_touched lists and the rows of the members
-- int_member_attributes_touched lists in the others; a campaign whose window closed before
-- every change keeps its rows.
{{ config(**campaign_outcomes_incremental()) }}

with

campaigns as (select * from {{ ref('int_campaign_windows') }}),

audience as (
    select * from {{ ref('stg_marketing__campaign_audience') }}
    where {{ dq_not_quarantined('campaign_audience') }}
),

touches as (
    select * from {{ ref('stg_marketing__campaign_touches') }}
    where {{ dq_not_quarantined('campaign_touches') }}
),

id_map as (select * from {{ ref('int_member_id_map') }}),
members as (select * from {{ ref('int_members_resolved') }}),
stores as (select * from {{ ref('stg_stores__stores') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),
rfm as (select * from {{ ref('int_member_rfm') }}),
snapshot_dates as (select * from {{ ref('int_rfm_snapshot_dates') }}),

assigned as (
    select
        audience.campaign_id,
        coalesce(id_map.member_id, audience.member_id) as member_id,
        audience.audience_group,
        row_number() over (
            partition by audience.campaign_id, coalesce(id_map.member_id, audience.member_id)
            order by audience.assigned_at nulls last, audience.member_id
        ) as assignment_rank
    from audience
    inner join campaigns on audience.campaign_id = campaigns.campaign_id
    left join id_map on audience.member_id = id_map.source_member_id
    -- erased members are no one's outcomes any more: their tombstone pools them all
    where audience.member_id <> {{ erased_member_id() }}
),

-- the rows this run rebuilds (all of them on a full build)
assigned_once as (
    select
        campaign_id,
        member_id,
        audience_group as arm
    from assigned
    where
        assignment_rank = 1
        and {{ touched_campaign_members_only('campaign_id', 'member_id') }}
),

-- of every campaign, whichever rows this run rebuilds
campaigns_with_control as (
    select distinct campaign_id
    from assigned
    where assignment_rank = 1 and audience_group = 'control'
),

lookalike as (
    select
        campaigns.campaign_id,
        members.member_id,
        'lookalike' as arm
    from campaigns
    inner join members on campaigns.start_date > members.register_date
    where
        campaigns.campaign_id not in (
            select campaigns_with_control.campaign_id from campaigns_with_control
        )
        and not exists (
            select 1
            from assigned_once
            where
                assigned_once.campaign_id = campaigns.campaign_id
                and assigned_once.member_id = members.member_id
        )
        and {{ touched_campaign_members_only('campaigns.campaign_id', 'members.member_id') }}
),

arms as (
    select
        campaign_id,
        member_id,
        arm
    from assigned_once
    union all
    select
        campaign_id,
        member_id,
        arm
    from lookalike
),

member_touches as (
    select
        touches.campaign_id,
        coalesce(id_map.member_id, touches.member_id) as member_id,
        touches.channel,
        touches.is_delivered,
        touches.opened_at,
        touches.clicked_at,
        row_number() over (
            partition by touches.campaign_id, coalesce(id_map.member_id, touches.member_id)
            order by case when touches.is_delivered then 0 else 1 end, touches.sent_at nulls last
        ) as touch_rank
    from touches
    left join id_map on touches.member_id = id_map.source_member_id
    where
        {{ touched_campaign_members_only('touches.campaign_id',
                                         'coalesce(id_map.member_id, touches.member_id)') }}
),

touched as (
    select
        campaign_id,
        member_id,
        max(case when touch_rank = 1 then channel end) as touch_channel,
        max(case when is_delivered then 1 else 0 end) = 1 as is_reached,
        max(case when opened_at is not null then 1 else 0 end) = 1 as is_opened,
        max(case when clicked_at is not null then 1 else 0 end) = 1 as is_clicked
    from member_touches
    group by campaign_id, member_id
),

window_orders as (
    {{ window_member_outcomes('campaigns', ['campaign_id'],
                              where=touched_campaign_members_only('campaigns.campaign_id',
                                                                  'orders.member_id')) }}
),

history as (
    select
        assigned_once.campaign_id,
        assigned_once.member_id,
        count(distinct orders.order_id) as purchases_before,
        max(orders.order_date) as last_purchase_before
    from assigned_once
    inner join campaigns on assigned_once.campaign_id = campaigns.campaign_id
    inner join orders
        on
            assigned_once.member_id = orders.member_id
            and campaigns.start_date > orders.order_date
            and {{ is_purchase_as_of('campaigns.pre_end_date', 'orders') }}
    group by assigned_once.campaign_id, assigned_once.member_id
),

eve_snapshots as (
    select
        campaigns.campaign_id,
        max(snapshot_dates.as_of_date) as snapshot_date
    from campaigns
    inner join snapshot_dates on campaigns.start_date > snapshot_dates.as_of_date
    group by campaigns.campaign_id
),

final as (
    select
        arms.campaign_id,
        arms.member_id,
        arms.arm,
        coalesce(rfm.value_group, 'none') as value_group,
        coalesce(members.register_store_code, 'unknown') as store_code,
        coalesce(stores.region, 'unknown') as region,
        coalesce(touched.touch_channel, 'none') as touch_channel,
        coalesce(touched.is_reached, false) as is_reached,
        coalesce(touched.is_opened, false) as is_opened,
        coalesce(touched.is_clicked, false) as is_clicked,
        coalesce(window_orders.has_purchase, false) as has_purchase,
        coalesce(window_orders.has_pre_purchase, false) as has_pre_purchase,
        cast(coalesce(window_orders.gmv_amount, 0) as decimal(18, 2)) as gmv_amount,
        cast(coalesce(window_orders.pre_gmv_amount, 0) as decimal(18, 2)) as pre_gmv_amount,
        coalesce(history.purchases_before, 0) = 1 as is_first_time_buyer,
        history.last_purchase_before is not null
        and history.last_purchase_before
        < cast({{ dbt.dateadd('day', -var('dormant_days'), 'campaigns.start_date') }} as date)
            as is_dormant,
        history.last_purchase_before is not null
        and history.last_purchase_before
        < cast({{ dbt.dateadd('day', -var('churned_days'), 'campaigns.start_date') }} as date)
            as is_churned
    from arms
    inner join campaigns on arms.campaign_id = campaigns.campaign_id
    left join touched
        on arms.campaign_id = touched.campaign_id and arms.member_id = touched.member_id
    left join window_orders
        on
            arms.campaign_id = window_orders.campaign_id
            and arms.member_id = window_orders.member_id
    left join history
        on arms.campaign_id = history.campaign_id and arms.member_id = history.member_id
    left join eve_snapshots on arms.campaign_id = eve_snapshots.campaign_id
    left join rfm
        on eve_snapshots.snapshot_date = rfm.as_of_date and arms.member_id = rfm.member_id
    left join members on arms.member_id = members.member_id
    left join stores on members.register_store_code = stores.store_code
)

select * from final
