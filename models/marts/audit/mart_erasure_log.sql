-- One row per erasure pass that changed anything and table column it changed: what
-- auditors need to see that erasure requests were carried out, without any personal data
-- or the erased member_ids.
with

passes as (select * from {{ source('meta', 'erasure_passes') }}),
changes as (select * from {{ source('meta', 'erasure_changes') }}),

log as (
    select
        passes.run_id,
        passes.ran_at,
        passes.members_erased,
        changes.table_name,
        changes.column_name,
        coalesce(changes.rows_changed, 0) as rows_changed
    from passes
    left join changes on passes.run_id = changes.run_id
)

select * from log
