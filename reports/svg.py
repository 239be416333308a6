"""Tiny SVG chart primitives: scales, axes, line series, shaded labelled bands, legends and lanes.

Every function is pure and returns an SVG fragment as a string. Text passed in is escaped here, so
callers may hand over untrusted names as they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

FONT_PX = 12
CHAR_PX = 7.0  # rough width of one bold character at FONT_PX in a sans-serif font, for label layout


def _n(value: float) -> str:
    """A coordinate with at most one decimal, without a trailing '.0'."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class Scale:
    """Maps a data domain onto a pixel range, linearly or logarithmically (base 10)."""

    lo: float
    hi: float
    px_lo: float
    px_hi: float
    log: bool = False

    def __call__(self, value: float) -> float:
        lo, hi, v = self.lo, self.hi, value
        if self.log:
            lo, hi, v = math.log10(lo), math.log10(hi), math.log10(max(value, self.lo))
        if hi == lo:
            return (self.px_lo + self.px_hi) / 2
        return self.px_lo + (v - lo) / (hi - lo) * (self.px_hi - self.px_lo)


@dataclass(frozen=True)
class Frame:
    """A chart's canvas and its plot rectangle (left/top/right/bottom are pixel edges)."""

    width: float
    height: float
    left: float
    top: float
    right: float
    bottom: float

    def x(self, lo: float, hi: float, log: bool = False) -> Scale:
        """A horizontal scale across the plot rectangle."""
        return Scale(lo, hi, self.left, self.right, log)

    def y(self, lo: float, hi: float, log: bool = False) -> Scale:
        """A vertical scale, low values at the bottom."""
        return Scale(lo, hi, self.bottom, self.top, log)


def nice_step(span: float, target: int) -> float:
    """A 1/2/5 x 10^k step that cuts `span` into roughly `target` pieces."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(target, 1)
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= mult * power:
            return mult * power
    return 10 * power


def linear_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values covering [lo, hi]."""
    step = nice_step(hi - lo, target)
    first = math.ceil(lo / step - 1e-9) * step
    ticks: list[float] = []
    value = first
    while value <= hi + step * 1e-6 and len(ticks) < 50:
        ticks.append(round(value, 10))
        value += step
    return ticks


