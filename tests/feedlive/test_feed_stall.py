"""A feed whose own process stalls (a long GC pause, a descheduled VM, a loaded CI machine) does not call
its streams stale: silence is measured in time the feed was running, so the venue's backlog is read before
anything is judged (the venue here shares the stalled loop, as in the in-process chaos stack)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.feedlive.conftest import venue_and_feed

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("client", ["picows", "websockets"])
async def test_a_stalled_loop_reports_no_stale_stream(tmp_path: Path, client: str) -> None:
    streams = ["trade", "aggTrade", "depth@100ms"]
    running = venue_and_feed(tmp_path, "spot-btcusdt", ["btcusdt"], streams, feed={"ws_client": client})
    async with running as (venue, feed, events):
        venue.start_replay()
        await asyncio.sleep(2.0)  # every stream past its warm-up: thresholds near the 1 s floor
        thresholds = [feed.venue().engine.staleness.threshold_ns(s) for s in feed.venue().engine.streams]
        assert max(thresholds) < 2.0e9, thresholds
        time.sleep(2.5)  # noqa: ASYNC251  (on purpose: the whole loop stalls, longer than any threshold)
        await asyncio.sleep(1.0)
        stale = [(e.stream, e.recv_ns) for e in events if e.type == "stale"]
        assert stale == []
        assert feed.venue().engine.counters.rejected == {}
