"""toxiproxy-python 0.1.1 drives the embedded server through its whole public API, exceptions included.

The client is synchronous (requests) and keeps its server address in class attributes, so every call
runs in a worker thread (asyncio.to_thread) while the embedded server serves from the test's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest
from toxiproxy import Proxy, Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.toxic import Toxic

from faultproxy.server import EmbeddedToxiproxy
from tests.proxy.support import Upstream, free_port

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")


async def call(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking client call off the event loop."""
    return await asyncio.to_thread(func, *args, **kwargs)


@pytest.fixture
async def client(embedded: EmbeddedToxiproxy) -> AsyncIterator[Toxiproxy]:
    tp = Toxiproxy()
    tp.update_api_consumer("127.0.0.1", embedded.port)
    yield tp
    APIConsumer.host, APIConsumer.port = "127.0.0.1", 8474


async def echo_rtt(port: int) -> float:
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = loop.time()
    writer.write(b"ping")
    await asyncio.wait_for(reader.readexactly(4), 5)
    writer.close()
    return (loop.time() - start) * 1000


async def test_server_level_api(client: Toxiproxy, embedded: EmbeddedToxiproxy) -> None:
    assert await call(client.running) is True
    assert await call(client.version) == b'{"version": "2.12.0"}\n'
    assert await call(client.proxies) == {}
    async with Upstream("echo") as up:
        proxy = await call(client.create, upstream=up.addr, name="svc")
        assert isinstance(proxy, Proxy)
        assert proxy.name == "svc" and proxy.upstream == up.addr and proxy.enabled is True
        assert proxy.listen.startswith("127.0.0.1:") and not proxy.listen.endswith(":0")
        with pytest.raises(ProxyExists):
            await call(client.create, upstream=up.addr, name="svc")
        disabled = await call(client.create, upstream=up.addr, name="off", enabled=False)
        assert disabled.enabled is False and disabled.listen == "127.0.0.1:0"
        assert set(await call(client.proxies)) == {"svc", "off"}
        assert (await call(client.get_proxy, "svc")).listen == proxy.listen
        assert await call(client.get_proxy, "nope") is None
        assert await call(client.destroy, disabled) is True
        assert await call(client.destroy, "not a proxy") is False
        fixed = free_port()
        created = await call(
            client.populate,
            [
                {"name": "svc", "upstream": up.addr, "listen": proxy.listen},  # same: kept
                {"name": "pop", "upstream": up.addr, "listen": f"127.0.0.1:{fixed}"},
            ],
        )
        assert [p.name for p in created] == ["pop"]
        assert (await call(client.get_proxy, "pop")).listen == f"127.0.0.1:{fixed}"
        await call(client.destroy_all)
        assert await call(client.proxies) == {}
    assert not embedded.collection or not embedded.collection.proxies


async def test_proxy_and_toxic_api_with_traffic(client: Toxiproxy) -> None:
    async with Upstream("echo") as up:
        proxy = await call(client.create, upstream=up.addr, name="svc")
        port = int(proxy.listen.rsplit(":", 1)[1])
        assert await echo_rtt(port) < 100
        await call(proxy.add_toxic, type="latency", attributes={"latency": 200})
        toxics = await call(proxy.toxics)
        assert list(toxics) == ["latency_downstream"]
        toxic = toxics["latency_downstream"]
        assert isinstance(toxic, Toxic)
        assert (toxic.type, toxic.stream, toxic.toxicity) == ("latency", "downstream", 1)
        assert toxic.attributes == {"latency": 200, "jitter": 0}
        assert 195 < await echo_rtt(port) < 1000
        await call(
            proxy.add_toxic,
            type="limit_data",
            stream="upstream",
            name="cap",
            toxicity=0.5,
            attributes={"bytes": 9},
        )
        assert (await call(proxy.get_toxic, "cap")).toxicity == 0.5
        assert await call(proxy.get_toxic, "nope") is None
        assert await call(proxy.destroy_toxic, "cap") is True
        assert await call(proxy.destroy_toxic, "latency_downstream") is True
        assert await call(proxy.toxics) == {}
        assert await echo_rtt(port) < 100

        await call(proxy.disable)
        assert proxy.enabled is False
        with pytest.raises(ConnectionRefusedError):
            await echo_rtt(port)
        await call(proxy.enable)
        assert proxy.enabled is True and await echo_rtt(port) < 100

        def down_check() -> bool:
            with proxy.down():
                return bool(client.get_proxy("svc").enabled)

        assert await call(down_check) is False
        assert (await call(client.get_proxy, "svc")).enabled is True

        await call(proxy.add_toxic, type="latency", attributes={"latency": 120})
        await call(proxy.disable)
        assert await call(client.reset) is True
        assert (await call(client.get_proxy, "svc")).enabled is True
        assert await call(proxy.toxics) == {}
        assert await call(proxy.destroy) is True


async def test_client_exceptions(client: Toxiproxy) -> None:
    async with Upstream("echo") as up:
        proxy = await call(client.create, upstream=up.addr, name="svc")
        await call(proxy.add_toxic, type="latency")
        with pytest.raises(ProxyExists, match="toxic already exists"):  # 409 from the server
            await call(proxy.add_toxic, type="latency")
        with pytest.raises(InvalidToxic, match="invalid toxic type"):
            await call(proxy.add_toxic, type="bogus")
        with pytest.raises(InvalidToxic, match="stream was invalid"):
            await call(proxy.add_toxic, type="latency", stream="sideways")
        with pytest.raises(InvalidToxic, match="cannot unmarshal string"):
            await call(proxy.add_toxic, type="latency", name="x", attributes={"latency": "slow"})
        with pytest.raises(NotFound, match="toxic not found"):
            await call(proxy.destroy_toxic, "nope")
        await call(proxy.destroy)
        with pytest.raises(NotFound, match="proxy not found"):
            await call(proxy.toxics)
        with pytest.raises(NotFound, match="proxy not found"):
            await call(proxy.destroy)
        with pytest.raises(NotFound, match="proxy not found"):
            await call(proxy.disable)
        with pytest.raises(NotFound, match="proxy not found"):
            await call(proxy.add_toxic, type="latency")
        with pytest.raises(InvalidToxic, match="not a loopback address"):  # embedded-only rule
            await call(client.create, upstream="example.com:80", name="remote")
