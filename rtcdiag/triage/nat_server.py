"""Whether a NAT discovery run's server could be used: what it said instead of a Binding success (in the
words of ``stun``), silence, refusal, or nothing answering at all (offline)."""

from __future__ import annotations

from dataclasses import replace

from rtcdiag.probes.nat import NatRun, NatTestRecord, ServerMappingRun, spoke
from rtcdiag.probes.nat_classify import NatTestOutcome
from rtcdiag.probes.record import ErrorKind, Exchange
from rtcdiag.probes.record import Outcome as ExchangeOutcome
from rtcdiag.triage import ids
from rtcdiag.triage.failures import FLOOD_MIN_REPLIES, FLOOD_PER_REQUEST, failure_finding
from rtcdiag.triage.finding import Finding, Severity, make_finding
from rtcdiag.triage.nat_result import CHECK, run_subject, step_name, verdict_finding


def unusable_finding(run: NatRun) -> Finding | None:
    """The finding for a run that could not measure anything, or None when the run is usable."""
    subj = run_subject(run)
    step = step_name("reachability", run)
    if run.error is not None:
        if run.error_kind is ErrorKind.DNS:
            finding = make_finding(ids.DNS_FAILURE, subj, check=CHECK, step=step, host=run.host,
                                   detail=run.error, evidence=[run.error])
        else:
            finding = failure_finding(
                outcome=ExchangeOutcome.TRANSPORT_ERROR, error_kind=run.error_kind, detail=run.error,
                subject=subj, check=CHECK, step=step, server=run.address,
            ) or make_finding(ids.SERVER_UNREACHABLE, subj, check=CHECK, step=step, server=run.address,
                              transport=run.transport.upper(), detail=run.error, evidence=[run.error])
        finding.severity = Severity.WARNING  # the NAT was not measured: inconclusive, not a NAT error
        return finding
    said = _server_said(run)
    if said is not None:
        return said
    if run.transport == "udp" and not run.udp_answered:
        if run.tcp_answered:
            return make_finding(
                ids.UDP_BLOCKED, subj, check=CHECK, step=step, server=run.address,
                detail="no answer to any UDP Binding request while a TCP Binding was answered",
                evidence=[f"UDP Binding to {run.address}: no answer; TCP Binding: answered"])
        return _silent(run, "UDP or TCP", f"UDP and TCP Binding requests to {run.address} went unanswered")
    if run.transport == "tcp" and not run.tcp_answered:
        return _silent(run, "TCP", f"TCP Binding request to {run.address} went unanswered")
    check = run.server_check
    if run.transport == "udp" and (check is None or not check.supported):
        problems = check.problems if check else ["no usable Binding response"]
        return make_finding(ids.NAT_SERVER_NO_RFC5780, subj, check=CHECK,
                            step=step_name("rfc5780-server", run), detail="; ".join(problems),
                            evidence=problems)
    return None


def _asked(run: NatRun, transport: str) -> list[NatTestRecord]:
    """The tests that ask the server itself over ``transport`` (test I; the TCP Binding)."""
    names = ("mapping I", "filtering I") if transport == "udp" else ("tcp binding",)
    return [t for t in run.tests if t.name in names]


def _server_said(run: NatRun) -> Finding | None:
    """What the server answered when it gave no usable Binding success: the vocabulary of ``stun``
    (RFC 8489 §6.3): an error response, a 300 redirect, replies that fail validation or flood, or a TCP port
    that accepts and speaks no STUN. A warning: the server stopped the discovery, the NAT was not measured
    (inconclusive), and nothing here blames the network. None: it gave a success, or nothing at all."""
    udp = _asked(run, "udp") if run.transport == "udp" else []
    if udp and any(t.outcome is NatTestOutcome.REPLIED for t in udp):
        return None
    # Over UDP when the server spoke there; over TCP when UDP was silent (or the run is TCP only).
    for transport, tests in (("udp", udp), ("tcp", _asked(run, "tcp"))):
        exchanges = [ex for t in tests for ex in t.exchanges]
        finding = _said_over(run, transport, exchanges)
        if finding is not None:
            finding.severity = Severity.WARNING
            return finding
    return None


