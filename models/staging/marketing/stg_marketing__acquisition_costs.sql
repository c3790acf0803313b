with

source as (
    select * from {{ source('marketing', 'acquisition_costs') }}
    where {{ delivered_by_as_of() }}
),

ranked as (
    select
        *,
        {{ copies_in_delivery('month, register_channel, store_code') }} as _copies_in_delivery,
        {{ version_rank('month, register_channel, store_code',
                        '_dt desc, _loaded_at desc, _source_line desc') }} as version_rank
    from source
),

latest as (
    select
        month as cost_month,
        register_channel,
        store_code,
        cast(cost as decimal(18, 2)) as cost_amount,
        _copies_in_delivery,
        _source_file,
        _source_line
    from ranked
    where version_rank = 1
)

select * from latest
