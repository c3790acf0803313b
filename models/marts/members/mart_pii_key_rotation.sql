-- Published only so that consumers holding hashes under the previous key can migrate during
-- the rotation run; empty outside one.
with

key_rotation as (select * from {{ ref('stg_pii__key_rotation') }})

select * from key_rotation
