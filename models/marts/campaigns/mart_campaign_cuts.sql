-- The campaign funnel cut five ways, one row per campaign, cut and cut value: region and
-- store (the member's registration store), channel (of the touch that reached them first),
-- value group before the campaign, and group (treatment, control, lookalike). Rates as in
-- mart_campaign_retrospective; purchase_rate is the intent-to-treat share of the cut's
-- members who bought in the window, the figure that compares treatment with control.
with

outcomes as (select * from {{ ref('int_campaign_member_outcomes') }}),

treated as (
    select * from outcomes
    where arm = 'treatment'
),

{% set cuts = {'region': 'region', 'store': 'store_code', 'channel': 'touch_channel',
               'value_group': 'value_group'} %}

cut_rows as (
    {% for cut, column in cuts.items() %}
        select
            campaign_id,
            '{{ cut }}' as cut,
            {{ column }} as cut_value,
            is_reached,
            is_opened,
            is_clicked,
            has_purchase,
            gmv_amount
        from treated
        union all
    {% endfor %}
    select
        campaign_id,
        'group' as cut,
        arm as cut_value,
        is_reached,
        is_opened,
        is_clicked,
        has_purchase,
        gmv_amount
    from outcomes
),

counted as (
    select
        campaign_id,
        cut,
        cut_value,
        count(*) as targeted_count,
        sum(case when is_reached then 1 else 0 end) as reached_count,
        sum(case when is_opened then 1 else 0 end) as opened_count,
        sum(case when is_clicked then 1 else 0 end) as clicked_count,
        sum(case when is_reached and has_purchase then 1 else 0 end) as converted_count,
        sum(case when has_purchase then 1 else 0 end) as purchaser_count,
        sum(gmv_amount) as gmv_amount
    from cut_rows
    group by campaign_id, cut, cut_value
),

final as (
    select
        campaign_id,
        cut,
        cut_value,
        cast(targeted_count as bigint) as targeted_count,
        cast(reached_count as bigint) as reached_count,
        cast(opened_count as bigint) as opened_count,
        cast(clicked_count as bigint) as clicked_count,
        cast(converted_count as bigint) as converted_count,
        cast({{ ratio('reached_count', 'targeted_count') }} as {{ type_double() }}) as reach_rate,
        cast({{ ratio('converted_count', 'reached_count') }} as {{ type_double() }})
            as conversion_rate,
        cast({{ ratio('purchaser_count', 'targeted_count') }} as {{ type_double() }})
            as purchase_rate,
        cast(gmv_amount as decimal(18, 2)) as gmv_amount
    from counted
)

select * from final
