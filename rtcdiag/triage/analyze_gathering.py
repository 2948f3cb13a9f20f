"""rtcdiag analyze: candidate gathering of one peer connection: slow gathering, relay-only without a relay,
the candidate mix (mDNS only, TCP only, IPv6 only, private hosts only).
"""

from __future__ import annotations

from rtcdiag.addresses import AddressScope, parse_ip, reachable_from, scope_of
from rtcdiag.evidence.pc_facts import (
    CandidateFact,
    PcSummary,
    when,
)
from rtcdiag.triage import ids
from rtcdiag.triage.analyze_base import CHECK, configured, ice_url, server_subject
from rtcdiag.triage.analyze_servers import UNRECORDED
from rtcdiag.triage.finding import Severity, Subject, make_finding
from rtcdiag.triage.judgement import Judgement, StepOutcome, StepState


def _turn_host(s: PcSummary) -> str:
    hosts = {u.host for u in configured(s) if u.is_turn}
    return hosts.pop() if len(hosts) == 1 else s.label


SLOW_GATHERING_MS = 10_000.0  # ICE gathering that takes longer delays every call set-up (no trickle)


def _slow_gathering(s: PcSummary, judgement: Judgement, failed_urls: dict[str, str]) -> None:
    started = s.reached("gathering", "gathering")
    done = s.reached("gathering", "complete")
    begin = started.event.timestamp_ms if started and started.event else None
    if begin is None:
        return
    if done is not None and done.event is not None and done.event.timestamp_ms is not None:
        end, finished = done.event.timestamp_ms, True
    else:
        stamps = [e.timestamp_ms for e in s.pc.events if e.timestamp_ms is not None]
        end, finished = (max(stamps) if stamps else begin), False
    if end - begin <= SLOW_GATHERING_MS:
        return
    # A server that never answered is why gathering waited: fold the delay under that server's finding.
    waited_for = [u for u in configured(s) if u.key in failed_urls]
    host = waited_for[0].host if waited_for else s.label
    seconds = f"{(end - begin) / 1000:.1f}"
    judgement.findings.append(make_finding(
        ids.ANALYZE_SLOW_GATHERING, Subject(s.label, host or s.label), check=CHECK, step="gathering",
        evidence=[f"{when(started.event if started else None)} onicegatheringstatechange gathering",
                  f"{when(done.event) if done else '-'} onicegatheringstatechange complete"],
        pc=s.label, seconds=seconds, outcome="" if finished else " and never completed",
        servers=", ".join(s.pc.ice_servers[:5]) or "none"))


def judge_gathering(s: PcSummary, subject: Subject, judgement: Judgement,
                    failed_urls: dict[str, str]) -> None:
    local = s.of("local")
    counts = ", ".join(f"{n} {k}" for k in ("host", "srflx", "prflx", "relay")
                       if (n := len(s.of("local", k)))) or "no candidates"
    state = s.last_state("gathering")
    if not s.gathered:
        judgement.steps.append(StepOutcome(subject, CHECK, "gathering", StepState.SKIPPED,
                                           detail="gathering never started (no local description)"))
        return
    unexplained = not s.pc.candidate_errors_recorded and any(
        failed_urls.get(u.key) == UNRECORDED for u in configured(s))
    if s.pc.ice_transport_policy == "relay" and not s.of("local", "relay") and not unexplained:
        turn = [u for u in configured(s) if u.is_turn]
        why = "; ".join(f"{u.text}: {failed_urls[u.key]}" for u in turn if u.key in failed_urls) or (
            "no TURN server configured" if not turn else "no error reported")
        judgement.findings.append(make_finding(
            ids.ANALYZE_RELAY_ONLY_NO_CANDIDATE, Subject(s.label,
                                                         _turn_host(s)), check=CHECK, step="gathering",
            evidence=[f"rtcConfiguration: {s.pc.configuration[:300]}", f"gathering {state}; {counts}"],
            pc=s.label, gathering=f"{counts}; {why}"))
    host = s.of("local", "host")
    others = [c for c in s.candidates if c.candidate.type in ("srflx", "relay")]
    if not s.pc.ice_servers and host and not others and all(c.candidate.is_mdns for c in host):
        judgement.findings.append(make_finding(
            ids.ANALYZE_MDNS_ONLY, subject, check=CHECK, step="gathering",
            evidence=[f"{c.event.when if c.event else '-'} onicecandidate {c.candidate.type} "
                      f"{c.candidate.protocol} {c.candidate.address}:{c.candidate.port}" for c in host[:5]],
            pc=s.label, count=len(host), example=host[0].candidate.address))
    for c in s.of("local", "relay"):
        ip = parse_ip(c.candidate.address)
        server = ice_url(c.url) if c.url else None
        server_ip = parse_ip(server.host) if server and server.host else None
        if ip is None:
            continue
        where = scope_of(ip)
        # A relay must be reachable from wherever the server was (a name: from the internet; "localhost"
        # and its subdomains are loopback, RFC 6761 §6.3).
        local_name = server is not None and (server.host == "localhost" or server.host.endswith(".localhost"))
        reached = (scope_of(server_ip) if server_ip is not None else
                   AddressScope.LOOPBACK if local_name else AddressScope.PUBLIC)
        if not reachable_from(where, reached):
            subject_url = (server_subject(server) if server and server.parsed
                           else Subject(c.url or s.label, _turn_host(s)))
            judgement.findings.append(make_finding(
                ids.ANALYZE_RELAY_PRIVATE, subject_url, check=CHECK, step="gather",
                evidence=[f"{s.label} {c.event.when if c.event else '-'} relay candidate "
                          f"{c.candidate.address}:{c.candidate.port} url={c.url or '-'}"],
                url=c.url or "the TURN server", scope=where.value, address=c.candidate.address,
                when=c.event.when if c.event else "-"))
            break
    _candidate_mix(s, subject, judgement)
    _slow_gathering(s, judgement, failed_urls)
    judgement.steps.append(StepOutcome(subject, CHECK, "gathering",
                                       detail=f"{state}: {counts} ({len(local)} local, "
                                              f"{len(s.of('remote'))} remote)"))


