"""Fuzz: the embedded Toxiproxy's request bodies (faultproxy/gojson.py decoding, faultproxy/proxy.py).

Proxy bodies (``POST /proxies``, ``/proxies/{name}``, ``/populate``) are decoded with the same schemas and
starting values the handlers use, then the upstream policy is applied; toxic bodies go through
``ToxicCollection.add_json``/``update_json`` of a proxy that is never started (no sockets). Valid outcome:
a decoded value of the schema's types, a created/updated toxic whose JSON encodes, or the documented
``gojson.JSONError``/``ApiError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from faultproxy import gojson
from faultproxy.model import POPULATE_SCHEMA, PROXY_SCHEMA, TOXIC_TYPES
from faultproxy.proxy import ApiError, Proxy, ServerContext
from tests.fuzz import support
from tests.fuzz.support import FUZZ

pytestmark = pytest.mark.fuzz

ADDRESSES = (
    st.sampled_from(["127.0.0.1:8474", "localhost:0", "[::1]:1", "example.com:80", ":", ""]) | support.TEXT
)
PROXY_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": st.sampled_from(["feed", "venue_ws"]) | support.JSON_VALUES,
    "listen": ADDRESSES | support.JSON_VALUES,
    "upstream": ADDRESSES | support.JSON_VALUES,
    "enabled": st.booleans() | support.JSON_VALUES,
    "Enabled": support.JSON_VALUES,
    "NAME": support.JSON_VALUES,
    "Logger": support.JSON_VALUES,
}
PROXY_DOCS = st.fixed_dictionaries({}, optional=PROXY_FIELDS)
ATTRIBUTE_NAMES = sorted({attr for t in TOXIC_TYPES.values() for attr, _ in t.attributes})
ATTRIBUTE_VALUES = st.integers(-(2**64), 2**64) | support.HUGE_INTS | support.FLOATS | support.JSON_VALUES
TOXIC_DOCS = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["", "lag", "latency_downstream"]) | support.JSON_VALUES,
        "type": st.sampled_from(sorted(TOXIC_TYPES)) | support.JSON_VALUES,
        "stream": st.sampled_from(["upstream", "downstream", "UpStream", "both"]) | support.JSON_VALUES,
        "toxicity": st.floats(0, 1) | support.FLOATS | support.HUGE_INTS | support.JSON_VALUES,
        "attributes": st.dictionaries(
            st.sampled_from(ATTRIBUTE_NAMES) | support.TEXT, ATTRIBUTE_VALUES, max_size=4
        )
        | support.JSON_VALUES,
    },
)


def _bodies(docs: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    as_json = docs.map(support.to_json)
    return st.one_of(
        as_json,
        support.mutations(as_json),
        st.lists(docs, max_size=3).map(support.to_json),
        support.JSON_VALUES.map(support.to_json),
        support.DEEP,
        st.binary(max_size=200),
        # two values in one body: Go's decoder reads the first and ignores the rest
        st.tuples(as_json, as_json).map(lambda pair: pair[0] + b" " + pair[1]),
    )


@pytest.fixture(scope="module")
def ctx() -> Iterator[ServerContext]:
    """A proxy context whose loop is never run (nothing here starts a listener)."""
    loop = asyncio.new_event_loop()
    yield ServerContext(loop, 0, allow_remote_upstream=False)
    loop.close()


def _check_proxy(data: Any, ctx: ServerContext) -> None:
    assert isinstance(data["name"], str) and isinstance(data["listen"], str)
    assert isinstance(data["upstream"], str)
    assert data["enabled"] is None or isinstance(data["enabled"], bool)
    try:
        ctx.check_upstream(data["upstream"])
    except ApiError as exc:
        assert exc.status == 400


@given(
    body=_bodies(PROXY_DOCS) | _bodies(st.lists(PROXY_DOCS, max_size=3)),
    which=st.sampled_from(["proxy", "populate"]),
)
@FUZZ
@example(body=b"[" * 2000 + b"]" * 2000, which="populate")  # RecursionError in the recursive scanner
@example(body=b'{"name":"p","x":' + b"[" * 2000 + b"]" * 2000 + b"}", which="proxy")
def test_proxy_bodies_decode_to_the_schema_or_a_json_error(
    ctx: ServerContext, body: bytes, which: str
) -> None:
    support.tried("proxy API: proxy bodies")
    try:
        if which == "proxy":
            current = {"name": "", "listen": "", "upstream": "", "enabled": True, "Logger": None}
            entries = [gojson.parse_body(body, PROXY_SCHEMA, current)]
        else:
            entries = gojson.parse_body(body, POPULATE_SCHEMA, []) or []
    except gojson.JSONError as exc:
        assert str(exc)
        return
    assert isinstance(entries, list)
    for entry in entries:
        _check_proxy(entry, ctx)


@given(body=_bodies(TOXIC_DOCS), update=_bodies(TOXIC_DOCS))
@FUZZ
@example(body=b"{}", update=b'{"toxicity": 3.4025000633641588e+38}')  # OverflowError printing it back
@example(body=b'{"type":"noop","attributes":' + b"[" * 2000 + b"]" * 2000 + b"}", update=b"{}")
def test_toxic_bodies_create_a_toxic_or_an_api_error(ctx: ServerContext, body: bytes, update: bytes) -> None:
    support.tried("proxy API: toxic bodies")
    proxy = Proxy(ctx, "fuzz", "127.0.0.1:0", "127.0.0.1:1")
    try:
        toxic = proxy.toxics.add_json(body)
    except ApiError as exc:
        assert 400 <= exc.status < 500 and exc.message
        toxic = proxy.toxics.add_json(b'{"type":"latency","attributes":{"latency":1}}')
    assert orjson.loads(toxic.to_json())["name"] == toxic.name
    support.tried("proxy API: toxic bodies")
    try:
        updated = proxy.toxics.update_json(toxic.name, update)
    except ApiError as exc:
        assert 400 <= exc.status < 500 and exc.message
        return
    assert orjson.loads(updated.to_json())["type"] == toxic.type
