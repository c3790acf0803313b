"""The cleaning-rule suites (Great Expectations, written in code), one module per checked
dataset -- re-exported from ``memberdw.expectations``, where they live.

Why there: the suites must be importable by every process that runs them (Airflow tasks,
``memberdw run``, the Docker image, pytest), and only ``src/memberdw`` is installed
(``pyproject.toml`` packages ``src/``); a top-level package would need ``sys.path`` edits
in the runner. So the code lives in ``src/memberdw/expectations/`` and this package keeps
the design card's layout: from the repository root, ``import expectations`` gives the
registry, and ``expectations.members``, ``import expectations.coupons`` etc. are the very
module objects of ``memberdw.expectations`` (no second copy of any rule).

  module (in src/memberdw/expectations/)   datasets it checks
  members.py           stg_crm__members
  pos_order_lines.py   stg_pos__order_lines
  miniapp_orders.py    stg_miniapp__orders
  coupons.py           stg_marketing__coupon_templates, _coupon_issues, _coupon_redemptions
  campaigns.py         stg_marketing__campaigns, _campaign_audience, _campaign_touches
  stores.py            stg_stores__stores
  points_ledger.py     stg_points__ledger
  order_amounts.py     amount outliers over POS sale tickets and mini-program orders

Run them with ``memberdw.quality.validate(warehouse_dir, run_id)``.
"""

import sys as _sys

import memberdw.expectations as _impl
from memberdw.expectations import *  # noqa: F401,F403
from memberdw.expectations import __all__  # noqa: F401

for _module in _impl.MODULES:
    _short = _module.__name__.rsplit(".", 1)[1]
    _sys.modules[f"{__name__}.{_short}"] = _module
_sys.modules[f"{__name__}.base"] = _impl.base
del _module, _short
