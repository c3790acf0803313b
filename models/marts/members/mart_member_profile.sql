-- Member facts as of the as-of date, one row per member of dim_members (buyers or not).
with

members as (select * from {{ ref('dim_members') }}),
orders as (select * from {{ ref('fct_orders') }}),
order_lines as (select * from {{ ref('fct_order_lines') }}),
as_of as (select * from {{ ref('int_as_of_date') }}),

member_orders as (
    select orders.*
    from orders
    inner join members on orders.member_id = members.member_id
    where orders.order_date <= (select as_of.as_of_date from as_of)
),

per_member as (
    select
        member_id,
        count(distinct case when order_type = 'sale' then order_id end) as lifetime_order_count,
        sum(gmv_amount) as lifetime_gmv_amount,
        sum(case when order_type = 'sale' then item_quantity else 0 end) as items_bought,
        count(distinct case
            when order_type = 'sale' and (coupon_count > 0 or discount_amount > 0)
                then order_id
        end) as promoted_order_count,
        max(case when order_type = 'sale' then order_date end) as last_order_date,
        count(distinct case when channel = 'pos' then order_id end) > 0 as has_pos,
        count(distinct case when channel = 'miniapp' then order_id end) > 0 as has_miniapp
    from member_orders
    group by member_id
),

category_spend as (
    select
        member_orders.member_id,
        order_lines.category,
        sum(order_lines.paid_amount) as paid_amount
    from member_orders
    inner join order_lines on member_orders.order_id = order_lines.order_id
    where order_lines.category is not null
    group by member_orders.member_id, order_lines.category
),

favourite_category as (
    select
        member_id,
        category
    from (
        select
            member_id,
            category,
            row_number() over (
                partition by member_id order by paid_amount desc, category asc
            ) as spend_rank
        from category_spend
        where paid_amount > 0
    ) as ranked
    where spend_rank = 1
),

measured as (
    select
        members.member_id,
        coalesce(per_member.lifetime_order_count, 0) as lifetime_order_count,
        coalesce(per_member.lifetime_gmv_amount, 0) as lifetime_gmv_amount,
        per_member.lifetime_gmv_amount
        / nullif(per_member.lifetime_order_count, 0) as aov_amount,
        per_member.items_bought * 1.0
        / nullif(per_member.lifetime_order_count, 0) as items_per_order,
        per_member.promoted_order_count * 1.0
        / nullif(per_member.lifetime_order_count, 0) as promoted_order_share,
        case
            when per_member.has_pos and per_member.has_miniapp then 'pos+miniapp'
            when per_member.has_pos then 'pos'
            when per_member.has_miniapp then 'miniapp'
            else 'none'
        end as channels_used,
        favourite_category.category as favourite_category,
        (select as_of.as_of_date from as_of) - per_member.last_order_date
            as days_since_last_purchase
    from members
    left join per_member on members.member_id = per_member.member_id
    left join favourite_category on members.member_id = favourite_category.member_id
),

final as (
    select
        (select as_of.as_of_date from as_of) as as_of_date,
        member_id,
        cast(lifetime_order_count as integer) as lifetime_order_count,
        cast(lifetime_gmv_amount as decimal(18, 2)) as lifetime_gmv_amount,
        cast(aov_amount as decimal(18, 2)) as aov_amount,
        cast(items_per_order as decimal(18, 2)) as items_per_order,
        channels_used,
        favourite_category,
        cast(days_since_last_purchase as integer) as days_since_last_purchase,
        {{ consumption_stage('days_since_last_purchase') }} as consumption_stage,
        case
            when promoted_order_share is null then null
            when promoted_order_share >= {{ var('promo_fanatic_share') }} then 'promo_fanatic'
            when promoted_order_share >= {{ var('promo_sensitive_share') }} then 'promo_sensitive'
            when promoted_order_share >= {{ var('promo_neutral_share') }} then 'promo_neutral'
            else 'promo_indifferent'
        end as promotion_sensitivity,
        case
            when lifetime_order_count = 0 then null
            when
                lifetime_order_count
                >= avg(case when lifetime_order_count > 0 then lifetime_order_count end) over ()
                then 'high_frequency'
            else 'low_frequency'
        end
        || case
            when lifetime_order_count = 0 then ''
            when aov_amount >= avg(aov_amount) over () then '_high_value'
            else '_low_value'
        end as frequency_value_quadrant
    from measured
)

select * from final
