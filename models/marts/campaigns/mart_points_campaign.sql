-- One row per points campaign (scenario 'points'): what the gifts members took with their
-- points cost the brand in the window (ledger gift_redemption entries tagged with the
-- campaign), how many gifts and members, and what those members bought in the window.
with

campaigns as (select * from {{ ref('int_campaign_windows') }}),
id_map as (select * from {{ ref('int_member_id_map') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),

ledger as (
    select * from {{ ref('stg_points__ledger') }}
    where {{ dq_not_quarantined('points_ledger') }}
),

gifts as (
    select
        campaigns.campaign_id,
        coalesce(id_map.member_id, ledger.member_id) as member_id,
        ledger.gift_cost_amount
    from campaigns
    inner join ledger
        on
            campaigns.campaign_id = ledger.campaign_id
            and cast(ledger.occurred_at as date) between campaigns.start_date and campaigns.end_date
    left join id_map on ledger.member_id = id_map.source_member_id
    where campaigns.scenario = 'points' and ledger.reason = 'gift_redemption'
),

per_campaign as (
    select
        campaign_id,
        sum(coalesce(gift_cost_amount, 0)) as gift_cost_amount,
        count(*) as gifts_redeemed_count,
        count(distinct member_id) as redeeming_member_count
    from gifts
    group by campaign_id
),

redeemers as (
    select distinct
        campaign_id,
        member_id
    from gifts
),

redeemer_sales as (
    select
        campaigns.campaign_id,
        sum(orders.gmv_amount) as redeemer_gmv_amount,
        count(distinct case
            when {{ is_purchase_as_of('campaigns.end_date', 'orders') }} then orders.member_id
        end) as redeemer_buyer_count
    from campaigns
    inner join redeemers on campaigns.campaign_id = redeemers.campaign_id
    inner join orders
        on
            redeemers.member_id = orders.member_id
            and orders.order_date between campaigns.start_date and campaigns.end_date
    group by campaigns.campaign_id
),

final as (
    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        campaigns.start_date,
        campaigns.end_date,
        cast(coalesce(per_campaign.gift_cost_amount, 0) as decimal(18, 2)) as gift_cost_amount,
        cast(coalesce(per_campaign.gifts_redeemed_count, 0) as bigint) as gifts_redeemed_count,
        cast(coalesce(per_campaign.redeeming_member_count, 0) as bigint)
            as redeeming_member_count,
        cast(coalesce(redeemer_sales.redeemer_buyer_count, 0) as bigint) as redeemer_buyer_count,
        cast(coalesce(redeemer_sales.redeemer_gmv_amount, 0) as decimal(18, 2))
            as redeemer_gmv_amount
    from campaigns
    left join per_campaign on campaigns.campaign_id = per_campaign.campaign_id
    left join redeemer_sales on campaigns.campaign_id = redeemer_sales.campaign_id
    where campaigns.scenario = 'points'
)

select * from final
