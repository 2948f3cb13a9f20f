"""Triage rules for the DNS probe: DnsResult -> a Judgement (findings, one step per question, name facts).

Steps (one per question, subject ``dns:NAME``): ``A NAME``, ``AAAA NAME``, ``SRV _stun._udp`` ... and
``ipv6 reachability`` when published IPv6 addresses were tested.

Rules:
- no question about the name answered, every one failed at the resolver (timeout / SERVFAIL / error) ->
  DNS-FAILURE, once, on the ``A NAME`` step (the other questions are undecided, not failed again); when the
  resolver was named with --nameserver and never answered at all (every question timed out) ->
  DNS-RESOLVER-SILENT instead ("the name server does not answer", never "the name is misspelled");
- no question answered, the name itself NXDOMAIN -> DNS-NXDOMAIN (on ``A NAME``);
- the name exists but has no A/AAAA and no SRV record -> DNS-NO-ADDRESS (on ``A NAME``);
- an SRV target without A/AAAA -> DNS-SRV-TARGET-NO-ADDRESS; an SRV target that is a CNAME ->
  DNS-SRV-TARGET-CNAME (RFC 2782), both on that service's step;
- an IPv6 address where every reachability test failed -> DNS-IPV6-UNREACHABLE;
- the slowest query above SLOW_QUERY_MS -> DNS-SLOW-RESOLVER; no SRV at all -> DNS-NO-SRV (info).

Facts: a :class:`NameFact` for NAME (resolved = the resolver answered for it, addresses or not: a NODATA
answer proves DNS works) and, when the probe asked it, one for the control name (well known), from which
the diagnosis concludes DNS-NOT-WORKING when every name of the run failed.
"""

from __future__ import annotations

from typing import Any

from rtcdiag.probes.dns import DnsResult, Ipv6Check, QueryResult
from rtcdiag.redact import echo
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Finding, Subject, make_finding
from rtcdiag.triage.judgement import Judgement, NameFact, StepOutcome, StepState, is_well_known

CHECK = "dns"
IPV6_STEP = "ipv6 reachability"
SLOW_QUERY_MS = 500.0  # a query slower than this delays ICE gathering noticeably
FAILED_OUTCOMES = ("timeout", "servfail", "error")


def describe_query(q: QueryResult) -> str:
    answer = ", ".join(echo(r) for r in q.records) if q.records else q.outcome
    alias = f" (alias of {echo(q.canonical_name)})" if q.canonical_name else ""
    error = f": {q.error}" if q.error and not q.records else ""
    return f"{q.rdtype} {q.qname}{alias} -> {answer}{error} [{q.rtt_ms:.1f} ms]"


def subject(result: DnsResult) -> Subject:
    return Subject(server=f"dns:{result.name}", host=result.name)


def service_of(result: DnsResult, q: QueryResult) -> str:
    """``_turn._udp`` for the SRV question ``_turn._udp.NAME``; "" for the questions about NAME itself."""
    suffix = "." + result.name
    if q.rdtype == "SRV" and q.qname.lower().endswith(suffix.lower()):
        return q.qname[: -len(suffix)]
    return ""


def step_name(result: DnsResult, q: QueryResult) -> str:
    """``A NAME``, ``AAAA NAME``, ``SRV _turn._udp``: the report's testcase name for one question."""
    service = service_of(result, q)
    return f"SRV {service}" if service else f"{q.rdtype} {q.qname}"


def _address_step(result: DnsResult) -> str:
    return f"A {result.name}"


def _dig(result: DnsResult) -> list[str]:
    """``dig`` asking each named server, for the fix (the port apart, as dig wants it)."""
    import shlex

    lines = []
    for server in result.nameservers[:3]:
        host, _, port = server.rpartition(":")
        lines.append(f"dig @{host.strip('[]')} -p {port} {shlex.quote(result.name)} A +tries=1 +time=2"
                     if port.isdigit() else f"dig @{server} {shlex.quote(result.name)} A")
    return lines


