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

from ipaddress import IPv4Address

from rtcdiag.addresses import AddressScope, parse_ip, scope_of
from rtcdiag.probes.nat import NatDiscovery, NatRun, NatTestRecord, ServerMappingRun, spoke
from rtcdiag.probes.nat_classify import Filtering, Legacy, Mapping
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Finding, Severity
from rtcdiag.triage.judgement import Judgement, StepOutcome, StepState
from rtcdiag.triage.nat_result import CHECK as CHECK  # re-exported: checks/nat.py names the check rules.CHECK
from rtcdiag.triage.nat_result import (
    LOCAL_NETWORK,
    MEANING,
    MEANING_DEPENDENT,
    MEANING_EIM,
    MEANING_NO_NAT_PLAIN,
    SHORT_LIFETIME_S,
    VERDICT,
    Consensus,
    NatTriage,
    Source,
    run_label,
    verdict_finding,
    yes_no,
)
from rtcdiag.triage.nat_server import offline, offline_finding, unusable_finding
from rtcdiag.triage.nat_steps import across_steps, name_facts, run_steps


def _agree(values: list[tuple[str, str]], what: str, out: list[str]) -> str | None:
    """The one known value all runs agree on; None when unknown; records disagreements."""
    known = {value for _, value in values if value != "unknown"}
    if len(known) > 1:
        detail = ", ".join(f"{who}: {value}" for who, value in values)
        out.append(f"{what} differs: {detail}")
        return None
    return known.pop() if known else None


