"""``rtcdiag load``'s judge on recorded load results: the first step that is not clean names the failure
(486 quota or bandwidth, 508, another refusal, loss, RTT), this machine's own limit and the time bound are
inconclusive (never the server's fault), a clean ramp is held. The results are built here (the judge's
input, not wire data); the live behaviour is tested against coturn in
tests/integration/test_load_coturn.py."""

from __future__ import annotations

from rtcdiag import exitcodes
from rtcdiag.probes.turn_load import (
    AllocationFailure,
    LoadOptions,
    LoadResult,
    LoadStep,
    StepVerdict,
    step_verdict,
)
from rtcdiag.report.build import build_report
from rtcdiag.triage.judgement import StepState
from rtcdiag.triage.load import judge


def _clean(index: int, streams: int) -> LoadStep:
    return LoadStep(index, streams, 50.0, 200, new_allocations=4, allocation_s=0.02, allocations_per_s=200.0,
                    planned=streams * 101, sent=streams * 101, echoed=streams * 101, loss_pct=0.0,
                    rtt_p50_ms=0.3, rtt_p95_ms=1.0, rtt_max_ms=2.0, relayed_mbps=0.16 * streams,
                    verdict=StepVerdict.CLEAN)


def _result(*steps: LoadStep, planned: int = 4, **kw: object) -> LoadResult:
    result = LoadResult(target="turn:127.0.0.1:3478?transport=udp", server="127.0.0.1:3478", transport="udp",
                        credential_kind="long-term", username="alice",
                        thresholds="loss > 1%, RTT p95 > 100 ms",
                        planned_steps=planned, steps=list(steps),
                        allocations_made=sum(s.new_allocations for s in steps), **kw)  # type: ignore[arg-type]
    result.released = result.allocations_made
    return result


def _refused(index: int, streams: int, code: int, reason: str, held: int) -> LoadStep:
    return LoadStep(index, streams, 50.0, 200, new_allocations=held % 4, verdict=StepVerdict.REFUSED,
                    failure=AllocationFailure("allocate (authenticated)", held, code=code, reason=reason))


def test_a_clean_ramp_to_its_last_step_is_held() -> None:
    judged = judge(_result(_clean(1, 4), _clean(2, 8), planned=2))
    assert [f.id for f in judged.findings] == ["LOAD-HELD"]
    assert not judged.facts.inconclusive
    assert build_report("load", judged).exit_code == exitcodes.OK


def test_486_quota_and_486_bandwidth_and_508() -> None:
    for code, reason, wanted in ((486, "Allocation Quota Reached", "LOAD-QUOTA"),
                                 (486, "Allocation Bandwidth Quota Reached", "LOAD-BANDWIDTH-QUOTA"),
                                 (508, "Cannot create socket", "LOAD-NO-PORTS"),
                                 (403, "Forbidden", "LOAD-ALLOCATE-REFUSED")):
        judged = judge(_result(_clean(1, 4), _clean(2, 8), _refused(3, 12, code, reason, 10)))
        finding = next(f for f in judged.findings if f.id == wanted)
        assert finding.step == "step-3"
        assert f"{code} {reason} with 10 allocation(s) held" in finding.symptom
        assert "knee: 8 stream(s)" in finding.symptom
        report = build_report("load", judged)
        assert report.exit_code == exitcodes.FINDING_ERROR
        states = {c.name: c.status.value for c in report.checks}
        assert states["udp/step-3"] == "fail" and states["udp/step-4"] == "skip"
        assert states["udp/step-1"] == "pass"


def test_the_first_allocation_refused_has_no_knee() -> None:
    judged = judge(_result(_refused(1, 4, 401, "Unauthorized", 0)))
    finding = judged.findings[0]
    assert finding.id == "LOAD-ALLOCATE-REFUSED"
    assert "no step was clean" in finding.symptom


