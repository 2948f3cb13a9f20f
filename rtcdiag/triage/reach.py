"""Triage rules for the ports probe: ReachResult -> a Judgement (findings, one step per transport:port and per
trace, the host's name fact).

Steps, all of suite ``ports:HOST``: one per probed port (subject transport and port, step the port number:
testcase ``udp/3478``) and one per trace (subject port, no transport, step ``trace/udp/3478``). When HOST
does not resolve: one ``resolve`` step with DNS-FAILURE and every port step skipped with that reason.

Judgements live here only (the probe records facts). Rules:
- Silence -> SERVER-UNREACHABLE, except UDP silence while STUN over TCP on the same port or over TLS to the
  same host *answered* -> UDP-BLOCKED (a bare TCP accept proves nothing about STUN, nor an answer on another
  TCP port); only invalid UDP replies -> MALFORMED-REPLY; RST / ICMP port unreachable -> SERVER-REFUSED;
  a local error (no route, no IPv6) -> NO-ROUTE.
- TCP accepted (or TLS handshake done) but no STUN answer -> PORT-NOT-STUN (an error; the diagnosis folds
  the same port's UDP silence or refusal under it). A STUN answer whose XOR-MAPPED-ADDRESS does not decode
  -> MALFORMED-REPLY.
- TLS 443 not open, or open but no STUN inside (a web server) -> PORT-TLS443-MISSING (a warning: many
  deployments have no 443 listener); TLS handshake failure -> TLS-HANDSHAKE.
- Certificates: untrusted -> TLS-UNTRUSTED, expired -> TLS-EXPIRED, under 14 days -> TLS-EXPIRING-SOON,
  name mismatch -> TLS-HOSTNAME, TLS 1.0/1.1 -> TLS-OLD-VERSION, no ALPN stun.turn -> TLS-NO-ALPN.
- Trace (ports that did not open): silence after hop N -> TRACE-PATH-DROP, ICMP unreachable from a hop ->
  TRACE-REJECTED, no ICMP at all -> TRACE-NO-ANSWER.
- A port whose probe crashed (a bug) -> INTERNAL-ERROR on that port's step only; the others are judged.
"""

from __future__ import annotations

from typing import Any

from rtcdiag.addresses import format_hostport, parse_ip
from rtcdiag.probes import reach
from rtcdiag.probes.reach import PortResult, ReachResult
from rtcdiag.probes.record import Exchange
from rtcdiag.probes.tls_info import ALPN_STUN_TURN, TlsInfo
from rtcdiag.probes.trace import DROPPED, NO_ANSWER, REJECTED, SILENT, TraceResult
from rtcdiag.redact import echo
from rtcdiag.triage import ids
from rtcdiag.triage.certificate import expiring_soon
from rtcdiag.triage.failures import proves_udp_blocked
from rtcdiag.triage.finding import Finding, Subject, make_finding
from rtcdiag.triage.judgement import Judgement, NameFact, StepOutcome, StepState, is_well_known

