"""Data quality: run the cleaning rules of the package ``expectations`` with Great
Expectations inside the working DuckDB file, keep every result for audit and land the
failing rows themselves.

``validate(warehouse_dir, run_id)``:

1. materialises each dataset's query (``staging.*`` only) as a table ``dq.<dataset>``;
2. has Great Expectations evaluate every rule as SQL through its SQL datasource on the
   working file (duckdb-engine; see ``_duckdb_needs_a_persisted_connection``): one file-
   backed GE context under ``<warehouse_dir>/gx/``, one query asset, validation definition
   and checkpoint per dataset, one ``UnexpectedRowsExpectation`` per rule, Data Docs built
   there as static HTML;
3. collects the failing rows of every failed rule with a row action inside DuckDB, with
   the rule's own condition (``insert into meta.dq_row_flags select ... where <fails>``),
   so nothing but counts ever reaches Python and memory stays flat in data size;
4. writes, in one transaction:

  meta.dq_results     one row per rule and run: the audit table (append-only; a re-run of
                      the same run_id replaces that run's rows)
  meta.dq_row_flags   the failing rows of every rule with a row action: ``quarantine``
                      (the row leaves the facts) or ``review`` (kept, flagged, listed)
  meta.dq_fingerprints  per run and dataset, a digest of what the validation saw

Only new batches: GE evaluates the rows that are new since the newest validation of the
dataset, not all of history (``_scope``). ``meta.dq_seen`` keeps a hash of each row that
validation saw (its record key, and the whole row with its derived columns: a z-score, a
key's copies, whether a reference is known); the batch is every row whose record key has a
row that is new, changed or gone since, or that a future-date rule picks under this bound
or the one it was judged under. Every rule reads only its row's columns, so the other rows
would be judged as before: their flags are carried over from that run, and the batch's are
added. ``meta.dq_results`` judges the dataset (its rows, the failing rows among them, and
``validated_rows``, the batch GE evaluated); GE's own results and Data Docs show the batch.
A dataset is validated whole when there is no such run to add to (the first validation,
other rules, another GE, a newer run that did not validate it, a re-run of the same
run_id).

A call that would validate nothing new (the staging rows each dataset reads, its query and
rules, and the rows the "not in the future" rules pick, all as they were in the newest
validation run, the one whose flags the models use) runs no GE and records nothing: that
run's results stand, and neither GE's store nor its Data Docs grow with runs that landed
nothing (``_fingerprints``).

GE's run name is the run_id made portable (``portable_name``): Airflow's run ids hold
``:``, which Windows and SMB shares refuse in the folder names GE's stores make of them.

GE is asked for counts only (result format BASIC): stored results and Data Docs carry the
rules' SQL and counts, never row values.

A failed ``error`` rule does not raise here: the result says so (``passed``) and the caller
decides, e.g. with ``result.raise_for_errors()``.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from memberdw import warehouse

log = logging.getLogger(__name__)

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
DATASOURCE = "memberdw_warehouse"
BATCH_DEFINITION = "whole_dataframe"

_FLAG_COLUMNS = ["run_id", "dataset", "rule", "severity", "action", "record_key", "member_id",
                 "source_file", "source_line", "flagged_at"]
DATA_DOCS_INDEX = Path("gx") / "uncommitted" / "data_docs" / "local_site" / "index.html"

# Characters Windows (and SMB shares) refuse in a file name, and control characters.
_NOT_PORTABLE = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


class QualityError(RuntimeError):
    """An error-severity rule failed; the message names suite, rule and unexpected count."""


@dataclass(frozen=True)
class RuleOutcome:
    """One expectation's result, as written to ``meta.dq_results``."""

    suite: str
    dataset: str
    expectation: str
    rule: str
    column_name: str | None
    severity: str
    action: str | None
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    exception_message: str | None = None
    validated_rows: int | None = None     # the rows GE evaluated (the new batch)

    def describe(self) -> str:
        if self.exception_message:
            return f"{self.suite}: {self.rule} could not be evaluated ({self.exception_message})"
        return (f"{self.suite}: {self.rule} failed on {self.unexpected_count} of "
                f"{self.element_count} rows")


