"""What the benchmark's parts share: the "member facts + RFM stage" (the dbt models it is made
of, and their seconds summed from a build's run_results.json), and a memory sampler's
background thread."""

from __future__ import annotations

import json
import threading
from pathlib import Path

RFM_STAGE = ("int_orders__pos", "int_orders__miniapp", "int_orders_unioned", "int_order_lines__pos",
             "int_order_lines__miniapp", "int_member_id_map", "int_members_resolved",
             "int_rfm_snapshot_dates", "int_member_rfm", "dim_members", "mart_member_rfm",
             "fct_orders", "fct_order_lines")


def model_seconds(warehouse_dir, kind: str = "model") -> dict[str, float]:
    """dbt's execution_time of each model (``kind`` "test": data test) of the last dbt
    invocation of a DuckDB warehouse (its marts build), by name; {} without one."""
    results_file = Path(warehouse_dir) / "dbt" / "target" / "run_results.json"
    if not results_file.exists():
        return {}
    results = json.loads(results_file.read_text())
    return {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results["results"]
            if r["unique_id"].startswith(kind + ".")}


def dbt_seconds(warehouse_dir, names: tuple[str, ...] = RFM_STAGE) -> float | None:
    """dbt's execution_time of the models ``names``, summed over the last dbt invocation of a
    DuckDB warehouse (its marts build); None without one."""
    seconds = model_seconds(warehouse_dir)
    return sum(s for name, s in seconds.items() if name in names) if seconds else None


class Sampler:
    """A context manager that calls ``_sample`` in a background thread from entry to exit;
    ``_sample`` loops until ``self._stop`` is set, waiting ``self.interval`` between samples."""

    def __init__(self, interval: float):
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        raise NotImplementedError
