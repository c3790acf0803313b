-- One row per fission fact, keyed by the sharer: a share (a `share` event), a click (a
-- page_view opened from the sharer's link, i.e. carrying shared_by_openid), an order (a
-- mini-program purchase paid through the sharer's link, orders.shared_by_openid) and a new
-- member the sharer referred (crm referrer_member_id). Openids arrive as staging's keyed
-- hashes: a sharer is the merged member whose CRM openid it is, else that hash.
with

events as (select * from {{ ref('stg_miniapp__events') }}),
miniapp_orders as (select * from {{ ref('stg_miniapp__orders') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),
crm_members as (select * from {{ ref('stg_crm__members') }}),
id_map as (select * from {{ ref('int_member_id_map') }}),
members as (select * from {{ ref('int_members_resolved') }}),

member_by_openid as (
    select
        crm_members.openid_hash,
        min(id_map.member_id) as member_id
    from crm_members
    inner join id_map on crm_members.member_id = id_map.source_member_id
    where crm_members.openid_hash is not null and not crm_members.is_deleted
    group by crm_members.openid_hash
),

shares as (
    select
        openid_hash as sharer_openid_hash,
        event_date as activity_date,
        'share' as activity,
        cast(null as {{ dbt.type_string() }}) as visitor_openid_hash,
        cast(null as {{ dbt.type_string() }}) as order_id,
        cast(null as decimal(18, 2)) as gmv_amount
    from events
    where event_name = 'share' and openid_hash is not null
),

clicks as (
    select
        shared_by_openid_hash as sharer_openid_hash,
        event_date as activity_date,
        'click' as activity,
        openid_hash as visitor_openid_hash,
        cast(null as {{ dbt.type_string() }}) as order_id,
        cast(null as decimal(18, 2)) as gmv_amount
    from events
    where event_name = 'page_view' and shared_by_openid_hash is not null
),

shared_orders as (
    select
        miniapp_orders.shared_by_openid_hash as sharer_openid_hash,
        orders.order_date as activity_date,
        'order' as activity,
        miniapp_orders.openid_hash as visitor_openid_hash,
        orders.order_id,
        orders.net_paid_amount as gmv_amount
    from miniapp_orders
    inner join orders on 'mp:' || miniapp_orders.order_id = orders.order_id
    where miniapp_orders.shared_by_openid_hash is not null and orders.is_purchase
),

openid_activity as (
    select * from shares
    union all
    select * from clicks
    union all
    select * from shared_orders
),

keyed_openid_activity as (
    select
        coalesce(member_by_openid.member_id, openid_activity.sharer_openid_hash) as sharer_key,
        member_by_openid.member_id as sharer_member_id,
        openid_activity.activity_date,
        openid_activity.activity,
        openid_activity.visitor_openid_hash,
        openid_activity.order_id,
        cast(null as {{ dbt.type_string() }}) as referred_member_id,
        openid_activity.gmv_amount
    from openid_activity
    left join member_by_openid on openid_activity.sharer_openid_hash = member_by_openid.openid_hash
),

-- A person under several member_ids is referred once: by the referrer on their earliest
-- registration that names one.
referral_records as (
    select
        id_map.member_id,
        crm_members.referrer_member_id,
        row_number() over (
            partition by id_map.member_id
            order by crm_members.registered_at asc nulls last, crm_members.member_id asc
        ) as referral_rank
    from crm_members
    inner join id_map on crm_members.member_id = id_map.source_member_id
    where crm_members.referrer_member_id is not null and not crm_members.is_deleted
),

referrals as (
    select
        coalesce(referrer_map.member_id, referral_records.referrer_member_id) as sharer_key,
        referrer_map.member_id as sharer_member_id,
        members.register_date as activity_date,
        'new_member' as activity,
        cast(null as {{ dbt.type_string() }}) as visitor_openid_hash,
        cast(null as {{ dbt.type_string() }}) as order_id,
        members.member_id as referred_member_id,
        cast(null as decimal(18, 2)) as gmv_amount
    from referral_records
    inner join members on referral_records.member_id = members.member_id
    left join id_map as referrer_map
        on referral_records.referrer_member_id = referrer_map.source_member_id
    where
        referral_records.referral_rank = 1
        and members.register_date is not null
        and coalesce(referrer_map.member_id, referral_records.referrer_member_id) <> members.member_id
),

final as (
    select * from keyed_openid_activity
    union all
    select * from referrals
)

select * from final
