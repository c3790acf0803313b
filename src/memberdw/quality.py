"""Data quality: run the cleaning-rule suites of ``memberdw.expectations`` against the
working warehouse, keep every result for audit and land the failing rows themselves.

``validate(warehouse_dir, run_id)`` reads each dataset's query (``staging.*`` only) into a
pandas DataFrame with DuckDB and validates it through Great Expectations' pandas path (GE's
SQL path does not work with DuckDB): one file-backed GE context under
``<warehouse_dir>/gx/``, one dataframe asset, validation definition and checkpoint per
dataset, Data Docs built there as static HTML. It then writes, in one transaction:

  meta.dq_results     one row per expectation and run: the audit table (append-only; a
                      re-run of the same run_id replaces that run's rows)
  meta.dq_row_flags   the failing rows of every rule with a row action: ``quarantine``
                      (leaves the marts it would distort) or ``review`` (kept, listed)

The failing rows come from GE (COMPLETE result format with ``unexpected_index_column_names``
= the record key, member_id, source file and line), not from a second query. GE is told to
leave out the failing *values* (``exclude_unexpected_values``): stored results and Data Docs
carry record keys and source lines only.

Cost: importing Great Expectations takes ~3 s once per process; a 2000-member, 14-day
warehouse then validates in ~2-3 s (12 datasets, 48 expectations, Data Docs included).

A failed ``error`` rule does not raise here: the result says so (``passed``) and the caller
decides, e.g. with ``result.raise_for_errors()``.
"""

from __future__ import annotations

import logging
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
            "seconds": round(self.seconds, 2),
        }


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
    """Validate ``datasets`` (default: all of ``memberdw.expectations.DATASETS``) in
    ``<warehouse_dir>/warehouse.duckdb``; record results and flagged rows for ``run_id``
    (replacing what an earlier call with the same run_id recorded for these datasets)
    and build the Data Docs under ``<warehouse_dir>/gx/``."""
    started = time.perf_counter()
    if not run_id:
        raise ValueError("run_id is required")
    warehouse_dir = Path(warehouse_dir)

    import great_expectations as gx

    from memberdw.expectations import BOOKKEEPING_COLUMNS, DATASETS, FUTURE_BOUND

    names = list(DATASETS) if datasets is None else list(dict.fromkeys(datasets))
    unknown = [n for n in names if n not in DATASETS]
    if unknown or not names:
        raise ValueError(f"unknown dataset(s) {unknown or names}; known: {list(DATASETS)}")
    selected = [DATASETS[n] for n in names]
    bound = future_bound(as_of)
    validated_at = datetime.now(timezone.utc)

    con = warehouse.connect(warehouse_dir)
    try:
        context = _context(warehouse_dir)
        _forget_run(context, run_id, {ds.suite_name for ds in selected})
        result_format = {
            "result_format": "COMPLETE",
            "unexpected_index_column_names": BOOKKEEPING_COLUMNS,
            "exclude_unexpected_values": True,
            "return_unexpected_index_query": False,
            "partial_unexpected_count": 0,
        }
        gx_run_id = gx.RunIdentifier(run_name=run_id, run_time=validated_at)
        outcomes: list[RuleOutcome] = []
        flags: list[dict] = []
        result_ids = []
        for ds in selected:
            try:
                frame = con.execute(ds.query).df()
            except duckdb.Error as exc:  # e.g. a staging model not built: say which
                raise RuntimeError(f"data quality: cannot read dataset {ds.name} "
                                   f"({ds.relation}): {exc}") from exc
            checkpoint = _checkpoint(context, ds, result_format)
            checkpoint_result = checkpoint.run(
                batch_parameters={"dataframe": frame}, run_id=gx_run_id,
                expectation_parameters={FUTURE_BOUND: bound})
            del frame
            for result_id, suite_result in checkpoint_result.run_results.items():
                result_ids.append(result_id)
                for result in suite_result.results:
                    outcome = _outcome(ds, result)
                    outcomes.append(outcome)
                    if not outcome.success and outcome.action:
                        flags.extend(_flags(run_id, ds.name, outcome, result, validated_at))

        docs = _build_docs(context, result_ids, [ds.suite_name for ds in selected])
        flag_frame = _flag_frame(flags)
        _write(con, run_id, validated_at, [ds.name for ds in selected], outcomes, flag_frame)
    finally:
        con.close()

    rows_flagged = (flag_frame.groupby(["dataset", "rule"]).size() if len(flag_frame) else {})
    result = QualityResult(
        run_id=run_id, outcomes=outcomes, datasets=names, data_docs_path=docs,
        rows_flagged={f"{d}/{r}": int(n) for (d, r), n in dict(rows_flagged).items()},
        seconds=time.perf_counter() - started)
    log.info("data quality %s: passed=%s, %d expectations, flagged %s, %.1f s, docs %s",
             run_id, result.passed, len(outcomes), result.rows_flagged, result.seconds, docs)
    return result


# ---------------------------------------------------------------------------- GE objects

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


