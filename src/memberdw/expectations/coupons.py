"""Coupons: templates, issues and redemptions (``staging.stg_marketing__coupon_*``).

A code redeemed more than once is kept and every redemption of it is listed for review
(``coupon_redeemed_twice``); the usage rate counts the code once (metrics.md).
"""

from __future__ import annotations

import great_expectations.expectations as gxe

from memberdw.expectations.base import (
    ENUMS, ERROR, FUTURE_BOUND, QUARANTINE, REVIEW, WARN, Dataset, check, known, known_reference,
)

TEMPLATES_QUERY = """
select
    template_id as record_key,
    null::varchar as member_id,
    template_id,
    coupon_type,
    _source_file,
    _source_line
from staging.stg_marketing__coupon_templates
"""

ISSUES_QUERY = f"""
select
    coupon_code as record_key,
    member_id,
    coupon_code,
    issued_at,
    {known('template_id', 'staging.stg_marketing__coupon_templates')} as is_known_template,
    {known('member_id', 'staging.stg_crm__members')} as is_known_member,
    _source_file,
    _source_line
from staging.stg_marketing__coupon_issues
"""

REDEMPTIONS_QUERY = f"""
select
    concat_ws('|', coupon_code, strftime(redeemed_at, '%Y-%m-%d %H:%M:%S'), coalesce(order_ref, ''))
        as record_key,
    member_id,
    coupon_code,
    redeemed_at,
    {known('coupon_code', 'staging.stg_marketing__coupon_issues')} as is_issued_coupon,
    _source_file,
    _source_line
from staging.stg_marketing__coupon_redemptions
"""


def template_expectations():
    return [
        check(gxe.ExpectColumnValuesToBeUnique, column="template_id",
              rule="duplicate_key", severity=ERROR, action=QUARANTINE,
              why="template_id identifies one coupon template in the current snapshot."),
        check(gxe.ExpectColumnValuesToBeInSet, column="coupon_type",
              value_set=ENUMS["coupon_type"],
              rule="invalid_enum:coupon_type", severity=WARN, action=REVIEW,
              why="coupon_type is one of the contract's coupon types."),
    ]


def issue_expectations():
    return [
        check(gxe.ExpectColumnValuesToBeUnique, column="coupon_code",
              rule="duplicate_key", severity=ERROR, action=QUARANTINE,
              why="A coupon code is issued once."),
        known_reference("template", severity=WARN, action=REVIEW,
              why="template_id is a template of the current template list."),
        known_reference("member", severity=WARN, action=QUARANTINE,
              why="member_id, when given, is a CRM member."),
        check(gxe.ExpectColumnValuesToBeBetween, column="issued_at",
              max_value={"$PARAMETER": FUTURE_BOUND}, strict_max=True,
              rule="future_date:issued_at", severity=WARN, action=QUARANTINE,
              why="A coupon is not issued after the run's as-of date."),
    ]


def redemption_expectations():
    return [
        check(gxe.ExpectColumnValuesToBeInSet, column="is_issued_coupon", value_set=[True],
              rule="unknown_coupon", severity=WARN, action=QUARANTINE,
              why="A redemption points at an issued coupon code."),
        check(gxe.ExpectColumnValuesToBeUnique, column="coupon_code",
              rule="coupon_redeemed_twice", severity=WARN, action=REVIEW,
              why="A code is redeemed once; every redemption of a code redeemed more than "
                  "once is kept and listed for review (needs_review)."),
        check(gxe.ExpectColumnValuesToBeBetween, column="redeemed_at",
              max_value={"$PARAMETER": FUTURE_BOUND}, strict_max=True,
              rule="future_date:redeemed_at", severity=WARN, action=QUARANTINE,
              why="A coupon is not redeemed after the run's as-of date."),
    ]


DATASETS = [
    Dataset("coupon_templates", "staging.stg_marketing__coupon_templates", TEMPLATES_QUERY,
            template_expectations),
    Dataset("coupon_issues", "staging.stg_marketing__coupon_issues", ISSUES_QUERY,
            issue_expectations),
    Dataset("coupon_redemptions", "staging.stg_marketing__coupon_redemptions",
            REDEMPTIONS_QUERY, redemption_expectations),
]
