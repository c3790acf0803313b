"""``memberdw report``: one self-contained HTML page per campaign, rendered in real headless
Chromium. Chromium must be installed (.ci/run installs it): without it this test fails."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import duckdb
import pytest

from memberdw import cli, report

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# The README's screenshot: MEMBERDW_REPORT_SCREENSHOT=docs/img/campaign_report.png copies this
# test's screenshot there (left alone otherwise, so a run does not overwrite one from real data).
SCREENSHOT_COPY = os.environ.get("MEMBERDW_REPORT_SCREENSHOT")

RETRO_COLUMNS = """
    campaign_id VARCHAR, campaign_name VARCHAR, scenario VARCHAR, region VARCHAR,
    channel VARCHAR, start_date DATE, end_date DATE, window_days INTEGER,
    targeted_count BIGINT, control_count BIGINT, reached_count BIGINT, opened_count BIGINT,
    clicked_count BIGINT, reach_rate DOUBLE, open_rate DOUBLE, click_rate DOUBLE,
    converted_count BIGINT, conversion_rate DOUBLE, treatment_conversion_rate DOUBLE,
    natural_conversion_rate DOUBLE, natural_rate_source VARCHAR, conversion_lift DOUBLE,
    conversion_lift_ci_low DOUBLE, conversion_lift_ci_high DOUBLE,
    conversion_lift_p_value DOUBLE, relative_lift DOUBLE, second_purchase_rate DOUBLE,
    dormant_reactivation_rate DOUBLE, churn_recall_rate DOUBLE,
    campaign_gmv_amount DECIMAL(18,2), incremental_gmv_amount DECIMAL(18,2),
    incremental_gmv_ci_low DECIMAL(18,2), incremental_gmv_ci_high DECIMAL(18,2),
    incremental_gmv_cuped_amount DECIMAL(18,2), incremental_gmv_cuped_ci_low DECIMAL(18,2),
    incremental_gmv_cuped_ci_high DECIMAL(18,2), cost_amount DECIMAL(18,2), roi DOUBLE,
    sales_share DOUBLE, pre_conversion_rate DOUBLE, pre_gmv_amount DECIMAL(18,2),
    treatment_pre_gmv_per_member DECIMAL(18,2), control_pre_gmv_per_member DECIMAL(18,2),
    pre_gmv_std_diff DOUBLE, is_balanced BOOLEAN
"""
CUTS_COLUMNS = """
    campaign_id VARCHAR, cut VARCHAR, cut_value VARCHAR, targeted_count BIGINT,
    reached_count BIGINT, opened_count BIGINT, clicked_count BIGINT, converted_count BIGINT,
    reach_rate DOUBLE, conversion_rate DOUBLE, gmv_amount DECIMAL(18,2)
