"""Judging ``rtcdiag nat-type``: NAT discovery runs -> one verdict with a confidence, findings and steps.

Rules (each names where it comes from):
- the server answers but gives no usable Binding success -> what it did, in the words of ``stun``:
  STUN-ERROR-RESPONSE with its code (coturn ``secure-stun``: 401), STUN-ALTERNATE-SERVER (300, not followed),
  REPLY-FLOOD, MALFORMED-REPLY, PORT-NOT-STUN (a TCP port that accepts and speaks no STUN): inconclusive, and
  never blamed on the network;
- no UDP answer at all but STUN over TCP answers -> UDP-BLOCKED; nothing answers -> SERVER-UNREACHABLE, a
  name that does not resolve -> DNS-FAILURE (both inconclusive: the network was not measured);
- server fails RFC 5780 validation -> NAT-SERVER-NO-RFC5780 (inconclusive: never a guessed type);
- runs (``--repeat``, several ``--server``) that disagree -> NAT-INCONSISTENT naming who said what
  (inconclusive); loss that leaves a behaviour unknown -> NAT-UNDETERMINED (inconclusive);
- the verdict itself -> NAT-TYPE (info, with what it means for calls), NAT-SYMMETRIC (RFC 4787 REQ-1),
  NAT-CGNAT (RFC 6598), NAT-NO-HAIRPIN (REQ-9), NAT-ALG (RFC 5780 §4.7), NAT-SHORT-LIFETIME (< 30 s).

Steps: per run (subject: the server URI, its host, port and transport) ``reachability``, ``rfc5780-server``,
``mapping``, ``filtering`` and, when asked for, ``hairpin`` and ``lifetime``, each suffixed with the run
number (``mapping #2``); a step that could not run is skipped with the reason. The verdict is one ``verdict``
step about the ``local network``, which the findings about the NAT itself belong to.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from ipaddress import IPv4Address
from typing import Any

from rtcdiag.addresses import AddressScope, parse_ip, scope_of
from rtcdiag.probes.nat import (
    NatDiscovery,
    NatOptions,
    NatRun,
    NatTestRecord,
    ServerMappingRun,
    spoke,
)
from rtcdiag.probes.nat_classify import Filtering, Legacy, Mapping, NatTestOutcome
from rtcdiag.probes.record import Exchange
from rtcdiag.probes.record import Outcome as ExchangeOutcome
from rtcdiag.triage import ids
from rtcdiag.triage.failures import FLOOD_MIN_REPLIES, FLOOD_PER_REQUEST, failure_finding
from rtcdiag.triage.finding import Finding, Severity, Subject, make_finding
from rtcdiag.triage.judgement import Judgement, NameFact, StepOutcome, StepState, is_well_known

CHECK = "nat"
LOCAL_NETWORK = Subject("local network")
VERDICT = "verdict"

SHORT_LIFETIME_S = 30.0
# What a server that spoke but gave no usable Binding success is reported as (the ``stun`` vocabulary).
SERVER_SAID = (ids.STUN_ERROR_RESPONSE, ids.STUN_ALTERNATE_SERVER, ids.REDIRECT_LOOP, ids.REPLY_FLOOD,
               ids.MALFORMED_REPLY, ids.PORT_NOT_STUN)

MEANING: dict[Legacy, str] = {
    Legacy.OPEN_INTERNET: "No NAT and no filtering: peers can reach this address directly; host candidates "
                          "work from anywhere.",
    Legacy.FULL_CONE: "Once a mapping exists anyone can send to it: direct P2P works with every other NAT "
                      "type.",
    Legacy.RESTRICTED_CONE: "Direct P2P works with every NAT type, including symmetric peers (filtering only "
                            "checks the peer's IP).",
    Legacy.PORT_RESTRICTED_CONE: "Direct P2P works with cone NATs but fails with a symmetric-NAT peer: those "
                                 "calls need a TURN relay.",
    Legacy.SYMMETRIC: "Direct P2P with another symmetric or port-restricted NAT will fail: a TURN relay is "
                      "required for those calls.",
    Legacy.SYMMETRIC_UDP_FIREWALL: "No NAT, but unsolicited inbound UDP is dropped: like a port-restricted "
                                   "cone, calls with symmetric-NAT peers need a TURN relay.",
    Legacy.UDP_BLOCKED: "No UDP gets out: calls need TURN over TCP or TLS (TLS on port 443 passes most "
                        "firewalls).",
    Legacy.UNKNOWN: "The NAT type could not be determined.",
}


MEANING_EIM = ("STUN works: the NAT keeps one public address and port for this socket whatever the "
               "destination, so the server-reflexive candidate is the address peers can use.")
MEANING_NO_NAT_PLAIN = "No NAT: the STUN servers see this machine's own address, so STUN works."
MEANING_DEPENDENT = ("Symmetric NAT, you will need TURN: the NAT gives every destination a new public port, "
                     "so the address a STUN server reports is useless to peers.")


class Source(StrEnum):
    """Where the verdict came from."""

    RFC5780 = "rfc5780"  # RFC 5780 discovery against a validated server
    ACROSS = "across"  # mapping only, from ordinary STUN servers at different IPs (no RFC 5780 server)
    NONE = "none"  # nothing could be measured


@dataclass
class Consensus:
    mapping: Mapping = Mapping.UNKNOWN
    filtering: Filtering = Filtering.UNKNOWN
    legacy: Legacy = Legacy.UNKNOWN
    nat_present: bool | None = None
    hairpin: bool | None = None
    confidence: str = "none"  # "high" | "medium" | "low" | "none"
    runs_used: int = 0
    runs_total: int = 0
    disagreements: list[str] = field(default_factory=list)
    meaning: str = MEANING[Legacy.UNKNOWN]
    source: Source = Source.NONE


@dataclass
class NatTriage:
    consensus: Consensus
    findings: list[Finding] = field(default_factory=list)
    inconclusive: bool = False
    # Per run (same order as the runs): the finding that made it unusable for the verdict, or None.
    unusable: list[Finding | None] = field(default_factory=list)


def _label(run: NatRun) -> str:
    return f"{run.server} (run {run.run})"


def _agree(values: list[tuple[str, str]], what: str, out: list[str]) -> str | None:
    """The one known value all runs agree on; None when unknown; records disagreements."""
    known = {value for _, value in values if value != "unknown"}
    if len(known) > 1:
        detail = ", ".join(f"{who}: {value}" for who, value in values)
        out.append(f"{what} differs: {detail}")
        return None
    return known.pop() if known else None


def run_subject(run: NatRun) -> Subject:
    """One discovery run's server: the URI as given, its host and port, and the transport."""
    return Subject(server=run.server, host=run.host, port=run.port, transport=run.transport)


