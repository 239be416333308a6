"""JUnit XML of a chaos run, for CI systems: one test case per scenario."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.runner import ScenarioResult


def junit_xml(results: list[ScenarioResult]) -> bytes:
    """JUnit XML: one test case per scenario, failures carrying the failed checks and the rerun command."""
    from xml.etree import ElementTree as ET

    suite = ET.Element(
        "testsuite",
        name="tickstorm-chaos",
        tests=str(len(results)),
        failures=str(sum(1 for r in results if not r.ok and r.error is None)),
        errors=str(sum(1 for r in results if r.error is not None)),
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
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)
