"""Feed settings: precedence (overrides > env > TOML > defaults), validation, clear errors, docs in step."""

from __future__ import annotations

import enum
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from feed.buffer import OverflowPolicy
from feed.config import (
    ENV_PREFIX,
    VENUE_OPTIONS,
    ConfigError,
    FeedSettings,
    VenueOptions,
    VenueSettings,
    env_var,
    load_settings,
    resolve_venue,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TICKSTORM_FEED_* variable from the developer's shell leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def one(s: FeedSettings) -> VenueSettings:
    """The feed's only venue."""
    [venue] = s.venue_settings
    return venue


def stream_names(s: FeedSettings) -> list[str]:
    venue = one(s)
    return [f"{symbol}@{stream}" for symbol in venue.symbols for stream in venue.streams]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feed.toml"
    path.write_text(text)
    return path


# -- defaults and normalisation --------------------------------------------------------------------------


def test_defaults() -> None:
    s = load_settings()
    assert one(s).venue == "binance-spot"
    assert one(s).symbols == ["btcusdt"]
    assert one(s).streams == ["trade", "depth@100ms", "bookTicker"]
    assert one(s).ws_url == "wss://stream.binance.com:9443" and one(s).rest_url == "https://api.binance.com"
    assert one(s).rotate_after_s == 23.5 * 3600
    assert s.overflow_policy is OverflowPolicy.DROP_OLDEST
    assert s.dlq_path is not None and s.dlq_path.name == "feed-dlq.sqlite" and s.dlq_path.is_absolute()
    assert s.metrics_port is None and s.jsonl is None
    assert stream_names(s) == ["btcusdt@trade", "btcusdt@depth@100ms", "btcusdt@bookTicker"]


def test_stream_names_every_symbol_times_every_stream() -> None:
    s = load_settings(symbols="btcusdt,ethusdt", streams="aggTrade,kline_1M")
    assert stream_names(s) == [
        "btcusdt@aggTrade",
        "btcusdt@kline_1M",
        "ethusdt@aggTrade",
        "ethusdt@kline_1M",
    ]


def test_symbols_from_env_comma_separated_lowercased_deduped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKSTORM_FEED_SYMBOLS", "BTCUSDT, ethusdt,,btcusdt ")
    assert one(load_settings()).symbols == ["btcusdt", "ethusdt"]
    monkeypatch.setenv("TICKSTORM_FEED_SYMBOLS", '["solusdt", "BNBUSDT"]')  # a JSON list works too
    assert one(load_settings()).symbols == ["solusdt", "bnbusdt"]


def test_lists_from_toml_and_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, 'symbols = ["XRPUSDT"]\nstreams = ["trade", "kline_1s"]\n')
    s = load_settings(path)
    assert one(s).symbols == ["xrpusdt"] and one(s).streams == ["trade", "kline_1s"]
    assert one(load_settings(path, symbols=["adausdt"])).symbols == ["adausdt"]


def test_env_types_and_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKSTORM_FEED_BACKFILL", "false")
    monkeypatch.setenv("TICKSTORM_FEED_OVERFLOW_POLICY", "drop_newest")
    monkeypatch.setenv("TICKSTORM_FEED_METRICS_PORT", "9108")
    monkeypatch.setenv("TICKSTORM_FEED_DLQ_PATH", "")
    monkeypatch.setenv("tickstorm_feed_jsonl", "out.jsonl")  # names are case-insensitive
    s = load_settings()
    assert one(s).backfill is False
    assert s.overflow_policy is OverflowPolicy.DROP_NEWEST
    assert s.metrics_port == 9108
    assert s.dlq_path is None
    assert s.jsonl == Path("out.jsonl")


def test_urls_lose_trailing_slash() -> None:
    s = load_settings(ws_url="ws://127.0.0.1:9001/", rest_url="http://127.0.0.1:9002/")
    assert one(s).ws_url == "ws://127.0.0.1:9001" and one(s).rest_url == "http://127.0.0.1:9002"


