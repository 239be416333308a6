"""FaultBook: validation, matching, counts, windows, probabilities, seeded reproducibility."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_venues.base.faults import Action, FaultBook, FaultError


def test_no_rules_sends_everything() -> None:
    book = FaultBook(seed=1)
    assert not book.message_rules_active
    assert book.decide("btcusdt@trade", 0) is Action.SEND


def test_count_limits_a_rule_and_it_expires() -> None:
    book = FaultBook(seed=1)
    book.add("drop", now_ns=0, stream="btcusdt@depth*", count=2)
    assert book.decide("btcusdt@trade", 1) is Action.SEND
    assert book.decide("btcusdt@depth@100ms", 1) is Action.DROP
    assert book.decide("btcusdt@depth@100ms", 2) is Action.DROP
    assert book.decide("btcusdt@depth@100ms", 3) is Action.SEND
    assert book.rules() == []
    assert not book.message_rules_active


def test_duration_window() -> None:
    book = FaultBook()
    book.add("silence", now_ns=1_000, stream="ethusdt@trade", duration_s=1.0)
    assert book.decide("ethusdt@trade", 1_000 + 999_999_999) is Action.DROP
    assert book.decide("ethusdt@trade", 1_000 + 1_000_000_000) is Action.SEND


@pytest.mark.parametrize(
    ("kind", "action"),
    [("duplicate", Action.DUPLICATE), ("reorder", Action.HOLD), ("corrupt", Action.CORRUPT)],
)
def test_actions(kind: str, action: Action) -> None:
    book = FaultBook()
    book.add(kind, now_ns=0, count=1)
    assert book.decide("x@trade", 0) is action
    assert book.decide("x@trade", 0) is Action.SEND


def test_refuse_subscribe_is_not_a_message_rule() -> None:
    book = FaultBook()
    book.add("refuse_subscribe", now_ns=0, stream="btcusdt@*", count=1)
    assert not book.message_rules_active
    assert book.decide("btcusdt@trade", 0) is Action.SEND
    assert not book.refuse_subscription("ethusdt@trade", 0)
    assert book.refuse_subscription("btcusdt@trade", 0)
    assert not book.refuse_subscription("btcusdt@trade", 0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"kind": "explode"}, "unknown message fault 'explode'"),
        ({"kind": "drop", "count": 0}, "count must be a positive integer"),
        ({"kind": "drop", "count": True}, "count must be a positive integer"),
        ({"kind": "drop", "probability": 0}, "probability must be in"),
        ({"kind": "drop", "probability": 1.5}, "probability must be in"),
        ({"kind": "drop", "duration_s": -1}, "duration_s must be a number of seconds, more than 0"),
        ({"kind": "drop", "stream": ""}, "stream must be a non-empty"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_error(params: dict[str, object], message: str) -> None:
    book = FaultBook()
    kind = params.pop("kind")
    with pytest.raises(FaultError, match=message):
        book.add(kind, now_ns=0, **params)  # type: ignore[arg-type]
    assert book.rules() == []


def test_probability_is_seeded_and_reproducible() -> None:
    def run(seed: int) -> list[Action]:
        book = FaultBook(seed=seed)
        book.add("drop", now_ns=0, probability=0.5)
        return [book.decide("s@trade", 0) for _ in range(200)]

    first = run(7)
    assert first == run(7)
    drops = first.count(Action.DROP)
    assert 60 < drops < 140  # about half
    assert first != run(8)


@given(st.binary(min_size=2, max_size=300))
def test_corrupt_never_returns_valid_json(payload: bytes) -> None:
    import orjson

    book = FaultBook(seed=3)
    bad = book.corrupt(b'{"e":"trade","p":"' + payload.hex().encode() + b'"}')
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(bad)
