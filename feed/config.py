"""The feed's settings: one validated model fed by CLI flags, environment variables and a TOML file.

A feed ingests one or more venues. Each venue has its own :class:`VenueSettings` (which adapter, its
symbols and streams, URLs, connection and recovery knobs); everything else (sinks, buffers, the metrics and
downstream servers) is feed-wide. With one venue its options can be given at the top level
(``symbols = [...]``, ``TICKSTORM_FEED_SYMBOLS``, ``tickstorm feed --symbols``); several venues are a
``venues`` list (``[[feed.venues]]`` in TOML, ``TICKSTORM_FEED_VENUES`` as a JSON array, or repeated
``tickstorm feed --venue NAME ...`` groups). Venue defaults that depend on the venue (URLs, limits, default
symbols) come from its adapter.

Precedence, highest first: keyword overrides (CLI flags; ``None`` means "not given") > environment
variables ``TICKSTORM_FEED_<OPTION>`` > the TOML file (top-level keys, or its ``[feed]`` table when it has
one) > defaults. :func:`load_settings` turns every problem into one :class:`ConfigError` that names each
offending option and where its value came from. docs/configuration.md lists every option (a test keeps it
in step with this model).
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError

from feed import registry
from feed.buffer import OverflowPolicy
from tickstorm.ports import Port

ENV_PREFIX = "TICKSTORM_FEED_"
TOML_TABLE = "feed"
DEFAULT_VENUE = "binance-spot"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")

_toml_source: contextvars.ContextVar[PydanticBaseSettingsSource | None] = contextvars.ContextVar(
    "tickstorm_feed_toml_source", default=None
)


class ConfigError(ValueError):
    """Invalid feed configuration; ``problems`` holds one readable line per offending option."""

    def __init__(self, problems: list[str], header: str = "invalid feed configuration") -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"{header} ({count}):\n" + "\n".join(f"  - {p}" for p in problems))


DLQ_FILE = "feed-dlq.sqlite"


def state_dir() -> Path:
    """Where the feed keeps its own files when no output folder is given: ``$TICKSTORM_STATE_DIR``, else
    ``$XDG_STATE_HOME/tickstorm``, else ``~/.local/state/tickstorm`` (never the current directory)."""
    explicit = os.environ.get("TICKSTORM_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "tickstorm"


def default_dlq_path() -> Path:
    """The dead letter queue's default file (in :func:`state_dir`)."""
    return state_dir() / DLQ_FILE


