"""Acceptance: recordings replay end to end through the venue's WebSocket with the recorded ids, in order.

Every shared recording (when ../shared/recordings is present) at x100, and a bundled capture at x1; the ids a
client receives per stream must be exactly the ids in the file, and the venue history must agree.
"""

from __future__ import annotations

import gzip
from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from mock_venues.binance_spot.tape import venue_id_of
from mock_venues.recordings import bundled, shared_recordings_dir, shared_stream_recordings
from tests.venue.conftest import VenueFactory, collect_until_done, connect

pytestmark = pytest.mark.timeout(180)

ID_STREAM_KINDS = ("@depth", "@trade", "@aggTrade", "@bookTicker")


def recorded_ids(paths: list[Path]) -> dict[str, list[int]]:
    ids: dict[str, list[int]] = defaultdict(list)
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            for line in fh:
                obj = orjson.loads(line)
                stream = obj.get("stream")
                if obj.get("src") != "ws" or not any(k in stream for k in ID_STREAM_KINDS):
                    continue
                data = obj["data"]
                event = data.get("e", "bookTicker")
                ids[client_name(stream)].append(venue_id_of(event, data))
    return ids


def client_name(recorded_stream: str) -> str:
    """Futures recordings carry ``@depth@0ms``; spot clients ask for ``@depth@100ms`` and get those diffs."""
    return recorded_stream.replace("@depth@0ms", "@depth@100ms")


async def replay_and_compare(venue_factory: VenueFactory, paths: list[Path], speed: float) -> int:
    expected = recorded_ids(paths)
    async with venue_factory(recordings=paths, speed=speed) as venue:
        url = f"{venue.ws_url}/stream?streams=" + "/".join(sorted(expected))
        async with connect(url) as ws:
            venue.start_replay()
            frames = await collect_until_done(venue, ws, timeout=120)
        got: dict[str, list[int]] = defaultdict(list)
        for frame in frames:
            data = frame["data"]
            got[frame["stream"]].append(venue_id_of(data.get("e", "bookTicker"), data))
        assert got == expected
        for stream, ids in expected.items():
            assert venue.history.ids(stream) == ids
        return sum(len(v) for v in expected.values())


SHARED = shared_recordings_dir()
SHARED_WS = shared_stream_recordings()


@pytest.mark.skipif(SHARED is None, reason="../shared/recordings not present (fresh clone)")
@pytest.mark.parametrize("path", SHARED_WS, ids=lambda p: p.name)
async def test_shared_recording_at_x100(venue_factory: VenueFactory, path: Path) -> None:
    assert await replay_and_compare(venue_factory, [path], speed=100.0) > 0


async def test_bundled_spot_btcusdt_day_split_at_x100(venue_factory: VenueFactory) -> None:
    assert await replay_and_compare(venue_factory, bundled("spot-btcusdt"), speed=100.0) > 99_000


@pytest.mark.slow
async def test_bundled_four_symbol_capture_at_x1(venue_factory: VenueFactory) -> None:
    assert await replay_and_compare(venue_factory, bundled("spot-4sym-2021"), speed=1.0) == 263
