"""Render a tickstorm load report (``load-report.json``) as one self-contained HTML page with the knee chart.

The knee chart puts every step of the plan (replay speed x subscribers) on the x axis and shows the feed's
p50 and p99 (intended send time -> written to a subscriber's socket) against each step's SLA bound, with
the first step beyond SLA marked; a second chart shows the events delivered to subscribers per second and
the subscriber drops. Below them: the steps table, the history join and Locust's own figures. Like
:mod:`reports.html` the page needs no network and no JavaScript, and every string from the report is
escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from reports import svg
from reports.html import CSS, DASH, badge, fact_list, figure_block, number

CHART_W = 1120.0
LEFT, RIGHT = 112.0, CHART_W - 170.0
LEGEND_X = RIGHT + 18.0
P99, P50, SLA, RATE, DROPS, KNEE = "#e8590c", "#1f77b4", "#c92a2a", "#1864ab", "#c2255c", "#862e9c"


def step_label(step: dict[str, Any]) -> str:
    """``x1 · 500`` for a step at recorded speed with 500 subscribers."""
    speed = number(step.get("speed"))
    return f"x{speed:g} · {step.get('subscribers')}" if speed is not None else str(step.get("subscribers"))


def _knee_index(report: dict[str, Any]) -> int | None:
    knee = report.get("knee") or {}
    first_bad = knee.get("first_bad") if isinstance(knee, dict) else None
    if isinstance(first_bad, dict) and isinstance(first_bad.get("index"), int):
        return int(first_bad["index"])
    return None


def _frame(height: float) -> svg.Frame:
    return svg.Frame(CHART_W, height, LEFT, 28.0, RIGHT, height - 48.0)


def _step_axis(frame: svg.Frame, xscale: svg.Scale, steps: list[dict[str, Any]]) -> str:
    ticks = [float(i) for i in range(len(steps))]
    return svg.x_axis(frame, xscale, ticks, [step_label(s) for s in steps], "replay speed · subscribers")


def _knee_marker(frame: svg.Frame, xscale: svg.Scale, index: int | None) -> str:
    if index is None:
        return ""
    x = xscale(float(index))
    return (
        f'<g class="knee"><line x1="{x:.1f}" y1="{frame.top:.1f}" x2="{x:.1f}" y2="{frame.bottom:.1f}" '
        f'stroke="{KNEE}" stroke-width="2" stroke-dasharray="6 4"/>'
        + (
            svg.text(x - 4, frame.top + 12, "knee: first step beyond SLA", "end", "band-label")
            if x > (frame.left + frame.right) / 2
            else svg.text(x + 4, frame.top + 12, "knee: first step beyond SLA", cls="band-label")
        )
        + "</g>"
    )


def knee_chart(report: dict[str, Any]) -> str | None:
    """Feed p50/p99 per step against each step's SLA bound (log axis); None without measured steps."""
    steps = [s for s in report.get("steps") or [] if isinstance(s, dict)]
    p99 = [number(s.get("feed_p99_ms")) for s in steps]
    p50 = [number(s.get("feed_p50_ms")) for s in steps]
    sla = [number(s.get("sla_p99_ms")) for s in steps]
    values = [v for v in (*p99, *p50, *sla) if v is not None and v > 0]
    if not steps or not values:
        return None
    frame = _frame(300.0)
    xscale = frame.x(-0.5, len(steps) - 0.5)
    lo, hi = svg.log_domain(values)
    yscale = frame.y(lo, hi, log=True)
    ticks = svg.log_ticks(lo, hi)
    xs = [float(i) for i in range(len(steps))]
    body = [
        _step_axis(frame, xscale, steps),
        svg.y_axis(frame, yscale, ticks, [svg.format_tick(t) for t in ticks], "feed latency ms (log)"),
        svg.line_series(xscale, yscale, xs, sla, SLA, "SLA p99 bound of the step's speed", "6 3"),
        svg.line_series(xscale, yscale, xs, p50, P50, "feed p50"),
        svg.line_series(xscale, yscale, xs, p99, P99, "feed p99", width=3.0),
        _knee_marker(frame, xscale, _knee_index(report)),
        svg.legend(LEGEND_X, frame.top + 8, [("p99", P99, ""), ("p50", P50, ""), ("SLA p99", SLA, "6 3")]),
    ]
    return svg.chart("knee", "Feed latency per load step", frame.width, frame.height, "".join(body))


