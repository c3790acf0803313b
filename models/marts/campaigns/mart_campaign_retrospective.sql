-- One row per campaign (复盘): the funnel targeted -> reached -> opened -> clicked ->
-- converted of the treatment group, the intent-to-treat lift against the natural
-- conversion rate (control group, or lookalike members when there is none), incremental
-- GMV raw and CUPED-adjusted with 95% intervals (int_campaign_effects), cost and ROI, the
-- share of all sales in the window, and the same figures for the equal-length window before.
with

campaigns as (select * from {{ ref('int_campaign_windows') }}),
outcomes as (select * from {{ ref('int_campaign_member_outcomes') }}),
effects as (select * from {{ python_model_ref('int_campaign_effects') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),

funnel as (
    select
        campaign_id,
        sum(case when arm = 'treatment' then 1 else 0 end) as targeted_count,
        sum(case when arm = 'control' then 1 else 0 end) as control_count,
        sum(case when arm = 'treatment' and is_reached then 1 else 0 end) as reached_count,
        sum(case when arm = 'treatment' and is_opened then 1 else 0 end) as opened_count,
        sum(case when arm = 'treatment' and is_clicked then 1 else 0 end) as clicked_count,
        sum(case when arm = 'treatment' and is_reached and has_purchase then 1 else 0 end)
            as converted_count,
        sum(case when arm = 'treatment' and is_reached and has_pre_purchase then 1 else 0 end)
            as pre_converted_count,
        sum(case when arm = 'treatment' and is_first_time_buyer then 1 else 0 end)
            as first_time_buyer_count,
        sum(case when arm = 'treatment' and is_first_time_buyer and has_purchase then 1 else 0 end)
            as second_purchase_count,
        sum(case when arm = 'treatment' and is_dormant then 1 else 0 end) as dormant_count,
        sum(case when arm = 'treatment' and is_dormant and has_purchase then 1 else 0 end)
            as dormant_reactivated_count,
        sum(case when arm = 'treatment' and is_churned then 1 else 0 end) as churned_count,
        sum(case when arm = 'treatment' and is_churned and has_purchase then 1 else 0 end)
            as churned_recalled_count,
        sum(case when arm = 'treatment' then gmv_amount else 0 end) as campaign_gmv_amount,
        sum(case when arm = 'treatment' then pre_gmv_amount else 0 end) as pre_gmv_amount
    from outcomes
    group by campaign_id
),

window_sales as (
    select
        campaigns.campaign_id,
        sum(orders.gmv_amount) as total_gmv_amount
    from campaigns
    inner join orders
        on orders.order_date between campaigns.start_date and campaigns.end_date
    group by campaigns.campaign_id
),

final as (
    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        campaigns.scenario,
        campaigns.region,
        campaigns.channel,
        campaigns.start_date,
        campaigns.end_date,
        campaigns.window_days,
        campaigns.as_of_date,
        campaigns.is_window_complete,
        cast(coalesce(funnel.targeted_count, 0) as bigint) as targeted_count,
        cast(coalesce(funnel.control_count, 0) as bigint) as control_count,
        cast(coalesce(funnel.reached_count, 0) as bigint) as reached_count,
        cast(coalesce(funnel.opened_count, 0) as bigint) as opened_count,
        cast(coalesce(funnel.clicked_count, 0) as bigint) as clicked_count,
        cast({{ ratio('funnel.reached_count', 'funnel.targeted_count') }} as {{ type_double() }})
            as reach_rate,
        cast({{ ratio('funnel.opened_count', 'funnel.reached_count') }} as {{ type_double() }})
            as open_rate,
        cast({{ ratio('funnel.clicked_count', 'funnel.opened_count') }} as {{ type_double() }})
            as click_rate,
        cast(coalesce(funnel.converted_count, 0) as bigint) as converted_count,
        cast({{ ratio('funnel.converted_count', 'funnel.reached_count') }} as {{ type_double() }})
            as conversion_rate,
        effects.treatment_conversion_rate,
        effects.natural_conversion_rate,
        effects.natural_rate_source,
        effects.conversion_lift,
        effects.conversion_lift_ci_low,
        effects.conversion_lift_ci_high,
        effects.conversion_lift_p_value,
        effects.relative_lift,
        cast(
            {{ ratio('funnel.second_purchase_count', 'funnel.first_time_buyer_count') }}
            as {{ type_double() }}
        ) as second_purchase_rate,
        cast(
            {{ ratio('funnel.dormant_reactivated_count', 'funnel.dormant_count') }}
            as {{ type_double() }}
        ) as dormant_reactivation_rate,
        cast(
            {{ ratio('funnel.churned_recalled_count', 'funnel.churned_count') }}
            as {{ type_double() }}
        ) as churn_recall_rate,
        cast(coalesce(funnel.campaign_gmv_amount, 0) as decimal(18, 2)) as campaign_gmv_amount,
        {{ double_to_decimal('effects.incremental_gmv_amount') }} as incremental_gmv_amount,
        {{ double_to_decimal('effects.incremental_gmv_ci_low') }} as incremental_gmv_ci_low,
        {{ double_to_decimal('effects.incremental_gmv_ci_high') }} as incremental_gmv_ci_high,
        {{ double_to_decimal('effects.incremental_gmv_cuped_amount') }}
            as incremental_gmv_cuped_amount,
        {{ double_to_decimal('effects.incremental_gmv_cuped_ci_low') }}
            as incremental_gmv_cuped_ci_low,
        {{ double_to_decimal('effects.incremental_gmv_cuped_ci_high') }}
            as incremental_gmv_cuped_ci_high,
        cast(campaigns.cost_amount as decimal(18, 2)) as cost_amount,
        cast(
            {{ ratio('effects.incremental_gmv_amount', 'campaigns.cost_amount') }}
            as {{ type_double() }}
        ) as roi,
        cast(
            {{ ratio('funnel.campaign_gmv_amount', 'window_sales.total_gmv_amount') }}
            as {{ type_double() }}
        ) as sales_share,
        cast({{ ratio('funnel.pre_converted_count', 'funnel.reached_count') }} as {{ type_double() }})
            as pre_conversion_rate,
        cast(coalesce(funnel.pre_gmv_amount, 0) as decimal(18, 2)) as pre_gmv_amount,
        effects.treatment_pre_gmv_per_member,
        effects.comparison_pre_gmv_per_member as control_pre_gmv_per_member,
        effects.pre_gmv_std_diff,
        effects.is_balanced
    from campaigns
    left join funnel on campaigns.campaign_id = funnel.campaign_id
    left join effects on campaigns.campaign_id = effects.campaign_id
    left join window_sales on campaigns.campaign_id = window_sales.campaign_id
)

select * from final
