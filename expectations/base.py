"""What every checked dataset is made of: a DuckDB query that shapes the rows to check,
the record key that names a row, and the rules, each a SQL condition that is true on a
failing row, tagged with its severity and row action.

A rule is one Great Expectations ``UnexpectedRowsExpectation`` whose query is
``select record_key from {batch} where <fails>``: GE evaluates it in the database (its
SQL datasource on the working DuckDB file), and ``memberdw.quality`` collects the failing
rows with the very same condition, inside DuckDB (``insert ... select ... where <fails>``),
so the count GE reports and the rows the marts leave out cannot disagree, and no row is
ever copied into Python.

The query of a dataset always returns four bookkeeping columns besides the checked ones:

  record_key     the business key as text (``Dataset.record_key``, e.g.
                 ``store_code|order_no|line_number``); the dbt models build the same key
                 from the generated macro ``dq_record_key`` (see ``memberdw.expectations``)
  member_id      the member the row belongs to, or NULL
  _source_file   where the row was delivered (staging keeps the lineage of raw)
  _source_line

Derived columns (the share of missing key fields, whether a code points at a known store,
an order amount's z-score, how many times a key occurs) are computed in the query, where
the other tables are at hand; each rule's condition reads only the dataset's columns.

Queries read ``staging.*`` only, never ``raw.*``: staging is where personal data is already
hashed or masked. They select only the columns the rules need (no hashes at all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


ERROR = "error"   # the run's output must not be published while this fails
WARN = "warn"     # recorded and flagged; the run goes on

QUARANTINE = "quarantine"  # the row cannot be trusted: it leaves the facts (and only it)
REVIEW = "review"          # odd but real: the row stays, flagged (is_needs_review), listed

BOOKKEEPING_COLUMNS = ["record_key", "member_id", "_source_file", "_source_line"]

# Rules "not in the future" compare with this placeholder; memberdw.quality fills in the
# first instant after the run's as-of day, or now (Asia/Shanghai wall time, as staging is).
FUTURE_BOUND = "{future_bound}"


def dbt_vars() -> dict:
    """The project's thresholds (dbt vars in dbt_project.yml, their one home)."""
    from memberdw.pipeline import dbt_vars

    return dbt_vars()


# Enumerations of the landing contract (docs/landing.md). Parsing lets any
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


@dataclass(frozen=True)
class Rule:
    """One cleaning rule: ``fails`` is a SQL condition over the dataset's columns that is
    true exactly on the rows breaking it (NULL counts as passing)."""

    name: str
    fails: str
    severity: str
    action: str | None
    why: str

    def __post_init__(self):
        if self.severity not in (ERROR, WARN):
            raise ValueError(f"{self.name}: severity must be {ERROR!r} or {WARN!r}")
        if self.action not in (QUARANTINE, REVIEW, None):
            raise ValueError(f"{self.name}: action must be {QUARANTINE!r}, {REVIEW!r} or None")

    def condition(self, future_bound: str) -> str:
        return self.fails.replace(FUTURE_BOUND, future_bound)


def rule(name: str, fails: str, *, severity: str = WARN, action: str | None,
         why: str) -> Rule:
    return Rule(name, fails, severity, action, why)


def in_set(column: str, values: list[str], *, action: str | None, why: str) -> Rule:
    """Rule ``invalid_enum:<column>``: a given value is one of ``values``."""
    listed = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return rule(f"invalid_enum:{column}", f"{column} not in ({listed})", action=action, why=why)


def not_after_as_of(column: str, *, action: str | None, why: str) -> Rule:
    """Rule ``future_date:<column>``: the time is before the end of the run's as-of day."""
    return rule(f"future_date:{column}", f"{column} >= timestamp '{FUTURE_BOUND}'",
                action=action, why=why)


def unique_key(*, why: str) -> Rule:
    """Rule ``duplicate_key`` on a current snapshot: the query's ``key_copies`` is 1."""
    return rule("duplicate_key", "key_copies > 1", severity=ERROR, action=QUARANTINE, why=why)


def once_per_delivery(*, why: str) -> Rule:
    """Rule ``duplicate_in_delivery``: a key staging keeps one version of (the newest) came
    more than once in the same file; staging's ``_copies_in_delivery`` counts them."""
    return rule("duplicate_in_delivery", "_copies_in_delivery > 1", action=REVIEW, why=why)


def known_reference(subject: str, *, action: str | None, why: str) -> Rule:
    """Rule ``unknown_<subject>``: the row's ``is_known_<subject>`` (see ``known``) is not
    false."""
    return rule(f"unknown_{subject}", f"not is_known_{subject}", action=action, why=why)


def known(column: str, relation: str, key: str | None = None) -> str:
    """SQL: whether ``column`` is a key of ``relation`` (NULL when the column is NULL, so
    the rule on it ignores rows that point nowhere on purpose)."""
    key = key or column
    return (f"case when {column} is null then null"
            f" else {column} in (select {key} from {relation} where {key} is not null) end")


def copies(key_columns: str) -> str:
    """SQL: how many rows of the dataset share this row's key."""
    return f"count(*) over (partition by {key_columns})"


@dataclass(frozen=True)
class Dataset:
    """A batch GE validates: the rows of ``query``, checked by ``rules()``.

    ``record_key`` is the SQL expression of the row's key over the staging relation's
    columns; the query selects it as ``record_key``, and dbt models build it from the
    generated macro, so both sides spell a key one way."""

    name: str
    relation: str   # what the rows come from, for people reading the docs
    record_key: str
    query: str      # DuckDB SQL over staging.*; returns BOOKKEEPING_COLUMNS + checked columns
    rules: Callable[[], list[Rule]] = field(repr=False)

    @property
    def suite_name(self) -> str:
        return self.name

    @property
    def table(self) -> str:
        """Where ``memberdw.quality`` materialises the rows for one validation."""
        return f"dq.{self.name}"

    def checked_rules(self) -> list[Rule]:
        rules = self.rules()
        names = [r.name for r in rules]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.name}: a rule name may appear once per suite: {names}")
        return rules
