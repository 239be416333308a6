"""The feed's console log: concise lines on stderr (text for people, one JSON object per line for machines).

stdout stays for the machine lines (``ready``, ``stopped``); everything a person watching the feed should
know between them — connection failures and their retries, refused subscriptions, gaps, book resyncs —
goes through the stdlib :mod:`logging` module under the ``feed`` logger, at INFO (routine) or WARNING
(something was lost or is failing). :func:`setup` is called by ``tickstorm feed`` only; a program using
:class:`~feed.feed.Feed` as a library configures logging its own way.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import orjson

LEVELS = ("debug", "info", "warning", "error")
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (Unix seconds), ``level``, ``logger``, ``msg`` and every
    ``extra`` field given to the logging call (``venue``, ``event``, ``stream``, ...)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def setup(level: str = "info", *, json: bool = False, stream: TextIO | None = None) -> None:
    """Log records of ``level`` and above to stderr (``json``: one object per line)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    # The feed's own records at ``level``; libraries' (websockets, aiohttp) from WARNING unless debugging,
    # so their routine INFO ("server listening") does not drown the feed's lines.
    root.setLevel(level.upper() if level == "debug" else max(logging.WARNING, _number(level)))
    logging.getLogger("feed").setLevel(level.upper())


def _number(level: str) -> int:
    return int(logging.getLevelName(level.upper()))
