"""Coupons: templates, issues and redemptions (``staging.stg_marketing__coupon_*``).

A code redeemed more than once is kept and every redemption of it is listed for review
(``coupon_redeemed_twice``); the usage rate counts the code once (metrics.md).
"""

from __future__ import annotations

from expectations.base import (
    ENUMS, QUARANTINE, REVIEW, Dataset, copies, in_set, known, known_reference,
    not_after_as_of, once_per_delivery, rule, unique_key,
)

TEMPLATE_KEY = "template_id"
ISSUE_KEY = "coupon_code"
REDEMPTION_KEY = ("concat_ws('|', coupon_code, strftime(redeemed_at, '%Y-%m-%d %H:%M:%S'),"
                  " coalesce(order_ref, ''))")

TEMPLATES_QUERY = f"""
select
    {TEMPLATE_KEY} as record_key,
    null::varchar as member_id,
    coupon_type,
    {copies('template_id')} as key_copies,
    _source_file,
    _source_line
from staging.stg_marketing__coupon_templates
"""

ISSUES_QUERY = f"""
select
    {ISSUE_KEY} as record_key,
    member_id,
    issued_at,
    _copies_in_delivery,
    {known('template_id', 'staging.stg_marketing__coupon_templates')} as is_known_template,
    {known('member_id', 'staging.stg_crm__members')} as is_known_member,
    _source_file,
    _source_line
from staging.stg_marketing__coupon_issues
"""

REDEMPTIONS_QUERY = f"""
select
    {REDEMPTION_KEY} as record_key,
    member_id,
    redeemed_at,
    {copies('coupon_code')} as code_redemptions,
    {known('coupon_code', 'staging.stg_marketing__coupon_issues')} as is_known_coupon,
    _source_file,
    _source_line
from staging.stg_marketing__coupon_redemptions
"""


def template_rules():
    return [
        unique_key(why="template_id identifies one coupon template in the current snapshot."),
        in_set("coupon_type", ENUMS["coupon_type"], action=REVIEW,
               why="coupon_type is one of the contract's coupon types."),
    ]


def issue_rules():
    return [
        known_reference("template", action=REVIEW,
                        why="template_id is a template of the current template list."),
        known_reference("member", action=QUARANTINE,
                        why="member_id, when given, is a CRM member."),
        not_after_as_of("issued_at", action=QUARANTINE,
                        why="A coupon is not issued after the run's as-of date."),
        once_per_delivery(why="A coupon code is issued once per file."),
    ]


def redemption_rules():
    return [
        known_reference("coupon", action=QUARANTINE,
                        why="A redemption points at an issued coupon code."),
        rule("coupon_redeemed_twice", "code_redemptions > 1", action=REVIEW,
             why="A code is redeemed once; every redemption of a code redeemed more than "
                 "once is kept and listed for review (needs_review)."),
        not_after_as_of("redeemed_at", action=QUARANTINE,
                        why="A coupon is not redeemed after the run's as-of date."),
    ]


DATASETS = [
    Dataset("coupon_templates", "staging.stg_marketing__coupon_templates", TEMPLATE_KEY,
            TEMPLATES_QUERY, template_rules),
    Dataset("coupon_issues", "staging.stg_marketing__coupon_issues", ISSUE_KEY, ISSUES_QUERY,
            issue_rules),
    Dataset("coupon_redemptions", "staging.stg_marketing__coupon_redemptions", REDEMPTION_KEY,
            REDEMPTIONS_QUERY, redemption_rules),
]