"""

GOOD = {  # a controlled campaign with a clear lift
    "campaign_id": "C001", "campaign_name": "双十一老客唤醒 <Double 11>", "scenario": "dormant",
    "region": "华东", "channel": "wecom", "start_date": "2026-11-01", "end_date": "2026-11-11",
    "window_days": 14, "targeted_count": 2000, "control_count": 500, "reached_count": 1800,
    "opened_count": 900, "clicked_count": 300, "reach_rate": 0.9, "open_rate": 0.5,
    "click_rate": 0.3333, "converted_count": 180, "conversion_rate": 0.09,
    "treatment_conversion_rate": 0.09, "natural_conversion_rate": 0.059,
    "natural_rate_source": "control_group", "conversion_lift": 0.031,
    "conversion_lift_ci_low": 0.012, "conversion_lift_ci_high": 0.050,
    "conversion_lift_p_value": 0.002, "relative_lift": 0.525, "second_purchase_rate": 0.21,
    "dormant_reactivation_rate": 0.12, "churn_recall_rate": 0.08,
    "campaign_gmv_amount": "58000.00", "incremental_gmv_amount": "12000.00",
    "incremental_gmv_ci_low": "4000.00", "incremental_gmv_ci_high": "20000.00",
    "incremental_gmv_cuped_amount": "11500.00", "incremental_gmv_cuped_ci_low": "6000.00",
    "incremental_gmv_cuped_ci_high": "17000.00", "cost_amount": "5000.00", "roi": 2.4,
    "sales_share": 0.07, "pre_conversion_rate": 0.05, "pre_gmv_amount": "41000.00",
    "treatment_pre_gmv_per_member": "20.10", "control_pre_gmv_per_member": "19.80",
    "pre_gmv_std_diff": 0.02, "is_balanced": True,
}
SMALL = GOOD | {  # the control group was under min_group_size: every lift figure is NULL
    "campaign_id": "C002", "campaign_name": "门店新品试点 Store pilot", "targeted_count": 40,
    "control_count": 3, "reached_count": 30, "opened_count": 12, "clicked_count": 5,
    "converted_count": 2, "conversion_rate": 0.05, "treatment_conversion_rate": 0.05,
    "natural_conversion_rate": None, "natural_rate_source": "lookalike",
    **{k: None for k in ("conversion_lift", "conversion_lift_ci_low", "conversion_lift_ci_high",
                         "conversion_lift_p_value", "relative_lift", "incremental_gmv_amount",
                         "incremental_gmv_ci_low", "incremental_gmv_ci_high",
                         "incremental_gmv_cuped_amount", "incremental_gmv_cuped_ci_low",
                         "incremental_gmv_cuped_ci_high", "cost_amount", "roi",
                         "pre_gmv_std_diff", "is_balanced")},
}
GOOD_CUTS = {"region": ["华东", "华南", "华北"], "store": ["S01 <旗舰店>", "S02", "S03", "S04"],
             "channel": ["wecom", "sms"], "value_group": ["high", "mid", "low"],
             "group": ["treatment", "control"]}
SMALL_CUTS = {"region": ["华东"], "group": ["treatment", "control"]}


def _build_warehouse(root: Path, schema: str = "marts") -> Path:
    """A serving file ``root/marts.duckdb`` with the two campaign marts in ``schema``. Its
    catalog is ``marts`` (the file's name), so the tables are named in full: marts.<schema>.
    ``pipeline.publish`` writes its tables to ``main``; the brief names schema ``marts``."""
    root.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(root / "marts.duckdb")) as con:
        if schema != "main":
            con.execute(f"CREATE SCHEMA marts.{schema}")
        con.execute(f"USE marts.{schema}")
        con.execute(f"CREATE TABLE mart_campaign_retrospective ({RETRO_COLUMNS})")
        con.execute(f"CREATE TABLE mart_campaign_cuts ({CUTS_COLUMNS})")
        for row in (GOOD, SMALL):
            con.execute(f"INSERT INTO mart_campaign_retrospective ({', '.join(row)}) "
                        f"VALUES ({', '.join('?' * len(row))})", list(row.values()))
        for campaign, cuts in (("C001", GOOD_CUTS), ("C002", SMALL_CUTS)):
            for cut, values in cuts.items():
                for i, value in enumerate(values):
                    n = 400 + 100 * i
                    con.execute("INSERT INTO mart_campaign_cuts VALUES "
                                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                [campaign, cut, value, n, n - 40, n // 2, n // 5, 20 + 7 * i,
                                 (n - 40) / n, (20 + 7 * i) / n, f"{1000 + 250 * i}.50"])
    return root


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    warehouse = _build_warehouse(tmp_path_factory.mktemp("report") / "wh")
    assert cli.main(["report", "--warehouse", str(warehouse)]) == 0
    return warehouse / "reports"


def test_one_self_contained_page_per_campaign(reports):
    pages = sorted(p.name for p in reports.iterdir())
    assert pages == ["report_C001.html", "report_C002.html"]
    for name in pages:
        page = (reports / name).read_text(encoding="utf-8")
        # nothing is fetched: no remote script/src/link/href/url() (SVG's xmlns is a name)
        assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I), name
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", page, re.I), name
        assert "<script" not in page and "<link" not in page, name
        for label in ("触达 Reached", "转化率 Conversion rate", "自然转化率 Natural conversion",
                      "漏斗 Funnel", "关键指标 Key figures"):
            assert label in page, (name, label)
        assert "<Double 11>" not in page and "<旗舰店>" not in page  # text is escaped


def test_verdicts(reports):
    good = (reports / "report_C001.html").read_text(encoding="utf-8")
    assert "+3.1 pp conversion, 95% CI 1.2–5.0, p = 0.002; ROI 2.4" in good
    assert "&lt;Double 11&gt;" in good
    small = (reports / "report_C002.html").read_text(encoding="utf-8")
    assert "no lift: group too small" in small
    assert "no ROI: no cost recorded" in small
    assert "lookalike" in small


def test_verdict_reads_honestly_when_lift_is_not_significant():
    flat, tone = report.verdict(GOOD | {"conversion_lift": 0.004, "conversion_lift_ci_low": -0.01,
                                        "conversion_lift_ci_high": 0.018,
                                        "conversion_lift_p_value": 0.41})
    assert flat.startswith("no significant lift: +0.4 pp conversion, 95% CI −1.0 to 1.8, "
                           "p = 0.410") and tone == "flat"
    down, _ = report.verdict(GOOD | {"conversion_lift": -0.02, "conversion_lift_ci_low": -0.031,
                                     "conversion_lift_ci_high": -0.009,
                                     "conversion_lift_p_value": 0.001, "roi": None})
    assert down.startswith("no significant lift: conversion fell, −2.0 pp")
    assert down.endswith("no ROI: no incremental GMV estimate")


def test_campaign_option_and_missing_campaign(tmp_path, capsys):
    # laid out as pipeline.publish lays the serving file out: tables in `main`
    warehouse = _build_warehouse(tmp_path / "wh", schema="main")
    out = tmp_path / "out"
    assert cli.main(["report", "--warehouse", str(warehouse), "--campaign", "C002",
                     "--out", str(out)]) == 0
    assert [p.name for p in out.iterdir()] == ["report_C002.html"]
    assert cli.main(["report", "--warehouse", str(warehouse), "--campaign", "NOPE"]) == 2
    assert "no campaign 'NOPE'" in capsys.readouterr().err
    assert cli.main(["report", "--warehouse", str(tmp_path / "empty")]) == 2


def _chromium(*args: str) -> subprocess.CompletedProcess:
    assert shutil.which(CHROMIUM) or os.path.exists(CHROMIUM), \
        f"{CHROMIUM} is missing: install it (apt-get install -y chromium; .ci/run does)"
    return subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox",
                           "--hide-scrollbars", "--window-size=1200,2400", *args],
                          capture_output=True, text=True, timeout=120)


def _png_pixels(path: Path) -> tuple[int, int, bytes]:
    """(width, height, RGBA/RGB bytes) of an 8-bit non-interlaced PNG: PIL if installed,
    else a minimal decoder (zlib + the five scanline filters)."""
    try:
        from PIL import Image
    except ImportError:
        pass
    else:
        with Image.open(path) as im:
            return im.width, im.height, im.convert("RGB").tobytes()
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * bpp
    out, prev = bytearray(), bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    return width, height, bytes(out)


def test_page_renders_in_headless_chromium(reports, tmp_path):
    page = reports / "report_C001.html"
    dom = _chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    figures = re.findall(r'<figure class="chart" data-chart="([^"]+)">(.*?)</figure>',
                         dom.stdout, re.S)
    expected = ["funnel", "conversion", "gmv", *(f"cut-{cut}" for cut in GOOD_CUTS)]
    assert [name for name, _ in figures] == expected
    for name, body in figures:
        assert body.count("<svg") == 1, name
        marks = body.count("<path") + body.count("<rect") + body.count("<line")
        assert marks > 2, (name, marks)
        assert "<text" in body, name
    # the conversion chart draws the lift's CI: a rule plus two ticks in the CI colour
    conversion = dict(figures)["conversion"]
    assert conversion.count(f'stroke="{report.CI_COLOUR}"') >= 1

    screenshot = tmp_path / "campaign_report.png"
    shot = _chromium(f"--screenshot={screenshot}", page.as_uri())
    assert shot.returncode == 0 and screenshot.is_file(), shot.stderr
    width, height, pixels = _png_pixels(screenshot)
    assert (width, height) == (1200, 2400)
    channels = len(pixels) // (width * height)
    colours = {pixels[i:i + 3] for i in range(0, len(pixels), channels * 97)}
    assert len(colours) > 20, f"screenshot looks blank: {len(colours)} colours sampled"
    if SCREENSHOT_COPY:
        target = Path(SCREENSHOT_COPY)
        target = target if target.is_absolute() else REPO / target
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, target)
