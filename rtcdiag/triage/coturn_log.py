"""Judge coturn logs: refused credentials per user, refused peers, quota and capacity errors.

Pure, no I/O. One step per log (``coturn-log``); a log with no session and no error line says nothing
(coturn writes sessions only with ``verbose``): that is inconclusive, not a pass.
"""

from __future__ import annotations

from rtcdiag.evidence.coturn_log import CoturnLog, Counted
from rtcdiag.triage.finding import Subject, make_finding
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
                "COTURN-LOG-401", subject, check=CHECK, step=STEP, evidence=[_lines(counted)],
                file=log.source, user=user, count=counted.count, when=counted.first or "-",
                client=_client(log, counted)))
        for peer, counted in sorted(log.peers_403.items(), key=lambda kv: -kv[1].count)[:20]:
            judgement.findings.append(make_finding(
                "COTURN-LOG-403", subject, check=CHECK, step=STEP, evidence=[_lines(counted)],
                file=log.source, peer=peer, count=counted.count, when=counted.first or "-",
                user=counted.detail or "-"))
        for what, counted in sorted(log.quota.items(), key=lambda kv: -kv[1].count)[:20]:
            judgement.findings.append(make_finding(
                "COTURN-LOG-QUOTA", subject, check=CHECK, step=STEP, evidence=[_lines(counted)],
                file=log.source, what=what, count=counted.count, when=counted.first or "-",
                user=counted.detail or "-"))
        users = {s.user for s in log.sessions.values() if s.user}
        detail = f"{log.lines} line(s), {len(log.sessions)} session(s) of {len(users)} user(s)"
        if not log.sessions and not (log.auth_401 or log.peers_403 or log.quota):
            judgement.facts.inconclusive = True
            judgement.steps.append(StepOutcome(subject, CHECK, STEP, StepState.UNDECIDED, detail=detail + (
                "; coturn logs sessions only with `verbose` in turnserver.conf")))
        else:
            judgement.steps.append(StepOutcome(subject, CHECK, STEP, detail=detail))
    return judgement
