with

source as (
    select * from {{ source('stores', 'targets') }}
    where {{ delivered_by_as_of() }}
),

ranked as (
    select
        *,
        {{ version_rank('store_code, month', '_dt desc, _loaded_at desc, _source_line desc') }}
            as version_rank
    from source
),

latest as (
    select
        store_code,
        month as target_month,
        sales_target as sales_target_amount,
        _source_file,
        _source_line
    from ranked
    where version_rank = 1
)

select * from latest