def test_direct_construction_reads_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKSTORM_FEED_SNAPSHOT_LIMIT", "5000")
    assert one(FeedSettings()).snapshot_limit == 5000


# -- precedence ------------------------------------------------------------------------------------------


def test_precedence_overrides_env_toml_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "buffer_capacity = 10\nreorder_window_ms = 7.0\nbackfill_max_pages = 3\n")
    monkeypatch.setenv("TICKSTORM_FEED_BUFFER_CAPACITY", "20")
    monkeypatch.setenv("TICKSTORM_FEED_REORDER_WINDOW_MS", "8")
    s = load_settings(path, buffer_capacity=30, stale_factor=None)
    assert s.buffer_capacity == 30  # override beats env and TOML
    assert one(s).reorder_window_ms == 8.0  # env beats TOML
    assert one(s).backfill_max_pages == 3  # TOML beats default
    assert one(s).stale_factor == 10.0  # None override ignored: default
    assert load_settings(path).buffer_capacity == 20
    monkeypatch.delenv("TICKSTORM_FEED_BUFFER_CAPACITY")
    assert load_settings(path).buffer_capacity == 10


def test_feed_table_is_used_when_present(tmp_path: Path) -> None:
    path = write(tmp_path, '[venue]\nport = 1\n\n[feed]\nsymbols = ["ethusdt"]\nsnapshot_limit = 100\n')
    s = load_settings(path)
    assert one(s).symbols == ["ethusdt"] and one(s).snapshot_limit == 100


def test_toml_does_not_leak_into_later_loads(tmp_path: Path) -> None:
    load_settings(write(tmp_path, "buffer_capacity = 10\n"))
    assert load_settings().buffer_capacity == 100_000
    assert FeedSettings().buffer_capacity == 100_000


# -- errors ----------------------------------------------------------------------------------------------


def problems_of(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    text = str(exc.value)
    assert "errors.pydantic.dev" not in text and "Traceback" not in text
    assert isinstance(exc.value, ValueError)
    return text


def test_unknown_key_in_toml_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[feed]\nsnapshot_lmit = 100\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    text = problems_of(exc)
    assert "snapshot_lmit: unknown option" in text
    assert f"TOML file {path} [feed]" in text


def test_unknown_override_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKSTORM_FEED_SYMBOL", "btcusdt")  # typo for SYMBOLS
    with pytest.raises(ConfigError) as exc:
        load_settings(metric_port=1)
    text = problems_of(exc)
    assert "symbol: unknown option (from env TICKSTORM_FEED_SYMBOL)" in text
    assert "metric_port: unknown option (from command line / argument)" in text
    assert len(exc.value.problems) == 2


def test_every_type_problem_listed_with_its_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, 'backfill = "maybe"\nstale_factor = "slow"\n')
    monkeypatch.setenv("TICKSTORM_FEED_MAX_STREAMS_PER_CONNECTION", "many")
    with pytest.raises(ConfigError) as exc:
        load_settings(path, buffer_capacity="lots")
    text = problems_of(exc)
    problems = exc.value.problems
    assert text.startswith(f"invalid feed configuration ({len(problems)} problems):")
    expect = {
        "backfill": f"TOML file {path}",
        "stale_factor": f"TOML file {path}",
        "max_streams_per_connection": "env TICKSTORM_FEED_MAX_STREAMS_PER_CONNECTION",
        "buffer_capacity": "command line / argument",
    }
    assert len(problems) == len(expect)
    for option, source in expect.items():
        [line] = [p for p in problems if p.startswith(option + ":")]
        assert line.endswith(f"(from {source})"), line


