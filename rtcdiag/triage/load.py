"""``rtcdiag load``: what a load run says about the server. Pure: a :class:`LoadResult` in, findings out.

One step per ramp step (``step-1``, ``step-2``, ...; JUnit testcases), one for the release. The run ends on
its first step that is not clean, and that step's verdict is the finding:

- an Allocate refused: 486 (``LOAD-BANDWIDTH-QUOTA`` when the reason names bandwidth, coturn's
  ``bps-capacity``; else ``LOAD-QUOTA``), 508 (``LOAD-NO-PORTS``), anything else (``LOAD-ALLOCATE-REFUSED``);
- unanswered allocations or a failed connection (``LOAD-ALLOCATE-TIMEOUT``);
- loss or round trip over the thresholds (``LOAD-LOSS``, ``LOAD-RTT``): errors, the server did not hold
  the load asked for;
- this machine's own limit (``LOAD-TOOL-LIMIT``) or the run's time bound (``LOAD-STOPPED``): warnings, and
  the run is inconclusive: nothing is claimed about the server beyond the last clean step.

Every clean ramp to its last step is ``LOAD-HELD`` (info).
"""

from __future__ import annotations

from rtcdiag.probes.turn_load import LoadResult, LoadStep, StepVerdict
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Finding, Severity, Subject, make_finding
from rtcdiag.triage.judgement import Facts, Judgement, StepOutcome, StepState

CHECK = "load"
QUOTA_CODE = 486  # RFC 8656 §7.2 Allocation Quota Reached
CAPACITY_CODE = 508  # RFC 8656 §7.2 Insufficient Capacity


def subject_of(result: LoadResult) -> Subject:
    host, _, port = result.server.rpartition(":")
    return Subject(result.target, host.strip("[]"), int(port) if port.isdigit() else None, result.transport)


def load_text(step: LoadStep) -> str:
    """``12 streams x 50 packets/s of 200 bytes``."""
    return f"{step.streams} stream(s) x {step.rate_pps:g} packets/s of {step.size} bytes"


def knee_text(result: LoadResult) -> str:
    knee = result.knee
    if knee is None:
        return "no step was clean"
    p95 = "-" if knee.rtt_p95_ms is None else f"{knee.rtt_p95_ms:g}"
    return (f"knee: {load_text(knee)} clean ({knee.relayed_mbps:g} Mbit/s through the relay, both ways; "
            f"loss {knee.loss_pct or 0:g}%, RTT p95 {p95} ms)")


def _step_detail(step: LoadStep) -> str:
    if step.failure is not None:
        f = step.failure
        what = f"{f.code} {f.reason or ''}".strip() if f.code is not None else (f.error or "failed")
        return f"{load_text(step)}: {f.step} got {what} with {f.held} allocation(s) held"
    if not step.sent:
        return f"{load_text(step)}: {step.note or step.verdict.value}"
    rtt = f", RTT p50/p95 {step.rtt_p50_ms}/{step.rtt_p95_ms} ms" if step.rtt_p95_ms is not None else ""
    tool = f", {step.tool_drops} dropped by this machine" if step.tool_drops else ""
    note = f" ({step.note})" if step.note else ""
    return (f"{load_text(step)}: {step.echoed}/{step.sent} echoed, loss {step.loss_pct or 0:g}%{tool}{rtt}"
            f"{note}")


