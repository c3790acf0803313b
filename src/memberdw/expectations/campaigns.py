"""Campaigns, their audiences and touches (``staging.stg_marketing__campaign*``)."""

from __future__ import annotations

import great_expectations.expectations as gxe

from memberdw.expectations.base import (
    ENUMS, ERROR, FUTURE_BOUND, QUARANTINE, REVIEW, WARN, Dataset, check, known, known_reference,
)

CAMPAIGNS_QUERY = """
select
    campaign_id as record_key,
    null::varchar as member_id,
    campaign_id,
    scenario,
    channel,
    start_date,
    end_date,
    _source_file,
    _source_line
from staging.stg_marketing__campaigns
"""

AUDIENCE_QUERY = f"""
select
    concat_ws('|', campaign_id, member_id) as record_key,
    member_id,
    campaign_id,
    audience_group,
    {known('campaign_id', 'staging.stg_marketing__campaigns')} as is_known_campaign,
    {known('member_id', 'staging.stg_crm__members')} as is_known_member,
    _source_file,
    _source_line
from staging.stg_marketing__campaign_audience
"""

TOUCHES_QUERY = f"""
select
    concat_ws('|', campaign_id, member_id, channel, strftime(sent_at, '%Y-%m-%d %H:%M:%S'))
        as record_key,
    member_id,
    channel,
    sent_at,
    {known('campaign_id', 'staging.stg_marketing__campaigns')} as is_known_campaign,
    {known('member_id', 'staging.stg_crm__members')} as is_known_member,
    _source_file,
    _source_line
from staging.stg_marketing__campaign_touches
"""


def campaign_expectations():
    return [
        check(gxe.ExpectColumnValuesToBeUnique, column="campaign_id",
              rule="duplicate_key", severity=ERROR, action=QUARANTINE,
              why="campaign_id identifies one campaign in the current snapshot."),
        check(gxe.ExpectColumnValuesToBeInSet, column="scenario", value_set=ENUMS["scenario"],
              rule="invalid_enum:scenario", severity=WARN, action=REVIEW,
              why="scenario is one of the contract's campaign scenarios."),
        check(gxe.ExpectColumnValuesToBeInSet, column="channel",
              value_set=ENUMS["touch_channel"],
              rule="invalid_enum:channel", severity=WARN, action=REVIEW,
              why="channel is one of the contract's touch channels."),
        check(gxe.ExpectColumnPairValuesAToBeGreaterThanB, column_A="end_date",
              column_B="start_date", or_equal=True, ignore_row_if="either_value_is_missing",
              rule="invalid_date_range", severity=WARN, action=REVIEW,
              why="A campaign window ends on or after the day it starts."),
    ]


def audience_expectations():
    return [
        check(gxe.ExpectColumnValuesToBeInSet, column="audience_group",
              value_set=ENUMS["audience_group"],
              rule="invalid_enum:group", severity=WARN, action=QUARANTINE,
              why="group is treatment or control; without it the member cannot enter lift."),
        known_reference("campaign", severity=WARN, action=QUARANTINE,
              why="campaign_id is a campaign of the current campaign list."),
        known_reference("member", severity=WARN, action=QUARANTINE,
              why="member_id is a CRM member."),
    ]


def touch_expectations():
    return [
        check(gxe.ExpectColumnValuesToBeInSet, column="channel",
              value_set=ENUMS["touch_channel"],
              rule="invalid_enum:channel", severity=WARN, action=REVIEW,
              why="channel is one of the contract's touch channels."),
        known_reference("campaign", severity=WARN, action=QUARANTINE,
              why="campaign_id is a campaign of the current campaign list."),
        known_reference("member", severity=WARN, action=QUARANTINE,
              why="member_id is a CRM member."),
        check(gxe.ExpectColumnValuesToBeBetween, column="sent_at",
              max_value={"$PARAMETER": FUTURE_BOUND}, strict_max=True,
              rule="future_date:sent_at", severity=WARN, action=QUARANTINE,
              why="A touch is not sent after the run's as-of date."),
    ]


DATASETS = [
    Dataset("campaigns", "staging.stg_marketing__campaigns", CAMPAIGNS_QUERY,
            campaign_expectations),
    Dataset("campaign_audience", "staging.stg_marketing__campaign_audience", AUDIENCE_QUERY,
            audience_expectations),
    Dataset("campaign_touches", "staging.stg_marketing__campaign_touches", TOUCHES_QUERY,
            touch_expectations),
]