def _checkpoint(context, ds, result_format: dict):
    """Suite, dataframe asset, validation definition and checkpoint of ``ds``; the suite is
    rewritten from code on every run (code is the source of truth)."""
    import great_expectations as gx

    try:
        source = context.data_sources.get(DATASOURCE)
    except KeyError:
        source = context.data_sources.add_pandas(DATASOURCE)
    try:
        asset = source.get_asset(ds.name)
    except LookupError:
        asset = source.add_dataframe_asset(ds.name)
    try:
        batch_definition = asset.get_batch_definition(BATCH_DEFINITION)
    except KeyError:
        batch_definition = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
    suite = context.suites.add_or_update(ds.suite())
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=ds.name, data=batch_definition, suite=suite))
    return context.checkpoints.add_or_update(
        gx.Checkpoint(name=ds.name, validation_definitions=[definition], actions=[],
                      result_format=result_format))


def _forget_run(context, run_id: str, suites: set[str]) -> None:
    """Remove the stored results (and their Data Docs pages) an earlier call with this
    run_id left for these suites, so a re-run leaves one set of results per run_id."""
    store = context.validation_results_store
    for key in store.list_keys():
        if key.run_id.run_name != run_id or key.expectation_suite_identifier.name not in suites:
            continue
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
            continue
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

def _outcome(ds, result) -> RuleOutcome:
    config = result.expectation_config
    meta = config.meta or {}
    kwargs = config.kwargs
    if kwargs.get("column"):
        column = kwargs["column"]
    elif kwargs.get("column_list"):
        column = ",".join(kwargs["column_list"])
    elif kwargs.get("column_A"):
        column = f"{kwargs['column_A']},{kwargs['column_B']}"
    else:
        column = None
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
    return RuleOutcome(
        suite=ds.suite_name, dataset=ds.name, expectation=config.type,
        rule=meta.get("rule", config.type), column_name=column,
        severity=meta.get("severity", "error"), action=meta.get("action"),
        success=bool(result.success) and not raised,
        element_count=_int(body.get("element_count")),
        unexpected_count=_int(body.get("unexpected_count")),
        unexpected_percent=_float(body.get("unexpected_percent")),
        exception_message=message)


def _flags(run_id: str, dataset: str, outcome: RuleOutcome, result,
           flagged_at: datetime) -> list[dict]:
    """The failing rows GE returned for one expectation (``unexpected_index_list``)."""
    index = (result.result or {}).get("unexpected_index_list") or []
    if not index:
        if outcome.unexpected_count:
            log.warning("%s/%s: %s unexpected rows but GE returned no index", dataset,
                        outcome.rule, outcome.unexpected_count)
        return []
    if len(index) == 1 and all(isinstance(v, list) for v in index[0].values()):
        columns = index[0]  # exclude_unexpected_values: one dict of columns
        rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
    else:
        rows = index
    base = {"run_id": run_id, "dataset": dataset, "rule": outcome.rule,
            "severity": outcome.severity, "action": outcome.action, "flagged_at": flagged_at}
    return [{**base, "record_key": _text(r.get("record_key")),
             "member_id": _text(r.get("member_id")),
             "source_file": _text(r.get("_source_file")),
             "source_line": _int(r.get("_source_line"))} for r in rows]


def _flag_frame(flags: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(flags, columns=_FLAG_COLUMNS)
    # A key duplicated within its source (same record key, same line) is one flag.
    return frame.drop_duplicates(["dataset", "rule", "record_key", "source_file", "source_line"])


def _write(con, run_id: str, validated_at: datetime, datasets: list[str],
           outcomes: list[RuleOutcome], flags: pd.DataFrame) -> None:
    results = pd.DataFrame(
        [{"run_id": run_id, "validated_at": validated_at, **asdict(o)} for o in outcomes],
        columns=["run_id", "validated_at", "suite", "dataset", "expectation", "rule",
                 "column_name", "severity", "action", "success", "element_count",
                 "unexpected_count", "unexpected_percent", "exception_message"])
    placeholders = ", ".join("?" for _ in datasets)
    with warehouse.transaction(con):
        con.execute(f"delete from meta.dq_results where run_id = ? and dataset in ({placeholders})",
                    [run_id, *datasets])
        con.execute(f"delete from meta.dq_row_flags where run_id = ? and dataset in "
                    f"({placeholders})", [run_id, *datasets])
        con.register("dq_results_new", results)
        con.register("dq_row_flags_new", flags)
        try:
            for table, frame_name, columns in (
                    ("meta.dq_results", "dq_results_new", list(results.columns)),
                    ("meta.dq_row_flags", "dq_row_flags_new", _FLAG_COLUMNS)):
                names = ", ".join(columns)
                con.execute(f"insert into {table} ({names}) select {names} from {frame_name}")
        finally:
            con.unregister("dq_results_new")
            con.unregister("dq_row_flags_new")


def _text(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


def _int(value) -> int | None:
    if value is None or pd.isna(value):
        return None
    return int(value)


def _float(value) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)
