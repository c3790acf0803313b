"""The cleaning rules of metrics.md as Great Expectations suites, one module per checked
dataset; ``memberdw.quality`` runs them against the working warehouse.

Layout: the suites live here, inside the installed package, so that every process that
can import memberdw (the Airflow workers, ``memberdw run``, the Docker image, pytest) finds
them without touching ``sys.path``. The repository's top-level ``expectations/`` -- the
place the design card gives them -- re-exports this package (``import expectations`` and
``from expectations import members`` work from the repo root), so the layout holds without
a second copy of any rule.

  members             staging.stg_crm__members
  pos_order_lines     staging.stg_pos__order_lines
  miniapp_orders      staging.stg_miniapp__orders
  coupons             coupon_templates, coupon_issues, coupon_redemptions
  campaigns           campaigns, campaign_audience, campaign_touches
  stores              staging.stg_stores__stores
  points_ledger       staging.stg_points__ledger
  order_amounts       amount outliers over POS tickets and mini-program orders

Each expectation's ``meta`` holds ``rule`` (stable name, e.g. ``invalid_enum:tier``),
``severity`` (``error``: the run must not be published; ``warn``) and ``action`` on the
failing rows (``quarantine``, ``review`` or None); see ``memberdw.expectations.base``.
Importing this package imports Great Expectations (seconds): keep it out of DAG files.
"""

from __future__ import annotations

from memberdw.expectations import (
    campaigns, coupons, members, miniapp_orders, order_amounts, points_ledger,
    pos_order_lines, stores,
)
from memberdw.expectations.base import (
    BOOKKEEPING_COLUMNS, ERROR, FUTURE_BOUND, QUARANTINE, REVIEW, WARN, Dataset,
)

MODULES = (members, pos_order_lines, miniapp_orders, coupons, campaigns, stores,
           points_ledger, order_amounts)

#: Every checked dataset by name, in the order they are validated.
DATASETS: dict[str, Dataset] = {d.name: d for m in MODULES for d in m.DATASETS}

__all__ = ["BOOKKEEPING_COLUMNS", "DATASETS", "Dataset", "ERROR", "FUTURE_BOUND", "MODULES",
           "QUARANTINE", "REVIEW", "WARN", "campaigns", "coupons", "members", "miniapp_orders",
           "order_amounts", "points_ledger", "pos_order_lines", "stores"]
