"""Port spec parsing, TLS name matching, trace summarising and the ports triage rules, on recorded results."""

from __future__ import annotations

import pytest

from rtcdiag.commands.ports import parse_ports
from rtcdiag.commands.shared.options import split_list
from rtcdiag.errors import UsageError
from rtcdiag.probes import reach
from rtcdiag.probes.reach import PortResult, PortTarget, ReachResult
from rtcdiag.probes.record import AttributeView, Exchange
from rtcdiag.probes.tls_info import CertInfo, TlsInfo, cert_from_info, hostname_matches
from rtcdiag.probes.trace import Hop, TraceResult, summarise
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Report, Status
from rtcdiag.triage import reach as rules
from rtcdiag.triage.finding import Subject
from rtcdiag.triage.judgement import NameFact

# --- --ports SPEC ----------------------------------------------------------------------------------------


def test_parse_ports_keeps_order_and_drops_duplicates() -> None:
    assert parse_ports(split_list([" udp:3479, TLS:8443,tcp:80", "udp:3479 "])) == [
        PortTarget("udp", 3479), PortTarget("tls", 8443), PortTarget("tcp", 80)]


@pytest.mark.parametrize("spec", ["3478", "sctp:1", "udp:", "udp:0", "udp:65536", "udp:x", ",", "tcp:-1"])
def test_parse_ports_rejects_bad_items(spec: str) -> None:
    with pytest.raises(UsageError, match="--ports"):
        parse_ports(split_list([spec]))


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

HOST = "turn.example.com"
SUITE = f"ports:{HOST}"


def _result(*ports: PortResult, traces: list[TraceResult] | None = None) -> ReachResult:
    return ReachResult(host=HOST, address="198.51.100.7", addresses=["198.51.100.7"],
                       ports=list(ports), traces=traces or [],
                       planned=[PortTarget(p.transport, p.port) for p in ports])


def _port(transport: str, port: int, state: str, **kw: object) -> PortResult:
    return PortResult(transport=transport, port=port, address="198.51.100.7", state=state, **kw)  # type: ignore[arg-type]


def _tls(days: float, *, version: str = "TLSv1.3", alpn: str | None = "stun.turn",
         trusted: bool | None = True, name_ok: bool | None = True) -> TlsInfo:
    leaf = CertInfo(subject="CN=turn.example.com", issuer="CN=R3", san_dns=["turn.example.com"],
                    not_after="2030-01-01T00:00:00Z", days_to_expiry=days)
    return TlsInfo(address="198.51.100.7", port=5349, server_name="turn.example.com", handshake_ok=True,
                   version=version, alpn_selected=alpn, trusted=trusted, hostname_match=name_ok, chain=[leaf])


def ids(result: ReachResult) -> list[str]:
    return sorted(f.id for f in rules.judge(result).findings)


def report(result: ReachResult) -> Report:
    return build_report("ports", rules.judge(result))


def statuses(result: ReachResult) -> dict[str, Status]:
    return {c.name: c.status for c in report(result).checks}


def roots(result: ReachResult) -> list[str]:
    return [f.id for f in report(result).roots]


def test_healthy_matrix_has_no_findings_and_passes() -> None:
    result = _result(_port("udp", 3478, "open", stun="answered", rtt_ms=12.0),
                     _port("tcp", 3478, "open", stun="answered"),
                     _port("tls", 5349, "open", tls=_tls(60)), _port("tls", 443, "open", tls=_tls(60)))
    judgement = rules.judge(result)
    assert judgement.findings == []
    assert [(s.subject, s.step) for s in judgement.steps] == [
        (Subject(SUITE, HOST, 3478, "udp"), "3478"), (Subject(SUITE, HOST, 3478, "tcp"), "3478"),
        (Subject(SUITE, HOST, 5349, "tls"), "5349"), (Subject(SUITE, HOST, 443, "tls"), "443")]
    assert judgement.steps[0].duration_s == 0.012
    assert statuses(result) == {"udp/3478": Status.PASS, "tcp/3478": Status.PASS, "tls/5349": Status.PASS,
                                "tls/443": Status.PASS}
    assert judgement.facts.names == [NameFact(HOST, True, well_known=False, detail="")]
    assert report(result).exit_code == 0


