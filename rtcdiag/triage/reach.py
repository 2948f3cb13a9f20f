"""Triage rules for the ports probe: ReachResult -> findings and one check per transport:port.

Judgements live here only (the probe records facts). Rules:
- Silence -> SERVER-UNREACHABLE, except UDP silence while TCP/TLS answered -> UDP-BLOCKED;
  RST / ICMP port unreachable -> SERVER-REFUSED; a local error (no route, no IPv6) -> NO-ROUTE.
- TLS 443 not open -> PORT-TLS443-MISSING (a warning, not an error: many deployments have no 443 listener).
- TCP open but no STUN answer -> PORT-NOT-STUN; TLS handshake failure -> TLS-HANDSHAKE.
- Certificates: untrusted -> TLS-UNTRUSTED, expired -> TLS-EXPIRED, under 14 days -> TLS-EXPIRING-SOON,
  name mismatch -> TLS-HOSTNAME, TLS 1.0/1.1 -> TLS-OLD-VERSION, no ALPN stun.turn -> TLS-NO-ALPN.
- Trace (ports that did not open): silence after hop N -> TRACE-PATH-DROP, ICMP unreachable from a hop ->
  TRACE-REJECTED, no ICMP at all -> TRACE-NO-ANSWER.
"""

from __future__ import annotations

from typing import Any

from rtcdiag.addresses import format_hostport
from rtcdiag.probes import reach
from rtcdiag.probes.reach import PortResult, ReachResult
from rtcdiag.probes.record import Exchange
from rtcdiag.probes.tls_info import ALPN_STUN_TURN, TlsInfo
from rtcdiag.probes.trace import DROPPED, NO_ANSWER, REJECTED, SILENT, TraceResult
from rtcdiag.report.model import CheckCase, Status
from rtcdiag.triage.finding import Finding, Severity, make_finding

EXPIRY_WARNING_DAYS = 14  # issue 5: warn when a certificate expires in under 14 days
OLD_TLS_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1")  # RFC 8996 deprecates TLS 1.0 and 1.1
X509_V_ERR_CERT_HAS_EXPIRED = 10  # OpenSSL verify code
X509_V_ERR_HOSTNAME_MISMATCH = (62, 64)


def describe_exchange(ex: Exchange) -> str:
    answer = ex.response or ex.error or ex.outcome
    rtt = f" in {ex.rtt_ms:.1f} ms" if ex.rtt_ms is not None else ""
    tries = f" after {ex.attempts} attempt(s)" if ex.outcome == "timeout" and ex.attempts else ""
    return f"{ex.request} to {ex.server} over {ex.transport}: {answer}{rtt}{tries}"


def describe_tls(info: TlsInfo) -> list[str]:
    lines: list[str] = []
    if info.handshake_ok:
        lines.append(f"TLS {info.version}, cipher {info.cipher}, ALPN {info.alpn_selected or 'none'}")
    for depth, cert in enumerate(info.chain):
        sans = ", ".join(cert.san_dns + cert.san_ip) or "none"
        lines.append(f"certificate[{depth}]: subject {cert.subject or '-'}; issuer {cert.issuer or '-'}; "
                     f"SAN {sans}; valid {cert.not_before} .. {cert.not_after}")
    if info.verify_error:
        lines.append(f"verification: {info.verify_error} (OpenSSL code {info.verify_code})")
    if info.error:
        lines.append(info.error)
    return lines


def describe_trace(trace: TraceResult) -> list[str]:
    lines = [f"trace {trace.transport}/{trace.port} to {trace.destination}: {trace.outcome}"]
    for hop in trace.hops:
        if hop.kind == SILENT:
            lines.append(f"  hop {hop.ttl}: *")
        else:
            rtt = f" {hop.rtt_ms:.1f} ms" if hop.rtt_ms is not None else ""
            lines.append(f"  hop {hop.ttl}: {hop.address} {hop.kind}{rtt}")
    if trace.error:
        lines.append(trace.error)
    return lines