@dataclass
class QualityResult:
    run_id: str
    outcomes: list[RuleOutcome]
    rows_flagged: dict[str, int]          # "<dataset>/<rule>" -> rows in meta.dq_row_flags
    data_docs_path: Path | None           # index.html of the Data Docs site
    seconds: float = 0.0
    datasets: list[str] = field(default_factory=list)
    reused_from: str | None = None        # nothing new: the run whose results stand

    @property
    def failed_error_rules(self) -> list[RuleOutcome]:
        """Error-severity rules that failed, and any rule GE could not evaluate."""
        return [o for o in self.outcomes
                if not o.success and (o.severity == "error" or o.exception_message)]

    @property
    def passed(self) -> bool:
        return not self.failed_error_rules

    @property
    def warn_counts(self) -> dict[str, int]:
        """``<dataset>/<rule>`` -> unexpected rows, for the failed warn rules."""
        return {f"{o.dataset}/{o.rule}": int(o.unexpected_count or 0) for o in self.outcomes
                if not o.success and o.severity == "warn" and not o.exception_message}

    def raise_for_errors(self) -> None:
        failed = self.failed_error_rules
        if failed:
            raise QualityError(f"data quality run {self.run_id}: {len(failed)} error rule(s) "
                               "failed: " + "; ".join(o.describe() for o in failed))

    def to_dict(self) -> dict:
        """JSON-friendly summary (an Airflow task can return it)."""
        return {
            "run_id": self.run_id,
            "passed": self.passed,
            "failed_error_rules": [asdict(o) for o in self.failed_error_rules],
            "warn_counts": self.warn_counts,
            "rows_flagged": self.rows_flagged,
            "data_docs_path": str(self.data_docs_path) if self.data_docs_path else None,
            "reused_from": self.reused_from,
            "seconds": round(self.seconds, 2),
        }


def portable_name(name: str) -> str:
    """``name`` as a folder name every filesystem accepts. GE's stores and Data Docs make
    folders of the run name, and Airflow's run ids (``manual__2026-12-02T10:00:00+00:00``)
    hold ``:``, which Windows and SMB shares refuse, as they do ``<>"/\\|?*``, control
    characters and a trailing dot or space."""
    return _NOT_PORTABLE.sub("-", name).rstrip(". ") or "-"


def future_bound(as_of: date | str | None = None) -> datetime:
    """The first instant not allowed by the "not in the future" rules, as Asia/Shanghai wall
    time (staging's timestamps): the day after ``as_of``, else now."""
    if isinstance(as_of, str) and as_of:
        as_of = date.fromisoformat(as_of)
    if as_of:
        return datetime.combine(as_of + timedelta(days=1), datetime.min.time())
    return datetime.now(BUSINESS_TZ).replace(tzinfo=None)