def delivery_chart(report: dict[str, Any]) -> str | None:
    """Events delivered to subscribers per second per step, with drop markers; None without steps."""
    steps = [s for s in report.get("steps") or [] if isinstance(s, dict)]
    rates = [number(s.get("delivered_msgs_per_s")) for s in steps]
    present = [r for r in rates if r is not None]
    if not steps or not present:
        return None
    frame = _frame(240.0)
    xscale = frame.x(-0.5, len(steps) - 0.5)
    lo, hi, ticks = svg.nice_range(0.0, max(max(present) * 1.05, 1.0), 5)
    yscale = frame.y(lo, hi)
    xs = [float(i) for i in range(len(steps))]
    drops = [
        (float(i), f"{step_label(s)}: {int(s['subscriber_drops'])} events dropped by subscriber queues")
        for i, s in enumerate(steps)
        if (number(s.get("subscriber_drops")) or 0) > 0
    ]
    body = [
        _step_axis(frame, xscale, steps),
        svg.y_axis(frame, yscale, ticks, [svg.format_tick(t) for t in ticks], "events/s to subscribers"),
        svg.line_series(xscale, yscale, xs, rates, RATE, "events delivered to subscribers per second"),
        svg.lane_markers(xscale, frame.top + 6, drops, DROPS, "diamond"),
        _knee_marker(frame, xscale, _knee_index(report)),
        svg.legend(LEGEND_X, frame.top + 8, [("events/s", RATE, ""), ("drops (◆)", DROPS, "")]),
    ]
    return svg.chart("delivery", "Delivered events per load step", frame.width, frame.height, "".join(body))


def _cell(value: Any) -> str:
    return DASH if value is None else escape(str(value))


def steps_table(report: dict[str, Any]) -> str:
    """Every measured step with its figures and verdict."""
    head = (
        "<tr><th>step</th><th>connected</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>SLA ms</th>"
        "<th>within SLA</th><th>ingest p99 ms</th><th>events/s</th><th>frames/s</th><th>drops</th>"
        '<th class="text">CPU %</th><th class="text">verdict</th></tr>'
    )
    rows = []
    for s in report.get("steps") or []:
        within = number(s.get("within_sla_fraction"))
        cpu = ", ".join(f"{k} {v:g}" for k, v in (s.get("cpu_percent") or {}).items())
        verdict = "within SLA" if s.get("ok") else "; ".join(map(str, s.get("reasons") or []))
        rows.append(
            f"<tr><td>{escape(step_label(s))}</td><td>{_cell(s.get('subscribers_connected'))}</td>"
            + "".join(
                f"<td>{_cell(s.get(k))}</td>"
                for k in ("feed_p50_ms", "feed_p99_ms", "feed_p999_ms", "sla_p99_ms")
            )
            + f"<td>{DASH if within is None else f'{100 * within:.2f} %'}</td>"
            + "".join(
                f"<td>{_cell(s.get(k))}</td>"
                for k in ("feed_ingest_p99_ms", "delivered_msgs_per_s", "frames_per_s", "subscriber_drops")
            )
            + f'<td class="text">{escape(cpu)}</td>'
            + f'<td class="text {"ok" if s.get("ok") else "bad"}">{escape(verdict)}</td></tr>'
        )
    if not rows:
        return '<p class="note">no step was measured</p>'
    return f"<table>{head}{''.join(rows)}</table>"


