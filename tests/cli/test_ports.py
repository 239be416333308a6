"""Every port option and setting refuses numbers outside 0..65535 (uvloop used to bind them modulo 65536:
``--port 65537`` bound port 1, ``--rest-port 70000`` bound 4464)."""

from __future__ import annotations

import argparse
import asyncio
import os

import pytest
from pydantic import BaseModel, ValidationError

from feed.config import ConfigError, load_settings
from tests.cli.support import assert_one_line_error, tickstorm
from tickstorm.cli import build_parser
from tickstorm.ports import MAX_PORT, ListenError, Port, check_port, listening, port_arg

OUT_OF_RANGE = ["-1", "65536", "65537", "70000"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TICKSTORM_FEED_* variable from the developer's shell leaks into the settings tests."""
    for name in list(os.environ):
        if name.upper().startswith("TICKSTORM_FEED_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("text", ["0", "1", "8474", str(MAX_PORT)])
def test_port_arg_accepts_ports(text: str) -> None:
    assert port_arg(text) == int(text)


@pytest.mark.parametrize("text", [*OUT_OF_RANGE, "http", "80.5", ""])
def test_port_arg_refuses_the_rest(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="port"):
        port_arg(text)


@pytest.mark.parametrize("value", [-1, MAX_PORT + 1, True, "80"])
def test_check_port(value: object) -> None:
    with pytest.raises(ValueError, match=r"the WebSocket port must be within 0\.\.65535"):
        check_port(value, "the WebSocket port")  # type: ignore[arg-type]
    assert check_port(0) == 0 and check_port(MAX_PORT) == MAX_PORT


def test_port_type_in_a_model() -> None:
    class Model(BaseModel):
        port: Port

    assert Model(port=MAX_PORT).port == MAX_PORT
    for bad in (-1, MAX_PORT + 1):
        with pytest.raises(ValidationError, match=r"less than or equal to 65535|greater than or equal to 0"):
            Model(port=bad)


# -- every command's port options -------------------------------------------------------------------------

PORT_OPTIONS = [
    ("venue", "binance-spot", "--port"),
    ("venue", "binance-spot", "--rest-port"),
    ("venue", "binance-spot", "--control-port"),
    ("feed", "--metrics-port"),
    ("feed", "--serve-port"),
    ("feed", "--serve-http-port"),
    ("proxy", "--port"),
]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize("words", PORT_OPTIONS, ids=" ".join)
def test_every_port_option_is_checked_by_the_parser(
    words: tuple[str, ...], value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*words, value]
    with pytest.raises(SystemExit) as exc:
        build_parser(only=argv[0]).parse_args(argv)
    assert exc.value.code == 2
    assert f"argument {words[-1]}: port must be within 0..65535" in capsys.readouterr().err


@pytest.mark.parametrize("words", PORT_OPTIONS, ids=" ".join)
def test_every_port_option_takes_the_whole_range(words: tuple[str, ...]) -> None:
    for value in ("0", str(MAX_PORT)):
        args = build_parser(only=words[0]).parse_args([*words, value])
        assert getattr(args, words[-1].lstrip("-").replace("-", "_")) == int(value)


@pytest.mark.parametrize(("flag", "value"), [("--port", "65537"), ("--rest-port", "70000")])
def test_venue_process_refuses_a_port_out_of_range(flag: str, value: str) -> None:
    """The issue's own reproduction, run as the real command: refused before anything binds."""
    outcome = tickstorm("venue", "binance-spot", flag, value)
    assert outcome.code == 2 and "Traceback" not in outcome.stderr
    assert f"argument {flag}: port must be within 0..65535 (0: any free port), got {value}" in outcome.stderr
    assert '"event":"ready"' not in outcome.stdout


@pytest.mark.parametrize("option", ["--target", "--listen"])
def test_observe_refuses_a_port_out_of_range(option: str) -> None:
    args = {"--target": "127.0.0.1:9464", "--listen": "127.0.0.1:0", option: "127.0.0.1:70000"}
    outcome = tickstorm("observe", *[w for pair in args.items() for w in pair])
    assert "must be within 0..65535" in assert_one_line_error(outcome, "127.0.0.1:70000")


# -- settings ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["metrics_port", "serve_port", "serve_http_port"])
@pytest.mark.parametrize("value", [-1, 65536, 70000])
def test_feed_settings_refuse_ports_out_of_range(option: str, value: int) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(**{option: value})
    [line] = [p for p in exc.value.problems if p.startswith(option)]
    assert "65535" in line or "greater than or equal to 0" in line


def test_feed_settings_refuse_a_port_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKSTORM_FEED_SERVE_PORT", "70000")
    with pytest.raises(ConfigError, match="serve_port"):
        load_settings()


# -- binding ----------------------------------------------------------------------------------------------


def test_listening_refuses_a_port_out_of_range_before_binding() -> None:
    with pytest.raises(ListenError, match=r"the REST server's port must be within 0\.\.65535, got 65537"):
        with listening("REST server", "127.0.0.1", 65537):
            raise AssertionError("the bind must not be attempted")


def test_listening_names_the_server_and_address_of_a_failed_bind() -> None:
    async def bind_twice() -> None:
        first = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = first.sockets[0].getsockname()[1]
        try:
            with listening("control API", "127.0.0.1", port):
                await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
        finally:
            first.close()
            await first.wait_closed()

    expected = r"cannot listen on 127\.0\.0\.1:\d+ \(control API\): address already in use"
    with pytest.raises(ListenError, match=expected):
        asyncio.run(bind_twice())


def test_listening_passes_other_errors_through() -> None:
    with pytest.raises(KeyError), listening("x", "127.0.0.1", 0):
        raise KeyError("not a bind problem")