def test_findings_carry_the_subject_check_and_step_of_their_port() -> None:
    result = _result(_port("udp", 3478, "closed", error="ICMP port unreachable"),
                     _port("tcp", 3478, "open", stun="answered"))
    (finding,) = rules.judge(result).findings
    assert (finding.id, finding.subject, finding.check, finding.step) == (
        "SERVER-REFUSED", Subject(SUITE, HOST, 3478, "udp"), "ports", "3478")
    (case,) = [c for c in report(result).checks if c.name == "udp/3478"]
    assert case.status is Status.FAIL and case.finding_ids == ["SERVER-REFUSED"] and case.suite == SUITE


def test_udp_silence_is_udp_blocked_only_when_stun_over_tcp_answered() -> None:
    answered = _result(_port("udp", 3478, "timeout"), _port("tcp", 3478, "open", stun="answered"))
    assert ids(answered) == ["UDP-BLOCKED"]
    assert "STUN over TCP 3478 answered" in rules.judge(answered).findings[0].symptom
    assert ids(_result(_port("udp", 3478, "timeout"), _port("tcp", 3478, "timeout"))) == [
        "SERVER-UNREACHABLE", "SERVER-UNREACHABLE"]
    assert ids(_result(_port("udp", 3478, "timeout"), _port("tcp", 3478, "closed"))) == [
        "SERVER-REFUSED", "SERVER-UNREACHABLE"]
    # A TLS handshake is not a STUN answer either.
    assert ids(_result(_port("udp", 3478, "timeout"), _port("tls", 5349, "open", tls=_tls(60)))) == [
        "SERVER-UNREACHABLE"]


def test_stun_answered_inside_tls_also_makes_udp_silence_udp_blocked() -> None:
    result = _result(_port("udp", 3478, "timeout"), _port("tcp", 3478, "timeout"),
                     _port("tls", 443, "open", stun="answered", tls=_tls(60)))
    assert ids(result) == ["SERVER-UNREACHABLE", "UDP-BLOCKED"]  # TCP 3478 itself is silent
    blocked = next(f for f in rules.judge(result).findings if f.id == "UDP-BLOCKED")
    assert "STUN over TLS 443 answered" in blocked.symptom


def test_tls_handshake_without_stun_inside() -> None:
    # On a TURN port (5349): not a STUN server there, an error. On 443 (often a web server): no TURN over
    # TLS on 443, the usual warning.
    result = _result(_port("tls", 5349, "open", stun="no-answer", tls=_tls(60)),
                     _port("tls", 443, "open", stun="no-answer", tls=_tls(60, alpn=None)))
    findings = rules.judge(result).findings
    assert sorted((f.id, f.subject.port) for f in findings) == [("PORT-NOT-STUN", 5349),
                                                                 ("PORT-TLS443-MISSING", 443)]
    not_stun = next(f for f in findings if f.id == "PORT-NOT-STUN")
    assert not_stun.title == "Not a STUN/TURN server on TLS port 5349" and "inside TLS" in not_stun.symptom
    missing = next(f for f in findings if f.id == "PORT-TLS443-MISSING")
    assert "no STUN answer" in missing.symptom and missing.severity.value == "warning"


def test_bare_tcp_accept_is_not_stun_and_explains_the_udp_silence_on_that_port() -> None:
    result = _result(_port("udp", 3478, "timeout"), _port("tcp", 3478, "open", stun="no-answer"))
    assert ids(result) == ["PORT-NOT-STUN", "SERVER-UNREACHABLE"]  # never UDP-BLOCKED for a bare accept
    built = report(result)
    assert [r.id for r in built.roots] == ["PORT-NOT-STUN"]
    not_stun = built.roots[0]
    assert not_stun.severity.value == "error"
    assert not_stun.title == "Not a STUN/TURN server on TCP port 3478"
    assert not_stun.subject == Subject(SUITE, HOST, 3478, "tcp")
    udp = next(f for f in built.findings if f.id == "SERVER-UNREACHABLE")
    assert udp.explained_by == not_stun.ref
    assert built.exit_code == 1
    # The silence on another port is not explained by it.
    other = _result(_port("udp", 3479, "timeout"), _port("tcp", 3478, "open", stun="no-answer"))
    assert sorted(roots(other)) == ["PORT-NOT-STUN", "SERVER-UNREACHABLE"]