def triage(runs: list[NatRun], across: ServerMappingRun | None = None) -> NatTriage:
    """The consensus of every run, its findings, and whether the evidence could not decide.

    ``across`` (a server list was given): servers without RFC 5780 are expected there (an info, not a
    warning), and when no listed server validates, the mapping comes from all of them together.
    """
    out = NatTriage(consensus=Consensus(runs_total=len(runs)))
    findings = out.findings
    if across is not None and offline(runs, across):  # one statement, not one failure per public server
        out.unusable = [unusable_finding(run) for run in runs]  # for the steps' reasons; the one finding is:
        findings.append(offline_finding(runs, across))
        out.inconclusive = True
        return out
    usable: list[NatRun] = []
    blocked: list[NatRun] = []
    for run in runs:
        finding = unusable_finding(run)
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
            "UDP answered by " + ", ".join(run_label(r) for r in usable) + " but not by "
            + ", ".join(run_label(r) for r in blocked))

    consensus.runs_used = len(usable)
    consensus.source = Source.RFC5780
    mapping = _agree([(run_label(r), r.mapping.value) for r in usable], "mapping", consensus.disagreements)
    filtering = _agree([(run_label(r), r.filtering.value) for r in usable], "filtering",
                       consensus.disagreements)
    nat_values = {r.nat_present for r in usable if r.nat_present is not None}
    if len(nat_values) > 1:
        consensus.disagreements.append("NAT presence differs: " + ", ".join(
            f"{run_label(r)}: {'NAT' if r.nat_present else 'no NAT'}" for r in usable))
    if consensus.disagreements:
        findings.append(verdict_finding(ids.NAT_INCONSISTENT, detail="; ".join(consensus.disagreements),
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
        reasons = [f"{run_label(r)}: {r.mapping_reason}; {r.filtering_reason}" for r in unknown_runs]
        findings.append(verdict_finding(ids.NAT_UNDETERMINED, what=f"{what} behaviour", loss_pct=loss_pct,
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
    findings.append(verdict_finding(
        ids.NAT_TYPE, legacy=consensus.legacy.value, mapping=consensus.mapping.value,
        filtering=consensus.filtering.value, meaning=consensus.meaning,
        reason=f"{first.mapping_reason}; {first.filtering_reason}",
        evidence=[f"{run_label(r)}: mapped {r.mapped}, local {r.local}" for r in usable]))
    if consensus.mapping.dependent:
        maps = [t.mapped for t in first.tests if t.socket == "mapping" and t.mapped]
        findings.append(verdict_finding(ids.NAT_SYMMETRIC, mapping=consensus.mapping.value,
                                         evidence_short=", ".join(dict.fromkeys(maps)),
                                         evidence=[first.mapping_reason]))
    findings += _cgnat(usable)
    if consensus.hairpin is False:
        findings.append(verdict_finding(ids.NAT_NO_HAIRPIN, mapped=first.mapped or "?",
                                         evidence=[r.hairpin_detail for r in usable if r.hairpin is False]))
    algs = [text for r in usable for text in r.alg]
    if algs:
        mapped, _, xor = algs[0].partition(" vs XOR-MAPPED-ADDRESS ")
        findings.append(verdict_finding(ids.NAT_ALG, mapped=mapped.rsplit(" ", 1)[-1], xor_mapped=xor,
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
        out.findings.append(verdict_finding(ids.NAT_TOO_FEW_SERVERS, detail=reason, evidence=evidence[:8]))
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
    out.findings.append(verdict_finding(
        ids.NAT_MAPPING, mapping=across.mapping.value, verdict=verdict, meaning=c.meaning,
        servers=across.answered, reason=across.mapping_reason, filtering_why=across.filtering_reason,
        evidence=evidence[:8]))
    if across.mapping.dependent:
        maps = [t.mapped for t in across.tests if t.mapped]
        out.findings.append(verdict_finding(ids.NAT_SYMMETRIC, mapping=across.mapping.value,
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


def _cgnat(runs: list[NatRun]) -> list[Finding]:
    """RFC 6598 shared address space on the mapped or local address (Tailscale uses it too)."""
    return _cgnat_of([(run_label(run), run.mapped, run.local) for run in runs])


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
            found.append(verdict_finding(ids.NAT_CGNAT, where=where, address=str(ip),
                                          evidence=[f"{label}: {where} address {hostport}"]))
    return found


def _lifetime(runs: list[NatRun]) -> list[Finding]:
    for run in runs:
        life = run.lifetime
        if life is None or not life.supported or life.gone_s is None or life.gone_s > SHORT_LIFETIME_S:
            continue
        alive = life.alive_s if life.alive_s is not None else 0.0
        keepalive = max(1, int(alive * 0.8)) if alive else 1
        return [verdict_finding(ids.NAT_SHORT_LIFETIME, lifetime_s=f"{alive:g}-{life.gone_s:g}",
                                 alive_s=f"{alive:g}", gone_s=f"{life.gone_s:g}", keepalive_s=keepalive,
                                 evidence=[f"{run_label(run)}: idle probes {life.probes}"])]
    return []


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
        return f"NAT present: {yes_no(c.nat_present)} (over TCP no NAT type is measured)"
    if c.nat_present is not None:
        return f"{'no NAT (mapped address = local address)' if c.nat_present is False else 'NAT present'}; " \
               "the NAT type could not be determined"
    if not c.runs_used:
        return "no run could measure the NAT"
    return "the NAT type could not be determined"


def judge(discovery: NatDiscovery) -> Judgement:
    """Findings, the steps of every run and the verdict, the NAT label and whether it is inconclusive."""
    result = triage(discovery.runs, discovery.across)
    out = Judgement(findings=list(result.findings))
    for run, unusable in zip(discovery.runs, result.unusable, strict=True):
        out.steps += run_steps(run, discovery.options, unusable)
    if discovery.across is not None:
        out.steps += across_steps(discovery.across, result)
    out.steps.append(StepOutcome(LOCAL_NETWORK, CHECK, VERDICT,
                                 StepState.UNDECIDED if result.inconclusive else StepState.DONE,
                                 verdict_text(result)))
    label = result.consensus.legacy
    out.facts.nat_label = None if label is Legacy.UNKNOWN else label.value
    out.facts.inconclusive = result.inconclusive
    # Offline with a server list: one statement (NAT-OFFLINE), not "DNS does not work" per public name.
    offline_list = any(f.id == ids.NAT_OFFLINE for f in result.findings)
    out.facts.names = [] if offline_list else name_facts(discovery.runs)
    return out
