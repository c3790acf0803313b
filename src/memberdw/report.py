"""Campaign retrospective report: one self-contained HTML page per campaign.

``memberdw report --warehouse DIR`` reads the published serving file ``DIR/marts.duckdb``
(read-only, schema ``marts``: ``mart_campaign_retrospective`` and ``mart_campaign_cuts``) and
writes ``report_<campaign_id>.html`` for the ops team: a verdict line, the key figures, and
charts (funnel, treatment vs natural conversion with the lift's CI, GMV before vs during, and
conversion rate by each cut).

How the charts are embedded: each chart is built with altair and rendered *here*, at report
time, to static SVG by vl-convert (``vl_convert.vegalite_to_svg``); the SVG is written inline
into the page. We chose that over ``altair.Chart.save(inline=True)``, which inlines ~1 MB of
Vega JavaScript per page and draws the charts in the reader's browser, because a page of
plain SVG needs no JavaScript at all: it opens offline, in a mail client or a locked-down
browser, prints well, and is a fraction of the size. The cost (no hover tooltips) is small
for a report whose figures are all written on the bars and in the table.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import altair as alt
import duckdb
import pandas as pd
import vl_convert

SERVING_FILE = "marts.duckdb"
VEGALITE_VERSION = "6.4"  # altair 6.3's schema (v6.4.x), one vl-convert bundles
SIGNIFICANCE = 0.05

FONT = "Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif"
TREATMENT_COLOUR, NATURAL_COLOUR, CI_COLOUR = "#2f6db5", "#9aa5b1", "#c0392b"

# The cuts in display order, with their labels (Chinese beside English).
CUTS = {
    "region": "区域 Region",
    "store": "门店 Store",
    "channel": "渠道 Channel",
    "value_group": "价值分层 Value group",
    "group": "分组 Group",
}


class ReportError(Exception):
    """The serving file or the asked-for campaign is missing."""


@dataclass
class Campaign:
    row: dict                                   # one row of mart_campaign_retrospective
    cuts: dict[str, list[dict]] = field(default_factory=dict)  # cut -> rows, in CUTS order

    @property
    def id(self) -> str:
        return str(self.row["campaign_id"])


# --------------------------------------------------------------------------- data

def load(warehouse: Path, campaign_id: str | None = None) -> list[Campaign]:
    """The campaigns (all, or the one asked for) from ``warehouse/marts.duckdb``."""
    path = Path(warehouse) / SERVING_FILE
    if not path.is_file():
        raise ReportError(f"no serving file {path} (run `memberdw run` first)")
    with duckdb.connect(str(path), read_only=True) as con:
        where, params = ("WHERE CAST(campaign_id AS VARCHAR) = ?", [campaign_id]) \
            if campaign_id is not None else ("", [])
        retro = _rows(con, f"SELECT * FROM {_table(con, 'mart_campaign_retrospective')} "
                           f"{where} ORDER BY start_date, campaign_id", params)
        cuts = _rows(con, f"SELECT * FROM {_table(con, 'mart_campaign_cuts')} {where} "
                          "ORDER BY campaign_id, cut, cut_value", params)
    if campaign_id is not None and not retro:
        raise ReportError(f"no campaign {campaign_id!r} in {path}")
    campaigns = {str(r["campaign_id"]): Campaign(r) for r in retro}
    for r in cuts:
        c = campaigns.get(str(r["campaign_id"]))
        if c is not None:
            c.cuts.setdefault(r["cut"], []).append(r)
    order = list(CUTS) + sorted({k for c in campaigns.values() for k in c.cuts} - set(CUTS))
    for c in campaigns.values():
        c.cuts = {k: c.cuts[k] for k in order if k in c.cuts}
    return list(campaigns.values())


def _table(con, name: str) -> str:
    """The mart's qualified name. `pipeline.publish` writes the serving file's tables to its
    `main` schema, and the file's own name makes its catalog `marts`, so `marts.<name>`
    already works there; a file with an explicit schema `marts` (catalog `marts` too) makes
    that name ambiguous, so ask the catalog which schema holds it, `marts` first."""
    found = con.execute(
        "SELECT table_catalog, table_schema FROM information_schema.tables"
        " WHERE table_name = ? AND table_catalog = current_database()"
        " ORDER BY table_schema <> 'marts', table_schema", [name]).fetchone()
    if found is None:
        raise ReportError(f"the serving file has no table {name} (is it an older publication?)")
    return ".".join(f'"{part}"' for part in (*found, name))


def _rows(con, sql: str, params: list) -> list[dict]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, values)) for values in cur.fetchall()]


def _num(value) -> float | None:
    """A figure as float; None for NULL (and NaN)."""
    if value is None:
        return None
    value = float(value)  # DECIMAL(18,2) arrives as Decimal
    return None if math.isnan(value) else value


# --------------------------------------------------------------------------- formatting

def pct(v) -> str:
    v = _num(v)
    return "–" if v is None else f"{v * 100:.1f}%"


def pp(v, sign: bool = True) -> str:
    v = _num(v)
    if v is None:
        return "–"
    return f"{v * 100:+.1f} pp".replace("-", "−") if sign else f"{v * 100:.1f}"


def money(v) -> str:
    v = _num(v)
    return "–" if v is None else f"{v:,.2f}".replace("-", "−")


def count(v) -> str:
    v = _num(v)
    return "–" if v is None else f"{v:,.0f}"


def p_value(v) -> str:
    v = _num(v)
    if v is None:
        return "p –"
    return "p < 0.001" if v < 0.001 else f"p = {v:.3f}"


def ci(low, high, scale: float = 100.0, digits: int = 1) -> str:
    """A CI's bounds, in pp by default ("1.2–5.0"; "−1.0 to 1.8" when a bound is negative)."""
    low, high = _num(low), _num(high)
    if low is None or high is None:
        return "–"
    a, b = (f"{x * scale:,.{digits}f}".replace("-", "−") for x in (low, high))
    return f"{a} to {b}" if low < 0 or high < 0 else f"{a}–{b}"


