"""Config expectations (expect_relay, max_rtt_ms, min_nat) turn measured facts into pass/fail."""

from __future__ import annotations

import pytest

from rtcdiag.config import Expectations
from rtcdiag.report.model import Status
from rtcdiag.triage.expectations import ServerFacts, evaluate_nat, evaluate_server
from rtcdiag.triage.finding import Severity


def test_relay_expected_and_working_passes() -> None:
    out = evaluate_server(Expectations(expect_relay=True),
                          ServerFacts("turn.example.com", relay_ok=True, relay_evidence=["udp: data flows"]))
    assert out.findings == []
    assert [(c.name, c.status) for c in out.checks] == [("expect/relay", Status.PASS)]


def test_relay_expected_but_broken_is_an_error_with_the_evidence() -> None:
    facts = ServerFacts("turn.example.com", relay_ok=False, relay_evidence=["udp: 401 Unauthorized"])
    out = evaluate_server(Expectations(expect_relay=True), facts)
    (finding,) = out.findings
    assert finding.id == "EXPECT-RELAY" and finding.severity is Severity.ERROR
    assert "401 Unauthorized" in finding.symptom and finding.evidence == ["udp: 401 Unauthorized"]
    assert out.checks[0].status is Status.FAIL and out.checks[0].finding_ids == ["EXPECT-RELAY"]


def test_relay_not_measured_is_a_warning_not_a_pass() -> None:
    out = evaluate_server(Expectations(expect_relay=True), ServerFacts("stun.example.com"))
    assert [f.id for f in out.findings] == ["EXPECT-UNCHECKED"]
    assert out.findings[0].severity is Severity.WARNING


@pytest.mark.parametrize("rtts,limit,failed", [
    ([("STUN binding udp", 20.0), ("TURN data udp", 149.9)], 150.0, False),
    ([("STUN binding udp", 20.0), ("TURN data tcp", 150.1)], 150.0, True),
])
def test_max_rtt_uses_the_worst_measurement(rtts: list[tuple[str, float]], limit: float,
                                            failed: bool) -> None:
    out = evaluate_server(Expectations(max_rtt_ms=limit), ServerFacts("s", rtts_ms=rtts))
    assert bool(out.findings) is failed
    if failed:
        assert out.findings[0].id == "EXPECT-RTT"
        assert "150.1" in out.findings[0].title and "TURN data tcp" in out.findings[0].symptom


@pytest.mark.parametrize("label,wanted,ok", [
    ("full cone", "port-restricted", True),
    ("port-restricted cone", "port-restricted", True),
    ("open internet", "restricted", True),
    ("symmetric", "port-restricted", False),
    ("UDP blocked", "symmetric", False),
    ("restricted cone", "full-cone", False),
])
def test_min_nat_compares_rfc3489_labels(label: str, wanted: str, ok: bool) -> None:
    out = evaluate_nat(Expectations(min_nat=wanted), label)
    assert (out.findings == []) is ok
    if not ok:
        assert out.findings[0].id == "EXPECT-NAT" and out.checks[0].status is Status.FAIL


def test_min_nat_unknown_or_missing_label_is_unchecked() -> None:
    for label in (None, "unknown"):
        out = evaluate_nat(Expectations(min_nat="symmetric"), label)
        assert [f.id for f in out.findings] == ["EXPECT-UNCHECKED"]


def test_no_expectations_means_no_checks() -> None:
    assert evaluate_server(Expectations(), ServerFacts("s", relay_ok=False)).checks == []
    assert evaluate_nat(Expectations(), "symmetric").checks == []
