"""Judge coturn logs: refused credentials per user, refused peers, quota and capacity errors, TLS
handshakes that failed and clients that closed before any request.

Pure, no I/O. One step per log (``coturn-log``); a log with no allocation and no error line says nothing
(coturn writes sessions only with ``verbose``; connections that closed before a request allocated nothing):
that is inconclusive, not a pass.
"""

from __future__ import annotations

from rtcdiag.evidence.coturn_log import CoturnLog, Counted, EarlyClose
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Severity, Subject, make_finding
from rtcdiag.triage.judgement import Facts, Judgement, StepOutcome, StepState

CHECK = "analyze"
STEP = "coturn-log"


def _lines(counted: Counted) -> str:
    shown = ", ".join(str(n) for n in counted.lines[:8])
    return "line(s) " + shown + (", ..." if counted.count > len(counted.lines[:8]) else "")


def _client(log: CoturnLog, counted: Counted) -> str:
    session = log.sessions.get(counted.detail)
    return session.client if session is not None and session.client else "(address not logged)"


def judge(logs: list[CoturnLog]) -> Judgement:
    judgement = Judgement(facts=Facts())
    for log in logs:
        subject = Subject(server=log.source)
        for user, counted in sorted(log.auth_401.items(), key=lambda kv: -kv[1].count)[:20]:
            judgement.findings.append(make_finding(
                ids.COTURN_LOG_401, subject, check=CHECK, step=STEP, evidence=[_lines(counted)],
                file=log.source, user=user, count=counted.count, when=counted.first or "-",
                client=_client(log, counted)))
        for peer, counted in sorted(log.peers_403.items(), key=lambda kv: -kv[1].count)[:20]:
            judgement.findings.append(make_finding(
                ids.COTURN_LOG_403, subject, check=CHECK, step=STEP, evidence=[_lines(counted)],
                file=log.source, peer=peer, count=counted.count, when=counted.first or "-",
                user=counted.detail or "-"))
        for what, counted in sorted(log.quota.items(), key=lambda kv: -kv[1].count)[:20]:
            judgement.findings.append(make_finding(
                ids.COTURN_LOG_QUOTA, subject, check=CHECK, step=STEP, evidence=[_lines(counted)],
                file=log.source, what=what, count=counted.count, when=counted.first or "-",
                user=counted.detail or "-"))
        allocated = sum(1 for s in log.sessions.values() if s.allocated)
        failed = log.early_closes.get(EarlyClose.TLS_FAILED)
        if failed is not None:
            # every TLS connection failed and nothing allocated: the log's own account of why turns: failed;
            # beside working sessions it may be scanners or one misconfigured client: a warning
            judgement.findings.append(make_finding(
                ids.COTURN_LOG_TLS_FAILED, subject, check=CHECK, step=STEP, evidence=[_lines(failed)],
                severity=None if not allocated else Severity.WARNING, file=log.source, count=failed.count,
                when=failed.first or "-", client=failed.detail or "(address not logged)",
                allocated=allocated))
        left = log.early_closes.get(EarlyClose.TLS_CLOSED)
        if left is not None and not allocated:
            judgement.findings.append(make_finding(
                ids.COTURN_LOG_CLOSED_BEFORE_REQUEST, subject, check=CHECK, step=STEP,
                evidence=[_lines(left)],
                file=log.source, count=left.count, when=left.first or "-",
                client=left.detail or "(address not logged)"))
        users = {s.user for s in log.sessions.values() if s.user}
        detail = (f"{log.lines} line(s), {len(log.sessions)} session(s) of {len(users)} user(s), "
                  f"{allocated} allocated")
        early = ", ".join(f"{c.count} {kind.value}" for kind, c in log.early_closes.items())
        if early:
            detail += f"; closed before any request: {early}"
        errors = log.auth_401 or log.peers_403 or log.quota or failed is not None
        if not allocated and not errors:
            judgement.facts.blank.append(log.source)  # inconclusive unless another file holds the call
            why = ("; coturn logs sessions only with `verbose` in turnserver.conf" if not log.sessions else
                   "; no connection got as far as an Allocate")
            judgement.steps.append(StepOutcome(subject, CHECK, STEP, StepState.UNDECIDED,
                                               detail=detail + why))
        else:
            judgement.facts.judged.append(log.source)
            judgement.steps.append(StepOutcome(subject, CHECK, STEP, detail=detail))
    return judgement
