-- int_member_attributes as this marts build leaves it: the next incremental build's
-- int_rfm_snapshots_touched and int_campaign_members_touched read this table before it is
-- rebuilt (the attributes the build before it used).
-- depends_on: {{ ref('int_rfm_snapshots_touched') }}
-- depends_on: {{ ref('int_campaign_members_touched') }}
select * from {{ ref('int_member_attributes') }}