def nice_range(lo: float, hi: float, target: int = 5) -> tuple[float, float, list[float]]:
    """A domain widened to round steps around [lo, hi], and its ticks."""
    if hi <= lo:
        hi = lo + 1.0
    step = nice_step(hi - lo, target)
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    count = round((stop - start) / step)
    return start, stop, [round(start + i * step, 10) for i in range(count + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """1/2/5 x 10^k ticks inside [lo, hi]; only powers of ten when the range spans many decades."""
    decades = math.log10(hi) - math.log10(lo)
    mults = (1.0,) if decades > 4 else (1.0, 2.0, 5.0)
    ticks: list[float] = []
    for power in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for mult in mults:
            value = mult * 10.0**power
            if lo * (1 - 1e-9) <= value <= hi * (1 + 1e-9):
                ticks.append(value)
    return ticks


def log_domain(values: Sequence[float]) -> tuple[float, float]:
    """A log-axis domain [10^a, 10^b] (or a 1/2/5 bound) enclosing the positive values."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    if not positive:
        return 0.1, 10.0
    lo, hi = min(positive), max(positive)

    def down(v: float) -> float:
        power = 10.0 ** math.floor(math.log10(v))
        return max(m * power for m in (1.0, 2.0, 5.0) if m * power <= v * (1 + 1e-9))

    def up(v: float) -> float:
        power = 10.0 ** math.floor(math.log10(v))
        return min(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= v * (1 - 1e-9))

    lo, hi = down(lo), up(hi)
    if hi <= lo:
        hi = lo * 10
    return lo, hi


def format_tick(value: float) -> str:
    """A short tick label: 0.5, 2, 1.2k, 3M."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:g}k"
    if magnitude >= 1 or value == 0:
        return f"{value:g}"
    return f"{value:.3g}"


def text(x: float, y: float, content: str, anchor: str = "start", cls: str = "", size: int = FONT_PX) -> str:
    """An escaped text label."""
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="{size}"{klass}>'
        f"{escape(content)}</text>"
    )


def x_axis(frame: Frame, scale: Scale, ticks: Sequence[float], labels: Sequence[str], title: str) -> str:
    """Bottom axis line, vertical grid lines, tick labels and an axis title."""
    parts = [
        f'<line class="axis" x1="{_n(frame.left)}" y1="{_n(frame.bottom)}" '
        f'x2="{_n(frame.right)}" y2="{_n(frame.bottom)}"/>'
    ]
    for tick, label in zip(ticks, labels, strict=True):
        x = scale(tick)
        parts.append(
            f'<line class="grid" x1="{_n(x)}" y1="{_n(frame.top)}" x2="{_n(x)}" y2="{_n(frame.bottom)}"/>'
        )
        parts.append(text(x, frame.bottom + 16, label, "middle", "tick"))
    parts.append(text((frame.left + frame.right) / 2, frame.bottom + 34, title, "middle", "axis-title"))
    return "".join(parts)


def y_axis(frame: Frame, scale: Scale, ticks: Sequence[float], labels: Sequence[str], title: str) -> str:
    """Left axis line, horizontal grid lines, tick labels and a rotated axis title."""
    parts = [
        f'<line class="axis" x1="{_n(frame.left)}" y1="{_n(frame.top)}" '
        f'x2="{_n(frame.left)}" y2="{_n(frame.bottom)}"/>'
    ]
    for tick, label in zip(ticks, labels, strict=True):
        y = scale(tick)
        parts.append(
            f'<line class="grid" x1="{_n(frame.left)}" y1="{_n(y)}" x2="{_n(frame.right)}" y2="{_n(y)}"/>'
        )
        parts.append(text(frame.left - 6, y + 4, label, "end", "tick"))
    cy = (frame.top + frame.bottom) / 2
    parts.append(
        f'<text x="{_n(16)}" y="{_n(cy)}" text-anchor="middle" font-size="{FONT_PX}" class="axis-title" '
        f'transform="rotate(-90 16 {_n(cy)})">{escape(title)}</text>'
    )
    return "".join(parts)


def line_series(
    xscale: Scale,
    yscale: Scale,
    xs: Sequence[float],
    ys: Sequence[float | None],
    color: str,
    label: str,
    dash: str = "",
    width: float = 2.0,
) -> str:
    """A polyline through (x, y) points; a None y breaks the line. Isolated points get a dot."""
    segments: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=False):
        if y is None or not math.isfinite(y):
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append((xscale(x), yscale(y)))
    commands: list[str] = []
    dots: list[str] = []
    for seg in segments:
        if len(seg) == 1:
            px, py = seg[0]
            dots.append(f'<circle cx="{_n(px)}" cy="{_n(py)}" r="{_n(width + 1)}" fill="{color}"/>')
        elif seg:
            commands.append("M" + " L".join(f"{_n(px)},{_n(py)}" for px, py in seg))
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    path = (
        f'<path class="series" d="{" ".join(commands)}" fill="none" stroke="{color}" '
        f'stroke-width="{_n(width)}" stroke-linejoin="round"{dash_attr}/>'
        if commands
        else ""
    )
    return f'<g class="series-group"><title>{escape(label)}</title>{path}{"".join(dots)}</g>'


@dataclass(frozen=True)
class Band:
    """A shaded window on the x axis (e.g. a fault), with its label."""

    start: float
    end: float
    label: str
    color: str


def fit_label(label: str, x: float, limit: float) -> str:
    """The label, shortened with an ellipsis if it would run past pixel `limit` when drawn at x."""
    room = max(int((limit - x) / CHAR_PX), 4)
    return label if len(label) <= room else label[: room - 1] + "…"


