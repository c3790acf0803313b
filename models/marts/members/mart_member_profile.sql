-- Member facts as of the as-of date, one row per member of dim_members (buyers or not).
-- Counts are of purchases as of that date (sales not returned in full by then); GMV nets
-- every order, returns and refunds included (each member's totals: int_member_order_totals).
{%- set frequency_threshold = var('quadrant_frequency_threshold') %}
{%- set aov_threshold = var('quadrant_aov_threshold') %}
with

members as (select * from {{ ref('dim_members') }}),
per_member as (select * from {{ ref('int_member_order_totals') }}),
as_of as (select * from {{ ref('int_as_of_date') }}),

measured as (
    select
        members.member_id,
        coalesce(per_member.lifetime_purchase_count, 0) as lifetime_purchase_count,
        coalesce(per_member.lifetime_gmv_amount, 0) as lifetime_gmv_amount,
        {#- in double precision, as DuckDB divides a decimal by an integer (ratio) -#}
        {{ ratio('per_member.lifetime_gmv_amount', 'per_member.lifetime_purchase_count') }}
            as aov_amount,
        {{ ratio('per_member.items_bought', 'per_member.lifetime_purchase_count') }}
            as items_per_order,
        {{ ratio('per_member.promoted_purchase_count', 'per_member.lifetime_purchase_count') }}
            as promoted_purchase_share,
        case
            when per_member.has_pos and per_member.has_miniapp then 'pos+miniapp'
            when per_member.has_pos then 'pos'
            when per_member.has_miniapp then 'miniapp'
            else 'none'
        end as channels_used,
        per_member.favourite_category,
        {{ dbt.datediff('per_member.last_purchase_date', '(select as_of.as_of_date from as_of)', 'day') }}
            as days_since_last_purchase
    from members
    left join per_member on members.member_id = per_member.member_id
),

buyer_medians as (
    select
        percentile_cont(0.5) within group (order by lifetime_purchase_count)
            as median_purchase_count,
        percentile_cont(0.5) within group (order by aov_amount) as median_aov_amount
    from measured
    where lifetime_purchase_count > 0
),

quadrant_thresholds as (
    select
        {% if frequency_threshold in ('', 'median', none) -%}
            median_purchase_count
        {%- else -%}
            {{ frequency_threshold }}
        {%- endif %} as frequency_threshold,
        {% if aov_threshold in ('', 'median', none) -%}
            median_aov_amount
        {%- else -%}
            {{ aov_threshold }}
        {%- endif %} as aov_threshold
    from buyer_medians
),

final as (
    select
        (select as_of.as_of_date from as_of) as as_of_date,
        measured.member_id,
        cast(measured.lifetime_purchase_count as integer) as lifetime_purchase_count,
        cast(measured.lifetime_gmv_amount as decimal(18, 2)) as lifetime_gmv_amount,
        {{ double_to_decimal('measured.aov_amount') }} as aov_amount,
        {{ double_to_decimal('measured.items_per_order') }} as items_per_order,
        measured.channels_used,
        measured.favourite_category,
        cast(measured.days_since_last_purchase as integer) as days_since_last_purchase,
        {{ consumption_stage('measured.days_since_last_purchase') }} as consumption_stage,
        case
            when measured.lifetime_purchase_count < {{ var('promo_min_orders') }}
                then 'promo_unknown'
            when measured.promoted_purchase_share >= {{ var('promo_fanatic_share') }}
                then 'promo_fanatic'
            when measured.promoted_purchase_share >= {{ var('promo_sensitive_share') }}
                then 'promo_sensitive'
            when measured.promoted_purchase_share >= {{ var('promo_neutral_share') }}
                then 'promo_neutral'
            else 'promo_indifferent'
        end as promotion_sensitivity,
        case
            when measured.lifetime_purchase_count = 0 then null
            when measured.lifetime_purchase_count >= quadrant_thresholds.frequency_threshold
                then 'high_frequency'
            else 'low_frequency'
        end
        || case
            when measured.lifetime_purchase_count = 0 then ''
            when measured.aov_amount >= quadrant_thresholds.aov_threshold then '_high_value'
            else '_low_value'
        end as frequency_value_quadrant
    from measured
    cross join quadrant_thresholds
)

select * from final
