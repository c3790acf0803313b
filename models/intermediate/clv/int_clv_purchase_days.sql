-- One row per member and purchase day up to the as-of date: the inputs of the CLV fit
-- (int_clv_fit), one purchase per member per day, the day's spend the sum of its purchases'
-- GMV. A purchase is a sale not returned in full: judged as of the calibration end for days
-- up to it, so nothing after the calibration end leaks into the fit, and as of the as-of
-- date for the holdout days after it (int_clv_calibration).
with

orders as (select * from {{ ref('int_orders_unioned') }}),
members as (select * from {{ ref('int_members_resolved') }}),
calibration as (select * from {{ ref('int_clv_calibration') }}),

final as (
    select
        orders.member_id,
        orders.order_date,
        cast(sum(orders.gmv_amount) as decimal(18, 2)) as gmv_amount
    from orders
    inner join members on orders.member_id = members.member_id
    cross join calibration
    where
        orders.order_date <= calibration.as_of_date
        and case
            when orders.order_date <= calibration.calibration_end_date
                then {{ is_purchase_as_of('calibration.calibration_end_date', 'orders') }}
            else {{ is_purchase_as_of('calibration.as_of_date', 'orders') }}
        end
    group by orders.member_id, orders.order_date
)

select * from final
