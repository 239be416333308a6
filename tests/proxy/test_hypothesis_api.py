"""Random sequences of API calls: same answers as the real server; no crash, no leak on the embedded one.

Hypothesis draws sequences of proxy and toxic creations, updates and deletions, resets, populates and
malformed bodies. With the real binary, each sequence runs on a live real server and on a fresh embedded
one and every answer must be identical (after port normalisation). Without it, the embedded server must
answer every request sensibly and, once its proxies are deleted, hold no listening socket and no task.
Toxic settings that crash the real server are not drawn (the embedded server refuses them, see
test_api_differential.py).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultproxy.server import EmbeddedToxiproxy
from tests.proxy.scenarios import Step, api_context, run_steps
from tests.proxy.support import NO_BINARY_REASON, api_client

pytestmark = [pytest.mark.timeout(170), pytest.mark.slow]
EXAMPLES = int(os.environ.get("TICKSTORM_HYPOTHESIS_EXAMPLES", "60"))  # raise for a longer hunt

NAMES = st.sampled_from(["p1", "p2", "p3"])
TOXIC_NAMES = st.sampled_from([None, "t1", "t2", "latency_downstream"])
UPSTREAMS = st.sampled_from(["$echo", "$echo2", "localhost:$echoport"])
LISTENS = st.sampled_from(
    [None, "127.0.0.1:0", "localhost:0", "127.0.0.1:$free", "garbage", "127.0.0.1:99999"]
)
STREAMS = st.sampled_from([None, "upstream", "downstream", "UPSTREAM", "sideways", 3])
TOXICITIES = st.sampled_from([None, 0, 0.5, 1, 1.0, 2.5, 0.1, "x", 1e-7])
WRONG: st.SearchStrategy[Any] = st.sampled_from(["x", 1.5, [], {}, True, None, -3])


def _attrs(toxic_type: str) -> st.SearchStrategy[dict[str, Any] | None]:
    small = st.integers(0, 200)
    by_type: dict[str, st.SearchStrategy[dict[str, Any]]] = {
        "latency": st.fixed_dictionaries({}, optional={"latency": small, "jitter": st.integers(0, 20)}),
        "bandwidth": st.fixed_dictionaries({}, optional={"rate": st.integers(0, 10_000)}),
        "slow_close": st.fixed_dictionaries({}, optional={"delay": small}),
        "timeout": st.fixed_dictionaries({}, optional={"timeout": small}),
        "reset_peer": st.fixed_dictionaries({}, optional={"timeout": small}),
        "limit_data": st.fixed_dictionaries({}, optional={"bytes": small}),
        "noop": st.just({}),
        "slicer": st.integers(1, 50).flatmap(
            lambda avg: st.fixed_dictionaries(
                {"average_size": st.just(avg), "size_variation": st.integers(0, avg)},
                optional={"delay": small},
            )
        ),
    }
    good = by_type.get(toxic_type, st.just({}))
    keys = ["latency", "jitter", "rate", "delay", "timeout", "bytes", "average_size"]
    wrong = st.dictionaries(st.sampled_from(keys), WRONG, min_size=1, max_size=2)
    if toxic_type == "slicer":  # a wrong type must not leave average_size at 0 (unsafe, see docs)
        wrong = st.fixed_dictionaries({"average_size": st.just(5), "delay": WRONG})
    if toxic_type == "bandwidth":  # a negative rate is refused on purpose (it crashes the real server)
        wrong = wrong.filter(lambda attrs: attrs.get("rate") != -3)
    return st.one_of(good, good, wrong, st.none())


def _without_none(**fields: Any) -> str:
    return json.dumps({k: v for k, v in fields.items() if v is not None})


@st.composite
def create_proxy(draw: st.DrawFn) -> Step:
    body = _without_none(
        name=draw(NAMES),
        upstream=draw(UPSTREAMS),
        listen=draw(LISTENS) or "127.0.0.1:0",
        enabled=draw(st.sampled_from([None, True, False])),
    )
    return ("POST", "/proxies", body)


@st.composite
def update_proxy(draw: st.DrawFn) -> Step:
    body = _without_none(
        upstream=draw(st.none() | UPSTREAMS),
        listen=draw(LISTENS),
        enabled=draw(st.sampled_from([None, True, False])),
    )
    return (draw(st.sampled_from(["PATCH", "POST"])), f"/proxies/{draw(NAMES)}", body)


@st.composite
def add_toxic(draw: st.DrawFn) -> Step:
    toxic_type = draw(
        st.sampled_from(
            [
                "latency",
                "bandwidth",
                "slow_close",
                "timeout",
                "reset_peer",
                "slicer",
                "limit_data",
                "noop",
                "bogus",
            ]
        )
    )
    attrs = draw(_attrs(toxic_type))
    if toxic_type == "slicer" and not attrs:
        attrs = {"average_size": 4}
    body = _without_none(
        name=draw(TOXIC_NAMES),
        type=toxic_type,
        stream=draw(STREAMS),
        toxicity=draw(TOXICITIES),
        attributes=attrs,
    )
    return ("POST", f"/proxies/{draw(NAMES)}/toxics", body)


@st.composite
def update_toxic(draw: st.DrawFn) -> Step:
    attrs = draw(
        st.dictionaries(st.sampled_from(["latency", "jitter", "rate", "bytes", "x"]), st.integers(0, 99))
    )
    body = _without_none(attributes=attrs or None, toxicity=draw(TOXICITIES))
    name = draw(st.sampled_from(["t1", "t2", "latency_downstream", "bandwidth_upstream"]))
    return (draw(st.sampled_from(["PATCH", "POST"])), f"/proxies/{draw(NAMES)}/toxics/{name}", body)


@st.composite
def delete(draw: st.DrawFn) -> Step:
    if draw(st.booleans()):
        return ("DELETE", f"/proxies/{draw(NAMES)}", None)
    return (
        "DELETE",
        f"/proxies/{draw(NAMES)}/toxics/{draw(st.sampled_from(['t1', 't2', 'latency_downstream']))}",
        None,
    )


@st.composite
def populate(draw: st.DrawFn) -> Step:
    entries = draw(
        st.lists(
            st.fixed_dictionaries(
                {"name": NAMES, "upstream": UPSTREAMS, "listen": LISTENS.filter(bool)},
                optional={"enabled": st.sampled_from([True, False, None])},
            ),
            max_size=3,
        )
    )
    return ("POST", "/populate", json.dumps(entries))


GARBAGE = [
    "",
    "{",
    "[",
    "null",
    "{}",
    "[]",
    "{x",
    '{"name":',
    '{"name":1}',
    '{"attributes":5}',
    '{"toxicity":"x"}',
    '{"enabled":"no"}',
    "tru",
    "-",
    '"\\q"',
    "[1,]",
    '{"a":1,}',
]


@st.composite
def bad_body(draw: st.DrawFn) -> Step:
    body = draw(st.sampled_from(GARBAGE) | st.binary(max_size=10).map(lambda b: b.decode("latin-1")))
    path = draw(
        st.sampled_from(
            ["/proxies", "/proxies/p1", "/proxies/p1/toxics", "/proxies/p1/toxics/t1", "/populate"]
        )
    )
    method = "PATCH" if path.count("/") in (2, 4) and draw(st.booleans()) else "POST"
    return (method, path, body)


OPERATION = st.one_of(
    create_proxy(),
    create_proxy(),
    update_proxy(),
    add_toxic(),
    add_toxic(),
    update_toxic(),
    delete(),
    populate(),
    bad_body(),
    st.just(("POST", "/reset", None)),
    st.just(("GET", "/proxies", None)),
)
SEQUENCES = st.lists(OPERATION, min_size=1, max_size=12)


async def _run(url: str, steps: list[Step]) -> list[dict[str, Any]]:
    async with api_client(url) as client:
        await client.clear()
        async with api_context() as values:
            values["echoport"] = values["echo"].rsplit(":", 1)[1]
            steps = [*steps, ("GET", "/proxies", None)]
            result = await run_steps(client, steps, values)
        await client.clear()
    return result


async def _embedded_run(steps: list[Step]) -> list[dict[str, Any]]:
    async with EmbeddedToxiproxy(seed=7) as server:
        return await _run(server.api_url, steps)


@pytest.mark.differential
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=SEQUENCES)
def test_random_sequences_answer_like_the_real_server(real_url: str | None, steps: list[Step]) -> None:
    if real_url is None:
        pytest.skip(NO_BINARY_REASON)
    real = asyncio.run(_run(real_url, steps))
    embedded = asyncio.run(_embedded_run(steps))
    for want, have in zip(real, embedded, strict=True):
        if want["path"] == "/reset" and want["status"] == 500:
            # A failed re-enable: the real server walks its proxies in Go's random map order, so which
            # proxy fails first (and which were already reset) is not deterministic. Same status, then stop.
            assert have["status"] == 500, f"sequence {steps}:\nreal     {want}\nembedded {have}"
            break
        assert want == have, f"sequence {steps}:\nreal     {want}\nembedded {have}"


def _listening_ports() -> set[int]:
    conns = psutil.Process().net_connections(kind="tcp")
    return {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN}


async def _invariants(steps: list[Step]) -> None:
    loop = asyncio.get_running_loop()
    before_ports = _listening_ports()
    async with EmbeddedToxiproxy(seed=11) as server:
        baseline = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        exchanges = await _run(server.api_url, steps)
        for exchange in exchanges:
            assert exchange["status"] in {200, 201, 204, 400, 404, 405, 409, 500}, exchange
            if exchange["status"] == 500:
                assert "address" in exchange["response"] or "lookup" in exchange["response"], exchange
            if exchange["status"] >= 400 and exchange["content_type"] != "application/json":
                assert exchange["response"].endswith("\n")
        assert server.collection is not None and not server.collection.proxies
        deadline = loop.time() + 2
        while True:
            leftover = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} - baseline
            if not leftover or loop.time() > deadline:
                break
            await asyncio.sleep(0.02)
        assert not leftover, leftover
        assert _listening_ports() - before_ports == {server.port}
    assert _listening_ports() - before_ports == set()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=SEQUENCES)
def test_random_sequences_never_crash_or_leak(steps: list[Step]) -> None:
    asyncio.run(_invariants(steps))
