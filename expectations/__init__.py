"""The cleaning rules of metrics.md, one module per checked dataset; ``memberdw.quality``
runs them with Great Expectations against the working warehouse.

  members             staging.stg_crm__members
  pos_order_lines     staging.stg_pos__order_lines
  miniapp_orders      staging.stg_miniapp__orders
  coupons             coupon_templates, coupon_issues, coupon_redemptions
  campaigns           campaigns, campaign_audience, campaign_touches
  acquisition_costs   staging.stg_marketing__acquisition_costs
  stores              staging.stg_stores__stores
  points_ledger       staging.stg_points__ledger
  order_amounts       amount outliers over POS tickets and mini-program orders

This package is the one owner of dataset names, rule names, their actions and record-key
formats. The dbt models read them from ``dbt_project/macros/dq_registry.sql``, which
``render_dbt_registry()`` generates from here (``python -m expectations`` rewrites it);
``memberdw.quality`` refuses to validate while that file is stale, and the dbt macros
refuse a dataset or rule name the registry does not know, so a rename cannot silently stop
a rule from filtering.

Importing this package is cheap (no Great Expectations import): the suites are built from
these rules by ``memberdw.quality``.
"""

from __future__ import annotations

import json
from pathlib import Path

from expectations import (
    acquisition_costs, campaigns, coupons, members, miniapp_orders, order_amounts,
    points_ledger, pos_order_lines, stores,
)
from expectations.base import (
    BOOKKEEPING_COLUMNS, ERROR, FUTURE_BOUND, QUARANTINE, REVIEW, WARN, Dataset, Rule,
)

MODULES = (members, pos_order_lines, miniapp_orders, coupons, campaigns, acquisition_costs,
           stores, points_ledger, order_amounts)

#: Every checked dataset by name, in the order they are validated.
DATASETS: dict[str, Dataset] = {d.name: d for m in MODULES for d in m.DATASETS}

DBT_REGISTRY = Path(__file__).resolve().parents[1] / "dbt_project" / "macros" / "dq_registry.sql"


def registry() -> dict:
    """dataset -> {record_key: SQL, rules: {rule: action}}: what the dbt models need."""
    return {name: {"record_key": ds.record_key,
                   "rules": {r.name: r.action or "none" for r in ds.checked_rules()}}
            for name, ds in DATASETS.items()}


def render_dbt_registry() -> str:
    body = json.dumps(registry(), indent=4, ensure_ascii=False, sort_keys=True)
    return (
        "{#- GENERATED from the package `expectations` by `python -m expectations`: do not\n"
        "    edit. The datasets, record keys and rules (with their row action) of the\n"
        "    Great Expectations suites, for the dq_* macros in dq.sql. -#}\n"
        "{% macro dq_registry() -%}\n"
        f"{{{{ return({body}) }}}}\n"
        "{%- endmacro %}\n")


def check_dbt_registry() -> None:
    """Raise if the generated dbt registry does not match the suites."""
    current = DBT_REGISTRY.read_text(encoding="utf-8") if DBT_REGISTRY.exists() else ""
    if current != render_dbt_registry():
        raise RuntimeError(f"{DBT_REGISTRY} is stale: the suites changed; run "
                           "`python -m expectations` and commit the file")


__all__ = ["BOOKKEEPING_COLUMNS", "DATASETS", "Dataset", "ERROR", "FUTURE_BOUND", "MODULES",
           "QUARANTINE", "REVIEW", "Rule", "WARN", "check_dbt_registry", "registry",
           "render_dbt_registry"]
