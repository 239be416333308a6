"""Subscribers: async iterators with bounded buffers; what a slow reader loses is reported, never silent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from feed.buffer import OverflowPolicy
from tests.feedlive.conftest import settle, venue_and_feed

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("policy", [OverflowPolicy.DROP_OLDEST, OverflowPolicy.DROP_NEWEST])
async def test_a_slow_subscriber_gets_a_gap_event_with_the_count(
    tmp_path: Path, policy: OverflowPolicy
) -> None:
    async with venue_and_feed(
        tmp_path, "spot-4sym-2021", ["nknusdt"], ["depth@100ms"], venue={"speed": None}
    ) as (
        venue,
        feed,
        events,
    ):
        slow = feed.subscribe(capacity=10, policy=policy)
        fast = feed.subscribe()
        venue.start_replay()
        await venue.wait_replay_done(20)
        await settle(events)
        slow.close()
        fast.close()
        got = [e async for e in slow]
        everything = [e async for e in fast]
    # The unbounded subscriber saw every event since it subscribed (the callback also saw the connect).
    assert len(everything) > 100 and [e.id for e in everything] == [e.id for e in events[-len(everything) :]]
    gap = got[0]
    assert gap.type == "gap" and gap.detail is not None
    assert gap.detail == {"reason": "subscriber buffer overflow", "count": slow.dropped}
    assert slow.dropped == len(everything) - 10 and len(got) == 11
    kept = [e.id for e in got[1:]]
    expected = everything[-10:] if policy is OverflowPolicy.DROP_OLDEST else everything[:10]
    assert kept == [e.id for e in expected]


async def test_subscriber_reads_live_as_an_async_iterator(tmp_path: Path) -> None:
    async with venue_and_feed(
        tmp_path, "spot-4sym-2021", ["nknusdt"], ["depth@100ms"], venue={"speed": None}
    ) as (
        venue,
        feed,
        _events,
    ):
        sub = feed.subscribe()
        venue.start_replay()
        seen = []
        async for event in sub:
            if event.is_market and event.kind == "depth":
                seen.append(event.id)
            if len(seen) == 150:
                break
        await asyncio.sleep(0)
    assert seen == venue.history.ids("nknusdt@depth@100ms")