def _split_list(value: Any) -> Any:
    """Accept ``"a,b"`` (env vars, CLI flags) or a JSON array string as well as a real list."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a valid JSON list: {exc}") from None
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _empty_is_none(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("", "none", "null"):
        return None
    return value


class VenueOptions(BaseModel):
    """The options of one venue. ``None`` means "the venue's default" (from its adapter)."""

    model_config = ConfigDict(extra="forbid")

    venue: str | None = Field(
        default=None, description="Venue adapter to ingest (a registered venue name, e.g. binance-spot)."
    )
    name: str | None = Field(
        default=None,
        description=(
            "Name of this venue instance, unique in the feed (default: the venue); instruments are "
            "<name>:<symbol>."
        ),
    )
    symbols: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="Symbols to subscribe (a comma-separated string is accepted); the venue's grammar.",
    )
    streams: Annotated[list[str] | None, NoDecode] = Field(
        default=None, description="Stream kinds per symbol (comma-separated string accepted)."
    )
    ws_url: str | None = Field(default=None, description="WebSocket base URL.")
    ws_client: Literal["picows", "websockets"] | None = Field(
        default=None, description="WebSocket client library (picows measured fastest; see docs/feed.md)."
    )
    rest_url: str | None = Field(default=None, description="REST base URL (snapshots, backfill).")
    max_streams_per_connection: int | None = Field(
        default=None, ge=1, description="Streams per WebSocket connection (at most the venue's limit)."
    )
    control_messages_per_second: float | None = Field(
        default=None, gt=0, description="Control messages sent per second per connection (venue limit)."
    )
    connection_attempts_per_5min: int | None = Field(
        default=None, ge=1, description="Connection attempts per 5 minutes, all connections of the venue."
    )
    backoff_base_s: float | None = Field(
        default=None, gt=0, description="First reconnect delay bound in seconds (full jitter)."
    )
    backoff_cap_s: float | None = Field(default=None, gt=0, description="Largest reconnect delay bound.")
    backoff_stable_after_s: float | None = Field(
        default=None, ge=0, description="A connection up this long resets the reconnect backoff."
    )
    idle_timeout_s: float | None = Field(
        default=None, gt=0, description="No frame at all for this long means the peer is dead: reconnect."
    )
    ping_interval_s: float | None = Field(default=None, gt=0, description="Seconds between client pings.")
    rotate_after_s: float | None = Field(
        default=None,
        gt=0,
        description="Planned make-before-break rotation of a connection after this many seconds.",
    )
    rotation_overlap_s: float | None = Field(
        default=None, ge=0, description="Seconds old and new connections overlap during a rotation."
    )
    snapshot_limit: int | None = Field(default=None, ge=1, description="Levels per side in a book snapshot.")
    rest_weight_per_minute: int | None = Field(
        default=None, ge=1, description="REST weight the feed allows itself per minute (venue limit)."
    )
    rest_timeout_s: float | None = Field(default=None, gt=0, description="Timeout of one REST request.")
    reorder_window_ms: float | None = Field(
        default=None, ge=0, description="How long an out-of-order id waits for the ids before it."
    )
    backfill: bool | None = Field(default=None, description="Fetch missed ids over REST after a hole.")
    backfill_max_pages: int | None = Field(
        default=None, ge=1, description="Most REST pages fetched to backfill one hole."
    )
    stale_factor: float | None = Field(
        default=None, gt=0, description="A stream is stale after this many times its typical message gap."
    )
    stale_floor_s: float | None = Field(default=None, gt=0, description="Shortest staleness threshold.")
    stale_ceiling_s: float | None = Field(
        default=None, gt=0, description="Longest staleness threshold (also used until the rate is known)."
    )
    api_key: SecretStr | None = Field(
        default=None, description="API key id for venues that need a login (never logged)."
    )
    api_secret: SecretStr | None = Field(
        default=None, description="API secret for venues that need a login (never logged)."
    )
    encoding: Literal["json", "msgpack"] | None = Field(
        default=None, description="Wire encoding where the venue offers several (json or msgpack)."
    )
    symbol_limit: int | None = Field(
        default=None, ge=1, description="Most symbols subscribed per connection (the account's plan)."
    )
    rest_retry_budget_s: float | None = Field(
        default=None, gt=0, description="Seconds one REST recovery may spend waiting out 429 answers."
    )

    @field_validator("symbols", "streams", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        value = _split_list(value)
        if isinstance(value, list):
            return [v.strip() if isinstance(v, str) else v for v in value]
        return value

    @field_validator("ws_url")
    @classmethod
    def _ws_url_valid(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"wss?://[^/\s]+", value):
            raise ValueError("must be a ws:// or wss:// URL")
        return value.rstrip("/") if value is not None else None

    @field_validator("rest_url")
    @classmethod
    def _rest_url_valid(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value is not None else None

    @field_validator("name")
    @classmethod
    def _name_valid(cls, value: str | None) -> str | None:
        if value is not None and not NAME_RE.fullmatch(value):
            raise ValueError("must be 1-40 characters of a-z, 0-9, '.', '_' or '-', starting alphanumeric")
        return value

    def given(self) -> dict[str, Any]:
        """The options that were set."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