CHECK = "ports"
RESOLVE_STEP = "resolve"
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
        lines.append(f"certificate[{depth}]: subject {echo(cert.subject or '-')}; "
                     f"issuer {echo(cert.issuer or '-')}; "
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


# --- subjects and steps ----------------------------------------------------------------------------------

def suite(result: ReachResult) -> str:
    return f"ports:{result.host}"


def port_subject(result: ReachResult, transport: str, port: int) -> Subject:
    return Subject(server=suite(result), host=result.host, port=port, transport=transport)


def subject(result: ReachResult, port: PortResult) -> Subject:
    """One port's subject: suite ``ports:HOST``, the host as given, its port and transport."""
    return port_subject(result, port.transport, port.port)


def port_step(port: int) -> str:
    """The step of one port: with the subject's transport the testcase reads ``udp/3478``."""
    return str(port)


def trace_subject(result: ReachResult, trace: TraceResult) -> Subject:
    return Subject(server=suite(result), host=result.host, port=trace.port)


def trace_step(trace: TraceResult) -> str:
    return f"trace/{trace.transport}/{trace.port}"


# --- ports -----------------------------------------------------------------------------------------------

def _port_evidence(port: PortResult) -> list[str]:
    evidence: list[str] = []
    if port.exchange is not None:
        evidence.append(describe_exchange(port.exchange))
        evidence.extend(f"  {a.name}: {a.value} (raw {a.raw_hex or '-'})"
                        for a in port.exchange.response_attributes if a.value.startswith("malformed"))
    if port.error:
        evidence.append(f"{port.transport}:{port.port} {port.state}: {port.error}")
    if port.tls is not None:
        evidence.extend(describe_tls(port.tls))
    return evidence or [f"{port.transport}:{port.port} {port.state}"]


_IGNORED = {ids.TLS_EXPIRED: "expired", ids.TLS_UNTRUSTED: "not trusted", ids.TLS_HOSTNAME: "wrong name"}


def _tls_findings(result: ReachResult, port: PortResult, info: TlsInfo) -> list[Finding]:
    subj = subject(result, port)
    evidence = describe_tls(info)
    values: dict[str, Any] = {"port": port.port, "host": info.server_name or result.host,
                              "transport": "TLS", "server": format_hostport(port.address, port.port)}

    def add(finding_id: str, **params: Any) -> None:
        if info.verification_off and finding_id in (ids.TLS_EXPIRED, ids.TLS_UNTRUSTED, ids.TLS_HOSTNAME):
            # --insecure: the problem did not stop this run, but it stops every browser (a warning).
            params["detail"] = f"{_IGNORED[finding_id]}: {params['detail']}"
            finding_id = ids.TLS_CERT_IGNORED
        out.append(make_finding(finding_id, subj, check=CHECK, step=port_step(port.port), evidence=evidence,
                                **{**values, **params}))

    out: list[Finding] = []
    leaf = info.chain[0] if info.chain else None
    expired = leaf is not None and leaf.days_to_expiry is not None and leaf.days_to_expiry < 0
    if expired or info.verify_code == X509_V_ERR_CERT_HAS_EXPIRED:
        add(ids.TLS_EXPIRED, detail=f"certificate expired on {leaf.not_after if leaf else '?'}")
    elif info.trusted is False and info.verify_code not in X509_V_ERR_HOSTNAME_MISMATCH:
        add(ids.TLS_UNTRUSTED, detail=info.verify_error or "certificate chain does not verify")
    soon = expiring_soon(leaf)
    if soon is not None:
        add(ids.TLS_EXPIRING_SOON, **soon)
    if info.hostname_match is False:
        names = ", ".join(echo(n) for n in (leaf.san_dns + leaf.san_ip)) if leaf else ""
        names = names or "none"
        add(ids.TLS_HOSTNAME, detail=f"certificate names {names}, not {info.server_name}")
    if info.version in OLD_TLS_VERSIONS:
        add(ids.TLS_OLD_VERSION, version=info.version)
    if info.handshake_ok and info.alpn_selected != ALPN_STUN_TURN:
        add(ids.TLS_NO_ALPN, selected=info.alpn_selected or "none")
    return out


def stun_answered_over_stream(result: ReachResult) -> list[PortResult]:
    """The TCP/TLS ports of this host where a STUN Binding got a STUN answer (not a mere TCP accept)."""
    return [p for p in result.ports if p.transport in ("tcp", "tls") and p.stun == "answered"]


def _port_findings(result: ReachResult, port: PortResult, answered: list[PortResult]) -> list[Finding]:
    subj = subject(result, port)
    evidence = _port_evidence(port)
    values: dict[str, Any] = {"port": port.port, "transport": port.transport.upper(), "host": result.host,
                              "server": format_hostport(port.address, port.port),
                              "detail": port.error or port.state, "state": port.state}

    def one(finding_id: str, **params: Any) -> list[Finding]:
        return [make_finding(finding_id, subj, check=CHECK, step=port_step(port.port), evidence=evidence,
                             **{**values, **params})]

    if port.internal_error is not None:
        return one(ids.INTERNAL_ERROR, check_name=CHECK, detail=port.internal_error,
                   about=f"{port.transport.upper()} port {port.port} of {result.host}")
    if port.transport == "tls" and port.port == 443 and port.state != reach.OPEN:
        return one(ids.PORT_TLS443_MISSING)
    if port.transport == "tls" and port.port == 443 and port.stun == "no-answer":
        # Another TLS service (a web server) on 443: still no TURN over TLS there (a warning, as above).
        return one(ids.PORT_TLS443_MISSING, state="open, but no STUN answer inside TLS (another service)")
    if port.state == reach.TIMEOUT:
        ex = port.exchange
        if port.transport == "udp" and ex is not None and ex.outcome == "rejected":
            # rejected_count: every reply rejected, where the transport keeps only the first few
            count = max(getattr(ex, "rejected_count", 0) or 0, len(ex.rejected))
            shown = "; ".join(ex.rejected[:3])
            return one(ids.MALFORMED_REPLY, detail=f"{count} reply(ies) rejected: {shown}")
        family = [p for p in answered if proves_udp_blocked(port.port, p.transport, p.port)]
        if port.transport == "udp" and family:
            where = ", ".join(f"{p.transport.upper()} {p.port}" for p in family)
            detail = f"no answer to a STUN Binding on UDP {port.port} while STUN over {where} answered"
            return one(ids.UDP_BLOCKED, detail=detail)
        if port.transport == "udp":
            return one(ids.SERVER_UNREACHABLE, detail=f"no answer to a STUN Binding on UDP {port.port}")
        return one(ids.SERVER_UNREACHABLE)
    if port.state == reach.CLOSED:
        return one(ids.SERVER_REFUSED)
    if port.state == reach.ERROR:
        return one(ids.NO_ROUTE)
    if port.state == reach.TLS_FAILED:
        stalled = port.tls is not None and port.tls.stalled  # accepted, then no answer to the ClientHello
        return one(ids.TLS_HANDSHAKE_STALL if stalled else ids.TLS_HANDSHAKE)
    out: list[Finding] = []
    if port.transport in ("tcp", "tls") and port.stun == "no-answer" and port.exchange is not None and \
            port.exchange.error_kind == "slow-reply":  # the answer was dripping in when the time ran out
        out += one(ids.SERVER_SLOW_REPLY, detail=port.exchange.error or "the reply came too slowly")
    elif port.transport in ("tcp", "tls") and port.stun == "no-answer":
        ex = port.exchange
        if ex is None or ex.outcome == "timeout":
            what = "no reply to a Binding request"
        elif ex.outcome == "rejected":
            what = "only replies that are not STUN to a Binding request: " + "; ".join(ex.rejected[:2])
        elif ex.error_kind == "closed":
            what = "the connection was closed after a Binding request"
        else:
            what = f"a Binding request failed: {ex.error or ex.outcome}"
        out += one(ids.PORT_NOT_STUN, detail=what if port.transport == "tcp" else what + " inside TLS")
    if port.malformed is not None:
        out += one(ids.MALFORMED_REPLY, detail=f"the Binding response is unusable, {port.malformed}")
    if port.tls is not None:
        out.extend(_tls_findings(result, port, port.tls))
    return out


def _port_detail(port: PortResult) -> str:
    rtt = f" ({port.rtt_ms:.1f} ms)" if port.rtt_ms is not None else ""
    if port.internal_error is not None:
        return f"internal error: {port.internal_error}"
    if port.state != reach.OPEN:
        return f"{port.state}{rtt}: {port.error}" if port.error else f"{port.state}{rtt}"
    parts = [f"open{rtt}"]
    if port.stun == "answered":
        parts.append("STUN answered" + (f", mapped {port.mapped_address}" if port.mapped_address else ""))
    elif port.stun == "no-answer":
        parts.append("no STUN answer")
    if port.tls is not None and port.tls.handshake_ok:
        parts.append(f"{port.tls.version}, ALPN {port.tls.alpn_selected or 'none'}")
    return "; ".join(parts)


def _port_step(result: ReachResult, port: PortResult) -> StepOutcome:
    state = StepState.UNDECIDED if port.internal_error is not None else StepState.DONE
    return StepOutcome(subject(result, port), CHECK, port_step(port.port), state=state,
                       detail=_port_detail(port), duration_s=round((port.rtt_ms or 0.0) / 1000.0, 6))


# --- traces ----------------------------------------------------------------------------------------------

def _opened(result: ReachResult, trace: TraceResult) -> bool:
    """Did the port this trace followed open? (TLS is traced as TCP.)"""
    udp = trace.transport == "udp"
    return any(p.state == reach.OPEN and p.port == trace.port and (p.transport == "udp") == udp
               for p in result.ports)


def _trace_findings(result: ReachResult, trace: TraceResult) -> list[Finding]:
    if _opened(result, trace):
        return []
    subj, step = trace_subject(result, trace), trace_step(trace)
    evidence = describe_trace(trace)
    values: dict[str, Any] = {"transport": trace.transport.upper(), "port": trace.port,
                              "hop": trace.last_answer_hop or 0,
                              "address": trace.last_answer_address or "?"}
    if trace.outcome == DROPPED:
        return [make_finding(ids.TRACE_PATH_DROP, subj, check=CHECK, step=step, evidence=evidence, **values)]
    if trace.outcome == REJECTED:
        hop = next((h for h in trace.hops if h.ttl == trace.last_answer_hop), None)
        return [make_finding(ids.TRACE_REJECTED, subj, check=CHECK, step=step, evidence=evidence,
                             icmp_type=hop.icmp_type if hop else "?", icmp_code=hop.icmp_code if hop else "?",
                             **values)]
    if trace.outcome == NO_ANSWER and trace.error is None:
        return [make_finding(ids.TRACE_NO_ANSWER, subj, check=CHECK, step=step, evidence=evidence, **values)]
    return []


def _trace_step(result: ReachResult, trace: TraceResult) -> StepOutcome:
    where = (f", last answer hop {trace.last_answer_hop} ({trace.last_answer_address})"
             if trace.last_answer_hop is not None else "")
    if trace.error is not None:
        state, detail = StepState.UNDECIDED, trace.error
    else:
        state, detail = StepState.DONE, f"{trace.outcome}{where}"
        if _opened(result, trace):
            detail += " (the port answered)"
    return StepOutcome(trace_subject(result, trace), CHECK, trace_step(trace), state=state, detail=detail)


# --- the judgement ---------------------------------------------------------------------------------------

def _unresolved(result: ReachResult, error: str) -> Judgement:
    subj = Subject(server=suite(result), host=result.host)
    finding = make_finding(ids.DNS_FAILURE, subj, check=CHECK, step=RESOLVE_STEP, evidence=[error],
                           detail=error, host=result.host)
    steps = [StepOutcome(subj, CHECK, RESOLVE_STEP, detail=error)]
    steps += [StepOutcome(port_subject(result, t.transport, t.port), CHECK, port_step(t.port),
                          state=StepState.SKIPPED, detail=f"not probed: {result.host} does not resolve")
              for t in result.planned]
    return Judgement(findings=[finding], steps=steps)


def judge(result: ReachResult) -> Judgement:
    """Findings, one step per port and per trace, and the host's name fact (for a host name)."""
    if result.resolve_error is not None:
        judgement = _unresolved(result, result.resolve_error)
    else:
        answered = stun_answered_over_stream(result)
        judgement = Judgement()
        for port in result.ports:
            judgement.findings.extend(_port_findings(result, port, answered))
            judgement.steps.append(_port_step(result, port))
        for trace in result.traces:
            judgement.findings.extend(_trace_findings(result, trace))
            judgement.steps.append(_trace_step(result, trace))
    if parse_ip(result.host) is None:
        resolved = result.resolve_error is None
        judgement.facts.names.append(NameFact(result.host, resolved, well_known=is_well_known(result.host),
                                              detail=result.resolve_error or ""))
    return judgement


def triage(result: ReachResult) -> list[Finding]:
    """The findings of :func:`judge` alone."""
    return judge(result).findings
