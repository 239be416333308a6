"""A real Prometheus scrapes a live feed during chaos: the alert rules fire and resolve when they should.

One in-process stack (mock venue → Toxiproxy-API proxy → feed serving /metrics on loopback) and one
Prometheus process (scrape every 0.5 s, rules evaluated every second, rules generated from the SLA config
with short windows and ``for`` durations) serve the whole module. Prometheus's API is called from a thread
so the event loop that runs the venue and the feed never blocks. Every PromQL expression of the committed
alert rules and dashboard is also run through this Prometheus.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness.scenario import Scenario, clear, toxic, venue_fault
from harness.stack import Stack
from observability import PACKAGE_DIR
from observability import names as n
from observability.dashboard import queries
from observability.promconfig import prometheus_config
from observability.promql import metric_names, without_grafana_variables
from observability.render import to_yaml
from observability.rules import RuleSettings, rules_document
from observability.server import PrometheusServer

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(90), pytest.mark.slow]

SILENT = ("BTCUSDT", "btcusdt@bookTicker")  # (symbol, stream) labels of the stream the fault silences
STALE_FLOOR_S = 1.5  # above the recording's longest quiet spell of the other streams (~1.1 s of trades)
SILENCE_S = 9.0
LATENCY_MS = 300  # six times the SLA p99
WAIT_S = 20.0


@dataclass
class Observed:
    stack: Stack
    prometheus: PrometheusServer
    feed_port: int

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def alerts(self, name: str, state: str | None = None) -> list[dict[str, Any]]:
        found = await self.call(self.prometheus.alerts)
        return [a for a in found if a["labels"]["alertname"] == name and state in (None, a["state"])]

    async def wait(self, what: str, check: Callable[[], Any], timeout_s: float = WAIT_S) -> Any:
        """Poll the async ``check`` until it returns something truthy; fail with Prometheus's view."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.25)
        active = await self.call(self.prometheus.alerts)
        pytest.fail(f"{what}: not within {timeout_s} s; active alerts: {json.dumps(active)[:2000]}")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def observed(tmp_path_factory: pytest.TempPathFactory, prometheus: str) -> AsyncIterator[Observed]:
    from harness.sla import load_sla

    workdir = tmp_path_factory.mktemp("observed")
    scenario = Scenario(
        name="observability",
        description="recorded BTCUSDT at recorded speed, metrics served for Prometheus",
        speed=1.0,
        duration_s=120.0,
        streams=["trade", "depth@100ms", "bookTicker"],
        feed={"metrics_port": 0, "stale_floor_s": STALE_FLOOR_S},
    )
    settings = RuleSettings.from_sla(load_sla(), latency_window="5s", latency_for="1s", stale_for="1s")
    stack = Stack(scenario, seed=7, workdir=workdir / "stack")
    async with stack:
        stack.venue.start_replay()
        port = stack.feed.metrics_port
        assert port is not None
        config = prometheus_config(
            [f"127.0.0.1:{port}"],
            scrape_interval="500ms",
            evaluation_interval="1s",
            rule_files=["alerts.yml"],
        )
        rules = {"alerts.yml": to_yaml(rules_document(settings), "test settings")}
        server = PrometheusServer(workdir / "prometheus", config, rules, binary=prometheus)
        await asyncio.to_thread(server.start)
        try:
            observed = Observed(stack, server, port)

            async def scraped() -> bool:
                result = await observed.call(
                    server.query, f'{n.STREAM_STALE}{{symbol="{SILENT[0]}", stream="{SILENT[1]}"}}'
                )
                return bool(result)

            await observed.wait("the first scrape of the feed", scraped)
            yield observed
        finally:
            await asyncio.to_thread(server.stop)


def exposition_names(text: str) -> set[str]:
    """Every series name an exposition's families can produce (childless labelled families included)."""
    names = set()
    for family in text_string_to_metric_families(text):
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_sum", "_count")}
        else:
            names.add(family.name)
    return names


async def test_live_feed_exports_exactly_the_documented_families(
    observed: Observed, documented_metrics: dict[str, tuple[str, frozenset[str]]]
) -> None:
    text = await observed.call(fetch_metrics, observed.feed_port)
    families = set()
    for family in text_string_to_metric_families(text):
        families.add(family.name + "_total" if family.type == "counter" else family.name)
    assert families == set(documented_metrics)