def _port_evidence(port: PortResult) -> list[str]:
    evidence: list[str] = []
    if port.exchange is not None:
        evidence.append(describe_exchange(port.exchange))
    if port.error:
        evidence.append(f"{port.transport}:{port.port} {port.state}: {port.error}")
    if port.tls is not None:
        evidence.extend(describe_tls(port.tls))
    return evidence or [f"{port.transport}:{port.port} {port.state}"]


def _tls_findings(result: ReachResult, port: PortResult, info: TlsInfo) -> list[Finding]:
    subj = reach.subject(result, port)
    evidence = describe_tls(info)
    values: dict[str, Any] = {"port": port.port, "host": info.server_name or result.host,
                                 "transport": "TLS", "server": format_hostport(port.address, port.port)}
    out: list[Finding] = []
    leaf = info.chain[0] if info.chain else None
    expired = leaf is not None and leaf.days_to_expiry is not None and leaf.days_to_expiry < 0
    if expired or info.verify_code == X509_V_ERR_CERT_HAS_EXPIRED:
        out.append(make_finding("TLS-EXPIRED", subject=subj, evidence=evidence,
                                detail=f"certificate expired on {leaf.not_after if leaf else '?'}", **values))
    elif info.trusted is False and info.verify_code not in X509_V_ERR_HOSTNAME_MISMATCH:
        out.append(make_finding("TLS-UNTRUSTED", subject=subj, evidence=evidence,
                                detail=info.verify_error or "certificate chain does not verify", **values))
    days = leaf.days_to_expiry if leaf is not None else None
    if leaf is not None and days is not None and 0 <= days < EXPIRY_WARNING_DAYS:
        out.append(make_finding("TLS-EXPIRING-SOON", subject=subj, evidence=evidence,
                                days=int(days), not_after=leaf.not_after,
                                cert_subject=leaf.subject or "-", **values))
    if info.hostname_match is False:
        names = ", ".join((leaf.san_dns + leaf.san_ip) if leaf else []) or "none"
        out.append(make_finding("TLS-HOSTNAME", subject=subj, evidence=evidence,
                                detail=f"certificate names {names}, not {info.server_name}", **values))
    if info.version in OLD_TLS_VERSIONS:
        out.append(make_finding("TLS-OLD-VERSION", subject=subj, evidence=evidence, version=info.version,
                                **values))
    if info.handshake_ok and info.alpn_selected != ALPN_STUN_TURN:
        out.append(make_finding("TLS-NO-ALPN", subject=subj, evidence=evidence,
                                selected=info.alpn_selected or "none", **values))
    return out


def _port_findings(result: ReachResult, port: PortResult, tcp_answered: bool) -> list[Finding]:
    subj = reach.subject(result, port)
    evidence = _port_evidence(port)
    values: dict[str, Any] = {"port": port.port, "transport": port.transport.upper(), "host": result.host,
                                 "server": format_hostport(port.address, port.port),
                                 "detail": port.error or port.state, "state": port.state}
    if port.transport == "tls" and port.port == 443 and port.state != reach.OPEN:
        return [make_finding("PORT-TLS443-MISSING", subject=subj, evidence=evidence, **values)]
    if port.state == reach.TIMEOUT:
        if port.transport == "udp":
            values["detail"] = f"no answer to a STUN Binding on UDP {port.port}"
        # UDP-BLOCKED only when TCP/TLS to the same host answered; otherwise the server is simply silent.
        finding_id = "UDP-BLOCKED" if port.transport == "udp" and tcp_answered else "SERVER-UNREACHABLE"
        return [make_finding(finding_id, subject=subj, evidence=evidence, **values)]
    if port.state == reach.CLOSED:
        return [make_finding("SERVER-REFUSED", subject=subj, evidence=evidence, **values)]
    if port.state == reach.ERROR:
        return [make_finding("NO-ROUTE", subject=subj, evidence=evidence, **values)]
    if port.state == reach.TLS_FAILED:
        return [make_finding("TLS-HANDSHAKE", subject=subj, evidence=evidence, **values)]
    out: list[Finding] = []
    if port.transport == "tcp" and port.stun == "no-answer":
        ex = port.exchange
        values["detail"] = (ex.error or ex.outcome) if ex is not None else "no answer"
        out.append(make_finding("PORT-NOT-STUN", subject=subj, evidence=evidence, **values))
    if port.tls is not None:
        out.extend(_tls_findings(result, port, port.tls))
    return out