def band_label_rows(bands: Sequence[Band], scale: Scale, limit: float) -> list[int]:
    """Assign each band's label a row so that labels in one row do not overlap (clipped at `limit`)."""
    row_ends: list[float] = []
    rows: list[int] = []
    for band in bands:
        x0 = scale(band.start)
        width = len(fit_label(band.label, x0 + 3, limit)) * CHAR_PX + 8
        for row, end in enumerate(row_ends):
            if x0 >= end:
                row_ends[row] = x0 + width
                rows.append(row)
                break
        else:
            row_ends.append(x0 + width)
            rows.append(len(row_ends) - 1)
    return rows


def bands(frame: Frame, scale: Scale, items: Sequence[Band], label_rows: Sequence[int]) -> str:
    """Shaded rectangles over the plot height, each labelled above the plot in its row."""
    parts: list[str] = []
    for band, row in zip(items, label_rows, strict=True):
        x0 = max(scale(band.start), frame.left)
        x1 = min(max(scale(band.end), x0 + 2), frame.right)
        label_y = frame.top - 6 - row * (FONT_PX + 4)
        shown = fit_label(band.label, x0 + 3, frame.width - 6)
        parts.append(
            f'<g class="band"><title>{escape(band.label)}</title>'
            f'<rect x="{_n(x0)}" y="{_n(frame.top)}" width="{_n(x1 - x0)}" '
            f'height="{_n(frame.bottom - frame.top)}" fill="{band.color}" fill-opacity="0.16" '
            f'stroke="{band.color}" stroke-opacity="0.6" stroke-dasharray="3 3"/>'
            f'<line x1="{_n(x0)}" y1="{_n(label_y + 3)}" x2="{_n(x0)}" y2="{_n(frame.top)}" '
            f'stroke="{band.color}"/>'
            f'<text x="{_n(x0 + 3)}" y="{_n(label_y)}" font-size="{FONT_PX}" class="band-label" '
            f'fill="{band.color}">{escape(shown)}</text></g>'
        )
    return "".join(parts)


def legend(x: float, y: float, items: Sequence[tuple[str, str, str]]) -> str:
    """A vertical legend of (label, colour, dash) entries starting at (x, y)."""
    parts = ['<g class="legend">']
    for i, (label, color, dash) in enumerate(items):
        row_y = y + i * 20
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{_n(x)}" y1="{_n(row_y)}" x2="{_n(x + 22)}" y2="{_n(row_y)}" stroke="{color}" '
            f'stroke-width="3"{dash_attr}/>'
        )
        parts.append(text(x + 28, row_y + 4, label))
    parts.append("</g>")
    return "".join(parts)


def lane_markers(
    xscale: Scale, y: float, points: Sequence[tuple[float, str]], color: str, shape: str = "circle"
) -> str:
    """Markers at (x, tooltip) positions along one horizontal lane at pixel height y."""
    parts: list[str] = []
    for x_value, tooltip in points:
        px = xscale(x_value)
        if shape == "diamond":
            mark = (
                f'<path d="M{_n(px)},{_n(y - 6)} L{_n(px + 6)},{_n(y)} L{_n(px)},{_n(y + 6)} '
                f'L{_n(px - 6)},{_n(y)} Z" fill="{color}" stroke="#fff"/>'
            )
        else:
            mark = f'<circle cx="{_n(px)}" cy="{_n(y)}" r="5" fill="{color}" stroke="#fff"/>'
        parts.append(f'<g class="marker"><title>{escape(tooltip)}</title>{mark}</g>')
    return "".join(parts)


def chart(kind: str, title: str, width: float, height: float, body: str) -> str:
    """Wrap a chart body in an <svg> carrying data-chart=kind and an accessible <title>."""
    return (
        f'<svg class="chart" data-chart="{escape(kind)}" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'width="{_n(width)}" height="{_n(height)}" role="img" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>{body}</svg>'
    )