def validate(warehouse_dir: Path, run_id: str, as_of: date | None = None,
             datasets: list[str] | None = None) -> QualityResult:
    """Validate ``datasets`` (default: all of ``expectations.DATASETS``) in
    ``<warehouse_dir>/warehouse.duckdb``; record results and flagged rows for ``run_id``
    (replacing what an earlier call with the same run_id recorded for these datasets),
    build the Data Docs under ``<warehouse_dir>/gx/`` and the audit page. When nothing is
    new since the newest validation run, return its results instead (``reused_from``):
    see the module's docstring."""
    started = time.perf_counter()
    if not run_id:
        raise ValueError("run_id is required")
    warehouse_dir = Path(warehouse_dir)

    from expectations import DATASETS, check_dbt_registry

    names = list(DATASETS) if datasets is None else list(dict.fromkeys(datasets))
    unknown = [n for n in names if n not in DATASETS]
    if unknown or not names:
        raise ValueError(f"unknown dataset(s) {unknown or names}; known: {list(DATASETS)}")
    check_dbt_registry()
    selected = [DATASETS[n] for n in names]
    bound = future_bound(as_of).isoformat(sep=" ")
    validated_at = datetime.now(timezone.utc)

    # GE opens the file through its own connection, with another configuration than
    # ours, which DuckDB allows only one at a time: materialise, close, let GE count,
    # close, then write.
    con = warehouse.connect(warehouse_dir)
    try:
        row_counts = _materialise(con, selected)
        fingerprints = _fingerprints(con, selected, bound)
        reused_from = _unchanged_since(con, fingerprints)
        reused = _reused(con, warehouse_dir, run_id, reused_from, names) if reused_from else None
        if reused:
            con.execute("drop schema if exists dq cascade")
        else:
            seconds = {"materialise": time.perf_counter() - started}
            scopes = _scope(con, selected, run_id, bound)
            seconds["scope"] = time.perf_counter() - started - sum(seconds.values())
    finally:
        con.close()
    if reused:
        reused.seconds = time.perf_counter() - started
        log.info("data quality %s: nothing new since run %s (same rows, rules and future-"
                 "date picks), its results stand: passed=%s, %.1f s", run_id, reused_from,
                 reused.passed, reused.seconds)
        _build_audit_page(warehouse_dir)
        return reused

    import great_expectations as gx

    context = _context(warehouse_dir)
    renamed = _make_stored_names_portable(context)
    _forget_run(context, portable_name(run_id), {ds.suite_name for ds in selected})
    source = _datasource(context, warehouse_dir)
    sources = [source]
    try:
        gx_run_id = gx.RunIdentifier(run_name=portable_name(run_id), run_time=validated_at)
        outcomes: list[RuleOutcome] = []
        result_ids = []
        for ds in selected:
            checkpoint = _checkpoint(context, source, ds, bound)
            sources += [d.data.data_asset.datasource for d in checkpoint.validation_definitions]
            for result_id, suite_result in checkpoint.run(run_id=gx_run_id).run_results.items():
                result_ids.append(result_id)
                outcomes += [_outcome(ds, r, scopes[ds.name].rows) for r in suite_result.results]
    finally:
        _close(sources)
    seconds["ge"] = time.perf_counter() - started - sum(seconds.values())
    docs = _build_docs(context, result_ids + renamed, [ds.suite_name for ds in selected])
    seconds["data_docs"] = time.perf_counter() - started - sum(seconds.values())

    failed = {(o.dataset, o.rule) for o in outcomes if not o.success}  # in the batch
    flagged = [(ds, r) for ds in selected for r in ds.checked_rules()
               if r.action and (ds.name, r.name) in failed]
    con = warehouse.connect(warehouse_dir)
    try:
        outcomes = _of_the_dataset(con, selected, outcomes, scopes, row_counts, bound)
        rows_flagged = _write(con, run_id, validated_at, selected, outcomes, flagged, bound,
                              fingerprints, scopes)
        con.execute("drop schema if exists dq cascade")
    finally:
        con.close()
    seconds["write"] = time.perf_counter() - started - sum(seconds.values())

    result = QualityResult(
        run_id=run_id, outcomes=outcomes, datasets=names, data_docs_path=docs,
        rows_flagged=rows_flagged, seconds=time.perf_counter() - started)
    log.info("data quality %s: passed=%s, %d rules, flagged %s, %.1f s (%s), docs %s",
             run_id, result.passed, len(outcomes), result.rows_flagged, result.seconds,
             ", ".join(f"{step} {s:.1f} s" for step, s in seconds.items()), docs)
    _build_audit_page(warehouse_dir)
    return result


def _build_audit_page(warehouse_dir: Path) -> None:
    """Every validation, new or reused, refreshes the audit page (imported here: the page
    module reads this one's names, so a top-level import would be circular)."""
    from memberdw import audit_page

    audit_page.build(warehouse_dir)


def _materialise(con, selected) -> dict[str, int]:
    """Each dataset's rows as ``dq.<dataset>``: its query (joins, windows) runs once, not
    once per rule. Returns the row count of each."""
    con.execute("drop schema if exists dq cascade")  # what a run that stopped left
    con.execute("create schema dq")
    counts = {}
    for ds in selected:
        try:
            (counts[ds.name],) = con.execute(
                f"create or replace table {ds.table} as {ds.query}").fetchone()
        except duckdb.Error as exc:  # e.g. a staging model not built: say which
            raise RuntimeError(f"data quality: cannot read dataset {ds.name} "
                               f"({ds.relation}): {exc}") from exc
    return counts


