"""memberdw's full build against the ways an analyst or an engine would compute the same
member RFM, on the same generated data, in one run (issue 11's benchmark; not a test).

    MEMBERDW_PII_KEY=<32+ bytes> .venv/bin/python bench/run.py --members 100000 --days 30

Prints, side by side:
  (a) memberdw's full build (`memberdw run`) of every day but the last (--daily-runs N: the
      last N), stage by stage from Airflow's task instances and dbt's run_results.json, with
      the peak resident memory of the run; then the daily run as each held-back day arrives,
      stage by stage, with its share of the full build, its heaviest models beside their
      full-build seconds and whether the day brought an erasure request (which reaches all
      of the erased member's history);
  (b) the same member RFM the way an analyst would write it in pandas, from the landed CSV
      and JSON Lines files (bench/pandas_part.py: memberdw's definitions step by step; with
      --compare, the rows differing from mart_member_rfm, 0 when equal);
  (c) the same dbt models on the local PostgreSQL via dbt-postgres (bench/postgres_part.py,
      on the full build's sources: the RFM stage and the models it is built from; every
      model and every mart compared with --compare; skip with --no-postgres);
  (d) the same dbt models on a local Apache Spark via dbt-spark (bench/spark_part.py, on the
      full build's raw zone; skip with --no-spark, --compare compares here too);
  (e) the engine floor: DuckDB computing the same RFM straight from the landed files in one
      query.
(e) computes recency, frequency and monetary per member_id over the last rfm_window_days of
sales (POS lines with a card, paid mini-program orders with a member_id), with quintile
scores; it skips what memberdw adds (identity resolution, quarantine, versions, returns
netted per order), so it is a floor, not an equal.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from stage import RFM_STAGE, dbt_seconds, model_seconds  # noqa: E402

WINDOW_DAYS = 365

FLOOR = """
create or replace table rfm as
with pos as (
    select member_id, store_code || ':' || order_no as order_key,
           cast(try_strptime(order_time, '%Y-%m-%d %H:%M:%S') as date) as day,
           try_cast(paid_amount as decimal(18, 2)) as amount
    -- the dialect declared: sniffed, file by file, it was most of the floor (48 s of 55 s
    -- at 100,000 members x 30 days); union_by_name: a file may order its columns otherwise
    from read_csv('{root}/pos/order_lines/dt=*/*.csv', all_varchar = true, header = true,
                  union_by_name = true, ignore_errors = true,
                  delim = ',', quote = '"', escape = '"')
    where member_id is not null
),
mini as (
    select member_id, order_id as order_key,
           cast(timezone('Asia/Shanghai', try_cast(paid_at as timestamptz)) as date) as day,
           try_cast(total_paid as decimal(18, 2)) as amount
    from read_json('{root}/miniapp/orders/dt=*/*.jsonl', format = 'newline_delimited',
                   columns = {{member_id: 'varchar', order_id: 'varchar', paid_at: 'varchar',
                              status: 'varchar', total_paid: 'varchar'}}, ignore_errors = true)
    where member_id is not null and status in ('paid', 'shipped', 'completed')
),
sales as (
    select * from pos union all select * from mini
),
per_member as (
    select member_id, date_diff('day', max(day), date '{as_of}') as recency,
           count(distinct order_key) as frequency, sum(amount) as monetary
    from sales
    where day <= date '{as_of}' and day > date '{as_of}' - {window}
    group by member_id
)
select *, ntile(5) over (order by recency desc) as r_score,
       ntile(5) over (order by frequency) as f_score, ntile(5) over (order by monetary) as m_score
