"""The audit page (memberdw.audit_page) on a warehouse built by `memberdw run`, run twice on
the same landing root.

The page must say what an auditor needs without a network: a warn rule that found rows is
a warning, not a failure; the flagged rows' keys are listed; it holds no external URL and
renders in headless Chromium with every network fetch failing. A second run that landed
nothing new adds no file under `gx/` or `audit/` and publishes the same marts; no file name
there holds a character Windows refuses; no personal data reaches the page.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from memberdw import audit_page
from memberdw.generate import generate
from test_end_to_end import memberdw_run, query

MEMBERS, DAYS, SEED = 400, 10, 11
UNPORTABLE = set('<>:"|?*')


def audit_files(warehouse: Path) -> list[str]:
    return sorted(p.relative_to(warehouse).as_posix()
                  for folder in ("gx", "audit") for p in (warehouse / folder).rglob("*"))


def marts(warehouse: Path) -> dict:
    con = duckdb.connect(str(warehouse / "marts.duckdb"), read_only=True)
    try:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'"
            " and table_name <> 'publication' order by 1").fetchall()]
        return {t: con.execute(f"select * from {t} order by all").fetchall() for t in tables}
    finally:
        con.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs on the same landing root: the state after each. The second is asked to
    rebuild (a run with nothing new skips the transform), so it validates again and must
    find nothing new."""
    base = tmp_path_factory.mktemp("audit_page")
    truth = generate(base / "landing", members=MEMBERS, days=DAYS, seed=SEED)
    wh = base / "wh"
    states = []
    for extra in ((), ("--rebuild",)):
        run = memberdw_run(base / "landing", wh, *extra)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
        states.append({"files": audit_files(wh), "marts": marts(wh),
                       "page": (wh / audit_page.PAGE).read_text(encoding="utf-8")})
    return wh, truth, states


def rule_status(page: str, rule: str, suite: str) -> str:
    """The status badge of `rule` in the table of `suite`."""
    section = page.split(f'<h3 id="suite-{suite}">', 1)[1].split("<h3 ", 1)[0]
    found = re.search(rf"<code>{re.escape(html.escape(rule))}</code></td><td>"
                      r'<span class="status (\w+)">', section)
    assert found, (suite, rule)
    return found.group(1)


def test_a_warn_rule_that_found_rows_is_a_warning_not_a_failure(runs):
    wh, _, states = runs
    page = states[-1]["page"]
    failed_warn = query(wh, """
        select dataset, rule from meta.dq_results
        where not success and severity = 'warn' and exception_message is null
          and run_id = (select arg_max(run_id, validated_at) from meta.dq_results)""")
    assert ("members", "incomplete_profile") in failed_warn
    for dataset, rule in failed_warn:
        assert rule_status(page, rule, dataset) == "warning", (dataset, rule)
    assert rule_status(page, "duplicate_key", "stores") == "passed"
    # a healthy run: no suite, no rule failed; the members suite is one with warnings
    assert 'class="status failed"' not in page
    assert re.search(r'<h3 id="suite-members">members <span class="status warning">', page)


def test_the_flagged_rows_keys_are_listed_with_file_and_line(runs):
    wh, truth, states = runs
    page = states[-1]["page"]
    flags = query(wh, """
        select rule, record_key, source_file, source_line from meta.dq_row_flags
        where run_id = (select arg_max(run_id, validated_at) from meta.dq_results)""")
    assert {k for r, k, *_ in flags if r == "incomplete_profile"} == set(
        truth["incomplete_profiles"])
    per_rule = {}
    for rule, *_ in flags:
        per_rule[rule] = per_rule.get(rule, 0) + 1
    for rule, key, source_file, line in flags:
        if per_rule[rule] <= audit_page.MAX_KEYS:
            item = (f"<li><code>{html.escape(key)}</code> <span class=\"muted\">"
                    f"{html.escape(source_file)}:{line}</span></li>")
            assert item in page, (rule, key)


def test_a_long_list_of_keys_is_cut_and_counted(runs, tmp_path, monkeypatch):
    wh, truth, _ = runs
    copy = tmp_path / "wh"
    copy.mkdir()
    shutil.copy(wh / "warehouse.duckdb", copy / "warehouse.duckdb")
    monkeypatch.setattr(audit_page, "MAX_KEYS", 1)
    page = audit_page.build(copy).read_text(encoding="utf-8")
    more = len(truth["incomplete_profiles"]) - 1
    assert more > 0 and f"and {more:,} more (meta.dq_row_flags" in page


def test_the_page_holds_no_external_url_and_no_script(runs):
    _, _, states = runs
    page = states[-1]["page"]
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?//""", page)
    assert "<script" not in page and "url(" not in page and "@import" not in page


def test_the_page_renders_offline_in_headless_chromium(runs, tmp_path):
    wh, _, _ = runs
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("no chromium (apt-get install -y chromium)")
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         (wh / audit_page.PAGE).resolve().as_uri()],
        capture_output=True, text=True, timeout=120).stdout
    body = re.sub(r"<style>.*?</style>", " ", dom, flags=re.S)
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))
    suites = query(wh, "select dataset, max(element_count) from meta.dq_results group by all")
    assert f"{len(suites)} suites:" in text
    for dataset, rows in suites:
        assert dataset in text and f"{rows:,} rows checked" in text, dataset
    (quarantined,) = query(wh, "select count(*) from meta.quarantine")[0]
    assert quarantined > 0 and f"{quarantined:,} rows." in text


def test_a_second_run_with_nothing_new_adds_no_file_and_publishes_the_same_marts(runs):
    wh, _, (first, second) = runs
    assert second["files"] == first["files"]
    assert [p for p in second["files"] if p.startswith("audit/")] == ["audit/index.html"]
    assert query(wh, "select count(distinct run_id) from meta.dq_results") == [(1,)]
    tables = set(first["marts"]) | set(second["marts"])
    assert first["marts"] and not [t for t in sorted(tables)
                                   if first["marts"].get(t) != second["marts"].get(t)]


def test_no_file_name_holds_a_character_windows_refuses(runs):
    wh, _, (first, _) = runs
    assert any("/validations/" in p for p in first["files"])  # GE's store is there
    assert not [p for p in first["files"] if UNPORTABLE & set(p)]


def test_the_page_shows_quarantine_counts_and_no_personal_data(runs):
    wh, _, states = runs
    page = states[-1]["page"]
    for source, entity, reason, n in query(
            wh, "select source, entity, reason, count(*) from meta.quarantine group by all"):
        assert (f"<td>{source}</td><td>{entity}</td><td><code>{reason}</code></td>"
                f'<td class="n">{n:,}</td>') in page
    records = [r for (r,) in query(wh, "select raw_record from meta.quarantine")]
    personal = set()
    for record in records:
        try:
            values = json.loads(record)
        except (TypeError, ValueError):
            continue
        personal |= {str(values[k]) for k in ("name", "mobile", "openid", "unionid")
                     if values.get(k) and len(str(values[k])) >= 2}
    assert personal, "the quarantine should hold a CRM row with personal data"
    assert not [p for p in personal if p in page]
    for record in records:
        assert record is None or record not in page
