"""Config expectations (expect_relay, max_rtt_ms, min_nat) turn measured facts into pass/fail."""

from __future__ import annotations

import pytest

from rtcdiag.config import Expectations
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Status
from rtcdiag.triage.expectations import judge_nat, judge_server
from rtcdiag.triage.finding import Severity, Subject
from rtcdiag.triage.judgement import Facts, Judgement, RelayFact, RttFact

SERVER = Subject("turn.example.com", "turn.example.com")
NETWORK = Subject("local network")


def _statuses(judgement: Judgement) -> list[tuple[str, Status]]:
    return [(c.name, c.status) for c in build_report("check", judgement).checks]


def test_relay_expected_and_working_passes() -> None:
    facts = Facts(relays=[RelayFact("turn.example.com", True, "udp: data flows")])
    out = judge_server(Expectations(expect_relay=True), SERVER, facts)
    assert out.findings == []
    assert _statuses(out) == [("relay", Status.PASS)]


def test_relay_expected_but_broken_is_an_error_with_the_evidence() -> None:
    facts = Facts(relays=[RelayFact("turn.example.com", False, "udp: 401 Unauthorized"),
                          RelayFact("other.example.com", True, "udp: fine")])
    out = judge_server(Expectations(expect_relay=True), SERVER, facts)
    (finding,) = out.findings
    assert finding.id == "EXPECT-RELAY" and finding.severity is Severity.ERROR
    assert finding.title == "Expected every relay through turn.example.com to carry data: 1 of 1 did not"
    assert "401 Unauthorized" in finding.symptom and finding.evidence == ["FAILED: udp: 401 Unauthorized"]
    assert _statuses(out) == [("relay", Status.FAIL)]


def test_a_relay_that_works_beside_one_that_fails_is_not_called_none() -> None:
    """The title counts what failed: a server whose UDP relay echoes data but whose TLS relay does not is
    never "got none"; the evidence says which worked. The failing relay is what the finding needed."""
    from rtcdiag.triage.finding import Identity

    tls = Identity(None, "turn.example.com", 5349, "tls")
    facts = Facts(relays=[RelayFact("turn.example.com", True, "TURN udp: relay 192.0.2.1:50000, data echoed"),
                          RelayFact("turn.example.com", False, "TURN tls: no allocation (refused)", tls)])
    (finding,) = judge_server(Expectations(expect_relay=True), SERVER, facts).findings
    assert finding.title == "Expected every relay through turn.example.com to carry data: 1 of 2 did not"
    assert finding.evidence == ["works: TURN udp: relay 192.0.2.1:50000, data echoed",
                                "FAILED: TURN tls: no allocation (refused)"]
    assert "refused" in finding.symptom and finding.basis == (tls,)


def test_relay_not_measured_is_a_warning_not_a_pass() -> None:
    out = judge_server(Expectations(expect_relay=True), SERVER, Facts())
    assert [f.id for f in out.findings] == ["EXPECT-UNCHECKED"]
    assert out.findings[0].severity is Severity.WARNING
    assert _statuses(out) == [("relay", Status.WARN)]


@pytest.mark.parametrize("rtts,limit,failed", [
    ([("STUN binding udp", 20.0), ("TURN data udp", 149.9)], 150.0, False),
    ([("STUN binding udp", 20.0), ("TURN data tcp", 150.1)], 150.0, True),
])
def test_max_rtt_uses_the_worst_measurement(rtts: list[tuple[str, float]], limit: float,
                                            failed: bool) -> None:
    facts = Facts(rtts=[RttFact("turn.example.com", what, rtt) for what, rtt in rtts])
    out = judge_server(Expectations(max_rtt_ms=limit), SERVER, facts)
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
    out = judge_nat(Expectations(min_nat=wanted), label, NETWORK)
    assert (out.findings == []) is ok
    if not ok:
        assert out.findings[0].id == "EXPECT-NAT" and _statuses(out) == [("nat", Status.FAIL)]


def test_min_nat_unknown_or_missing_label_is_unchecked() -> None:
    for label in (None, "unknown"):
        out = judge_nat(Expectations(min_nat="symmetric"), label, NETWORK)
        assert [f.id for f in out.findings] == ["EXPECT-UNCHECKED"]


def test_no_expectations_means_no_steps() -> None:
    facts = Facts(relays=[RelayFact("turn.example.com", False, "x")])
    assert judge_server(Expectations(), SERVER, facts).steps == []
    assert judge_nat(Expectations(), "symmetric", NETWORK).steps == []
