"""DNS input parsing, RFC 2782 ordering and the DNS triage rules, on recorded results."""

from __future__ import annotations

import pytest

from rtcdiag.errors import UsageError
from rtcdiag.probes.dns import (
    SRV_SERVICES,
    DnsResult,
    Ipv6Check,
    QueryResult,
    SrvRecord,
    normalise_name,
    parse_nameserver,
    srv_order,
)
from rtcdiag.report.model import Status
from rtcdiag.triage import dns as rules

NAME = "example.com"


@pytest.mark.parametrize("text, expected", [
    ("192.0.2.53", ("192.0.2.53", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("[::1]:5353", ("::1", 5353)), ("::1", ("::1", 53)), ("2001:db8::1", ("2001:db8::1", 53)),
])
def test_parse_nameserver(text: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize("text", ["dns.google", "1.2.3.4:x", "[::1]:0", "127.0.0.1:70000", ""])
def test_parse_nameserver_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--nameserver"):
        parse_nameserver(text)


def test_normalise_name() -> None:
    assert normalise_name(" Example.COM. ") == "Example.COM"
    assert normalise_name("bücher.example") == "xn--bcher-kva.example"  # IDNA
    for bad in ("", "192.0.2.1", "a..b", "x" * 64 + ".com"):
        with pytest.raises(UsageError):
            normalise_name(bad)


def test_srv_order_priority_then_heavier_weight() -> None:
    recs = [SrvRecord("_turn._udp", 20, 100, 3478, "c"), SrvRecord("_turn._udp", 10, 10, 3478, "b"),
            SrvRecord("_turn._udp", 10, 60, 3478, "a"), SrvRecord("_turn._udp", 10, 60, 3478, "0")]
    assert [(r.priority, r.weight, r.target) for r in srv_order(recs)] == [
        (10, 60, "0"), (10, 60, "a"), (10, 10, "b"), (20, 100, "c")]


def _q(qname: str, rdtype: str, outcome: str, records: list[str] | None = None, rtt: float = 3.0,
       canonical: str | None = None) -> QueryResult:
    return QueryResult(qname=qname, rdtype=rdtype, outcome=outcome, records=records or [], rtt_ms=rtt,
                       canonical_name=canonical)


def _result(a: list[str], aaaa: list[str], srv: list[SrvRecord] | None = None,
            outcome_missing: str = "nodata") -> DnsResult:
    result = DnsResult(name=NAME, nameservers=["192.0.2.53:53"], resolver_source="--nameserver")
    result.ipv4, result.ipv6 = a, aaaa
    result.queries = [_q(NAME, "A", "answer" if a else outcome_missing, a),
                      _q(NAME, "AAAA", "answer" if aaaa else outcome_missing, aaaa)]
    srv = srv or []
    for service in SRV_SERVICES:
        mine = [r for r in srv if r.service == service]
        result.queries.append(_q(f"{service}.{NAME}", "SRV", "answer" if mine else "nxdomain",
                                 [f"{r.priority} {r.weight} {r.port} {r.target}." for r in mine]))
    result.srv = srv
    return result


def ids(result: DnsResult) -> list[str]:
    return sorted(f.id for f in rules.triage(result))


def _srv(service: str, target: str, addresses: list[str], alias: str | None = None) -> SrvRecord:
    return SrvRecord(service, 0, 0, 3478, target, addresses=addresses, target_alias_of=alias,
                     target_queries=[_q(target, "A", "answer" if addresses else "nxdomain", addresses)])


def test_healthy_name_with_srv_has_no_findings() -> None:
    result = _result(["192.0.2.1"], [], [_srv("_turn._udp", "turn.example.com", ["192.0.2.1"])])
    findings = rules.triage(result)
    assert findings == []
    cases = {c.name: c.status for c in rules.checks(result, findings)}
    assert cases["A example.com"] == Status.PASS and cases["SRV _turn._udp"] == Status.PASS
    assert cases["SRV _turns._tcp"] == Status.SKIP  # not published: not applicable, not a failure


def test_no_srv_is_info_only() -> None:
    findings = rules.triage(_result(["192.0.2.1"], []))
    assert [(f.id, f.severity.value) for f in findings] == [("DNS-NO-SRV", "info")]


def test_nxdomain_everywhere() -> None:
    assert ids(_result([], [], outcome_missing="nxdomain")) == ["DNS-NXDOMAIN"]


def test_no_address_and_no_srv() -> None:
    assert ids(_result([], [])) == ["DNS-NO-ADDRESS", "DNS-NO-SRV"]


def test_srv_target_without_address_cname_and_dot() -> None:
    alias = _srv("_turn._tcp", "alias.example.com", ["192.0.2.1"], alias="turn.example.com")
    result = _result([], [], [_srv("_turn._udp", "ghost.example.com", []), alias,
                              SrvRecord("_turns._tcp", 0, 0, 0, ".")])
    findings = rules.triage(result)
    assert sorted(f.id for f in findings) == ["DNS-SRV-TARGET-CNAME", "DNS-SRV-TARGET-NO-ADDRESS"]
    ghost = next(f for f in findings if f.id == "DNS-SRV-TARGET-NO-ADDRESS")
    assert ghost.title == "SRV _turn._udp points at ghost.example.com, which has no address"
    cases = {c.name: c.status for c in rules.checks(result, findings)}
    assert cases["SRV _turn._udp"] == Status.FAIL and cases["SRV _turn._tcp"] == Status.WARN


def test_ipv6_unreachable_only_when_every_test_of_that_address_failed() -> None:
    result = _result(["192.0.2.1"], ["2001:db8::1", "2001:db8::2"])
    result.ipv6_checks = [
        Ipv6Check("2001:db8::1", 3478, "udp", f"AAAA {NAME}", False, detail="timeout"),
        Ipv6Check("2001:db8::1", 3478, "tcp", f"AAAA {NAME}", True, rtt_ms=20.0, detail="open"),
        Ipv6Check("2001:db8::2", 3478, "udp", f"AAAA {NAME}", False, detail="timeout"),
        Ipv6Check("2001:db8::2", 3478, "tcp", f"AAAA {NAME}", False, detail="Network is unreachable"),
    ]
    findings = [f for f in rules.triage(result) if f.id == "DNS-IPV6-UNREACHABLE"]
    assert [f.title for f in findings] == ["IPv6 address 2001:db8::2 is published but unreachable"]
    assert "UDP 3478, TCP 3478" in findings[0].symptom
    assert findings[0].severity.value == "warning"


def test_slow_resolver_names_the_slowest_query() -> None:
    result = _result(["192.0.2.1"], [])
    result.queries[1].rtt_ms = 900.0
    slow = next(f for f in rules.triage(result) if f.id == "DNS-SLOW-RESOLVER")
    assert slow.title == "Slow DNS resolver (900 ms)"
    assert f"AAAA {NAME}" in slow.symptom and "192.0.2.53:53" in slow.symptom
    result.queries[1].rtt_ms = rules.SLOW_QUERY_MS
    assert "DNS-SLOW-RESOLVER" not in ids(result)


def test_resolver_down_is_one_dns_failure() -> None:
    result = _result([], [], outcome_missing="timeout")
    for q in result.queries:
        q.outcome, q.error = "timeout", "no answer before the timeout"
    findings = rules.triage(result)
    assert [f.id for f in findings] == ["DNS-FAILURE"]
    assert "192.0.2.53:53" in findings[0].symptom
    assert all(c.status is Status.FAIL for c in rules.checks(result, findings))
