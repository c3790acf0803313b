"""Benchmark of the CLV fits: BG/NBD and Gamma-Gamma on ten million members.

    .venv/bin/python benchmarks/clv_fit.py [--members 10000000] [--days 730] [--seed 1]

Draws every member's (x, t_x, T) in whole days and their mean repeat spend straight from
the models (CDNOW-like parameters in days, first purchases spread over the first half of
the period; no transaction rows), then times the three steps the CLV fit takes: grouping
identical (x, t_x, T) into weighted rows, the BG/NBD fit on them, the Gamma-Gamma fit
(which groups (x, mean spend) itself); then, for the whole call, the BG/NBD fit on the ten
million ungrouped rows. Prints per step wall seconds and peak RSS (VmHWM, reset before each
step where the kernel allows it; the RSS before the step, mostly the drawn arrays, is part
of it), then the fitted and the true parameters.
Not run by the tests.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from memberdw import clv
from memberdw.generate.world import rng_for

TRUE_BGNBD = {"r": 0.25, "alpha": 30.0, "a": 0.8, "b": 2.5}
TRUE_GAMMA_GAMMA = {"p": 6.0, "q": 4.0, "v": 15.0}


def draw_summary(n: int, days: int, seed: int) -> tuple[np.ndarray, ...]:
    """(x, t_x, T, mean spend) of n members: x = min(Poisson(λT), Geometric(π)), t_x the
    x-th of the Poisson count's uniform order statistics (a Beta draw), rounded to days;
    mean spend of x Gamma(p, ν) spends is Gamma(px, xν)."""
    rng = rng_for(seed, "clv-bench")
    g, s = TRUE_BGNBD, TRUE_GAMMA_GAMMA
    rate = rng.gamma(g["r"], 1.0 / g["alpha"], n)
    dropout = np.maximum(rng.beta(g["a"], g["b"], n), 1e-12)
    T = (days - 1 - rng.integers(0, days // 2, n)).astype("float64")
    possible = rng.poisson(rate * T)
    x = np.minimum(possible, rng.geometric(dropout))
    t_x = np.where(x > 0, np.rint(T * rng.beta(np.maximum(x, 1), possible - x + 1.0)), 0.0)
    spend_rate = rng.gamma(s["q"], 1.0 / s["v"], n)
    shape = s["p"] * np.maximum(x, 1)
    mean_spend = np.round(rng.gamma(shape, 1.0 / (np.maximum(x, 1) * spend_rate)), 2)
    mean_spend = np.where(x > 0, np.maximum(mean_spend, 0.01), 0.0)
    return x.astype("float64"), t_x, T, mean_spend


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _status_mb(field: str) -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines()
                    if line.startswith(field + ":"))) / 1024


def _step(name: str, fn):
    before = _status_mb("VmRSS")
    _reset_peak()
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    print(f"{name:<30} {seconds:6.2f} s   peak RSS {_status_mb('VmHWM'):6,.0f} MB"
          f" (before: {before:,.0f} MB)")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    x, t_x, T, mean_spend = _step("draw members", lambda: draw_summary(
        args.members, args.days, args.seed))
    print(f"members={args.members:,} days={args.days} repeat buyers={(x > 0).sum():,}")
    triples = _step("group (x, t_x, T)", lambda: clv.group_rows(x, t_x, T))
    print(f"distinct (x, t_x, T): {len(triples[0]):,}")
    bgnbd = _step("BG/NBD fit", lambda: clv.fit_bgnbd(*triples[:3], weights=triples[3]))
    gamma_gamma = _step("Gamma-Gamma fit", lambda: clv.fit_gamma_gamma(x, mean_spend))
    _step("BG/NBD fit on ungrouped rows", lambda: clv.fit_bgnbd(x, t_x, T))
    print("BG/NBD      ", {k: round(getattr(bgnbd, k), 4) for k in TRUE_BGNBD}, "true", TRUE_BGNBD)
    print("Gamma-Gamma ", {k: round(getattr(gamma_gamma, k), 4) for k in TRUE_GAMMA_GAMMA},
          "true", TRUE_GAMMA_GAMMA)


if __name__ == "__main__":
    main()