# ---------------------------------------------------------------------------- nothing new?

def _fingerprints(con, selected, bound: str) -> dict[str, str]:
    """Per dataset, a digest of everything its validation result depends on: the staging
    tables its query reads (an order-free sum of row hashes, so copies of a row count), the
    query and rules as written, GE's version, and which rows the rules comparing with the
    future bound pick under this bound.

    The inputs are hashed rather than the materialised rows: a window mean or standard
    deviation over doubles (order_amounts' z-score) sums in whatever order DuckDB's threads
    meet the rows, so its last bits differ between two builds of the same data. The bound
    itself is left out: without an as-of it is "now" and moves on every run, while the rows
    it picks rarely change."""
    from expectations.base import BOOKKEEPING_COLUMNS, FUTURE_BOUND

    tables: dict[str, list[str]] = {}  # a staging table two datasets read is hashed once
    flag_key = f"hash({', '.join(BOOKKEEPING_COLUMNS)})::hugeint"  # what a flag records
    digests = {}
    for ds in selected:
        rules = ds.checked_rules()
        inputs = sorted(set(re.findall(r"\bstaging\.\w+",
                                       " ".join([ds.query, *(r.fails for r in rules)]))))
        for name in inputs or [ds.table]:  # a query on no staging table: its own rows
            if name not in tables:
                tables[name] = [str(v) for v in con.execute(
                    f"select count(*), sum(hash(staged)::hugeint) from {name} as staged"
                ).fetchone()]
        picks = []
        for r in rules:
            if FUTURE_BOUND in r.fails:
                picked = f"filter (where {r.condition(bound)})"
                picks += [f"count(*) {picked}", f"sum({flag_key}) {picked}"]
        picked = (con.execute(f"select {', '.join(picks)} from {ds.table}").fetchone()
                  if picks else ())
        seen = {**_definition_parts(ds),
                "inputs": {name: tables[name] for name in inputs or [ds.table]},
                "future_picks": [str(v) for v in picked]}
        digests[ds.name] = _digest(seen)
    return digests


def _definition_parts(ds) -> dict:
    """What a dataset's verdicts mean: its query, record key and rules as written, and GE's
    version."""
    from importlib.metadata import version

    return {"query": ds.query, "record_key": ds.record_key,
            "rules": [asdict(r) for r in ds.checked_rules()], "gx": version("great_expectations")}


