"""``memberdw`` command line: generate demo data, run the pipeline."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import traceback
from datetime import date, datetime
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
                         start=args.start, purchase_process=args.purchase_process,
                         quiet=True if args.quiet else None)
    except ValueError as exc:
        if not _raised_by_generate_itself(exc):
            raise  # a bug deeper down, not a bad argument: keep its traceback
        raise UsageError(str(exc)) from exc
    rows = sum(f["rows"] for f in truth["files"])
    print(f"generated {len(truth['files'])} files, {rows} rows in {args.out} "
          f"({time.monotonic() - started:.1f} s); planted defects: {args.out}/_truth.json")
    return 0


def _run(args) -> int:
    from memberdw import lock, pii, pipeline

    _directory(Path(args.warehouse), "warehouse")
    args.rebuild = args.rebuild or args.full_refresh
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
    try:
        held = lock.acquire(warehouse_dir, args.command_line)
    except lock.WarehouseLocked as exc:
        print(f"memberdw run: {exc}", file=sys.stderr)
        return 2
    with held:
        if held.took_over():
            print(f"memberdw run: {held.took_over()}", file=sys.stderr)
        return _run_holding_the_lock(args, landing, warehouse_dir)


def _run_holding_the_lock(args, landing: Path, warehouse_dir: Path) -> int:
    """Every DAG that has something to do, in order; the run goes into the history, however
    it ends."""
    from memberdw import progress, runner

    progress.enable(sys.stderr)
    entry = {"started_at": datetime.now().astimezone().isoformat(timespec="seconds"),
             "pid": os.getpid(), "command": args.command_line, "outcome": "interrupted",
             "as_of": args.as_of.isoformat() if args.as_of else None, "dag_runs": {}}
    started = time.monotonic()
    try:
        return _ingest_and_transform(args, landing, warehouse_dir, entry, started)
    except Exception as exc:
        entry.update(outcome="crashed", detail=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        progress.clear()
        entry["seconds"] = round(time.monotonic() - started, 1)
        runner.record(warehouse_dir, entry)


def _ingest_and_transform(args, landing: Path, warehouse_dir: Path, entry: dict,
                          started: float) -> int:
    """The ingestion DAGs unless the landing root is as the last run saw it, then the
    transform DAG unless its inputs are those of the serving file's marts (``--rebuild``
    runs both anyway): a re-run with nothing new takes seconds, not a minute of Airflow."""
    import duckdb

    from memberdw import lock, pipeline, runner, status

    as_of = entry["as_of"]
    try:
        ledger = runner.ledger_state(warehouse_dir)
    except duckdb.Error as exc:
        in_use = lock.working_file_in_use(str(exc))
        if in_use:
            entry.update(outcome="refused", detail=in_use)
            print(f"memberdw run: {in_use}", file=sys.stderr)
            return 2
        ledger = None  # unreadable: nothing is skipped, and the first task says what is wrong
    history = runner.history(warehouse_dir)
    airflow = _Airflow(warehouse_dir, landing)
    conf = {"landing_root": str(landing), "warehouse_dir": str(warehouse_dir), "as_of": as_of}

    landing_now = runner.landing_state(landing, as_of)
    if not args.rebuild and runner.ingestion_would_repeat(history, landing_now, ledger,
                                                          airflow.home):
        print(f"  {'ingest_*':<18} {'skipped':<8}  (the landing root is as the last run saw it)",
              flush=True)
    else:
        for dag_id in INGESTION_DAGS:
            result = airflow.run(dag_id, conf, entry)
            if not result.ok:
                return _failed(result, entry)
        ledger = runner.ledger_state(warehouse_dir)
    entry.update(landing_state=landing_now, ledger_state=ledger)

    calibration_end = args.clv_calibration_end.isoformat() if args.clv_calibration_end else None
    inputs = runner.transform_inputs(ledger, as_of, calibration_end, args.force)
    published = pipeline.publication(warehouse_dir)
    if not args.rebuild and runner.transform_would_repeat(history, inputs, published):
        entry.update(outcome="unchanged", built_from=inputs, published_run_id=published["run_id"],
                     as_of_date=published["as_of_date"])
        print(f"  {'transform':<18} {'skipped':<8}  (built from the same data, arguments and code"
              f" as the serving file)", flush=True)
        print("files: no new files")
        print(f"nothing new landed: marts unchanged, published"
              f" {status.local_time(published['published_at'])} as of"
              f" {published['as_of_date']} (--rebuild builds them again)")
        _print_where(warehouse_dir, time.monotonic() - started)
        return 0
    result = airflow.run("transform", {**conf, "force": args.force,
                                       "full_refresh": args.full_refresh,
                                       "clv_calibration_end": calibration_end}, entry)
    if not result.ok:
        return _failed(result, entry)
    published = pipeline.publication(warehouse_dir)
    entry.update(outcome="published", built_from=inputs, published_run_id=published["run_id"],
                 as_of_date=published["as_of_date"])
    _print_summary(warehouse_dir, list(entry["dag_runs"].values()), time.monotonic() - started)
    return 0


class _Airflow:
    """Airflow, started (configured, its metadata database migrated) before the first DAG
    that runs, so that a run with nothing to do never pays for it."""

    def __init__(self, warehouse_dir: Path, landing: Path):
        self.home = warehouse_dir / "airflow"
        self._env = {"MEMBERDW_LANDING_ROOT": str(landing),
                     "MEMBERDW_WAREHOUSE_DIR": str(warehouse_dir),
                     "MEMBERDW_TASK_RETRIES": "0"}
        self._started = False

    def run(self, dag_id: str, conf: dict, entry: dict):
        from memberdw import progress, runner

        if not self._started:
            runner.configure(self.home, self._env)
            runner.prepare()
            self._started = True
        result = runner.run_dag(dag_id, conf)
        entry["dag_runs"][dag_id] = result.run_id
        progress.clear()
        print(f"  {dag_id:<18} {result.state:<8} {result.seconds:6.1f} s", flush=True)
        return result


def _failed(result, entry: dict) -> int:
    """Say why a DAG failed in one line (the task log above has the details); exit 3 when
    the publication guard refused, else 1."""
    from memberdw import lock, pipeline

    refused = [e for e in result.errors
               if e.startswith(f"{pipeline.PublishRefused.__name__}: ")]
    if refused:
        entry.update(outcome="not published", detail=refused[0].split(": ", 1)[1])
        print(f"memberdw run: NOT PUBLISHED: {entry['detail']}", file=sys.stderr)
        return 3
    in_use = next(filter(None, map(lock.working_file_in_use, result.errors)), None)
    detail = (in_use or "; ".join(dict.fromkeys(result.errors))
              or f"task(s) {', '.join(result.failed_tasks) or '?'} failed")
    entry.update(outcome=f"failed in DAG {result.dag_id}", detail=detail)
    print(f"memberdw run FAILED in DAG {result.dag_id}: {detail}"
          + ("" if in_use else " (the task log above says why)"), file=sys.stderr)
    return 1


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
    if s["erased"]["rows_changed"]:
        print(f"erased: {s['erased']['members']} member(s) on request, "
              f"{s['erased']['rows_changed']:,} rows re-keyed or cleared (mart_erasure_log)")
    for line in _reconciliation(warehouse_dir):
        print(line)
    published = pipeline.publication(warehouse_dir)
    if published:
        print(_clv_line(Path(published["path"])))
    _print_where(warehouse_dir, seconds)


def _print_where(warehouse_dir: Path, seconds: float) -> None:
    """The summary's last lines: the time, then where to look (serving file and its as-of
    date, audit pages)."""
    from memberdw import pipeline, status

    print(f"time: {seconds:.1f} s")
    published = pipeline.publication(warehouse_dir)
    if published:
        print(f"published: {published['path']} as of {published['as_of_date']}"
              + (f" ({published['guard_note']})" if published["guard_note"] else ""))
    for line in status.page_lines(warehouse_dir):
        print(line)


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


def _status(args) -> int:
    from memberdw import status

    _directory(Path(args.warehouse), "warehouse")
    try:
        lines = status.report(Path(args.warehouse))
    except status.StatusError as exc:
        raise UsageError(str(exc)) from exc
    print("\n".join(lines))
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
    gen.add_argument("--quiet", action="store_true",
                     help="no progress bar (it shows only on a terminal anyway)")
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
    run.add_argument("--rebuild", action="store_true",
                     help="run every DAG even if nothing new landed since the last run (by"
                          " default such a run says so and leaves the marts as they are)")
    run.add_argument("--full-refresh", action="store_true",
                     help="rebuild the incremental models from everything landed, not only"
                          " what landed since their last build (implies --rebuild)")
    run.set_defaults(func=_run)

    stat = command("status", help="what a warehouse holds: publication, last runs, freshness")
    stat.add_argument("--warehouse", required=True, help="warehouse directory")
    stat.set_defaults(func=_status)

    rep = command("report", help="write one HTML retrospective page per campaign")
    rep.add_argument("--warehouse", required=True,
                     help="warehouse directory (reads its serving file marts.duckdb)")
    rep.add_argument("--campaign", default=None, help="only this campaign id (default: all)")
    rep.add_argument("--out", default=None, help="output directory (default: WAREHOUSE/reports)")
    rep.set_defaults(func=_report)

    args = parser.parse_args(argv)
    args.command_line = shlex.join(["memberdw", *(sys.argv[1:] if argv is None else argv)])
    try:
        code = args.func(args)
        sys.stdout.flush()  # a reader gone away shows here, not as a traceback at exit
        return code
    except UsageError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"memberdw {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `memberdw status | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
