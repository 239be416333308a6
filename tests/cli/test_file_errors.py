"""Unusable output and DLQ files stop ``tickstorm feed`` and ``tickstorm dlq`` with one line naming the
file, exit 2, no traceback; ``tickstorm dlq list | head`` ends quietly."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from feed.dlq import DeadLetterQueue
from tests.cli.support import BUNDLED, TIMEOUT_S, assert_one_line_error, tickstorm

NOWHERE = ("--ws-url", "ws://127.0.0.1:9", "--rest-url", "http://127.0.0.1:9")
"""A feed's venue that is never reached (it would retry forever): the feed must fail on its files."""


def dlq_with_entries(path: Path, n: int) -> Path:
    with DeadLetterQueue(path) as dlq:
        for i in range(n):
            dlq.put("binance-spot", "btcusdt@trade", f"not JSON ({i})", b"{" * 50)
    return path


def garbage(tmp: Path) -> Path:
    path = tmp / "garbage.sqlite"
    path.write_bytes(b"this is not an SQLite database, whatever its name says\n" * 100)
    return path


def truncated(tmp: Path) -> Path:
    path = dlq_with_entries(tmp / "cut.sqlite", 3000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def foreign(tmp: Path) -> Path:
    """An SQLite file with a table of that name but other columns."""
    path = tmp / "foreign.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE dead_letters (what TEXT)")
        db.execute("INSERT INTO dead_letters VALUES ('x')")
    db.close()
    return path


CORRUPT = {"garbage": garbage, "truncated": truncated, "another schema": foreign}


@pytest.mark.parametrize("case", CORRUPT)
@pytest.mark.parametrize("action", [("list",), ("export",), ("show", "1")])
def test_dlq_command_reports_a_corrupt_file(tmp_path: Path, case: str, action: tuple[str, ...]) -> None:
    path = CORRUPT[case](tmp_path)
    outcome = tickstorm("dlq", action[0], "--dlq", path, *action[1:])
    assert "not a usable dead letter queue" in assert_one_line_error(outcome, path)


@pytest.mark.parametrize("case", CORRUPT)
def test_feed_reports_a_corrupt_dlq(tmp_path: Path, case: str) -> None:
    path = CORRUPT[case](tmp_path)
    outcome = tickstorm("feed", *NOWHERE, "--dlq", path)
    assert "not a usable dead letter queue" in assert_one_line_error(outcome, path)


def test_feed_reports_a_dlq_whose_folder_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    path = tmp_path / "afile" / "dlq.sqlite"
    outcome = tickstorm("feed", *NOWHERE, "--dlq", path)
    assert "is not a folder" in assert_one_line_error(outcome, path)


@pytest.mark.parametrize("static", [False, True], ids=["live", "static"])
def test_feed_reports_a_jsonl_whose_folder_is_a_file(tmp_path: Path, static: bool) -> None:
    (tmp_path / "afile").write_text("")
    path = tmp_path / "afile" / "events.jsonl"
    outcome = tickstorm("feed", *feed_args(tmp_path, static), "--jsonl", path)
    assert "is not a folder" in assert_one_line_error(outcome, path)


@pytest.mark.parametrize("static", [False, True], ids=["live", "static"])
def test_feed_refuses_a_jsonl_whose_folder_is_missing(tmp_path: Path, static: bool) -> None:
    """A mistyped folder is an error, not created silently."""
    path = tmp_path / "no-such-folder" / "events.jsonl"
    outcome = tickstorm("feed", *feed_args(tmp_path, static), "--jsonl", path)
    assert "does not exist" in assert_one_line_error(outcome, path)
    assert not path.parent.exists()


def feed_args(tmp: Path, static: bool) -> tuple[str | Path, ...]:
    if static:
        return ("--static", BUNDLED)
    return (*NOWHERE, "--dlq", tmp / "dlq.sqlite")


def test_dlq_list_into_a_pipe_closed_early_ends_quietly(tmp_path: Path) -> None:
    """``tickstorm dlq list | head -1``: the reader leaves after one line; no traceback, the exit status
    of a Unix tool stopped by SIGPIPE (141)."""
    path = dlq_with_entries(tmp_path / "dlq.sqlite", 20_000)  # far more than a pipe buffer holds
    proc = subprocess.Popen(
        [sys.executable, "-m", "tickstorm", "dlq", "list", "--dlq", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    try:
        err = proc.stderr.read()
        code = proc.wait(timeout=TIMEOUT_S)
    finally:
        proc.kill()
    assert first.startswith(b"1\tbtcusdt@trade\t")
    assert err == b"", err.decode()
    assert code == 141
