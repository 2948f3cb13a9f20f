"""The report every subcommand produces, built once (``rtcdiag.report.build``); renderers only read it.

- ``roots``: the diagnosis — root-cause findings, most severe first; every other problem names the root that
  explains it (``Finding.explained_by``).
- ``findings``: every finding (symptom -> cause -> fix + evidence), root causes included.
- ``checks``: one case per subject x check x step (a JUnit ``testcase``), with its status and findings.
- ``summary``: one line per server x transport (or per peer connection, per port): what the console shows by
  default under the verdict; ``tables`` are the full detail (``-v``, Markdown, JSON).
- ``tables``: what the console and Markdown show per server/transport (strings, already masked).
- ``results``: the raw probe results as JSON-able data (every step, every attribute; already masked).
- ``visuals``: what the HTML page draws below the verdict (rtcdiag.report.visual; made only when a page is
  asked for, never in the JSON report).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rtcdiag import exitcodes
from rtcdiag.interrupt import Interruption
from rtcdiag.jsonable import Deferred
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Finding, Severity, sort_findings

if TYPE_CHECKING:
    from rtcdiag.report.visual import Section

SCHEMA = "rtcdiag/1"
INTERNAL_ERROR = ids.INTERNAL_ERROR


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"  # passed with a warning finding
    FAIL = "fail"
    SKIP = "skip"  # not run, with the reason
    INCONCLUSIVE = "inconclusive"


def where(finding: Finding) -> str:
    """What a finding is about, in words: ``stun:host:3478 over UDP`` (every renderer says it this way)."""
    s = finding.subject
    return s.server + (f" over {s.transport.upper()}" if s.transport else "")


def cited(finding: Finding) -> str:
    """A finding as another cites it, naming whose it is (the server entry's label, the port when the label
    lacks it): ``SERVER-REFUSED (ports:127.0.0.1 (dead) over TCP, port 3479)``."""
    s = finding.subject
    port = f", port {s.port}" if s.port is not None and f":{s.port}" not in s.server else ""
    return f"{finding.id} ({where(finding)}{port})"


def group_findings(findings: list[Finding]) -> list[list[Finding]]:
    """Findings that say the same thing (id, title, cause, fix) about several subjects, grouped so a report
    over many servers states each once; first-seen order."""
    groups: dict[tuple[str, str, str, str], list[Finding]] = {}
    for finding in findings:
        groups.setdefault((finding.id, finding.title, finding.cause, finding.fix), []).append(finding)
    return list(groups.values())


def group_snippet(group: list[Finding]) -> list[str]:
    """The lines to paste for a group: its snippet when every member has the same one, else the first
    member's, introduced by a comment that says whose it is (one per subject would drown the report)."""
    first = group[0].snippet
    if not first or all(f.snippet == first for f in group[1:]):
        return list(first)
    return [f"# for {where(group[0])} (the others likewise, with their own port)", *first]


@dataclass
class CheckCase:
    """One subject x check x step outcome (one JUnit ``testcase``)."""

    suite: str  # the server, e.g. "turn:127.0.0.1:3478"
    name: str  # e.g. "udp/allocate" (prefixed with the check in multi-check reports)
    status: Status
    message: str = ""
    duration_s: float = 0.0
    findings: list[Finding] = field(default_factory=list)  # attached by subject, check and step

    @property
    def finding_ids(self) -> list[str]:
        return list(dict.fromkeys(f.id for f in self.findings))


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    # Rows there were before the list was cut to ``rows`` (None: not cut); every renderer says so
    # ("200 of 333 sessions shown"), in the words of ``unit``.
    total: int | None = None
    unit: str = "rows"

    @property
    def cut_note(self) -> str | None:
        """``200 of 333 sessions shown`` when the rows were cut, else None."""
        if self.total is None or self.total <= len(self.rows):
            return None
        return f"{len(self.rows)} of {self.total} {self.unit} shown"


def cut(rows: list[list[str]], limit: int) -> tuple[list[list[str]], int | None]:
    """``rows`` cut to ``limit`` and the count before the cut (None when nothing was cut), for a
    :class:`Table`'s ``rows`` and ``total``."""
    return (rows[:limit], len(rows)) if len(rows) > limit else (rows, None)


