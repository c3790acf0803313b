-- One row per member after identity resolution (int_members_resolved), with the dates of
-- the person's first and last purchase (sales returned in full are not purchases).
with

members as (select * from {{ ref('int_members_resolved') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),

purchases as (
    select
        member_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date
    from orders
    where is_purchase and member_id is not null
    group by member_id
),

final as (
    select
        members.member_id,
        members.mobile_hash,
        members.name_masked,
        members.gender,
        members.birth_month,
        members.city,
        members.province,
        members.tier,
        members.register_date,
        members.register_channel,
        members.register_store_code,
        members.is_sms_opt_in,
        purchases.first_order_date,
        purchases.last_order_date
    from members
    left join purchases on members.member_id = purchases.member_id
)

select * from final
