"""Port spec parsing, TLS name matching, trace summarising and the ports triage rules, on recorded results."""

from __future__ import annotations

import pytest

from rtcdiag.errors import UsageError
from rtcdiag.probes import reach
from rtcdiag.probes.reach import PortResult, PortTarget, ReachResult
from rtcdiag.probes.tls_info import CertInfo, TlsInfo, cert_from_info, hostname_matches
from rtcdiag.probes.trace import Hop, TraceResult, summarise
from rtcdiag.report.model import Status
from rtcdiag.triage import reach as rules

# --- --ports SPEC ----------------------------------------------------------------------------------------


def test_parse_ports_keeps_order_and_drops_duplicates() -> None:
    assert reach.parse_ports(" udp:3479, TLS:8443,tcp:80,udp:3479 ") == [
        PortTarget("udp", 3479), PortTarget("tls", 8443), PortTarget("tcp", 80)]


@pytest.mark.parametrize("spec", ["3478", "sctp:1", "udp:", "udp:0", "udp:65536", "udp:x", ",", "tcp:-1"])
def test_parse_ports_rejects_bad_items(spec: str) -> None:
    with pytest.raises(UsageError, match="--ports"):
        reach.parse_ports(spec)


def test_merge_targets_defaults_first_then_new_extras() -> None:
    merged = reach.merge_targets([PortTarget("udp", 3478), PortTarget("tcp", 80)])
    assert [str(t) for t in merged] == ["udp:3478", "tcp:3478", "tls:5349", "tls:443", "tcp:80"]
    assert reach.merge_targets([PortTarget("tcp", 80)], include_defaults=False) == [PortTarget("tcp", 80)]


# --- certificate names (RFC 6125) ------------------------------------------------------------------------

def _cert(dns: list[str], ips: list[str] | None = None, subject: str = "CN=x") -> CertInfo:
    return CertInfo(subject=subject, issuer="CN=ca", san_dns=dns, san_ip=ips or [])


@pytest.mark.parametrize("names, host, expected", [
    (["turn.example.com"], "TURN.example.com", True),
    (["*.example.com"], "turn.example.com", True),
    (["*.example.com"], "a.b.example.com", False),  # the wildcard matches one label only
    (["*.example.com"], "example.com", False),
    (["turn.example.com"], "stun.example.com", False),
])
def test_dns_names(names: list[str], host: str, expected: bool) -> None:
    assert hostname_matches(_cert(names), host) is expected


def test_ip_literal_needs_an_ip_san_and_ipv6_compares_by_value() -> None:
    cert = _cert(["127.0.0.1"], ["0:0:0:0:0:0:0:1"])
    assert hostname_matches(cert, "::1") is True
    assert hostname_matches(cert, "127.0.0.1") is False  # a dNSName "127.0.0.1" does not count


def test_common_name_only_without_san() -> None:
    assert hostname_matches(_cert([], subject="CN=turn.example.com"), "turn.example.com") is True
    assert hostname_matches(_cert(["other.example.com"], subject="CN=turn.example.com"),
                            "turn.example.com") is False


def test_cert_from_info_days_to_expiry() -> None:
    info = {"subject": ((("commonName", "turn"),),), "issuer": ((("commonName", "ca"),),),
            "notBefore": "Jan  1 00:00:00 2030 GMT", "notAfter": "Jan 11 00:00:00 2030 GMT",
            "subjectAltName": (("DNS", "turn"), ("IP Address", "192.0.2.1\n"))}
    start = 1893456000.0  # 2030-01-01T00:00:00Z
    cert = cert_from_info(info, now=start)
    assert cert.days_to_expiry == 10.0
    assert cert.not_after == "2030-01-11T00:00:00Z"
    assert cert.san_ip == ["192.0.2.1"] and cert.subject == "CN=turn" and not cert.self_signed


# --- trace summary ---------------------------------------------------------------------------------------

def _trace(*hops: tuple[str | None, str]) -> TraceResult:
    result = TraceResult(destination="198.51.100.7", transport="udp", port=3478, max_hops=len(hops))
    result.hops = [Hop(ttl=i + 1, address=a, kind=k) for i, (a, k) in enumerate(hops)]
    return summarise(result)


def test_summarise_dropped_after_last_answering_hop_and_trims_silence() -> None:
    t = _trace(("10.0.0.1", "time-exceeded"), ("192.0.2.1", "time-exceeded"), (None, "silent"),
               (None, "silent"), (None, "silent"))
    assert (t.outcome, t.last_answer_hop, t.last_answer_address) == ("dropped", 2, "192.0.2.1")
    assert [h.ttl for h in t.hops] == [1, 2, 3]


def test_summarise_reached_closed_via_port_unreachable() -> None:
    t = _trace(("10.0.0.1", "time-exceeded"), ("198.51.100.7", "port-unreachable"),
               ("198.51.100.7", "port-unreachable"))
    assert (t.outcome, t.reached_at_hop, t.icmp_port_unreachable) == ("reached-closed", 2, True)
    assert len(t.hops) == 2


def test_summarise_rejected_by_a_router_and_no_answer() -> None:
    t = _trace(("10.0.0.1", "time-exceeded"), ("192.0.2.1", "unreachable"), (None, "silent"))
    assert (t.outcome, t.last_answer_hop) == ("rejected", 2)
    assert _trace((None, "silent"), (None, "silent")).outcome == "no-answer"


# --- triage rules ----------------------------------------------------------------------------------------

def _result(*ports: PortResult, traces: list[TraceResult] | None = None) -> ReachResult:
    return ReachResult(host="turn.example.com", address="198.51.100.7", addresses=["198.51.100.7"],
                       ports=list(ports), traces=traces or [])