GENERIC_DEFAULTS: dict[str, Any] = {
    "ws_client": "picows",
    "snapshot_limit": 1000,
    "backoff_base_s": 0.5,
    "backoff_cap_s": 30.0,
    "backoff_stable_after_s": 30.0,
    "idle_timeout_s": 10.0,
    "rotation_overlap_s": 2.0,
    "rest_timeout_s": 10.0,
    "reorder_window_ms": 50.0,
    "backfill": True,
    "backfill_max_pages": 20,
    "stale_factor": 10.0,
    "stale_floor_s": 1.0,
    "stale_ceiling_s": 60.0,
    "api_key": None,
    "api_secret": None,
    "encoding": "json",
    "symbol_limit": None,
    "rest_retry_budget_s": 30.0,
}
"""Defaults of venue options that do not depend on the venue."""


class VenueSettings(BaseModel):
    """One venue of the feed, every option resolved (build with :func:`resolve_venue`)."""

    model_config = ConfigDict(extra="forbid")

    venue: str
    name: str
    symbols: list[str]
    streams: list[str]
    ws_url: str
    ws_client: Literal["picows", "websockets"]
    rest_url: str | None
    max_streams_per_connection: int
    control_messages_per_second: float
    connection_attempts_per_5min: int
    backoff_base_s: float
    backoff_cap_s: float
    backoff_stable_after_s: float
    idle_timeout_s: float
    ping_interval_s: float
    rotate_after_s: float
    rotation_overlap_s: float
    snapshot_limit: int
    rest_weight_per_minute: int
    rest_timeout_s: float
    reorder_window_ms: float
    backfill: bool
    backfill_max_pages: int
    stale_factor: float
    stale_floor_s: float
    stale_ceiling_s: float
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    encoding: Literal["json", "msgpack"] = "json"
    symbol_limit: int | None = None
    rest_retry_budget_s: float = 30.0

    def instrument(self, symbol: str) -> str:
        """The instrument id of one of this venue's symbols (``<name>:<SYMBOL>``)."""
        return f"{self.name}:{symbol}"


def _rotate_before(age_s: float | None) -> float:
    """When to rotate a connection planned ahead of the venue's age cut (no cut: every 48 hours)."""
    if age_s is None:
        return 48 * 3600.0
    return age_s - min(1800.0, age_s * 0.1)


def resolve_venue(options: VenueOptions) -> tuple[VenueSettings | None, list[str]]:
    """Fill a venue's unset options from its adapter and check them against the venue's limits.

    Returns the settings, or None and one problem per offending option (option names without a prefix).
    """
    venue = options.venue or DEFAULT_VENUE
    try:
        adapter = registry.adapter(venue)
    except registry.UnknownVenue as exc:
        return None, [f"venue: {exc}"]
    limits, defaults = adapter.limits, adapter.defaults
    venue_defaults: dict[str, Any] = {
        "venue": venue,
        "name": venue,
        "symbols": list(defaults.symbols),
        "streams": list(defaults.streams),
        "ws_url": defaults.ws_url,
        "rest_url": defaults.rest_url,
        "max_streams_per_connection": limits.default_streams_per_connection,
        "control_messages_per_second": limits.default_control_messages_per_second,
        "connection_attempts_per_5min": limits.default_connection_attempts,
        "ping_interval_s": limits.ping_interval_s,
        # rotate before the venue's age cut (Binance: 24 h -> 23.5 h)
        "rotate_after_s": _rotate_before(limits.max_connection_age_s),
        "rest_weight_per_minute": limits.default_rest_weight_per_minute or 1,
        **GENERIC_DEFAULTS,
        **defaults.extra,
    }
    values = {**venue_defaults, **options.given()}
    problems = []
    checks = (
        ("max_streams_per_connection", limits.max_streams_per_connection),
        ("control_messages_per_second", limits.control_messages_per_second),
        ("connection_attempts_per_5min", limits.connection_attempts),
        ("rest_weight_per_minute", limits.rest_weight_per_minute),
    )
    for option, limit in checks:
        if limit is not None and values[option] > limit:
            problems.append(f"{option}: must be <= {limit:g} (the {venue} limit), got {values[option]!r}")
    if values["backoff_cap_s"] < values["backoff_base_s"]:
        problems.append(f"backoff_cap_s: must be >= backoff_base_s ({values['backoff_base_s']})")
    if values["rotation_overlap_s"] >= values["rotate_after_s"]:
        problems.append(f"rotation_overlap_s: must be < rotate_after_s ({values['rotate_after_s']})")
    if values["stale_ceiling_s"] < values["stale_floor_s"]:
        problems.append(f"stale_ceiling_s: must be >= stale_floor_s ({values['stale_floor_s']})")
    settings = VenueSettings.model_construct(**values)
    problems += adapter.validate(settings)
    if problems:
        return None, problems
    return VenueSettings.model_validate(settings.model_dump()), []