from per_member
"""


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak resident MB (of the process and its descendants) and stdout of a
    child process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"{' '.join(cmd[:4])[:80]} failed:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    return seconds, usage.ru_maxrss // 1024, stdout


def stages(warehouse: Path) -> list[tuple[str, float]]:
    """Seconds per Airflow task of the last run of every DAG."""
    con = sqlite3.connect(warehouse / "airflow" / "airflow.db")
    try:
        return con.execute("""
            select dag_id || '.' || task_id,
                   (julianday(end_date) - julianday(start_date)) * 86400
            from task_instance
            where run_id in (select max(run_id) from dag_run group by dag_id)
            order by start_date""").fetchall()
    finally:
        con.close()


def printed_json(stdout: str) -> dict:
    """The JSON object a part script printed last (anything a library printed before it
    left out)."""
    start = 0 if stdout.startswith("{") else stdout.rindex("\n{") + 1
    return json.loads(stdout[start:])


def count_lines(path: Path) -> int:
    """Physical lines of a file (its header included), read in 16 MiB blocks."""
    with path.open("rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 24), b""))


def hold_back(landing: Path, day: str, held: Path) -> int:
    """Move every delivery folder of ``day`` (``<source>/<entity>/dt=<day>``) from the
    landing root to ``held``; return how many."""
    folders = sorted(landing.glob(f"*/*/dt={day}"))
    for folder in folders:
        target = held / folder.relative_to(landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        folder.rename(target)
    return len(folders)


def bring_back(landing: Path, held: Path, day: str = "*") -> None:
    """Move the held-back delivery folders of ``day`` (every day by default) back."""
    for folder in sorted(held.glob(f"*/*/dt={day}")):
        folder.rename(landing / folder.relative_to(held))


def erasures_on(warehouse: Path, day: str) -> int:
    """How many erasure requests the deliveries of ``day`` held (meta.erasure_log)."""
    import duckdb

    con = duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("select count(*) from meta.erasure_log where request_file like ?",
                           [f"%/dt={day}/%"]).fetchone()[0]
    finally:
        con.close()


def build_kind(warehouse: Path) -> str:
    """Whether the last run built staging and the marts incrementally, from
    meta.build_state (a full refresh names its reason), and whether it compacted the file."""
    import duckdb

    con = duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True)
    try:
        reasons = dict(con.execute("select layer, full_refresh_reason from meta.build_state"
                                   ).fetchall())
    finally:
        con.close()
    kinds = []
    for layer in ("staging", "marts"):
        reason = reasons.get(layer)
        kinds.append(f"{layer} {'incremental' if reason is None else 'FULL: ' + reason}")
    return "; ".join(kinds)


def print_heaviest_models(seconds: dict[str, float], count: int = 8,
                          full: dict[str, float] | None = None) -> None:
    """The ``count`` slowest models of a marts build, with (``full``) the same model's
    seconds in the full build beside each: a model about as slow in both still reads all
    history."""
    heaviest = sorted(seconds.items(), key=lambda item: -item[1])[:count]
    print("      heaviest models (dbt s): " + ", ".join(
        f"{name} {s:.1f}" + (f" (full {full.get(name, 0):.1f})" if full is not None else "")
        for name, s in heaviest))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--daily-runs", type=int, default=1,
                    help="hold back the last N days and run them one by one after the full"
                         " build (each a daily run)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", default="2026-09-01")
    ap.add_argument("--out", type=Path, help="working folder (default: a new temp folder)")
    ap.add_argument("--no-postgres", action="store_true", help="skip (c), dbt-postgres")
    ap.add_argument("--no-spark", action="store_true", help="skip (d), dbt-spark")
    ap.add_argument("--compare", action="store_true",
                    help="(c) and (d) also check every mart equals DuckDB's, row for row")
    args = ap.parse_args()
    if not os.environ.get("MEMBERDW_PII_KEY"):
        sys.exit("set MEMBERDW_PII_KEY (any secret of 32+ bytes) first")
    out = args.out or Path(tempfile.mkdtemp(prefix="memberdw-bench-"))
    landing, warehouse = out / "landing", out / "wh"
    memberdw = [sys.executable, "-m", "memberdw.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}

    held = out / "held_back"
    for leftover in (warehouse, held):  # a working folder reused: start from nothing
        shutil.rmtree(leftover, ignore_errors=True)
    gen_s, gen_mb, _ = timed([*memberdw, "generate", "--out", str(landing), "--members",
                              str(args.members), "--days", str(args.days), "--seed",
                              str(args.seed), "--start", args.start, "--force"], env)
    daily_runs = min(args.daily_runs, args.days - 1)
    daily_days = [(date.fromisoformat(args.start) + timedelta(days=args.days - 1 - back)
                   ).isoformat() for back in reversed(range(daily_runs))]
    for day in daily_days:
        hold_back(landing, day, held)
    lines = sum(count_lines(f) - 1 for f in landing.glob("pos/order_lines/dt=*/*.csv"))
    run_s, run_mb, _ = timed([*memberdw, "run", "--landing", str(landing), "--warehouse",
                                str(warehouse), "--rebuild"], env)
    full_stages = stages(warehouse)
    full_models = model_seconds(warehouse)
    import duckdb

    serving = duckdb.connect(str(warehouse / "marts.duckdb"), read_only=True)
    as_of = serving.execute("select max(as_of_date) from publication").fetchone()[0]
    rfm_members = serving.execute("select count(*) from mart_member_rfm").fetchone()[0]
    serving.close()
    as_of = as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of))

    pandas_s, pandas_mb, pandas = timed([
        sys.executable, str(REPO / "bench" / "pandas_part.py"), str(landing), as_of.isoformat(),
        *(["--compare", str(warehouse)] if args.compare else [])], env)
    pandas_result = printed_json(pandas)
    floor_sql = FLOOR.format(root=landing, as_of=as_of, window=WINDOW_DAYS)
    con = duckdb.connect()
    started = time.perf_counter()
    con.execute(floor_sql)
    floor_s = time.perf_counter() - started
    floor_members = con.execute("select count(*) from rfm").fetchone()[0]
    con.close()

    rfm_stage = dbt_seconds(warehouse, RFM_STAGE)
    postgres = None
    if not args.no_postgres:  # before the daily run: the same sources as the full build
        _, pg_mb, pg_out = timed([sys.executable, str(REPO / "bench" / "postgres_part.py"),
                                  str(warehouse), *(["--compare"] if args.compare else [])], env)
        postgres = printed_json(pg_out)
    spark = None
    if not args.no_spark:  # its own process: one SparkSession per process
        _, _, spark_out = timed([sys.executable, str(REPO / "bench" / "spark_part.py"),
                                 str(warehouse), *(["--compare"] if args.compare else [])], env)
        spark = printed_json(spark_out)
    dailies = []  # one per held-back day, in order: what print_daily shows of it
    for day in daily_days:
        bring_back(landing, held, day)
        wall, peak, _ = timed([*memberdw, "run", "--landing", str(landing), "--warehouse",
                               str(warehouse)], env)
        dailies.append({"day": day, "wall": wall, "peak": peak, "stages": stages(warehouse),
                        "kind": build_kind(warehouse), "erasures": erasures_on(warehouse, day),
                        "models": model_seconds(warehouse),
                        "tests": model_seconds(warehouse, "test")})
    print(f"data: {args.members:,} members, {args.days} days, {lines:,} POS lines before the"
          f" last {daily_runs} day(s) (generated in {gen_s:.1f} s, peak {gen_mb:,} MB), as of {as_of}")
    print(f"(a) memberdw full build, {args.days - daily_runs} days: {run_s:.1f} s wall,"
          f" peak {run_mb:,} MB")
    for name, seconds in full_stages:
        print(f"      {name:<32} {seconds:8.1f} s")
    print_heaviest_models(full_models)
    print(f"      member facts + RFM models      {rfm_stage:8.1f} s (dbt, {len(RFM_STAGE)} models;"
          f" {rfm_members:,} members in mart_member_rfm)")
    for daily in dailies:
        work = sum(seconds for _, seconds in daily["stages"])
        print(f"    daily run, day {daily['day']} added: {daily['wall']:.1f} s wall"
              f" ({daily['wall'] / run_s:.1%} of the full build), peak {daily['peak']:,} MB;"
              f" orchestration {daily['wall'] - work:.1f} s"
              f" ({(daily['wall'] - work) / daily['wall']:.0%}); {daily['kind']};"
              f" erasure requests that day: {daily['erasures']}")
        for name, seconds in daily["stages"]:
            print(f"      {name:<32} {seconds:8.1f} s")
        print_heaviest_models(daily["models"], count=15, full=full_models)
        print(f"      data tests: {len(daily['tests'])}, {sum(daily['tests'].values()):.1f} s"
              " (dbt)")
    print(f"(b) pandas RFM from the files:   {pandas_result['seconds']:8.1f} s"
          f" ({pandas_s:.1f} s with start-up), peak {pandas_mb:,} MB,"
          f" {pandas_result['members']:,} members"
          + (f"; rows differing from mart_member_rfm: {pandas_result['compare']}"
             if args.compare else ""))
    if postgres:
        print(f"(c) dbt-postgres, same models:   {postgres['wall_seconds']:8.1f} s wall"
              f" (load and dbt), RFM stage {postgres['rfm_stage_seconds']:.1f} s, busiest"
              f" backend {postgres['peak_backend_rss_mb']} MB, dbt client {pg_mb:,} MB"
              + (f"; marts equal DuckDB's: {postgres['marts_equal']}" if args.compare else ""))
        for step, seconds in postgres["steps"].items():
            print(f"      {step:<32} {seconds:8.1f} s")
    if spark:
        print(f"(d) dbt-spark, same models:      {spark['wall_seconds']:8.1f} s wall"
              f" (raw zone, session and dbt), RFM stage {spark['rfm_stage_seconds']:.1f} s,"
              f" JVM and workers {spark['peak_jvm_and_workers_rss_mb']} MB"
              + (f"; marts equal DuckDB's: {spark['marts_equal']}" if args.compare else ""))
        for step, seconds in spark["steps"].items():
            print(f"      {step:<32} {seconds:8.1f} s")
    print(f"(e) DuckDB floor, one query:     {floor_s:8.1f} s, {floor_members:,} members")
    others = [("pandas", pandas_result["seconds"])]
    others += [("PostgreSQL", postgres["rfm_stage_seconds"])] if postgres else []
    others += [("Spark", spark["rfm_stage_seconds"])] if spark else []
    print(f"ratios: against memberdw's member facts + RFM stage ({rfm_stage:.1f} s), "
          + ", ".join(f"{name} takes {seconds / rfm_stage:.1f}x as long" for name, seconds in others)
          + f"; the stage takes {rfm_stage / floor_s:.1f}x the engine floor, the whole build"
          f" {run_s / floor_s:.1f}x")
    print(f"working folder: {out}")


if __name__ == "__main__":
    main()
