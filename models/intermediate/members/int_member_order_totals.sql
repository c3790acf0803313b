-- Each member's lifetime order totals as of the as-of date, the running state behind
-- mart_member_profile: purchases (sales not returned in full by then), GMV netting every
-- order, items, promoted purchases, the last purchase, the channels used and the category
-- with the most spend. One row per member_id with an order.
-- Incremental: a run recomputes the members int_members_touched lists, from all their
-- orders, and keeps every other member's row.
{{ config(**append_after_delete("{{ delete_touched_members() }}")) }}

with

orders as (
    select * from {{ ref('int_orders_unioned') }}
    where member_id is not null and {{ touched_members_only('member_id') }}
),
order_lines as (select * from {{ ref('fct_order_lines') }}),
as_of as (select * from {{ ref('int_as_of_date') }}),

member_orders as (
    select
        orders.*,
        {{ is_purchase_as_of('as_of.as_of_date', 'orders') }} as is_purchase_as_of_date
    from orders
    inner join as_of on orders.order_date <= as_of.as_of_date
),

per_member as (
    select
        member_id,
        count(distinct case when is_purchase_as_of_date then order_id end)
            as lifetime_purchase_count,
        sum(gmv_amount) as lifetime_gmv_amount,
        sum(item_quantity) as items_bought,
        count(distinct case
            when is_purchase_as_of_date and (coupon_count > 0 or discount_amount > 0)
                then order_id
        end) as promoted_purchase_count,
        max(case when is_purchase_as_of_date then order_date end) as last_purchase_date,
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
                partition by member_id order by paid_amount desc, category asc nulls last
            ) as spend_rank
        from category_spend
        where paid_amount > 0
    ) as ranked
    where spend_rank = 1
),

final as (
    select
        per_member.member_id,
        per_member.lifetime_purchase_count,
        per_member.lifetime_gmv_amount,
        per_member.items_bought,
        per_member.promoted_purchase_count,
        per_member.last_purchase_date,
        per_member.has_pos,
        per_member.has_miniapp,
        favourite_category.category as favourite_category
    from per_member
    left join favourite_category on per_member.member_id = favourite_category.member_id
)

select * from final