def test_every_venue_problem_listed_with_its_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values of the right type that the venue refuses (its grammar, its limits) are checked together
    once every value has its type (a type error is reported first, above)."""
    path = write(tmp_path, 'snapshot_limit = 1234\nsymbols = ["ok_one", "B@D"]\n')
    monkeypatch.setenv("TICKSTORM_FEED_MAX_STREAMS_PER_CONNECTION", "5000")
    with pytest.raises(ConfigError) as exc:
        load_settings(path, control_messages_per_second=6)
    problems_of(exc)
    problems = exc.value.problems
    expect = {
        "snapshot_limit": f"TOML file {path}",
        "symbols": f"TOML file {path}",
        "max_streams_per_connection": "env TICKSTORM_FEED_MAX_STREAMS_PER_CONNECTION",
        "control_messages_per_second": "command line / argument",
    }
    assert len(problems) == len(expect), problems
    for option, source in expect.items():
        [line] = [p for p in problems if p.startswith(option + ":")]
        assert line.endswith(f"(from {source})"), line
    assert any("b@d" in p for p in problems if p.startswith("symbols"))
    assert any("5000" in p and "1024" in p for p in problems if p.startswith("max_streams"))


@pytest.mark.parametrize(
    ("overrides", "option", "fragment"),
    [
        ({"symbols": "x"}, "symbols", "[a-z0-9_]{2,30}"),
        ({"symbols": ""}, "symbols", "at least one"),
        ({"symbols": "a" * 31}, "symbols", "[a-z0-9_]{2,30}"),
        ({"streams": "trade,depth@1000ms"}, "streams", "depth@1000ms"),
        ({"streams": "kline_2M"}, "streams", "kline_2M"),
        ({"streams": "booktickers"}, "streams", "unknown stream"),
        ({"venue": "kraken"}, "venue", "unknown venue 'kraken' (known: alpaca, binance-spot"),
        ({"ws_url": "http://x"}, "ws_url", "ws://"),
        ({"rest_url": "ftp://x"}, "rest_url", "http://"),
        ({"max_streams_per_connection": 0}, "max_streams_per_connection", "greater than or equal to 1"),
        ({"max_streams_per_connection": 1025}, "max_streams_per_connection", "1024"),
        ({"control_messages_per_second": 0}, "control_messages_per_second", "greater than 0"),
        ({"control_messages_per_second": 5.5}, "control_messages_per_second", "5"),
        ({"connection_attempts_per_5min": 301}, "connection_attempts_per_5min", "300"),
        ({"backoff_base_s": 2.0, "backoff_cap_s": 1.0}, "backoff_cap_s", "backoff_base_s"),
        ({"rotate_after_s": 0}, "rotate_after_s", "greater than 0"),
        ({"rotate_after_s": 10, "rotation_overlap_s": 10}, "rotation_overlap_s", "rotate_after_s"),
        ({"snapshot_limit": 200}, "snapshot_limit", "one of"),
        ({"rest_weight_per_minute": 6001}, "rest_weight_per_minute", "6000"),
        ({"snapshot_limit": 5000, "rest_weight_per_minute": 100}, "rest_weight_per_minute", "250"),
        ({"buffer_capacity": 0}, "buffer_capacity", "greater than or equal to 1"),
        ({"overflow_policy": "drop_random"}, "overflow_policy", "drop_oldest"),
        ({"stale_floor_s": 5, "stale_ceiling_s": 4}, "stale_ceiling_s", "stale_floor_s"),
        ({"metrics_port": 70000}, "metrics_port", "65535"),
        ({"reorder_window_ms": -1}, "reorder_window_ms", "greater than or equal to 0"),
        ({"idle_timeout_s": "soon"}, "idle_timeout_s", "number"),
    ],
)
def test_invalid_values(overrides: dict[str, Any], option: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(**overrides)
    problems_of(exc)
    [line] = [p for p in exc.value.problems if p.startswith(option)]
    assert fragment in line and "(from command line / argument)" in line


def test_bad_toml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "absent.toml")
    bad = write(tmp_path, "symbols = [btcusdt\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(bad)
    assert "invalid TOML" in problems_of(exc) and str(bad) in str(exc.value)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError):
        load_settings(binary)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_settings(tmp_path)  # a directory


def test_valid_kline_intervals_all_accepted() -> None:
    intervals = (
        "1s",
        "1m",
        "3m",
        "5m",
        "15m",
        "30m",
        "1h",
        "2h",
        "4h",
        "6h",
        "8h",
        "12h",
        "1d",
        "3d",
        "1w",
        "1M",
    )
    s = load_settings(streams=",".join(f"kline_{i}" for i in intervals))
    assert len(one(s).streams) == 16


# -- docs/configuration.md stays in step with the model --------------------------------------------------

ROW = re.compile(
    r"^\| `(?P<option>[^`]+)` \| `(?P<env>[^`]+)` \| `(?P<default>[^`]+)` \| (?P<meaning>.+) \|$"
)


def doc_rows() -> dict[str, tuple[str, Any, str]]:
    rows: dict[str, tuple[str, Any, str]] = {}
    lines = DOC.read_text(encoding="utf-8").splitlines()
    header = lines.index("| option | env var | default | meaning |")
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        match = ROW.match(line)
        assert match, f"malformed row in {DOC.name}: {line}"
        text = match["default"]
        default = None if text == "(unset)" else tomllib.loads(f"v = {text}")["v"]
        assert match["option"] not in rows, f"duplicate row {match['option']}"
        rows[match["option"]] = (match["env"], default, match["meaning"])
    return rows


def as_doc_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


def test_doc_lists_exactly_the_model_fields_with_their_defaults() -> None:
    """Feed-wide options with the model's defaults; venue options with Binance spot's (the default)."""
    rows = doc_rows()
    fields = FeedSettings.model_fields
    assert list(rows) == list(fields), "docs/configuration.md must list every option, in model order"
    binance, problems = resolve_venue(VenueOptions())
    assert binance is not None, problems
    for name, field in fields.items():
        env, default, meaning = rows[name]
        assert env == env_var(name)
        if name in VenueOptions.model_fields:
            model_default = as_doc_value(getattr(binance, name))
        elif name == "dlq_path":  # computed: next to the journal, else in the state directory
            model_default = "<state dir>/feed-dlq.sqlite"
        else:
            model_default = as_doc_value(field.default)
        assert default == model_default and type(default) is type(model_default), (
            name,
            default,
            model_default,
        )
        assert field.description, f"{name} needs a description"
        assert len(meaning) > 10


def test_doc_toml_example_is_valid(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    [example] = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    s = load_settings(write(tmp_path, example))
    assert [v.name for v in s.venue_settings] == ["binance-spot", "spot-b"]
    assert s.venue_settings[0].symbols == ["btcusdt", "ethusdt", "solusdt"] and s.metrics_port == 9108


# -- several venues --------------------------------------------------------------------------------------


def test_venues_list_from_toml_each_with_its_own_options(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[feed]
buffer_capacity = 500
[[feed.venues]]
venue = "binance-spot"
symbols = ["btcusdt"]
[[feed.venues]]
venue = "binance-spot"
name = "spot-b"
symbols = ["ethusdt"]
ws_url = "ws://127.0.0.1:9"
snapshot_limit = 100
""",
    )
    s = load_settings(path)
    a, b = s.venue_settings
    assert (a.name, a.symbols, a.snapshot_limit) == ("binance-spot", ["btcusdt"], 1000)
    assert (b.name, b.symbols, b.ws_url, b.snapshot_limit) == ("spot-b", ["ethusdt"], "ws://127.0.0.1:9", 100)
    assert s.buffer_capacity == 500
    assert b.instrument("ETHUSDT") == "spot-b:ETHUSDT"