def _name_finding(result: DnsResult) -> Finding | None:
    """DNS-FAILURE, DNS-NXDOMAIN or DNS-NO-ADDRESS: one statement about the name, on its ``A`` step."""
    subj, step = subject(result), _address_step(result)
    evidence = [describe_query(q) for q in result.queries]
    if result.unanswered:
        own = [q for q in result.queries if not service_of(result, q)]
        if any(q.outcome == "nxdomain" for q in own) or all(q.outcome == "nxdomain" for q in result.queries):
            return make_finding(ids.DNS_NXDOMAIN, subj, check=CHECK, step=step, evidence=evidence,
                                name=result.name)
        resolver = ", ".join(result.nameservers) or "the system resolver"
        first = next((q for q in result.queries if q.outcome in FAILED_OUTCOMES), result.queries[0])
        if result.resolver_source == "--nameserver" and all(q.outcome == "timeout" for q in result.queries):
            # The one server named never answered: its fault (or the path's), not the name's.
            return make_finding(ids.DNS_RESOLVER_SILENT, subj, check=CHECK, step=step, evidence=evidence,
                                resolver=resolver, name=result.name, count=len(result.queries),
                                detail=first.error or first.outcome, snippet=_dig(result))
        detail = f"no usable answer from {resolver} ({first.error or first.outcome})"
        return make_finding(ids.DNS_FAILURE, subj, check=CHECK, step=step, evidence=evidence,
                            host=result.name, detail=detail)
    if not result.ipv4 and not result.ipv6 and not result.srv:
        return make_finding(ids.DNS_NO_ADDRESS, subj, check=CHECK, step=step, evidence=evidence,
                            name=result.name)
    return None


def _srv_findings(result: DnsResult) -> list[Finding]:
    out: list[Finding] = []
    for rec in result.srv:
        if rec.target == ".":
            continue
        evidence = [f"SRV {rec.service}.{result.name}: {rec.priority} {rec.weight} {rec.port} {rec.target}"]
        evidence += [describe_query(q) for q in rec.target_queries]
        values: dict[str, Any] = {"service": rec.service, "name": result.name, "target": rec.target,
                                  "port": rec.port}
        step = f"SRV {rec.service}"
        if not rec.addresses:
            out.append(make_finding(ids.DNS_SRV_TARGET_NO_ADDRESS, subject(result), check=CHECK, step=step,
                                    evidence=evidence, **values))
        if rec.target_alias_of:
            out.append(make_finding(ids.DNS_SRV_TARGET_CNAME, subject(result), check=CHECK, step=step,
                                    evidence=evidence, canonical=rec.target_alias_of, **values))
    return out


def _ipv6_findings(result: DnsResult) -> list[Finding]:
    by_address: dict[str, list[Ipv6Check]] = {}
    for test in result.ipv6_checks:
        by_address.setdefault(test.address, []).append(test)
    out: list[Finding] = []
    for address, tests in by_address.items():
        if any(t.reachable for t in tests):
            continue
        evidence = [f"{t.transport.upper()} {address} port {t.port} ({t.source}): {t.detail}" for t in tests]
        sources = sorted({t.source for t in tests})
        tested = ", ".join(f"{t.transport.upper()} {t.port}" for t in tests)
        out.append(make_finding(ids.DNS_IPV6_UNREACHABLE, subject(result), check=CHECK, step=IPV6_STEP,
                                evidence=evidence, address=address, source=" and ".join(sources),
                                tests=tested))
    return out


def _slow_finding(result: DnsResult) -> Finding | None:
    owner: dict[int, str] = {id(q): step_name(result, q) for q in result.queries}
    for rec in result.srv:
        for q in rec.target_queries:
            owner.setdefault(id(q), f"SRV {rec.service}")
    timed = result.queries + [q for rec in result.srv for q in rec.target_queries]
    slowest = max(timed, key=lambda q: q.rtt_ms, default=None)
    if slowest is None or slowest.rtt_ms <= SLOW_QUERY_MS:
        return None
    resolver = ", ".join(result.nameservers) or "the system resolver"
    return make_finding(ids.DNS_SLOW_RESOLVER, subject(result), check=CHECK, step=owner[id(slowest)],
                        evidence=[describe_query(slowest)], rtt_ms=f"{slowest.rtt_ms:.0f}",
                        query=f"{slowest.rdtype} {slowest.qname}", nameservers=resolver)


_RESOLVER_FAILED = frozenset({ids.DNS_FAILURE, ids.DNS_RESOLVER_SILENT})