def _listed(facts: list[CandidateFact]) -> str:
    shown = [f"{c.candidate.type} {c.candidate.protocol} {c.candidate.address}" for c in facts[:4]]
    more = f" and {len(facts) - 4} more" if len(facts) > 4 else ""
    return (", ".join(dict.fromkeys(shown)) + more) or "no candidate"


def _candidate_mix(s: PcSummary, subject: Subject, judgement: Judgement) -> None:
    """What the candidates themselves say: only private host addresses on both sides (no srflx/relay),
    only TCP, only IPv6 (RFC 8445 §6.1.2.2: a pair needs both candidates of one address family)."""
    local, remote = s.of("local"), s.of("remote")
    if not local:
        return
    failed = s.reached("ice", "failed") is not None and not s.connected
    relay = s.of("local", "relay")
    real_local = [c for c in local if not c.candidate.is_mdns]
    if real_local and not relay and all(c.candidate.protocol == "tcp" for c in local):
        no_tcp_peer = bool(remote) and not any(c.candidate.protocol == "tcp" for c in remote)
        judgement.findings.append(make_finding(
            ids.ANALYZE_TCP_ONLY, subject, check=CHECK, step="gathering",
            severity=Severity.ERROR if failed or (no_tcp_peer and not s.connected) else None,
            evidence=[f"local {c.candidate.type} {c.candidate.protocol} {c.candidate.address}:"
                      f"{c.candidate.port}{' ' + c.stats_id if c.stats_id else ''}" for c in local[:6]],
            pc=s.label, candidates=_listed(local), remote=_listed(remote)))
    ips = [(c, parse_ip(c.candidate.address)) for c in real_local]
    if ips and not relay and all(ip is not None and ip.version == 6 for _, ip in ips):
        remote_ips = [parse_ip(c.candidate.address) for c in remote if not c.candidate.is_mdns]
        v4_peer = bool(remote_ips) and all(ip is not None and ip.version == 4 for ip in remote_ips)
        judgement.findings.append(make_finding(
            ids.ANALYZE_IPV6_ONLY, subject, check=CHECK, step="gathering",
            severity=Severity.ERROR if failed or (v4_peer and not s.connected) else None,
            evidence=[f"{c.side} {c.candidate.type} {c.candidate.protocol} {c.candidate.address}:"
                      f"{c.candidate.port}" for c in real_local[:6] + remote[:4]],
            pc=s.label, candidates=_listed(real_local), remote=_listed(remote),
            common=" and the other side only IPv4: no pair is possible" if v4_peer else ""))
    both = local + remote
    if not remote or any(c.candidate.type in ("srflx", "relay") for c in both):
        return
    if s.pc.ice_servers or all(c.candidate.is_mdns for c in local):
        return  # servers configured: their own findings say why; mDNS only: ANALYZE-MDNS-ONLY
    addresses = [(c, parse_ip(c.candidate.address)) for c in both if not c.candidate.is_mdns]
    if addresses and all(ip is not None and scope_of(ip) is not AddressScope.PUBLIC for _, ip in addresses):
        scopes = sorted({f"{c.candidate.address} ({scope_of(ip).value})" for c, ip in addresses if ip})
        judgement.findings.append(make_finding(
            ids.ANALYZE_PRIVATE_HOST_ONLY, subject, check=CHECK, step="gathering",
            evidence=[f"{c.side} {c.candidate.type} {c.candidate.protocol} {c.candidate.address}:"
                      f"{c.candidate.port}" + (f" ({c.stats_id})" if c.stats_id else
                                              f" at {c.event.when}" if c.event else "") for c in both[:8]],
            severity=Severity.ERROR if failed else None, pc=s.label, addresses=", ".join(scopes[:6]),
            servers=f"not in {s.pc.stats_source}" if s.pc.stats_only and not s.pc.configuration
            else "none configured"))
