-- Members moving between RFM segments from one snapshot (month end) to the next, the last
-- step ending on the as-of date; the member-level rows are mart_member_migration.
with

migration as (select * from {{ ref('int_member_migration') }}),

final as (
    select
        cast({{ dbt.date_trunc('month', 'from_date') }} as date) as from_month,
        cast({{ dbt.date_trunc('month', 'to_date') }} as date) as to_month,
        from_date,
        to_date,
        is_to_month_end,
        from_segment,
        to_segment,
        from_value_group,
        to_value_group,
        is_downgrade,
        count(*) as member_count,
        cast(sum(gmv_amount) as decimal(18, 2)) as gmv_amount
    from migration
    group by
        from_date,
        to_date,
        is_to_month_end,
        from_segment,
        to_segment,
        from_value_group,
        to_value_group,
        is_downgrade
)

select * from final