def findings(result: DnsResult) -> list[Finding]:
    """Every finding the DNS result supports (each attached to the step of its question)."""
    name_finding = _name_finding(result)
    if name_finding is not None and name_finding.id in _RESOLVER_FAILED:
        return [name_finding]  # the resolver is the problem: nothing else about the name can be judged
    out = [name_finding] if name_finding is not None else []
    out += _srv_findings(result)
    out += _ipv6_findings(result)
    slow = _slow_finding(result)
    if slow is not None:
        out.append(slow)
    srv_steps = [step_name(result, q) for q in result.queries if q.rdtype == "SRV"]
    if not result.srv and (name_finding is None or name_finding.id != ids.DNS_NXDOMAIN) and srv_steps:
        out.append(make_finding(ids.DNS_NO_SRV, subject(result), check=CHECK, step=srv_steps[0],
                                name=result.name,
                                evidence=[describe_query(q) for q in result.queries if q.rdtype == "SRV"]))
    return out


def _question_step(result: DnsResult, q: QueryResult, name_finding: Finding | None) -> StepOutcome:
    step = step_name(result, q)
    answer = ", ".join(echo(r) for r in q.records) or q.outcome
    detail = answer + (f" (alias of {echo(q.canonical_name)})" if q.canonical_name else "")
    state = StepState.DONE
    carries_name_finding = name_finding is not None and name_finding.step == step
    if q.rdtype == "SRV" and q.outcome in ("nodata", "nxdomain") and not carries_name_finding:
        state, detail = StepState.SKIPPED, f"not published ({q.outcome})"
    elif q.outcome in FAILED_OUTCOMES and not carries_name_finding:
        why = f"no answer: {q.error or q.outcome}"
        if name_finding is not None:
            why += f" (the resolver failed: see {name_finding.step})"
        state, detail = StepState.UNDECIDED, why
    elif q.outcome == "nxdomain" and not carries_name_finding:
        if name_finding is not None and name_finding.id == ids.DNS_NXDOMAIN:
            state, detail = StepState.SKIPPED, f"{result.name} does not exist (see {name_finding.step})"
        else:
            state, detail = StepState.UNDECIDED, "NXDOMAIN while other questions about the name were answered"
    return StepOutcome(subject(result), CHECK, step, state=state, detail=detail,
                       duration_s=round(q.rtt_ms / 1000.0, 6))


def _ipv6_step(result: DnsResult, found: list[Finding]) -> StepOutcome:
    bad = [f for f in found if f.id == ids.DNS_IPV6_UNREACHABLE]
    detail = "; ".join(f.title for f in bad) or "every published IPv6 address answered"
    slowest = max((t.rtt_ms or 0.0 for t in result.ipv6_checks), default=0.0)
    return StepOutcome(subject(result), CHECK, IPV6_STEP, detail=detail,
                       duration_s=round(slowest / 1000.0, 6))


def name_facts(result: DnsResult) -> list[NameFact]:
    """NAME (resolved when the resolver answered for it) and the control name, when it was asked."""
    resolved = not result.unanswered
    detail = "" if resolved else "; ".join(describe_query(q) for q in result.queries[:2])
    facts = [NameFact(result.name, resolved, well_known=is_well_known(result.name), detail=detail)]
    control = result.control
    if control is not None:
        ok = control.outcome == "answer" and bool(control.records)
        facts.append(NameFact(control.qname, ok, well_known=is_well_known(control.qname),
                              detail=f"control question {describe_query(control)}"))
    return facts


def judge(result: DnsResult) -> Judgement:
    """Findings, one step per question (plus ``ipv6 reachability``) and the name facts."""
    found = findings(result)
    name_finding = next((f for f in found if f.id in (*_RESOLVER_FAILED, ids.DNS_NXDOMAIN,
                                                      ids.DNS_NO_ADDRESS)),
                        None)
    steps = [_question_step(result, q, name_finding) for q in result.queries]
    if result.ipv6_checks:
        steps.append(_ipv6_step(result, found))
    judgement = Judgement(findings=found, steps=steps)
    judgement.facts.names.extend(name_facts(result))
    return judgement


def triage(result: DnsResult) -> list[Finding]:
    """The findings of :func:`judge` alone."""
    return findings(result)
