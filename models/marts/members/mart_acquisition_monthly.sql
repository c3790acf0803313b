-- Acquisition cost against the members it brought, per month, register channel and store.
-- A new member is a person of dim_members whose earliest registration falls in the month;
-- each counts in exactly one row: the cost row of their month, channel and register store,
-- else the channel-wide cost row of their month and channel (store_code null), else a row
-- without cost. Only months with a delivered cost, up to the as-of date. mean_clv_amount:
-- the mean CLV (mart_member_clv) of the row's new members who have one (a purchase by the
-- CLV calibration end); clv_cac_ratio = mean CLV / CAC, the private-domain ROI.
{%- set window_days = 90 %}
with

costs as (
    select * from {{ ref('stg_marketing__acquisition_costs') }}
    where {{ dq_not_quarantined('acquisition_costs') }}
),

members as (select * from {{ ref('dim_members') }}),
orders as (select * from {{ ref('fct_orders') }}),
member_clv as (select * from {{ ref('mart_member_clv') }}),
as_of as (select * from {{ ref('int_as_of_date') }}),

cost_rows as (
    select
        cast(costs.cost_month || '-01' as date) as acquisition_month,
        costs.register_channel,
        costs.store_code,
        case when costs.store_code is null then 'channel' else 'store' end as cost_scope,
        costs.cost_amount
    from costs
    inner join as_of on cast(costs.cost_month || '-01' as date) <= as_of.as_of_date
),

covered_months as (
    select distinct acquisition_month from cost_rows
),

new_members as (
    select
        members.member_id,
        members.register_date,
        cast(date_trunc('month', members.register_date) as date) as acquisition_month,
        members.register_channel,
        members.register_store_code,
        members.register_date + {{ window_days - 1 }} <= as_of.as_of_date as is_window_complete
    from members
    inner join as_of on members.register_date <= as_of.as_of_date
    inner join covered_months
        on cast(date_trunc('month', members.register_date) as date) = covered_months.acquisition_month
),

attributed as (
    select
        new_members.member_id,
        new_members.register_date,
        new_members.acquisition_month,
        new_members.register_channel,
        new_members.is_window_complete,
        case
            when store_cost.store_code is not null then store_cost.store_code
            when channel_cost.cost_scope is not null then null
            else new_members.register_store_code
        end as store_code,
        coalesce(store_cost.cost_scope, channel_cost.cost_scope, 'none') as cost_scope
    from new_members
    left join cost_rows as store_cost
        on
            new_members.acquisition_month = store_cost.acquisition_month
            and new_members.register_channel = store_cost.register_channel
            and new_members.register_store_code = store_cost.store_code
    left join cost_rows as channel_cost
        on
            new_members.acquisition_month = channel_cost.acquisition_month
            and new_members.register_channel = channel_cost.register_channel
            and channel_cost.store_code is null
),

first_window_gmv as (
    select
        attributed.member_id,
        sum(orders.gmv_amount) as gmv_amount
    from attributed
    inner join orders
        on
            attributed.member_id = orders.member_id
            and attributed.register_date <= orders.order_date
            and attributed.register_date + {{ window_days }} > orders.order_date
    inner join as_of on orders.order_date <= as_of.as_of_date
    group by attributed.member_id
),

members_per_row as (
    select
        attributed.acquisition_month,
        attributed.register_channel,
        attributed.store_code,
        attributed.cost_scope,
        count(*) as new_member_count,
        count(*) filter (where attributed.is_window_complete) as complete_90d_member_count,
        sum(coalesce(first_window_gmv.gmv_amount, 0)) as first_90d_gmv_amount,
        count(member_clv.member_id) as clv_member_count,
        {{ avg_double('member_clv.clv_amount') }} as mean_clv_amount
    from attributed
    left join first_window_gmv on attributed.member_id = first_window_gmv.member_id
    left join member_clv on attributed.member_id = member_clv.member_id
    group by
        attributed.acquisition_month,
        attributed.register_channel,
        attributed.store_code,
        attributed.cost_scope
),

joined as (
    select
        coalesce(cost_rows.acquisition_month, members_per_row.acquisition_month)
            as acquisition_month,
        coalesce(cost_rows.register_channel, members_per_row.register_channel)
            as register_channel,
        coalesce(cost_rows.store_code, members_per_row.store_code) as store_code,
        coalesce(cost_rows.cost_scope, members_per_row.cost_scope) as cost_scope,
        coalesce(members_per_row.new_member_count, 0) as new_member_count,
        cost_rows.cost_amount as acquisition_cost_amount,
        coalesce(members_per_row.first_90d_gmv_amount, 0) as first_90d_gmv_amount,
        coalesce(members_per_row.complete_90d_member_count, 0) as complete_90d_member_count,
        coalesce(members_per_row.clv_member_count, 0) as clv_member_count,
        members_per_row.mean_clv_amount
    from cost_rows
    full outer join members_per_row
        on
            cost_rows.acquisition_month = members_per_row.acquisition_month
            and cost_rows.register_channel = members_per_row.register_channel
            and cost_rows.cost_scope = members_per_row.cost_scope
            and cost_rows.store_code is not distinct from members_per_row.store_code
),

final as (
    select
        as_of.as_of_date,
        joined.acquisition_month,
        joined.register_channel,
        joined.store_code,
        joined.cost_scope,
        cast(joined.new_member_count as bigint) as new_member_count,
        cast(joined.acquisition_cost_amount as decimal(18, 2)) as acquisition_cost_amount,
        {{ double_to_decimal(ratio('joined.acquisition_cost_amount', 'joined.new_member_count')) }}
            as cac_amount,
        cast(joined.first_90d_gmv_amount as decimal(18, 2)) as first_90d_gmv_amount,
        cast(joined.complete_90d_member_count as bigint) as complete_90d_member_count,
        cast(
            {{ dbt.dateadd('day', window_days - 2,
                           dbt.dateadd('month', 1, "date_trunc('month', joined.acquisition_month)")) }}
            as date
        ) <= as_of.as_of_date as is_first_90d_complete,
        cast(joined.clv_member_count as bigint) as clv_member_count,
        {{ double_to_decimal('joined.mean_clv_amount') }} as mean_clv_amount,
        {{ ratio('joined.mean_clv_amount',
                 ratio('joined.acquisition_cost_amount', 'joined.new_member_count')) }}
            as clv_cac_ratio
    from joined
    cross join as_of
)

select * from final
