"""The SLA config file: the packaged default is valid, levels are picked by speed, bad files fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.sla import DEFAULT_SLA_PATH, SLAConfigError, load_sla


def test_packaged_default_loads_and_levels_follow_speed() -> None:
    sla = load_sla()
    assert [lvl.max_speed for lvl in sla.latency] == sorted(lvl.max_speed for lvl in sla.latency)
    assert sla.level_for(1.0).level == "recorded-speed"
    assert sla.level_for(20.0).level == "burst-x20"
    assert sla.level_for(1000.0).level == sla.latency[-1].level  # beyond every level: the last one


def test_stream_overrides_fall_back_to_the_level(tmp_path: Path) -> None:
    text = DEFAULT_SLA_PATH.read_text() + "\n[latency.streams.depth]\np99_ms = 77.0\n"
    path = tmp_path / "sla.toml"
    path.write_text(text)
    level = load_sla(path).latency[-1]
    assert level.for_stream("depth").p99_ms == 77.0
    assert level.for_stream("depth").p50_ms == level.p50_ms
    assert level.for_stream("trade").p99_ms == level.p99_ms


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("p99_ms = 50.0", 'p99_ms = "fast"'), "latency.0.p99_ms"),
        (lambda t: t.replace("[recovery]", "[recovery]\nbogus = 1"), "recovery.bogus"),
        (lambda t: t.replace("max_speed = 20.0", "max_speed = 0.5"), "increasing max_speed"),
        (lambda t: t.replace("version = 1", "version = 9"), "version"),
        (lambda t: t + "\n[[[broken", "not valid TOML"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, edit: object, message: str) -> None:
    path = tmp_path / "sla.toml"
    path.write_text(edit(DEFAULT_SLA_PATH.read_text()))  # type: ignore[operator]
    with pytest.raises(SLAConfigError, match=message.replace(".", r"\.")) as info:
        load_sla(path)
    assert str(path) in str(info.value)


def test_missing_file() -> None:
    with pytest.raises(SLAConfigError, match="no such SLA file"):
        load_sla(Path("/nonexistent/sla.toml"))