def _said_over(run: NatRun, transport: str, exchanges: list[Exchange]) -> Finding | None:
    subj = replace(run_subject(run), transport=transport)
    step = step_name("reachability", run)
    server = run.address
    errors = [ex for ex in exchanges if ex.outcome is ExchangeOutcome.ERROR_RESPONSE]
    if errors and not (transport == "tcp" and run.transport == "udp"):  # UDP silent, TCP answered: below
        first = errors[0]
        evidence = [f"{ex.step}: {ex.request} -> {ex.response}" for ex in errors][:4]
        if first.error_code == 300:
            alternate = next((v.value for v in first.response_attributes if v.name == "ALTERNATE-SERVER"),
                             "?")
            if alternate == server:  # RFC 8489 §10: a server redirecting to itself is a loop
                return make_finding(ids.REDIRECT_LOOP, subj, check=CHECK, step=step, server=server,
                                    transport=transport.upper(), detail=f"{server} -> {server}",
                                    evidence=evidence)
            return make_finding(ids.STUN_ALTERNATE_SERVER, subj, check=CHECK, step=step, server=server,
                                detail=f"ALTERNATE-SERVER {alternate}, not followed: RFC 5780 discovery "
                                       f"needs the server itself (pass --server stun:{alternate} if it is "
                                       "one)",
                                evidence=evidence)
        return make_finding(ids.STUN_ERROR_RESPONSE, subj, check=CHECK, step=step, server=server,
                            transport=transport.upper(),
                            detail=first.response or f"error {first.error_code}", evidence=evidence)
    rejected = [ex for ex in exchanges if ex.rejected_count]
    if rejected:
        count = sum(ex.rejected_count for ex in rejected)
        attempts = sum(max(ex.attempts, 1) for ex in exchanges)
        shown = [reason for ex in rejected for reason in ex.rejected][:5]
        if count >= FLOOD_MIN_REPLIES and count > FLOOD_PER_REQUEST * attempts:
            return make_finding(ids.REPLY_FLOOD, subj, check=CHECK, step=step, server=server,
                                transport=transport.upper(),
                                detail=f"{count} replies that answer nothing for {attempts} request(s), "
                                       f"and no answer to any", evidence=shown)
        return failure_finding(outcome=ExchangeOutcome.REJECTED, error_kind=None, detail="", subject=subj,
                               check=CHECK, step=step, server=server, rejected=shown, rejected_count=count)
    if transport == "tcp":
        accepted = [ex for ex in exchanges if ex.step == "tcp binding"
                    and (ex.outcome is ExchangeOutcome.TIMEOUT or ex.error_kind is ErrorKind.CLOSED)]
        if accepted:
            what = "no reply" if accepted[0].outcome is ExchangeOutcome.TIMEOUT else \
                "the server closed the connection"
            udp = " (UDP Binding requests to the same port got no answer either)" \
                if run.transport == "udp" else ""
            return make_finding(ids.PORT_NOT_STUN, subj, check=CHECK, step=step, server=server,
                                transport="TCP", port=run.port or "?",
                                detail=f"{what} to a Binding request after the TCP connection was "
                                       f"accepted{udp}",
                                evidence=[f"{ex.step}: {ex.request} -> {ex.outcome.value}"
                                          for ex in accepted])
    return None


def _silent(run: NatRun, transports: str, summary: str) -> Finding:
    """No STUN answer: refused when every attempt was actively refused (ICMP port unreachable, TCP RST),
    else unreachable. A warning: the NAT was not measured (inconclusive), nothing is wrong with it."""
    failed = [ex for t in run.tests for ex in t.exchanges if ex.outcome is not ExchangeOutcome.SUCCESS]
    refused = bool(failed) and all(ex.error_kind is ErrorKind.REFUSED for ex in failed)
    evidence = [summary, *(f"{t.name}: {ex.error}" for t in run.tests for ex in t.exchanges if ex.error)][:6]
    if refused:
        return make_finding(ids.SERVER_REFUSED, run_subject(run), check=CHECK, step=step_name("reachability",
                                                                                          run),
                            severity=Severity.WARNING, server=run.address, transport=transports,
                            detail="every request was refused (ICMP port unreachable / TCP RST)",
                            evidence=evidence)
    return make_finding(ids.SERVER_UNREACHABLE, run_subject(run), check=CHECK, step=step_name("reachability",
                                                                                          run),
                        severity=Severity.WARNING, server=run.address, transport=transports,
                        detail=f"no answer over {transports.replace(' or ', ' nor ')}", evidence=evidence)


def offline(runs: list[NatRun], across: ServerMappingRun | None) -> bool:
    """Nothing answered at all: no run got a UDP or TCP reply and the server list got no mapping."""
    return bool(runs) and not any(r.udp_answered or r.tcp_answered or any(spoke(t) for t in r.tests)
                                  for r in runs) and \
        (across is None or across.answered == 0)


def offline_finding(runs: list[NatRun], across: ServerMappingRun | None) -> Finding:
    servers = list(dict.fromkeys(r.server for r in runs))
    dns = [r.host for r in runs if r.error_kind is ErrorKind.DNS]
    silent = [r.server for r in runs if r.error_kind is not ErrorKind.DNS]
    parts = ([f"DNS failed for {', '.join(dict.fromkeys(dns))}"] if dns else []) + \
        ([f"no reply from {', '.join(dict.fromkeys(silent))}"] if silent else [])
    evidence = [f"{r.server}: {r.error or 'no reply over UDP or TCP'}" for r in runs][:8]
    return verdict_finding(ids.NAT_OFFLINE, count=len(servers), detail="; ".join(parts), evidence=evidence)
