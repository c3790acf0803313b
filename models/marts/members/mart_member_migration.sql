-- Member-level RFM migration: one row per step between snapshots and member, so "who moved
-- down last month" is `where is_downgrade and to_month = <month>`.
with

migration as (select * from {{ ref('int_member_migration') }}),

final as (
    select
        cast({{ dbt.date_trunc('month', 'from_date') }} as date) as from_month,
        cast({{ dbt.date_trunc('month', 'to_date') }} as date) as to_month,
        from_date,
        to_date,
        is_to_month_end,
        member_id,
        from_segment,
        to_segment,
        from_value_group,
        to_value_group,
        is_downgrade,
        gmv_amount
    from migration
)

select * from final
