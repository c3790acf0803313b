-- One row per issued coupon code that passed validation: its template, the person it was
-- issued to, whether it was claimed (a claim time, or a redemption, which implies one), its
-- first redemption (the one that counts) and matched order, days from claim to use, and
-- whether it expired unused by the as-of date. For the cuts: the member's RFM segment and
-- value group at the newest RFM snapshot before the issue date ('none': no purchase by
-- then), registration store, and new vs existing member (new: no purchase before the
-- claim, or before the issue when unclaimed).
with

issues as (
    select * from {{ ref('stg_marketing__coupon_issues') }}
    where {{ dq_not_quarantined('coupon_issues') }}
),

templates as (select * from {{ ref('stg_marketing__coupon_templates') }}),
redemptions as (select * from {{ ref('int_coupon_redemptions_matched') }}),
id_map as (select * from {{ ref('int_member_id_map') }}),
members as (select * from {{ ref('int_members_resolved') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),
rfm as (select * from {{ ref('int_member_rfm') }}),
snapshot_dates as (select * from {{ ref('int_rfm_snapshot_dates') }}),
as_of as (select * from {{ ref('int_as_of_date') }}),

first_purchases as (
    select
        member_id,
        min(order_date) as first_purchase_date
    from orders
    where member_id is not null and is_purchase
    group by member_id
),

counted_redemptions as (
    select * from redemptions
    where redemption_rank = 1
),

redemption_counts as (
    select
        coupon_code,
        count(*) as redemption_rows
    from redemptions
    group by coupon_code
),

issued as (
    select
        issues.coupon_code,
        issues.template_id,
        coalesce(issues.campaign_id, templates.campaign_id) as campaign_id,
        coalesce(id_map.member_id, issues.member_id) as member_id,
        issues.channel,
        issues.issued_at,
        cast(issues.issued_at as date) as issued_date,
        issues.claimed_at,
        issues.expires_at
    from issues
    left join templates on issues.template_id = templates.template_id
    left join id_map on issues.member_id = id_map.source_member_id
),

issue_snapshots as (
    select
        issued.coupon_code,
        max(snapshot_dates.as_of_date) as snapshot_date
    from issued
    inner join snapshot_dates on issued.issued_date > snapshot_dates.as_of_date
    group by issued.coupon_code
),

final as (
    select
        issued.coupon_code,
        issued.template_id,
        issued.campaign_id,
        issued.member_id,
        issued.channel,
        issued.issued_at,
        issued.issued_date,
        issued.claimed_at,
        issued.expires_at,
        issued.claimed_at is not null or counted_redemptions.coupon_code is not null
            as is_claimed,
        counted_redemptions.coupon_code is not null as is_redeemed,
        counted_redemptions.redeemed_at,
        counted_redemptions.order_id as redeemed_order_id,
        counted_redemptions.match_method,
        counted_redemptions.discount_amount,
        cast(coalesce(redemption_counts.redemption_rows, 0) as integer) as redemption_rows,
        {% set seconds_to_use = dbt.datediff('issued.claimed_at', 'counted_redemptions.redeemed_at',
                                             'second') -%}
        cast({{ seconds_to_use }} as {{ type_double() }}) / 86400 as days_claim_to_use,
        counted_redemptions.coupon_code is null
        and issued.expires_at
        < cast({{ dbt.dateadd('day', 1, 'as_of.as_of_date') }} as timestamp) as is_expired_unused,
        coalesce(rfm.rfm_segment, 'none') as rfm_segment,
        coalesce(rfm.value_group, 'none') as value_group,
        coalesce(members.register_store_code, 'unknown') as store_code,
        first_purchases.first_purchase_date is null
        or first_purchases.first_purchase_date
        >= cast(coalesce(issued.claimed_at, issued.issued_at) as date) as is_new_member
    from issued
    cross join as_of
    left join counted_redemptions on issued.coupon_code = counted_redemptions.coupon_code
    left join redemption_counts on issued.coupon_code = redemption_counts.coupon_code
    left join issue_snapshots on issued.coupon_code = issue_snapshots.coupon_code
    left join rfm
        on issue_snapshots.snapshot_date = rfm.as_of_date and issued.member_id = rfm.member_id
    left join members on issued.member_id = members.member_id
    left join first_purchases on issued.member_id = first_purchases.member_id
)

select * from final
