-- A key rotation's crosswalk: each personal value's hash under the previous key beside its
-- hash under the current one, so systems holding old hashes can move to the new ones.
-- Empty unless MEMBERDW_PII_KEY_PREVIOUS is set (memberdw_pii_hash_previous is NULL then).
with

crm_members as (select * from {{ source('crm', 'members') }}),
pos_order_lines as (select * from {{ source('pos', 'order_lines') }}),
miniapp_orders as (select * from {{ source('miniapp', 'orders') }}),
miniapp_events as (select * from {{ source('miniapp', 'events') }}),

personal_values as (
    select
        'mobile' as pii_kind,
        mobile as pii_value
    from crm_members
    union
    select
        'mobile' as pii_kind,
        mobile as pii_value
    from pos_order_lines
    union
    select
        'unionid' as pii_kind,
        unionid as pii_value
    from crm_members
    union
    select
        'unionid' as pii_kind,
        unionid as pii_value
    from miniapp_orders
    union
    select
        'unionid' as pii_kind,
        unionid as pii_value
    from miniapp_events
    union
    select
        'openid' as pii_kind,
        openid as pii_value
    from crm_members
    union
    select
        'openid' as pii_kind,
        openid as pii_value
    from miniapp_orders
    union
    select
        'openid' as pii_kind,
        shared_by_openid as pii_value
    from miniapp_orders
    union
    select
        'openid' as pii_kind,
        openid as pii_value
    from miniapp_events
    union
    select
        'openid' as pii_kind,
        shared_by_openid as pii_value
    from miniapp_events
),

previous_hashes as (
    select
        pii_kind,
        pii_value,
        {{ pii_hash_previous('pii_value') }} as previous_hash
    from personal_values
    where pii_value is not null
),

rotation as (
    select
        pii_kind,
        previous_hash,
        {{ pii_hash('pii_value') }} as current_hash
    from previous_hashes
    where previous_hash is not null
)

select * from rotation
