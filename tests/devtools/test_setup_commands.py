"""The README's set-up commands, .ci/run and the noxfile agree, and .ci/run judges a run correctly.

The README's two commands must work on a stock Debian/Ubuntu python3 (PEP 668: no ``pip install`` outside
a virtualenv), so they install nox into ``.venv``; .ci/run runs the test command verbatim. The last tests
run .ci/run itself with stand-ins for apt-get, python3 and nox (no network, no real install).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CI_RUN = (ROOT / ".ci" / "run").read_text()


def _setup_blocks() -> list[list[str]]:
    """The command lines of each fenced block in the README's "Set up and run" section."""
    section = README.split("## Set up and run", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\n(.*?)```", section, flags=re.S)
    return [[line.strip() for line in block.splitlines() if line.strip()] for block in blocks]


def _command(session: str) -> str:
    """The README's one-line command that ends by running ``nox -s SESSION``."""
    found = [
        block[0] for block in _setup_blocks() if len(block) == 1 and block[0].endswith(f"nox -s {session}")
    ]
    assert len(found) == 1, f"README: expected one command block ending in `nox -s {session}`, got {found}"
    return found[0]


def _nox_sessions() -> set[str]:
    """Names of the functions the noxfile decorates with ``nox.session``."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if ast.unparse(target) == "nox.session":
                    names.add(node.name)
    return names


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    command = _command("tests")
    runs = [line for line in CI_RUN.splitlines() if not line.lstrip().startswith("#") and command in line]
    assert runs == [f'{{ {command}; }} 2>&1 | tee "$log"'], runs
    assert "status=${PIPESTATUS[0]}" in CI_RUN  # the command's own status, not tee's
    assert 'exit "$status"' in CI_RUN and "[0-9]+ passed" in CI_RUN and "no test ran" in CI_RUN


@pytest.mark.parametrize("session", ["chaos", "tests"])
def test_readme_commands_install_nox_into_a_virtualenv_not_the_system_python(session: str) -> None:
    command = _command(session)
    setup, _, run = command.rpartition(" && ")
    assert setup == _command("chaos").rpartition(" && ")[0], "the two README commands set up alike"
    steps = setup.split(" && ")
    venv = re.fullmatch(r"python3 -m venv (\S+)", steps[0])
    assert venv, f"first step creates a virtualenv: {steps[0]}"
    assert steps[1:] == [f"{venv.group(1)}/bin/pip install nox"], steps
    assert run == f"{venv.group(1)}/bin/nox -s {session}"
    assert "--break-system-packages" not in README and "python3 -m pip install" not in README
    assert session in _nox_sessions()


def test_readme_says_how_to_get_tickstorm_on_path() -> None:
    blocks = [block for block in _setup_blocks() if "tickstorm --help" in block]
    assert len(blocks) == 1
    block = blocks[0]
    assert block[0] == _command("chaos").replace("nox -s chaos", "nox -s dev")
    assert "source .venv/bin/activate" in block
    assert "dev" in _nox_sessions()
    assert 'parent / ".venv"' in (ROOT / "noxfile.py").read_text(), "dev installs into the README's .venv"


# ------------------------------------------------------------------------------ .ci/run, with stand-ins
_FAKE_PYTHON3 = """#!/bin/sh
# stand-in for python3: `python3 -m venv DIR` makes DIR/bin/pip and DIR/bin/nox stand-ins
[ "$1 $2" = "-m venv" ] || exit 97
[ -z "$FAKE_NO_VENV" ] || { echo "ensurepip is not available" >&2; exit 1; }
mkdir -p "$3/bin"
printf '#!/bin/sh\\necho "pip $*" >> "$FAKE_LOG"\\n' > "$3/bin/pip"
cat > "$3/bin/nox" <<'EOF'
#!/bin/sh
echo "nox $*" >> "$FAKE_LOG"
case "$FAKE_NOX" in
  pass) echo "===== 3 passed in 0.1s ====="; exit 0 ;;
  fail) echo "===== 1 failed, 2 passed in 0.1s ====="; exit 1 ;;
  none) echo "nothing"; exit 0 ;;
esac
EOF
chmod +x "$3/bin/pip" "$3/bin/nox"
"""


def _run_ci(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], str]:
    checkout = tmp_path / "checkout"
    (checkout / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", checkout / ".ci" / "run")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {"python3": _FAKE_PYTHON3, "apt-get": "#!/bin/sh\nexit 0\n", "sudo": '#!/bin/sh\nexec "$@"\n'}
    for name, text in stubs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    log = tmp_path / "calls.log"
    log.touch()
    result = subprocess.run(
        ["bash", str(checkout / ".ci" / "run")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(log), **env},
        cwd=tmp_path,
        check=False,
    )
    return result, log.read_text()


def test_ci_run_passes_when_the_readme_command_ran_tests_that_passed(tmp_path: Path) -> None:
    result, calls = _run_ci(tmp_path, FAKE_NOX="pass")
    assert result.returncode == 0, result.stderr
    assert calls.splitlines() == ["pip install nox", "nox -s tests"]
    assert "ci: tests passed" in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FAKE_NOX": "fail"}, "ci: tests failed (exit 1)"),
        ({"FAKE_NOX": "none"}, "ci: no test ran"),
        ({"FAKE_NOX": "pass", "FAKE_NO_VENV": "1"}, "ci: tests failed (exit 1)"),
    ],
)
def test_ci_run_fails_when_tests_fail_none_ran_or_set_up_failed(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result, _calls = _run_ci(tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr
