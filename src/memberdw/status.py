"""``memberdw status``: what a warehouse holds and what its runs did, changing nothing.

Reads the serving file's publication row, ``memberdw run``'s history
(``runner.HISTORY_FILE``) and, read-only, the working file's load ledger and quarantine:
the newest ``dt`` landed, files and rows loaded and rows quarantined per source and entity.
While a run holds the warehouse (``memberdw.lock``) it reads only the serving file and the
history, which a run never holds open; otherwise it holds the lock shared while it
reads, so that no run starts under it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from memberdw import lock, pipeline, runner
from memberdw.contract import ENTITIES
from memberdw.warehouse import working_path

LAST_RUNS = 5


class StatusError(RuntimeError):
    """No warehouse to describe; the message says where it looked."""


def report(warehouse_dir: Path) -> list[str]:
    """The lines ``memberdw status`` prints."""
    warehouse_dir = Path(warehouse_dir)
    if not warehouse_dir.is_dir():
        raise StatusError(f"no warehouse at {warehouse_dir} (no memberdw run has used it)")
    lines = [f"warehouse: {warehouse_dir.resolve()}"]
    with lock.reading(warehouse_dir) as running:
        lines.append(f"running: {running}" if running else "running: no run")
        if not running and (left := lock.last_holder(warehouse_dir)):
            lines.append(f"  the last run ended without releasing its lock ({left.describe()});"
                         " the next run takes it over")
        lines += serving_lines(warehouse_dir)
        if running:
            ledger = None
            lines.append("working file: not read while the run holds it")
        else:
            ledger, problem = _read_ledger(warehouse_dir)
            if problem:
                lines.append(f"working file: {problem}")
        lines += _run_lines(runner.history(warehouse_dir)[-LAST_RUNS:], ledger)
        if ledger is not None:
            lines += _freshness_lines(ledger)
    lines += page_lines(warehouse_dir)
    return lines


def serving_lines(warehouse_dir: Path) -> list[str]:
    """The serving file: when it was published, as of which day, what it holds."""
    published = pipeline.publication(warehouse_dir)
    if published is None:
        return ["serving file: none yet (no run has published)"]
    lines = [f"serving file: {published['path']}",
             f"  published {local_time(published['published_at'])} by run {published['run_id']},"
             f" as of {published['as_of_date']}"]
    if published["guard_note"]:
        lines.append(f"  {published['guard_note']}")
    lines.append("  holds: " + ", ".join(f"{measure} {value}" for measure, value
                                         in _published_measures(Path(published["path"]))))
    return lines


def page_lines(warehouse_dir: Path) -> list[str]:
    """Where the serving file's audit pages are, those that exist."""
    from memberdw.audit_page import PAGE
    from memberdw.quality import DATA_DOCS_INDEX

    pages = (("data docs", DATA_DOCS_INDEX), ("audit page", PAGE))
    return [f"{name}: {warehouse_dir / path}" for name, path in pages
            if (warehouse_dir / path).is_file()]


def _published_measures(serving: Path) -> list[tuple[str, object]]:
    import duckdb

    con = duckdb.connect(str(serving), read_only=True)
    try:
        return [(measure, con.execute(f"select {expression} from {table}").fetchone()[0])
                for measure, (table, expression) in pipeline.SHRINK_MEASURES.items()]
    finally:
        con.close()


def _read_ledger(warehouse_dir: Path):
    """(per run, per entity) from the working file opened read-only; or (None, why not)."""
    import duckdb

    path = working_path(warehouse_dir)
    if not path.exists():
        return None, "none yet (nothing loaded)"
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as exc:
        conflict = lock.duckdb_conflict(str(exc))
        if conflict is None:
            raise
        return None, f"{path} is open in another program ({conflict[1]}); not read"
    try:
        by_run = {run_id: rest for run_id, *rest in con.execute(
            "select run_id, count(*) filter (where status = 'loaded'),"
            " count(*) filter (where status = 'duplicate'),"
            " count(*) filter (where status = 'rejected'),"
            " sum(rows_read), sum(rows_rejected)"
            " from meta.load_ledger group by run_id").fetchall()}
        by_entity = {(source, entity): rest for source, entity, *rest in con.execute(
            "select source, entity, max(dt),"
            " count(*) filter (where status = 'loaded'),"
            " coalesce(sum(rows_loaded), 0), max(recorded_at)"
            " from meta.load_ledger group by all").fetchall()}
        quarantined = {(source, entity): n for source, entity, n in con.execute(
            "select source, entity, count(*) from meta.quarantine group by all").fetchall()}
    except duckdb.CatalogException:  # a working file the loader never wrote to
        return None, f"{path} holds no load ledger yet"
    finally:
        con.close()
    return {"by_run": by_run, "by_entity": by_entity, "quarantined": quarantined}, None


def _run_lines(entries: list[dict], ledger: dict | None) -> list[str]:
    if not entries:
        return ["last runs: none recorded"]
    lines = [f"last runs (newest last, from {runner.HISTORY_FILE}):"]
    for entry in entries:
        outcome = entry.get("outcome", "?")
        if entry.get("as_of_date") and outcome in ("published", "unchanged"):
            outcome += f" as of {entry['as_of_date']}"
        line = f"  {local_time(entry['started_at'])}  {entry.get('seconds', 0):7.1f} s  {outcome}"
        if entry.get("detail"):
            line += f": {entry['detail']}"
        elif ledger is not None:
            line += f": {_loaded(entry, ledger['by_run'])}"
        lines.append(line)
    return lines


def _loaded(entry: dict, by_run: dict) -> str:
    """What a run's ingestion DAGs put in the ledger."""
    files = [by_run[run_id] for run_id in entry.get("dag_runs", {}).values() if run_id in by_run]
    if not files:
        return "no new files"
    loaded, duplicate, rejected, read, quarantined = (sum(f[i] or 0 for f in files)
                                                      for i in range(5))
    return (f"{loaded} files loaded, {duplicate} duplicate, {rejected} rejected;"
            f" {read:,} rows read, {quarantined:,} quarantined")


def _freshness_lines(ledger: dict) -> list[str]:
    header = (f"  {'source/entity':<32} {'newest dt':<10} {'files':>6} {'rows loaded':>12}"
              f" {'quarantined':>11}  last loaded")
    lines = ["freshness (meta.load_ledger, meta.quarantine):", header]
    for entity in ENTITIES:
        newest, files, rows, recorded = ledger["by_entity"].get(
            (entity.source, entity.name), (None, 0, 0, None))
        quarantined = ledger["quarantined"].get((entity.source, entity.name), 0)
        lines.append(f"  {entity.key:<32} {str(newest or 'never'):<10} {files:>6} {rows:>12,}"
                     f" {quarantined:>11,}  {local_time(recorded) if recorded else '-'}")
    return lines


def local_time(moment) -> str:
    """A timestamp (datetime or ISO text) in this machine's time zone, to the second."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return f"{moment.astimezone():%Y-%m-%d %H:%M:%S}"