def test_garbage_over_tcp_is_port_not_stun_and_over_udp_malformed_reply() -> None:
    tcp_ex = Exchange(step="s", request="Binding request", transport="tcp", server="198.51.100.7:80",
                      outcome="rejected", rejected=["malformed reply: not STUN"])
    udp_ex = Exchange(step="s", request="Binding request", transport="udp", server="198.51.100.7:80",
                      outcome="rejected", attempts=7, rejected=["malformed reply: not STUN"] * 7)
    result = _result(_port("udp", 80, "timeout", exchange=udp_ex, error="only invalid replies"),
                     _port("tcp", 80, "open", stun="no-answer", exchange=tcp_ex))
    judgement = rules.judge(result)
    assert sorted(f.id for f in judgement.findings) == ["MALFORMED-REPLY", "PORT-NOT-STUN"]
    assert "not STUN" in next(f for f in judgement.findings if f.id == "PORT-NOT-STUN").symptom
    assert roots(result) == ["PORT-NOT-STUN"]  # the UDP garbage on the same port is folded under it


def test_malformed_mapped_address_is_a_malformed_reply_on_an_open_port() -> None:
    ex = Exchange(step="s", request="Binding request", transport="udp", server="198.51.100.7:3478",
                  outcome="success", response="Binding success response",
                  response_attributes=[AttributeView(0x20, "XOR-MAPPED-ADDRESS",
                                                     "malformed: bad family 1 or length 3", "000112")])
    result = _result(_port("udp", 3478, "open", stun="answered", exchange=ex,
                           malformed="XOR-MAPPED-ADDRESS: address: bad family 1 or length 3"))
    (finding,) = rules.judge(result).findings
    assert (finding.id, finding.step, finding.subject.transport) == ("MALFORMED-REPLY", "3478", "udp")
    assert "XOR-MAPPED-ADDRESS" in finding.symptom
    assert any("raw 000112" in line for line in finding.evidence)
    assert report(result).exit_code == 1


def test_a_crashed_port_probe_is_internal_error_on_that_port_only() -> None:
    result = _result(_port("udp", 3478, "error", internal_error="ValueError at reach.py:1: boom"),
                     _port("tcp", 3478, "open", stun="answered"))
    judgement = rules.judge(result)
    (finding,) = judgement.findings
    assert (finding.id, finding.step, finding.subject.transport) == ("INTERNAL-ERROR", "3478", "udp")
    assert "ports" in finding.title and "UDP port 3478" in finding.symptom
    assert statuses(result) == {"udp/3478": Status.FAIL, "tcp/3478": Status.PASS}
    assert report(result).exit_code == 4


def test_tls_443_missing_is_a_warning_not_an_error() -> None:
    result = _result(_port("tls", 443, "closed", error="connection refused"))
    findings = rules.judge(result).findings
    assert [(f.id, f.severity.value) for f in findings] == [("PORT-TLS443-MISSING", "warning")]
    assert "closed" in findings[0].symptom
    assert statuses(result) == {"tls/443": Status.WARN}
    assert report(result).exit_code == 0


@pytest.mark.parametrize("days, expected", [
    (13.9, ["TLS-EXPIRING-SOON"]), (14.0, []), (0.5, ["TLS-EXPIRING-SOON"]), (-1.0, ["TLS-EXPIRED"])])
def test_expiry_thresholds(days: float, expected: list[str]) -> None:
    assert ids(_result(_port("tls", 5349, "open", tls=_tls(days)))) == expected


def test_expiring_soon_names_days_and_subject() -> None:
    (finding,) = rules.judge(_result(_port("tls", 5349, "open", tls=_tls(3.2)))).findings
    assert finding.title == "TLS certificate on 5349 expires in 3 days"
    assert "CN=turn.example.com" in finding.symptom and "{" not in finding.symptom
    assert (finding.step, finding.subject.transport, finding.subject.port) == ("5349", "tls", 5349)


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
    judgement = rules.judge(result)
    drop = next(f for f in judgement.findings if f.id == "TRACE-PATH-DROP")
    assert drop.title == "UDP/3478: path goes silent after hop 1 (10.0.0.1)"
    assert (drop.subject, drop.step) == (Subject(SUITE, HOST, 3478), "trace/udp/3478")
    assert any("hop 2: *" in line for line in drop.evidence)
    assert statuses(result) == {"udp/3478": Status.FAIL, "tcp/3478": Status.PASS,
                                "trace/udp/3478": Status.WARN}
    # The trace (a warning) says where UDP dies; it cannot fold the UDP-BLOCKED error under it.
    assert roots(result) == ["UDP-BLOCKED", "TRACE-PATH-DROP"]
    result.ports[0].state = "open"
    assert "TRACE-PATH-DROP" not in ids(result)
    assert statuses(result)["trace/udp/3478"] == Status.PASS


