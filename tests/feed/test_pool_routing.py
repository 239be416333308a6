"""The connection pool: streams routed to connections per URL, a per-URL connection limit, and replies
without request ids matched to the oldest pending request of the connection they arrived on."""

from __future__ import annotations

from typing import Any

import pytest

from feed.backoff import Backoff
from feed.connection import ConnectionOptions
from feed.limits import AttemptBudget
from feed.pool import ConnectionPool, PoolLimitError


def pool(url_of: Any = None, max_connections: int | None = None, max_streams: int = 2) -> ConnectionPool:
    return ConnectionPool(
        ConnectionOptions(url="ws://127.0.0.1:9/a", control_frames=lambda m, s, i: []),
        max_streams=max_streams,
        attempts=AttemptBudget(10, 60.0),
        backoff_factory=lambda: Backoff(base_s=0.1, cap_s=1.0, stable_after_s=1.0),
        on_frame=lambda frame, ns: None,
        on_state=lambda state, **detail: None,
        url_of=url_of,
        max_connections=max_connections,
    )


async def test_streams_of_different_urls_never_share_a_connection() -> None:
    p = pool(url_of=lambda s: "ws://127.0.0.1:9/" + s.split(".")[0], max_streams=10)
    try:
        await p.add(["a.1", "b.1", "a.2", "b.2"])
        assert sorted((c.options.url, tuple(c.streams)) for c in p.connections) == [
            ("ws://127.0.0.1:9/a", ("a.1", "a.2")),
            ("ws://127.0.0.1:9/b", ("b.1", "b.2")),
        ]
        await p.add(["a.3"])  # joins its URL's connection
        assert len(p.connections) == 2
    finally:
        await p.close()


async def test_more_connections_than_allowed_per_url_is_refused() -> None:
    p = pool(max_connections=1, max_streams=2)
    try:
        with pytest.raises(PoolLimitError, match="allows 1"):
            await p.add(["s1", "s2", "s3"])
        assert p.connections == []
    finally:
        await p.close()


def test_reply_without_id_answers_the_oldest_request_of_its_connection() -> None:
    p = pool()
    a, b = object(), object()
    p._register(1, a, ["x"], "subscribe")  # type: ignore[arg-type]
    p._register(2, b, ["y"], "subscribe")  # type: ignore[arg-type]
    p._register(3, a, ["z"], "subscribe")  # type: ignore[arg-type]
    p.receiving = b  # type: ignore[assignment]
    assert p.take_request(None) == (b, ["y"], "subscribe")
    p.receiving = a  # type: ignore[assignment]
    assert p.take_request(None) == (a, ["x"], "subscribe")
    assert p.take_request(None) == (a, ["z"], "subscribe")
    assert p.take_request(None) is None
