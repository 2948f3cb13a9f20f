"""JUnit XML: one ``testsuite`` per server (``CheckCase.suite``), one ``testcase`` per check.

A FAIL check carries a ``<failure>`` naming its finding ids with title, symptom, cause, fix and evidence; SKIP
and INCONCLUSIVE become ``<skipped>``. An error finding that no check refers to gets its own failing testcase
in the suite ``rtcdiag <command>``, so a CI job never turns green while the exit code says 1. Text is
redacted and stripped of characters XML 1.0 cannot carry (a garbage server reply may contain any byte).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime

from rtcdiag.redact import redact
from rtcdiag.report.model import CheckCase, Report, Status
from rtcdiag.triage.finding import Finding, Severity

# XML 1.0 §2.2 Char production: everything else must not appear, even escaped.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _NOT_XML_CHAR.sub("\ufffd", redact(text))


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _findings_for(check: CheckCase, findings: list[Finding]) -> list[Finding]:
    """The findings a check names, preferring those whose subject belongs to the check's server."""
    chosen: list[Finding] = []
    for finding_id in check.finding_ids:
        candidates = [f for f in findings if f.id == finding_id]
        related = [f for f in candidates
                   if not f.subject or f.subject.startswith(check.suite) or check.suite.startswith(f.subject)]
        chosen.extend(related or candidates)
    unique: dict[int, Finding] = {id(f): f for f in chosen}  # Finding is unhashable; keep first-seen order
    return list(unique.values())


def describe(finding: Finding) -> str:
    """A finding as plain text for a failure body."""
    lines = [f"{finding.id} [{finding.severity.value}]: {finding.title}"]
    if finding.subject:
        lines.append(f"Subject: {finding.subject}")
    lines += [f"Symptom: {finding.symptom}", f"Cause: {finding.cause}", f"Fix: {finding.fix}"]
    lines += [f"Evidence: {line}" for line in finding.evidence]
    return "\n".join(lines)


def _failure_message(check: CheckCase, findings: list[Finding]) -> str:
    if findings:
        ids = ", ".join(dict.fromkeys(f.id for f in findings))
        return f"{ids}: {findings[0].title}" + (f" ({check.message})" if check.message else "")
    return check.message or "failed"


def _testcase(parent: ET.Element, check: CheckCase, findings: list[Finding]) -> None:
    case = ET.SubElement(parent, "testcase", classname=_clean(check.suite), name=_clean(check.name),
                         time=_seconds(check.duration_s))
    related = _findings_for(check, findings)
    if check.status is Status.FAIL:
        body = "\n\n".join(describe(f) for f in related) or check.message
        failure = ET.SubElement(case, "failure", message=_clean(_failure_message(check, related)),
                                type=_clean(",".join(check.finding_ids) or "failure"))
        failure.text = _clean(body)
    elif check.status in (Status.SKIP, Status.INCONCLUSIVE):
        reason = check.message or check.status.value
        ET.SubElement(case, "skipped", message=_clean(f"{check.status.value}: {reason}"))
    elif related or check.message:
        out = ET.SubElement(case, "system-out")
        out.text = _clean("\n\n".join([check.message, *(describe(f) for f in related)]).strip())


def _suite(root: ET.Element, name: str, checks: list[CheckCase], findings: list[Finding],
           timestamp: str) -> None:
    suite = ET.SubElement(root, "testsuite", name=_clean(name), timestamp=timestamp,
                          tests=str(len(checks)),
                          failures=str(sum(c.status is Status.FAIL for c in checks)),
                          errors="0",
                          skipped=str(sum(c.status in (Status.SKIP, Status.INCONCLUSIVE) for c in checks)),
                          time=_seconds(sum(c.duration_s for c in checks)))
    for check in checks:
        _testcase(suite, check, findings)


def _unreferenced_errors(report: Report) -> Iterable[CheckCase]:
    """Error findings no FAIL check names, as checks of their own."""
    named = {fid for c in report.checks if c.status is Status.FAIL for fid in c.finding_ids}
    for finding in report.sorted_findings():
        if finding.severity is Severity.ERROR and finding.id not in named:
            yield CheckCase(suite=f"rtcdiag {report.command}", name=f"finding/{finding.id}",
                            status=Status.FAIL, message=finding.subject, finding_ids=[finding.id])


def render(report: Report) -> str:
    """The report as a JUnit XML document (UTF-8, with declaration)."""
    timestamp = datetime.fromtimestamp(report.started_at, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    checks = [*report.checks, *_unreferenced_errors(report)]
    suites: dict[str, list[CheckCase]] = {}
    for check in checks:
        suites.setdefault(check.suite, []).append(check)
    root = ET.Element("testsuites", name=_clean(f"rtcdiag {report.command}"), tests=str(len(checks)),
                      failures=str(sum(c.status is Status.FAIL for c in checks)), errors="0",
                      skipped=str(sum(c.status in (Status.SKIP, Status.INCONCLUSIVE) for c in checks)),
                      time=_seconds(report.duration_s))
    findings = report.sorted_findings()
    for name, members in suites.items():
        _suite(root, name, members, findings, timestamp)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return redact('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n")