def verdict(row: dict) -> tuple[str, str]:
    """The verdict line and its tone ('good', 'flat', 'none'), e.g.
    "+3.1 pp conversion, 95% CI 1.2–5.0, p = 0.002; ROI 2.4"."""
    lift, low, high = (_num(row.get(k)) for k in
                       ("conversion_lift", "conversion_lift_ci_low", "conversion_lift_ci_high"))
    p = _num(row.get("conversion_lift_p_value"))
    if lift is None:
        text, tone = "no lift: group too small (对照组/相似人群不足 comparison group under " \
                     "the minimum size)", "none"
    else:
        figures = f"{pp(lift)} conversion"
        if low is not None and high is not None:
            figures += f", 95% CI {ci(low, high)}"
        if p is not None:
            figures += f", {p_value(p)}"
        if low is not None and high is not None:
            significant = low > 0 or high < 0
        else:
            significant = p is not None and p < SIGNIFICANCE
        if significant and lift > 0:
            text, tone = figures, "good"
        elif significant:
            text, tone = f"no significant lift: conversion fell, {figures}", "flat"
        elif low is None and p is None:
            text, tone = f"{figures} (significance not computed)", "flat"
        else:
            text, tone = f"no significant lift: {figures}", "flat"
    return f"{text}; {roi_text(row)}", tone


def roi_text(row: dict) -> str:
    roi = _num(row.get("roi"))
    if roi is not None:
        return f"ROI {roi:.1f}"
    cost = _num(row.get("cost_amount"))
    if cost is None or cost == 0:
        return "no ROI: no cost recorded"
    return "no ROI: no incremental GMV estimate"


def notes(row: dict) -> list[str]:
    """Caveats the reader should see beside the verdict."""
    out = []
    if row.get("natural_rate_source") == "lookalike":
        out.append("自然转化率来自相似人群 Natural conversion is estimated from a lookalike group "
                   "(no holdout control), so the lift is less certain than a controlled test.")
    if row.get("is_balanced") is False:
        out.append(f"组间不平衡 Treatment and control differed before the campaign "
                   f"(pre-GMV std. diff {_num(row.get('pre_gmv_std_diff')) or 0:.2f}); "
                   "read the lift with care.")
    return out


# --------------------------------------------------------------------------- charts

def _base(data: list[dict]) -> alt.Chart:
    return alt.Chart(pd.DataFrame(data))


def _configure(chart, title, width: int = 460):
    return (chart.properties(title=title, width=width)
            .configure(font=FONT, background="white")
            .configure_title(anchor="start", fontSize=14)
            .configure_view(stroke=None))


