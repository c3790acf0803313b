-- The CLV fit's dates and horizon, one row: calibration_end_date (var clv_calibration_end,
-- else the as-of date; it may not be after the as-of date), as_of_date and horizon_days
-- (var clv_horizon_days, the span expected purchases and CLV are forecast over).
with

as_of as (select * from {{ ref('int_as_of_date') }}),

final as (
    select
        {% if var('clv_calibration_end') -%}
            cast('{{ var("clv_calibration_end") }}' as date)
        {%- else -%}
            as_of_date
        {%- endif %} as calibration_end_date,
        as_of_date,
        cast({{ var('clv_horizon_days') }} as integer) as horizon_days
    from as_of
)

select * from final