def _digest(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------- new batches

@dataclass(frozen=True)
class Scope:
    """What one validation of a dataset evaluates: ``rows`` of the batch (``dq.<dataset>``),
    the run whose flags it carries over for the other rows (None: the batch is every row),
    and the digest of the dataset's definition (``_definition_parts``) it judged under."""

    rows: int
    carried_from: str | None
    definition: str


def _scope(con, selected, run_id: str, bound: str) -> dict[str, Scope]:
    """Per dataset, the batch GE validates (the module's docstring, "Only new batches"):
    leaves ``dq.<dataset>__all`` every row, ``dq.<dataset>__now`` the hashes of every row,
    ``dq.<dataset>__keys`` the record-key hashes of the batch and ``dq.<dataset>`` the batch
    (a view of every row when nothing is carried over)."""
    from expectations.base import FUTURE_BOUND

    newest = newest_run_id(con)
    state = {name: (run, definition, judged_under) for name, run, definition, judged_under
             in con.execute("select dataset, run_id, definition, future_bound"
                            " from meta.dq_seen_state").fetchall()}
    scopes = {}
    for ds in selected:
        every, now, keys = (f"{ds.table}__{part}" for part in ("all", "now", "keys"))
        con.execute(f"alter table {ds.table} rename to {every.split('.')[1]}")
        con.execute(f"create table {now} as select distinct hash(record_key) as key_hash,"
                    f" hash(row) as row_hash from {every} as row")
        run, definition, judged_under = state.get(ds.name, (None, None, None))
        now_defined = _digest(_definition_parts(ds))
        carried_from = (newest if run == newest and newest not in (None, run_id)
                        and definition == now_defined else None)
        if carried_from is None:
            con.execute(f"create table {keys} as select distinct key_hash from {now}")
            con.execute(f"create view {ds.table} as select * from {every}")
        else:
            picks = " or ".join(f"({r.condition(b)})" for r in ds.checked_rules()
                                if FUTURE_BOUND in r.fails for b in (bound, judged_under))
            con.execute(f"""
                create table {keys} as
                with seen as (select key_hash, row_hash from meta.dq_seen where dataset = ?)
                select now.key_hash from {now} as now
                anti join seen on now.key_hash = seen.key_hash and now.row_hash = seen.row_hash
                union
                select seen.key_hash from seen
                anti join {now} as now
                    on now.key_hash = seen.key_hash and now.row_hash = seen.row_hash
                union
                select hash(record_key) from {every} where {picks or 'false'}
            """, [ds.name])
            con.execute(f"create table {ds.table} as select * from {every}"
                        f" where hash(record_key) in (select key_hash from {keys})")
        (rows,) = con.execute(f"select count(*) from {ds.table}").fetchone()
        scopes[ds.name] = Scope(rows=rows, carried_from=carried_from, definition=now_defined)
        log.info("data quality: %s: %s", ds.name,
                 f"{rows:,} new or changed rows validated, the other rows' flags carried over"
                 f" from run {carried_from}" if carried_from else f"every row ({rows:,}) validated")
    return scopes


def _of_the_dataset(con, selected, outcomes: list[RuleOutcome], scopes: dict[str, Scope],
                    row_counts: dict[str, int], bound: str) -> list[RuleOutcome]:
    """GE's outcomes on each batch as outcomes on the dataset: every row (``element_count``),
    the failing ones among them (counted in DuckDB with the rule's own condition when GE saw
    only a batch), and the batch GE evaluated (``validated_rows``)."""
    from dataclasses import replace

    by_name = {ds.name: ds for ds in selected}
    failing: dict[str, dict[str, int]] = {}
    for name, scope in scopes.items():
        if scope.carried_from:
            rules = by_name[name].checked_rules()
            counts = con.execute("select " + ", ".join(
                f"count(*) filter (where {r.condition(bound)})" for r in rules)
                + f" from {by_name[name].table}__all").fetchone()
            failing[name] = dict(zip((r.name for r in rules), counts))
    adjusted = []
    for o in outcomes:
        total = row_counts[o.dataset]
        changes = {"element_count": total, "validated_rows": scopes[o.dataset].rows}
        if o.dataset in failing and not o.exception_message:
            unexpected = failing[o.dataset][o.rule]
            changes.update(unexpected_count=unexpected, success=unexpected == 0,
                           unexpected_percent=100.0 * unexpected / total if total else None)
        elif o.unexpected_count is not None:
            changes["unexpected_percent"] = (100.0 * o.unexpected_count / total
                                             if total else None)
        adjusted.append(replace(o, **changes))
    return adjusted


def newest_run_id(con) -> str | None:
    """The newest validation run: the one whose flags int_quality_flags gives the models."""
    newest = con.execute("select run_id from meta.dq_results"
                         " order by validated_at desc limit 1").fetchone()
    return newest[0] if newest else None


def _unchanged_since(con, fingerprints: dict[str, str]) -> str | None:
    """The newest validation run, if it saw exactly these inputs for every dataset; else
    None. Only the newest run counts: int_quality_flags gives the models that run's flags,
    so reusing it leaves the marts as a new validation would build them."""
    newest = newest_run_id(con)
    if newest is None:
        return None
    stored = dict(con.execute("select dataset, fingerprint from meta.dq_fingerprints"
                              " where run_id = ?", [newest]).fetchall())
    if all(stored.get(name) == digest for name, digest in fingerprints.items()):
        return newest
    return None


def _reused(con, warehouse_dir: Path, run_id: str, reused_from: str,
            names: list[str]) -> QualityResult:
    """The result of run ``reused_from`` for these datasets, read back from the audit
    tables: an error rule that failed then fails this run too."""
    placeholders = ", ".join("?" for _ in names)
    columns = [f.name for f in RuleOutcome.__dataclass_fields__.values()]
    rows = con.execute(f"select {', '.join(columns)} from meta.dq_results"
                       f" where run_id = ? and dataset in ({placeholders})"
                       f" order by dataset, rule", [reused_from, *names]).fetchall()
    flagged = _rows_flagged(con, reused_from, names)
    docs = Path(warehouse_dir) / DATA_DOCS_INDEX
    return QualityResult(
        run_id=run_id, outcomes=[RuleOutcome(*r) for r in rows], datasets=names,
        rows_flagged=flagged, data_docs_path=docs if docs.is_file() else None,
        reused_from=reused_from)


# ---------------------------------------------------------------------------- GE objects

def _duckdb_needs_a_persisted_connection() -> None:
    """GE's SQL engine opens a connection per query and closes it before fetching the
    rows (``with engine.connect(): result = execute(...)``, then ``result.fetchall()``).
    DuckDB's cursor dies with its connection, so every metric comes back empty ("list
    index out of range"). GE already keeps one connection open for dialects with that
    property (SQLite, SQL Server ...): register DuckDB among them.
    tests/test_quality.py::test_audit_has_one_row_per_rule_with_ge_counts fails if it stops
    working."""
    from great_expectations.execution_engine import sqlalchemy_execution_engine as engine

    class _Dialect(str):
        value = "duckdb"  # the engine compares names, the connection-string check .value

    if "duckdb" not in engine._PERSISTED_CONNECTION_DIALECTS:
        engine._PERSISTED_CONNECTION_DIALECTS = (*engine._PERSISTED_CONNECTION_DIALECTS,
                                                 _Dialect("duckdb"))


def _context(warehouse_dir: Path):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(warehouse_dir))
    changed = False
    bars = context.variables.progress_bars  # an object when just set, a dict when read back
    bars = bars if isinstance(bars, dict) else vars(bars) if bars is not None else {}
    if bars.get("globally", True) or bars.get("metric_calculations", True):
        # no tqdm bars in task logs
        context.variables.progress_bars = ProgressBarsConfig(globally=False,
                                                             metric_calculations=False)
        changed = True
    sites = context.variables.data_docs_sites or {}
    for site in sites.values():
        if site.get("show_how_to_buttons", True):  # GE's tutorial buttons
            site["show_how_to_buttons"] = False
            changed = True
    if changed:
        context.variables.data_docs_sites = sites
        context.variables.save()
        context = gx.get_context(mode="file", project_root_dir=str(warehouse_dir))
    return context


