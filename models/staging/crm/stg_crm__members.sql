{{ config(**keyed_incremental(['member_id'], member_key='member_id')) }}

with

source as (
    select * from {{ source('crm', 'members') }}
    where
        {{ delivered_by_as_of() }}
        and {{ touched_keys_only(source('crm', 'members'), ['member_id']) }}
),

ranked as (
    select
        *,
        {{ copies_in_delivery('member_id, updated_at') }} as _copies_in_delivery,
        {{ version_rank('member_id', 'updated_at desc, _dt desc, _loaded_at desc, _source_line desc') }}
            as version_rank
    from source
),

latest as (
    select
        member_id,
        {{ pii_hash('mobile') }} as mobile_hash,
        {{ pii_hash('unionid') }} as unionid_hash,
        {{ pii_hash('openid') }} as openid_hash,
        {{ mask_name('name') }} as name_masked,
        case gender when '男' then 'M' when '女' then 'F' else gender end as gender,
        extract(month from birthday) as birth_month,
        province,
        city,
        {{ business_time('register_time') }} as registered_at,
        register_channel,
        register_store_code,
        referrer_member_id,
        tier,
        points_balance,
        sms_opt_in as is_sms_opt_in,
        deleted or member_id = {{ erased_member_id() }} as is_deleted,
        {{ business_time('updated_at') }} as updated_at,
        _copies_in_delivery,
        _source_file,
        _source_line,
        {{ loaded_or_erased_at() }} as _loaded_at
    from ranked
    where version_rank = 1
)

select * from latest