def _port(transport: str, port: int, state: str, **kw: object) -> PortResult:
    return PortResult(transport=transport, port=port, address="198.51.100.7", state=state, **kw)  # type: ignore[arg-type]


def _tls(days: float, *, version: str = "TLSv1.3", alpn: str | None = "stun.turn",
         trusted: bool | None = True, name_ok: bool | None = True) -> TlsInfo:
    leaf = CertInfo(subject="CN=turn.example.com", issuer="CN=R3", san_dns=["turn.example.com"],
                    not_after="2030-01-01T00:00:00Z", days_to_expiry=days)
    return TlsInfo(address="198.51.100.7", port=5349, server_name="turn.example.com", handshake_ok=True,
                   version=version, alpn_selected=alpn, trusted=trusted, hostname_match=name_ok, chain=[leaf])


def ids(result: ReachResult) -> list[str]:
    return sorted(f.id for f in rules.triage(result))


def test_healthy_matrix_has_no_findings_and_passes() -> None:
    result = _result(_port("udp", 3478, "open", stun="answered"), _port("tcp", 3478, "open", stun="answered"),
                     _port("tls", 5349, "open", tls=_tls(60)), _port("tls", 443, "open", tls=_tls(60)))
    findings = rules.triage(result)
    assert findings == []
    assert {c.status for c in rules.checks(result, findings)} == {Status.PASS}


def test_udp_silence_is_udp_blocked_only_when_tcp_works() -> None:
    assert ids(_result(_port("udp", 3478, "timeout"), _port("tcp", 3478, "open", stun="answered"))) == [
        "UDP-BLOCKED"]
    assert ids(_result(_port("udp", 3478, "timeout"), _port("tcp", 3478, "timeout"))) == [
        "SERVER-UNREACHABLE", "SERVER-UNREACHABLE"]
    assert ids(_result(_port("udp", 3478, "timeout"), _port("tcp", 3478, "closed"))) == [
        "SERVER-REFUSED", "SERVER-UNREACHABLE"]


def test_tls_443_missing_is_a_warning_not_an_error() -> None:
    findings = rules.triage(_result(_port("tls", 443, "closed", error="connection refused")))
    assert [(f.id, f.severity.value) for f in findings] == [("PORT-TLS443-MISSING", "warning")]
    assert "closed" in findings[0].symptom


@pytest.mark.parametrize("days, expected", [
    (13.9, ["TLS-EXPIRING-SOON"]), (14.0, []), (0.5, ["TLS-EXPIRING-SOON"]), (-1.0, ["TLS-EXPIRED"])])
def test_expiry_thresholds(days: float, expected: list[str]) -> None:
    assert ids(_result(_port("tls", 5349, "open", tls=_tls(days)))) == expected


def test_expiring_soon_names_days_and_subject() -> None:
    (finding,) = rules.triage(_result(_port("tls", 5349, "open", tls=_tls(3.2))))
    assert finding.title == "TLS certificate on 5349 expires in 3 days"
    assert "CN=turn.example.com" in finding.symptom and "{" not in finding.symptom


def test_untrusted_hostname_old_version_and_alpn() -> None:
    tls = _tls(90, version="TLSv1.1", alpn=None, trusted=False, name_ok=False)
    tls.verify_error, tls.verify_code = "unable to get local issuer certificate", 20
    assert ids(_result(_port("tls", 5349, "open", tls=tls))) == [
        "TLS-HOSTNAME", "TLS-NO-ALPN", "TLS-OLD-VERSION", "TLS-UNTRUSTED"]


def test_insecure_mode_reports_no_trust_or_name_findings() -> None:
    assert ids(_result(_port("tls", 5349, "open", tls=_tls(90, trusted=None, name_ok=None)))) == []


def test_tcp_open_without_stun_and_tls_failure_and_no_route() -> None:
    result = _result(_port("tcp", 80, "open", stun="no-answer"), _port("tls", 8443, "tls-failed",
                     error="TLS handshake failed: WRONG_VERSION_NUMBER"),
                     _port("udp", 3478, "error", error="Network is unreachable"))
    assert ids(result) == ["NO-ROUTE", "PORT-NOT-STUN", "TLS-HANDSHAKE"]


def test_trace_findings_only_for_ports_that_did_not_open() -> None:
    dropped = _trace(("10.0.0.1", "time-exceeded"), (None, "silent"))
    result = _result(_port("udp", 3478, "timeout"), _port("tcp", 3478, "open", stun="answered"),
                     traces=[dropped])
    findings = rules.triage(result)
    drop = next(f for f in findings if f.id == "TRACE-PATH-DROP")
    assert drop.title == "UDP/3478: path goes silent after hop 1 (10.0.0.1)"
    assert any("hop 2: *" in line for line in drop.evidence)
    cases = {c.name: c.status for c in rules.checks(result, findings)}
    assert cases == {"udp/3478": Status.FAIL, "tcp/3478": Status.PASS, "trace/udp/3478": Status.WARN}
    result.ports[0].state = "open"
    assert "TRACE-PATH-DROP" not in ids(result)


def test_resolve_error_is_dns_failure() -> None:
    result = ReachResult(host="nope.invalid", address=None, resolve_error="cannot resolve nope.invalid: x")
    findings = rules.triage(result)
    assert [f.id for f in findings] == ["DNS-FAILURE"]
    assert "nope.invalid" in findings[0].symptom
    assert [c.status for c in rules.checks(result, findings)] == [Status.FAIL]