def _datasource(context, warehouse_dir: Path):
    """GE's SQL datasource on the working file (rewritten each run: the path may move)."""
    _duckdb_needs_a_persisted_connection()
    path = warehouse.working_path(warehouse_dir).resolve()
    return context.data_sources.add_or_update_sql(DATASOURCE,
                                                  connection_string=f"duckdb:///{path}")


def _close(sources) -> None:
    """Close every connection GE opened on the file (the checkpoints' datasources are
    their own objects, each with its engines), so the next writer finds it free."""
    for source in {id(s): s for s in sources}.values():
        source.get_execution_engine().close()
        source.get_engine().dispose()
    gc.collect()


def _checkpoint(context, source, ds, bound: str):
    """Suite, query asset, validation definition and checkpoint of ``ds``; the suite is
    rewritten from code on every run (code is the source of truth)."""
    import great_expectations as gx

    query = f"select * from {ds.table}"
    try:
        asset = source.get_asset(ds.name)
    except LookupError:
        asset = source.add_query_asset(ds.name, query=query)
    try:
        batch_definition = asset.get_batch_definition(BATCH_DEFINITION)
    except KeyError:
        batch_definition = asset.add_batch_definition_whole_table(BATCH_DEFINITION)
    suite = context.suites.add_or_update(_suite(ds, bound))
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=ds.name, data=batch_definition, suite=suite))
    return context.checkpoints.add_or_update(
        gx.Checkpoint(name=ds.name, validation_definitions=[definition], actions=[],
                      result_format={"result_format": "BASIC"}))


