-- The row flags of the newest Great Expectations run (memberdw.quality writes them); a
-- run that flagged nothing has no flags, so the newest run comes from the results.
with

results as (select * from {{ source('meta', 'dq_results') }}),
flags as (select * from {{ source('meta', 'dq_row_flags') }}),

newest_run as (
    select run_id
    from results
    order by validated_at desc
    limit 1
),

current_flags as (
    select flags.*
    from flags
    inner join newest_run on flags.run_id = newest_run.run_id
)

select * from current_flags
