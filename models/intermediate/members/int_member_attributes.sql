-- What the incremental models that keep rows per member read of each CRM member_id besides
-- their orders: the merged member_id they count as (int_member_id_map), whether that member
-- is in int_members_resolved, and their registration date, registration store and its
-- region. int_member_attributes_touched compares it with the last marts build's
-- (int_member_attributes_as_built).
with

crm_members as (select * from {{ ref('stg_crm__members') }}),
id_map as (select * from {{ ref('int_member_id_map') }}),
members as (select * from {{ ref('int_members_resolved') }}),
stores as (select * from {{ ref('stg_stores__stores') }}),

final as (
    select
        crm_members.member_id as source_member_id,
        coalesce(id_map.member_id, crm_members.member_id) as member_id,
        members.member_id is not null as is_resolved_member,
        members.register_date,
        members.register_store_code,
        stores.region
    from crm_members
    left join id_map on crm_members.member_id = id_map.source_member_id
    left join members on coalesce(id_map.member_id, crm_members.member_id) = members.member_id
    left join stores on members.register_store_code = stores.store_code
)

select * from final
