"""Venue-level faults that a TCP proxy cannot make, as pure decision logic.

A :class:`FaultBook` holds the active rules. The publisher asks it, for each replayed message, what to do
with it (send, drop, duplicate, hold back for reordering, corrupt, or stay silent); the WebSocket session
asks it whether to refuse a subscription. Rules match replay stream names with shell-style patterns
(``btcusdt@depth*``), can be limited to a number of messages, a time window and a probability, and draw
from one seeded random generator so a run is reproducible for a given seed and message order.

Faults that are actions rather than per-message rules (close connections, change the replay speed, stall
the sender, insert a sequence gap, REST errors) are carried out by the venue directly; every fault, of
either sort, is recorded in the venue history with its time.
"""

from __future__ import annotations

import enum
import fnmatch
import itertools
import random
from dataclasses import dataclass, field
from typing import Any


class MessageFault(enum.StrEnum):
    """What a per-message rule does to the messages it matches."""

    DROP = "drop"  # not sent to anyone (the venue's own state still advances)
    DUPLICATE = "duplicate"  # sent twice
    REORDER = "reorder"  # held back and sent right after the next message of the same stream
    CORRUPT = "corrupt"  # malformed JSON sent in its place
    SILENCE = "silence"  # not sent: one stream goes quiet while the rest of the connection flows
    REFUSE_SUBSCRIBE = "refuse_subscribe"  # SUBSCRIBE requests for matching streams get an error reply


class Action(enum.IntEnum):
    """The publisher's instruction for one message."""

    SEND = 0
    DROP = 1
    DUPLICATE = 2
    HOLD = 3
    CORRUPT = 4


_ACTION_OF = {
    MessageFault.DROP: Action.DROP,
    MessageFault.SILENCE: Action.DROP,
    MessageFault.DUPLICATE: Action.DUPLICATE,
    MessageFault.REORDER: Action.HOLD,
    MessageFault.CORRUPT: Action.CORRUPT,
}


MAX_DURATION_S = (2**63 - 1) / 1e9
"""The longest duration a fault or stall takes (its end in ns must fit 64 bits; about 292 years)."""


class FaultError(ValueError):
    """A fault request that cannot be applied (unknown kind, bad parameter); the message says why."""


@dataclass
class FaultRule:
    """One active rule: which streams, how many messages, for how long, how likely."""

    id: int
    kind: MessageFault
    stream: str = "*"
    count: int | None = None  # messages still to affect; None = unlimited
    probability: float = 1.0
    until_ns: int | None = None  # monotonic deadline; None = until removed
    created_ns: int = 0
    applied: int = 0
    _match_cache: dict[str, bool] = field(default_factory=dict, repr=False)

    def matches(self, stream: str) -> bool:
        """Whether the rule's pattern matches ``stream`` (cached per stream name)."""
        hit = self._match_cache.get(stream)
        if hit is None:
            hit = self._match_cache[stream] = fnmatch.fnmatchcase(stream, self.stream)
        return hit

    def expired(self, now_ns: int) -> bool:
        """True once the rule has used up its count or its time window."""
        return (self.count is not None and self.count <= 0) or (
            self.until_ns is not None and now_ns >= self.until_ns
        )

    def describe(self) -> dict[str, Any]:
        """The rule as JSON-able data (control API and history)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "stream": self.stream,
            "count": self.count,
            "probability": self.probability,
            "until_ns": self.until_ns,
            "applied": self.applied,
        }


class FaultBook:
    """The set of active per-message fault rules, with one seeded random generator."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._ids = itertools.count(1)
        self._rules: list[FaultRule] = []
        self.message_rules_active = False  # fast-path flag read by the publisher on every message

    def add(
        self,
        kind: str,
        *,
        now_ns: int,
        stream: str = "*",
        count: int | None = None,
        probability: float = 1.0,
        duration_s: float | None = None,
    ) -> FaultRule:
        """Validate and add a rule; raises :class:`FaultError` with a clear message on bad input."""
        try:
            fault = MessageFault(kind)
        except ValueError:
            known = ", ".join(k.value for k in MessageFault)
            raise FaultError(f"unknown message fault {kind!r}; known: {known}") from None
        if not isinstance(stream, str) or not stream:
            raise FaultError("stream must be a non-empty stream name or pattern")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise FaultError(f"count must be a positive integer, got {count!r}")
        if not isinstance(probability, int | float) or not 0.0 < probability <= 1.0:
            raise FaultError(f"probability must be in (0, 1], got {probability!r}")
        if duration_s is not None and (
            not isinstance(duration_s, int | float) or not 0 < duration_s <= MAX_DURATION_S
        ):
            raise FaultError(
                f"duration_s must be a positive number up to {MAX_DURATION_S:.0f}, got {duration_s!r}"
            )
        until = None if duration_s is None else now_ns + int(duration_s * 1e9)
        rule = FaultRule(next(self._ids), fault, stream, count, float(probability), until, now_ns)
        self._rules.append(rule)
        self._refresh()
        return rule

    def remove(self, rule_id: int) -> bool:
        """Remove one rule; False if there was no such rule."""
        before = len(self._rules)
        self._rules = [r for r in self._rules if r.id != rule_id]
        self._refresh()
        return len(self._rules) != before

    def clear(self) -> None:
        """Remove every rule."""
        self._rules.clear()
        self._refresh()

    def rules(self) -> list[FaultRule]:
        """The rules still active (in the order they were added)."""
        return list(self._rules)

    def _refresh(self) -> None:
        self.message_rules_active = any(r.kind is not MessageFault.REFUSE_SUBSCRIBE for r in self._rules)

    def _take(self, rule: FaultRule) -> bool:
        if rule.probability < 1.0 and self._rng.random() >= rule.probability:
            return False
        rule.applied += 1
        if rule.count is not None:
            rule.count -= 1
        return True

    def decide(self, stream: str, now_ns: int) -> Action:
        """What to do with the next message of ``stream``; the first matching live rule wins."""
        expired = False
        action = Action.SEND
        for rule in self._rules:
            if rule.expired(now_ns):
                expired = True
                continue
            if rule.kind is MessageFault.REFUSE_SUBSCRIBE or not rule.matches(stream):
                continue
            if self._take(rule):
                action = _ACTION_OF[rule.kind]
                break
        if expired:
            self._rules = [r for r in self._rules if not r.expired(now_ns)]
            self._refresh()
        return action

    def refuse_subscription(self, stream: str, now_ns: int) -> bool:
        """Whether a SUBSCRIBE for ``stream`` must be refused now (consumes one count of the rule)."""
        for rule in self._rules:
            if (
                rule.kind is MessageFault.REFUSE_SUBSCRIBE
                and not rule.expired(now_ns)
                and rule.matches(stream)
            ):
                return self._take(rule)
        return False

    def corrupt(self, payload: bytes) -> bytes:
        """Malformed JSON derived from ``payload``: cut at a seeded point and a stray byte appended."""
        cut = self._rng.randrange(1, max(2, len(payload)))
        return payload[:cut] + b"\x07"
