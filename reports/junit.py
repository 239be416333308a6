"""JUnit XML of a chaos run, for CI systems: one test case per scenario (skipped when an interrupted run
did not finish it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.runner import ScenarioResult


def junit_xml(
    results: list[ScenarioResult], not_run: Sequence[ScenarioResult] = (), interrupted: str | None = None
) -> bytes:
    """JUnit XML: one test case per scenario, failures carrying the failed checks and the rerun command;
    the scenarios an interrupted run did not finish (``not_run``) are skipped test cases."""
    from xml.etree import ElementTree as ET

    suite = ET.Element(
        "testsuite",
        name="tickstorm-chaos",
        tests=str(len(results) + len(not_run)),
        failures=str(sum(1 for r in results if not r.ok and r.error is None)),
        errors=str(sum(1 for r in results if r.error is not None)),
        skipped=str(len(not_run)),
    )
    for r in results:
        case = ET.SubElement(
            suite, "testcase", classname="scenarios", name=r.name, time=str(r.figures.get("run_s", 0))
        )
        if r.error is not None:
            ET.SubElement(case, "error", message=r.error).text = r.rerun()
        elif not r.ok:
            lines = [f"{v.check}: {v.summary} {v.evidence}" for v in r.failed()]
            ET.SubElement(case, "failure", message=f"{len(lines)} checks failed").text = "\n".join(
                [*lines, r.rerun()]
            )
    why = f"not run: the run was interrupted by {interrupted}" if interrupted else "not run"
    for r in not_run:
        case = ET.SubElement(suite, "testcase", classname="scenarios", name=r.name, time="0")
        ET.SubElement(case, "skipped", message=why).text = r.rerun()
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)
