"""``memberdw`` command line: generate demo data, run the pipeline."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from datetime import date
from pathlib import Path

from memberdw.contract import SOURCES

INGESTION_DAGS = [f"ingest_{source}" for source in SOURCES]


class UsageError(Exception):
    """A mistake in the command line: main() prints it as one line and exits 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date in the format YYYY-MM-DD") from None


def _directory(path: Path, role: str) -> Path:
    """`path` if it is a directory or could become one: no file at it or above it."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        where = "" if existing == path else f": {existing}"
        raise UsageError(f"{role} {path}{where} is a file, not a directory")
    return path


def _raised_by_generate_itself(exc: BaseException) -> bool:
    """generate()'s argument checks raise from its own module, before anything is written."""
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    import memberdw.generate

    return tb.tb_frame.f_code.co_filename == memberdw.generate.__file__


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("memberdw")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _generate(args) -> int:
    from memberdw.generate import generate

    out = _directory(Path(args.out), "output folder")
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if entries and not args.force:
        shown = ", ".join(entries[:6]) + (", …" if len(entries) > 6 else "")
        raise UsageError(f"output folder {out} is not empty ({shown}); choose a new or empty"
                         " folder, or pass --force to replace its data")
    started = time.monotonic()
    try:
        truth = generate(out, members=args.members, days=args.days, seed=args.seed,
                         start=args.start, purchase_process=args.purchase_process)
    except ValueError as exc:
        if not _raised_by_generate_itself(exc):
            raise  # a bug deeper down, not a bad argument: keep its traceback
        raise UsageError(str(exc)) from exc
    rows = sum(f["rows"] for f in truth["files"])
    print(f"generated {len(truth['files'])} files, {rows} rows in {args.out} "
          f"({time.monotonic() - started:.1f} s); planted defects: {args.out}/_truth.json")
    return 0


def _run(args) -> int:
    from memberdw import pii, pipeline

    _directory(Path(args.warehouse), "warehouse")
    if Path(args.landing).exists() and not Path(args.landing).is_dir():
        raise UsageError(f"landing root {args.landing} is a file, not a directory")
    try:  # the dbt plugin reads the key again; this says what to set before anything runs
        pii.current_key()
        pii.previous_key()
    except pii.PiiKeyError as exc:
        print(f"memberdw run: {exc}", file=sys.stderr)
        return 2
    landing, warehouse_dir = Path(args.landing).resolve(), Path(args.warehouse).resolve()
    try:
        pipeline.check_landing_root(landing)
    except pipeline.PipelineError as exc:
        print(f"memberdw run: {exc}", file=sys.stderr)
        return 2
    conf = {"landing_root": str(landing), "warehouse_dir": str(warehouse_dir),
            "as_of": args.as_of.isoformat() if args.as_of else None}
    from memberdw import runner

    runner.configure(warehouse_dir / "airflow", {
        "MEMBERDW_LANDING_ROOT": conf["landing_root"],
        "MEMBERDW_WAREHOUSE_DIR": conf["warehouse_dir"],
        "MEMBERDW_TASK_RETRIES": "0",
    })
    started = time.monotonic()
    runner.prepare()
    results = []
    calibration_end = args.clv_calibration_end.isoformat() if args.clv_calibration_end else None
    for dag_id in [*INGESTION_DAGS, "transform"]:
        result = runner.run_dag(dag_id, {**conf, "force": args.force,
                                         "clv_calibration_end": calibration_end}
                                if dag_id == "transform" else conf)
        results.append(result)
        print(f"  {dag_id:<18} {result.state:<8} {result.seconds:6.1f} s", flush=True)
        if not result.ok:
            break
    failed = [r for r in results if not r.ok]
    if not failed:
        _print_summary(warehouse_dir, [r.run_id for r in results], time.monotonic() - started)
    else:
        r = failed[0]
        refused = [e for e in r.errors if e.startswith(f"{pipeline.PublishRefused.__name__}: ")]
        if refused:
            print(f"memberdw run: NOT PUBLISHED: {refused[0].split(': ', 1)[1]}", file=sys.stderr)
            return 3
        detail = "; ".join(dict.fromkeys(r.errors)) or f"task(s) {', '.join(r.failed_tasks) or '?'} failed"
        print(f"memberdw run FAILED in DAG {r.dag_id}: {detail} (the task log above says why)",
              file=sys.stderr)
        return 1
    return 0


def _print_summary(warehouse_dir: Path, run_ids: list[str], seconds: float) -> None:
    from memberdw import pipeline

    s = pipeline.summary(warehouse_dir, run_ids)
    files = ", ".join(f"{n} {status}" for status, n in s["files"].items()) or "no new files"
    print(f"files: {files}")
    print(f"rows: {s['rows_read']} read = {s['rows_loaded']} loaded + "
          f"{s['rows_rejected']} quarantined")
    if s["rejects_by_reason"]:
        print("quarantined by reason: " + ", ".join(
            f"{reason} {n}" for reason, n in s["rejects_by_reason"].items()))
    if s["flagged_by_rule"]:
        print("flagged by Great Expectations: " + ", ".join(
            f"{rule} {n}" for rule, n in s["flagged_by_rule"].items()))
    for folder in s["skipped_folders"]:
        print(f"skipped (not loaded): {folder}")
    for line in _reconciliation(warehouse_dir):
        print(line)
    published = pipeline.publication(warehouse_dir)
    if published:
        print(f"published: {published['path']} as of {published['as_of_date']}"
              + (f" ({published['guard_note']})" if published["guard_note"] else ""))
        print(_clv_line(Path(published["path"])))
    print(f"time: {seconds:.1f} s")


def _clv_line(serving: Path) -> str:
    """One line on the run's CLV fit (mart_clv_model in the serving file)."""
    import duckdb

    con = duckdb.connect(str(serving), read_only=True)
    try:
        fit = con.execute("select fit_status, fit_note, member_count, calibration_end_date,"
                          " bgnbd_r, bgnbd_alpha, bgnbd_a, bgnbd_b,"
                          " holdout_predicted_repeat_purchases, holdout_actual_repeat_purchases"
                          " from mart_clv_model").fetchone()
    finally:
        con.close()
    status, note, members, end, r, alpha, a, b, predicted, actual = fit
    if status != "fitted":
        return f"clv: not fitted (calibration end {end}): {note}"
    line = (f"clv: BG/NBD on {members:,} members to {end}: r={r:.3f} alpha={alpha:.2f}/day"
            f" a={a:.3f} b={b:.3f}")
    if predicted is not None:
        line += f"; holdout repeat purchases predicted {predicted:,.0f}, actual {actual:,.0f}"
    return line


def _reconciliation(warehouse_dir: Path) -> list[str]:
    """The sales reconciliation's lines (delivered = published + ... + unexplained)."""
    from memberdw import audit

    try:
        return audit.format_summary(audit.check_reconciliation(warehouse_dir))
    except audit.ReconciliationError as failed:  # the audit step stopped the run already
        return [*audit.format_summary(failed.totals), str(failed)]


def _report(args) -> int:
    from memberdw import report

    warehouse = Path(args.warehouse)
    if warehouse.exists() and not warehouse.is_dir():
        raise UsageError(f"warehouse {warehouse} is a file, not a directory")
    if args.out:
        _directory(Path(args.out), "output folder")
    try:
        paths = report.write_reports(Path(args.warehouse), Path(args.out) if args.out else None,
                                     args.campaign)
    except report.ReportError as exc:
        print(f"memberdw report: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    if not paths:
        print("memberdw report: no campaigns in the serving file", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="memberdw", description=__doc__)
    parser.add_argument("--version", action="version", version=f"memberdw {_version()}")
    debug_help = "on an error, print the traceback too"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, **kwargs)
        # also accepted after the command; SUPPRESS keeps a --debug given before it
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help=debug_help)
        return sub

    gen = command("generate", help="write a demo landing root with planted defects")
    gen.add_argument("--out", required=True, metavar="DIR",
                     help="landing root to write; must be new or empty unless --force")
    gen.add_argument("--members", type=int, default=5000,
                     help="number of members, at least 50 (default: 5000)")
    gen.add_argument("--days", type=int, default=30,
                     help="number of business days delivered, at least 1 (default: 30)")
    gen.add_argument("--seed", type=int, default=42,
                     help="random seed; same arguments, same bytes (default: 42)")
    gen.add_argument("--start", type=_iso_date, default=date(2026, 10, 1), metavar="YYYY-MM-DD",
                     help="first business day (default: 2026-10-01)")
    gen.add_argument("--purchase-process", choices=["default", "bgnbd"], default="default",
                     help="default: members buy at their own rate, more during campaigns;"
                          " bgnbd: purchase days drawn from a BG/NBD process with known"
                          " parameters (written to _truth.json), for checking the CLV fit")
    gen.add_argument("--force", action="store_true",
                     help="write into a non-empty folder: replaces its source folders (crm,"
                          " pos, …) and _truth.json, leaves other entries as they are")
    gen.set_defaults(func=_generate)

    run = command("run", help="run every DAG (ingestion, transform) via Airflow")
    run.add_argument("--landing", required=True, help="landing root")
    run.add_argument("--warehouse", required=True, help="warehouse directory")
    run.add_argument("--as-of", type=_iso_date, default=None, metavar="YYYY-MM-DD",
                     help="load dt folders up to this date (YYYY-MM-DD) and build the marts"
                          " as of it (default: all)")
    run.add_argument("--clv-calibration-end", type=_iso_date, default=None,
                     metavar="YYYY-MM-DD",
                     help="calibrate the CLV fit on purchases up to this date; later purchases"
                          " are its holdout (default: the as-of date)")
    run.add_argument("--force", action="store_true",
                     help="publish even if the marts shrink sharply against the serving file")
    run.set_defaults(func=_run)

    rep = command("report", help="write one HTML retrospective page per campaign")
    rep.add_argument("--warehouse", required=True,
                     help="warehouse directory (reads its serving file marts.duckdb)")
    rep.add_argument("--campaign", default=None, help="only this campaign id (default: all)")
    rep.add_argument("--out", default=None, help="output directory (default: WAREHOUSE/reports)")
    rep.set_defaults(func=_report)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"memberdw {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
