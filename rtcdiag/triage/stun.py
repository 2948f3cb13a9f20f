"""Triage for STUN Binding results: reachability, reply sanity, legacy servers, address leaks."""

from __future__ import annotations

from collections.abc import Sequence

from rtcdiag.addresses import PUBLIC_LIKE, AddressScope, parse_ip, reachable_from, scope_of
from rtcdiag.probes.binding import BindingResult
from rtcdiag.probes.record import Redirect
from rtcdiag.redact import echo
from rtcdiag.triage import ids
from rtcdiag.triage.failures import (
    ANSWERED,
    FLOOD_MIN_REPLIES,
    FLOOD_PER_REQUEST,
    failure_finding,
    udp_blocked_ports,
)
from rtcdiag.triage.finding import Finding, Subject, make_finding
from rtcdiag.triage.judgement import Judgement, NameFact, RttFact, StepOutcome, is_well_known

HIGH_RTT_MS = 300.0  # beyond ~300 ms round trip conversation suffers (ITU-T G.114: 150 ms one way)


def _ip_of(hostport: str | None) -> str | None:
    if not hostport:
        return None
    return hostport.rsplit(":", 1)[0].strip("[]")


def _scope(hostport: str | None) -> AddressScope | None:
    ip = parse_ip(_ip_of(hostport) or "")
    return scope_of(ip) if ip is not None else None


def _is_public(hostport: str | None) -> bool:
    """Public, or a documentation/benchmarking stand-in for one (labs use those as the internet)."""
    return _scope(hostport) in PUBLIC_LIKE


def _internal(hostport: str | None, server: str | None) -> bool:
    """An address clients that reached ``server`` cannot reach (RFC 6890 scopes)."""
    found, where = _scope(hostport), _scope(server)
    return found is not None and where is not None and not reachable_from(found, where)


CHECK = "stun"
STEP = "binding"


def subject(r: BindingResult) -> Subject:
    """A Binding result's subject: the URI without its query, host, port and transport."""
    return Subject(server=r.target.split("?")[0], host=r.host, port=r.port, transport=r.transport)


def _stream_accepted(r: BindingResult) -> bool:
    """TCP/TLS: the connection (and handshake) succeeded, so a silence is the service's, not the path's."""
    return r.transport in ("tcp", "tls") and r.local_address is not None


def _unanswered(r: BindingResult, blocked: set[tuple[str, int | None]]) -> Finding | None:
    subj = subject(r)
    server = r.server_address or r.target
    if r.transport == "udp" and r.outcome == "timeout" and (r.host, r.port) in blocked:
        return make_finding(ids.UDP_BLOCKED, subj, check=CHECK, step=STEP, server=server,
                            detail=f"no reply to {r.attempts} UDP request(s) while STUN over TCP/TLS "
                                   f"answered",
                            evidence=[f"UDP: {r.attempts} request(s), no reply"])
    if _stream_accepted(r) and (r.outcome == "timeout" or r.error_kind == "closed"):
        what = "no reply" if r.outcome == "timeout" else "the server closed the connection"
        after = "the TLS handshake completed" if r.transport == "tls" else "the TCP connection was accepted"
        return make_finding(ids.PORT_NOT_STUN, subj, check=CHECK, step=STEP, server=server,
                            transport=r.transport.upper(), port=r.port,
                            detail=f"{what} to a Binding request after {after}",
                            evidence=[f"connected from {r.local_address} to {server}; {what}"])
    detail = f"no reply to {r.attempts} request(s)" if r.outcome == "timeout" else (r.error or r.outcome)
    if r.outcome == "timeout" and r.plain_retry_sent:
        alive = "accepted" if r.host_alive == "tcp-accepted" else "refused"
        detail += (f", nor to one without optional attributes (the host is up: TCP port {r.port} "
                   f"{alive} the connection)")
    return failure_finding(outcome=r.outcome, error_kind=r.error_kind, detail=detail, subject=subj,
                           check=CHECK, step=STEP, server=server, rejected=r.rejected,
                           rejected_count=r.rejected_count)