def _step(name: str, run: NatRun) -> str:
    return f"{name} #{run.run}"


def _unusable(run: NatRun) -> Finding | None:
    """The finding for a run that could not measure anything, or None when the run is usable."""
    subj = run_subject(run)
    step = _step("reachability", run)
    if run.error is not None:
        if run.error_kind == "dns":
            finding = make_finding(ids.DNS_FAILURE, subj, check=CHECK, step=step, host=run.host,
                                   detail=run.error, evidence=[run.error])
        else:
            finding = failure_finding(
                outcome="transport-error", error_kind=run.error_kind, detail=run.error, subject=subj,
                check=CHECK, step=step, server=run.address,
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
        return make_finding(ids.NAT_SERVER_NO_RFC5780, subj, check=CHECK, step=_step("rfc5780-server", run),
                            detail="; ".join(problems), evidence=problems)
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
    step = _step("reachability", run)
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
        return failure_finding(outcome="rejected", error_kind=None, detail="", subject=subj, check=CHECK,
                               step=step, server=server, rejected=shown, rejected_count=count)
    if transport == "tcp":
        accepted = [ex for ex in exchanges if ex.step == "tcp binding"
                    and (ex.outcome is ExchangeOutcome.TIMEOUT or ex.error_kind == "closed")]
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
    failed = [ex for t in run.tests for ex in t.exchanges if ex.outcome != "success"]
    refused = bool(failed) and all(ex.error_kind == "refused" for ex in failed)
    evidence = [summary, *(f"{t.name}: {ex.error}" for t in run.tests for ex in t.exchanges if ex.error)][:6]
    if refused:
        return make_finding(ids.SERVER_REFUSED, run_subject(run), check=CHECK, step=_step("reachability",
                                                                                          run),
                            severity=Severity.WARNING, server=run.address, transport=transports,
                            detail="every request was refused (ICMP port unreachable / TCP RST)",
                            evidence=evidence)
    return make_finding(ids.SERVER_UNREACHABLE, run_subject(run), check=CHECK, step=_step("reachability",
                                                                                          run),
                        severity=Severity.WARNING, server=run.address, transport=transports,
                        detail=f"no answer over {transports.replace(' or ', ' nor ')}", evidence=evidence)


def offline(runs: list[NatRun], across: ServerMappingRun | None) -> bool:
    """Nothing answered at all: no run got a UDP or TCP reply and the server list got no mapping."""
    return bool(runs) and not any(r.udp_answered or r.tcp_answered or any(spoke(t) for t in r.tests)
                                  for r in runs) and \
        (across is None or across.answered == 0)


def _offline_finding(runs: list[NatRun], across: ServerMappingRun | None) -> Finding:
    servers = list(dict.fromkeys(r.server for r in runs))
    dns = [r.host for r in runs if r.error_kind == "dns"]
    silent = [r.server for r in runs if r.error_kind != "dns"]
    parts = ([f"DNS failed for {', '.join(dict.fromkeys(dns))}"] if dns else []) + \
        ([f"no reply from {', '.join(dict.fromkeys(silent))}"] if silent else [])
    evidence = [f"{r.server}: {r.error or 'no reply over UDP or TCP'}" for r in runs][:8]
    return _verdict_finding(ids.NAT_OFFLINE, count=len(servers), detail="; ".join(parts), evidence=evidence)


def triage(runs: list[NatRun], across: ServerMappingRun | None = None) -> NatTriage:
    """The consensus of every run, its findings, and whether the evidence could not decide.

    ``across`` (a server list was given): servers without RFC 5780 are expected there (an info, not a
    warning), and when no listed server validates, the mapping comes from all of them together.
    """
    out = NatTriage(consensus=Consensus(runs_total=len(runs)))
    findings = out.findings
    if across is not None and offline(runs, across):  # one statement, not one failure per public server
        out.unusable = [_unusable(run) for run in runs]  # for the steps' reasons; the one finding is:
        findings.append(_offline_finding(runs, across))
        out.inconclusive = True
        return out
    usable: list[NatRun] = []
    blocked: list[NatRun] = []
    for run in runs:
        finding = _unusable(run)
        out.unusable.append(finding)
        if finding is None:
            usable.append(run)
            continue
        if across is not None and finding.id == ids.NAT_SERVER_NO_RFC5780:
            finding.severity = Severity.INFO  # most public servers lack RFC 5780: expected in a list
        findings.append(finding)
        if finding.id == ids.UDP_BLOCKED:
            blocked.append(run)

    consensus = out.consensus
    tcp_runs = [r for r in usable if r.transport == "tcp"]
    if tcp_runs:  # TCP: only NAT presence (RFC 5780 §4.4 filtering needs UDP)
        values = {r.nat_present for r in tcp_runs if r.nat_present is not None}
        consensus.nat_present = values.pop() if len(values) == 1 else None
        consensus.runs_used = len(tcp_runs)
        consensus.confidence = "low"
        consensus.meaning = ("Over TCP only NAT presence is measured; run with --transport udp for the NAT "
                             "type.")
        out.inconclusive = consensus.nat_present is None
        return out
    if blocked and not usable and (across is None or across.answered == 0):
        consensus.legacy = Legacy.UDP_BLOCKED
        consensus.meaning = MEANING[Legacy.UDP_BLOCKED]
        consensus.confidence = "high" if len(blocked) > 1 else "medium"
        consensus.runs_used = len(blocked)
        return out
    if not usable:
        # Test I alone still tells whether there is a NAT (RFC 5780 §4.3): say it, not "unknown".
        seen = {r.nat_present for r in runs if r.nat_present is not None}
        consensus.nat_present = seen.pop() if len(seen) == 1 else None
        if across is not None:
            _across_verdict(out, across)
            return out
        out.inconclusive = True
        return out
    if blocked:
        consensus.disagreements.append(
            "UDP answered by " + ", ".join(_label(r) for r in usable) + " but not by "
            + ", ".join(_label(r) for r in blocked))

    consensus.runs_used = len(usable)
    consensus.source = Source.RFC5780
    mapping = _agree([(_label(r), r.mapping.value) for r in usable], "mapping", consensus.disagreements)
    filtering = _agree([(_label(r), r.filtering.value) for r in usable], "filtering", consensus.disagreements)
    nat_values = {r.nat_present for r in usable if r.nat_present is not None}
    if len(nat_values) > 1:
        consensus.disagreements.append("NAT presence differs: " + ", ".join(
            f"{_label(r)}: {'NAT' if r.nat_present else 'no NAT'}" for r in usable))
    if consensus.disagreements:
        findings.append(_verdict_finding(ids.NAT_INCONSISTENT, detail="; ".join(consensus.disagreements),
                                         evidence=list(consensus.disagreements)))
        out.inconclusive = True
        consensus.confidence = "none"
        return out

    consensus.nat_present = nat_values.pop() if nat_values else None
    consensus.mapping = Mapping(mapping) if mapping else Mapping.UNKNOWN
    consensus.filtering = Filtering(filtering) if filtering else Filtering.UNKNOWN
    hairpins = {r.hairpin for r in usable if r.hairpin is not None}
    consensus.hairpin = hairpins.pop() if len(hairpins) == 1 else None
    # A proven dependent mapping is symmetric whatever the filtering: a filtering test left unsure by loss
    # (its silence is by design on such a NAT) does not take the mapping verdict away.
    unknown_runs = [r for r in usable if r.mapping is Mapping.UNKNOWN or
                    (r.filtering is Filtering.UNKNOWN and not r.mapping.dependent)]
    loss_pct = round(100 * max(r.loss_upper for r in usable))
    if consensus.mapping is Mapping.UNKNOWN or \
            (consensus.filtering is Filtering.UNKNOWN and not consensus.mapping.dependent):
        what = " and ".join(name for name, value in (("mapping", consensus.mapping),
                                                     ("filtering", consensus.filtering))
                            if value in (Mapping.UNKNOWN, Filtering.UNKNOWN))
        reasons = [f"{_label(r)}: {r.mapping_reason}; {r.filtering_reason}" for r in unknown_runs]
        findings.append(_verdict_finding(ids.NAT_UNDETERMINED, what=f"{what} behaviour", loss_pct=loss_pct,
                                         detail="; ".join(reasons), evidence=reasons))
        out.inconclusive = True
        consensus.confidence = "none"
        return out

    from rtcdiag.probes.nat_classify import FilteringVerdict, MappingVerdict, legacy_label

    consensus.legacy = legacy_label(
        True, MappingVerdict(consensus.mapping, consensus.nat_present, ""),
        FilteringVerdict(consensus.filtering, ""))
    consensus.meaning = MEANING[consensus.legacy]
    if len(usable) > 1 and not unknown_runs:
        consensus.confidence = "high"
    elif unknown_runs:
        consensus.confidence = "low"
    else:
        consensus.confidence = "medium"

    first = usable[0]
    findings.append(_verdict_finding(
        ids.NAT_TYPE, legacy=consensus.legacy.value, mapping=consensus.mapping.value,
        filtering=consensus.filtering.value, meaning=consensus.meaning,
        reason=f"{first.mapping_reason}; {first.filtering_reason}",
        evidence=[f"{_label(r)}: mapped {r.mapped}, local {r.local}" for r in usable]))
    if consensus.mapping.dependent:
        maps = [t.mapped for t in first.tests if t.socket == "mapping" and t.mapped]
        findings.append(_verdict_finding(ids.NAT_SYMMETRIC, mapping=consensus.mapping.value,
                                         evidence_short=", ".join(dict.fromkeys(maps)),
                                         evidence=[first.mapping_reason]))
    findings += _cgnat(usable)
    if consensus.hairpin is False:
        findings.append(_verdict_finding(ids.NAT_NO_HAIRPIN, mapped=first.mapped or "?",
                                         evidence=[r.hairpin_detail for r in usable if r.hairpin is False]))
    algs = [text for r in usable for text in r.alg]
    if algs:
        mapped, _, xor = algs[0].partition(" vs XOR-MAPPED-ADDRESS ")
        findings.append(_verdict_finding(ids.NAT_ALG, mapped=mapped.rsplit(" ", 1)[-1], xor_mapped=xor,
                                         evidence=algs))
    findings += _lifetime(usable)
    return out


def _across_verdict(out: NatTriage, across: ServerMappingRun) -> None:
    """No listed server validated for RFC 5780: the mapping from all of them (filtering stays unknown)."""
    c = out.consensus
    c.source = Source.ACROSS
    c.runs_used, c.runs_total = across.answered, len(across.servers)
    evidence = [f"{t.dest}: {_answer_of(t)}" for t in across.tests] + \
        [f"{label}: {why}" for label, why in across.unresolved.items()]
    if across.mapping is Mapping.UNKNOWN:
        c.nat_present = across.nat_present if across.nat_present is not None else c.nat_present
        reason = across.mapping_reason
        if across.answered == 0 and any(spoke(t) for t in across.tests):
            reason = "no STUN server gave a mapped address (what each one answered is in the evidence)"
        out.findings.append(_verdict_finding(ids.NAT_TOO_FEW_SERVERS, detail=reason, evidence=evidence[:8]))
        out.inconclusive = True
        return
    c.mapping, c.nat_present = across.mapping, across.nat_present
    c.confidence = "medium"
    if across.mapping.dependent:
        c.legacy, c.meaning = Legacy.SYMMETRIC, MEANING_DEPENDENT
        verdict = "symmetric NAT, you will need TURN"
    elif across.nat_present is False:
        c.meaning, verdict = MEANING_NO_NAT_PLAIN, "no NAT, STUN works"
    else:
        c.meaning, verdict = MEANING_EIM, "STUN works"
    out.findings.append(_verdict_finding(
        ids.NAT_MAPPING, mapping=across.mapping.value, verdict=verdict, meaning=c.meaning,
        servers=across.answered, reason=across.mapping_reason, filtering_why=across.filtering_reason,
        evidence=evidence[:8]))
    if across.mapping.dependent:
        maps = [t.mapped for t in across.tests if t.mapped]
        out.findings.append(_verdict_finding(ids.NAT_SYMMETRIC, mapping=across.mapping.value,
                                             evidence_short=", ".join(dict.fromkeys(maps)),
                                             evidence=[across.mapping_reason]))
    out.findings.extend(_cgnat_of([("STUN servers", t.mapped, across.local) for t in across.tests]))


def _answer_of(test: NatTestRecord) -> str:
    """What one server answered: its mapped address, or what it said instead (never "no answer" for a
    server that sent an error response or replies that failed validation)."""
    if test.mapped:
        return f"mapped {test.mapped}"
    said = next((ex for ex in reversed(test.exchanges) if ex.response or ex.rejected_count), None)
    if said is None:
        return "no answer"
    if said.response:
        return said.response
    return f"{said.rejected_count} reply(ies) rejected: {'; '.join(said.rejected[:2])}"


def _verdict_finding(finding_id: str, *, evidence: list[str], **params: Any) -> Finding:
    """A finding about the NAT in front of this machine: the ``verdict`` step of the local network."""
    return make_finding(finding_id, LOCAL_NETWORK, check=CHECK, step=VERDICT, evidence=evidence, **params)


def _cgnat(runs: list[NatRun]) -> list[Finding]:
    """RFC 6598 shared address space on the mapped or local address (Tailscale uses it too)."""
    return _cgnat_of([(_label(run), run.mapped, run.local) for run in runs])


def _cgnat_of(seen_by: list[tuple[str, str | None, str | None]]) -> list[Finding]:
    """NAT-CGNAT for (who, mapped, local) observations."""
    found: list[Finding] = []
    seen: set[str] = set()
    for label, mapped, local in seen_by:
        for where, hostport in (("mapped", mapped), ("local", local)):
            if hostport is None:
                continue
            ip = parse_ip(hostport.rpartition(":")[0])
            key = f"{where}:{ip}"
            if not isinstance(ip, IPv4Address) or scope_of(ip) is not AddressScope.SHARED or key in seen:
                continue
            seen.add(key)
            found.append(_verdict_finding(ids.NAT_CGNAT, where=where, address=str(ip),
                                          evidence=[f"{label}: {where} address {hostport}"]))
    return found


def _lifetime(runs: list[NatRun]) -> list[Finding]:
    for run in runs:
        life = run.lifetime
        if life is None or not life.supported or life.gone_s is None or life.gone_s > SHORT_LIFETIME_S:
            continue
        alive = life.alive_s if life.alive_s is not None else 0.0
        keepalive = max(1, int(alive * 0.8)) if alive else 1
        return [_verdict_finding(ids.NAT_SHORT_LIFETIME, lifetime_s=f"{alive:g}-{life.gone_s:g}",
                                 alive_s=f"{alive:g}", gone_s=f"{life.gone_s:g}", keepalive_s=keepalive,
                                 evidence=[f"{_label(run)}: idle probes {life.probes}"])]
    return []


# --- steps and facts ---------------------------------------------------------------------------------------


def _why_not(run: NatRun, unusable: Finding | None) -> str | None:
    """Why the RFC 5780 tests of this run did not run (None: they ran)."""
    if run.error is not None:
        return f"the server could not be asked: {run.error}"
    if unusable is None:
        return None
    if unusable.id == ids.UDP_BLOCKED:
        return "UDP is blocked: no UDP answer while STUN over TCP answered"
    if unusable.id == ids.NAT_SERVER_NO_RFC5780:
        return "the server failed RFC 5780 validation (see rfc5780-server)"
    if unusable.id in SERVER_SAID:
        return f"the server gave no usable Binding success ({unusable.id}: {unusable.params['detail']})"
    return "the server did not answer"


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def _run_steps(run: NatRun, options: NatOptions, unusable: Finding | None) -> list[StepOutcome]:
    subj = run_subject(run)
    secs = run.duration_ms / 1000.0
    steps: list[StepOutcome] = []

    def add(name: str, detail: str, state: StepState = StepState.DONE, duration_s: float = 0.0) -> None:
        steps.append(StepOutcome(subj, CHECK, _step(name, run), state, detail, duration_s))

    first_rtt = next((t.rtt_ms for t in run.tests if t.rtt_ms is not None), None)
    answered = run.error is None and (run.udp_answered or (run.transport == "tcp" and bool(run.tcp_answered)))
    if unusable is not None and unusable.id in SERVER_SAID:
        add("reachability", f"{unusable.id}: {unusable.params['detail']}", StepState.UNDECIDED, secs)
    elif answered:
        rtt = f" in {first_rtt:.1f} ms" if first_rtt is not None else ""
        add("reachability", f"{run.address} answered over {run.transport.upper()}{rtt}",
            duration_s=(first_rtt or 0.0) / 1000.0)
    elif unusable is not None and unusable.id == ids.UDP_BLOCKED:
        add("reachability", "no UDP answer; STUN over TCP answered", duration_s=secs)
    else:
        add("reachability", run.error or "no answer", StepState.UNDECIDED, duration_s=secs)
    why = _why_not(run, unusable)
    if run.transport == "tcp":
        tcp_why = why or "over TCP only NAT presence is measured"
        add("rfc5780-server", "RFC 5780 server validation needs UDP", StepState.SKIPPED)
        if why is None:
            state = StepState.UNDECIDED if run.nat_present is None else StepState.DONE
            add("mapping", f"NAT present: {_yes_no(run.nat_present)} (mapped {run.mapped or '?'}); "
                           f"{run.mapping_reason}", state, secs)
        else:
            add("mapping", tcp_why, StepState.SKIPPED)
        add("filtering", "RFC 5780 filtering tests need UDP", StepState.SKIPPED)
        if options.hairpin:
            add("hairpin", "hairpinning is tested over UDP", StepState.SKIPPED)
        if options.lifetime:
            add("lifetime", "the mapping lifetime is measured over UDP", StepState.SKIPPED)
        return steps

    check = run.server_check
    if check is None:
        add("rfc5780-server", why or "no Binding response to validate", StepState.SKIPPED)
    elif not check.supported:
        add("rfc5780-server", "; ".join(check.problems), StepState.UNDECIDED)
    else:
        add("rfc5780-server", f"{check.other_attribute} {check.other_address}; CHANGE-REQUEST replies came "
                              f"from the addresses asked for")
    if why is not None:
        for name in ("mapping", "filtering", *(("hairpin",) if options.hairpin else ()),
                     *(("lifetime",) if options.lifetime else ())):
            add(name, why, StepState.SKIPPED)
        return steps
    for name, value, reason in (("mapping", run.mapping.value, run.mapping_reason),
                                ("filtering", run.filtering.value, run.filtering_reason)):
        state = StepState.UNDECIDED if value == "unknown" else StepState.DONE
        add(name, f"{value}: {reason}" if reason else value, state, secs)
    if options.hairpin:
        tested = any(t.socket == "hairpin" for t in run.tests)
        if not tested:
            add("hairpin", "no mapped address to send to", StepState.SKIPPED)
        else:
            state = StepState.UNDECIDED if run.hairpin is None else StepState.DONE
            add("hairpin", f"hairpinning: {_yes_no(run.hairpin)} ({run.hairpin_detail})", state)
    if options.lifetime:
        life = run.lifetime
        if life is None:
            add("lifetime", "not measured", StepState.SKIPPED)
        elif not life.supported:
            add("lifetime", life.detail, StepState.UNDECIDED)
        else:
            text = (f"alive after {life.alive_s:g} s, gone after {life.gone_s:g} s"
                    if life.gone_s is not None and life.alive_s is not None else
                    f"gone after {life.gone_s:g} s" if life.gone_s is not None else
                    f"alive after {life.alive_s:g} s (longest tried)" if life.alive_s is not None else
                    "no idle probe could decide")
            state = StepState.DONE if life.alive_s is not None or life.gone_s is not None else \
                StepState.UNDECIDED
            add("lifetime", text + (f"; {life.detail}" if life.detail else ""), state)
    return steps


def verdict_text(result: NatTriage) -> str:
    """The verdict as one line: the label and behaviours with the confidence, or why there is none."""
    c = result.consensus
    if c.disagreements:
        return "runs disagree: " + "; ".join(c.disagreements)
    if any(f.id == ids.NAT_OFFLINE for f in result.findings):
        return "no STUN server answered: offline, or DNS does not work"
    runs = f"{c.runs_used} of {c.runs_total} {'servers' if c.source is Source.ACROSS else 'runs'}"
    if c.source is Source.ACROSS and c.mapping is not Mapping.UNKNOWN:
        said = "symmetric NAT, you will need TURN" if c.mapping.dependent else \
            "no NAT, STUN works" if c.nat_present is False else "STUN works"
        return (f"{said} ({c.mapping.value} mapping; filtering unknown: no RFC 5780 server), "
                f"confidence {c.confidence} ({runs})")
    if c.legacy is not Legacy.UNKNOWN:
        behaviour = "" if c.legacy is Legacy.UDP_BLOCKED else \
            f" ({c.mapping.value} mapping, {c.filtering.value} filtering)"
        return f"{c.legacy.value}{behaviour}, confidence {c.confidence} ({runs})"
    if c.runs_used and c.nat_present is not None:
        return f"NAT present: {_yes_no(c.nat_present)} (over TCP no NAT type is measured)"
    if c.nat_present is not None:
        return f"{'no NAT (mapped address = local address)' if c.nat_present is False else 'NAT present'}; " \
               "the NAT type could not be determined"
    if not c.runs_used:
        return "no run could measure the NAT"
    return "the NAT type could not be determined"


def _name_facts(runs: list[NatRun]) -> list[NameFact]:
    facts: dict[str, NameFact] = {}
    for run in runs:
        if not run.host or parse_ip(run.host) is not None:
            continue
        resolved = run.error_kind != "dns"
        if run.host in facts and facts[run.host].resolved:
            continue
        facts[run.host] = NameFact(run.host, resolved, well_known=is_well_known(run.host),
                                   detail="" if resolved else (run.error or ""))
    return list(facts.values())


def judge(discovery: NatDiscovery) -> Judgement:
    """Findings, the steps of every run and the verdict, the NAT label and whether it is inconclusive."""
    result = triage(discovery.runs, discovery.across)
    out = Judgement(findings=list(result.findings))
    for run, unusable in zip(discovery.runs, result.unusable, strict=True):
        out.steps += _run_steps(run, discovery.options, unusable)
    if discovery.across is not None:
        out.steps += _across_steps(discovery.across, result)
    out.steps.append(StepOutcome(LOCAL_NETWORK, CHECK, VERDICT,
                                 StepState.UNDECIDED if result.inconclusive else StepState.DONE,
                                 verdict_text(result)))
    label = result.consensus.legacy
    out.facts.nat_label = None if label is Legacy.UNKNOWN else label.value
    out.facts.inconclusive = result.inconclusive
    # Offline with a server list: one statement (NAT-OFFLINE), not "DNS does not work" per public name.
    offline_list = any(f.id == ids.NAT_OFFLINE for f in result.findings)
    out.facts.names = [] if offline_list else _name_facts(discovery.runs)
    return out


def _across_steps(across: ServerMappingRun, result: NatTriage) -> list[StepOutcome]:
    """The mapping across ordinary servers, and why filtering cannot be measured that way."""
    secs = across.duration_ms / 1000.0
    used = result.consensus.source is Source.ACROSS
    if across.mapping is Mapping.UNKNOWN:
        mapping = StepOutcome(LOCAL_NETWORK, CHECK, "mapping across servers", StepState.UNDECIDED,
                              across.mapping_reason or "no answer", secs)
    else:
        note = "" if used else " (the RFC 5780 verdict is used)"
        mapping = StepOutcome(LOCAL_NETWORK, CHECK, "mapping across servers", StepState.DONE,
                              f"{across.mapping.value}: {across.mapping_reason}{note}", secs)
    filtering = StepOutcome(LOCAL_NETWORK, CHECK, "filtering across servers", StepState.SKIPPED,
                            across.filtering_reason)
    return [mapping, filtering]