def test_venues_from_env_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "TICKSTORM_FEED_VENUES", '[{"symbols": "btcusdt"}, {"name": "b", "streams": ["trade"]}]'
    )
    a, b = load_settings().venue_settings
    assert a.name == "binance-spot" and b.name == "b" and b.streams == ["trade"]


def test_venue_problems_name_their_venue(tmp_path: Path) -> None:
    venues = [{"symbols": ["B@D"]}, {"name": "x", "max_streams_per_connection": 2000}, {"venue": "nope"}]
    with pytest.raises(ConfigError) as exc:
        load_settings(venues=venues)
    problems = exc.value.problems
    assert any(p.startswith("venues[0].symbols: invalid symbol") for p in problems), problems
    assert any(p.startswith("venues[1].max_streams_per_connection: must be <= 1024") for p in problems)
    assert any(p.startswith("venues[2].venue: unknown venue 'nope'") for p in problems)
    assert all(p.endswith("(from command line / argument)") for p in problems), problems


def test_venue_names_must_be_unique_and_options_not_mixed() -> None:
    with pytest.raises(ConfigError, match="names must be unique"):
        load_settings(venues=[{}, {}])
    with pytest.raises(ConfigError, match="symbols given at the top level and a venues list"):
        load_settings(symbols="btcusdt", venues=[{}])
    with pytest.raises(ConfigError, match="at least one venue"):
        load_settings(venues=[])


