with

id_map as (select * from {{ ref('int_member_id_map') }}),

final as (
    select
        source_member_id,
        member_id,
        merge_rule
    from id_map
)

select * from final