def _suite(ds, bound: str):
    """One ``UnexpectedRowsExpectation`` per rule: the failing rows' keys, by SQL. ``meta``
    carries what memberdw acts on; Data Docs show the description in place of the query's
    generated sentence, so it leads with the rule."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.expectations.metadata_types import FailureSeverity

    severity = {"error": FailureSeverity.CRITICAL, "warn": FailureSeverity.WARNING}
    expectations = [
        gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=f"select record_key from {{batch}} where {r.condition(bound)}",
            meta={"rule": r.name, "severity": r.severity, "action": r.action},
            severity=severity[r.severity],
            description=f"{r.name} ({r.severity}, {r.action or 'no row action'}): {r.why}")
        for r in ds.checked_rules()]
    return gx.ExpectationSuite(
        name=ds.suite_name, expectations=expectations,
        meta={"dataset": ds.name, "relation": ds.relation, "record_key": ds.record_key,
              "defined_in": "expectations/ (code is the source of truth)"})


def _forget_run(context, run_name: str, suites: set[str]) -> None:
    """Remove the stored results (and their Data Docs pages) an earlier call with this
    run name left for these suites, so a re-run leaves one set of results per run_id."""
    store = context.validation_results_store
    for key in store.list_keys():
        if key.run_id.run_name == run_name and key.expectation_suite_identifier.name in suites:
            _remove_stored(context, key)


def _make_stored_names_portable(context) -> list:
    """Results stored before run names were made portable (folders named like
    ``manual__2026-12-02T10:00:00+00:00``) stored again under the portable name, their old
    files and Data Docs pages removed; returns the new keys, whose pages are to be built."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ValidationResultIdentifier,
    )

    store = context.validation_results_store
    renamed = []
    for key in store.list_keys():
        name = key.run_id.run_name or ""
        if portable_name(name) == name:
            continue
        new_key = ValidationResultIdentifier(
            expectation_suite_identifier=key.expectation_suite_identifier,
            run_id=RunIdentifier(run_name=portable_name(name), run_time=key.run_id.run_time),
            batch_identifier=key.batch_identifier)
        store.set(new_key, store.get(key))
        _remove_stored(context, key)
        renamed.append(new_key)
    return renamed


def _remove_stored(context, key) -> None:
    """One stored validation result, its Data Docs page and the folders they leave empty."""
    store = context.validation_results_store
    for site in context.get_docs_sites_urls(resource_identifier=key, only_if_exists=True):
        url = site.get("site_url") or ""
        if url.startswith("file://"):
            page = Path(unquote(urlparse(url).path))
            page.unlink(missing_ok=True)
            _prune_empty_dirs(page.parent, stop="validations")
    store.remove_key(key)
    backend = store.store_backend
    try:  # the filesystem backend leaves the emptied run folders behind
        stored = Path(backend.full_base_directory) / backend._convert_key_to_filepath(
            key.to_tuple())
    except AttributeError:
        return
    _prune_empty_dirs(stored.parent, stop=Path(backend.full_base_directory).name)


def _prune_empty_dirs(directory: Path, stop: str) -> None:
    """Remove ``directory`` and its parents while empty, up to the folder named ``stop``."""
    while directory.name != stop and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