def join_section(report: dict[str, Any]) -> str:
    """The history join's verdict (every subscriber received every event of its streams)."""
    join = report.get("join")
    if not isinstance(join, dict):
        return '<p class="note">no history join (run with histories to check delivery)</p>'
    failed = "".join(
        f"<li>{escape(str(f.get('subscriber')))}: {escape(str(f.get('checks')))}</li>"
        for f in join.get("failed") or []
    )
    return (
        f"<p>{badge(join.get('ok'))} {_cell(join.get('subscribers'))} subscribers, "
        f"{_cell(join.get('events_received'))} events joined with the feed's history, "
        f"{_cell(join.get('gap_ranges'))} gap ranges received</p>" + (f"<ul>{failed}</ul>" if failed else "")
    )


def locust_table(report: dict[str, Any]) -> str:
    """Locust's request statistics (the subscribers' view: closed loop, millisecond resolution)."""
    locust = report.get("locust") or {}
    rows = "".join(
        f"<tr><td>{_cell(e.get('type'))} {_cell(e.get('name'))}</td><td>{_cell(e.get('requests'))}</td>"
        f"<td>{_cell(e.get('failures'))}</td><td>{_cell(e.get('median_ms'))}</td>"
        f"<td>{_cell(e.get('p99_ms'))}</td></tr>"
        for e in locust.get("entries") or []
        if isinstance(e, dict)
    )
    note = f'<p class="muted">{escape(str(locust.get("note", "")))}</p>'
    if not rows:
        return note + '<p class="note">no Locust statistics</p>'
    return (
        note
        + "<table><tr><th>request</th><th>count</th><th>failures</th><th>median ms</th><th>p99 ms</th></tr>"
        f"{rows}</table>"
    )


def _knee_text(report: dict[str, Any]) -> str:
    knee = report.get("knee") or {}
    if knee.get("found"):
        good, bad = knee.get("last_good"), knee.get("first_bad") or {}
        good_text = f"x{good['speed']:g} with {good['users']} subscribers" if good else "no step"
        return (
            f"last step within SLA: {good_text}; first beyond: x{bad.get('speed', 0):g} with "
            f"{bad.get('users')} subscribers ({'; '.join(map(str, knee.get('reasons') or []))})"
        )
    return str(knee.get("note") or "no knee")


def load_run_ok(report: dict[str, Any]) -> bool:
    """Every step was measured within SLA and, if histories were joined, every event was delivered."""
    steps = report.get("steps") or []
    join = report.get("join")
    delivered = not isinstance(join, dict) or bool(join.get("ok"))
    return bool(steps) and all(s.get("ok") for s in steps) and delivered


def render_load_html(report: dict[str, Any]) -> str:
    """The whole load report as one self-contained HTML document."""
    config = report.get("config") or {}
    machine = report.get("machine") or {}
    ok = load_run_ok(report)
    facts = [
        ("run", escape(str(report.get("run_id", "")))),
        ("created", escape(str(report.get("created", "")))),
        ("plan", f"<code>{escape(str(config.get('plan', '')))}</code>"),
        ("channels", escape(str(config.get("channels", "")))),
        ("Locust processes", escape(str(config.get("processes", 0) or "1 (no workers)"))),
        ("duration", escape(f"{report.get('duration_s', '')} s")),
        ("CPU", escape(str(machine.get("cpu_model", "")))),
        ("cores", escape(str(machine.get("cores", "")))),
    ]
    body = [
        f"<section><h1>tickstorm load {badge(ok)}</h1>{fact_list(facts)}"
        f"<p><strong>knee:</strong> {escape(_knee_text(report))}</p>"
        f'<p class="muted">{escape(str(report.get("latency_definition", "")))}</p></section>',
        "<section><h2>Knee</h2>"
        + figure_block("Feed latency per step (log axis) against the SLA", knee_chart(report), "no steps")
        + figure_block("Events delivered to subscribers per second, and drops", delivery_chart(report), "")
        + "</section>",
        f"<section><h2>Steps</h2>{steps_table(report)}</section>",
        f"<section><h2>Delivery (history join)</h2>{join_section(report)}</section>",
        f"<section><h2>Locust</h2>{locust_table(report)}</section>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>tickstorm load — {'PASS' if ok else 'FAIL'}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )
