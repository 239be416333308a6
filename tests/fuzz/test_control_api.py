"""Fuzz: the mock venue's control API request bodies (mock_venues/base/control_api.py).

The API has no pure parsing function (each handler reads its body and calls the venue), so requests go
through the aiohttp application in-process, on a paused Binance spot venue, with aiohttp's test client
(a few milliseconds per request, so it runs the full budget too). Valid outcome: a 2xx with a JSON body,
or a 400/404 with ``{"error": "<what is wrong>"}`` (or aiohttp's plain 404 when no route matches); a 500
is a crash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import example, given
from hypothesis import strategies as st

from mock_venues.base.control_api import build_control_app
from tests.fuzz import support
from tests.fuzz.support import FUZZ
from tests.venue.conftest import running_venue

pytestmark = pytest.mark.fuzz

NUMBERS = (
    st.integers(-(2**64), 2**64) | support.FLOATS | support.HUGE_INTS | st.sampled_from([0, 0.1, 1, 100])
)
BODY_FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "/replay/speed": {"speed": NUMBERS | st.none()},
    "/replay/stall": {"duration_s": NUMBERS},
    "/faults": {
        "kind": st.sampled_from(
            ["drop", "duplicate", "reorder", "corrupt", "silence", "refuse_subscribe", "x"]
        ),
        "stream": st.sampled_from(["btcusdt@depth*", "*", "", "["]) | support.TEXT,
        "count": NUMBERS | st.none(),
        "probability": NUMBERS,
        "duration_s": NUMBERS | st.none(),
    },
    "/connections/close": {
        "code": st.sampled_from([1000, 1001, 1011, 3000, 4999, 1005, 1015, 5000]) | NUMBERS,
        "reason": support.TEXT,
        "connection": NUMBERS | st.none(),
        "shutdown_event": st.booleans(),
    },
    "/gap": {
        "symbol": st.sampled_from(["BTCUSDT", "btcusdt", "ETHUSDT", "NOPE", ""]) | support.TEXT,
        "skip": NUMBERS,
    },
    "/rest-faults": {
        "status": st.sampled_from([400, 418, 429, 500, 503, 599]) | NUMBERS | st.none(),
        "count": NUMBERS | st.none(),
        "delay_s": NUMBERS,
        "paths": st.lists(st.sampled_from(["/api/v3/depth", "depth"]) | support.TEXT, max_size=3) | st.none(),
        "retry_after_s": NUMBERS | st.none(),
    },
    "/replay-streams": {
        "streams": st.lists(st.sampled_from(["btcusdt@trade", "x"]) | support.TEXT, max_size=4)
    },
    "/stream-info": {
        "streams": st.lists(st.sampled_from(["btcusdt@depth@100ms"]) | support.TEXT, max_size=4)
    },
}


def _body_strategy(path: str) -> st.SearchStrategy[bytes]:
    fields = {name: strat | support.JSON_VALUES for name, strat in BODY_FIELDS[path].items()}
    docs = st.fixed_dictionaries({}, optional={**fields, "extra": support.JSON_VALUES}).map(support.to_json)
    return st.one_of(
        docs,
        support.mutations(docs),
        support.JSON_VALUES.map(support.to_json),
        support.DEEP,
        st.binary(max_size=100),
    )


POSTS = st.one_of(
    *(st.tuples(st.just("POST"), st.just(path), _body_strategy(path)) for path in sorted(BODY_FIELDS))
)
OTHERS = st.one_of(
    st.tuples(
        st.just("DELETE"),
        st.text(min_size=1, max_size=30).map(lambda s: "/faults/" + quote(s, safe="")),
        st.just(b""),
    ),
    st.tuples(
        st.just("GET"),
        st.builds(
            lambda symbol, limit: f"/book/{quote(symbol, safe='')}?limit={quote(limit, safe='')}",
            st.sampled_from(["BTCUSDT", "btcusdt", "NOPE"]) | st.text(min_size=1, max_size=12),
            st.integers(-(10**30), 10**30).map(str) | st.text(max_size=12),
        ),
        st.just(b""),
    ),
)


ROUTER_404 = b"404: Not Found"
"""aiohttp's own answer when no route matches the path."""


class _Api:
    """A paused venue's control app behind aiohttp's in-process test client, on a private event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._venue_cm = running_venue()
        venue = self.loop.run_until_complete(self._venue_cm.__aenter__())
        self.client = TestClient(TestServer(build_control_app(venue)), loop=self.loop)
        self.loop.run_until_complete(self.client.start_server())

    def request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        # The body is what is fuzzed: sent as JSON, as a client must (tickstorm.http_guard answers other
        # content types 415 before any handler reads the body; tests/venue/test_control_hardening.py).
        headers = {"Content-Type": "application/json"} if method in ("POST", "DELETE") else {}

        async def call() -> tuple[int, bytes]:
            async with self.client.request(method, path, data=body, headers=headers) as response:
                return response.status, await response.read()

        return self.loop.run_until_complete(asyncio.wait_for(call(), 30))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.run_until_complete(self._venue_cm.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module")
def api() -> Iterator[_Api]:
    """The control API of one paused venue for the whole module."""
    app = _Api()
    yield app
    app.close()


@given(request=POSTS | OTHERS)
@FUZZ
# Crashes found by this test (500s), kept as regressions:
@example(request=("POST", "/replay/stall", b'{"duration_s": 1e308}'))  # OverflowError
@example(request=("POST", "/faults", b'{"kind": "drop", "duration_s": 1e308}'))  # OverflowError
@example(request=("POST", "/gap", b'{"symbol": "BTCUSDT", "skip": null}'))  # AssertionError
@example(request=("POST", "/connections/close", b'{"code": null}'))  # AssertionError
def test_control_api_answers_json_or_a_400_with_the_reason(
    api: _Api, request: tuple[str, str, bytes]
) -> None:
    support.tried("venue control API (HTTP)")
    method, path, body = request
    status, raw = api.request(method, path, body)
    assert status in (200, 201, 400, 404), (status, raw[:300])
    if status == 404 and raw == ROUTER_404:
        return  # no route matched (e.g. /faults/%7B): aiohttp's router answered, no handler ran
    answer = orjson.loads(raw)
    if status >= 400:
        assert isinstance(answer, dict) and isinstance(answer.get("error"), str) and answer["error"]
