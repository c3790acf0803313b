"""The generator's planted campaign and coupon truth recovered at several sizes and seeds.

    MEMBERDW_PII_KEY=<32+ bytes> .venv/bin/python benchmarks/campaign_truth_sweep.py \
        [--runs 2000x40x7 5000x60x8 ...]

For each run (members x days x seed): generate a landing root, run the pipeline, and print
whether the funnel counts (targeted, control, reached, opened, clicked per campaign) and
the coupon counts (issued, claimed, redeemed, redemption rows, expired unused per template)
equal the truth file exactly, and how many planted effects lie inside the reported 95%
intervals (conversion lift, incremental GMV raw and CUPED, campaigns with a lift; the
coupon difference in differences per issued member). With honest 95% intervals about one
in twenty planted effects falls outside: a coverage rate, not a pass/fail. Not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from memberdw.generate import generate

FUNNEL = ["targeted_count", "control_count", "reached_count", "opened_count", "clicked_count"]
COUPONS = ["issued_count", "claimed_count", "redeemed_count", "redemption_rows",
           "expired_unused_count"]
INTERVALS = [("conversion_lift", "expected_conversion_lift"),
             ("incremental_gmv", "expected_incremental_gmv_amount"),
             ("incremental_gmv_cuped", "expected_incremental_gmv_amount")]


def rows(con, sql):
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def one_run(base: Path, members: int, days: int, seed: int) -> dict:
    started = time.perf_counter()
    truth = generate(base / "landing", members=members, days=days, seed=seed)
    run = subprocess.run([sys.executable, "-m", "memberdw.cli", "run", "--landing",
                          str(base / "landing"), "--warehouse", str(base / "wh")],
                         capture_output=True, text=True)
    if run.returncode != 0:
        return {"error": (run.stdout + run.stderr)[-800:]}
    con = duckdb.connect(str(base / "wh" / "warehouse.duckdb"), read_only=True)
    retro = {r["campaign_id"]: r for r in rows(con, "select * from marts.mart_campaign_retrospective")}
    coupons = {r["template_id"]: r for r in rows(con, "select * from marts.mart_coupon_effect")}
    funnel_exact = all(retro[c][k] == t[k] for c, t in truth["campaigns"].items() for k in FUNNEL)
    coupons_exact = all(coupons[t][k] == v[k]
                        for t, v in truth["coupon_templates"].items() for k in COUPONS)
    covered = tested = 0
    for cid, t in truth["campaigns"].items():
        r = retro[cid]
        for column, planted in INTERVALS:
            if r[f"{column}_ci_low"] is None:
                continue
            tested += 1
            covered += float(r[f"{column}_ci_low"]) <= t[planted] <= float(r[f"{column}_ci_high"])
    null_p = [retro[c]["conversion_lift_p_value"] for c, t in truth["campaigns"].items()
              if t["uplift"] == 0 and t["has_control"]]
    did = []
    for cid, t in truth["campaigns"].items():
        if t["has_control"] or len(t["template_ids"]) != 1:
            continue
        r = coupons[t["template_ids"][0]]
        if r["incremental_gmv_amount"] is None:
            continue
        (compared,), = con.execute(
            "select count(*) from intermediate.int_coupon_effect_members where template_id = ?"
            " and arm = 'treatment' and stratum <> 'unmatched'", [t["template_ids"][0]]).fetchall()
        planted = t["expected_incremental_gmv_per_member"] * compared
        did.append(float(r["incremental_gmv_ci_low"]) <= planted <= float(r["incremental_gmv_ci_high"]))
    con.close()
    return {"funnel_exact": funnel_exact, "coupons_exact": coupons_exact,
            "covered": covered, "tested": tested, "null_p": null_p, "did_covered": did,
            "seconds": time.perf_counter() - started}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", default=["2000x40x7", "5000x60x8", "12000x60x9"],
                    help="MEMBERSxDAYSxSEED, one per run")
    args = ap.parse_args()
    print(f"{'run':>14} {'funnel':>7} {'coupons':>8} {'in 95% CI':>10} {'null p':>7}"
          f" {'DiD':>5} {'s':>5}")
    for spec in args.runs:
        members, days, seed = (int(v) for v in spec.split("x"))
        with tempfile.TemporaryDirectory(prefix="memberdw-sweep-") as tmp:
            r = one_run(Path(tmp), members, days, seed)
        if "error" in r:
            print(f"{spec:>14} pipeline failed: {r['error']}")
            continue
        null_p = ",".join(f"{p:.2f}" for p in r["null_p"] if p is not None) or "-"
        did = ",".join("in" if d else "OUT" for d in r["did_covered"]) or "-"
        print(f"{spec:>14} {'exact' if r['funnel_exact'] else 'DIFF':>7}"
              f" {'exact' if r['coupons_exact'] else 'DIFF':>8}"
              f" {r['covered']:>4}/{r['tested']:<5} {null_p:>7} {did:>5} {r['seconds']:>5.0f}",
              flush=True)
    print(json.dumps({"note": "about 1 in 20 planted effects outside a 95% interval is expected"}))


if __name__ == "__main__":
    main()
