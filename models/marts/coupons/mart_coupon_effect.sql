-- One row per coupon template (券效): the funnel issued -> claimed -> redeemed (distinct
-- codes; a code redeemed twice counts once, redemption_rows shows every row), claim and
-- usage rates, days from claim to use, expired unused, how redemptions were matched to
-- orders, what redeemers bought against the comparison members, and the incremental GMV
-- with its 95% interval (int_coupon_effects). effect_method control_group: the template's
-- campaign had a control group; the template's issued treatment members are compared with
-- it over the campaign window. diff_in_diff: the members issued the template against the
-- never-issued members of the same wave and pre-period RFM segment, window GMV minus the
-- equal-length window before (int_coupon_effect_members). Null: nobody was issued it.
-- Cost = discounts given + unit_cost x redeemed codes.
with

templates as (select * from {{ ref('stg_marketing__coupon_templates') }}),
issues as (select * from {{ ref('int_coupon_issues_enriched') }}),
effects as (select * from {{ python_model_ref('int_coupon_effects') }}),
campaigns as (select * from {{ ref('int_campaign_windows') }}),
effect_members as (select * from {{ ref('int_coupon_effect_members') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),

funnel as (
    select
        template_id,
        count(*) as issued_count,
        sum(case when is_claimed then 1 else 0 end) as claimed_count,
        sum(case when is_redeemed then 1 else 0 end) as redeemed_count,
        sum(redemption_rows) as redemption_rows,
        sum(case when is_expired_unused then 1 else 0 end) as expired_unused_count,
        sum(case when match_method = 'order_ref' then 1 else 0 end) as matched_by_ref_count,
        sum(case when match_method = 'nearest_purchase' then 1 else 0 end) as matched_nearest_count,
        sum(case when match_method = 'unmatched' then 1 else 0 end) as unmatched_count,
        -- to 6 decimals (0.1 s): engines interpolate the median in different orders, which
        -- moves its last bits
        {{ round_double('percentile_cont(0.5) within group (order by days_claim_to_use)', 6) }}
            as median_days_claim_to_use,
        sum(coalesce(discount_amount, 0)) as discount_amount,
        count(distinct case when is_redeemed then member_id end) as redeemer_count
    from issues
    group by template_id
),

-- redeemers' purchases over the effect window (the campaign window when there is one,
-- else the coupon's life: issue date to expiry), and their repurchase within 30 days of
-- the redeemed order
redeemer_windows as (
    select
        issues.template_id,
        issues.member_id,
        min(coalesce(campaigns.start_date, issues.issued_date)) as window_start_date,
        max(coalesce(campaigns.end_date, cast(issues.expires_at as date))) as window_end_date,
        min(issues.redeemed_at) as redeemed_at
    from issues
    left join campaigns on issues.campaign_id = campaigns.campaign_id
    where issues.is_redeemed
    group by issues.template_id, issues.member_id
),

redeemer_sales as (
    select
        redeemer_windows.template_id,
        sum(orders.gmv_amount) as gmv_amount,
        count(distinct case when orders.is_purchase then orders.order_id end) as purchase_count
    from redeemer_windows
    inner join orders
        on
            redeemer_windows.member_id = orders.member_id
            and orders.order_date
            between redeemer_windows.window_start_date and redeemer_windows.window_end_date
    group by redeemer_windows.template_id
),

redeemer_repurchase as (
    select
        redeemer_windows.template_id,
        count(distinct orders.member_id) as repurchaser_count
    from redeemer_windows
    inner join orders
        on
            redeemer_windows.member_id = orders.member_id
            and orders.is_purchase
            and orders.order_date > cast(redeemer_windows.redeemed_at as date)
            and orders.order_date <= cast(
                {{ dbt.dateadd('day', var('coupon_repurchase_days'), 'redeemer_windows.redeemed_at') }}
                as date
            )
    group by redeemer_windows.template_id
),

-- comparison members over their windows: the campaign's control group (control_group) or
-- the never-issued members of each wave (diff_in_diff), as int_coupon_effect_members has them
comparison_members as (
    select
        template_id,
        member_id,
        window_start_date as start_date,
        window_end_date as end_date
    from effect_members
    where arm <> 'treatment'
),

-- (under diff_in_diff a member is compared once per wave: each member-window counts)
comparison_orders as (
    select
        comparison_members.template_id,
        comparison_members.member_id,
        comparison_members.start_date,
        orders.order_date,
        orders.gmv_amount,
        orders.is_purchase
    from comparison_members
    inner join orders
        on
            comparison_members.member_id = orders.member_id
            and orders.order_date
            between comparison_members.start_date and comparison_members.end_date
),

comparison_first_purchase as (
    select
        template_id,
        member_id,
        start_date,
        min(order_date) as first_date
    from comparison_orders
    where is_purchase
    group by template_id, member_id, start_date
),

comparison_repurchasers as (
    select
        comparison_first_purchase.template_id,
        comparison_first_purchase.member_id,
        comparison_first_purchase.start_date,
        max(case when orders.order_date is not null then 1 else 0 end) as has_repurchase
    from comparison_first_purchase
    left join orders
        on
            comparison_first_purchase.member_id = orders.member_id
            and orders.is_purchase
            and comparison_first_purchase.first_date < orders.order_date
            and orders.order_date <= cast(
                {{ dbt.dateadd('day', var('coupon_repurchase_days'),
                                'comparison_first_purchase.first_date') }}
                as date
            )
    group by
        comparison_first_purchase.template_id,
        comparison_first_purchase.member_id,
        comparison_first_purchase.start_date
),

comparison_repurchase as (
    select
        template_id,
        count(*) as buyer_count,
        sum(has_repurchase) as repurchaser_count
    from comparison_repurchasers
    group by template_id
),

comparison_sales as (
    select
        template_id,
        sum(gmv_amount) as gmv_amount,
        sum(case when is_purchase then 1 else 0 end) as purchase_count
    from comparison_orders
    group by template_id
),

-- cost = discounts given on counted redemptions + unit_cost x redeemed codes
costs as (
    select
        templates.template_id,
        coalesce(funnel.discount_amount, 0)
        + coalesce(templates.unit_cost_amount, 0) * coalesce(funnel.redeemed_count, 0) as cost_amount
    from templates
    left join funnel on templates.template_id = funnel.template_id
),

final as (
    select
        templates.template_id,
        templates.template_name,
        templates.campaign_id,
        templates.coupon_type,
        cast(templates.face_value_amount as decimal(18, 2)) as face_value_amount,
        cast(templates.threshold_amount as decimal(18, 2)) as threshold_amount,
        cast(coalesce(funnel.issued_count, 0) as bigint) as issued_count,
        cast(coalesce(funnel.claimed_count, 0) as bigint) as claimed_count,
        cast(coalesce(funnel.redeemed_count, 0) as bigint) as redeemed_count,
        cast(coalesce(funnel.redemption_rows, 0) as bigint) as redemption_rows,
        cast(coalesce(funnel.expired_unused_count, 0) as bigint) as expired_unused_count,
        {{ ratio('funnel.claimed_count', 'funnel.issued_count') }} as claim_rate,
        {{ ratio('funnel.redeemed_count', 'funnel.claimed_count') }} as usage_rate,
        cast(funnel.median_days_claim_to_use as {{ type_double() }}) as median_days_claim_to_use,
        cast(coalesce(funnel.matched_by_ref_count, 0) as bigint) as matched_by_ref_count,
        cast(coalesce(funnel.matched_nearest_count, 0) as bigint) as matched_nearest_count,
        cast(coalesce(funnel.unmatched_count, 0) as bigint) as unmatched_redemption_count,
        cast(coalesce(funnel.redeemer_count, 0) as bigint) as redeemer_count,
        cast(coalesce(redeemer_sales.gmv_amount, 0) as decimal(18, 2)) as redeemer_gmv_amount,
        cast(
            {{ ratio('redeemer_sales.gmv_amount', 'redeemer_sales.purchase_count') }}
            as decimal(18, 2)
        ) as redeemer_aov_amount,
        {{ ratio('coalesce(redeemer_repurchase.repurchaser_count, 0)', 'funnel.redeemer_count') }}
            as redeemer_repurchase_30d_rate,
        cast(effects.comparison_member_count as bigint) as comparison_member_count,
        cast(effects.unmatched_treatment_count as bigint) as unmatched_issued_count,
        cast(comparison_sales.gmv_amount as decimal(18, 2)) as comparison_gmv_amount,
        cast(
            {{ ratio('comparison_sales.gmv_amount', 'comparison_sales.purchase_count') }}
            as decimal(18, 2)
        ) as comparison_aov_amount,
        {{ ratio('comparison_repurchase.repurchaser_count', 'comparison_repurchase.buyer_count') }}
            as comparison_repurchase_30d_rate,
        {{ double_to_decimal('effects.incremental_gmv_amount') }} as incremental_gmv_amount,
        {{ double_to_decimal('effects.incremental_gmv_ci_low') }} as incremental_gmv_ci_low,
        {{ double_to_decimal('effects.incremental_gmv_ci_high') }} as incremental_gmv_ci_high,
        effects.effect_method,
        cast(costs.cost_amount as decimal(18, 2)) as cost_amount,
        {{ ratio('effects.incremental_gmv_amount', 'costs.cost_amount') }} as roi
    from templates
    left join funnel on templates.template_id = funnel.template_id
    left join costs on templates.template_id = costs.template_id
    left join effects on templates.template_id = effects.template_id
    left join redeemer_sales on templates.template_id = redeemer_sales.template_id
    left join redeemer_repurchase on templates.template_id = redeemer_repurchase.template_id
    left join comparison_sales on templates.template_id = comparison_sales.template_id
    left join comparison_repurchase on templates.template_id = comparison_repurchase.template_id
)

select * from final
