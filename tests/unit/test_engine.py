"""The check runner: a crashing check is one INTERNAL-ERROR finding (exit 4); the others still report."""

from __future__ import annotations

import asyncio

import pytest

from rtcdiag import exitcodes
from rtcdiag.checks.engine import Check, Job, execute_all
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Status
from rtcdiag.triage.finding import Subject, make_finding
from rtcdiag.triage.judgement import Judgement, StepOutcome


async def _fine(plan: str) -> str:
    await asyncio.sleep(0)
    return plan


def _judge_fine(result: str) -> Judgement:
    subject = Subject(f"stun:{result}", result, 3478, "udp")
    finding = make_finding("STUN-HIGH-RTT", subject, check="stun", step="binding", server=result,
                           transport="UDP", detail="400 ms")
    return Judgement(findings=[finding], steps=[StepOutcome(subject, "stun", "binding")])


async def _crash(plan: str) -> str:
    raise ValueError(f"3-byte XOR-MAPPED-ADDRESS from {plan}")


def _judge_crash(result: str) -> Judgement:
    raise KeyError("unexpected")


@pytest.mark.parametrize("broken", [Check("ports", _crash, _judge_fine), Check("ports", _fine, _judge_crash)])
def test_a_crash_in_run_or_judge_is_reported_and_the_rest_survives(
        broken: Check[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RTCDIAG_DEBUG", raising=False)
    jobs = [Job(Check("stun", _fine, _judge_fine), "192.0.2.1", Subject("stun:192.0.2.1")),
            Job(broken, "192.0.2.2", Subject("ports:192.0.2.2", "192.0.2.2"))]
    ran = asyncio.run(execute_all(jobs))
    report = build_report("check", Judgement.merge([r.judgement for r in ran]))
    assert report.exit_code == exitcodes.INTERNAL
    ids = sorted(f.id for f in report.findings)
    assert ids == ["INTERNAL-ERROR", "STUN-HIGH-RTT"]
    bug = next(f for f in report.findings if f.id == "INTERNAL-ERROR")
    assert bug.check == "ports" and "ports" in bug.title and "ports:192.0.2.2" in bug.symptom
    assert bug.evidence and ("ValueError" in bug.evidence[0] or "KeyError" in bug.evidence[0])
    cases = {(c.suite, c.name): c.status for c in report.checks}
    assert cases[("ports:192.0.2.2", "ports/run")] is Status.FAIL
    assert cases[("stun:192.0.2.1", "stun/udp/binding")] is Status.WARN
    assert report.verdict.startswith("INTERNAL ERROR: ")


def test_debug_mode_adds_the_traceback_and_keeps_exit_4(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """RTCDIAG_DEBUG=1 only adds the traceback on stderr: still INTERNAL-ERROR and exit 4 (it was 1)."""
    monkeypatch.setenv("RTCDIAG_DEBUG", "1")
    for broken in (Check("ports", _crash, _judge_fine), Check("ports", _fine, _judge_crash)):
        ran = asyncio.run(execute_all([Job(broken, "x", Subject("x"))]))
        report = build_report("check", Judgement.merge([r.judgement for r in ran]))
        assert report.exit_code == exitcodes.INTERNAL
        assert [f.id for f in report.findings] == ["INTERNAL-ERROR"]
        err = capsys.readouterr().err
        assert err.startswith("Traceback (most recent call last):") and "Error" in err.splitlines()[-1]
