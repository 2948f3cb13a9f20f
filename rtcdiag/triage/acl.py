"""``turn-check --acl``: which sensitive peers does the server's relay accept? Pure, over the probe result.

One ``acl`` step per transport that allocated. A peer is reported (TURN-ACL-PEER-PERMITTED, error) when
CreatePermission or ChannelBind for it succeeded: the relay would send to it. 403 (the ACL) and other
errors are refusals; 443 (peer family differs from the relay's, RFC 8656 §9.2) is not a verdict on the ACL.
"""

from __future__ import annotations

from collections.abc import Sequence

from rtcdiag.probes.turn_result import AclVerdict, TurnCheckResult
from rtcdiag.triage.finding import make_finding
from rtcdiag.triage.judgement import Judgement, StepOutcome, StepState
from rtcdiag.triage.turn import subject

CHECK = "turn"
STEP = "acl"


def judge_acl(results: Sequence[TurnCheckResult]) -> Judgement:
    out = Judgement()
    for result in results:
        for t in result.transports:
            where = subject(result, t)
            acl = t.acl
            if acl is None:
                reason = "no allocation to ask permissions on" if not t.allocated else \
                    "not asked (the data path stopped answering)"
                out.steps.append(StepOutcome(where, CHECK, STEP, StepState.SKIPPED, reason))
                continue
            permitted: dict[str, list[str]] = {}
            labels: dict[str, str] = {}
            for probe in acl.probes:
                labels[probe.peer] = probe.label
                if probe.verdict is AclVerdict.PERMITTED:
                    permitted.setdefault(probe.peer, []).append(probe.method)
            for peer, methods in permitted.items():
                out.findings.append(make_finding(
                    "TURN-ACL-PEER-PERMITTED", where, check=CHECK, step=STEP, peer=peer,
                    method=" and ".join(methods), server=t.server, transport=t.transport.upper(),
                    detail=labels[peer],
                    evidence=[f"{p.method} {p.peer}: {p.response}" for p in acl.probes if p.peer == peer]))
            no = (AclVerdict.DENIED, AclVerdict.REFUSED)
            refused = sorted({p.peer for p in acl.probes if p.verdict in no} - permitted.keys())
            mismatch = sorted({p.peer for p in acl.probes if p.verdict is AclVerdict.FAMILY_MISMATCH})
            undecided = sorted({p.peer for p in acl.probes if p.verdict is AclVerdict.UNDECIDED}
                               - permitted.keys())
            parts = [f"{len(permitted)} permitted", f"{len(refused)} refused"]
            if mismatch:
                parts.append(f"{len(mismatch)} of the other address family (not judged: "
                             f"{', '.join(mismatch)})")
            if undecided or acl.stopped:
                parts.append(f"{len(undecided)} undecided" + (f"; {acl.stopped}" if acl.stopped else ""))
            state = StepState.UNDECIDED if (undecided or acl.stopped) and not permitted else StepState.DONE
            if state is StepState.UNDECIDED:
                out.facts.inconclusive = True
            out.steps.append(StepOutcome(where, CHECK, STEP, state, "; ".join(parts)))
    return out
