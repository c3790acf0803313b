-- Fission (裂变) per sharer and calendar month: the sharer's shares, the clicks and
-- purchases their links brought, and the new members they referred, each in the month it
-- happened. A sharer is a merged member (the CRM openid of a mini-program sharer, or the
-- crm referrer_member_id), else the keyed hash of an openid that matches no member; never
-- a plain openid.
with

activity as (select * from {{ ref('int_fission_activity') }}),

monthly as (
    select
        sharer_key,
        max(sharer_member_id) as sharer_member_id,
        cast({{ dbt.date_trunc('month', 'activity_date') }} as date) as activity_month,
        sum(case when activity = 'share' then 1 else 0 end) as share_count,
        sum(case when activity = 'click' then 1 else 0 end) as click_count,
        count(distinct case when activity = 'click' then visitor_openid_hash end) as clicked_visitor_count,
        sum(case when activity = 'order' then 1 else 0 end) as order_count,
        sum(case when activity = 'order' then gmv_amount else 0 end) as gmv_amount,
        sum(case when activity = 'new_member' then 1 else 0 end) as new_member_count
    from activity
    group by sharer_key, cast({{ dbt.date_trunc('month', 'activity_date') }} as date)
),

final as (
    select
        sharer_key,
        activity_month,
        sharer_member_id,
        sharer_member_id is not null as is_member,
        cast(share_count as bigint) as share_count,
        cast(click_count as bigint) as click_count,
        cast(clicked_visitor_count as bigint) as clicked_visitor_count,
        cast(order_count as bigint) as order_count,
        cast(gmv_amount as decimal(18, 2)) as gmv_amount,
        cast(new_member_count as bigint) as new_member_count,
        {{ ratio('click_count', 'share_count') }} as click_per_share_rate,
        {{ ratio('order_count', 'click_count') }} as order_per_click_rate
    from monthly
)

select * from final