def test_every_venue_option_can_stand_at_the_top_level() -> None:
    assert set(VENUE_OPTIONS) == set(VenueOptions.model_fields) - {"venue"}
    assert set(VENUE_OPTIONS) <= set(FeedSettings.model_fields)


def test_the_command_line_groups_venue_options_after_each_venue() -> None:
    from feed.cli import _overrides
    from tickstorm.cli import build_parser

    parser = build_parser(only="feed")
    args = parser.parse_args(
        ["feed", "--jsonl", "out.jsonl", "--venue", "binance-spot", "--symbols", "btcusdt",
         "--ws-url", "ws://127.0.0.1:1",
         "--venue", "binance-spot", "--name", "spot-b", "--symbols", "ethusdt"]
    )  # fmt: skip
    s = load_settings(**_overrides(args))
    a, b = s.venue_settings
    assert (a.name, a.symbols, a.ws_url) == ("binance-spot", ["btcusdt"], "ws://127.0.0.1:1")
    assert (b.name, b.symbols, b.ws_url) == ("spot-b", ["ethusdt"], "wss://stream.binance.com:9443")
    assert s.jsonl == Path("out.jsonl")
    single = parser.parse_args(["feed", "--symbols", "solusdt"])  # no --venue: the only venue's options
    assert one(load_settings(**_overrides(single))).symbols == ["solusdt"]


def test_dlq_default_is_never_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The DLQ goes next to the journal, else into the state directory; not into wherever the feed started."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("TICKSTORM_STATE_DIR", raising=False)
    assert load_settings().dlq_path == tmp_path / "xdg" / "tickstorm" / "feed-dlq.sqlite"
    monkeypatch.setenv("TICKSTORM_STATE_DIR", str(tmp_path / "state"))
    assert load_settings().dlq_path == tmp_path / "state" / "feed-dlq.sqlite"
    out = tmp_path / "run" / "events.jsonl"
    assert load_settings(jsonl=out).dlq_path == tmp_path / "run" / "feed-dlq.sqlite"
    assert load_settings(jsonl=out, dlq_path=tmp_path / "x.sqlite").dlq_path == tmp_path / "x.sqlite"


def test_empty_dlq_on_the_command_line_turns_the_dlq_off() -> None:
    from feed.cli import _overrides
    from tickstorm.cli import build_parser

    args = build_parser(only="feed").parse_args(["feed", "--dlq", ""])
    assert load_settings(**_overrides(args)).dlq_path is None
    args = build_parser(only="feed").parse_args(["feed", "--dlq", "x/q.sqlite"])
    assert load_settings(**_overrides(args)).dlq_path == Path("x/q.sqlite")