def judge(result: LoadResult) -> Judgement:
    subject = subject_of(result)
    findings: list[Finding] = []
    steps: list[StepOutcome] = []
    facts = Facts()

    def add(finding_id: str, step: str, *, severity: Severity | None = None,
            evidence: list[str] | None = None, **params: object) -> None:
        findings.append(make_finding(finding_id, subject, check=CHECK, step=step, severity=severity,
                                     evidence=evidence, snippet=None, **params))

    for step in result.steps:
        state = StepState.UNDECIDED if step.verdict in (StepVerdict.TOOL_LIMIT, StepVerdict.STOPPED) \
            else StepState.DONE
        steps.append(StepOutcome(subject, CHECK, f"step-{step.index}", state, _step_detail(step),
                                 duration_s=step.allocation_s + step.duration_s))
    reached = len(result.steps)
    for index in range(reached + 1, result.planned_steps + 1):
        steps.append(StepOutcome(subject, CHECK, f"step-{index}", StepState.SKIPPED,
                                 f"not run: the ramp stopped at step {reached}"))
    evidence = [_step_detail(s) for s in result.steps][-10:]
    last = result.last
    knee = knee_text(result)
    server, transport = result.server, result.transport.upper()
    if last is not None:
        name = f"step-{last.index}"
        verdict = last.verdict
        failure = last.failure
        if verdict is StepVerdict.REFUSED and failure is not None:
            reason = failure.reason or failure.error or ""
            if failure.code == QUOTA_CODE:
                finding_id = ids.LOAD_BANDWIDTH_QUOTA if "bandwidth" in reason.lower() else ids.LOAD_QUOTA
            elif failure.code == CAPACITY_CODE:
                finding_id = ids.LOAD_NO_PORTS
            else:
                finding_id = ids.LOAD_ALLOCATE_REFUSED
            add(finding_id, name, server=server, transport=transport,
                code=failure.code if failure.code is not None else "an unusable answer",
                reason=reason or "(no reason)", count=failure.held, detail=knee, evidence=evidence)
        elif verdict in (StepVerdict.REFUSED, StepVerdict.TIMEOUT):
            why = (failure.error if failure is not None else None) or last.note or "no answer"
            add(ids.LOAD_ALLOCATE_TIMEOUT, name, server=server, transport=transport,
                detail=f"{_step_detail(last) if failure is not None else why}; {knee}", evidence=evidence)
        elif verdict is StepVerdict.LOSS:
            add(ids.LOAD_LOSS, name, server=server, transport=transport,
                detail=f"{_step_detail(last)}: over {result.max_loss_pct:g}%; {knee}", evidence=evidence)
        elif verdict is StepVerdict.RTT:
            add(ids.LOAD_RTT, name, server=server, transport=transport,
                detail=f"{_step_detail(last)}: p95 over {result.max_rtt_ms:g} ms; {knee}", evidence=evidence)
        elif verdict is StepVerdict.TOOL_LIMIT:
            facts.inconclusive = True
            add(ids.LOAD_TOOL_LIMIT, name, detail=f"at step {last.index}, {_step_detail(last)}; the server "
                f"held at least the last clean step ({knee})", evidence=evidence)
        elif verdict is StepVerdict.STOPPED or result.stopped:
            facts.inconclusive = True
            add(ids.LOAD_STOPPED, name, detail=f"{result.stopped or last.note}; {knee}", evidence=evidence)
        elif reached < result.planned_steps:
            facts.inconclusive = True
            add(ids.LOAD_STOPPED, name, detail=f"{result.stopped or 'stopped'}; {knee}", evidence=evidence)
        else:
            add(ids.LOAD_HELD, name, server=server, transport=transport,
                detail=f"{load_text(last)} clean ({last.relayed_mbps:g} Mbit/s through the relay, both "
                       f"ways), {result.thresholds} never crossed", evidence=evidence)
    elif result.stopped:
        facts.inconclusive = True
        add(ids.LOAD_STOPPED, "step-1", detail=result.stopped)
    release_detail = f"{result.released} of {result.allocations_made} allocation(s) released"
    steps.append(StepOutcome(subject, CHECK, "release", detail=release_detail))
    if result.release_failed:
        add(ids.LOAD_NOT_RELEASED, "release", server=server, transport=transport,
            detail=f"{result.release_failed} Refresh LIFETIME=0 request(s) got no success answer; "
                   f"{release_detail}")
    return Judgement(findings=findings, steps=steps, facts=facts)