def funnel_chart(row: dict):
    """targeted → reached → opened → clicked → converted, with each step's share."""
    stages = [("targeted_count", "目标 Targeted"), ("reached_count", "触达 Reached"),
              ("opened_count", "打开 Opened"), ("clicked_count", "点击 Clicked"),
              ("converted_count", "转化 Converted")]
    top = _num(row.get("targeted_count")) or 0
    data = []
    for col, label in stages:
        n = _num(row.get(col)) or 0
        data.append({"stage": label, "n": n,
                     "label": f"{count(n)} ({pct(n / top) if top else '–'})"})
    order = [label for _, label in stages]
    base = _base(data).encode(y=alt.Y("stage:N", sort=order, title=None))
    bars = base.mark_bar(color=TREATMENT_COLOUR).encode(x=alt.X("n:Q", title="人数 Members"))
    text = base.mark_text(align="left", dx=4).encode(x="n:Q", text="label:N")
    return _configure((bars + text).properties(height=180),
                      "漏斗 Funnel (占目标人数 share of targeted)")


def conversion_chart(row: dict):
    """Treatment vs natural conversion as bars; the lift's 95% CI drawn as a rule on the
    treatment bar (natural rate + CI low .. natural rate + CI high)."""
    treat = _num(row.get("treatment_conversion_rate"))
    natural = _num(row.get("natural_conversion_rate"))
    source = _source(row)
    bars = [{"group": "活动组 Treatment", "rate": treat, "colour": TREATMENT_COLOUR},
            {"group": "自然转化率 Natural", "rate": natural, "colour": NATURAL_COLOUR}]
    bars = [b | {"label": pct(b["rate"])} for b in bars if b["rate"] is not None]
    order = ["活动组 Treatment", "自然转化率 Natural"]
    y = alt.Y("rate:Q", title="转化率 Conversion rate", axis=alt.Axis(format=".1%"))
    base = _base(bars or [{"group": order[0], "rate": 0.0, "colour": "white", "label": ""}])
    layers = [
        base.mark_bar(size=60).encode(x=alt.X("group:N", sort=order, title=None,
                                              axis=alt.Axis(labelAngle=0)), y=y,
                                      color=alt.Color("colour:N", scale=None)),
        # the rate is written at the bar's foot, clear of the CI rule near its top
        base.mark_text(dy=-10, color="white", fontWeight="bold").encode(
            x=alt.X("group:N", sort=order), y=alt.YDatum(0), text="label:N"),
    ]
    low, high = _num(row.get("conversion_lift_ci_low")), _num(row.get("conversion_lift_ci_high"))
    if natural is not None and low is not None and high is not None:
        rule = _base([{"group": order[0], "low": natural + low, "high": natural + high}])
        layers += [
            rule.mark_rule(color=CI_COLOUR, strokeWidth=2).encode(
                x=alt.X("group:N", sort=order), y="low:Q", y2="high:Q"),
            rule.mark_tick(color=CI_COLOUR, thickness=2, size=24).encode(
                x=alt.X("group:N", sort=order), y="low:Q"),
            rule.mark_tick(color=CI_COLOUR, thickness=2, size=24).encode(
                x=alt.X("group:N", sort=order), y="high:Q"),
        ]
        subtitle = f"红线 red rule: 95% CI of the lift, {ci(low, high)} pp ({source})"
    else:
        subtitle = f"no lift: group too small, no CI ({source})" if source else \
            "no lift: group too small, no CI"
    title = alt.TitleParams("活动组 vs 自然转化率 Treatment vs natural conversion",
                            subtitle=subtitle)
    return _configure(alt.layer(*layers).properties(height=220), title, width=300)


def gmv_chart(row: dict):
    """GMV in the window before the campaign vs during it."""
    data = [{"period": "活动前 Before", "gmv": _num(row.get("pre_gmv_amount"))},
            {"period": "活动期 During", "gmv": _num(row.get("campaign_gmv_amount"))}]
    data = [d | {"label": money(d["gmv"])} for d in data if d["gmv"] is not None]
    order = ["活动前 Before", "活动期 During"]
    base = _base(data or [{"period": order[0], "gmv": 0.0, "label": ""}]).encode(
        x=alt.X("period:N", sort=order, title=None, axis=alt.Axis(labelAngle=0)))
    bars = base.mark_bar(size=60).encode(
        y=alt.Y("gmv:Q", title="GMV 成交额"),
        color=alt.Color("period:N", sort=order, legend=None,
                        scale=alt.Scale(domain=order, range=[NATURAL_COLOUR, TREATMENT_COLOUR])))
    text = base.mark_text(dy=-8).encode(y="gmv:Q", text="label:N")
    return _configure((bars + text).properties(height=220),
                      "成交额 GMV: 活动前 vs 活动期 before vs during", width=300)


