-- One row per member after identity resolution, the members every member mart is about.
-- Profile fields come from the newest complete CRM record of the person, registration
-- from the earliest. Members whose every record is quarantined as an incomplete profile,
-- and members who asked for erasure, are left out (their sales still count in store and
-- channel figures). dim_members publishes it; intermediate models read it, not the mart.
with

members as (select * from {{ ref('stg_crm__members') }}),
id_map as (select * from {{ ref('int_member_id_map') }}),
flags as (select * from {{ ref('int_quality_flags') }}),

incomplete as (
    select distinct record_key as source_member_id
    from flags
    where {{ dq_flags_of('members', action='quarantine') }}
),

records as (
    select
        id_map.member_id,
        members.member_id as source_member_id,
        members.mobile_hash,
        members.name_masked,
        members.gender,
        members.birth_month,
        members.city,
        members.province,
        members.tier,
        members.registered_at,
        members.register_channel,
        members.register_store_code,
        members.is_sms_opt_in,
        members.is_deleted,
        members.updated_at
    from members
    inner join id_map on members.member_id = id_map.source_member_id
    where
        not members.is_deleted
        and members.member_id not in (select incomplete.source_member_id from incomplete)
),

newest as (
    select
        *,
        row_number() over (
            partition by member_id order by updated_at desc, source_member_id asc
        ) as rn
    from records
),

earliest as (
    select
        *,
        row_number() over (
            partition by member_id order by registered_at asc nulls last, source_member_id asc
        ) as rn
    from records
),

final as (
    select
        newest.member_id,
        newest.mobile_hash,
        newest.name_masked,
        newest.gender,
        cast(newest.birth_month as integer) as birth_month,
        newest.city,
        newest.province,
        newest.tier,
        cast(earliest.registered_at as date) as register_date,
        earliest.register_channel,
        earliest.register_store_code,
        newest.is_sms_opt_in
    from newest
    inner join earliest on newest.member_id = earliest.member_id and earliest.rn = 1
    where newest.rn = 1
)

select * from final
