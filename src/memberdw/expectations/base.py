"""What every checked dataset is made of: a DuckDB query that shapes the rows Great
Expectations validates, and the expectations, each tagged with its rule, severity and
row action.

The query of a dataset always returns four bookkeeping columns besides the checked ones:

  record_key     the business key as text (``member_id``, ``store_code|order_no|line_number``)
  member_id      the member the row belongs to, or NULL
  _source_file   where the row was delivered (staging keeps the lineage of raw)
  _source_line

``memberdw.quality`` asks GE for them as ``unexpected_index_column_names``: the failing rows
of a rule come back from GE itself, keyed, with their source file and line.

Derived columns (the share of missing key fields, whether a code points at a known store,
an order amount's z-score) are computed in the query, where the other tables are at hand;
the rule on them is still a GE expectation, so its counts, its failing rows and its Data
Docs page come from GE.

Queries read ``staging.*`` only, never ``raw.*``: staging is where personal data is already
hashed or masked. They select only the columns the rules need (no hashes at all).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import yaml

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations import Expectation
from great_expectations.expectations.metadata_types import FailureSeverity

@functools.cache
def dbt_vars() -> dict:
    """The project's thresholds: dbt vars in dbt_project.yml are their one home."""
    from memberdw.pipeline import DBT_PROJECT_DIR

    return yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]


ERROR = "error"   # the run's output must not be published while this fails
WARN = "warn"     # recorded and flagged; the run goes on

QUARANTINE = "quarantine"  # the row leaves the marts it would distort
REVIEW = "review"          # the row stays and is listed for review (needs_review)

_GX_SEVERITY = {ERROR: FailureSeverity.CRITICAL, WARN: FailureSeverity.WARNING}

BOOKKEEPING_COLUMNS = ["record_key", "member_id", "_source_file", "_source_line"]

# Dates "not in the future" compare with this suite parameter; memberdw.quality sets it to
# the end of the run's as-of day, or to now (Asia/Shanghai wall time, as staging is).
FUTURE_BOUND = "future_bound"

# Enumerations of the landing contract (../shared/contracts/landing.md). Parsing lets any
# value through on purpose (DECISIONLOG: "Enumerations are validity checks for GE").
ENUMS: dict[str, list[str]] = {
    "gender": ["M", "F", "U"],  # staging maps 男/女 to M/F
    "register_channel": ["official_account", "miniapp", "store", "wecom", "referral", "other"],
    "tier": ["normal", "silver", "gold", "platinum"],
    "order_type": ["sale", "return"],
    "payment_method": ["cash", "wechat_pay", "alipay", "card", "stored_value", "points"],
    "miniapp_status": ["created", "paid", "shipped", "completed", "cancelled", "refunded"],
    "coupon_type": ["no_threshold", "threshold", "category", "new_product", "gift", "shipping"],
    "scenario": ["birthday", "holiday", "new_store", "anniversary", "new_product", "season_end",
                 "member_day", "recall", "points"],
    "audience_group": ["treatment", "control"],
    "touch_channel": ["sms", "wecom", "ai_call", "manual_call", "wechat_article",
                      "miniapp_push", "moments_ad"],
    "store_type": ["direct", "franchise"],
    "points_reason": ["purchase", "gift_redemption", "campaign_bonus", "expiry", "adjustment"],
}


def check(expectation: type[Expectation], *, rule: str, severity: str,
          action: str | None, why: str, **kwargs) -> Expectation:
    """One cleaning rule as a GE expectation. ``meta`` carries what memberdw acts on
    (rule, severity, action); GE's own ``severity`` mirrors it; ``why`` is the rule in
    plain words, shown in Data Docs after the rule name."""
    if severity not in _GX_SEVERITY:
        raise ValueError(f"{rule}: severity must be {ERROR!r} or {WARN!r}, not {severity!r}")
    if action not in (QUARANTINE, REVIEW, None):
        raise ValueError(f"{rule}: action must be {QUARANTINE!r}, {REVIEW!r} or None")
    # Data Docs show the description in place of the generated sentence: lead with the rule.
    description = f"{rule} ({severity}, {action or 'no row action'}): {why}"
    return expectation(meta={"rule": rule, "severity": severity, "action": action},
                       severity=_GX_SEVERITY[severity], description=description, **kwargs)


def known_reference(subject: str, *, severity: str, action: str | None, why: str) -> Expectation:
    """Rule ``unknown_<subject>``: the row's ``is_known_<subject>`` (see ``known``) is true."""
    return check(gxe.ExpectColumnValuesToBeInSet, column=f"is_known_{subject}", value_set=[True],
                 rule=f"unknown_{subject}", severity=severity, action=action, why=why)


def known(column: str, relation: str, key: str | None = None) -> str:
    """SQL: whether ``column`` is a key of ``relation`` (NULL when the column is NULL, so
    the expectation on it ignores rows that point nowhere on purpose)."""
    key = key or column
    return (f"case when {column} is null then null"
            f" else {column} in (select {key} from {relation} where {key} is not null) end")


@dataclass(frozen=True)
class Dataset:
    """A batch GE validates: the rows of ``query``, checked by ``expectations()``."""

    name: str
    relation: str   # what the rows come from, for people reading the docs
    query: str      # DuckDB SQL over staging.*; returns BOOKKEEPING_COLUMNS + checked columns
    expectations: Callable[[], list[Expectation]] = field(repr=False)

    @property
    def suite_name(self) -> str:
        return self.name

    def suite(self) -> gx.ExpectationSuite:
        expectations = self.expectations()
        rules = [e.meta["rule"] for e in expectations]
        if len(rules) != len(set(rules)):
            raise ValueError(f"{self.name}: a rule name may appear once per suite: {rules}")
        return gx.ExpectationSuite(
            name=self.suite_name, expectations=expectations,
            meta={"dataset": self.name, "relation": self.relation,
                  "defined_in": "memberdw.expectations (code is the source of truth)"})
