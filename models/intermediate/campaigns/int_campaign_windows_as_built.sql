-- The campaign windows as this marts build leaves them: the next incremental build's
-- int_campaigns_touched reads this table before it is rebuilt (the windows the build before
-- it used) to find the campaigns that are new or whose window moved.
-- depends_on: {{ ref('int_campaigns_touched') }}
select
    campaign_id,
    start_date,
    end_date
from {{ ref('int_campaign_windows') }}
