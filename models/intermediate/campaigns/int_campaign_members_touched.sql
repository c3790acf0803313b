-- The members whose rows in every campaign an incremental marts build recomputes in
-- int_campaign_member_outcomes, besides every row of the campaigns int_campaigns_touched
-- lists (DECISIONLOG "Incremental campaign outcomes"): a member's assignment and touches (by
-- merged member_id), lookalike eligibility (registered before the start), registration store
-- and region follow the CRM record and identity resolution, not dated orders. Listed: the
-- merged member_id, now and as the last marts build had it, of every CRM member_id whose
-- int_member_attributes differ from that build's
-- (int_member_attributes_as_built), new and gone member_ids included. Empty on a
-- full build.
{% if not incremental_facts_run() %}

    select cast(null as {{ dbt.type_string() }}) as member_id
    where 1 = 0

{% else %}

with

attributes as (select * from {{ ref('int_member_attributes') }}),
attributes_built as (select * from {{ built_before('int_member_attributes_as_built') }}),

changed as (
    select
        attributes.member_id,
        attributes_built.member_id as built_member_id
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

touched as (
    select member_id from changed where member_id is not null
    union
    select built_member_id as member_id from changed where built_member_id is not null
)

select * from touched

{% endif %}
