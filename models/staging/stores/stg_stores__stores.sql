with

source as (
    select * from {{ source('stores', 'stores') }}
    where {{ delivered_by_as_of() }}
),

current_loads as (select * from {{ ref('stg_meta__current_snapshot_loads') }}),

current_snapshot as (
    select
        source.store_code,
        source.name as store_name,
        source.region,
        source.province,
        source.city,
        source.store_type,
        source.opened_on,
        source.closed_on,
        current_loads.snapshot_date,
        source._source_file,
        source._source_line
    from source
    inner join current_loads
        on
            source._load_id = current_loads.load_id
            and current_loads.entity = 'stores'
)

select * from current_snapshot
