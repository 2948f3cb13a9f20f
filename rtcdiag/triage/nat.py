"""Triage for ``rtcdiag nat-type``: NAT discovery runs -> one verdict with a confidence, and findings.

Rules (each names where it comes from):
- no UDP answer but TCP answers -> UDP-BLOCKED; nothing answers -> SERVER-UNREACHABLE (inconclusive);
- server fails RFC 5780 validation -> NAT-SERVER-NO-RFC5780 (inconclusive: never a guessed type);
- runs (``--repeat``, several ``--server``) that disagree -> NAT-INCONSISTENT naming who said what
  (inconclusive); loss that leaves a behaviour unknown -> NAT-UNDETERMINED (inconclusive);
- the verdict itself -> NAT-TYPE (info, with what it means for calls), NAT-SYMMETRIC (RFC 4787 REQ-1),
  NAT-CGNAT (RFC 6598), NAT-NO-HAIRPIN (REQ-9), NAT-ALG (RFC 5780 §4.7), NAT-SHORT-LIFETIME (< 30 s).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address

from rtcdiag.addresses import CGNAT_NET, parse_ip
from rtcdiag.probes.nat import NatRun
from rtcdiag.probes.nat_classify import Filtering, Legacy, Mapping
from rtcdiag.triage.finding import Finding, Severity, make_finding

SHORT_LIFETIME_S = 30.0

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


@dataclass
class NatTriage:
    consensus: Consensus
    findings: list[Finding] = field(default_factory=list)
    inconclusive: bool = False


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


def triage(runs: list[NatRun]) -> NatTriage:
    out = NatTriage(consensus=Consensus(runs_total=len(runs)))
    findings = out.findings
    usable: list[NatRun] = []
    blocked: list[NatRun] = []
    for run in runs:
        subject = f"{run.server} ({run.transport})"
        if run.error is not None:
            findings.append(make_finding("SERVER-UNREACHABLE", subject=subject, severity=Severity.WARNING,
                                         server=run.server, transport=run.transport, detail=run.error,
                                         evidence=[run.error]))
            continue
        if run.transport == "udp" and not run.udp_answered:
            if run.tcp_answered:
                blocked.append(run)
                findings.append(make_finding(
                    "UDP-BLOCKED", subject=subject, server=run.address,
                    detail="no answer to any UDP Binding request while a TCP Binding was answered",
                    evidence=[f"UDP Binding to {run.address}: no answer; TCP Binding: answered"]))
            else:
                findings.append(make_finding(
                    "SERVER-UNREACHABLE", subject=subject, severity=Severity.WARNING, server=run.address,
                    transport="UDP or TCP", detail="no answer over UDP nor TCP",
                    evidence=[f"UDP and TCP Binding requests to {run.address} went unanswered"]))
            continue
        check = run.server_check
        if run.transport == "udp" and (check is None or not check.supported):
            problems = check.problems if check else ["no usable Binding response"]
            findings.append(make_finding("NAT-SERVER-NO-RFC5780", subject=subject, detail="; ".join(problems),
                                         evidence=problems))
            continue
        usable.append(run)

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
    if blocked and not usable:
        consensus.legacy = Legacy.UDP_BLOCKED
        consensus.meaning = MEANING[Legacy.UDP_BLOCKED]
        consensus.confidence = "high" if len(blocked) > 1 else "medium"
        consensus.runs_used = len(blocked)
        return out
    if not usable:
        out.inconclusive = True
        return out
    if blocked:
        consensus.disagreements.append(
            "UDP answered by " + ", ".join(_label(r) for r in usable) + " but not by "
            + ", ".join(_label(r) for r in blocked))

    consensus.runs_used = len(usable)
    mapping = _agree([(_label(r), r.mapping.value) for r in usable], "mapping", consensus.disagreements)
    filtering = _agree([(_label(r), r.filtering.value) for r in usable], "filtering", consensus.disagreements)
    nat_values = {r.nat_present for r in usable if r.nat_present is not None}
    if len(nat_values) > 1:
        consensus.disagreements.append("NAT presence differs: " + ", ".join(
            f"{_label(r)}: {'NAT' if r.nat_present else 'no NAT'}" for r in usable))
    if consensus.disagreements:
        findings.append(make_finding("NAT-INCONSISTENT", detail="; ".join(consensus.disagreements),
                                     evidence=list(consensus.disagreements)))
        out.inconclusive = True
        consensus.confidence = "none"
        return out

    consensus.nat_present = nat_values.pop() if nat_values else None
    consensus.mapping = Mapping(mapping) if mapping else Mapping.UNKNOWN
    consensus.filtering = Filtering(filtering) if filtering else Filtering.UNKNOWN
    hairpins = {r.hairpin for r in usable if r.hairpin is not None}
    consensus.hairpin = hairpins.pop() if len(hairpins) == 1 else None
    unknown_runs = [r for r in usable if r.mapping is Mapping.UNKNOWN or r.filtering is Filtering.UNKNOWN]
    loss_pct = round(100 * max(r.loss_upper for r in usable))
    if consensus.mapping is Mapping.UNKNOWN or consensus.filtering is Filtering.UNKNOWN:
        what = " and ".join(name for name, value in (("mapping", consensus.mapping),
                                                     ("filtering", consensus.filtering))
                            if value in (Mapping.UNKNOWN, Filtering.UNKNOWN))
        reasons = [f"{_label(r)}: {r.mapping_reason}; {r.filtering_reason}" for r in unknown_runs]
        findings.append(make_finding("NAT-UNDETERMINED", what=f"{what} behaviour", loss_pct=loss_pct,
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
    findings.append(make_finding(
        "NAT-TYPE", legacy=consensus.legacy.value, mapping=consensus.mapping.value,
        filtering=consensus.filtering.value, meaning=consensus.meaning,
        reason=f"{first.mapping_reason}; {first.filtering_reason}",
        evidence=[f"{_label(r)}: mapped {r.mapped}, local {r.local}" for r in usable]))
    if consensus.mapping in (Mapping.ADDRESS_DEPENDENT, Mapping.ADDRESS_AND_PORT_DEPENDENT):
        maps = [t.mapped for t in first.tests if t.socket == "mapping" and t.mapped]
        findings.append(make_finding("NAT-SYMMETRIC", mapping=consensus.mapping.value,
                                     evidence_short=", ".join(dict.fromkeys(maps)),
                                     evidence=[first.mapping_reason]))
    findings += _cgnat(usable)
    if consensus.hairpin is False:
        findings.append(make_finding("NAT-NO-HAIRPIN", mapped=first.mapped or "?",
                                     evidence=[r.hairpin_detail for r in usable if r.hairpin is False]))
    algs = [text for r in usable for text in r.alg]
    if algs:
        mapped, _, xor = algs[0].partition(" vs XOR-MAPPED-ADDRESS ")
        findings.append(make_finding("NAT-ALG", mapped=mapped.rsplit(" ", 1)[-1], xor_mapped=xor,
                                     evidence=algs))
    findings += _lifetime(usable)
    return out


def _cgnat(runs: list[NatRun]) -> list[Finding]:
    """RFC 6598 shared address space on the mapped or local address (Tailscale uses it too)."""
    found: list[Finding] = []
    seen: set[str] = set()
    for run in runs:
        for where, hostport in (("mapped", run.mapped), ("local", run.local)):
            if hostport is None:
                continue
            ip = parse_ip(hostport.rpartition(":")[0])
            key = f"{where}:{ip}"
            if not isinstance(ip, IPv4Address) or ip not in CGNAT_NET or key in seen:
                continue
            seen.add(key)
            found.append(make_finding("NAT-CGNAT", where=where, address=str(ip),
                                      evidence=[f"{_label(run)}: {where} address {hostport}"]))
    return found


def _lifetime(runs: list[NatRun]) -> list[Finding]:
    for run in runs:
        life = run.lifetime
        if life is None or not life.supported or life.gone_s is None or life.gone_s > SHORT_LIFETIME_S:
            continue
        alive = life.alive_s if life.alive_s is not None else 0.0
        keepalive = max(1, int(alive * 0.8)) if alive else 1
        return [make_finding("NAT-SHORT-LIFETIME", lifetime_s=f"{alive:g}-{life.gone_s:g}",
                             alive_s=f"{alive:g}", gone_s=f"{life.gone_s:g}", keepalive_s=keepalive,
                             evidence=[f"{_label(run)}: idle probes {life.probes}"])]
    return []
