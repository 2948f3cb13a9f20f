"""The report every subcommand produces; renderers only read it.

- ``findings``: triage output (symptom -> cause -> fix + evidence).
- ``checks``: one JUnit test case per server x transport x check.
- ``tables``: what the console and Markdown show per server/transport (already formatted strings).
- ``results``: the raw probe results as JSON-able data (every step, every attribute).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rtcdiag import exitcodes
from rtcdiag.triage.finding import Finding, Severity, sort_findings

SCHEMA = "rtcdiag/1"


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"  # passed with a warning finding
    FAIL = "fail"
    SKIP = "skip"  # not applicable / not run
    INCONCLUSIVE = "inconclusive"


def status_from(findings: list[Finding]) -> Status:
    """A check's status from the findings about it: any error -> FAIL, any warning -> WARN, else PASS."""
    if any(f.severity is Severity.ERROR for f in findings):
        return Status.FAIL
    if any(f.severity is Severity.WARNING for f in findings):
        return Status.WARN
    return Status.PASS


@dataclass
class CheckCase:
    """One server x transport x check outcome (one JUnit ``testcase``)."""

    suite: str  # the server, e.g. "turn:127.0.0.1:3478"
    name: str  # e.g. "udp/allocate"
    status: Status
    message: str = ""
    duration_s: float = 0.0
    finding_ids: list[str] = field(default_factory=list)


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Report:
    command: str
    findings: list[Finding] = field(default_factory=list)
    checks: list[CheckCase] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    results: Any = None  # JSON-able (see rtcdiag.jsonable.to_jsonable)
    notes: list[str] = field(default_factory=list)
    # Probes could not decide (e.g. server lacks RFC 5780): exit 3 unless an error finding exists.
    inconclusive: bool = False
    started_at: float = field(default_factory=time.time)
    duration_s: float = 0.0

    def sorted_findings(self) -> list[Finding]:
        return sort_findings(self.findings)

    @property
    def exit_code(self) -> int:
        if any(f.severity is Severity.ERROR for f in self.findings):
            return exitcodes.FINDING_ERROR
        if self.inconclusive:
            return exitcodes.INCONCLUSIVE
        return exitcodes.OK

    @property
    def verdict(self) -> str:
        """One line: PASS / PASS with warnings / FAIL / INCONCLUSIVE and counts."""
        errors = sum(f.severity is Severity.ERROR for f in self.findings)
        warnings = sum(f.severity is Severity.WARNING for f in self.findings)
        passed = sum(c.status in (Status.PASS, Status.WARN) for c in self.checks)
        total = sum(c.status is not Status.SKIP for c in self.checks)
        counts = f"{passed}/{total} checks passed, {errors} error(s), {warnings} warning(s)"
        if errors:
            return f"FAIL: {counts}"
        if self.inconclusive:
            return f"INCONCLUSIVE: {counts}"
        if warnings:
            return f"PASS with warnings: {counts}"
        return f"PASS: {counts}"
