"""The audit page: ``<warehouse>/audit/index.html``, one self-contained HTML file built from
the audit tables of the working warehouse, readable with no network and no script.

Why a page of our own rather than Great Expectations' Data Docs (DECISIONLOG, "The audit
page"): Data Docs load their scripts and styles from public CDNs, so offline the index is
blank; they call a suite "Failed" whenever a warn rule fails, which ours do by design on
healthy data; and they add a page per suite and run. This page:

- says of every rule of the newest validation of each suite whether it *passed*, gave a
  *warning* (a ``warn`` rule failed: recorded, the run goes on) or *failed* (an ``error``
  rule failed, or GE could not evaluate it: nothing is published), with its counts and
  the rule's reason from ``expectations/``;
- lists the keys of the rows each rule flagged (record key, source file, line), at most
  ``MAX_KEYS`` per rule, saying how many more ``meta.dq_row_flags`` holds;
- counts the rows quarantined at parsing by source, entity and reason, shows the sales
  reconciliation when the marts are built, and one line per load and validation run;
- is one file, rewritten atomically (written under a temporary name, then renamed over
  the old one), with bounded lists: it never grows by a file, and a reader never sees half
  a page.

Personal data stays out: the page shows record keys (``member_id`` is a key, not personal
data, in this project), file names, line numbers and counts, never ``raw_record`` (the
delivered text) nor any staging column.

``build(warehouse_dir)`` opens the working file read-only; ``memberdw.quality.validate``
calls it after every validation and the transform DAG after the sales audit.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from memberdw import warehouse

PAGE = Path("audit") / "index.html"
MAX_KEYS = 50    # flagged keys listed per rule; the rest are counted
OPEN_KEYS = 10   # a list this short is shown open, a longer one folded under its count
MAX_RUNS = 100   # lines of run history; older runs are counted
BUSINESS_TZ = "Asia/Shanghai"

PASSED, WARNING, FAILED = "passed", "warning", "failed"

RECONCILIATION = "marts.mart_sales_reconciliation"
RECONCILIATION_REASONS = "marts.mart_sales_reconciliation_reasons"


@dataclass
class RuleStatus:
    """One rule of a suite's newest validation, as the page shows it."""

    rule: str
    severity: str
    action: str | None
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    exception_message: str | None
    validated_rows: int | None = None  # the new batch Great Expectations evaluated
    why: str = ""
    flagged: list[tuple] = field(default_factory=list)  # (record_key, source_file, line)
    flagged_total: int = 0

    @property
    def status(self) -> str:
        if self.success:
            return PASSED
        if self.severity == "warn" and not self.exception_message:
            return WARNING
        return FAILED


@dataclass
class SuiteStatus:
    suite: str
    dataset: str
    run_id: str
    validated_at: datetime
    rules: list[RuleStatus]

    @property
    def status(self) -> str:
        statuses = {r.status for r in self.rules}
        return FAILED if FAILED in statuses else WARNING if WARNING in statuses else PASSED

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rules)

    @property
    def element_count(self) -> int:
        return max((r.element_count or 0 for r in self.rules), default=0)

    @property
    def validated_rows(self) -> int | None:
        """The new or changed rows Great Expectations evaluated (None: not recorded)."""
        counts = [r.validated_rows for r in self.rules if r.validated_rows is not None]
        return max(counts) if counts else None


