"""Shared pytest configuration: where the optional ../shared material is, loopback helpers, and the guard
that fails a session writing into the checkout's runs/ (tests/checkout_guard.py)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.checkout_guard import pytest_sessionfinish, pytest_sessionstart  # noqa: F401  (hooks)

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("TICKSTORM_SHARED", REPO_ROOT.parent / "shared"))
