-- Fission (裂变) per calendar month with the K-factor: new members referred in the month
-- per mini-program visitor active in it, i.e. invitations per active visitor (shares /
-- active visitors) times new members per invitation (new members / shares).
with

activity as (select * from {{ ref('int_fission_activity') }}),
visitor_days as (select * from {{ ref('int_miniapp_visitor_days') }}),

active_visitors as (
    select
        cast({{ dbt.date_trunc('month', 'event_date') }} as date) as activity_month,
        count(distinct openid_hash) as active_visitor_count
    from visitor_days
    group by cast({{ dbt.date_trunc('month', 'event_date') }} as date)
),

fission as (
    select
        cast({{ dbt.date_trunc('month', 'activity_date') }} as date) as activity_month,
        count(distinct case when activity = 'share' then sharer_key end) as sharer_count,
        sum(case when activity = 'share' then 1 else 0 end) as share_count,
        sum(case when activity = 'click' then 1 else 0 end) as click_count,
        count(distinct case when activity = 'click' then visitor_openid_hash end) as clicked_visitor_count,
        sum(case when activity = 'order' then 1 else 0 end) as order_count,
        sum(case when activity = 'order' then gmv_amount else 0 end) as gmv_amount,
        sum(case when activity = 'new_member' then 1 else 0 end) as new_member_count,
        count(distinct case when activity = 'new_member' then sharer_key end) as referrer_count
    from activity
    group by cast({{ dbt.date_trunc('month', 'activity_date') }} as date)
),

months as (
    select activity_month from active_visitors
    union
    select activity_month from fission
),

final as (
    select
        months.activity_month,
        cast(coalesce(active_visitors.active_visitor_count, 0) as bigint) as active_visitor_count,
        cast(coalesce(fission.sharer_count, 0) as bigint) as sharer_count,
        cast(coalesce(fission.share_count, 0) as bigint) as share_count,
        cast(coalesce(fission.click_count, 0) as bigint) as click_count,
        cast(coalesce(fission.clicked_visitor_count, 0) as bigint) as clicked_visitor_count,
        cast(coalesce(fission.order_count, 0) as bigint) as order_count,
        cast(coalesce(fission.gmv_amount, 0) as decimal(18, 2)) as gmv_amount,
        cast(coalesce(fission.new_member_count, 0) as bigint) as new_member_count,
        cast(coalesce(fission.referrer_count, 0) as bigint) as referrer_count,
        {{ ratio('fission.click_count', 'fission.share_count') }} as click_per_share_rate,
        {{ ratio('fission.order_count', 'fission.click_count') }} as order_per_click_rate,
        {{ ratio('fission.new_member_count', 'fission.referrer_count') }} as new_members_per_referrer,
        {{ ratio('fission.share_count', 'active_visitors.active_visitor_count') }}
            as shares_per_active_visitor,
        {{ ratio('fission.new_member_count', 'fission.share_count') }} as new_members_per_share,
        {{ ratio('coalesce(fission.new_member_count, 0)', 'active_visitors.active_visitor_count') }}
            as k_factor
    from months
    left join active_visitors on months.activity_month = active_visitors.activity_month
    left join fission on months.activity_month = fission.activity_month
)

select * from final
