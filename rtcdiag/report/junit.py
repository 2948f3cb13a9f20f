"""JUnit XML: one ``testsuite`` per server (``CheckCase.suite``), one ``testcase`` per subject x check x step.

A failing case carries a ``<failure>`` whose message names its own findings once (id and title) and whose
body has symptom, cause, fix and evidence, and the root cause when another finding explains it (its id and
whose it is: ``Explained by: SERVER-REFUSED (turn:h:3479?transport=tcp over TCP)``); a skipped or
inconclusive case says why. Findings are those attached to the case's own subject, transport, check and step
by the report builder, so a TCP finding never lands in a UDP testcase. Text is stripped of characters XML 1.0
cannot carry (a garbage server reply may contain any byte).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from rtcdiag.report.model import CheckCase, Report, Status, cited, where
from rtcdiag.triage.finding import Finding

# XML 1.0 §2.2 Char production: everything else must not appear, even escaped.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _NOT_XML_CHAR.sub("\ufffd", text)


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def describe(finding: Finding, roots: dict[str, Finding] | None = None) -> str:
    """A finding as plain text for a failure body."""
    lines = [f"{finding.id} [{finding.severity.value}]: {finding.title}",
             f"Subject: {where(finding)} ({finding.check}/{finding.step})"]
    root = (roots or {}).get(finding.explained_by or "")
    if root is not None:
        lines.append(f"Explained by: {cited(root)}: {root.title}")
    lines += [f"Symptom: {finding.symptom}", f"Cause: {finding.cause}", f"Fix: {finding.fix}",
              *(f"    {line}" for line in finding.snippet)]
    lines += [f"Evidence: {line}" for line in finding.evidence]
    return "\n".join(lines)


def _testcase(parent: ET.Element, check: CheckCase, roots: dict[str, Finding]) -> None:
    case = ET.SubElement(parent, "testcase", classname=_clean(check.suite), name=_clean(check.name),
                         time=_seconds(check.duration_s))
    if check.status is Status.FAIL:
        body = "\n\n".join(describe(f, roots) for f in check.findings) or check.message
        failure = ET.SubElement(case, "failure", message=_clean(check.message or "failed"),
                                type=_clean(",".join(check.finding_ids) or "failure"))
        failure.text = _clean(body)
    elif check.status in (Status.SKIP, Status.INCONCLUSIVE):
        reason = check.message if check.message and check.message != check.status.value else "not run"
        ET.SubElement(case, "skipped", message=_clean(f"{check.status.value}: {reason}"))
    elif check.findings or check.message:
        out = ET.SubElement(case, "system-out")
        out.text = _clean("\n\n".join([check.message, *(describe(f, roots) for f in check.findings)]).strip())


def _suite(root: ET.Element, name: str, checks: list[CheckCase], roots: dict[str, Finding],
           timestamp: str) -> None:
    suite = ET.SubElement(root, "testsuite", name=_clean(name), timestamp=timestamp,
                          tests=str(len(checks)),
                          failures=str(sum(c.status is Status.FAIL for c in checks)),
                          errors="0",
                          skipped=str(sum(c.status in (Status.SKIP, Status.INCONCLUSIVE) for c in checks)),
                          time=_seconds(sum(c.duration_s for c in checks)))
    for check in checks:
        _testcase(suite, check, roots)


def render(report: Report) -> str:
    """The report as a JUnit XML document (UTF-8, with declaration)."""
    timestamp = datetime.fromtimestamp(report.started_at, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    suites: dict[str, list[CheckCase]] = {}
    for check in report.checks:
        suites.setdefault(check.suite, []).append(check)
    checks = report.checks
    root = ET.Element("testsuites", name=_clean(f"rtcdiag {report.command}"), tests=str(len(checks)),
                      failures=str(sum(c.status is Status.FAIL for c in checks)), errors="0",
                      skipped=str(sum(c.status in (Status.SKIP, Status.INCONCLUSIVE) for c in checks)),
                      time=_seconds(report.duration_s))
    roots = {f.ref: f for f in report.findings}
    for name, members in suites.items():
        _suite(root, name, members, roots, timestamp)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
