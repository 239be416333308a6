"""The self-contained HTML report: structure, escaping, no network references, and a headless render."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from reports import svg
from reports.html import nines, render_html
from tests.reports.sample_report import (
    HOSTILE_NAME,
    SPIKE_FAULT,
    build_hostile_report,
    build_minimal_report,
    build_sample_report,
)

CHART_KINDS = ("latency", "rate", "rss", "spectrum", "events")
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (Debian: apt-get install -y chromium)"
)


def chart_counts(html: str) -> dict[str, int]:
    return {kind: html.count(f'data-chart="{kind}"') for kind in CHART_KINDS}


def svg_block(html: str, kind: str, nth: int = 0) -> str:
    """The nth <svg> element with data-chart=kind."""
    blocks = re.findall(rf'<svg[^>]*data-chart="{kind}".*?</svg>', html, flags=re.S)
    return blocks[nth]


def test_every_chart_kind_per_scenario() -> None:
    html = render_html(build_sample_report())
    assert chart_counts(html) == dict.fromkeys(CHART_KINDS, 2)
    assert html.count("<svg") == 10
    for kind in CHART_KINDS:
        assert "<title>" in svg_block(html, kind)


def test_fault_windows_are_shaded_and_labelled() -> None:
    html = render_html(build_sample_report())
    spike_latency = svg_block(html, "latency", 1)
    assert SPIKE_FAULT in spike_latency
    assert 'class="band"' in spike_latency
    for kind in ("rate", "rss", "events"):
        assert SPIKE_FAULT in svg_block(html, kind, 1)
    # a fault without an end lasts to the end of the run and says so
    assert "proxy:bandwidth (to end)" in svg_block(html, "latency", 0)


def test_latency_chart_shows_the_spike_and_breaks_on_nulls() -> None:
    html = render_html(build_sample_report())
    steady = svg_block(html, "latency", 0)
    paths = re.findall(r'<path class="series" d="([^"]+)"', steady)
    assert len(paths) == 4
    # interval 17 has no samples: every series is split into two segments there
    assert all(d.count("M") == 2 for d in paths)
    spike = svg_block(html, "latency", 1)
    assert re.search(r"<text[^>]*>50</text>", spike), "a 50 ms tick on the log axis"
    assert "p99.9" in spike and "max" in spike


def test_summary_failures_rerun_and_comparison() -> None:
    html = render_html(build_sample_report())
    assert "Suite summary" in html
    assert "55.0 ms" in html and "4,950 msg/s" in html
    assert html.count("<details>") >= 2  # two failed checks with collapsible evidence (+ libraries)
    assert "&quot;limit_ms&quot;: 25.0" in html
    assert "tickstorm run scenarios/ws_latency_spike.py --seed 1" in html
    assert html.count("<tr class=regressed>") == 1
    assert "REGRESSED" in html
    # the passing scenario's rerun is not listed among the failures
    failures = html[html.index('id="failures"') : html.index('id="comparison"')]
    assert "steady_state.py" not in failures


def test_rss_lines_and_legend_per_process() -> None:
    rss = svg_block(render_html(build_sample_report()), "rss", 0)
    assert rss.count('<path class="series"') == 3
    for name in ("feed", "venue", "proxy"):
        assert f">{name}</text>" in rss


def test_spectrum_uses_nines_scale() -> None:
    spectrum = svg_block(render_html(build_sample_report()), "spectrum", 0)
    for label in ("50%", "90%", "99%", "99.9%", "99.99%", "100% (max)"):
        assert f">{label}</text>" in spectrum
    assert nines(99.9) == pytest.approx(3.0)


def test_hostile_strings_are_escaped() -> None:
    html = render_html(build_hostile_report())
    assert HOSTILE_NAME not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    for raw in ("<img", "<iframe", "<svg onload", "<b onmouseover", "</pre><script"):
        assert raw not in html
    assert "onerror=alert(2)" in html  # present, but only as escaped text
    assert re.search(r"<[a-z]+[^>]*\son(load|error|mouseover)=", html) is None


def test_no_network_references() -> None:
    html = render_html(build_sample_report())
    assert "http://" not in html and "https://" not in html
    assert "@import" not in html and "url(" not in html
    for target in re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", html):
        assert target.startswith("#"), target


def test_missing_optional_parts_render() -> None:
    html = render_html(build_minimal_report())
    assert "stack failed to start" in html
    assert "RSS not measured (in-process run)" in html
    assert "no per-interval data recorded" in html
    assert "no latency spectrum recorded" in html
    counts = chart_counts(html)
    assert counts["events"] == 2  # the lane is always drawn; it says "no events" when empty
    assert counts["rate"] == 1  # only the in-process scenario has a delivered series
    assert counts["latency"] == 0 and counts["rss"] == 0 and counts["spectrum"] == 0
    assert "ws:drop (to end)" in html


def test_degenerate_reports_do_not_crash() -> None:
    for report in ({}, {"scenarios": None}, {"scenarios": [None, {}]}, {"scenarios": [{"intervals": {}}]}):
        assert render_html(report).startswith("<!DOCTYPE html>")


# --- headless Chromium ---------------------------------------------------------------------------------


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def png_rows(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the filtered scanlines of an 8-bit, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and header[12] == 0
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    raw = zlib.decompress(idat)
    stride = 1 + width * channels
    assert len(raw) == stride * height
    return width, height, [raw[i * stride : (i + 1) * stride] for i in range(height)]


@needs_chromium
def test_chromium_renders_the_svg_charts(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(build_sample_report()), encoding="utf-8")
    result = run_chromium(tmp_path, "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert chart_counts(dom) == dict.fromkeys(CHART_KINDS, 2)
    latency = svg_block(dom, "latency", 1)
    assert re.search(r'<path class="series" d="M[\d.]+,[\d.]+ L', latency)
    assert 'class="band"' in latency and SPIKE_FAULT in latency


@needs_chromium
def test_chromium_screenshot_is_not_blank(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(build_sample_report()), encoding="utf-8")
    shot = tmp_path / "report.png"
    result = run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1300,2400", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 20_000
    width, height, rows = png_rows(shot.read_bytes())
    assert (width, height) == (1300, 2400)
    # a single-colour image filters down to a handful of distinct scanlines; a report has hundreds
    assert len(set(rows)) > 300


def test_overlapping_fault_labels_get_separate_rows() -> None:
    scale = svg.Scale(0.0, 10.0, 100.0, 1000.0)
    items = [
        svg.Band(2.0, 4.0, "ws:latency_downstream", "#000"),
        svg.Band(2.3, 2.6, "proxy:slow_close", "#000"),
        svg.Band(6.0, 7.0, "ws:disconnect", "#000"),
    ]
    assert svg.band_label_rows(items, scale, 1100.0) == [0, 1, 0]
    assert svg.fit_label("x" * 200, 1000.0, 1100.0).endswith("…")
