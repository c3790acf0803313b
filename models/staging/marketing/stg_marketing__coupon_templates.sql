with

source as (
    select * from {{ source('marketing', 'coupon_templates') }}
    where {{ delivered_by_as_of() }}
),

current_loads as (select * from {{ ref('stg_meta__current_snapshot_loads') }}),

current_snapshot as (
    select
        source.template_id,
        source.name as template_name,
        source.coupon_type,
        source.face_value as face_value_amount,
        source.threshold_amount,
        source.category,
        source.valid_days,
        source.campaign_id,
        source.unit_cost as unit_cost_amount,
        current_loads.snapshot_date,
        source._source_file,
        source._source_line
    from source
    inner join current_loads
        on
            source._load_id = current_loads.load_id
            and current_loads.entity = 'coupon_templates'
)

select * from current_snapshot