def _answered(r: BindingResult) -> list[Finding]:
    server = r.server_address or r.target
    response = (r.exchange.response if r.exchange else None) or ""
    subj = subject(r)
    found: list[Finding] = []

    def add(finding_id: str, detail: str = "", evidence: str = "") -> None:
        found.append(make_finding(finding_id, subj, check=CHECK, step=STEP, server=server,
                                  transport=r.transport.upper(), detail=detail,
                                  evidence=[evidence or detail or response]))
    if r.outcome == "error-response":
        if r.error_code == 300 and r.alternate_server and r.redirect is not Redirect.FOLLOWED:
            return found  # reported by _redirect_finding (a loop, a second redirect, refused, --no-follow)
        add(ids.STUN_ERROR_RESPONSE, response or f"error {r.error_code}")
        return found
    if r.malformed_mapped:  # present but undecodable: the server's fault, not an absent attribute
        add(ids.STUN_MALFORMED_MAPPED_ADDRESS, "; ".join(r.malformed_mapped))
    elif r.mapped_address is None:
        add(ids.STUN_NO_MAPPED_ADDRESS)
    if r.dropped_attributes:
        tries = r.first_exchange.attempts if r.first_exchange else "?"
        add(ids.STUN_DROPS_OPTIONAL_ATTRIBUTES, " and ".join(r.dropped_attributes),
            f"{tries} request(s) with {', '.join(r.dropped_attributes)}: no reply; one without: {response}")
    if r.legacy_rfc3489 or (r.mapped_from == "MAPPED-ADDRESS" and not r.malformed_mapped):
        why = "no magic cookie (RFC 3489 header)" if r.legacy_rfc3489 else "MAPPED-ADDRESS without XOR form"
        add(ids.STUN_RFC3489_ONLY, why, response)
    elif r.rfc3489_attributes and not (r.other_address and r.response_origin):
        software = f" (SOFTWARE/SERVER {echo(r.software)})" if r.software else ""
        add(ids.STUN_RFC3489_SERVER, f"{', '.join(r.rfc3489_attributes)} in the reply{software}", response)
    if r.xor_mapped_address and r.plain_mapped_address and r.xor_mapped_address != r.plain_mapped_address:
        add(ids.STUN_ALG_REWRITE,
            f"XOR-MAPPED-ADDRESS {r.xor_mapped_address}, MAPPED-ADDRESS {r.plain_mapped_address}")
    if _is_public(r.server_address):
        leaks = [f"{name} {value}" for name, value in (("RESPONSE-ORIGIN", r.response_origin),
                                                       ("OTHER-ADDRESS", r.other_address))
                 if _internal(value, r.server_address)]
        if leaks:
            add(ids.STUN_INTERNAL_ADDRESS_LEAK, ", ".join(leaks))
    if r.transport == "udp" and r.response_source and r.server_address and \
            r.response_source != r.server_address:
        add(ids.STUN_ASYMMETRIC_RESPONSE, f"sent to {r.server_address}, reply from {r.response_source}")
    flood = reply_flood(r)
    if flood:  # late or missing answers under a flood say nothing about the network
        add(ids.REPLY_FLOOD, f"{r.rejected_count} replies that answer nothing for {r.attempts} request(s)",
            "; ".join(r.rejected[:2]) or response)
    lost = lost_requests(r)
    if lost and not flood:
        answers = r.attempts - lost
        add(ids.STUN_PACKET_LOSS, f"{r.attempts} requests sent before the answer and only {answers} of them "
                                f"answered: {lost} lost on the way (RTTs from each send to the first answer: "
                                f"{r.attempt_rtts_ms} ms)")
    if r.rtt_ms is not None and r.rtt_ms > HIGH_RTT_MS and not flood:
        add(ids.STUN_HIGH_RTT, f"{r.rtt_ms:.0f} ms (threshold {HIGH_RTT_MS:.0f} ms)")
    if r.fingerprint is False:
        add(ids.STUN_NO_FINGERPRINT, "", response)
    if r.unknown_attributes:
        add(ids.STUN_UNKNOWN_ATTRIBUTES, ", ".join(r.unknown_attributes))
    if r.certificate_problem is not None:  # --insecure let it through; a browser will not
        add(ids.TLS_CERT_IGNORED, r.certificate_problem)
    return found