def trace_subject(result: ReachResult, trace: TraceResult) -> str:
    """e.g. ``trace:udp:turn.example.com:3478`` (distinct from the port's own subject)."""
    return f"trace:{trace.transport}:{format_hostport(result.host, trace.port)}"


def _trace_findings(result: ReachResult, trace: TraceResult) -> list[Finding]:
    opened = [p for p in result.ports if p.state == reach.OPEN and p.port == trace.port
              and (p.transport == "udp") == (trace.transport == "udp")]
    if opened:
        return []
    subj = trace_subject(result, trace)
    evidence = describe_trace(trace)
    values: dict[str, Any] = {"transport": trace.transport.upper(), "port": trace.port,
                                 "hop": trace.last_answer_hop or 0,
                                 "address": trace.last_answer_address or "?"}
    if trace.outcome == DROPPED:
        return [make_finding("TRACE-PATH-DROP", subject=subj, evidence=evidence, **values)]
    if trace.outcome == REJECTED:
        hop = next((h for h in trace.hops if h.ttl == trace.last_answer_hop), None)
        return [make_finding("TRACE-REJECTED", subject=subj, evidence=evidence,
                             icmp_type=hop.icmp_type if hop else "?", icmp_code=hop.icmp_code if hop else "?",
                             **values)]
    if trace.outcome == NO_ANSWER and trace.error is None:
        return [make_finding("TRACE-NO-ANSWER", subject=subj, evidence=evidence, **values)]
    return []


def triage(result: ReachResult) -> list[Finding]:
    """Every finding the reachability result supports."""
    if result.resolve_error is not None:
        return [make_finding("DNS-FAILURE", subject=result.host, evidence=[result.resolve_error],
                             detail=result.resolve_error, host=result.host)]
    tcp_answered = any(p.transport != "udp" and p.state in (reach.OPEN, reach.TLS_FAILED)
                       for p in result.ports)
    out = [f for p in result.ports for f in _port_findings(result, p, tcp_answered)]
    for trace in result.traces:
        out.extend(_trace_findings(result, trace))
    return out


def checks(result: ReachResult, findings: list[Finding]) -> list[CheckCase]:
    """One JUnit case per transport:port (and per trace), failing/warning with the findings about it."""
    suite = f"ports:{result.host}"
    cases: list[CheckCase] = []
    if result.resolve_error is not None:
        ids = [f.id for f in findings]
        return [CheckCase(suite=suite, name="resolve", status=Status.FAIL, message=result.resolve_error,
                          finding_ids=ids)]
    for port in result.ports:
        subj = reach.subject(result, port)
        mine = [f for f in findings if f.subject == subj]
        cases.append(_case(suite, f"{port.transport}/{port.port}", mine, port.state, port.rtt_ms))
    for trace in result.traces:
        subj = trace_subject(result, trace)
        mine = [f for f in findings if f.subject == subj]
        cases.append(_case(suite, f"trace/{trace.transport}/{trace.port}", mine, trace.outcome, None))
    return cases


def _case(suite: str, name: str, findings: list[Finding], state: str, rtt_ms: float | None) -> CheckCase:
    worst = max((f.severity.rank for f in findings), default=-1)
    status = Status.PASS
    if worst >= Severity.ERROR.rank:
        status = Status.FAIL
    elif worst >= Severity.WARNING.rank:
        status = Status.WARN
    message = "; ".join(f"{f.id}: {f.title}" for f in findings) or state
    return CheckCase(suite=suite, name=name, status=status, message=message,
                     duration_s=round((rtt_ms or 0.0) / 1000.0, 4), finding_ids=[f.id for f in findings])
