"""The knee logic: pure functions of measurements and the SLA."""

from __future__ import annotations

import pytest

from harness.load import promtext
from harness.load.shape import Done, Knee, Measurement, Next, Step, decide, judge, parse_plan, ramp
from harness.sla import load_sla

SLA = load_sla()


def measured(
    step: Step, *, within: float | None = 1.0, drops: int = 0, subscribers: int | None = None
) -> Measurement:
    return Measurement(
        step=step,
        window_s=10.0,
        p99_ms=5.0,
        within_sla=within,
        ingest_p99_ms=1.0,
        feed_events_per_s=100.0,
        delivered_per_s=1000.0,
        drops=drops,
        disconnects=0,
        subscribers=step.users if subscribers is None else subscribers,
    )


def test_ramp_users_then_speed() -> None:
    plan = ramp([10, 50], [1, 5, 20])
    assert [(s.speed, s.users) for s in plan] == [(1, 10), (1, 50), (5, 50), (20, 50)]
    assert [s.index for s in plan] == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        ramp([], [1])


def test_parse_plan() -> None:
    assert [(s.speed, s.users) for s in parse_plan("1x50, 2.5x100")] == [(1.0, 50), (2.5, 100)]
    for bad in ("", "1-50", "0x5", "1x0", "fastx5"):
        with pytest.raises(ValueError):
            parse_plan(bad)


def test_next_step_while_within_sla_then_knee() -> None:
    plan = parse_plan("1x10,5x10,20x10")
    ok0 = judge(measured(plan[0]), SLA)
    assert ok0.ok and ok0.sla_p99_ms == SLA.level_for(1).p99_ms
    assert decide(plan, []) == Next(plan[0])
    assert decide(plan, [ok0]) == Next(plan[1])
    bad1 = judge(measured(plan[1], within=0.95), SLA)
    assert not bad1.ok and "p99" in bad1.reasons[0]
    assert decide(plan, [ok0, bad1]) == Knee(plan[0], plan[1], bad1.reasons)


def test_uses_the_sla_level_of_the_step_speed() -> None:
    step = Step(0, 20.0, 10)
    assert judge(measured(step), SLA).sla_p99_ms == SLA.level_for(20.0).p99_ms != SLA.level_for(1.0).p99_ms


def test_drops_missing_subscribers_and_silence_break_the_step() -> None:
    step = Step(0, 1.0, 10)
    assert "dropped" in judge(measured(step, drops=3), SLA).reasons[0]
    assert judge(measured(step, drops=3), SLA, allow_drops=True).ok
    assert "only 7/10" in judge(measured(step, subscribers=7), SLA).reasons[0]
    assert "no latency" in judge(measured(step, within=None), SLA).reasons[0]
    first_bad = judge(measured(step, drops=1), SLA)
    assert decide([step], [first_bad]) == Knee(None, step, first_bad.reasons)


def test_done_when_every_step_passes() -> None:
    plan = parse_plan("1x10,2x10")
    verdicts = [judge(measured(s), SLA) for s in plan]
    assert decide(plan, verdicts) == Done(plan[1])


EXPOSITION = """# TYPE lat_seconds histogram
lat_seconds_bucket{le="0.01"} %d
lat_seconds_bucket{le="0.05"} %d
lat_seconds_bucket{le="0.1"} %d
lat_seconds_bucket{le="+Inf"} %d
lat_seconds_sum %f
lat_seconds_count %d
# TYPE sent_total counter
sent_total %d
"""


def scrape(b1: int, b2: int, b3: int, inf: int, sent: int) -> promtext.Scrape:
    return promtext.parse(EXPOSITION % (b1, b2, b3, inf, 1.0, inf, sent))


def test_histogram_delta_quantile_and_fraction_within() -> None:
    before = scrape(10, 10, 10, 10, 5)
    after = scrape(10 + 900, 10 + 990, 10 + 1000, 10 + 1000, 105)
    delta = after.histogram("lat_seconds").minus(before.histogram("lat_seconds"))
    assert delta.count == 1000
    assert promtext.fraction_within(delta, 0.05) == pytest.approx(0.99)  # exact at a bucket edge
    assert promtext.quantile(delta, 0.99) == pytest.approx(0.05)
    assert promtext.quantile(delta, 0.5) == pytest.approx(0.01 * 500 / 900)
    assert after.value("sent") - before.value("sent") == 100
    assert promtext.quantile(promtext.Histogram(), 0.99) is None
