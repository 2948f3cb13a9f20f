"""Judging the ICE probe: results of rtcdiag.probes.ice -> findings, steps and facts.

Steps per server URL (the subject's transport is the one between the agents and the server: ``udp``/``tcp``
from ``?transport=``, ``tls`` for ``turns:``, ``udp`` for ``stun:``):

- TURN: ``gather-relay`` (did both agents get a relay candidate, is its address sane), ``connect`` (did the
  connectivity checks succeed; skipped with the reason when there was nothing to connect with) and ``data``
  (did the echo packets come back over the selected pair; skipped when not connected);
- STUN: ``gather-srflx`` (a server-reflexive candidate).

Facts: per TURN URL whether data flowed through the relay (:class:`RelayFact`) and the echo RTTs
(:class:`RttFact`); a :class:`NameFact` for a named server whose lookup failed or clearly succeeded.
"""

from __future__ import annotations

from rtcdiag.addresses import PUBLIC_LIKE, AddressScope, parse_ip, reachable_from, scope_of
from rtcdiag.probes.ice import RETRIED_437, GatherEvent, IceResult, IceRun
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Finding, Subject, make_finding
from rtcdiag.triage.judgement import (
    Judgement,
    NameFact,
    RelayFact,
    RttFact,
    StepOutcome,
    StepState,
    is_well_known,
)

CHECK = "ice"
GATHER_RELAY = "gather-relay"
GATHER_SRFLX = "gather-srflx"
CONNECT = "connect"
DATA = "data"

# Error kinds (GatherEvent.kind) that prove the name resolved: the server was reached or refused us.
_REACHED_KINDS = frozenset({"refused", "closed", "error-response", "unreachable", "network", RETRIED_437})


def subject(run: IceRun) -> Subject:
    """The URL as shown, the server host as given, its port and the transport to the server."""
    if run.scheme == "stun":
        transport = "udp"  # aioice asks STUN servers over UDP only
    else:
        transport = "tls" if run.scheme == "turns" else (run.relay_protocol or "udp")
    return Subject(server=run.url, host=run.server_host, port=run.port, transport=transport)


def _server_scope(run: IceRun) -> AddressScope | None:
    ip = parse_ip(run.server_host)
    return scope_of(ip) if ip is not None else None  # a host name: assume it is meant for the internet


def _errors(run: IceRun, kind: str, *, retried: bool = False) -> list[GatherEvent]:
    """The gathering failures of ``kind``; with ``retried``, also the 437s that were retried from a new local
    port (evidence only: each is the client's own port reuse, never the reason a candidate is missing)."""
    return [e for e in run.gather_events if e.error is not None and e.type in (kind, "*")
            and (retried or e.kind != RETRIED_437)]


def _reason(run: IceRun, event: GatherEvent) -> str:
    if event.kind == "dns":
        return f"the name {run.server_host} does not resolve"
    return event.error or "no candidate"


def _evidence(events: list[GatherEvent]) -> list[str]:
    return [f"{e.agent} agent, {e.type}: {e.error}" for e in events]


def _without_relay(run: IceRun) -> list[str]:
    """The agents that gathered no relay candidate (every agent of a TURN run needs one)."""
    return [a for a in run.agents if not any(c.type == "relay" and c.agent == a for c in run.candidates)]


