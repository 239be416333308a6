"""Shared pytest configuration: where the optional ../shared material is, and loopback helpers."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("TICKSTORM_SHARED", REPO_ROOT.parent / "shared"))
