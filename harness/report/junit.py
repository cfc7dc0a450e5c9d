"""``junit.xml``: one testsuite per experiment, one testcase per assertion, for CI.

A run that errored has no verdict; it gets one extra ``run`` testcase with
an ``<error>`` so that CI never shows it green. An inconclusive run gets a
``run`` testcase ``<skipped>`` with the reason, and each assertion it had
nothing to test is ``<skipped>`` too: not green, not a control's failure.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .record import RunRecord, iso_utc

PROPERTIES = ("ttd_s", "ttk_s", "ttc_s", "excess_shares", "loss_usd")


def _text(value: object) -> str:
    return "null" if value is None else str(value)


def to_element(run: RunRecord) -> ET.Element:
    classname = f"powerpeg.{run.experiment}"
    errored = run.status == "error"
    inconclusive = run.status == "inconclusive"
    failures = len(run.failed_assertions())
    suite = ET.Element("testsuite", {
        "name": run.experiment,
        "tests": str(len(run.assertions) + (1 if errored or inconclusive else 0)),
        "failures": str(failures),
        "errors": "1" if errored else "0",
        "skipped": str(len(run.untested_assertions()) + (1 if inconclusive else 0)),
        "time": f"{run.duration_s:.3f}",
        "timestamp": iso_utc(run.started_ns) or "",
    })
    props = ET.SubElement(suite, "properties")
    metrics = run.metrics.to_dict()
    for name in PROPERTIES:
        ET.SubElement(props, "property", {"name": name, "value": _text(metrics[name])})
    for name, value in (("status", run.status), ("backend", run.backend), ("seed", run.seed),
                        ("detected_by", metrics["detected_by"]), ("contained_by", metrics["contained_by"])):
        ET.SubElement(props, "property", {"name": name, "value": _text(value)})
    for outage in run.outages:
        ET.SubElement(props, "property", {"name": "finding" if outage.finding else "planned_outage",
                                          "value": outage.text(run.t0_ns)})
    for result in run.assertions:
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": result.name, "time": "0"})
        if result.inconclusive:
            ET.SubElement(case, "skipped", {"message": result.message})
        elif not result.passed:
            failure = ET.SubElement(case, "failure", {"message": result.message, "type": "AssertionError"})
            failure.text = (f"expected {result.name} {_text(result.expected)}, "
                            f"actual {_text(result.actual)}: {result.message}")
    if errored:
        case = ET.SubElement(suite, "testcase",
                             {"classname": classname, "name": "run", "time": f"{run.duration_s:.3f}"})
        ET.SubElement(case, "error", {"message": run.error or "run error", "type": "RunError"}).text = run.error or ""
    if inconclusive:
        case = ET.SubElement(suite, "testcase",
                             {"classname": classname, "name": "run", "time": f"{run.duration_s:.3f}"})
        ET.SubElement(case, "skipped", {"message": f"inconclusive: {run.verdict or 'nothing was tested'}"})
    return suite


def write(path: Path, run: RunRecord) -> Path:
    tree = ET.ElementTree(to_element(run))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path
