with

stores as (select * from {{ ref('stg_stores__stores') }}),

final as (
    select
        store_code,
        store_name as name,  -- noqa: RF04
        region,
        province,
        city,
        store_type,
        opened_on,
        closed_on
    from stores
)

select * from final