VENUE_OPTIONS = tuple(name for name in VenueOptions.model_fields if name != "venue")
"""Venue options that may also stand at the top level when the feed ingests one venue."""


class FeedSettings(BaseSettings, VenueOptions):
    """Every setting of the reference feed (see docs/configuration.md)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        case_sensitive=False,
        validate_default=True,
    )

    venues: Annotated[list[dict[str, Any]] | None, NoDecode] = Field(
        default=None,
        description=(
            "Several venues, each a table of venue options (TOML [[feed.venues]], or a JSON array in "
            "TICKSTORM_FEED_VENUES); when given, venue options cannot also stand at the top level."
        ),
    )
    buffer_capacity: int = Field(
        default=100_000, ge=1, description="Events buffered per stream during reconnection or book resync."
    )
    overflow_policy: OverflowPolicy = Field(
        default=OverflowPolicy.DROP_OLDEST,
        description="When a buffer is full: drop_oldest or drop_newest (every drop is reported as a gap).",
    )
    dlq_path: Path | None = Field(
        default_factory=lambda: default_dlq_path(),
        description=(
            "SQLite dead letter queue file; empty or none disables it. Default: feed-dlq.sqlite next to "
            "the jsonl journal when one is written, else in the state directory (default_dlq_path)."
        ),
    )
    metrics_host: str = Field(
        default="127.0.0.1", min_length=1, description="Address the metrics endpoint binds to."
    )
    metrics_port: Port | None = Field(
        default=None,
        description="Port of the Prometheus /metrics endpoint; unset disables it.",
    )
    jsonl: Path | None = Field(
        default=None, description="Write one JSON object per delivered event to this file."
    )
    # -- downstream server (feed/downstream, docs/downstream.md) -------------------------------------------
    serve_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address the downstream WebSocket and HTTP servers bind to.",
    )
    serve_port: Port | None = Field(
        default=None,
        description="Port of the downstream WebSocket server (0: any free port); unset disables it.",
    )
    serve_http_port: Port | None = Field(
        default=0,
        description="Port of the downstream HTTP API while serving (0: any free port); unset disables it.",
    )
    serve_queue_capacity: int = Field(
        default=10_000, ge=1, description="Events queued per downstream consumer before its policy acts."
    )
    serve_slow_policy: Literal["drop_oldest", "disconnect"] = Field(
        default="drop_oldest",
        description="Full consumer queue: drop_oldest (gap events) or disconnect after serve_slow_grace_s.",
    )
    serve_slow_grace_s: float = Field(
        default=5.0, gt=0, description="Seconds a consumer queue may stay full before 'disconnect' acts."
    )
    serve_max_batch: int = Field(
        default=500, ge=1, description="Most events in one WebSocket message to a consumer."
    )
    serve_send_buffer_bytes: int | None = Field(
        default=262_144,
        ge=4096,
        description="Kernel send buffer (SO_SNDBUF) per consumer socket; unset keeps the OS default.",
    )
    debug_retain_events: bool = Field(
        default=False,
        description=(
            "Testing only: keep every delivered event in memory forever (a deliberate leak that the soak "
            "scenario's memory check must catch). Never set it in production."
        ),
    )
    debug_tracemalloc: bool = Field(
        default=False,
        description=(
            "Diagnostics: trace Python allocations with tracemalloc (the feed runs markedly slower) and put "
            "the top allocation growth since start into the --state-out file."
        ),
    )
    resume: bool = Field(
        default=False,
        description=(
            "Continue from the jsonl journal of an earlier run (after a crash): append to it and start each "
            "stream after its last delivered id, so missed ids are backfilled or reported as gaps."
        ),
    )

    _venues: list[VenueSettings] = PrivateAttr(default_factory=list)

    @field_validator("venues", mode="before")
    @classmethod
    def _venues_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = _empty_is_none(value)
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"not a valid JSON array of venue tables: {exc}") from None
        return value

    @field_validator("dlq_path", "jsonl", "metrics_port", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return _empty_is_none(value)

    @field_validator("serve_port", "serve_http_port", "serve_send_buffer_bytes", mode="before")
    @classmethod
    def _serve_empty_is_none(cls, value: Any) -> Any:
        return _empty_is_none(value)

    @model_validator(mode="after")
    def _resolve_venues(self) -> FeedSettings:
        top = VenueOptions.model_validate({k: getattr(self, k) for k in VenueOptions.model_fields}).given()
        problems: list[str] = []
        if self.venues is None:
            entries: list[tuple[str, dict[str, Any]]] = [("", top)]
        else:
            clash = sorted(k for k in top if k != "venue")
            if clash:
                raise ValueError(
                    f"venue option(s) {', '.join(clash)} given at the top level and a venues list: put them "
                    "in each venue's table"
                )
            if not self.venues:
                raise ValueError("venues: at least one venue is required")
            entries = [(f"venues[{i}].", entry) for i, entry in enumerate(self.venues)]
        resolved: list[VenueSettings] = []
        for prefix, entry in entries:
            try:
                options = VenueOptions.model_validate(entry)
            except ValidationError as exc:
                problems += [f"{prefix}{_loc_name(tuple(e['loc']))}: {_message(e)}" for e in exc.errors()]
                continue
            venue, venue_problems = resolve_venue(options)
            problems += [prefix + p for p in venue_problems]
            if venue is not None:
                resolved.append(venue)
        names = [v.name for v in resolved]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            problems.append(
                f"venues: names must be unique (give each a name), repeated: {', '.join(duplicated)}"
            )
        if problems:
            raise ValueError("\n".join(problems))
        self._venues = resolved
        return self

    @model_validator(mode="after")
    def _dlq_next_to_journal(self) -> FeedSettings:
        """An unset ``dlq_path`` goes next to the journal, the feed's other output, when there is one."""
        if "dlq_path" not in self.model_fields_set and self.jsonl is not None:
            self.dlq_path = Path(self.jsonl).parent / DLQ_FILE
        return self

    # -- sources ----------------------------------------------------------------------------------------

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Overrides > env vars > the TOML file given to :func:`load_settings` (no .env, no secrets dir)."""
        toml = _toml_source.get()
        return (init_settings, env_settings) if toml is None else (init_settings, env_settings, toml)

    # -- derived ----------------------------------------------------------------------------------------

    @property
    def venue_settings(self) -> list[VenueSettings]:
        """Every venue of the feed, options resolved (``venues`` holds them as given)."""
        return list(self._venues)


class _FeedSettingsIgnoringUnknown(FeedSettings):
    """The same settings with unknown options ignored (to find the known options' problems too)."""

    model_config = SettingsConfigDict(extra="ignore")


class FeedTomlSource(TomlConfigSettingsSource):
    """pydantic-settings' TOML source reading top-level keys, or only the ``[feed]`` table when present."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        data = super()._read_file(file_path)
        table = data.get(TOML_TABLE)
        self.used_table = isinstance(table, dict)
        return table if isinstance(table, dict) else data


# -- loading -------------------------------------------------------------------------------------------


def env_var(option: str) -> str:
    """The environment variable that sets ``option``."""
    return f"{ENV_PREFIX}{option.upper()}"


def _env_options() -> dict[str, str]:
    """Options present in the environment (lower-case option -> variable name as spelled)."""
    found: dict[str, str] = {}
    for name in os.environ:
        if name.upper().startswith(ENV_PREFIX):
            found[name[len(ENV_PREFIX) :].lower()] = name
    return found


def _loc_name(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "(settings)"
    name = str(loc[0])
    for part in loc[1:]:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name


def _message(error: Any) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def load_settings(toml_path: Path | None = None, **overrides: Any) -> FeedSettings:
    """Build the settings: overrides (None ignored) > env vars > TOML file > defaults.

    Raises :class:`ConfigError` for anything wrong: unknown option, wrong type, out-of-range value,
    unknown venue, missing, unreadable or invalid TOML file.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    toml: FeedTomlSource | None = None
    toml_label = ""
    if toml_path is not None:
        path = Path(toml_path)
        toml_label = f"TOML file {path}"
        if not path.exists():
            raise ConfigError([f"{toml_label}: no such file"], header="cannot read feed configuration")
        if not path.is_file():
            raise ConfigError([f"{toml_label}: not a regular file"], header="cannot read feed configuration")
        try:
            toml = FeedTomlSource(FeedSettings, toml_file=path)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                [f"{toml_label}: invalid TOML: {exc}"], header="cannot read feed configuration"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                [f"{toml_label}: cannot read: {exc}"], header="cannot read feed configuration"
            ) from None
        if getattr(toml, "used_table", False):
            toml_label += f" [{TOML_TABLE}]"
    toml_data: dict[str, Any] = dict(toml.toml_data) if toml is not None else {}
    env = _env_options()
    fields = set(FeedSettings.model_fields)

    def source_of(option: str) -> str:
        if option in given:
            return "command line / argument"
        if option in env:
            return f"env {env[option]}"
        if option in toml_data:
            return toml_label
        return "default"

    problems = [
        f"{name}: unknown option (from env {name_as_spelled})"
        for name, name_as_spelled in sorted(env.items())
        if name not in fields
    ]

    def describe(exc: ValidationError) -> list[str]:
        lines = []
        for error in exc.errors():
            loc = error.get("loc", ())
            option = str(loc[0]) if loc else ""
            if option not in fields and option in env:
                continue  # already reported above
            if not loc:  # the venues check: one problem per line, each naming its option
                venues_source = source_of("venues") if "venues" in env or "venues" in toml_data else None
                for line in _message(error).splitlines():
                    head = line.split(":", 1)[0].split("[", 1)[0].split(".", 1)[0]
                    where = venues_source if line.startswith("venues") and venues_source else source_of(head)
                    lines.append(f"{line} (from {where})")
                continue
            where = source_of(option)
            if error.get("type") == "extra_forbidden":
                lines.append(f"{option}: unknown option (from {where})")
                continue
            got = f", got {_short(error['input'])}" if "input" in error and where != "default" else ""
            lines.append(f"{_loc_name(tuple(loc))}: {_message(error)}{got} (from {where})")
        return lines

    token = _toml_source.set(toml)
    try:
        settings = FeedSettings(**given)
    except ValidationError as exc:
        problems += describe(exc)
        if all(e.get("type") == "extra_forbidden" for e in exc.errors()):
            # Unknown options alone must not hide the known ones' problems: check those too.
            try:
                _FeedSettingsIgnoringUnknown(**{k: v for k, v in given.items() if k in fields})
            except ValidationError as more:
                problems += [line for line in describe(more) if line not in problems]
        raise ConfigError(problems) from None
    except SettingsError as exc:
        problems.append(str(exc))
        raise ConfigError(problems) from None
    finally:
        _toml_source.reset(token)
    if problems:
        raise ConfigError(problems)
    return settings
