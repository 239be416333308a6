"""`tickstorm feed` and `tickstorm dlq` as real processes against a venue on loopback."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest

from feed.dlq import DeadLetterQueue
from mock_venues.binance_spot.server import BinanceSpotVenue, VenueConfig
from mock_venues.recordings import bundled
from tests.feedlive.conftest import wait_subscribed
from tickstorm.procs import ServiceProcess

pytestmark = pytest.mark.timeout(90)

TICKSTORM = [sys.executable, "-m", "tickstorm"]


async def test_feed_process_ready_metrics_jsonl_and_clean_stop(tmp_path: Path) -> None:
    out, dlq = tmp_path / "events.jsonl", tmp_path / "dlq.sqlite"
    config = VenueConfig(recordings=bundled("spot-4sym-2021"), speed=None, autostart=False)
    async with BinanceSpotVenue(config) as venue:
        args = [
            *TICKSTORM, "feed", "--symbols", "nknusdt,lrcbtc", "--streams", "depth@100ms,bookTicker",
            "--ws-url", venue.ws_url, "--rest-url", venue.rest_url, "--jsonl", str(out), "--dlq", str(dlq),
            "--metrics-port", "0",
        ]  # fmt: skip
        proc = ServiceProcess(args, name="feed")
        async with proc:
            assert proc.ready["event"] == "ready" and proc.ready["streams"] == 4
            await wait_subscribed(venue, 4)
            venue.add_fault("corrupt", stream="lrcbtc@bookTicker", count=1)
            venue.start_replay()
            await venue.wait_replay_done(30)
            await asyncio.sleep(1.0)
            async with aiohttp.ClientSession() as http:
                metrics = await (await http.get(proc.ready["metrics"])).text()
            assert 'tickstorm_feed_messages_total{stream_kind="depth",venue="binance-spot"}' in metrics
            code = await proc.stop()
        assert code == 0
        header, *events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        assert header == {"type": "schema", "schema": "tickstorm.events", "version": 2}
        depth = [
            e["id"]
            for e in events
            if e["kind"] == "depth" and e["type"] == "market" and e["symbol"] == "NKNUSDT"
        ]
        assert depth == venue.history.ids("nknusdt@depth@100ms")
        assert all(
            {"type", "venue", "channel", "instrument", "stream", "kind", "id", "recv_ns", "deliver_ns"}
            <= set(e)
            for e in events
        )
        with DeadLetterQueue(dlq) as q:
            (entry,) = list(q.entries())
        assert entry.stream == "lrcbtc@bookTicker" and b"\x07" in entry.raw


async def run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *TICKSTORM, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--streams", "trades"], "streams"),
        (["--symbols", "BTC USDT"], "symbols"),
    ],
)
async def test_bad_feed_configuration_exits_2_with_a_clear_message(args: list[str], message: str) -> None:
    code, _, err = await run("feed", *args)
    assert code == 2
    assert "invalid configuration" in err and message in err and "Traceback" not in err


async def test_port_out_of_range_is_a_usage_error() -> None:
    """Refused by the parser, before the settings (which refuse it too: TOML, environment)."""
    code, _, err = await run("feed", "--metrics-port", "99999")
    assert code == 2
    assert "argument --metrics-port: port must be within 0..65535" in err and "Traceback" not in err


async def test_bad_config_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "feed.toml"
    bad.write_text('snapshot_limit = 7\ncolour = "red"\n')
    code, _, err = await run("feed", "--config", str(bad))
    assert code == 2 and "snapshot_limit" in err and "colour" in err and "Traceback" not in err


async def test_dlq_list_show_export(tmp_path: Path) -> None:
    path = tmp_path / "dlq.sqlite"
    with DeadLetterQueue(path) as q:
        q.put("binance-spot", "btcusdt@trade", "malformed JSON: x", b'{"e":"trade"\x07')
        q.put("binance-spot", "ethusdt@depth", "invalid depth payload", b"\xff\xfe")
    code, out, _ = await run("dlq", "list", "--dlq", str(path))
    assert code == 0 and len(out.splitlines()) == 2 and "btcusdt@trade" in out
    code, out, _ = await run("dlq", "show", "--dlq", str(path), "2")
    shown = orjson.loads(out)
    assert code == 0 and shown["raw"] == "fffe" and shown["raw_encoding"] == "hex"
    code, out, _ = await run("dlq", "export", "--dlq", str(path), "--stream", "btcusdt@trade")
    (line,) = out.splitlines()
    assert orjson.loads(line)["raw"] == '{"e":"trade"\x07'
    code, _, err = await run("dlq", "list", "--dlq", str(tmp_path / "none.sqlite"))
    assert code == 2 and "no dead letter queue" in err
