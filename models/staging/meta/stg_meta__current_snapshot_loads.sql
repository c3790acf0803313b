-- Snapshot entities: the newest complete dt (up to the as-of date) is the current state.
-- A snapshot delivered with the same bytes as an earlier one is a duplicate in the ledger,
-- so its rows live under the earlier load (content_load_id).
with

ledger as (select * from {{ source('meta', 'load_ledger') }}),

snapshot_files as (
    select
        source,
        entity,
        dt,
        content_load_id
    from ledger
    where
        status in ('loaded', 'duplicate')
        and {{ delivered_by_as_of('dt') }}
        and (source || '/' || entity) in (
            'marketing/coupon_templates', 'marketing/campaigns', 'stores/stores'
        )
),

newest_dt as (
    select
        source,
        entity,
        max(dt) as dt
    from snapshot_files
    group by source, entity
),

current_loads as (
    select distinct
        snapshot_files.source,
        snapshot_files.entity,
        snapshot_files.dt as snapshot_date,
        snapshot_files.content_load_id as load_id
    from snapshot_files
    inner join newest_dt
        on
            snapshot_files.source = newest_dt.source
            and snapshot_files.entity = newest_dt.entity
            and snapshot_files.dt = newest_dt.dt
)

select * from current_loads
