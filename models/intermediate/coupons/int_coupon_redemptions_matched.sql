-- One row per redemption that passed validation, matched to its order: by order_ref when the
-- coupon system recorded it (a POS order_no at the redemption's store, or a mini-program
-- order_id), otherwise the member's purchase at that store (any store when none is given)
-- nearest in time on the redemption's business date. Unmatched redemptions stay, with
-- match_method 'unmatched'. redemption_rank orders a code's redemptions by time: rank 1 is
-- the redemption that counts; a repeat (rank > 1) is listed for review, never counted twice.
-- Both joins to the orders are equalities DuckDB can hash: an order_ref gives two candidate
-- order_ids ('mp:' ref, 'pos:' store ':' ref), each joined on its own and the two unioned,
-- not one join on an OR of both (a nested loop over redemptions x orders: 100 s at 300,000
-- members, 2 s as equi-joins); the nearest purchase is looked for only for redemptions no reference matched.
with

redemptions as (
    select * from {{ ref('stg_marketing__coupon_redemptions') }}
    where {{ dq_not_quarantined('coupon_redemptions') }}
),

id_map as (select * from {{ ref('int_member_id_map') }}),
orders as (select * from {{ ref('int_orders_unioned') }}),

keyed as (
    select
        redemptions.coupon_code,
        coalesce(id_map.member_id, redemptions.member_id) as member_id,
        redemptions.redeemed_at,
        cast(redemptions.redeemed_at as date) as redeemed_date,
        redemptions.order_ref,
        redemptions.store_code,
        redemptions.discount_amount,
        row_number() over (
            partition by redemptions.coupon_code
            order by redemptions.redeemed_at nulls last, redemptions._source_file, redemptions._source_line
        ) as redemption_rank,
        redemptions._source_file,
        redemptions._source_line
    from redemptions
    left join id_map on redemptions.member_id = id_map.source_member_id
),

-- the order_ids an order_ref can name: a mini-program order_id, or a POS order_no at the
-- redemption's store (none without a store)
reference_candidates as (
    select
        coupon_code,
        redemption_rank,
        'mp:' || order_ref as candidate_order_id
    from keyed
    where order_ref is not null
    union all
    select
        coupon_code,
        redemption_rank,
        'pos:' || store_code || ':' || order_ref as candidate_order_id
    from keyed
    where order_ref is not null and store_code is not null
),

by_reference as (
    select
        reference_candidates.coupon_code,
        reference_candidates.redemption_rank,
        min(orders.order_id) as order_id
    from reference_candidates
    inner join orders
        on
            reference_candidates.candidate_order_id = orders.order_id
            and orders.order_type = 'sale'
    group by reference_candidates.coupon_code, reference_candidates.redemption_rank
),

unreferenced as (
    select keyed.*
    from keyed
    where
        not exists (
            select 1
            from by_reference
            where
                by_reference.coupon_code = keyed.coupon_code
                and by_reference.redemption_rank = keyed.redemption_rank
        )
),

nearest_candidates as (
    select
        unreferenced.coupon_code,
        unreferenced.redemption_rank,
        orders.order_id,
        row_number() over (
            partition by unreferenced.coupon_code, unreferenced.redemption_rank
            order by
                abs({{ dbt.datediff('orders.ordered_at', 'unreferenced.redeemed_at', 'second') }}),
                orders.order_id
        ) as nearness_rank
    from unreferenced
    inner join orders
        on
            unreferenced.member_id = orders.member_id
            and unreferenced.redeemed_date = orders.order_date
            and (unreferenced.store_code is null or unreferenced.store_code = orders.store_code)
            and orders.order_type = 'sale'
),

final as (
    select
        keyed.coupon_code,
        keyed.member_id,
        keyed.redeemed_at,
        keyed.redeemed_date,
        keyed.order_ref,
        keyed.store_code,
        cast(keyed.discount_amount as decimal(18, 2)) as discount_amount,
        cast(keyed.redemption_rank as integer) as redemption_rank,
        keyed.redemption_rank > 1 as is_repeat,
        coalesce(by_reference.order_id, nearest_candidates.order_id) as order_id,
        case
            when by_reference.order_id is not null then 'order_ref'
            when nearest_candidates.order_id is not null then 'nearest_purchase'
            else 'unmatched'
        end as match_method,
        keyed._source_file,
        keyed._source_line
    from keyed
    left join by_reference
        on
            keyed.coupon_code = by_reference.coupon_code
            and keyed.redemption_rank = by_reference.redemption_rank
    left join nearest_candidates
        on
            keyed.coupon_code = nearest_candidates.coupon_code
            and keyed.redemption_rank = nearest_candidates.redemption_rank
            and nearest_candidates.nearness_rank = 1
)

select * from final
