-- The merged member_ids, now and as the last marts build had them, of every CRM member_id
-- whose int_member_attributes differ from that build's (int_member_attributes_as_built),
-- new and gone member_ids included: the members whose rows in every campaign
-- int_campaign_member_outcomes recomputes (besides every row of the campaigns
-- int_campaigns_touched lists; DECISIONLOG "Incremental campaign outcomes"), as a member's
-- assignment and touches (by merged member_id), lookalike eligibility (registered before
-- the start), registration store and region follow the CRM record and identity
-- resolution, not dated orders. is_membership_changed: the member was merged otherwise or
-- taken in or out of int_members_resolved, which is all int_rfm_snapshots_touched reads
-- (a delivery that changes neither changes no RFM). Empty on a full build.
{% if not incremental_facts_run() %}

    select
        cast(null as {{ dbt.type_string() }}) as member_id,
        cast(null as boolean) as is_membership_changed
    where 1 = 0

{% else %}

with

attributes as (select * from {{ ref('int_member_attributes') }}),
attributes_built as (select * from {{ built_before('int_member_attributes_as_built') }}),

changed as (
    select
        attributes.member_id,
        attributes_built.member_id as built_member_id,
        attributes.member_id is distinct from attributes_built.member_id
        or attributes.is_resolved_member is distinct from attributes_built.is_resolved_member
            as is_membership_changed
    from attributes
    full outer join attributes_built
        on attributes.source_member_id = attributes_built.source_member_id
    where
        attributes.member_id is distinct from attributes_built.member_id
        or attributes.is_resolved_member is distinct from attributes_built.is_resolved_member
        or attributes.register_date is distinct from attributes_built.register_date
        or attributes.register_store_code is distinct from attributes_built.register_store_code
        or attributes.region is distinct from attributes_built.region
),

members as (
    select
        member_id,
        is_membership_changed
    from changed
    where member_id is not null
    union all
    select
        built_member_id as member_id,
        is_membership_changed
    from changed
    where built_member_id is not null
),

final as (
    select
        member_id,
        max(case when is_membership_changed then 1 else 0 end) = 1 as is_membership_changed
    from members
    group by member_id
)

select * from final

{% endif %}
