-- The coupon funnel of each template cut by campaign (the issue's campaign, else the
-- template's; 'none'), store (the member's registration store), channel (of the issue),
-- RFM segment and value group at issue time (newest RFM snapshot before the issue date;
-- 'none': no purchase by then) and member_type (new: no purchase before the claim, or
-- before the issue when unclaimed; existing otherwise). One row per template_id, cut,
-- cut_value; each cut's rows add up to mart_coupon_effect's funnel.
with

issues as (select * from {{ ref('int_coupon_issues_enriched') }}),

{% set cuts = {'campaign': "coalesce(campaign_id, 'none')", 'store': 'store_code',
               'channel': "coalesce(channel, 'unknown')", 'rfm_segment': 'rfm_segment',
               'value_group': 'value_group',
               'member_type': "case when is_new_member then 'new' else 'existing' end"} %}

cut_rows as (
    {% for cut, column in cuts.items() %}
        select
            template_id,
            '{{ cut }}' as cut,
            {{ column }} as cut_value,
            is_claimed,
            is_redeemed,
            is_expired_unused
        from issues
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

counted as (
    select
        template_id,
        cut,
        cut_value,
        count(*) as issued_count,
        sum(case when is_claimed then 1 else 0 end) as claimed_count,
        sum(case when is_redeemed then 1 else 0 end) as redeemed_count,
        sum(case when is_expired_unused then 1 else 0 end) as expired_unused_count
    from cut_rows
    group by template_id, cut, cut_value
),

final as (
    select
        template_id,
        cut,
        cut_value,
        cast(issued_count as bigint) as issued_count,
        cast(claimed_count as bigint) as claimed_count,
        cast(redeemed_count as bigint) as redeemed_count,
        cast(expired_unused_count as bigint) as expired_unused_count,
        {{ ratio('claimed_count', 'issued_count') }} as claim_rate,
        {{ ratio('redeemed_count', 'claimed_count') }} as usage_rate
    from counted
)

select * from final