def test_loss_and_rtt_past_the_thresholds_are_the_servers() -> None:
    lossy = _clean(2, 8)
    lossy.echoed, lossy.lost, lossy.loss_pct, lossy.verdict = 700, 108, 13.366, StepVerdict.LOSS
    judged = judge(_result(_clean(1, 4), lossy))
    assert [f.id for f in judged.findings] == ["LOAD-LOSS"]
    slow = _clean(2, 8)
    slow.rtt_p95_ms, slow.verdict = 250.0, StepVerdict.RTT
    assert [f.id for f in judge(_result(_clean(1, 4), slow)).findings] == ["LOAD-RTT"]


def test_the_tools_own_limit_is_inconclusive_never_the_servers() -> None:
    mine = _clean(2, 8)
    mine.tool_drops, mine.echoed, mine.verdict = 300, 508, StepVerdict.TOOL_LIMIT
    mine.note = "300 packet(s) dropped by this machine's own sockets"
    judged = judge(_result(_clean(1, 4), mine))
    assert [f.id for f in judged.findings] == ["LOAD-TOOL-LIMIT"]
    assert judged.facts.inconclusive
    assert next(s for s in judged.steps if s.step == "step-2").state is StepState.UNDECIDED
    assert build_report("load", judged).exit_code == exitcodes.INCONCLUSIVE


def test_stopped_by_the_time_bound_is_inconclusive() -> None:
    judged = judge(_result(_clean(1, 4), planned=3, stopped="--max-duration 5 s reached before step 2"))
    assert [f.id for f in judged.findings] == ["LOAD-STOPPED"]
    assert build_report("load", judged).exit_code == exitcodes.INCONCLUSIVE


def test_unreleased_allocations_are_a_warning() -> None:
    result = _result(_clean(1, 4), planned=1, release_failed=2)
    judged = judge(result)
    assert "LOAD-NOT-RELEASED" in [f.id for f in judged.findings]


def _step(**kw: object) -> LoadStep:
    step = LoadStep(1, 10, 50.0, 200, planned=1010, sent=1010, echoed=1010)
    for key, value in kw.items():
        setattr(step, key, value)
    step.lost = max(step.sent - step.echoed - step.tool_drops, 0)
    step.loss_pct = 100.0 * step.lost / step.sent if step.sent else None
    return step


def test_step_verdicts_put_the_tool_first() -> None:
    options = LoadOptions(max_loss_pct=1.0, max_rtt_ms=100.0)
    assert step_verdict(_step(), options) is StepVerdict.CLEAN
    assert step_verdict(_step(echoed=900), options) is StepVerdict.LOSS
    # The same echoes missing, but this machine's sockets dropped them: not the server's loss.
    assert step_verdict(_step(echoed=900, tool_drops=110), options) is StepVerdict.TOOL_LIMIT
    assert step_verdict(_step(sent=800, echoed=800), options) is StepVerdict.TOOL_LIMIT
    assert step_verdict(_step(tool_cpu_pct=99.0), options) is StepVerdict.TOOL_LIMIT
    assert step_verdict(_step(rtt_p95_ms=150.0), options) is StepVerdict.RTT
    assert step_verdict(_step(sent=0, echoed=0), options) is StepVerdict.TOOL_LIMIT
    # A pacer that fell behind sent bursts: fine while clean, but then loss cannot be told from them.
    bursty = _step(late_packets=200)
    assert step_verdict(bursty, options) is StepVerdict.CLEAN and "pacer fell behind" in bursty.note
    assert step_verdict(_step(echoed=900, late_packets=200), options) is StepVerdict.TOOL_LIMIT
    # ...unless more were lost than were late: bursts cannot cost more than their own packets.
    beyond = _step(echoed=700, late_packets=200)
    assert step_verdict(beyond, options) is StepVerdict.LOSS
    assert "more than the 200 late ones" in beyond.note
    assert step_verdict(_step(echoed=810, late_packets=200), options) is StepVerdict.TOOL_LIMIT  # 200 lost
    assert step_verdict(_step(rtt_p95_ms=150.0, late_packets=200), options) is StepVerdict.TOOL_LIMIT
