"""Order book check: the feed's book equals the venue's true book where the venue's procedure makes it exact.

Books are in the neutral shape of docs/events.md: ``{"id", "bids", "asks"}`` (the feed's adds ``band``: the
price range its last snapshot covered; levels outside it may be missing, so only wrong values count there).
A second check fails on any crossed book (best bid at or above best ask), the feed's or the venue's, at the
end or, as the venue reported it, at any moment of the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from harness.checks.verdict import Verdict

Body = dict[str, Any]  # {"id", "bids": [[p, q]...], "asks": [...]}


def _levels(levels: list[list[str]], keep: Any) -> dict[Decimal, Decimal]:
    return {Decimal(p): Decimal(q) for p, q in levels if keep(Decimal(p))}


def book_differences(truth: Body, feed: Body | None, limit: int = 5) -> list[str]:
    """Differences inside the feed's band (its snapshot's price range), and wrong values anywhere."""
    if feed is None:
        return ["the feed's book is not in sync"]
    problems: list[str] = []
    if truth["id"] != feed["id"]:
        problems.append(f"book id {feed['id']} != venue {truth['id']}")
    band = feed.get("band")
    low, high = (Decimal(band[0]), Decimal(band[1])) if band else (Decimal(0), Decimal("Infinity"))
    for side, keep in (("bids", lambda p: p >= low), ("asks", lambda p: p <= high)):
        true_all = _levels(truth[side], lambda p: True)
        want = _levels(truth[side], keep)
        got = _levels(feed[side], lambda p: True)
        for price in sorted(set(want) | set(got)):
            mine, real = got.get(price), true_all.get(price)
            if price in want and mine != real:
                problems.append(f"{side} {price}: feed {mine} != venue {real}")
            elif price not in want and mine is not None and mine != real:
                problems.append(f"{side} {price} (outside band): feed {mine} != venue {real}")
            if len(problems) >= limit:
                return problems
    return problems


def check_books(books: dict[str, tuple[Body, Body | None]], *, unjudged: Sequence[str] = ()) -> Verdict:
    """One verdict for every instrument: ``books[instrument] = (venue truth, feed book or None)``.

    ``unjudged``: books the feed kept that no venue truth exists for (the venue keeps none); they are named
    in the evidence, never counted as exact."""
    wrong = {s: d for s, (t, f) in books.items() if (d := book_differences(t, f))}
    not_judged = f"; {len(unjudged)} without a venue truth, not judged" if unjudged else ""
    summary = f"{len(books)} books exact"
    if wrong:
        summary = f"{len(wrong)} of {len(books)} books differ from the venue's"
    return Verdict(
        "books exact",
        not wrong,
        summary + not_judged,
        {"differences": {s: d for s, d in list(wrong.items())[:5]}, "not_judged": sorted(unjudged)},
    )


def crossed(book: Body | None) -> tuple[str, str] | None:
    """(best bid, best ask) when ``book`` is crossed (best bid at or above best ask), else None."""
    if not book or not book.get("bids") or not book.get("asks"):
        return None
    bid = max(book["bids"], key=lambda level: Decimal(level[0]))[0]
    ask = min(book["asks"], key=lambda level: Decimal(level[0]))[0]
    return (bid, ask) if Decimal(bid) >= Decimal(ask) else None


def check_not_crossed(
    books: dict[str, tuple[Body, Body | None]], venue_crossings: dict[str, list[dict[str, Any]]]
) -> Verdict:
    """No book was ever crossed: not the feed's nor the venue's at the end (``books`` as in
    :func:`check_books`), and no venue reported a crossing of its true book during the run
    (``venue_crossings[venue]``: its ``book_crossed`` history events)."""
    found: list[str] = []
    for instrument, (truth, feed) in books.items():
        for who, book in (("feed", feed), ("venue", truth)):
            if (pair := crossed(book)) is not None:
                found.append(f"{instrument}: {who} book crossed, best bid {pair[0]} >= best ask {pair[1]}")
    reported = {venue: events for venue, events in venue_crossings.items() if events}
    for venue, events in reported.items():
        first = events[0]
        found.append(
            f"{venue}: true book of {first.get('symbol')} crossed {len(events)} time(s) during the run, "
            f"first at id {first.get('id')} (bid {first.get('bid')}, ask {first.get('ask')})"
        )
    return Verdict(
        "books never crossed",
        not found,
        f"{len(found)} crossed book(s): {found[0]}" if found else f"{len(books)} books never crossed",
        {"crossed": found[:10]},
    )
