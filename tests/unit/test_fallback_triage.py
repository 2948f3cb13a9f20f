"""TURN-NO-TCP-FALLBACK: judged on the configured URLs exactly as a browser would use them (RFC 7065 §3)."""

from __future__ import annotations

from rtcdiag.report.build import build_report
from rtcdiag.targets import parse_target, parse_uri
from rtcdiag.triage.fallback import judge_fallback
from rtcdiag.triage.finding import Subject


def subject(host: str) -> Subject:
    return Subject(host, host)


def test_udp_only_turn_urls_warn_once_per_host_with_the_fix() -> None:
    targets = [parse_uri("stun:a.example:3478"), parse_uri("turn:a.example:3478"),
               parse_uri("turn:a.example:3478?transport=udp"), parse_uri("turn:[2001:db8::1]:3479")]
    judgement = judge_fallback(targets, subject)
    assert [(f.id, f.subject.host) for f in judgement.findings] == [
        ("TURN-NO-TCP-FALLBACK", "a.example"), ("TURN-NO-TCP-FALLBACK", "2001:db8::1")]
    first = judgement.findings[0]
    # The URLs to add, one a line (issue 22); a turns: URL never by IP address (browsers check the name).
    assert first.snippet == ["turns:a.example:443?transport=tcp", "turn:a.example:3478?transport=tcp"]
    assert "turn:a.example:3478?transport=udp" in first.symptom
    assert judgement.findings[1].snippet == ["turns:<the host name on its certificate>:443?transport=tcp",
                                             "turn:[2001:db8::1]:3479?transport=tcp"]
    report = build_report("check", judgement)
    assert report.exit_code == 0  # a warning: the servers may work, some clients will not
    assert {(c.suite, c.name, c.status.value) for c in report.checks} == {
        ("a.example", "fallback", "warn"), ("2001:db8::1", "fallback", "warn")}


def test_any_tcp_or_tls_url_of_the_configuration_is_a_fallback_for_every_host() -> None:
    for fallback in ("turn:b.example?transport=tcp", "turns:b.example:443?transport=tcp", "turns:b.example"):
        judgement = judge_fallback([parse_uri("turn:a.example"), parse_uri(fallback)], subject)
        assert judgement.findings == []
        assert [(s.subject.host, s.check, s.step) for s in judgement.steps] == [
            ("a.example", "config", "fallback"), ("b.example", "config", "fallback")]


def test_stun_only_and_host_port_shortcuts_are_not_judged() -> None:
    # A STUN-only list has no relay at all (another question); host[:port] is not a browser configuration.
    assert judge_fallback([parse_uri("stun:a.example")], subject).steps == []
    assert judge_fallback([parse_target("a.example:3478", default_scheme="turn")], subject).steps == []