def cut_chart(cut: str, rows: list[dict]):
    """Conversion rate by one cut's values (horizontal bars, n targeted written beside). The
    group cut compares treatment with control, who are never reached: it shows the
    intent-to-treat purchase rate (bought in the window / members) instead."""
    column, axis = (("purchase_rate", "购买率 Purchase rate (ITT)") if cut == "group"
                    else ("conversion_rate", "转化率 Conversion rate"))
    if cut == "group" and not any(column in r for r in rows):
        column, axis = "conversion_rate", "转化率 Conversion rate"
    data = [{"value": str(r["cut_value"]), "rate": _num(r.get(column)) or 0.0,
             "label": f"{pct(r.get(column))}  (n={count(r.get('targeted_count'))})"}
            for r in rows]
    base = _base(data).encode(y=alt.Y("value:N", sort=None, title=None))
    bars = base.mark_bar(color=TREATMENT_COLOUR).encode(
        x=alt.X("rate:Q", title=axis, axis=alt.Axis(format=".1%", tickCount=4)))
    text = base.mark_text(align="left", dx=4).encode(x="rate:Q", text="label:N")
    return _configure((bars + text).properties(height=max(60, 22 * len(data))),
                      f"{CUTS.get(cut, cut)} · {axis}", width=300)


def to_svg(chart) -> str:
    """The chart as static SVG markup (vl-convert escapes the text it writes)."""
    svg = vl_convert.vegalite_to_svg(chart.to_dict(), vl_version=VEGALITE_VERSION)
    return re.sub(r"^<\?xml[^>]*>\s*", "", svg)


# --------------------------------------------------------------------------- page

PAGE = Template("""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>
  body { font-family: $font; margin: 24px auto; max-width: 1080px; color: #1f2933; }
  h1 { font-size: 22px; margin-bottom: 4px; }
  .meta { color: #52606d; margin-top: 0; }
  .verdict { font-size: 20px; font-weight: 600; padding: 12px 16px; border-radius: 6px; }
  .verdict.good { background: #e3f4e8; border-left: 6px solid #2e8b57; }
  .verdict.flat { background: #fdf3e1; border-left: 6px solid #d68910; }
  .verdict.none { background: #eef0f3; border-left: 6px solid #7b8794; }
  .note { color: #7b4f00; margin: 4px 0; }
  .charts { display: flex; flex-wrap: wrap; gap: 16px; }
  figure.chart { margin: 0; }
  table.figures { border-collapse: collapse; margin: 12px 0; }
  table.figures th, table.figures td { padding: 4px 12px; border-bottom: 1px solid #e4e7eb;
    text-align: left; }
  table.figures td.v { text-align: right; font-variant-numeric: tabular-nums; }
  footer { color: #7b8794; font-size: 12px; margin-top: 24px; }
</style>
</head>
<body>
<h1>$title</h1>
<p class="meta">$meta</p>
<p class="verdict $tone" id="verdict">$verdict</p>
$notes
<h2>关键指标 Key figures</h2>
$table
<h2>图表 Charts</h2>
<div class="charts">
$main_charts
</div>
<h2>细分 Cuts · 转化率 Conversion rate</h2>
<div class="charts">
$cut_charts
</div>
<footer>$footer</footer>
</body>
</html>
""")


def _figure(name: str, svg: str) -> str:
    return f'<figure class="chart" data-chart="{html.escape(name)}">{svg}</figure>'


