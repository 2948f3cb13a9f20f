"""Triage for the ICE probe: results of rtcdiag.probes.ice -> findings."""

from __future__ import annotations

from rtcdiag.addresses import Scope, parse_ip, scope
from rtcdiag.probes.ice import IceResult, IceRun
from rtcdiag.triage.finding import Finding, make_finding


def _server_scope(run: IceRun) -> Scope | None:
    ip = parse_ip(run.server_host)
    return scope(ip) if ip is not None else None  # a host name: assume it is meant for the internet


def _gather_errors(run: IceRun, kind: str) -> list[str]:
    return [f"{e.agent} agent, {e.type}: {e.error}" for e in run.gather_events
            if e.error is not None and e.type in (kind, "*")]


def _relay_findings(run: IceRun) -> list[Finding]:
    relays = [c for c in run.candidates if c.type == "relay"]
    if not relays:
        errors = _gather_errors(run, "relay")
        reason = errors[0].split(": ", 1)[-1] if errors else "the server gave no relay candidate"
        return [make_finding("ICE-NO-RELAY", subject=run.url, url=run.url, reason=reason,
                             evidence=errors or ["no relay candidate gathered"])]
    findings: list[Finding] = []
    server_scope = _server_scope(run)
    seen: set[str] = set()
    for cand in relays:
        ip = parse_ip(cand.address)
        if ip is None or cand.address in seen:
            continue
        seen.add(cand.address)
        cand_scope = scope(ip)
        if cand_scope is Scope.PUBLIC:
            continue
        evidence = [f"relay candidate {cand.address}:{cand.port} ({cand.agent} agent), "
                    f"server {run.server_host} is {server_scope.value if server_scope else 'a host name'}"]
        # RFC 8656 §6.2: an internal relay address is only wrong when the server is meant for the internet.
        if server_scope is not None and server_scope is not Scope.PUBLIC:
            findings.append(make_finding("ICE-RELAY-INTERNAL-NOTED", subject=run.url, address=cand.address,
                                         scope=cand_scope.value, server=run.server_host, evidence=evidence))
        else:
            findings.append(make_finding("ICE-RELAY-PRIVATE", subject=run.url, address=cand.address,
                                         scope=cand_scope.value, evidence=evidence))
    return findings


def _connect_findings(run: IceRun) -> list[Finding]:
    if run.connected:
        if run.packets_sent and run.packets_received < run.packets_sent:
            evidence = [f"selected pair {pair_text(run)}",
                        f"{run.packets_received}/{run.packets_sent} echo packets returned"]
            return [make_finding("ICE-NO-DATA", subject=run.url, url=run.url, sent=run.packets_sent,
                                 received=run.packets_received, evidence=evidence)]
        return []
    if run.attempted_connect:
        return [make_finding("ICE-FAILED", subject=run.url, url=run.url, reason=run.ice_error or "failed",
                             evidence=[run.ice_error or "ICE negotiation failed",
                                       f"{len(run.candidates)} local candidates gathered"])]
    return []  # no relay candidate: ICE-NO-RELAY already explains why nothing connected


def pair_text(run: IceRun) -> str:
    """The selected pair (seen by the controlling agent) as one line."""
    pair = run.selected_pair
    if pair is None:
        return "-"
    return f"{pair.local_type} {pair.local} <-> {pair.remote_type} {pair.remote}"


def triage_run(run: IceRun) -> list[Finding]:
    if run.error is not None:
        return [make_finding("ICE-ERROR", subject=run.url, url=run.url, reason=run.error,
                             evidence=[run.error])]
    if run.scheme == "stun":
        if any(c.type == "srflx" for c in run.candidates):
            return []
        errors = _gather_errors(run, "srflx")
        reason = errors[0].split(": ", 1)[-1] if errors else "no host candidate to ask from"
        return [make_finding("ICE-NO-SRFLX", subject=run.url, url=run.url, reason=reason,
                             evidence=errors or ["no server-reflexive candidate gathered"])]
    return _relay_findings(run) + _connect_findings(run)


def triage(result: IceResult) -> list[Finding]:
    findings: list[Finding] = []
    for run in result.runs:
        findings.extend(triage_run(run))
    return findings
