"""Triage rules for the DNS probe: DnsResult -> findings and one check per question.

Rules:
- every query timed out / SERVFAIL -> DNS-FAILURE (the resolver itself does not work);
- NXDOMAIN for the name and for every SRV name -> DNS-NXDOMAIN;
- no A/AAAA and no SRV record -> DNS-NO-ADDRESS;
- an SRV target without A/AAAA -> DNS-SRV-TARGET-NO-ADDRESS; an SRV target that is a CNAME ->
  DNS-SRV-TARGET-CNAME (RFC 2782);
- an IPv6 address where every reachability test failed -> DNS-IPV6-UNREACHABLE;
- the slowest query above SLOW_QUERY_MS -> DNS-SLOW-RESOLVER; no SRV at all -> DNS-NO-SRV (info).
"""

from __future__ import annotations

from typing import Any

from rtcdiag.probes.dns import DnsResult, Ipv6Check, QueryResult
from rtcdiag.report.model import CheckCase, Status
from rtcdiag.triage.finding import Finding, Severity, make_finding

SLOW_QUERY_MS = 500.0  # a query slower than this delays ICE gathering noticeably
FAILED_OUTCOMES = ("timeout", "servfail", "error")


def describe_query(q: QueryResult) -> str:
    answer = ", ".join(q.records) if q.records else q.outcome
    alias = f" (alias of {q.canonical_name})" if q.canonical_name else ""
    error = f": {q.error}" if q.error and not q.records else ""
    return f"{q.rdtype} {q.qname}{alias} -> {answer}{error} [{q.rtt_ms:.1f} ms]"


def _ipv6_findings(result: DnsResult) -> list[Finding]:
    by_address: dict[str, list[Ipv6Check]] = {}
    for check in result.ipv6_checks:
        by_address.setdefault(check.address, []).append(check)
    out: list[Finding] = []
    for address, tests in by_address.items():
        if any(t.reachable for t in tests):
            continue
        evidence = [f"{t.transport.upper()} {address} port {t.port} ({t.source}): {t.detail}" for t in tests]
        sources = sorted({t.source for t in tests})
        tested = ", ".join(f"{t.transport.upper()} {t.port}" for t in tests)
        out.append(make_finding("DNS-IPV6-UNREACHABLE", subject=f"dns:{result.name}", evidence=evidence,
                                address=address, source=" and ".join(sources), tests=tested))
    return out


def triage(result: DnsResult) -> list[Finding]:
    """Every finding the DNS result supports."""
    subj = f"dns:{result.name}"
    evidence = [describe_query(q) for q in result.queries]
    resolver = ", ".join(result.nameservers) or "the system resolver"
    if result.queries and all(q.outcome in FAILED_OUTCOMES for q in result.queries):
        detail = f"no usable answer from {resolver} ({result.queries[0].error or result.queries[0].outcome})"
        return [make_finding("DNS-FAILURE", subject=subj, evidence=evidence, host=result.name, detail=detail)]
    out: list[Finding] = []
    if result.queries and all(q.outcome == "nxdomain" for q in result.queries):
        out.append(make_finding("DNS-NXDOMAIN", subject=subj, evidence=evidence, name=result.name))
    elif not result.ipv4 and not result.ipv6 and not result.srv:
        out.append(make_finding("DNS-NO-ADDRESS", subject=subj, evidence=evidence, name=result.name))
    for rec in result.srv:
        if rec.target == ".":
            continue
        rec_evidence = [f"SRV {rec.service}.{result.name}: "
                        f"{rec.priority} {rec.weight} {rec.port} {rec.target}"]
        rec_evidence += [describe_query(q) for q in rec.target_queries]
        values: dict[str, Any] = {"service": rec.service, "name": result.name, "target": rec.target,
                                     "port": rec.port}
        if not rec.addresses:
            out.append(make_finding("DNS-SRV-TARGET-NO-ADDRESS", subject=f"dns:{rec.service}.{result.name}",
                                    evidence=rec_evidence, **values))
        if rec.target_alias_of:
            out.append(make_finding("DNS-SRV-TARGET-CNAME", subject=f"dns:{rec.service}.{result.name}",
                                    evidence=rec_evidence, canonical=rec.target_alias_of, **values))
    out.extend(_ipv6_findings(result))
    timed = result.queries + [q for rec in result.srv for q in rec.target_queries]
    slowest = max(timed, key=lambda q: q.rtt_ms, default=None)
    if slowest is not None and slowest.rtt_ms > SLOW_QUERY_MS:
        out.append(make_finding("DNS-SLOW-RESOLVER", subject=subj, evidence=[describe_query(slowest)],
                                rtt_ms=f"{slowest.rtt_ms:.0f}", query=f"{slowest.rdtype} {slowest.qname}",
                                nameservers=resolver))
    nxdomain = any(f.id == "DNS-NXDOMAIN" for f in out)
    if not result.srv and not nxdomain:
        out.append(make_finding("DNS-NO-SRV", subject=subj, name=result.name,
                                evidence=[describe_query(q) for q in result.queries if q.rdtype == "SRV"]))
    return out


def checks(result: DnsResult, findings: list[Finding]) -> list[CheckCase]:
    """One case per question asked of NAME (A, AAAA, each SRV service) plus the IPv6 reachability test."""
    suite = f"dns:{result.name}"
    cases: list[CheckCase] = []
    for q in result.queries:
        service = q.qname[: -len(result.name) - 1] if q.rdtype == "SRV" else ""
        subjects = {f"dns:{q.qname}"} if service else {suite}
        related = [f for f in findings if f.subject in subjects and _relevant(f, q)]
        if q.outcome in FAILED_OUTCOMES or any(f.severity is Severity.ERROR for f in related):
            status = Status.FAIL
        elif any(f.severity is Severity.WARNING for f in related):
            status = Status.WARN
        elif q.outcome in ("nodata", "nxdomain"):
            status = Status.SKIP if service else Status.PASS
        else:
            status = Status.PASS
        answer = ", ".join(q.records) or q.outcome
        cases.append(CheckCase(suite=suite, name=f"{q.rdtype} {service or result.name}".strip(),
                               status=status, message=answer, duration_s=round(q.rtt_ms / 1000.0, 4),
                               finding_ids=[f.id for f in related]))
    if result.ipv6_checks:
        ipv6 = [f for f in findings if f.id == "DNS-IPV6-UNREACHABLE"]
        cases.append(CheckCase(suite=suite, name="ipv6 reachability",
                               status=Status.WARN if ipv6 else Status.PASS,
                               message="; ".join(f.title for f in ipv6) or "every IPv6 address answered",
                               finding_ids=[f.id for f in ipv6]))
    return cases


def _relevant(finding: Finding, q: QueryResult) -> bool:
    if q.rdtype == "SRV":
        return finding.id.startswith("DNS-SRV-")
    return finding.id in ("DNS-NXDOMAIN", "DNS-NO-ADDRESS", "DNS-FAILURE")