def _build_docs(context, result_ids: list, suites: list[str]) -> Path | None:
    """Pages of this run's results and suites, plus the index of every stored result."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    ids = list(result_ids) + [ExpectationSuiteIdentifier(name=s) for s in suites]
    urls = context.build_data_docs(resource_identifiers=ids)
    url = next(iter(urls.values()), None)
    if not url or not url.startswith("file://"):
        return None
    return Path(unquote(urlparse(url).path))


# ---------------------------------------------------------------------------- results

def _outcome(ds, result, element_count: int) -> RuleOutcome:
    config = result.expectation_config
    meta = config.meta or {}
    body = result.result or {}
    info = result.exception_info or {}
    raised = info.get("raised_exception") if isinstance(info, dict) else False
    if not raised and isinstance(info, dict):  # GE 1.x may key exception_info per metric
        raised = any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())
    message = None
    if raised:
        message = info.get("exception_message") or "; ".join(
            str(v.get("exception_message")) for v in info.values()
            if isinstance(v, dict) and v.get("raised_exception"))
    unexpected = _int(body.get("observed_value"))
    return RuleOutcome(
        suite=ds.suite_name, dataset=ds.name, expectation=config.type,
        rule=meta.get("rule", config.type), column_name=None,
        severity=meta.get("severity", "error"), action=meta.get("action"),
        success=bool(result.success) and not raised,
        element_count=element_count, unexpected_count=unexpected,
        unexpected_percent=(100.0 * unexpected / element_count
                            if unexpected is not None and element_count else None),
        exception_message=message)


def _write(con, run_id: str, validated_at: datetime, selected, outcomes: list[RuleOutcome],
           flagged: list, bound: str, fingerprints: dict[str, str],
           scopes: dict[str, Scope]) -> dict[str, int]:
    """Results, flagged rows, fingerprints and seen rows of this run, replacing an earlier
    call's; the batch's rows are flagged in DuckDB by each rule's own condition, the other
    rows' flags carried over. Returns rows flagged per rule."""
    datasets = [ds.name for ds in selected]
    results = pd.DataFrame(
        [{"run_id": run_id, "validated_at": validated_at, **asdict(o)} for o in outcomes],
        columns=["run_id", "validated_at", "suite", "dataset", "expectation", "rule",
                 "column_name", "severity", "action", "success", "element_count",
                 "unexpected_count", "unexpected_percent", "exception_message",
                 "validated_rows"])
    placeholders = ", ".join("?" for _ in datasets)
    flag_columns = ", ".join(_FLAG_COLUMNS)
    with warehouse.transaction(con):
        for table in ("dq_results", "dq_row_flags", "dq_fingerprints"):
            con.execute(f"delete from meta.{table} where run_id = ? and dataset in"
                        f" ({placeholders})", [run_id, *datasets])
        con.executemany("insert into meta.dq_fingerprints values (?, ?, ?, ?)",
                        [[run_id, name, digest, validated_at]
                         for name, digest in fingerprints.items()])
        con.register("dq_results_new", results)
        try:
            names = ", ".join(results.columns)
            con.execute(f"insert into meta.dq_results ({names}) select {names} from dq_results_new")
        finally:
            con.unregister("dq_results_new")
        for ds in selected:
            scope = scopes[ds.name]
            if scope.carried_from:  # the flags of the rows not in the batch, as they were
                con.execute(f"""
                    insert into meta.dq_row_flags ({flag_columns})
                    select ? as run_id, {flag_columns.replace('run_id, ', '', 1)}
                    from meta.dq_row_flags
                    where run_id = ? and dataset = ?
                        and hash(record_key) not in (select key_hash from {ds.table}__keys)
                """, [run_id, scope.carried_from, ds.name])
            # what this run saw: the batch's rows replace the seen rows of their keys
            batch_only = (f" and key_hash in (select key_hash from {ds.table}__keys)"
                          if scope.carried_from else "")
            con.execute(f"delete from meta.dq_seen where dataset = ?{batch_only}", [ds.name])
            con.execute(f"insert into meta.dq_seen select ?, key_hash, row_hash"
                        f" from {ds.table}__now where true{batch_only}", [ds.name])
            con.execute("insert or replace into meta.dq_seen_state values (?, ?, ?, ?)",
                        [ds.name, run_id, scope.definition, bound])
        for ds, r in flagged:
            # A key delivered twice on the same line is one flag.
            con.execute(f"""
                insert into meta.dq_row_flags ({flag_columns})
                select distinct ?, ?, ?, ?, ?, record_key, member_id, _source_file,
                       _source_line, ?
                from {ds.table}
                where {r.condition(bound)}
            """, [run_id, ds.name, r.name, r.severity, r.action, validated_at])
    return _rows_flagged(con, run_id, datasets)


def _rows_flagged(con, run_id: str, datasets: list[str]) -> dict[str, int]:
    """``<dataset>/<rule>`` -> rows of run ``run_id`` in meta.dq_row_flags."""
    placeholders = ", ".join("?" for _ in datasets)
    return dict(con.execute(
        f"select dataset || '/' || rule, count(*) from meta.dq_row_flags where run_id = ?"
        f" and dataset in ({placeholders}) group by all order by 1", [run_id, *datasets]
    ).fetchall())


def _int(value) -> int | None:
    if value is None or pd.isna(value):
        return None
    return int(value)