@dataclass
class Report:
    command: str
    findings: list[Finding] = field(default_factory=list)
    roots: list[Finding] = field(default_factory=list)
    checks: list[CheckCase] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    results: Any = None  # JSON-able (rtcdiag.jsonable.to_jsonable), or Deferred until read: results_data()
    notes: list[str] = field(default_factory=list)
    # One row per server x transport (self-describing cells: "relay 1.2.3.4:5", "0% loss"), shown under the
    # verdict by default; None: the command has none, and its tables are shown instead.
    summary: Table | None = None
    # Notes that describe rather than decide (server software, the browser's user agent): with -v only.
    detail_notes: list[str] = field(default_factory=list)
    # Probes could not decide (e.g. server lacks RFC 5780): exit 3 unless an error finding exists.
    inconclusive: bool = False
    started_at: float = field(default_factory=time.time)
    duration_s: float = 0.0
    # Ctrl-C, SIGTERM or SIGHUP cut the run short: the report holds what had finished (rtcdiag.interrupt).
    interrupted: Interruption | None = None
    visuals: list[Section] = field(default_factory=list)  # the HTML page's charts (--html only)
    _explained: dict[str, list[Finding]] | None = field(default=None, repr=False, compare=False)

    def results_data(self) -> Any:
        """The raw results as JSON data (made from a Deferred on first use, then kept)."""
        if isinstance(self.results, Deferred):
            self.results = self.results.value()
        return self.results

    def sorted_findings(self) -> list[Finding]:
        return sort_findings(self.findings)

    def root_groups(self) -> list[list[Finding]]:
        """Root causes grouped by statement (see :func:`group_findings`), in diagnosis order."""
        return group_findings(self.roots)

    @property
    def root_count(self) -> int:
        """How many root causes the report states: the blocks it prints, one per statement (one id said of
        several subjects, or twice of one, is one cause: "3 x SERVER-REFUSED" is one block)."""
        return len(self.root_groups())

    def info_groups(self) -> list[list[Finding]]:
        """Findings for the record (info, not explained by a root cause), grouped by statement."""
        return group_findings(self.unexplained_info())

    def explained(self, root: Finding) -> list[Finding]:
        """The findings ``root`` explains (folded under it in every format)."""
        if self._explained is None:
            index: dict[str, list[Finding]] = {}
            for finding in self.findings:
                if finding.explained_by is not None:
                    index.setdefault(finding.explained_by, []).append(finding)
            self._explained = index
        return self._explained.get(root.ref, [])

    def unexplained_info(self) -> list[Finding]:
        """Findings for the record: info, not folded under a root cause."""
        return [f for f in self.sorted_findings() if f.severity is Severity.INFO and f.explained_by is None]

    @property
    def exit_code(self) -> int:
        """128 + the signal when interrupted, else 4 a bug in a check, 1 an error root cause, 3 inconclusive,
        0 passed (warnings allowed)."""
        if self.interrupted is not None and self.interrupted.deadline_s is None:
            return self.interrupted.exit_code
        return self._judged_exit_code()

    def _judged_exit_code(self) -> int:
        """The exit code the findings give (a signal's own code aside)."""
        if any(f.id == INTERNAL_ERROR for f in self.findings):
            return exitcodes.INTERNAL
        if any(f.severity is Severity.ERROR and f.explained_by is None for f in self.findings):
            return exitcodes.FINDING_ERROR
        if self.inconclusive or (self.interrupted is not None and self.interrupted.deadline_s is not None):
            return exitcodes.INCONCLUSIVE  # --deadline: what was cut was not judged
        return exitcodes.OK

    @property
    def status(self) -> str:
        """``pass`` / ``warn`` / ``fail`` / ``inconclusive`` / ``error`` / ``interrupted``: the verdict as one
        word."""
        if self.interrupted is not None and self.interrupted.deadline_s is None:
            return "interrupted"
        return self._judged_status()

    def _judged_status(self) -> str:
        code = self._judged_exit_code()
        if code == exitcodes.INTERNAL:
            return "error"
        if code == exitcodes.FINDING_ERROR:
            return "fail"
        if code == exitcodes.INCONCLUSIVE:
            return "inconclusive"
        if any(f.severity is Severity.WARNING for f in self.findings):
            return "warn"
        return "pass"

    @property
    def verdict(self) -> str:
        """One line, never wrapped by a renderer: PASS / PASS with warnings / FAIL / INCONCLUSIVE /
        INTERNAL ERROR, the root causes as the blocks the report prints (each named by its id), and the
        checks that passed: ``FAIL: 1 root cause (TURN-AUTH-401); 5/7 checks passed``."""
        passed = sum(c.status in (Status.PASS, Status.WARN) for c in self.checks)
        total = sum(c.status is not Status.SKIP for c in self.checks)
        checks = f"{passed}/{total} checks passed"
        groups = self.root_groups()
        ids = list(dict.fromkeys(group[0].id for group in groups))
        named = ", ".join(ids[:VERDICT_IDS]) + (f", +{len(ids) - VERDICT_IDS} more" if len(ids) > VERDICT_IDS
                                                else "")
        count = len(groups)
        deadline = self.interrupted.deadline_s if self.interrupted is not None else None
        if deadline is not None:  # the report's own verdict, and what cut it short
            checks += f"; --deadline {deadline:g} s reached: partial report"
        elif self.interrupted is not None and self.interrupted.files_only:
            # A command that only reads files read them to the end: the whole report, judged as ever.
            return f"INTERRUPTED by {self.interrupted.name} after the files were read: " + \
                self._judged(count, named, checks)
        elif self.interrupted is not None:
            causes = f"{_plural(count, 'root cause')} ({named}) so far; " if count else ""
            return (f"INTERRUPTED by {self.interrupted.name}: partial report, what had finished: "
                    f"{causes}{checks}")
        return self._judged(count, named, checks)

    def _judged(self, count: int, named: str, checks: str) -> str:
        status = self._judged_status()
        if status == "pass":
            return f"PASS: {checks}"
        if status == "warn":
            if not count:
                return f"PASS with warnings: {checks}"
            return f"PASS with warnings: {_plural(count, 'warning')} ({named}); {checks}"
        word = {"error": "INTERNAL ERROR", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}[status]
        if not count:
            return f"{word}: {checks}"
        return f"{word}: {_plural(count, 'root cause')} ({named}); {checks}"


VERDICT_IDS = 3  # root-cause ids the verdict line names; the rest are counted


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")