def _relay_findings(run: IceRun, subj: Subject) -> list[Finding]:
    relays = [c for c in run.candidates if c.type == "relay"]
    missing = _without_relay(run)
    if not relays or missing:
        errors = [e for e in _errors(run, "relay") if not missing or e.agent in (*missing, "*")]
        reason = _reason(run, errors[0]) if errors else "the server gave no relay candidate"
        if relays:
            reason = f"{', '.join(missing)} agent: {reason}"
        shown = [e for e in _errors(run, "relay", retried=True) if not missing or e.agent in (*missing, "*")]
        return [make_finding(ids.ICE_NO_RELAY, subj, check=CHECK, step=GATHER_RELAY, url=run.url,
                             reason=reason,
                             evidence=_evidence(shown) or [f"no relay candidate gathered by the "
                                                           f"{', '.join(missing) or 'ICE'} agent"])]
    findings: list[Finding] = []
    server_scope = _server_scope(run)
    seen: set[str] = set()
    for cand in relays:
        ip = parse_ip(cand.address)
        if ip is None or cand.address in seen:
            continue
        seen.add(cand.address)
        cand_scope = scope_of(ip)
        if cand_scope is AddressScope.PUBLIC:
            continue
        reachable = reachable_from(cand_scope, server_scope or AddressScope.PUBLIC)
        if reachable and (server_scope is None or server_scope in PUBLIC_LIKE):
            continue  # e.g. a documentation-range relay behind a documentation-range server (a lab)
        evidence = [f"relay candidate {cand.address}:{cand.port} ({cand.agent} agent), "
                    f"server {run.server_host} is {server_scope.value if server_scope else 'a host name'}"]
        # RFC 8656 §6.2: a relay address is wrong when clients that reached the server cannot reach it.
        if reachable:
            findings.append(make_finding(ids.ICE_RELAY_INTERNAL_NOTED, subj, check=CHECK, step=GATHER_RELAY,
                                         address=cand.address, scope=cand_scope.value, server=run.server_host,
                                         evidence=evidence))
        else:
            findings.append(make_finding(ids.ICE_RELAY_PRIVATE, subj, check=CHECK, step=GATHER_RELAY,
                                         address=cand.address, scope=cand_scope.value, evidence=evidence))
    return findings


def pair_text(run: IceRun) -> str:
    """The selected pair (seen by the controlling agent) as one line."""
    pair = run.selected_pair
    if pair is None:
        return "-"
    return f"{pair.local_type} {pair.local} <-> {pair.remote_type} {pair.remote}"


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _secs(ms: float | None) -> float:
    return max(ms or 0.0, 0.0) / 1000.0


def _no_relay_reason(run: IceRun) -> str:
    errors = _errors(run, "relay")
    return f"no relay candidate: {_reason(run, errors[0])}" if errors else (
        run.ice_error or "no relay candidate to connect with")


def _judge_turn(run: IceRun, subj: Subject, out: Judgement) -> None:
    relays = [c for c in run.candidates if c.type == "relay"]
    gather = StepOutcome(subj, CHECK, GATHER_RELAY, duration_s=_secs(run.gather_ms),
                         detail=f"{len(relays)} relay candidate(s): "
                                + ", ".join(dict.fromkeys(f"{c.address}:{c.port}" for c in relays))
                         if relays else _no_relay_reason(run))
    out.steps.append(gather)
    out.findings.extend(_relay_findings(run, subj))
    after_gather = _secs(run.duration_ms - (run.gather_ms or 0.0))
    if not run.attempted_connect:
        why = _no_relay_reason(run) if not relays else (run.ice_error or "nothing to pair")
        out.steps.append(StepOutcome(subj, CHECK, CONNECT, StepState.SKIPPED, detail=why))
        out.steps.append(StepOutcome(subj, CHECK, DATA, StepState.SKIPPED, detail=f"not connected: {why}"))
        out.facts.relays.append(RelayFact(run.server_host, False, f"ICE {run.url}: {why}",
                                          where=subj.identity))
        return
    if not run.connected:
        reason = run.ice_error or "ICE negotiation failed"
        out.steps.append(StepOutcome(subj, CHECK, CONNECT, detail=reason, duration_s=after_gather))
        out.findings.append(make_finding(
            ids.ICE_FAILED, subj, check=CHECK, step=CONNECT, url=run.url, reason=reason,
            evidence=[reason, f"{len(run.candidates)} local candidates gathered"]))
        out.steps.append(StepOutcome(subj, CHECK, DATA, StepState.SKIPPED,
                                     detail="not connected: the connectivity checks failed"))
        out.facts.relays.append(RelayFact(run.server_host, False, f"ICE {run.url}: {reason}",
                                          where=subj.identity))
        return
    connect_s = _secs((run.connect_ms or 0.0) - (run.gather_ms or 0.0))
    out.steps.append(StepOutcome(subj, CHECK, CONNECT, duration_s=connect_s,
                                 detail=f"connected in {_ms(run.connect_ms)}: {pair_text(run)}"))
    if not run.packets_sent:
        out.steps.append(StepOutcome(subj, CHECK, DATA, StepState.SKIPPED,
                                     detail="no echo packets were sent (packets = 0)"))
        out.facts.relays.append(RelayFact(run.server_host, True,
                                          f"ICE {run.url}: connected over {pair_text(run)}",
                                          where=subj.identity))
        return
    rtt = f", RTT avg {sum(run.rtts_ms) / len(run.rtts_ms):.1f} ms" if run.rtts_ms else ""
    out.steps.append(StepOutcome(subj, CHECK, DATA, duration_s=_secs(sum(run.rtts_ms)),
                                 detail=f"{run.packets_received}/{run.packets_sent} packets echoed{rtt}"))
    echoed = f"{run.packets_received}/{run.packets_sent} packets echoed"
    if run.packets_received < run.packets_sent:
        out.findings.append(make_finding(ids.ICE_NO_DATA, subj, check=CHECK, step=DATA, url=run.url,
                                         sent=run.packets_sent, received=run.packets_received,
                                         evidence=[f"selected pair {pair_text(run)}", echoed]))
    out.facts.relays.append(RelayFact(run.server_host, run.packets_received > 0,
                                      f"ICE {run.url}: {pair_text(run)}, {echoed}",
                                          where=subj.identity))
    out.facts.rtts.extend(RttFact(run.server_host, f"ICE data {run.url}", rtt_ms) for rtt_ms in run.rtts_ms)