def figures_table(row: dict) -> str:
    """The key figures as an HTML table (every cell escaped)."""
    source = _source(row) or "–"
    lift_ci = ci(row.get("conversion_lift_ci_low"), row.get("conversion_lift_ci_high"))
    rel = _num(row.get("relative_lift"))
    items = [
        ("目标人数 Targeted", count(row.get("targeted_count"))),
        ("对照人数 Control", count(row.get("control_count"))),
        ("触达 Reached", f"{count(row.get('reached_count'))} ({pct(row.get('reach_rate'))})"),
        ("打开 Opened", f"{count(row.get('opened_count'))} ({pct(row.get('open_rate'))})"),
        ("点击 Clicked", f"{count(row.get('clicked_count'))} ({pct(row.get('click_rate'))})"),
        ("转化 Converted", f"{count(row.get('converted_count'))}"),
        ("转化率 Conversion rate", pct(row.get("conversion_rate"))),
        ("活动组转化率 Treatment conversion", pct(row.get("treatment_conversion_rate"))),
        ("自然转化率 Natural conversion", f"{pct(row.get('natural_conversion_rate'))} ({source})"),
        ("转化提升 Conversion lift",
         "no lift: group too small" if _num(row.get("conversion_lift")) is None else
         f"{pp(row.get('conversion_lift'))} (95% CI {lift_ci}, "
         f"{p_value(row.get('conversion_lift_p_value'))})"),
        ("相对提升 Relative lift", "–" if rel is None else f"{rel * 100:+.1f}%".replace("-", "−")),
        ("复购率 Second purchase rate", pct(row.get("second_purchase_rate"))),
        ("沉睡唤醒率 Dormant reactivation", pct(row.get("dormant_reactivation_rate"))),
        ("流失召回率 Churn recall", pct(row.get("churn_recall_rate"))),
        ("活动期成交额 Campaign GMV", money(row.get("campaign_gmv_amount"))),
        ("活动前成交额 Pre-campaign GMV", money(row.get("pre_gmv_amount"))),
        ("增量成交额 Incremental GMV", _money_ci(row, "incremental_gmv")),
        ("增量成交额 (CUPED) Incremental GMV, CUPED", _money_ci(row, "incremental_gmv_cuped")),
        ("成本 Cost", money(row.get("cost_amount")) if _num(row.get("cost_amount")) is not None
         else "no cost recorded"),
        ("投入产出比 ROI", roi_text(row).removeprefix("ROI ")),
        ("销售占比 Sales share", pct(row.get("sales_share"))),
        ("组间平衡 Balanced groups",
         {True: "yes", False: "no", None: "–"}.get(row.get("is_balanced"), "–")
         + f" (pre-GMV std. diff {_fmt2(row.get('pre_gmv_std_diff'))})"),
    ]
    body = "\n".join(f"<tr><th>{html.escape(k)}</th><td class=\"v\">{html.escape(v)}</td></tr>"
                     for k, v in items)
    return f'<table class="figures">\n{body}\n</table>'


def _money_ci(row: dict, prefix: str) -> str:
    amount = _num(row.get(f"{prefix}_amount"))
    if amount is None:
        return "no estimate: group too small"
    low, high = row.get(f"{prefix}_ci_low"), row.get(f"{prefix}_ci_high")
    return f"{money(amount)} (95% CI {ci(low, high, scale=1, digits=2)})"


def _source(row: dict) -> str:
    """Where the natural conversion rate comes from, for a reader."""
    source = row.get("natural_rate_source")
    return {"control_group": "对照组 control group", "lookalike": "相似人群 lookalike"}.get(
        source, source or "")


def _fmt2(v) -> str:
    v = _num(v)
    return "–" if v is None else f"{v:.2f}"


def render(campaign: Campaign) -> str:
    """One campaign's self-contained HTML page."""
    row = campaign.row
    text, tone = verdict(row)
    name = row.get("campaign_name") or campaign.id
    meta = " · ".join(str(x) for x in (
        f"{campaign.id}", row.get("scenario"), row.get("region"), row.get("channel"),
        f"{row.get('start_date')} → {row.get('end_date')}",
        f"{row.get('window_days')} 天 days window") if x)
    main = [_figure("funnel", to_svg(funnel_chart(row))),
            _figure("conversion", to_svg(conversion_chart(row))),
            _figure("gmv", to_svg(gmv_chart(row)))]
    cuts = [_figure(f"cut-{cut}", to_svg(cut_chart(cut, rows)))
            for cut, rows in campaign.cuts.items()]
    return PAGE.substitute(
        title=html.escape(f"活动复盘 Campaign retrospective: {name}"),
        font=FONT,
        meta=html.escape(meta),
        verdict=html.escape(text),
        tone=tone,
        notes="\n".join(f'<p class="note">{html.escape(n)}</p>' for n in notes(row)),
        table=figures_table(row),
        main_charts="\n".join(main),
        cut_charts="\n".join(cuts) or "<p>无细分 No cuts for this campaign.</p>",
        footer=html.escape("数据来源 Source: marts.mart_campaign_retrospective, "
                           "marts.mart_campaign_cuts (memberdw report)"),
    )


def _file_name(campaign_id: str) -> str:
    return f"report_{re.sub(r'[^A-Za-z0-9._-]', '_', campaign_id)}.html"


def write_reports(warehouse: Path, out: Path | None = None,
                  campaign_id: str | None = None) -> list[Path]:
    """Write ``report_<campaign_id>.html`` for each campaign (or the one asked for) into
    ``out`` (default ``warehouse/reports``); the paths written."""
    out = Path(out) if out is not None else Path(warehouse) / "reports"
    campaigns = load(Path(warehouse), campaign_id)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for campaign in campaigns:
        path = out / _file_name(campaign.id)
        path.write_text(render(campaign), encoding="utf-8")
        paths.append(path)
    return paths
