"""Demo data generator: a complete, deterministic landing root with planted defects.

``generate(out, members, days, seed, start)`` writes ``<out>/<source>/<entity>/dt=YYYY-MM-DD/``
for every entity of ``memberdw.contract`` and every business day ``start .. start+days-1``,
and ``<out>/_truth.json`` (sorted keys) describing every file and every planted defect.
Same arguments, same bytes: everything derives from ``seed`` (numpy PCG64 streams named
per component), nothing reads the clock, rows and files are sorted.

Files (a dt folder is complete when it holds an empty ``_SUCCESS``; a file without rows
is not delivered, its folder and marker are)::

    crm/members/dt=D/members_YYYYMMDD.csv            changed members (first day: all existing)
    pos/order_lines/dt=D/pos_<store>_YYYYMMDD.csv    one per store with sales that day
    miniapp/orders/dt=D/orders_YYYYMMDD.jsonl        one line per status change
    miniapp/events/dt=D/events_YYYYMMDD.jsonl
    marketing/<entity>/dt=D/<entity>_YYYYMMDD.csv    coupon_templates and campaigns are
                                                     snapshots (first day, weekly, last day)
    marketing/acquisition_costs/dt=D/acquisition_costs_YYYYMM.csv
                                                     one per month: on the 1st of the next
                                                     month, or month to date on the last day
    stores/stores/dt=D/stores_YYYYMMDD.csv           snapshot (weekly + opening/closing days)
    stores/targets/dt=D/targets_YYYYMM.csv           first day and the 1st of each month
    points/ledger/dt=D/ledger_YYYYMMDD.csv

Planted defects (counts grow slowly with ``members``, see ``defect_scale``): duplicate
persons (same mobile in different formats, or same unionid with an empty mobile),
incomplete profiles, POS amount outliers (> 3 sigma in their store and month; natural
orders are kept below 2.9 sigma so the planted ones are the only ones), malformed rows
(a broken copy of a real row, inserted after it, one defect per row), GB18030 and BOM
files, CRLF files, shuffled headers, a resent file, a late file, a dt folder without
``_SUCCESS``.

Layout of the package: ``world`` (stores, products, members, campaigns), ``activity``
(orders, coupons, returns, refunds, points, CRM changes, events), ``render`` (contract
text), ``deliver`` (files and file-level defects), ``fmt`` (vectorised formatting of the
small tables), ``text`` (byte-level rendering of the big ones).

Memory: the big tables are kept as compact arrays and rendered file by file, in blocks of
``render.RENDER_ROWS`` rows, straight to bytes; a file's bytes are dropped once written. The
block size changes nothing in the output.
"""

from __future__ import annotations

import gc
import json
import logging
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from memberdw.contract import ENTITIES
from memberdw.generate import activity as A
from memberdw.generate import deliver as DV
from memberdw.generate import render as R
from memberdw.generate.campaign_truth import campaign_truth
from memberdw.generate.fmt import Calendar
from memberdw.generate.world import (make_acquisition_costs, make_campaigns, make_members,
                                     make_skus, make_stores, person_of, rng_for)

__all__ = ["generate", "defect_scale"]

log = logging.getLogger(__name__)


def _show_progress(quiet: bool | None) -> bool:
    if quiet is not None:
        return not quiet
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _Stopwatch:
    def __init__(self, quiet: bool | None = True):
        self.t, self.cpu = time.perf_counter(), time.process_time()
        self.t0 = self.t
        self.show = _show_progress(quiet)

    def __call__(self, what: str) -> None:
        now = time.perf_counter()
        cpu = time.process_time()
        log.debug("generate: %-36s %6.2fs wall %6.2fs cpu", what, now - self.t, cpu - self.cpu)
        if self.show:
            print(f"generate: {what} ({now - self.t0:.1f}s)", file=sys.stderr, flush=True)
        self.t, self.cpu = now, cpu


class _Progress:
    """Files written, rows and rows per second on stderr (a terminal), twice a second."""

    def __init__(self, total: int, quiet: bool | None):
        self.total, self.show = total, _show_progress(quiet)
        self.files = self.rows = 0
        self.t0 = self.last = time.perf_counter()

    def __call__(self, f) -> None:
        self.files += 1
        self.rows += f.rows
        now = time.perf_counter()
        if self.show and (now - self.last >= 0.5 or self.files == self.total):
            self.last = now
            el = now - self.t0
            end = "\n" if self.files == self.total else ""
            print(f"\rgenerate: wrote {self.files:,}/{self.total:,} files, {self.rows:,} rows, "
                  f"{el:.1f}s, {self.rows / max(el, 1e-9):,.0f} rows/s", end=end,
                  file=sys.stderr, flush=True)


