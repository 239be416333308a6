"""The toy venue's mock side: the Binance tape's trades as ``{"ch","seq","px","qty","ts"}`` frames."""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from websockets.asyncio.server import ServerConnection

from mock_venues.base.reference import ReferenceClient
from mock_venues.base.session import SessionBase
from mock_venues.base.venue import VenueBase
from mock_venues.binance_spot.tape import BinanceTape
from mock_venues.replay.records import Recorded
from mock_venues.replay.source import Item, ReplaySource
from tickstorm.recording import Record


class ToyTape(BinanceTape):
    """Binance recordings, trades only, on streams ``trades.<SYMBOL>``."""

    def classify(self, record: Record) -> Item | None:
        item = super().classify(record)
        if item is None or item[3] != "trade":
            return None
        ns, symbol, _, event, data = item
        return ns, symbol, f"trades.{symbol}", event, data


class ToyModel:
    """No book; each trade keeps its id as the toy's sequence number."""

    def apply(self, rec: Recorded, intended_ns: int) -> tuple[int, Any]:
        return rec.venue_id, rec

    def encode(self, message: Any, intended_ns: int) -> bytes:
        data = message.data
        return orjson.dumps(
            {"ch": message.stream, "seq": data["t"], "px": data["p"], "qty": data["q"], "ts": data["T"]}
        )


class ToySession(SessionBase):
    """``{"op": "subscribe"|"unsubscribe", "ch": [...], "id": n}`` -> ``{"ok": true, "id": n}``."""

    def handle_control(self, message: str | bytes) -> bytes | None:
        try:
            doc = orjson.loads(message)
            op, channels = doc["op"], doc["ch"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return orjson.dumps({"ok": False, "error": "bad request"})
        for ch in channels:
            self.subscribe(ch) if op == "subscribe" else self.unsubscribe(ch)
        return orjson.dumps({"ok": True, "id": doc.get("id")})


class ToyVenue(VenueBase):
    """The toy venue (WebSocket only; no REST)."""

    name: ClassVar[str] = "toy"
    description: ClassVar[str] = "toy venue: Binance trades in a wire format of its own"

    def build_source(self) -> ReplaySource:
        return ReplaySource(
            self.config.recordings, ToyTape(derive_agg_trades=False), symbols=self.config.symbols
        )

    def build_model(self) -> ToyModel:
        return ToyModel()

    def new_session(self, conn: ServerConnection, session_id: int) -> SessionBase:
        return ToySession(self, conn, session_id)

    @classmethod
    def reference_client(cls, ws_url: str, streams: list[str]) -> ReferenceClient:
        def ids(frame: bytes) -> list[tuple[str, int]]:
            doc = orjson.loads(frame)
            return [(doc["ch"], doc["seq"])] if "ch" in doc else []

        return ReferenceClient(
            f"{ws_url}/feed", ids, [orjson.dumps({"op": "subscribe", "ch": streams}).decode()]
        )
