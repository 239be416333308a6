"""RemoteVenue: the control API client with the in-process venue's method names, used by process runs."""

from __future__ import annotations

import pytest

from mock_venues.base.control_client import ControlError, RemoteVenue
from mock_venues.base.rest_faults import RestFaults
from tests.venue.conftest import VenueFactory

pytestmark = pytest.mark.timeout(60)


async def test_calls_reach_the_venue_and_histories_come_back_whole(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, RemoteVenue(venue.control_url) as remote:
        assert (await remote.state())["replay_started"] is False
        await remote.set_speed(50.0)
        assert venue.publisher.clock.speed == 50.0
        rule = await remote.add_fault("drop", stream="nknusdt@trade", count=2)
        assert rule["kind"] == "drop" and len(venue.faults.rules()) == 1
        await remote.set_rest_fault(RestFaults(status=429, count=1, paths=frozenset({"/api/v3/depth"})))
        assert venue.market.faults.status == 429 and venue.market.faults.paths == frozenset({"/api/v3/depth"})
        await remote.clear_faults()
        assert venue.faults.rules() == [] and venue.market.faults.status is None
        await remote.insert_gap("NKNUSDT", 3)
        await remote.start_replay()
        await venue.wait_replay_done(30)
        timeline = await remote.timeline()
        assert len(timeline) == len(venue.timeline) > 0
        assert timeline.ids("nknusdt@depth@100ms") == venue.timeline.ids("nknusdt@depth@100ms") != []
        history = await remote.history()
        assert [e.event for e in history.events] == [e.event for e in venue.history.events]
        names = ["nknusdt@aggTrade", "nknusdt@depth", "nknusdt@depth@100ms", "nopeusdt@trade"]
        streams = await remote.replay_streams(names)
        assert streams == {name: venue.replay_stream_for(name) for name in names}
        assert streams["nknusdt@depth@100ms"] == "nknusdt@depth@100ms" and streams["nopeusdt@trade"] is None
        book = await remote.true_book("NKNUSDT", limit=3)
        assert book == venue.true_book("NKNUSDT", 3)


async def test_refusals_raise_with_the_venues_message(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, RemoteVenue(venue.control_url) as remote:
        with pytest.raises(ControlError, match=r"400 unknown message fault 'explode'"):
            await remote.add_fault("explode", stream="x")
        with pytest.raises(ControlError, match="404"):
            await remote.true_book("NOPE")
    with pytest.raises(RuntimeError, match="outside 'async with'"):
        await RemoteVenue("http://127.0.0.1:9").state()