def defect_scale(members: int) -> int:
    """How many of each planted defect: 1 for small runs, growing slowly with size."""
    return int(max(1, min(6, round((members / 1000) ** 0.5))))


# purchase_process "bgnbd": the BG/NBD parameters purchases are drawn with (time in days;
# activity.BgNbdPurchases), as in the CLV recovery tests of memberdw.clv
BGNBD_PARAMETERS = {"r": 0.5, "alpha": 15.0, "a": 0.8, "b": 3.0}
PURCHASE_PROCESSES = ("default", "bgnbd")


def generate(out: Path, members: int, days: int, seed: int, start: date = date(2026, 10, 1),
             purchase_process: str = "default", quiet: bool | None = None) -> dict:
    """Write a complete landing root under `out` and return the truth dict (also written to
    out/_truth.json). Same arguments, same bytes.

    purchase_process "default": members buy at their own rate, seasonally and more while a
    campaign targets them; "bgnbd": their purchase days follow a BG/NBD process with
    BGNBD_PARAMETERS (truth["purchase_process"]) and campaigns plant no effect (their
    uplift is 0 in the truth).

    Progress (stages, then files written, rows and rows/s) goes to stderr when it is a
    terminal; ``quiet`` True silences it, False forces it."""
    if purchase_process not in PURCHASE_PROCESSES:
        raise ValueError(f"purchase_process must be one of {', '.join(PURCHASE_PROCESSES)}")
    # Millions of short-lived row tuples would trigger the cyclic garbage collector over
    # and over (each full pass walks every live list); nothing here builds cycles.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(out, members, days, seed, start, purchase_process, quiet)
    finally:
        if enabled:
            gc.enable()


