"""The cleaning-rule suites (Great Expectations, written in code), one module per checked
dataset -- re-exported from ``memberdw.expectations``, where they live.

Why there: the suites must be importable by every process that runs them (Airflow tasks,
``memberdw run``, the Docker image, pytest), and only ``src/memberdw`` is installed
(``pyproject.toml`` packages ``src/``); a top-level package would need ``sys.path`` edits
in the runner. So the code lives in ``src/memberdw/expectations/`` and this package keeps
the design card's layout: from the repository root, ``import expectations`` gives the
registry, and ``expectations.members``, ``import expectations.coupons`` etc. are the very
module objects of ``memberdw.expectations`` (no second copy of any rule).

  members           src/memberdw/expectations/members.py           staging.stg_crm__members
  pos_order_lines   src/memberdw/expectations/pos_order_lines.py   staging.stg_pos__order_lines
  miniapp_orders    src/memberdw/expectations/miniapp_orders.py    staging.stg_miniapp__orders
  coupons           src/memberdw/expectations/coupons.py           coupon templates, issues, redemptions
  campaigns         src/memberdw/expectations/campaigns.py         campaigns, audience, touches
  stores            src/memberdw/expectations/stores.py            staging.stg_stores__stores
  points_ledger     src/memberdw/expectations/points_ledger.py     staging.stg_points__ledger
  order_amounts     src/memberdw/expectations/order_amounts.py     amount outliers (3 sigma)

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
