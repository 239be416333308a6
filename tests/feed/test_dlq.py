"""Dead letter queue: rows survive close and reopen, batching, filters, raw bytes kept exactly."""

from __future__ import annotations

from pathlib import Path

from feed.dlq import DeadLetterQueue


def test_put_flush_reopen(tmp_path: Path) -> None:
    path = tmp_path / "dlq.sqlite"
    with DeadLetterQueue(path, batch_size=2) as dlq:
        dlq.put("binance-spot", "btcusdt@trade", "malformed JSON", b"{bad\x07", received_unix_ns=10)
        assert dlq.count() == 0  # batched
        dlq.put("binance-spot", "ethusdt@trade", "invalid trade payload", b'{"t":"x"}', received_unix_ns=11)
        assert dlq.count() == 2  # batch size reached
        dlq.put("binance-spot", None, "unrecognised message", b"[]", received_unix_ns=12)
        assert dlq.total == 3
    with DeadLetterQueue(path) as again:
        rows = list(again.entries())
        assert [r.raw for r in rows] == [b"{bad\x07", b'{"t":"x"}', b"[]"]
        assert [r.stream for r in rows] == ["btcusdt@trade", "ethusdt@trade", None]
        assert [r.id for r in again.entries(stream="ethusdt@trade")] == [2]
        assert again.get(1) is not None and again.get(1).reason == "malformed JSON"  # type: ignore[union-attr]
        assert again.get(99) is None
        assert again.total == 3