def fetch_metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


async def test_every_alert_and_dashboard_query_runs_on_prometheus_over_exported_metrics(
    observed: Observed,
) -> None:
    exported = exposition_names(await observed.call(fetch_metrics, observed.feed_port))
    allowed = exported | {"up", "ALERTS"}
    rules = yaml.safe_load((PACKAGE_DIR / n.ALERTS_FILE).read_text())["groups"][0]["rules"]
    dashboard = json.loads((PACKAGE_DIR / n.DASHBOARD_FILE).read_text())
    expressions = [(r["alert"], r["expr"]) for r in rules] + list(queries(dashboard))
    assert len(expressions) >= 40
    for where, expr in expressions:
        promql = without_grafana_variables(expr)
        assert "$" not in promql, f"{where}: unknown Grafana variable in {expr}"
        await observed.call(observed.prometheus.query, promql)  # raises on a rejected expression
        names = metric_names(promql)
        assert names, f"{where}: reads no metric? {expr}"
        assert names <= allowed, f"{where}: {sorted(names - allowed)} not exported by the feed"
    # and the feed's own series are in Prometheus: a per-stream gauge for every configured stream
    stale = await observed.call(observed.prometheus.query, f"{n.STREAM_STALE}{{job='{n.JOB}'}}")
    streams = {(s["metric"]["venue"], s["metric"]["stream"]) for s in stale}
    feed_venues = observed.stack.feed.venues.items()
    assert streams == {(name, stream) for name, venue in feed_venues for stream in venue.engine.streams}


async def test_silent_stream_fires_the_stale_alert_and_it_resolves(observed: Observed) -> None:
    name = "TickstormFeedStreamStale"
    assert await observed.alerts(name) == [], "a stream was stale before the fault"
    started = time.monotonic()
    await venue_fault("silence", SILENT[1], duration_s=SILENCE_S).run(observed.stack)

    async def firing() -> list[dict[str, Any]]:
        return await observed.alerts(name, "firing")

    alerts = await observed.wait(f"{name} firing", firing)
    fired_after = time.monotonic() - started
    assert fired_after < SILENCE_S, "the alert fired only after the stream was back"
    streams = [(a["labels"]["symbol"], a["labels"]["stream"]) for a in alerts]
    assert SILENT in streams
    assert ("BTCUSDT", "btcusdt@depth@100ms") not in streams  # 10 updates a second on the same connection
    alert = alerts[streams.index(SILENT)]
    assert alert["labels"]["venue"] == "binance-spot"
    assert alert["labels"]["severity"] == "warning" and alert["labels"]["instance"].endswith(
        f":{observed.feed_port}"
    )
    assert alert["annotations"]["runbook_url"].endswith("#tickstormfeedstreamstale")

    async def resolved() -> bool:
        return await observed.alerts(name) == []

    await observed.wait(f"{name} resolved", resolved, timeout_s=SILENCE_S + WAIT_S)
    resolved_after = time.monotonic() - started
    assert resolved_after >= SILENCE_S, "resolved while the stream was still silent"
    print(
        f"stale alert: firing {fired_after:.1f} s into a {SILENCE_S:g} s silence, "
        f"resolved at {resolved_after:.1f} s"
    )


async def test_latency_toxic_fires_the_latency_alert(observed: Observed) -> None:
    name = "TickstormFeedLatencyHigh"

    async def inactive() -> bool:
        return await observed.alerts(name) == []

    # precondition, not the point of the test: a loaded machine may briefly exceed the SLA by itself
    await observed.wait(f"{name} inactive before the fault", inactive)
    await toxic("ws", "latency", latency=LATENCY_MS).run(observed.stack)
    started = time.monotonic()
    try:

        async def firing() -> list[dict[str, Any]]:
            return await observed.alerts(name, "firing")

        alerts = await observed.wait(f"{name} firing", firing)
        assert len(alerts) == 1 and alerts[0]["labels"]["severity"] == "warning"
        assert float(alerts[0]["value"]) > LATENCY_MS / 1000 * 0.9  # the p99 the rule saw, in seconds
        print(f"latency alert: firing {time.monotonic() - started:.1f} s after the toxic")
    finally:
        await clear("ws").run(observed.stack)
