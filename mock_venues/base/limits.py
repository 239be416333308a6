"""Venue rate limits as pure counters: REST IP weight (429, then 418 bans), connection attempts, messages
per connection (the numbers are each venue's; Binance spot's documented ones are the defaults).

Nothing here reads a clock: every call takes ``now_ns`` (any monotonic-ish integer nanosecond clock), so
tests drive time by hand and the venue decides which clock to use.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

NS_PER_S = 1_000_000_000
MINUTE_NS = 60 * NS_PER_S
# Binance: "ban length grows from 2 minutes to 3 days for repeat offenders". The steps between are not
# documented; the mock doubles from 2 minutes and caps at 3 days.
FIRST_BAN_NS = 2 * MINUTE_NS
MAX_BAN_NS = 3 * 24 * 60 * MINUTE_NS


def _ceil_s(ns: int) -> int:
    """Whole seconds covering ``ns`` (at least 1)."""
    return max(1, -(-ns // NS_PER_S))


class SlidingWindowCounter:
    """Counts events in the last ``window_ns``: an event at ``t`` counts while ``now - window < t <= now``.

    ``resolution_ns`` > 0 merges events closer than that into one entry (bounded memory under floods, at
    the price of expiring merged events up to ``resolution_ns`` early); 0 keeps every event exactly.
    """

    __slots__ = ("_events", "_resolution_ns", "_total", "window_ns")

    def __init__(self, window_ns: int, resolution_ns: int = 0) -> None:
        if window_ns <= 0:
            raise ValueError(f"window_ns must be positive, got {window_ns}")
        self.window_ns = window_ns
        self._resolution_ns = max(0, resolution_ns)
        self._events: deque[list[int]] = deque()  # [time_ns, count], oldest first
        self._total = 0

    def _expire(self, now_ns: int) -> None:
        horizon = now_ns - self.window_ns
        events = self._events
        while events and events[0][0] <= horizon:
            self._total -= events.popleft()[1]

    def add(self, now_ns: int, n: int = 1) -> int:
        """Record ``n`` events at ``now_ns``; return the total now in the window (including them)."""
        self._expire(now_ns)
        if n > 0:
            events = self._events
            if events and now_ns - events[-1][0] <= self._resolution_ns:
                events[-1][1] += n
            else:
                events.append([now_ns, n])
            self._total += n
        return self._total

    def total(self, now_ns: int) -> int:
        """Events in the window ending at ``now_ns``."""
        self._expire(now_ns)
        return self._total

    def __len__(self) -> int:
        return len(self._events)


@dataclass(frozen=True, slots=True)
class LimitDecision:
    """What the weight limiter says about one request."""

    allowed: bool
    status: int  # 200, 429 (over the limit) or 418 (IP banned)
    used: int  # the X-MBX-USED-WEIGHT-1M value
    retry_after_s: int | None = None  # Retry-After header for 429/418


@dataclass(slots=True)
class _IpState:
    window: int = -1  # index of the fixed window ``used`` belongs to
    used: int = 0
    rejected: int = 0  # 429s answered in this window
    banned_until_ns: int = 0
    in_ban: bool = False
    bans: int = 0  # bans so far (escalation step)


class WeightLimiter:
    """Binance REST ``REQUEST_WEIGHT`` per IP in fixed windows (1 minute, aligned to multiples of the window).

    * The weight of every request not refused by a ban is added to the window (also the request that is
      then answered 429, so ``used`` can exceed ``limit`` as on Binance).
    * Over the limit: 429 with ``Retry-After`` = seconds to the end of the window.
    * Another request in the same window after ``grace`` further 429s: the IP is banned (418); bans last
      2 min, 4 min, 8 min, ... up to 3 days for repeat offenders, times ``ban_scale`` (at least 1 s).
      During a ban every request is answered 418 with ``Retry-After`` = seconds until the ban ends and is
      not charged; when the ban is over the IP starts from zero weight.
    """

    def __init__(
        self, limit: int, ban_scale: float = 1.0, *, window_ns: int = MINUTE_NS, grace: int = 0
    ) -> None:
        if limit <= 0:
            raise ValueError(f"limit must be positive, got {limit}")
        if ban_scale <= 0:
            raise ValueError(f"ban_scale must be positive, got {ban_scale}")
        if window_ns <= 0:
            raise ValueError(f"window_ns must be positive, got {window_ns}")
        self.limit = limit
        self.ban_scale = ban_scale
        self.window_ns = window_ns
        self.grace = max(0, grace)
        self._ips: dict[str, _IpState] = {}
        self._calls = 0

    def _state(self, ip: str, now_ns: int) -> _IpState:
        state = self._ips.get(ip)
        if state is None:
            state = self._ips[ip] = _IpState()
        window = now_ns // self.window_ns
        if window != state.window:
            state.window, state.used, state.rejected = window, 0, 0
        return state

    def ban_ns(self, step: int) -> int:
        """Length of ban number ``step`` (0 = first), scaled, at least 1 s."""
        raw = min(FIRST_BAN_NS << min(step, 32), MAX_BAN_NS)
        return max(NS_PER_S, int(raw * self.ban_scale))

    def used(self, ip: str, now_ns: int) -> int:
        """Weight used by ``ip`` in the current window (nothing is charged)."""
        return self._state(ip, now_ns).used

    def banned_until_ns(self, ip: str) -> int:
        """When the current (or last) ban of ``ip`` ends; 0 if it was never banned."""
        state = self._ips.get(ip)
        return state.banned_until_ns if state is not None else 0

    def charge(self, ip: str, weight: int, now_ns: int) -> LimitDecision:
        """Charge one request of ``weight`` from ``ip`` at ``now_ns`` and decide how to answer it."""
        self._calls += 1
        if self._calls % 4096 == 0:
            self.forget(now_ns - self.window_ns)
        state = self._state(ip, now_ns)
        if state.in_ban:
            if now_ns < state.banned_until_ns:
                return LimitDecision(False, 418, state.used, _ceil_s(state.banned_until_ns - now_ns))
            # the ban is over: a fresh start, even when a compressed ban ended inside the same window
            state.in_ban, state.used, state.rejected = False, 0, 0
        if state.rejected > self.grace:
            # kept sending in the window after being told to back off: ban
            until = now_ns + self.ban_ns(state.bans)
            state.bans += 1
            state.banned_until_ns, state.in_ban = until, True
            return LimitDecision(False, 418, state.used, _ceil_s(until - now_ns))
        state.used += max(0, weight)
        if state.used <= self.limit:
            return LimitDecision(True, 200, state.used, None)
        state.rejected += 1
        window_end = (state.window + 1) * self.window_ns
        return LimitDecision(False, 429, state.used, _ceil_s(window_end - now_ns))

    def forget(self, before_ns: int) -> int:
        """Drop IPs idle since before ``before_ns`` and not banned (bounded memory); return how many."""
        window = before_ns // self.window_ns
        stale = [
            ip
            for ip, s in self._ips.items()
            if s.window < window and s.banned_until_ns <= before_ns and s.bans == 0
        ]
        for ip in stale:
            del self._ips[ip]
        return len(stale)


class ConnectionAttemptLimiter:
    """Connection attempts per peer in a sliding window (Binance: 300 per 5 minutes per IP).

    Every attempt counts, refused ones too, so a client retrying in a tight loop stays refused until it
    backs off for a window.
    """

    def __init__(self, limit: int, window_ns: int) -> None:
        if limit <= 0:
            raise ValueError(f"limit must be positive, got {limit}")
        self.limit = limit
        self.window_ns = window_ns
        self._resolution_ns = window_ns // 1000
        self._peers: dict[str, SlidingWindowCounter] = {}
        self._calls = 0

    def hit(self, peer: str, now_ns: int) -> bool:
        """Count one attempt by ``peer``; False = refuse it (over the limit)."""
        counter = self._peers.get(peer)
        if counter is None:
            counter = self._peers[peer] = SlidingWindowCounter(self.window_ns, self._resolution_ns)
        allowed = counter.add(now_ns) <= self.limit
        self._calls += 1
        if self._calls % 4096 == 0:
            self._prune(now_ns)
        return allowed

    def _prune(self, now_ns: int) -> None:
        for peer in [p for p, c in self._peers.items() if c.total(now_ns) == 0]:
            del self._peers[peer]


class MessageRateLimiter:
    """Incoming messages on one connection: False once more than ``per_second`` arrive within 1 s."""

    def __init__(self, per_second: int) -> None:
        if per_second <= 0:
            raise ValueError(f"per_second must be positive, got {per_second}")
        self.per_second = per_second
        self._counter = SlidingWindowCounter(NS_PER_S)

    def hit(self, now_ns: int) -> bool:
        """Count one incoming message at ``now_ns``; False = the connection broke the limit."""
        return self._counter.add(now_ns) <= self.per_second
