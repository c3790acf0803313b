-- The member an order's identifier credits it to, when the order names no known member
-- card: per keyed hash of a mobile (POS tickets), a unionid or an openid (mini-program
-- orders), the smallest merged member_id among the members (not erased) that hold it.
with

members as (select * from {{ ref('stg_crm__members') }}),
id_map as (select * from {{ ref('int_member_id_map') }}),

member_keys as (
    select
        id_map.member_id,
        members.mobile_hash,
        members.unionid_hash,
        members.openid_hash
    from members
    inner join id_map on members.member_id = id_map.source_member_id
    where not members.is_deleted
),

keys as (
    select
        'mobile' as key_type,
        mobile_hash as key_hash,
        min(member_id) as member_id
    from member_keys
    where mobile_hash is not null
    group by mobile_hash
    union all
    select
        'unionid' as key_type,
        unionid_hash as key_hash,
        min(member_id) as member_id
    from member_keys
    where unionid_hash is not null
    group by unionid_hash
    union all
    select
        'openid' as key_type,
        openid_hash as key_hash,
        min(member_id) as member_id
    from member_keys
    where openid_hash is not null
    group by openid_hash
)

select * from keys
