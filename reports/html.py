"""Render a "tickstorm.report/1" dict as one self-contained HTML page with inline CSS and SVG charts.

The page needs no network and no JavaScript: charts are plain SVG in the document. Every string taken
from the report is escaped; missing or null optional parts render as a dash or a short note.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from reports import svg
from reports.model import INCOMPLETE, run_verdict, venue_names, verdict_summary

CHART_W = 1120.0
PLOT_LEFT = 112.0
PLOT_RIGHT = CHART_W - 150.0
LEGEND_X = PLOT_RIGHT + 18.0

LATENCY_SERIES = (("p50", "p50", "#1f77b4", ""), ("p99", "p99", "#e8590c", ""),
                  ("p999", "p99.9", "#c92a2a", ""), ("max", "max", "#495057", "5 3"))  # fmt: skip
PROCESS_COLOURS = ("#2f9e44", "#7048e8", "#a0522d", "#1c7ed6", "#d6336c", "#f08c00")
FAULT_COLOURS = ("#e67700", "#9c36b5", "#0b7285", "#c2255c", "#5c940d", "#364fc7")
EVENT_KINDS = ("connection", "gap", "book_invalid", "book_resynced", "stale", "fresh",
               "subscription", "dlq", "restart")  # fmt: skip
EVENT_COLOURS = {"connection": "#1c7ed6", "gap": "#e03131", "book_invalid": "#c2255c",
                 "book_resynced": "#2f9e44", "stale": "#f08c00", "fresh": "#66a80f",
                 "subscription": "#7048e8", "dlq": "#862e9c", "restart": "#212529"}  # fmt: skip

CSS = """
:root { --ok: #2b8a3e; --bad: #c92a2a; --ink: #212529; --muted: #5c6670; --line: #dee2e6; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); background: #f8f9fa; }
main { max-width: 1200px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 24px; margin: 8px 0; } h2 { font-size: 20px; margin: 6px 0 8px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 18px;
          margin: 16px 0; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff; font-weight: 600;
         font-size: 13px; vertical-align: middle; }
.badge.ok { background: var(--ok); } .badge.bad { background: var(--bad); }
.facts { display: grid; grid-template-columns: max-content 1fr max-content 1fr; gap: 2px 14px;
         margin: 8px 0; }
.facts dt { color: var(--muted); } .facts dd { margin: 0; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: right; white-space: nowrap; }
th { background: #f1f3f5; font-weight: 600; }
th:first-child, td:first-child, td.text, th.text { text-align: left; white-space: normal; }
tr.regressed td { background: #fff0f0; color: var(--bad); font-weight: 600; }
td.ok { color: var(--ok); font-weight: 600; } td.bad { color: var(--bad); font-weight: 600; }
details { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; background: #fff; }
details > summary { cursor: pointer; padding: 6px 10px; }
details[open] > summary { border-bottom: 1px solid var(--line); }
pre { margin: 0; padding: 8px 10px; overflow-x: auto; background: #f8f9fa; font-size: 12.5px; }
pre.cmd { background: #212529; color: #f8f9fa; border-radius: 6px; margin: 4px 0 10px; }
.muted { color: var(--muted); } .note { color: var(--muted); font-style: italic; padding: 8px 0; }
figure { margin: 14px 0; } figcaption { color: var(--muted); margin: 2px 0 4px; font-weight: 600; }
svg.chart { display: block; max-width: 100%; height: auto; background: #fff; }
svg .axis { stroke: #868e96; stroke-width: 1; } svg .grid { stroke: #e9ecef; stroke-width: 1; }
svg text { font-family: inherit; } svg .tick { fill: var(--muted); }
svg .band-label { font-weight: 600; } svg .lane-label { font-weight: 600; }
"""


# --- defensive accessors -------------------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def number(value: Any) -> float | None:
    """A finite int/float from the report as a float; None for anything else (bools, strings, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _nums(value: Any) -> list[float | None]:
    return [number(v) for v in _list(value)]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _e(value: Any) -> str:
    return escape(_text(value))


# --- number formatting ---------------------------------------------------------------------------------

DASH = "—"


def fmt_ms(value: Any) -> str:
    """Milliseconds with precision that suits the magnitude."""
    v = number(value)
    if v is None:
        return DASH
    if abs(v) < 10:
        return f"{v:.2f} ms"
    if abs(v) < 100:
        return f"{v:.1f} ms"
    return f"{v:,.0f} ms"


def fmt_num(value: Any, unit: str = "", digits: int = 0, sign: bool = False) -> str:
    """A number with thousands separators and an optional unit; a dash when missing."""
    v = number(value)
    if v is None:
        return DASH
    spec = f"{'+' if sign else ''},.{digits}f"
    return f"{v:{spec}}{(' ' + unit) if unit else ''}"


def badge(ok: Any) -> str:
    """A PASS / FAIL / n/a badge."""
    if ok is None:
        return '<span class="badge">n/a</span>'
    return '<span class="badge ok">PASS</span>' if ok else '<span class="badge bad">FAIL</span>'


def _ok_cell(ok: Any) -> str:
    return '<td class="ok">pass</td>' if ok else '<td class="bad">FAIL</td>'


# --- charts --------------------------------------------------------------------------------------------


def _time_span(scenario: dict[str, Any]) -> float:
    """The right end of the time axis: the run's duration or the furthest thing that happened."""
    ends = [number(scenario.get("duration_s")) or 0.0]
    intervals = _dict(scenario.get("intervals"))
    step = number(intervals.get("interval_s")) or 1.0
    ends += [t + step for t in _nums(intervals.get("t_s")) if t is not None]
    for fault in _list(scenario.get("faults")):
        ends += [number(_dict(fault).get("start_s")) or 0.0, number(_dict(fault).get("end_s")) or 0.0]
    ends += [number(_dict(ev).get("t_s")) or 0.0 for ev in _list(scenario.get("events"))]
    return max(max(ends), 1.0)


def _fault_bands(scenario: dict[str, Any], t_end: float) -> list[svg.Band]:
    colours: dict[str, str] = {}
    out: list[svg.Band] = []
    for fault in _list(scenario.get("faults")):
        fault = _dict(fault)
        start = number(fault.get("start_s"))
        if start is None:
            continue
        end = number(fault.get("end_s"))
        name = _text(fault.get("name")) or "fault"
        colour = colours.setdefault(name, FAULT_COLOURS[len(colours) % len(FAULT_COLOURS)])
        label = name if end is not None else f"{name} (to end)"
        out.append(svg.Band(start, t_end if end is None else end, label, colour))
    out.sort(key=lambda b: b.start)
    return out


def _timeline_frame(scenario: dict[str, Any], plot_height: float) -> tuple[svg.Frame, svg.Scale, str]:
    """A frame whose top margin fits the fault labels; returns it, the time scale and the shaded bands."""
    t_end = _time_span(scenario)
    probe = svg.Scale(0.0, t_end, PLOT_LEFT, PLOT_RIGHT)
    faults = _fault_bands(scenario, t_end)
    rows = svg.band_label_rows(faults, probe, CHART_W - 6)
    top = 16.0 + (max(rows) + 1 if rows else 0) * (svg.FONT_PX + 4)
    frame = svg.Frame(CHART_W, top + plot_height + 46, PLOT_LEFT, top, PLOT_RIGHT, top + plot_height)
    xscale = frame.x(0.0, t_end)
    return frame, xscale, svg.bands(frame, xscale, faults, rows)


def _time_axis(frame: svg.Frame, xscale: svg.Scale) -> str:
    ticks = svg.linear_ticks(xscale.lo, xscale.hi, 12)
    return svg.x_axis(frame, xscale, ticks, [f"{t:g}" for t in ticks], "seconds from replay start")


def _interval_midpoints(intervals: dict[str, Any]) -> list[float]:
    step = number(intervals.get("interval_s")) or 1.0
    return [(t if t is not None else 0.0) + step / 2 for t in _nums(intervals.get("t_s"))]


def latency_chart(scenario: dict[str, Any]) -> str | None:
    """Latency percentiles per interval on a log axis, fault windows shaded; None without data."""
    intervals = _dict(scenario.get("intervals"))
    latency = _dict(intervals.get("latency_ms"))
    xs = _interval_midpoints(intervals)
    series = [
        (key, label, colour, dash, _nums(latency.get(key))) for key, label, colour, dash in LATENCY_SERIES
    ]
    values = [v for *_, ys in series for v in ys if v is not None]
    if not xs or not values:
        return None
    frame, xscale, shading = _timeline_frame(scenario, 240)
    lo, hi = svg.log_domain(values)
    yscale = frame.y(lo, hi, log=True)
    ticks = svg.log_ticks(lo, hi)
    body = [shading, _time_axis(frame, xscale)]
    body.append(svg.y_axis(frame, yscale, ticks, [svg.format_tick(t) for t in ticks], "latency ms (log)"))
    for _key, label, colour, dash, ys in series:
        body.append(svg.line_series(xscale, yscale, xs, ys, colour, f"{label} latency", dash))
    body.append(svg.legend(LEGEND_X, frame.top + 8, [(label, c, d) for _k, label, c, d, _ys in series]))
    return svg.chart("latency", "Latency percentiles over time", frame.width, frame.height, "".join(body))


def rate_chart(scenario: dict[str, Any]) -> str | None:
    """Delivered messages per second per interval, fault windows shaded; None without data."""
    intervals = _dict(scenario.get("intervals"))
    step = number(intervals.get("interval_s")) or 1.0
    xs = _interval_midpoints(intervals)
    rates = [None if d is None else d / step for d in _nums(intervals.get("delivered"))]
    present = [r for r in rates if r is not None]
    if not xs or not present:
        return None
    frame, xscale, shading = _timeline_frame(scenario, 180)
    lo, hi, ticks = svg.nice_range(0.0, max(max(present) * 1.05, 1.0), 5)
    yscale = frame.y(lo, hi)
    body = [shading, _time_axis(frame, xscale)]
    body.append(svg.y_axis(frame, yscale, ticks, [svg.format_tick(t) for t in ticks], "msg/s"))
    body.append(svg.line_series(xscale, yscale, xs, rates, "#1864ab", "delivered msg/s"))
    body.append(svg.legend(LEGEND_X, frame.top + 8, [("msg/s", "#1864ab", "")]))
    return svg.chart("rate", "Message rate over time", frame.width, frame.height, "".join(body))


def rss_chart(scenario: dict[str, Any]) -> str | None:
    """Resident memory per process over time; None when nothing was measured."""
    intervals = _dict(scenario.get("intervals"))
    xs = _interval_midpoints(intervals)
    processes = [(str(name), _nums(ys)) for name, ys in _dict(intervals.get("rss_mb")).items()]
    processes = [(name, ys) for name, ys in processes if any(v is not None for v in ys)]
    if not xs or not processes:
        return None
    values = [v for _, ys in processes for v in ys if v is not None]
    pad = max((max(values) - min(values)) * 0.1, 1.0)
    lo, hi, ticks = svg.nice_range(max(min(values) - pad, 0.0), max(values) + pad, 5)
    frame, xscale, shading = _timeline_frame(scenario, 180)
    yscale = frame.y(lo, hi)
    body = [shading, _time_axis(frame, xscale)]
    body.append(svg.y_axis(frame, yscale, ticks, [svg.format_tick(t) for t in ticks], "RSS MB"))
    items: list[tuple[str, str, str]] = []
    for i, (name, ys) in enumerate(processes):
        colour = PROCESS_COLOURS[i % len(PROCESS_COLOURS)]
        body.append(svg.line_series(xscale, yscale, xs, ys, colour, f"{name} RSS MB"))
        items.append((name, colour, ""))
    body.append(svg.legend(LEGEND_X, frame.top + 8, items))
    return svg.chart("rss", "Resident memory per process", frame.width, frame.height, "".join(body))


def nines(percentile: float) -> float:
    """The "nines" position of a percentile: 90 -> 1, 99 -> 2, 99.9 -> 3."""
    return -math.log10(1.0 - percentile / 100.0)


def _nines_label(position: int) -> str:
    if position <= 0:
        return "0%"
    if position <= 2:
        return f"{100 - 10 ** (2 - position):g}%"
    return "99." + "9" * (position - 2) + "%"


def spectrum_chart(scenario: dict[str, Any]) -> str | None:
    """Latency by percentile on the nines scale; 100% sits one step right of the last finite point."""
    points: list[tuple[float, float]] = []
    for pair in _list(_dict(scenario.get("latency")).get("spectrum")):
        pair = _list(pair)
        if len(pair) == 2 and number(pair[0]) is not None and number(pair[1]) is not None:
            points.append((float(pair[0]), float(pair[1])))
    points = sorted(p for p in points if 0.0 <= p[0] <= 100.0)
    if not points:
        return None
    finite = [nines(p) for p, _ in points if p < 100.0]
    last = max(finite) if finite else 0.0
    has_max = any(p >= 100.0 for p, _ in points)
    top = math.floor(last + 1e-9) + 1  # where 100% goes: the nines position after the last finite one
    xs = [nines(p) if p < 100.0 else float(top) for p, _ in points]
    ys: list[float | None] = [ms for _, ms in points]
    x_lo = min(min(xs), math.log10(2.0))
    x_hi = float(top) if has_max else max(last, 1.0)
    frame = svg.Frame(CHART_W, 300, PLOT_LEFT, 20, PLOT_RIGHT, 254)
    xscale = frame.x(x_lo - 0.08, x_hi + 0.08)
    lo, hi = svg.log_domain([ms for _, ms in points])
    yscale = frame.y(lo, hi, log=True)
    xticks = [math.log10(2.0)] + [float(k) for k in range(1, top)]
    xlabels = ["50%"] + [_nines_label(k) for k in range(1, top)]
    if has_max:
        xticks.append(float(top))
        xlabels.append("100% (max)")
    keep = [i for i, t in enumerate(xticks) if xscale.lo <= t <= xscale.hi]
    yt = svg.log_ticks(lo, hi)
    body = [svg.x_axis(frame, xscale, [xticks[i] for i in keep], [xlabels[i] for i in keep], "percentile")]
    body.append(svg.y_axis(frame, yscale, yt, [svg.format_tick(t) for t in yt], "latency ms (log)"))
    body.append(svg.line_series(xscale, yscale, xs, ys, "#c92a2a", "latency by percentile"))
    markers = [(x, f"p{p:g}: {fmt_ms(ms)}") for x, (p, ms) in zip(xs, points, strict=True)]
    for (x, tip), (_, ms) in zip(markers, points, strict=True):
        body.append(
            f'<g class="marker"><title>{escape(tip)}</title><circle cx="{xscale(x):.1f}" '
            f'cy="{yscale(ms):.1f}" r="4" fill="#c92a2a"/></g>'
        )
    body.append(svg.legend(LEGEND_X, frame.top + 8, [("latency", "#c92a2a", "")]))
    return svg.chart("spectrum", "Latency percentile spectrum", frame.width, frame.height, "".join(body))


def events_chart(scenario: dict[str, Any]) -> str:
    """One lane per event kind with a marker per event (tooltip: stream and detail), faults shaded."""
    events = [_dict(ev) for ev in _list(scenario.get("events"))]
    events = [ev for ev in events if number(ev.get("t_s")) is not None]
    seen = {_text(ev.get("kind")) or "other" for ev in events}
    kinds = [k for k in EVENT_KINDS if k in seen] + sorted(seen - set(EVENT_KINDS))
    lane_h = 26.0
    frame, xscale, shading = _timeline_frame(scenario, max(len(kinds), 1) * lane_h)
    body = [shading, _time_axis(frame, xscale)]
    body.append(
        f'<line class="axis" x1="{frame.left}" y1="{frame.top}" x2="{frame.left}" y2="{frame.bottom}"/>'
    )
    if not kinds:
        body.append(svg.text((frame.left + frame.right) / 2, frame.top + 17, "no events", "middle", "tick"))
    for i, kind in enumerate(kinds):
        y = frame.top + (i + 0.5) * lane_h
        body.append(f'<line class="grid" x1="{frame.left}" y1="{y:.1f}" x2="{frame.right}" y2="{y:.1f}"/>')
        body.append(svg.text(frame.left - 6, y + 4, kind, "end", "lane-label"))
        points = []
        for ev in events:
            if (_text(ev.get("kind")) or "other") == kind:
                t = number(ev.get("t_s")) or 0.0
                tip = f"{t:.2f} s · {kind} · {_text(ev.get('stream'))} · {_text(ev.get('detail'))}"
                points.append((t, tip))
        colour = EVENT_COLOURS.get(kind, "#495057")
        body.append(svg.lane_markers(xscale, y, points, colour, "circle" if i % 2 == 0 else "diamond"))
    return svg.chart("events", "Events by kind over time", frame.width, frame.height, "".join(body))


def figure_block(caption: str, content: str | None, missing: str) -> str:
    """A captioned figure, or a note saying what is missing."""
    inner = content if content is not None else f'<p class="note">{escape(missing)}</p>'
    return f"<figure><figcaption>{escape(caption)}</figcaption>{inner}</figure>"


# --- page sections -------------------------------------------------------------------------------------


def _created(value: Any) -> str:
    ts = number(value)
    if ts is None:
        return DASH
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fact_list(pairs: Sequence[tuple[str, str]]) -> str:
    """A two-column definition list of (name, HTML value) pairs; empty values show a dash."""
    cells = "".join(f"<dt>{escape(k)}</dt><dd>{v or DASH}</dd>" for k, v in pairs)
    return f'<dl class="facts">{cells}</dl>'


def header(report: dict[str, Any]) -> str:
    """Overall verdict, run settings, machine facts and creation time."""
    machine = _dict(report.get("machine"))
    memory = number(machine.get("memory_gib"))
    facts = [
        ("seed", _e(report.get("seed"))),
        ("mode", _e(report.get("mode"))),
        ("proxy", _e(report.get("proxy"))),
        ("SLA file", _e(report.get("sla_file"))),
        ("created", escape(_created(report.get("created_unix")))),
        ("tickstorm", _e(report.get("tickstorm_version"))),
        ("CPU", _e(machine.get("cpu_model"))),
        ("cores", _e(machine.get("cores"))),
        ("memory", DASH if memory is None else f"{memory:.1f} GB"),
        ("OS", _e(machine.get("os"))),
        ("Python", _e(machine.get("python"))),
        ("format", _e(report.get("format"))),
    ]
    libraries = _dict(machine.get("libraries"))
    libs = ""
    if libraries:
        rows = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in sorted(libraries.items()))
        libs = (
            f"<details><summary>libraries ({len(libraries)})</summary>"
            f"<table><tr><th>library</th><th>version</th></tr>{rows}</table></details>"
        )
    verdict = run_verdict(report)
    head = badge(report.get("ok")) if verdict != INCOMPLETE else '<span class="badge bad">INCOMPLETE</span>'
    return (
        f"<header><h1>tickstorm report {head}</h1>"
        f'<p class="muted">{escape(verdict_summary(report))}</p>{_not_run(report)}{fact_list(facts)}{libs}'
        "</header>"
    )


def _not_run(report: dict[str, Any]) -> str:
    """The scenarios an incomplete run did not finish, with the command that runs each."""
    rows = "".join(
        f"<tr><td>{_e(n.get('name'))}</td><td><code>{_e(n.get('rerun'))}</code></td></tr>"
        for n in map(_dict, _list(report.get("not_run")))
    )
    return f"<table><tr><th>not run</th><th>command</th></tr>{rows}</table>" if rows else ""


SUMMARY_COLUMNS = ("p50", "p99", "p99.9", "max", "throughput", "recovery", "memory slope",
                   "gaps", "backfilled", "DLQ")  # fmt: skip


def summary_table(scenarios: Sequence[dict[str, Any]]) -> str:
    """One row per scenario with its verdict and headline figures."""
    head = "".join(f"<th>{escape(c)}</th>" for c in SUMMARY_COLUMNS)
    rows = []
    for i, s in enumerate(scenarios):
        f = _dict(s.get("figures"))
        cells = [
            fmt_ms(f.get("latency_p50_ms")),
            fmt_ms(f.get("latency_p99_ms")),
            fmt_ms(f.get("latency_p999_ms")),
            fmt_ms(f.get("latency_max_ms")),
            fmt_num(f.get("throughput_msg_s"), "msg/s"),
            fmt_num(f.get("recovery_s"), "s", 2),
            fmt_num(f.get("rss_slope_mb_per_min"), "MB/min", 2, sign=True),
            fmt_num(f.get("gaps_lost_ids")),
            fmt_num(f.get("backfilled")),
            fmt_num(f.get("dlq")),
        ]
        tds = "".join(f"<td>{escape(c)}</td>" for c in cells)
        rows.append(
            f'<tr><td><a href="#scenario-{i + 1}">{_e(s.get("name")) or "(unnamed)"}</a></td>'
            f"{_ok_cell(s.get('ok'))}{tds}</tr>"
        )
    return (
        '<section id="summary"><h2>Suite summary</h2>'
        f"<table><tr><th>scenario</th><th>verdict</th>{head}</tr>{''.join(rows)}</table></section>"
    )


def _evidence(evidence: Any) -> str:
    try:
        dumped = json.dumps(evidence, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        dumped = repr(evidence)
    return f"<pre>{escape(dumped)}</pre>"


def failures(scenarios: Sequence[dict[str, Any]]) -> str:
    """Failed checks with collapsible evidence, and the command that reruns each failed scenario."""
    failed = [(i, s) for i, s in enumerate(scenarios) if not s.get("ok")]
    if not failed:
        return '<section id="failures"><h2>Failed checks</h2><p>All checks passed.</p></section>'
    parts = ['<section id="failures"><h2>Failed checks</h2>']
    for i, s in failed:
        parts.append(f'<h3><a href="#scenario-{i + 1}">{_e(s.get("name")) or "(unnamed)"}</a></h3>')
        if s.get("error"):
            parts.append(f'<p class="bad">error:</p><pre>{_e(s.get("error"))}</pre>')
        for verdict in _list(s.get("verdicts")):
            verdict = _dict(verdict)
            if verdict.get("ok"):
                continue
            parts.append(
                f"<details><summary><strong>{_e(verdict.get('check'))}</strong> — "
                f"{_e(verdict.get('summary'))}</summary>{_evidence(verdict.get('evidence'))}</details>"
            )
        if s.get("rerun"):
            command = _e(s.get("rerun"))
            parts.append(f'<p class="muted">rerun:</p><pre class="cmd"><code>{command}</code></pre>')
    parts.append("</section>")
    return "".join(parts)


def comparison_table(comparison: Any) -> str:
    """Figures against a baseline; regressed rows are highlighted. Empty when there is no comparison."""
    comparison = _dict(comparison)
    if not comparison:
        return ""
    rows = []
    for row in _list(comparison.get("rows")):
        row = _dict(row)
        change = number(row.get("change_pct"))
        regressed = bool(row.get("regressed"))
        rows.append(
            f"<tr{' class=regressed' if regressed else ''}><td>{_e(row.get('figure'))}</td>"
            f"<td>{escape(fmt_num(row.get('baseline'), digits=3))}</td>"
            f"<td>{escape(fmt_num(row.get('run'), digits=3))}</td>"
            f"<td>{DASH if change is None else f'{change:+.1f}%'}</td>"
            f'<td class="text">{_e(row.get("ratio_kind"))}</td>'
            f"<td>{'REGRESSED' if regressed else 'ok'}</td></tr>"
        )
    n_bad = sum(1 for r in _list(comparison.get("rows")) if _dict(r).get("regressed"))
    return (
        f'<section id="comparison"><h2>Comparison with baseline</h2>'
        f"<p>baseline: <code>{_e(comparison.get('baseline'))}</code> · {n_bad} regression(s)</p>"
        "<table><tr><th>figure</th><th>baseline</th><th>this run</th><th>change</th>"
        f'<th class="text">compared as</th><th>status</th></tr>{"".join(rows)}</table></section>'
    )


def _by_stream_type(latency: dict[str, Any]) -> str:
    groups = [("overall", _dict(latency.get("overall")))]
    groups += [(str(k), _dict(v)) for k, v in sorted(_dict(latency.get("by_stream_type")).items())]
    groups = [(k, v) for k, v in groups if v]
    if not groups:
        return ""
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(fmt_num(v.get('count')))}</td>"
        + "".join(f"<td>{escape(fmt_ms(v.get(f)))}</td>" for f in ("p50_ms", "p99_ms", "p999_ms", "max_ms"))
        + "</tr>"
        for k, v in groups
    )
    return (
        "<h3>Latency by stream type</h3><table><tr><th>stream type</th><th>count</th><th>p50</th>"
        f"<th>p99</th><th>p99.9</th><th>max</th></tr>{rows}</table>"
    )


def scenario_section(index: int, s: dict[str, Any]) -> str:
    """A scenario's facts, checks, charts and latency breakdown."""
    facts = [
        ("path", _e(s.get("path"))),
        ("seed", _e(s.get("seed"))),
        ("mode", _e(s.get("mode"))),
        ("proxy", _e(s.get("proxy"))),
        ("venues", _e(venue_names(s))),
        ("speed", escape(fmt_num(s.get("speed"), "x", 1))),
        ("duration", escape(fmt_num(s.get("duration_s"), "s", 1))),
        ("delivered", escape(fmt_num(_dict(s.get("figures")).get("delivered")))),
        ("rerun", f"<code>{_e(s.get('rerun'))}</code>" if s.get("rerun") else ""),
    ]
    checks = "".join(
        f"<tr><td>{_e(v.get('check'))}</td>{_ok_cell(v.get('ok'))}"
        f'<td class="text">{_e(v.get("summary"))}</td></tr>'
        for v in map(_dict, _list(s.get("verdicts")))
    )
    checks_html = (
        f'<table><tr><th>check</th><th>result</th><th class="text">summary</th></tr>{checks}</table>'
        if checks
        else '<p class="note">no checks recorded</p>'
    )
    error = f"<pre>{_e(s.get('error'))}</pre>" if s.get("error") else ""
    no_intervals = "no per-interval data recorded"
    charts = [
        figure_block("Latency percentiles over time (fault windows shaded)", latency_chart(s), no_intervals),
        figure_block("Message rate (msg/s)", rate_chart(s), no_intervals),
        figure_block("Resident memory per process", rss_chart(s), "RSS not measured (in-process run)"),
        figure_block("Latency percentile spectrum", spectrum_chart(s), "no latency spectrum recorded"),
        figure_block("Events", events_chart(s), ""),
    ]
    return (
        f'<section id="scenario-{index}" class="scenario"><h2>{_e(s.get("name")) or "(unnamed)"} '
        f"{badge(s.get('ok'))}</h2>"
        f'<p class="muted">{_e(s.get("description"))}</p>{fact_list(facts)}{error}'
        f"<h3>Checks</h3>{checks_html}{''.join(charts)}{_by_stream_type(_dict(s.get('latency')))}</section>"
    )


def render_html(report: dict[str, Any]) -> str:
    """The whole report as one self-contained HTML document."""
    report = _dict(report)
    scenarios = [_dict(s) for s in _list(report.get("scenarios"))]
    verdict = run_verdict(report)
    body = [
        header(report),
        summary_table(scenarios),
        failures(scenarios),
        comparison_table(report.get("comparison")),
        *(scenario_section(i + 1, s) for i, s in enumerate(scenarios)),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>tickstorm report — {verdict}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )
