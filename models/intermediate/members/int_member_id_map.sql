-- Identity resolution: CRM member_ids that share a normalised mobile or a unionid,
-- directly or through others, are one person. The merged member_id is the smallest
-- member_id of the group. Erased members (is_deleted) never merge.
with recursive

members as (select * from {{ ref('stg_crm__members') }}),

identities as (
    select
        member_id,
        'mobile' as merge_rule,
        mobile_hash as identity_hash
    from members
    where mobile_hash is not null and not is_deleted
    union all
    select
        member_id,
        'unionid' as merge_rule,
        unionid_hash as identity_hash
    from members
    where unionid_hash is not null and not is_deleted
),

links as (
    select distinct
        a.member_id as from_member_id,
        b.member_id as to_member_id,
        a.merge_rule
    from identities as a
    inner join identities as b
        on
            a.merge_rule = b.merge_rule
            and a.identity_hash = b.identity_hash
            and a.member_id <> b.member_id
),

{{ reachable_members_cte() }},

groups as (
    select
        member_id,
        min(reachable_member_id) as merged_member_id,
        count(*) as group_size
    from reachable
    group by member_id
),

rules as (
    select
        from_member_id as member_id,
        max(case when merge_rule = 'mobile' then 1 else 0 end) as by_mobile,
        max(case when merge_rule = 'unionid' then 1 else 0 end) as by_unionid
    from links
    group by from_member_id
),

id_map as (
    select
        groups.member_id as source_member_id,
        groups.merged_member_id as member_id,
        groups.group_size,
        case
            when rules.by_mobile = 1 and rules.by_unionid = 1 then 'mobile+unionid'
            when rules.by_mobile = 1 then 'mobile'
            when rules.by_unionid = 1 then 'unionid'
            else 'none'
        end as merge_rule
    from groups
    left join rules on groups.member_id = rules.member_id
)

select * from id_map
