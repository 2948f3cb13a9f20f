"""The one place a report is built: diagnosis, statuses, testcase names, masking.

Input: the merged :class:`~rtcdiag.triage.judgement.Judgement` of every check that ran (findings, step
outcomes, facts), the tables and raw results. Each finding is attached to the step of its own subject,
check and step (never matched by server name or text); a step's status comes from those findings and the
step's own state. Testcase names are ``transport/step`` (``check/transport/step`` when several checks share
the report) and unique within their suite.
"""

from __future__ import annotations

import time
from typing import Any

from rtcdiag.jsonable import Deferred
from rtcdiag.redact import unmark, unmarking_now
from rtcdiag.report.model import CheckCase, Report, Status, Table
from rtcdiag.textsafe import printable
from rtcdiag.triage.diagnosis import diagnose
from rtcdiag.triage.finding import Finding, Severity
from rtcdiag.triage.fixes import add_snippet
from rtcdiag.triage.judgement import Judgement, StepOutcome, StepState

_StepKey = tuple[str, str | None, str, str]  # server, transport, check, step


def _key(subject_server: str, transport: str | None, check: str, step: str) -> _StepKey:
    return (subject_server, transport, check, step)


def step_status(step: StepOutcome, findings: list[Finding]) -> Status:
    """The status of one step from its own findings (attached by subject, check and step) and its state."""
    worst = max((f.severity.rank for f in findings), default=-1)
    if worst >= Severity.ERROR.rank:
        return Status.FAIL
    if step.state is StepState.SKIPPED:
        return Status.SKIP
    if step.state is StepState.UNDECIDED:
        return Status.INCONCLUSIVE
    if worst == Severity.WARNING.rank:
        return Status.WARN
    return Status.PASS


def _message(step: StepOutcome, status: Status, findings: list[Finding]) -> str:
    problems = [f for f in findings if f.severity.rank >= Severity.WARNING.rank] or findings
    if status in (Status.FAIL, Status.WARN) and problems:
        return "; ".join(dict.fromkeys(f"{f.id}: {f.title}" for f in problems))
    return step.detail or status.value


def _cases(steps: list[StepOutcome], findings: list[Finding], multi_check: bool) -> list[CheckCase]:
    attached: dict[_StepKey, list[Finding]] = {}
    for finding in findings:
        s = finding.subject
        attached.setdefault(_key(s.server, s.transport, finding.check, finding.step), []).append(finding)
    known = {_key(st.subject.server, st.subject.transport, st.check, st.step) for st in steps}
    # A finding whose step no check declared still gets its own testcase (never lost, never misfiled).
    implicit = [StepOutcome(subject=fs[0].subject, check=fs[0].check, step=fs[0].step)
                for key, fs in attached.items() if key not in known]
    cases: list[CheckCase] = []
    used: dict[str, set[str]] = {}
    for step in [*steps, *implicit]:
        s = step.subject
        mine = attached.get(_key(s.server, s.transport, step.check, step.step), [])
        status = step_status(step, mine)
        parts = [step.check] if multi_check else []
        if s.transport:
            parts.append(s.transport)
        parts.append(step.step)
        name = "/".join(parts)
        names = used.setdefault(s.server, set())
        if name in names:
            n = 2
            while f"{name} #{n}" in names:
                n += 1
            name = f"{name} #{n}"
        names.add(name)
        cases.append(CheckCase(suite=s.server, name=name, status=status,
                               message=_echo(_message(step, status, mine)),
                               duration_s=round(max(step.duration_s, 0.0), 6), findings=mine))
    return cases


def _echo(text: str) -> str:
    """A table cell or note: rtcdiag's words around marked outside values (masked), a printable one-liner."""
    return printable(unmark(text))


def _table(table: Table) -> Table:
    return Table(_echo(table.title), [_echo(c) for c in table.columns],
                 [[_echo(c) for c in row] for row in table.rows], total=table.total, unit=table.unit)


def build_report(command: str, judgement: Judgement, *, tables: list[Table] | None = None,
                 results: Any = None, notes: list[str] | None = None,
                 started_at: float | None = None, summary: Table | None = None,
                 detail_notes: list[str] | None = None) -> Report:
    """Diagnose and assemble the report; every outside value marked in it (:func:`rtcdiag.redact.echo`, result
    fields declared ``ECHO``) is masked here, and only those: rtcdiag's own words never are.

    ``results`` (raw probe results or data already made JSON-able) become plain JSON data, masked (with the
    secrets registered now), in one walk when first read (:meth:`Report.results_data`): only the JSON report
    prints them. ``summary``: one row per server x transport, shown under the verdict by default (the tables
    then only with -v); ``detail_notes``: notes shown only with -v.
    """
    diagnosis = diagnose(judgement.findings, judgement.facts.names, judgement.facts.explained)
    findings = [*diagnosis.added, *judgement.findings]
    for finding in findings:
        add_snippet(finding)  # the lines to paste for the finding's own endpoint
    checks_seen = {st.check for st in judgement.steps} | {f.check for f in judgement.findings}
    multi = len(checks_seen - {"run"}) > 1
    report = Report(command=command, findings=findings, roots=diagnosis.roots,
                    checks=_cases(judgement.steps, findings, multi),
                    tables=[_table(t) for t in tables or []],
                    results=Deferred(results, unmarking_now()), notes=[_echo(n) for n in notes or []],
                    inconclusive=judgement.facts.undecided,
                    summary=_table(summary) if summary is not None else None,
                    detail_notes=[_echo(n) for n in detail_notes or []])
    if started_at is not None:
        report.started_at = started_at
    report.duration_s = round(time.time() - report.started_at, 3)
    return report
