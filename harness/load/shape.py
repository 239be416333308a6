"""The load plan and its step logic, pure: from what each step measured, the next step or the knee.

A plan is a list of steps, each a replay speed and a number of subscribers. :func:`ramp` builds the usual
one: subscribers ramp up at the first speed, then the speed ramps with the most subscribers. After each
step :func:`judge` compares the measurements with the SLA level for the step's replay speed, and
:func:`decide` returns the next step, or the knee (the last step within SLA and the first one beyond it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.sla import SLAConfig

P99 = 0.99


@dataclass(frozen=True)
class Step:
    """One load level."""

    index: int
    speed: float
    users: int

    def label(self) -> str:
        """``x5 / 200 subscribers``."""
        return f"x{self.speed:g} / {self.users} subscribers"


@dataclass
class Measurement:
    """What one step measured (from the feed's own metrics, differences over the step's window)."""

    step: Step
    window_s: float
    p99_ms: float | None
    """Feed p99, venue intended send time -> written to a subscriber's socket (downstream histogram)."""
    within_sla: float | None
    """Share of those latencies within the step's SLA p99 bound (exact: the bound is a bucket edge)."""
    ingest_p99_ms: float | None
    """Feed p99, venue event time -> received by the feed (the feed's own ingest histogram)."""
    feed_events_per_s: float
    delivered_per_s: float
    """Events written to subscribers per second (all subscribers)."""
    drops: int
    """Events dropped by subscriber queues during the step."""
    disconnects: int
    subscribers: int
    """Consumers connected at the end of the step."""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    """A judged step: within SLA or the reasons it is not."""

    measurement: Measurement
    sla_p99_ms: float
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """No reason to call this step beyond the knee."""
        return not self.reasons


@dataclass(frozen=True)
class Next:
    """Run this step next."""

    step: Step


@dataclass(frozen=True)
class Knee:
    """The knee: the last step within SLA (None if the first one already broke) and the first beyond."""

    last_good: Step | None
    first_bad: Step
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Done:
    """Every step of the plan stayed within SLA: no knee inside the plan."""

    last_good: Step | None


Decision = Next | Knee | Done


def ramp(users: Sequence[int], speeds: Sequence[float]) -> list[Step]:
    """Subscribers ramp at ``speeds[0]``, then the speed ramps with ``users[-1]`` subscribers."""
    if not users or not speeds:
        raise ValueError("a plan needs at least one user count and one speed")
    if any(u < 1 for u in users) or any(s <= 0 for s in speeds):
        raise ValueError("user counts must be >= 1 and speeds > 0")
    pairs = [(speeds[0], u) for u in users] + [(s, users[-1]) for s in speeds[1:]]
    return [Step(i, s, u) for i, (s, u) in enumerate(pairs)]


def parse_plan(text: str) -> list[Step]:
    """``"1x50,1x200,5x200"`` (speed x subscribers, comma-separated) -> steps."""
    steps = []
    for i, part in enumerate(p.strip() for p in text.split(",") if p.strip()):
        speed_text, sep, users_text = part.partition("x")
        try:
            speed, users = float(speed_text), int(users_text)
        except ValueError:
            raise ValueError(f"step {part!r} is not SPEEDxSUBSCRIBERS, e.g. 5x200") from None
        if not sep or speed <= 0 or users < 1:
            raise ValueError(f"step {part!r}: speed must be > 0 and subscribers >= 1")
        steps.append(Step(i, speed, users))
    if not steps:
        raise ValueError("the plan has no steps")
    return steps


def judge(m: Measurement, sla: SLAConfig, *, allow_drops: bool = False) -> Verdict:
    """Compare one step with the SLA level of its replay speed."""
    bound = sla.level_for(m.step.speed).p99_ms
    if bound is None:
        raise ValueError(f"SLA level for speed {m.step.speed} has no p99_ms")
    reasons: list[str] = []
    if m.within_sla is None:
        reasons.append("no latency observed (nothing delivered)")
    elif m.within_sla < P99:
        p99 = f"{m.p99_ms:.1f}" if m.p99_ms is not None else "?"
        reasons.append(
            f"p99 {p99} ms > SLA {bound:g} ms ({100 * (1 - m.within_sla):.2f}% of events over {bound:g} ms)"
        )
    if m.drops and not allow_drops:
        reasons.append(f"{m.drops} events dropped by subscriber queues")
    if m.disconnects:
        reasons.append(f"{m.disconnects} subscribers disconnected as slow")
    if m.subscribers < m.step.users:
        reasons.append(f"only {m.subscribers}/{m.step.users} subscribers connected")
    return Verdict(m, bound, tuple(reasons))


def decide(plan: Sequence[Step], verdicts: Sequence[Verdict]) -> Decision:
    """The next step, or the knee once a step broke the SLA, or Done at the end of the plan."""
    last_good: Step | None = None
    for verdict in verdicts:
        if not verdict.ok:
            return Knee(last_good, verdict.measurement.step, verdict.reasons)
        last_good = verdict.measurement.step
    if len(verdicts) < len(plan):
        return Next(plan[len(verdicts)])
    return Done(last_good)