def _redirect_finding(r: BindingResult) -> Finding | None:
    """Every 300 Try Alternate is reported, naming where it pointed and what rtcdiag did (RFC 8489 §10)."""
    if r.alternate_server is None:
        return None
    where = f"{r.alternate_server} ({r.alternate_scope})" if r.alternate_scope else r.alternate_server
    origin = r.redirect_exchange.response_source if r.redirect_exchange is not None else None
    server = origin or r.server_address or r.target
    evidence = [ex.response or ex.outcome for ex in (r.redirect_exchange, r.exchange) if ex is not None]
    if r.redirect is Redirect.REFUSED:
        return make_finding(ids.REDIRECT_REFUSED, subject(r), check=CHECK, step=STEP, server=server,
                            transport=r.transport.upper(),
                            detail=f"{where}, not followed: {r.redirect_detail}", evidence=evidence)
    if r.redirect is Redirect.LOOP:  # RFC 8489 §10: not back to a server the request already went to
        return make_finding(ids.REDIRECT_LOOP, subject(r), check=CHECK, step=STEP, server=r.server_address or
                            r.target, transport=r.transport.upper(), detail=r.redirect_detail or "?",
                            evidence=evidence)
    done = {Redirect.FOLLOWED: "followed once", Redirect.NOT_FOLLOWED: "not followed (--no-follow)",
            Redirect.AGAIN: f"followed once; {r.redirect_detail}"}.get(
        r.redirect, "not followed") if r.redirect is not None else "not followed"
    return make_finding(ids.STUN_ALTERNATE_SERVER, subject(r), check=CHECK, step=STEP, server=server,
                        transport=r.transport.upper(), detail=f"ALTERNATE-SERVER {where}, {done}",
                        evidence=evidence)


def lost_requests(r: BindingResult) -> int:
    """Requests (or their answers) lost on the way, as the evidence shows it: a STUN server answers every
    copy of a request it receives, so of ``attempts`` sends on a path that lost nothing every one is
    answered. A retransmission whose answer came too is no loss: the RTO was only shorter than the round
    trip (RFC 8489 §6.2.1). 0 when nothing was retransmitted or the answers were not counted."""
    answers = r.exchange.answers if r.exchange is not None else None
    return max(0, r.attempts - answers) if answers is not None and r.retransmissions else 0


def reply_flood(r: BindingResult) -> bool:
    """Far more replies rejected than requests sent (RFC 8489 §6.3: they match no transaction)."""
    return r.rejected_count >= FLOOD_MIN_REPLIES and r.rejected_count > FLOOD_PER_REQUEST * max(r.attempts, 1)


def _names(results: Sequence[BindingResult]) -> list[NameFact]:
    facts: list[NameFact] = []
    for r in results:
        if parse_ip(r.host) is not None:
            continue
        resolved = r.error_kind != "dns"
        facts.append(NameFact(r.host, resolved, well_known=is_well_known(r.host),
                              detail="" if resolved else (r.error or "")))
    return facts


def _step(r: BindingResult) -> StepOutcome:
    detail = (f"mapped {r.mapped_address} ({r.mapped_from}), RTT {r.rtt_ms:.1f} ms"
              if r.mapped_address and r.rtt_ms is not None else r.error or str(r.outcome))
    if r.retransmissions and r.exchange is not None and r.exchange.answers == r.attempts:
        detail += f"; {r.attempts} requests sent, every one answered (the RTO was shorter than the round " \
                  "trip)"
    return StepOutcome(subject(r), CHECK, STEP, detail=detail,
                       duration_s=(r.rtt_ms or 0.0) / 1000.0)


def judge(results: Sequence[BindingResult]) -> Judgement:
    """Findings, one ``binding`` step per result, RTT and name facts.

    UDP-BLOCKED needs the TCP/TLS results of the same server (``results`` are one server entry's): it is
    claimed only when STUN over TCP on the same port, or over TLS, was answered, never for a mere TCP
    accept nor for an answer on another TCP port.
    """
    blocked = udp_blocked_ports((r.host, r.port, r.transport, r.outcome) for r in results)
    judgement = Judgement()
    for result in results:
        redirect = _redirect_finding(result)
        if redirect is not None:
            judgement.findings.append(redirect)
        if result.outcome in ANSWERED:
            judgement.findings.extend(_answered(result))
        else:
            finding = _unanswered(result, blocked)
            if finding is not None:
                judgement.findings.append(finding)
        judgement.steps.append(_step(result))
        if result.outcome == "success" and result.rtt_ms is not None and not reply_flood(result):
            judgement.facts.rtts.append(RttFact(result.host, f"STUN binding {result.transport}/{result.port}",
                                                result.rtt_ms))
    judgement.facts.names.extend(_names(results))
    return judgement


def triage(results: Sequence[BindingResult]) -> list[Finding]:
    """The findings of :func:`judge` alone."""
    return judge(results).findings
