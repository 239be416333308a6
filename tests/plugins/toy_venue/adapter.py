"""The toy venue's feed adapter: ``trades.<SYMBOL>`` streams, sequence = trade id, no REST, no book."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import orjson

from feed.adapter import (
    BookSync,
    Continuity,
    ControlReply,
    Decoded,
    Defaults,
    Login,
    Market,
    Recovery,
    Rejected,
    StreamSpec,
    VenueLimits,
)
from feed.config import VenueSettings


class ToyCodec:
    def decode(self, frame: bytes) -> Decoded:
        try:
            doc = orjson.loads(frame)
            if "ch" in doc:
                return Market(doc["ch"], int(doc["seq"]), None, int(doc["ts"]) * 1_000_000, doc)
            if doc.get("ok") is True:
                return ControlReply(doc.get("id"))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            pass
        return Rejected(frame, "unrecognised message")


class ToyAdapter:
    name: ClassVar[str] = "toy"
    limits: ClassVar[VenueLimits] = VenueLimits(100, 100, 10.0, 5.0, 100, 50, 60.0, None)
    defaults: ClassVar[Defaults] = Defaults("ws://127.0.0.1:1", None, ("BTCUSDT",), ("trades",))

    def validate(self, settings: VenueSettings) -> list[str]:
        settings.symbols = [s.upper() for s in settings.symbols]
        return [] if settings.streams == ["trades"] else ["streams: the toy venue has only 'trades'"]

    def stream_specs(self, settings: VenueSettings) -> list[StreamSpec]:
        return [self._spec(s) for s in settings.symbols]

    def parse_stream(self, name: str) -> StreamSpec | None:
        kind, _, symbol = name.partition(".")
        return self._spec(symbol) if kind == "trades" and symbol else None

    def _spec(self, symbol: str) -> StreamSpec:
        return StreamSpec(f"trades.{symbol}", symbol, "trades", "trade", Continuity.STEP)

    def codec(self) -> ToyCodec:
        return ToyCodec()

    def book(self, spec: StreamSpec) -> BookSync:
        raise ValueError("the toy venue has no books")

    def connection_url(self, settings: VenueSettings, streams: Sequence[str]) -> str:
        return settings.ws_url + "/feed"

    def control_frames(self, method: str, streams: Sequence[str], request_id: int) -> list[str | bytes]:
        return [orjson.dumps({"op": method, "ch": list(streams), "id": request_id}).decode()]

    def login(self, settings: VenueSettings) -> Login | None:
        return None

    def recovery(self, settings: VenueSettings) -> Recovery:
        raise ValueError("the toy venue has no REST")

    def recorded_frame(self, stream: str, data: Any) -> bytes:
        return orjson.dumps(
            {"ch": stream, "seq": data["t"], "px": data["p"], "qty": data["q"], "ts": data["T"]}
        )

    def recorded_snapshot(self, url: str, data: Any) -> str | None:
        return None
