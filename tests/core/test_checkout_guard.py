"""The guard of tests/checkout_guard.py fails a session that writes into the checkout's runs/."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CONFTEST = "from tests.checkout_guard import pytest_sessionfinish, pytest_sessionstart\n"


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_a_session_writing_into_runs_fails_and_names_what_it_wrote(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    pytester.makeconftest(CONFTEST)
    (pytester.path / "runs" / "old-run").mkdir(parents=True)  # there before: not the session's doing
    pytester.makepyfile(
        test_writes="""
        from pathlib import Path

        def test_a_run_with_the_default_out():
            (Path('runs') / '20261205-120000-seed1').mkdir()
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *workers)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*the test session wrote into*runs*: 20261205-120000-seed1*"])
    assert "old-run" not in result.stdout.str()


def test_a_clean_session_passes_and_junitxml_in_runs_is_allowed(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_clean="def test_nothing(tmp_path):\n    (tmp_path / 'x').write_text('x')\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--junitxml=runs/junit-tests.xml")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert (pytester.path / "runs" / "junit-tests.xml").is_file()
