"""Locust load for the feed's downstream side: WebSocket subscribers, book reads, and the knee shape.

Run by ``tickstorm load`` (which starts the venue and the feed as processes and passes their URLs), or by
hand against a running venue and feed (docs/load.md)::

    locust -f harness/load/locustfile.py --headless --feed-ws ws://127.0.0.1:PORT \\
        --feed-http http://127.0.0.1:PORT --venue-control http://127.0.0.1:PORT --plan 1x50,1x200,5x200

Every option also reads a ``TICKSTORM_LOAD_*`` environment variable, and the master hands its values to
its workers, so the same file runs with ``--processes N`` or with workers on other machines.
Latency figures come from the feed's own histograms (read by :class:`KneeShape`), not from Locust: the
``response_time`` Locust records for a received message is the subscriber's view (venue event time to
receipt, millisecond resolution), kept for orientation only.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import gevent
from locust import LoadTestShape, User, between, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from websocket import WebSocketException

from harness.load.client import FeedClient, Frame, HistoryWriter
from harness.load.probe import FeedProbe
from harness.load.shape import Done, Knee, Measurement, Next, Step, Verdict, decide, judge, parse_plan
from harness.sla import load_sla

_user_numbers = itertools.count(1)


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    def add(name: str, env: str, **kwargs: Any) -> None:
        parser.add_argument(name, env_var=f"TICKSTORM_LOAD_{env}", **kwargs)

    add("--feed-ws", "FEED_WS", default="", help="the feed's downstream WebSocket URL")
    add("--feed-http", "FEED_HTTP", default="", help="the feed's downstream HTTP API base URL")
    add("--venue-control", "VENUE_CONTROL", default="", help="the venue's control API (replay speed)")
    add("--feed-symbols", "SYMBOLS", default="btcusdt", help="symbols subscribers pick from (round robin)")
    add("--feed-channels", "CHANNELS", default="book,trade", help="channels each subscriber subscribes")
    add("--history-dir", "HISTORY_DIR", default="", help="write per-subscriber histories here (join)")
    add("--plan", "PLAN", default="1x10", help="steps SPEEDxSUBSCRIBERS, comma-separated")
    add("--step-s", "STEP_S", type=float, default=20.0, help="measured seconds per step")
    add("--warmup-s", "WARMUP_S", type=float, default=5.0, help="unmeasured seconds after a step starts")
    add("--spawn-rate-per-s", "SPAWN_RATE", type=float, default=100.0, help="subscribers started per second")
    add("--steps-out", "STEPS_OUT", default="", help="the master writes each step's measurements here")
    add("--sla-file", "SLA_FILE", default="", help="SLA TOML (default harness/sla.toml)")
    add("--allow-drops", "ALLOW_DROPS", type=int, default=0, help="1: subscriber drops alone are no knee")
    add("--slow-subscribers", "SLOW", type=int, default=0, help="subscribers that read once per second")
    add("--task-interval-s", "TASK_INTERVAL_S", type=float, default=10.0, help="seconds between tasks")
    add("--churn", "CHURN", type=int, default=0, help="1: tasks also unsubscribe/resubscribe a channel")
    add("--quiet-s", "QUIET_S", type=float, default=3.0, help="venue stalled this long before users stop")


def _opts(env: Environment) -> Any:
    assert env.parsed_options is not None, "run through the locust command line"
    return env.parsed_options


class Subscriber(User):
    """A downstream consumer: subscribes, reads every message, reads books over HTTP now and then."""

    abstract = False
    slow = False

    def wait_time(self) -> float:
        """Seconds between tasks: ``--task-interval-s`` +-50 %."""
        return float(between(self.interval_s * 0.5, self.interval_s * 1.5)(self))

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        o = _opts(environment)
        self.interval_s = max(float(o.task_interval_s), 0.1)
        self.number = next(_user_numbers)
        symbols = [s for s in o.feed_symbols.split(",") if s]
        self.symbol = symbols[self.number % len(symbols)]
        self.channels = [c for c in o.feed_channels.split(",") if c]
        self.client: FeedClient | None = None
        self.reader: gevent.Greenlet | None = None
        self.stopping = False
        self.http = FastHttpSession(o.feed_http, environment.events.request, self) if o.feed_http else None

    def on_start(self) -> None:
        o = _opts(self.environment)
        history = None
        if o.history_dir:
            kind = "slow" if self.slow else "sub"
            history = HistoryWriter(Path(o.history_dir) / f"{kind}-{os.getpid()}-{self.number}.hist")
        self.client = FeedClient(o.feed_ws, history=history, recv_buffer_bytes=8192 if self.slow else None)
        started = time.perf_counter()
        try:
            self.client.connect()
        except (OSError, WebSocketException) as exc:
            self._fire("WS", "connect", started, 0, exc)
            raise
        self._fire("WS", "connect", started, 0, None)
        self.client.request("subscribe", self.symbol, self.channels)
        self.reader = gevent.spawn(self._read_loop)

    def on_stop(self) -> None:
        self.stopping = True
        if self.reader is not None:
            self.reader.kill(block=False)
        if self.client is not None:
            if self.slow:
                self._catch_up()
            self.client.close()

    def _catch_up(self, limit_s: float = 3.0) -> None:
        """A slow subscriber reads what is still buffered before it leaves (gap events included)."""
        assert self.client is not None and self.client.ws is not None
        self.client.ws.settimeout(0.5)
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                self._report(self.client.read())
            except (OSError, WebSocketException):
                return

    def _fire(self, kind: str, name: str, started: float, length: int, exc: BaseException | None) -> None:
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=exc,
            context={},
        )

    def _read_loop(self) -> None:
        assert self.client is not None
        while not self.stopping:
            if self.slow:
                gevent.sleep(1.0)
            try:
                frame = self.client.read()
            except (OSError, WebSocketException) as exc:
                if not self.stopping:
                    self._fire("WS", "recv", time.perf_counter(), 0, exc)
                return
            self._report(frame)

    def _report(self, frame: Frame) -> None:
        """One Locust request event per channel in the message (response time: event time -> receipt)."""
        worst: dict[str, float] = {}
        for msg in frame.messages:
            kind = msg.get("type")
            if kind == "gap":
                detail = msg.get("detail") or {}
                self.environment.events.request.fire(
                    request_type="WS",
                    name=f"gap ({detail.get('reason', '?')})",
                    response_time=0,
                    response_length=0,
                    exception=RuntimeError(f"{detail.get('count')} events lost"),
                    context={},
                )
                continue
            channel = msg.get("channel")
            if kind != "market" or not channel:
                continue
            exchange_ns = msg.get("exchange_ns")
            lag = max(frame.received_wall_s * 1000 - exchange_ns / 1e6, 0.0) if exchange_ns else 0.0
            worst[channel] = max(worst.get(channel, 0.0), lag)
        for channel, lag in worst.items():
            self.environment.events.request.fire(
                request_type="WS",
                name=f"recv {channel}",
                response_time=lag,
                response_length=frame.nbytes,
                exception=None,
                context={},
            )

    @task(3)
    def read_book(self) -> None:
        """GET /book/{symbol} (top 20 levels)."""
        if self.http is not None and "book" in self.channels:
            self.http.get(f"/book/{self.symbol}?depth=20", name="/book/[symbol]")

    @task(1)
    def churn(self) -> None:
        """Unsubscribe and resubscribe the last channel (with ``--churn 1``)."""
        if not _opts(self.environment).churn or self.client is None or not self.channels:
            return
        started = time.perf_counter()
        self.client.request("unsubscribe", self.symbol, self.channels[-1:])
        self.client.request("subscribe", self.symbol, self.channels[-1:])
        self._fire("WS", "resubscribe", started, 0, None)


class SlowSubscriber(Subscriber):
    """A subscriber that reads one message per second (tiny receive buffer): the slow-consumer case."""

    slow = True
    fixed_count = 0


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    if environment.parsed_options is not None:
        SlowSubscriber.fixed_count = int(environment.parsed_options.slow_subscribers)


class KneeShape(LoadTestShape):
    """Steps of (replay speed, subscribers) from ``--plan``, judged on the feed's own metrics.

    Each step sets the venue's replay speed (control API), waits until its subscribers are connected
    and ``--warmup-s`` has passed, measures for ``--step-s`` seconds and judges the step against the
    SLA level of its speed; the run stops at the knee (the first step beyond SLA) or after the last step.
    """

    def __init__(self) -> None:
        super().__init__()
        self._plan: list[Step] = []
        self._verdicts: list[Verdict] = []
        self._step: Step | None = None
        self._step_started = 0.0
        self._window: tuple[float, Any] | None = None
        self._probe: FeedProbe | None = None
        self._finished = False
        self._started_at: float | None = None
        self._quiet_until: float | None = None

    def _o(self) -> Any:
        assert self.runner is not None
        return _opts(self.runner.environment)

    def _write(self, record: dict[str, Any]) -> None:
        out = self._o().steps_out
        if out:
            with Path(out).open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    def _control(self, path: str, body: dict[str, Any]) -> None:
        """POST to the venue's control API (loopback)."""
        o = self._o()
        if o.venue_control:
            request = urllib.request.Request(
                f"{o.venue_control}{path}",
                data=json.dumps(body).encode(),
                method="POST",
                headers={"content-type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()

    def _start(self, step: Step) -> None:
        self._control("/replay/speed", {"speed": step.speed})
        self._step, self._step_started, self._window = step, time.time(), None
        self._write(
            {
                "kind": "step_start",
                "step": step.index,
                "speed": step.speed,
                "users": step.users,
                "t": time.time(),
            }
        )

    def _classes(self) -> list[type[User]]:
        return [Subscriber, SlowSubscriber] if SlowSubscriber.fixed_count else [Subscriber]

    def tick(self) -> tuple[int, float, list[type[User]] | None] | None:
        """Called every second by the master."""
        if self._finished:
            return None
        o = self._o()
        if not self._plan:
            self._started_at = time.time()
            self._plan = parse_plan(o.plan)
            self._probe = FeedProbe(o.feed_http)
            self._sla = load_sla(Path(o.sla_file) if o.sla_file else None)
            self._start(self._plan[0])
        assert self._step is not None and self._probe is not None
        step = self._step
        slow = SlowSubscriber.fixed_count
        target = step.users + slow
        now = time.time()
        run_time = getattr(o, "run_time", None)  # Locust leaves --run-time to the shape: honour it here
        elapsed = now - (self._started_at or now)
        if run_time and self._quiet_until is None and elapsed >= float(run_time):
            self.stopped_early(f"--run-time {float(run_time):g} s reached before the plan ended")
            self._finished = True
            return None
        if self._quiet_until is not None:
            pass
        elif self._window is None:
            settled = self.get_current_user_count() >= target or now - self._step_started > 60
            if settled and now - self._step_started >= o.warmup_s:
                self._window = (now, self._probe.scrape())
        elif now - self._window[0] >= o.step_s:
            measurement = self._probe.measure(step, self._window[1], self._window[0], slow_subscribers=slow)
            verdict = judge(measurement, self._sla, allow_drops=bool(o.allow_drops))
            self._verdicts.append(verdict)
            self._write(_step_record(measurement, verdict))
            decision = decide(self._plan, self._verdicts)
            if isinstance(decision, Next):
                self._start(decision.step)
                step = decision.step
            else:
                # Stall the venue and keep the subscribers a little longer: everything the feed delivered
                # reaches them before they stop, so the history join can hold them to the very end.
                self._write(_end_record(decision))
                self._control("/replay/stall", {"duration_s": float(o.quiet_s) + 60})
                self._quiet_until = now + float(o.quiet_s)
        if self._quiet_until is not None and now >= self._quiet_until:
            self._finished = True
            return None
        return step.users + slow, float(o.spawn_rate_per_s), self._classes()

    def stopped_early(self, reason: str) -> None:
        """Locust stopped the test: unless the plan had ended, record the step it stopped in, and why."""
        if self._finished or self._quiet_until is not None or self._step is None:
            return
        step = self._step
        self._write(
            {
                "kind": "aborted",
                "step": {"index": step.index, "speed": step.speed, "users": step.users},
                "reason": reason,
                "t": time.time(),
            }
        )


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    """Record why a run stopped before its plan ended (the shape writes no end record then)."""
    from locust.runners import MasterRunner, WorkerRunner

    runner, shape = environment.runner, environment.shape_class
    if isinstance(runner, WorkerRunner) or not isinstance(shape, KneeShape):
        return
    reason = "Locust stopped the test before the plan ended"
    if isinstance(runner, MasterRunner) and runner.worker_count <= 0:
        reason = (
            "Locust stopped the test: its workers stopped answering heartbeats (the load generators were "
            "saturated reading the subscribers' messages)"
        )
    shape.stopped_early(reason)


def _step_record(m: Measurement, v: Verdict) -> dict[str, Any]:
    return {"kind": "step", **m.to_dict(), "sla_p99_ms": v.sla_p99_ms, "ok": v.ok, "reasons": list(v.reasons)}


def _end_record(decision: Knee | Done) -> dict[str, Any]:
    def step(s: Step | None) -> dict[str, Any] | None:
        return None if s is None else {"index": s.index, "speed": s.speed, "users": s.users}

    if isinstance(decision, Knee):
        return {
            "kind": "end",
            "knee": True,
            "last_good": step(decision.last_good),
            "first_bad": step(decision.first_bad),
            "reasons": list(decision.reasons),
        }
    return {"kind": "end", "knee": False, "last_good": step(decision.last_good), "reasons": []}
