"""Checkers: pure functions of histories and measurements, each returning a verdict with evidence."""

from harness.checks.verdict import Verdict

__all__ = ["Verdict"]
