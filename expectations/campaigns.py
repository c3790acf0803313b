"""Campaigns, their audiences and touches (``staging.stg_marketing__campaign*``)."""

from __future__ import annotations

from expectations.base import (
    ENUMS, QUARANTINE, REVIEW, Dataset, copies, in_set, known, known_reference,
    not_after_as_of, rule, unique_key,
)

CAMPAIGN_KEY = "campaign_id"
AUDIENCE_KEY = "concat_ws('|', campaign_id, member_id)"
TOUCH_KEY = ("concat_ws('|', campaign_id, member_id, channel,"
             " strftime(sent_at, '%Y-%m-%d %H:%M:%S'))")

CAMPAIGNS_QUERY = f"""
select
    {CAMPAIGN_KEY} as record_key,
    null::varchar as member_id,
    scenario,
    channel,
    start_date,
    end_date,
    {copies('campaign_id')} as key_copies,
    _source_file,
    _source_line
from staging.stg_marketing__campaigns
"""

AUDIENCE_QUERY = f"""
select
    {AUDIENCE_KEY} as record_key,
    member_id,
    audience_group,
    {known('campaign_id', 'staging.stg_marketing__campaigns')} as is_known_campaign,
    {known('member_id', 'staging.stg_crm__members')} as is_known_member,
    _source_file,
    _source_line
from staging.stg_marketing__campaign_audience
"""

TOUCHES_QUERY = f"""
select
    {TOUCH_KEY} as record_key,
    member_id,
    channel,
    sent_at,
    {known('campaign_id', 'staging.stg_marketing__campaigns')} as is_known_campaign,
    {known('member_id', 'staging.stg_crm__members')} as is_known_member,
    _source_file,
    _source_line
from staging.stg_marketing__campaign_touches
"""


def campaign_rules():
    return [
        unique_key(why="campaign_id identifies one campaign in the current snapshot."),
        in_set("scenario", ENUMS["scenario"], action=REVIEW,
               why="scenario is one of the contract's campaign scenarios."),
        in_set("channel", ENUMS["touch_channel"], action=REVIEW,
               why="channel is one of the contract's touch channels."),
        rule("invalid_date_range", "end_date < start_date", action=REVIEW,
             why="A campaign window ends on or after the day it starts."),
    ]


def audience_rules():
    return [
        rule("invalid_enum:group",
             "audience_group not in ('" + "', '".join(ENUMS["audience_group"]) + "')",
             action=QUARANTINE,
             why="group is treatment or control; without it the member cannot enter lift."),
        known_reference("campaign", action=QUARANTINE,
                        why="campaign_id is a campaign of the current campaign list."),
        known_reference("member", action=QUARANTINE, why="member_id is a CRM member."),
    ]


def touch_rules():
    return [
        in_set("channel", ENUMS["touch_channel"], action=REVIEW,
               why="channel is one of the contract's touch channels."),
        known_reference("campaign", action=QUARANTINE,
                        why="campaign_id is a campaign of the current campaign list."),
        known_reference("member", action=QUARANTINE, why="member_id is a CRM member."),
        not_after_as_of("sent_at", action=QUARANTINE,
                        why="A touch is not sent after the run's as-of date."),
    ]


DATASETS = [
    Dataset("campaigns", "staging.stg_marketing__campaigns", CAMPAIGN_KEY, CAMPAIGNS_QUERY,
            campaign_rules),
    Dataset("campaign_audience", "staging.stg_marketing__campaign_audience", AUDIENCE_KEY,
            AUDIENCE_QUERY, audience_rules),
    Dataset("campaign_touches", "staging.stg_marketing__campaign_touches", TOUCH_KEY,
            TOUCHES_QUERY, touch_rules),
]