def build(warehouse_dir: str | Path) -> Path:
    """Write ``<warehouse_dir>/audit/index.html`` from the working file; returns its path."""
    warehouse_dir = Path(warehouse_dir)
    working = warehouse.working_path(warehouse_dir)
    if not working.is_file():
        raise FileNotFoundError(f"audit page: no working warehouse at {working}")
    con = duckdb.connect(str(working), read_only=True)
    try:
        con.execute(f"set TimeZone = '{BUSINESS_TZ}'")
        tables = {f"{s}.{t}" for s, t in con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_catalog = current_database()").fetchall()}
        suites = _suites(con) if "meta.dq_results" in tables else []
        quarantine = _quarantine(con) if "meta.quarantine" in tables else []
        history, older = _history(con, tables)
        reconciliation = _reconciliation(con, tables)
    finally:
        con.close()
    page = warehouse_dir / PAGE
    page.parent.mkdir(parents=True, exist_ok=True)
    text = _render(warehouse_dir, suites, quarantine, history, older, reconciliation)
    staged = page.with_name(f".{page.name}.{os.getpid()}.tmp")
    try:
        staged.write_text(text, encoding="utf-8")
        os.replace(staged, page)
    finally:
        staged.unlink(missing_ok=True)
    return page


# ---------------------------------------------------------------------------- reading

def _suites(con) -> list[SuiteStatus]:
    """The newest validation of each dataset, its rules in the order ``expectations/``
    defines them, each with the first ``MAX_KEYS`` rows it flagged."""
    from expectations import DATASETS

    rows = con.execute("""
        with latest as (
            select dataset, arg_max(run_id, validated_at) as run_id
            from meta.dq_results
            group by dataset
        )
        select r.suite, r.dataset, r.run_id, r.validated_at, r.rule, r.severity, r.action,
               r.success, r.element_count, r.unexpected_count, r.unexpected_percent,
               r.exception_message, r.validated_rows
        from meta.dq_results as r
        inner join latest using (dataset, run_id)
        order by r.dataset, r.rule
    """).fetchall()
    flags = con.execute(f"""
        with latest as (
            select dataset, arg_max(run_id, validated_at) as run_id
            from meta.dq_results
            group by dataset
        )
        select dataset, rule, record_key, source_file, source_line,
               count(*) over (partition by dataset, rule) as flagged_total
        from meta.dq_row_flags
        inner join latest using (dataset, run_id)
        qualify row_number() over (partition by dataset, rule
                                   order by source_file, source_line, record_key) <= {MAX_KEYS}
        order by dataset, rule, source_file, source_line, record_key
    """).fetchall()
    listed: dict[tuple, list] = {}
    totals: dict[tuple, int] = {}
    for dataset, rule, key, source_file, line, total in flags:
        listed.setdefault((dataset, rule), []).append((key, source_file, line))
        totals[(dataset, rule)] = total

    suites: dict[str, SuiteStatus] = {}
    for (suite, dataset, run_id, validated_at, rule, severity, action, success, elements,
         unexpected, percent, exception, validated) in rows:
        if dataset not in suites:
            suites[dataset] = SuiteStatus(suite, dataset, run_id, validated_at, [])
        suites[dataset].rules.append(RuleStatus(
            rule, severity, action, bool(success), elements, unexpected, percent, exception,
            validated,
            flagged=listed.get((dataset, rule), []), flagged_total=totals.get((dataset, rule), 0)))
    for dataset, suite in suites.items():
        defined = DATASETS[dataset].checked_rules() if dataset in DATASETS else []
        why = {r.name: r.why for r in defined}
        order = {r.name: i for i, r in enumerate(defined)}
        for r in suite.rules:
            r.why = why.get(r.rule, "(no longer defined in expectations/)")
        suite.rules.sort(key=lambda r: (order.get(r.rule, len(order)), r.rule))
    order = {name: i for i, name in enumerate(DATASETS)}
    return sorted(suites.values(), key=lambda s: (order.get(s.dataset, len(order)), s.dataset))


def _quarantine(con) -> list[tuple]:
    """Rows quarantined at parsing, by source, entity and reason: counts and files only."""
    return con.execute("""
        select source, entity, reason, count(*) as row_count,
               count(distinct source_file) as file_count
        from meta.quarantine
        group by all
        order by source, entity, row_count desc, reason
    """).fetchall()


def _history(con, tables: set[str]) -> tuple[list[tuple], int]:
    """One line per load run and per validation run, newest first, and how many older lines
    were left out. A line: (when, run_id, kind, what, files loaded, duplicate, rejected,
    rows read or checked, rows loaded, rows quarantined, rules failed, warnings)."""
    parts = []
    if "meta.load_ledger" in tables:
        parts.append("""
            select min(recorded_at), run_id, 'load',
                   string_agg(distinct source, ', ' order by source),
                   count(*) filter (where status = 'loaded'),
                   count(*) filter (where status = 'duplicate'),
                   count(*) filter (where status = 'rejected'),
                   sum(rows_read), sum(rows_loaded), sum(rows_rejected), null, null
            from meta.load_ledger
            group by run_id
        """)
    if "meta.dq_results" in tables:
        parts.append("""
            select max(validated_at), run_id, 'validate', count(*) || ' suites',
                   null, null, null, sum(rows_checked), null, null, sum(failed), sum(warnings)
            from (
                select run_id, dataset, max(validated_at) as validated_at,
                       max(element_count) as rows_checked,
                       count(*) filter (where not success and (severity = 'error'
                                        or exception_message is not null)) as failed,
                       count(*) filter (where not success and severity = 'warn'
                                        and exception_message is null) as warnings
                from meta.dq_results
                group by run_id, dataset
            )
            group by run_id
        """)
    if not parts:
        return [], 0
    union = " union all ".join(parts)
    (total,) = con.execute(f"select count(*) from ({union})").fetchone()
    lines = con.execute(f"select * from ({union}) order by 1 desc, 2 limit {MAX_RUNS}").fetchall()
    return lines, max(total - MAX_RUNS, 0)


def _reconciliation(con, tables: set[str]) -> dict | None:
    """Sales delivered against published per channel, and the unexplained store-days, from
    the reconciliation mart when the marts are built."""
    if RECONCILIATION not in tables:
        return None
    channels = con.execute(f"""
        select channel, sum(delivered_rows), sum(delivered_amount), sum(published_amount),
               sum(superseded_amount), sum(quarantined_amount), sum(unexplained_amount),
               sum(review_amount), count(*) filter (where not is_reconciled)
        from {RECONCILIATION}
        group by channel
        order by channel
    """).fetchall()
    reasons = []
    if RECONCILIATION_REASONS in tables:
        reasons = con.execute(f"""
            select channel, outcome, reason, sum(row_count), sum(paid_amount)
            from {RECONCILIATION_REASONS}
            group by all
            order by channel, outcome, reason
        """).fetchall()
    return {"channels": channels, "reasons": reasons}


# ---------------------------------------------------------------------------- rendering

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei",
       sans-serif; color: #1d2330; margin: 0 auto; max-width: 1180px; padding: 1.5em; }
h1 { font-size: 1.6em; margin: 0 0 .2em; }
h2 { font-size: 1.25em; margin: 2em 0 .5em; border-bottom: 1px solid #d6dae3; }
h3 { font-size: 1.05em; margin: 1.6em 0 .4em; }
p.note, .muted { color: #5b6475; }
table { border-collapse: collapse; width: 100%; margin: .4em 0 1em; }
th, td { text-align: left; padding: .3em .55em; border-bottom: 1px solid #e6e9ef;
         vertical-align: top; }
th { background: #f3f5f9; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .92em; }
.status { display: inline-block; padding: 0 .55em; border-radius: .8em; font-weight: 600;
          font-size: .9em; white-space: nowrap; }
.passed { background: #dcf3e2; color: #135c2a; }
.warning { background: #fff0c7; color: #7a4b00; }
.failed { background: #fbdcdc; color: #8a1414; }
details { margin: .2em 0; }
summary { cursor: pointer; }
tr.keys td { border-bottom: 1px solid #e6e9ef; padding-left: 2em; }
ul.keys { columns: 2 26em; margin: .3em 0; font-size: .92em; overflow-wrap: anywhere; }
@media print { details { display: block; } }
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _n(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}"


def _when(value) -> str:
    return value.isoformat(sep=" ", timespec="seconds") if value else ""


def _badge(status: str) -> str:
    return f'<span class="status {status}">{status}</span>'


def _table(head: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """``rows`` already escaped; columns in ``numeric`` right-aligned."""
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _render(warehouse_dir: Path, suites: list[SuiteStatus], quarantine: list[tuple],
            history: list[tuple], older: int, reconciliation: dict | None) -> str:
    from memberdw.quality import DATA_DOCS_INDEX

    generated = _when(datetime.now(ZoneInfo(BUSINESS_TZ)))
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>memberdw audit</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>memberdw audit</h1>",
        f'<p class="note">Warehouse <code>{_e(warehouse_dir)}</code>; page built {_e(generated)}'
        " from the audit tables of the working file (<code>meta.dq_results</code>,"
        " <code>meta.dq_row_flags</code>, <code>meta.quarantine</code>,"
        " <code>meta.load_ledger</code>). <b>passed</b>: no row broke the rule;"
        " <b>warning</b>: a warn rule found rows, recorded and flagged, the run went on;"
        " <b>failed</b>: an error rule found rows (or could not be evaluated), so nothing"
        " was published.</p>",
    ]
    out += _render_overview(suites)
    for suite in suites:
        out += _render_suite(suite)
    out += _render_quarantine(quarantine)
    out += _render_reconciliation(reconciliation)
    out += _render_history(history, older)
    if (warehouse_dir / DATA_DOCS_INDEX).is_file():
        docs = _e(DATA_DOCS_INDEX.as_posix())
        out.append(f'<p class="note">Great Expectations\' own Data Docs: <a href="../{docs}">'
                   f"{docs}</a> (they load their scripts from the internet, and call a suite"
                   " \"Failed\" when a warn rule fails).</p>")
    out.append("</body></html>\n")
    return "\n".join(out)


def _render_overview(suites: list[SuiteStatus]) -> list[str]:
    out = ['<h2 id="suites">Validation: newest run of each suite</h2>']
    if not suites:
        return out + ['<p class="note">No validation has run yet.</p>']
    counts = {s: sum(x.status == s for x in suites) for s in (PASSED, WARNING, FAILED)}
    out.append(f"<p>{len(suites)} suites: {counts[PASSED]} passed, {counts[WARNING]} with"
               f" warnings, {counts[FAILED]} failed.</p>")
    rows = [[f'<a href="#suite-{_e(s.dataset)}">{_e(s.suite)}</a>', _badge(s.status),
             _n(s.element_count), _n(s.count(PASSED)), _n(s.count(WARNING)),
             _n(s.count(FAILED)), _e(_when(s.validated_at)), f"<code>{_e(s.run_id)}</code>"]
            for s in suites]
    out.append(_table(["suite", "status", "rows checked", "rules passed", "warnings",
                       "failed", "validated at", "run"], rows, numeric={2, 3, 4, 5}))
    return out


def _render_suite(suite: SuiteStatus) -> list[str]:
    """The suite's rules, each followed by a full-width row listing the rows it flagged."""
    head = ["rule", "status", "severity", "action", "rows", "share", "why"]
    body = []
    for r in suite.rules:
        percent = "" if r.unexpected_percent is None else f"{r.unexpected_percent:.2f} %"
        why = _e(r.why) + (f"<br><b>not evaluated:</b> {_e(r.exception_message)}"
                           if r.exception_message else "")
        body.append(f"<tr><td><code>{_e(r.rule)}</code></td><td>{_badge(r.status)}</td>"
                    f"<td>{_e(r.severity)}</td><td>{_e(r.action or 'none')}</td>"
                    f'<td class="n">{_n(r.unexpected_count)}</td><td class="n">{percent}</td>'
                    f"<td>{why}</td></tr>")
        keys = _render_keys(suite, r)
        if keys:
            body.append(f'<tr class="keys"><td colspan="{len(head)}">{keys}</td></tr>')
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)
    return [f'<h3 id="suite-{_e(suite.dataset)}">{_e(suite.suite)} {_badge(suite.status)}</h3>',
            f'<p class="note">{_n(suite.element_count)} rows checked'
            + (f" ({_n(suite.validated_rows)} new or changed, evaluated by Great Expectations;"
               f" the others as judged before)"
               if suite.validated_rows is not None
               and suite.validated_rows != suite.element_count else "")
            + f", validated {_e(_when(suite.validated_at))} in run <code>{_e(suite.run_id)}</code>;"
            f" rules passed {suite.count(PASSED)}, warnings {suite.count(WARNING)},"
            f" failed {suite.count(FAILED)}.</p>",
            f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(body)}</tbody></table>"]


def _render_keys(suite: SuiteStatus, r: RuleStatus) -> str:
    if r.success or r.exception_message:
        return ""
    if not r.action:
        return '<span class="muted">no row action: counted, rows not listed</span>'
    if not r.flagged:
        return ""
    items = "".join(f"<li><code>{_e(key)}</code> <span class=\"muted\">{_e(source_file)}"
                    f":{_e(line)}</span></li>" for key, source_file, line in r.flagged)
    more = r.flagged_total - len(r.flagged)
    rest = (f'<p class="muted">and {more:,} more (meta.dq_row_flags, run_id'
            f" {_e(suite.run_id)}, rule {_e(r.rule)})</p>" if more > 0 else "")
    opened = " open" if r.flagged_total <= OPEN_KEYS else ""
    return (f"<details{opened}><summary>{r.flagged_total:,} flagged ({_e(r.action)})</summary>"
            f'<ul class="keys">{items}</ul>{rest}</details>')


def _render_quarantine(quarantine: list[tuple]) -> list[str]:
    out = ['<h2 id="quarantine">Quarantined at parsing</h2>',
           '<p class="note">Rows that did not parse stay out of the warehouse tables and are'
           " kept, with their line and reason, in <code>meta.quarantine</code>.</p>"]
    if not quarantine:
        return out + ["<p>None.</p>"]
    total = sum(q[3] for q in quarantine)
    rows = [[_e(source), _e(entity), f"<code>{_e(reason)}</code>", _n(n), _n(files)]
            for source, entity, reason, n, files in quarantine]
    return out + [f"<p>{total:,} rows.</p>",
                  _table(["source", "entity", "reason", "rows", "files"], rows, numeric={3, 4})]


def _render_reconciliation(reconciliation: dict | None) -> list[str]:
    out = ['<h2 id="sales">Sales reconciliation</h2>']
    if reconciliation is None:
        return out + ['<p class="note">The marts are not built yet.</p>']
    out.append('<p class="note">As the marts were last built (<code>'
               f"{RECONCILIATION}</code>): delivered = published + superseded + quarantined"
               " + unexplained; rows rejected at parsing have no known amount.</p>")
    rows = [[_e(channel), _n(delivered_rows), _n(delivered), _n(published), _n(superseded),
             _n(quarantined), _n(unexplained), _n(review), _n(unreconciled)]
            for (channel, delivered_rows, delivered, published, superseded, quarantined,
                 unexplained, review, unreconciled) in reconciliation["channels"]]
    out.append(_table(["channel", "rows delivered", "delivered", "published", "superseded",
                       "quarantined", "unexplained", "kept for review", "store-days not"
                       " reconciled"], rows, numeric=set(range(1, 9))))
    if reconciliation["reasons"]:
        rows = [[_e(channel), _e(outcome), f"<code>{_e(reason)}</code>", _n(n), _n(amount)]
                for channel, outcome, reason, n, amount in reconciliation["reasons"]]
        out.append(_table(["channel", "outcome", "reason", "rows", "amount"], rows,
                          numeric={3, 4}))
    return out


def _render_history(history: list[tuple], older: int) -> list[str]:
    out = ['<h2 id="runs">Run history</h2>']
    if not history:
        return out + ["<p>No runs yet.</p>"]
    rows = []
    for (at, run_id, kind, what, loaded, duplicate, rejected, rows_in, rows_loaded,
         quarantined, failed, warnings) in history:
        if kind == "load":
            files = ", ".join(f"{n:,} {status}" for n, status in (
                (loaded, "loaded"), (duplicate, "duplicate"), (rejected, "rejected"))
                if n or status == "loaded")
            counts = f"{rows_in:,} read = {rows_loaded:,} loaded + {quarantined:,} quarantined"
            result = ""
        else:
            files, counts = "", f"{rows_in or 0:,} rows checked"
            result = f"rules failed {failed:,}, warnings {warnings:,}"
        rows.append([_e(_when(at)), f"<code>{_e(run_id)}</code>", _e(f"{kind} {what}"),
                     _e(files), _e(counts), _e(result)])
    out.append(_table(["when", "run", "step", "files", "rows", "result"], rows))
    if older:
        out.append(f'<p class="muted">and {older:,} older runs (meta.load_ledger,'
                   " meta.dq_results).</p>")
    return out
