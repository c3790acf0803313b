with

source as (
    select * from {{ source('marketing', 'campaigns') }}
    where {{ delivered_by_as_of() }}
),

current_loads as (select * from {{ ref('stg_meta__current_snapshot_loads') }}),

current_snapshot as (
    select
        source.campaign_id,
        source.name as campaign_name,
        source.scenario,
        source.region,
        source.channel,
        source.start_date,
        source.end_date,
        source.budget as budget_amount,
        source.cost as cost_amount,
        source.target_segment,
        current_loads.snapshot_date,
        source._source_file,
        source._source_line
    from source
    inner join current_loads
        on
            source._load_id = current_loads.load_id
            and current_loads.entity = 'campaigns'
)

select * from current_snapshot