def _judge_stun(run: IceRun, subj: Subject, out: Judgement) -> None:
    srflx = [c for c in run.candidates if c.type == "srflx"]
    if srflx:
        out.steps.append(StepOutcome(subj, CHECK, GATHER_SRFLX, duration_s=_secs(run.gather_ms),
                                     detail="server-reflexive " + ", ".join(
                                         dict.fromkeys(f"{c.address}:{c.port}" for c in srflx))))
        return
    errors = _errors(run, "srflx")
    reason = _reason(run, errors[0]) if errors else "no host candidate to ask from"
    out.steps.append(StepOutcome(subj, CHECK, GATHER_SRFLX, duration_s=_secs(run.gather_ms), detail=reason))
    evidence = _evidence(errors) or ["no server-reflexive candidate gathered"]
    out.findings.append(make_finding(ids.ICE_NO_SRFLX, subj, check=CHECK, step=GATHER_SRFLX, url=run.url,
                                     reason=reason, evidence=evidence))


def _name_fact(run: IceRun) -> NameFact | None:
    """Did the server's name resolve? Only said when the run shows it either way."""
    host = run.server_host
    if not host or parse_ip(host) is not None:
        return None
    failed = [e for e in run.gather_events if e.kind == "dns"]
    if run.error_kind == "dns" or failed:
        detail = failed[0].error if failed else run.error
        return NameFact(host, False, well_known=is_well_known(host), detail=detail or "does not resolve")
    from_server = any(c.type in ("srflx", "relay") for c in run.candidates)
    if from_server or any(e.kind in _REACHED_KINDS for e in run.gather_events):
        return NameFact(host, True, well_known=is_well_known(host))
    return None


def judge_run(run: IceRun) -> Judgement:
    subj = subject(run)
    out = Judgement()
    first = GATHER_SRFLX if run.scheme == "stun" else GATHER_RELAY
    if run.error is not None:
        out.steps.append(StepOutcome(subj, CHECK, first, detail=run.error, duration_s=_secs(run.duration_ms)))
        out.findings.append(make_finding(ids.ICE_ERROR, subj, check=CHECK, step=first, url=run.url,
                                         reason=run.error, evidence=[run.error]))
        if run.scheme != "stun":
            why = f"the probe could not run: {run.error}"
            out.steps += [StepOutcome(subj, CHECK, CONNECT, StepState.SKIPPED, detail=why),
                          StepOutcome(subj, CHECK, DATA, StepState.SKIPPED, detail=why)]
            out.facts.relays.append(RelayFact(run.server_host, False, f"ICE {run.url}: {run.error}",
                                          where=subj.identity))
    elif run.scheme == "stun":
        _judge_stun(run, subj, out)
    else:
        _judge_turn(run, subj, out)
    name = _name_fact(run)
    if name is not None:
        out.facts.names.append(name)
    return out


def judge(result: IceResult) -> Judgement:
    """Findings, steps and facts of every URL of the probe."""
    judgement = Judgement.merge([judge_run(run) for run in result.runs])
    judgement.facts.names = list(dict.fromkeys(judgement.facts.names))  # one fact per host and outcome
    return judgement


def triage_run(run: IceRun) -> list[Finding]:
    """The findings of :func:`judge_run` alone."""
    return judge_run(run).findings


def triage(result: IceResult) -> list[Finding]:
    """The findings of :func:`judge` alone."""
    return judge(result).findings