def _generate(out: Path, members: int, days: int, seed: int, start: date,
              purchase_process: str, quiet: bool | None) -> dict:
    if members < 50:
        raise ValueError("members must be at least 50")
    if days < 1:
        raise ValueError("days must be at least 1")
    out = Path(out)
    cal = Calendar(start, days)
    k = defect_scale(members)
    lap = _Stopwatch(quiet)

    stores = make_stores(seed, cal, members)
    skus = make_skus(seed)
    m = make_members(seed, cal, stores, members, k)
    camp = make_campaigns(seed, cal, stores, m)
    acq = make_acquisition_costs(seed, cal, stores, m)
    lap("world")

    bgnbd = BGNBD_PARAMETERS if purchase_process == "bgnbd" else None
    if bgnbd:
        camp.df["uplift"] = 0.0
    orders, lines, guests = A.make_orders(seed, cal, stores, skus, m, camp, bgnbd)
    lap("orders")
    rng = rng_for(seed, "lifecycle")
    versions = A.lifecycle(rng, cal, orders)
    issues = A.make_issues(seed, cal, m, camp)
    A.redeem(seed, orders, lines, issues, camp, skus)
    lap("coupons")
    lines = A.tame(orders, lines, cal, skus)
    lap("tame")
    rng = rng_for(seed, "outliers")
    outliers = A.plant_outliers(rng, orders, lines, cal, skus, k,
                                avoid=_audience_accounts(m, camp))
    orders, lines = A.make_returns(rng_for(seed, "returns"), cal, stores, orders, lines)
    ledger = A.make_ledger(rng_for(seed, "ledger"), cal, m, camp, orders, lines)
    mv = A.member_versions(rng_for(seed, "versions"), cal, m, ledger)
    lap("returns, points, crm")
    events = A.make_events(rng_for(seed, "events"), cal, m, guests, camp, orders, lines,
                           issues, skus)
    lap("events")

    rr = rng_for(seed, "render")
    tx = R.Texts(cal, stores, skus, m, guests, camp)
    order_no = R.pos_numbers(cal, stores, orders)
    mini_id = R.mini_ids(cal, orders, stores)
    aud, touches = R.audience_tables(rr, cal, m, camp, tx)
    render = {
        "crm/members": lambda: R.crm_members(rr, cal, m, mv, tx),
        "pos/order_lines": lambda: R.pos_lines(rr, cal, stores, skus, m, orders, lines, order_no,
                                               tx),
        "miniapp/orders": lambda: R.mini_orders(rr, cal, stores, skus, m, guests, camp, orders,
                                                lines, versions, mini_id, tx),
        "miniapp/events": lambda: R.mini_events(rr, cal, skus, m, guests, camp, events, tx),
        "marketing/coupon_templates": lambda: R.templates_table(rr, cal, camp),
        "marketing/coupon_issues": lambda: R.issues_table(rr, cal, m, camp, issues, tx),
        "marketing/coupon_redemptions": lambda: R.redemptions_table(rr, cal, stores, m, orders,
                                                                    lines, order_no, mini_id),
        "marketing/campaigns": lambda: R.campaigns_table(rr, cal, camp),
        # its own stream: adding the entity left the shared render rng's draws unchanged
        "marketing/acquisition_costs": lambda: R.acquisition_costs_table(
            rng_for(seed, "render acquisition_costs"), cal, acq),
        "marketing/campaign_audience": lambda: aud,
        "marketing/campaign_touches": lambda: touches,
        "stores/stores": lambda: R.stores_table(rr, cal, stores),
        "stores/targets": lambda: R.targets_table(rr, cal, stores, orders, lines),
        "points/ledger": lambda: R.ledger_table(rr, cal, m, camp, ledger, tx),
    }
    tables = {}
    for key, fn in render.items():  # fixed order: the render rng is shared
        tables[key] = fn()
        lap(f"render {key}")
    assert set(tables) == {e.key for e in ENTITIES}

    files, folders = DV.build_files([tables[e.key] for e in ENTITIES])
    info = DV.plant_defects(rng_for(seed, "defects"), cal, files, k)
    lap("files and defects")
    if out.exists():
        for child in out.iterdir():  # start from an empty landing root
            if child.is_dir() and child.name in {e.source for e in ENTITIES}:
                shutil.rmtree(child)
    out.mkdir(parents=True, exist_ok=True)
    written = DV.write_all(out, cal, files, folders, info, rng_for(seed, "write"),
                           progress=_Progress(len(files), quiet))
    lap("write")
    # what the truth reads of the tables is their days and raw values: let the rendering
    # arrays go before it
    for tab in tables.values():
        tab.pieces = tab.jpieces = tab._block = None
    del tx, events, render

    truth = _truth(cal, seed, members, m, stores, orders, versions, order_no, mini_id, outliers,
                   files, info, written, mv)
    truth["campaigns"], truth["coupon_templates"] = campaign_truth(
        cal, m, camp, orders, lines, issues, tables, _delivered(cal, info))
    truth["purchase_process"] = {"model": purchase_process, **(bgnbd or {})}
    truth["acquisition_costs"] = _acquisition_truth(cal, tables["marketing/acquisition_costs"],
                                                    files, _delivered(cal, info))
    (out / "_truth.json").write_text(
        json.dumps(truth, sort_keys=True, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    lap("truth")
    return truth


def _delivered(cal, info):
    incomplete = info["incomplete"]

    def delivered(entity: str, day) -> np.ndarray:
        """Rows of `entity` on these days that land in a complete folder."""
        d = np.asarray(day)
        return ~((incomplete[0] == entity) & (d == incomplete[1]))
    return delivered


def _yuan(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _acquisition_truth(cal, tab, files, delivered) -> dict:
    """The delivered acquisition costs, valid rows only (a malformed row is a broken copy
    inserted after a real row, listed under ``defective_rows``; the real row loads).
    Money as decimal text with two places; every month is delivered once."""
    ok = delivered("marketing/acquisition_costs", tab.day)
    rows = []
    for i in np.flatnonzero(ok).tolist():
        rows.append({"month": tab.cols["month"][i],
                     "register_channel": tab.cols["register_channel"][i],
                     "store_code": tab.cols["store_code"][i],
                     "cost": _yuan(int(tab.raw["cents"][i])),
                     "dt": cal.pydate(int(tab.day[i])).isoformat()})
    by_month: dict = {}
    for r, cents in zip(rows, tab.raw["cents"][ok].tolist()):
        mon = by_month.setdefault(r["month"], {"cents": 0, "rows": 0, "by_channel": {}})
        mon["cents"] += cents
        mon["rows"] += 1
        mon["by_channel"][r["register_channel"]] = mon["by_channel"].get(
            r["register_channel"], 0) + cents
    defective = sorted(({"path": f.path(cal), "line": line, "reason": reason, "column": column}
                        for f in files if f.entity == "marketing/acquisition_costs"
                        for line, reason, column in f.malformed),
                       key=lambda d: (d["path"], d["line"]))
    return {
        "rows": sorted(rows, key=lambda r: (r["month"], r["register_channel"], r["store_code"])),
        "by_month": {mon: {"total": _yuan(v["cents"]), "rows": v["rows"],
                           "by_channel": {c: _yuan(x) for c, x in v["by_channel"].items()}}
                     for mon, v in by_month.items()},
        "total": _yuan(int(tab.raw["cents"][ok].sum())),
        "defective_rows": defective,
    }


def _audience_accounts(m, camp) -> np.ndarray:
    """Member indices of every audience person, with the later ids of the same person."""
    persons = np.unique(camp.audience["member"].to_numpy().astype(np.int64))
    return np.flatnonzero(np.isin(person_of(m), persons))


def _truth(cal, seed, members, m, stores, orders, versions, order_no, mini_id, outliers, files,
           info, written, mv) -> dict:
    incomplete = info["incomplete"]
    inc_folder = f"{incomplete[0]}/dt={cal.pydate(incomplete[1]).isoformat()}"
    recs = sorted((DV.file_record(cal, f) for f in files), key=lambda r: r["path"])
    malformed = []
    expected = {e.key: {"rows_in_complete_folders": 0, "malformed": 0, "loadable": 0}
                for e in ENTITIES}
    for f in files:
        path = f.path(cal)
        for line, reason, column in f.malformed:
            malformed.append({"path": path, "line": line, "reason": reason, "column": column})
        if (f.entity, f.day) == incomplete or f.duplicate_of:
            continue
        e = expected[f.entity]
        e["rows_in_complete_folders"] += f.rows
        e["malformed"] += len(f.malformed)
    for e in expected.values():
        e["loadable"] = e["rows_in_complete_folders"] - e["malformed"]
    malformed.sort(key=lambda r: (r["path"], r["line"]))

    # counts over what is deliverable (complete folders)
    def delivered(entity: str, day) -> np.ndarray:
        d = np.asarray(day)
        return ~((incomplete[0] == entity) & (d == incomplete[1]))

    pos = orders[orders["channel"] == 0]
    ret = pos[(pos["order_type"] == "return") & delivered("pos/order_lines", pos["day"].to_numpy())]
    v = versions
    vday = v["tu"].to_numpy() // 86400
    v = v[delivered("miniapp/orders", vday)]
    last = v.groupby("oid")["status"].last()
    code = stores.df["code"].to_numpy()
    outl = orders.set_index("oid").loc[outliers]
    deleted = sorted(m.id[np.flatnonzero(m.del_day < 10**6)].tolist())
    dup = written["dup"]
    return {
        "seed": seed, "members": members, "days": cal.days,
        "start_date": cal.start.isoformat(),
        "end_date": (cal.start + timedelta(days=cal.days - 1)).isoformat(),
        "files": recs,
        "success_markers": written["markers"],
        "incomplete_folders": [inc_folder],
        "malformed_rows": malformed,
        "duplicate_files": ([{"path": dup.path(cal), "duplicate_of": dup.duplicate_of}]
                            if dup is not None else []),
        "late_files": ([{"path": info["late"].path(cal),
                         "dt": cal.pydate(info["late"].day).isoformat(),
                         "arrival_date": cal.pydate(info["late"].day + info["late"].arrival).isoformat()}]
                       if info["late"] is not None else []),
        "gb18030_files": sorted(f.path(cal) for f in info["gb"]),
        "bom_files": sorted(f.path(cal) for f in info["bom"]),
        "duplicate_persons": sorted(({"member_ids": sorted(ids), "via": via}
                                     for ids, via in m.dup_groups),
                                    key=lambda g: g["member_ids"]),
        "incomplete_profiles": sorted(m.id[m.incomplete].tolist()),
        "deleted_members": deleted,
        "amount_outliers": sorted(({"store_code": str(code[int(r["store"])]),
                                    "order_no": str(order_no[oid])}
                                   for oid, r in outl.iterrows()),
                                  key=lambda x: (x["store_code"], x["order_no"])),
        "miniapp_order_versions": {"orders": int(v["oid"].nunique()), "versions": int(len(v))},
        "pos_returns": int(len(ret)),
        "miniapp_refunds": int((last == "refunded").sum()),
        "expected": expected,
    }