def test_failed_trace_is_undecided() -> None:
    broken = TraceResult(destination="198.51.100.7", transport="udp", port=3478, max_hops=4,
                         error="trace failed: Operation not permitted")
    result = _result(_port("udp", 3478, "timeout"), traces=[broken])
    assert statuses(result)["trace/udp/3478"] == Status.INCONCLUSIVE
    assert "TRACE-NO-ANSWER" not in ids(result)


def test_resolve_error_is_one_dns_failure_and_every_port_skipped() -> None:
    result = ReachResult(host="nope.invalid", address=None, resolve_error="cannot resolve nope.invalid: x",
                         planned=[PortTarget("udp", 3478), PortTarget("tls", 443)])
    judgement = rules.judge(result)
    assert [(f.id, f.step, f.subject) for f in judgement.findings] == [
        ("DNS-FAILURE", "resolve", Subject("ports:nope.invalid", "nope.invalid"))]
    assert "nope.invalid" in judgement.findings[0].symptom
    assert statuses(result) == {"resolve": Status.FAIL, "udp/3478": Status.SKIP, "tls/443": Status.SKIP}
    assert judgement.facts.names == [NameFact("nope.invalid", False, well_known=False,
                                              detail="cannot resolve nope.invalid: x")]


def test_ip_literal_has_no_name_fact() -> None:
    result = _result(_port("udp", 3478, "open", stun="answered"))
    result.host = "198.51.100.7"
    assert rules.judge(result).facts.names == []


def test_trace_rejected_and_no_answer() -> None:
    rejected = _trace(("10.0.0.1", "time-exceeded"), ("192.0.2.1", "unreachable"))
    rejected.hops[1].icmp_type, rejected.hops[1].icmp_code = 3, 13
    silent = _trace((None, "silent"), (None, "silent"))
    silent.transport = "tcp"
    result = _result(_port("udp", 3478, "timeout"), _port("tcp", 3478, "timeout"), traces=[rejected, silent])
    findings = {f.id: f for f in rules.judge(result).findings}
    assert sorted(findings) == ["SERVER-UNREACHABLE", "TRACE-NO-ANSWER", "TRACE-REJECTED"]
    assert findings["TRACE-REJECTED"].title == "UDP/3478: hop 2 (192.0.2.1) rejects the traffic"
    assert "type 3, code 13" in findings["TRACE-REJECTED"].symptom
    assert findings["TRACE-NO-ANSWER"].step == "trace/tcp/3478"
    assert statuses(result) == {"udp/3478": Status.FAIL, "tcp/3478": Status.FAIL,
                                "trace/udp/3478": Status.WARN, "trace/tcp/3478": Status.PASS}


def test_certificate_expiry_is_kept_as_a_datetime_and_its_metric_reads_it() -> None:
    """The leaf's expiry stays a datetime in process (the ports check's exporter metric takes it as it is);
    the JSON carries only the documented ISO text."""
    from datetime import UTC, datetime

    from rtcdiag.checks.ports import metrics
    from rtcdiag.jsonable import to_jsonable
    from rtcdiag.probes.reach import PortResult, PortState, ReachResult
    from rtcdiag.probes.tls_info import TlsInfo, cert_from_info
    from rtcdiag.triage.judgement import Facts

    leaf = cert_from_info({"notBefore": "Jan  1 00:00:00 2024 GMT", "notAfter": "Mar  1 12:30:00 2030 GMT",
                           "subject": ((("commonName", "turn.example.com"),),)}, now=1_700_000_000)
    assert leaf.expires_at == datetime(2030, 3, 1, 12, 30, tzinfo=UTC)
    assert leaf.not_after == "2030-03-01T12:30:00Z"
    data = to_jsonable(leaf)
    assert isinstance(data, dict) and "expires_at" not in data and data["not_after"] == leaf.not_after
    port = PortResult(transport="tls", port=5349, address="192.0.2.1", state=PortState.OPEN,
                      tls=TlsInfo(address="192.0.2.1", port=5349, server_name="turn.example.com",
                                  chain=[leaf]))
    (sample,) = metrics(ReachResult(host="192.0.2.1", address="192.0.2.1", ports=[port]), Facts())
    assert sample.value == leaf.expires_at.timestamp() and sample.labels == (5349,)
