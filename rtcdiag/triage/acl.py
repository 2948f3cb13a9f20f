"""``turn-check --acl``: which sensitive peers does the server's relay accept? Pure, over the probe result.

One ``acl`` step per transport that allocated. A peer is reported (TURN-ACL-PEER-PERMITTED, error) when
CreatePermission or ChannelBind for it succeeded: the relay would send to it. 403 (the ACL) and other
errors are refusals; 443 (peer family differs from the relay's, RFC 8656 §9.2) is not a verdict on the ACL.
"""

from __future__ import annotations

from collections.abc import Sequence

from rtcdiag.lint.advisories import ADVISORIES, COMPILED
from rtcdiag.lint.versions import parse_version, show
from rtcdiag.probes.turn_result import AclVerdict, TurnCheckResult
from rtcdiag.redact import echo
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Severity, make_finding
from rtcdiag.triage.judgement import Judgement, StepOutcome, StepState
from rtcdiag.triage.turn_exchanges import subject

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
                    ids.TURN_ACL_PEER_PERMITTED, where, check=CHECK, step=STEP, peer=peer,
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


ADVISORY_STEP = "advisories"


def judge_software_advisories(results: Sequence[TurnCheckResult]) -> Judgement:
    """--acl: the coturn version the server names in SOFTWARE (RFC 8489 §14.14) against the advisory table.

    Warnings, not errors: the version is the server's own claim and its configuration (which some advisories
    need, or whose workaround closes them) is not known here; ``rtcdiag lint`` judges the config."""
    out = Judgement()
    for result in results:
        software = sorted({t.software for t in result.transports if t.software})
        where = subject(result)
        version = next((v for s in software if (v := parse_version(s)) is not None), None)
        if version is None:
            why = f"SOFTWARE {echo(repr(software[0]))} names no coturn version" if software else \
                "the server sent no SOFTWARE attribute (coturn 4.7+ sends none by default)"
            out.steps.append(StepOutcome(where, CHECK, ADVISORY_STEP, StepState.SKIPPED, why))
            continue
        shown = f"{show(version)} (from SOFTWARE)"
        for advisory in ADVISORIES:
            if not advisory.affects(version):
                continue
            when = advisory.applies_when or (f"the config uses {' or '.join(advisory.options)}"
                                             if advisory.options else "")
            aliases = f" [{', '.join(advisory.aliases)}]" if advisory.aliases else ""
            out.findings.append(make_finding(
                ids.LINT_ADVISORY, where, check=CHECK, step=ADVISORY_STEP, severity=Severity.WARNING,
                version=shown, id=advisory.id + aliases, allows=advisory.allows,
                detail=f" (applies when: {when})" if when else "", fixed=show(advisory.fixed),
                source=advisory.sources[0],
                evidence=[f"SOFTWARE: {echo(software[0])}", *advisory.sources,
                          f"advisory table compiled {COMPILED}"]))
        out.steps.append(StepOutcome(where, CHECK, ADVISORY_STEP, detail=f"coturn {shown}"))
    return out
