"""Expectations from an ``rtcdiag.toml`` (``expect_relay``, ``max_rtt_ms``, ``min_nat``) -> pass/fail.

The check command gathers the measured facts per server (did a relay work, which round-trip times were
seen) and for the network (the NAT label); this module only compares them with the thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rtcdiag.config import NAT_ORDER, Expectations, normalise_nat
from rtcdiag.report.model import CheckCase, Status
from rtcdiag.triage.finding import Finding, make_finding


@dataclass
class ServerFacts:
    """What the probes measured for one server (None / empty = not measured)."""

    subject: str  # the server as shown in the report
    relay_ok: bool | None = None
    relay_evidence: list[str] = field(default_factory=list)  # why relay_ok is what it is
    rtts_ms: list[tuple[str, float]] = field(default_factory=list)  # ("STUN binding udp", 12.3)


@dataclass
class Outcome:
    findings: list[Finding] = field(default_factory=list)
    checks: list[CheckCase] = field(default_factory=list)


_CASE_NAMES = {"expect_relay": "expect/relay", "max_rtt_ms": "expect/rtt", "min_nat": "expect/nat"}


def _unchecked(name: str, subject: str, reason: str) -> tuple[Finding, CheckCase]:
    finding = make_finding("EXPECT-UNCHECKED", subject=subject, name=name, reason=reason, evidence=[reason])
    return finding, CheckCase(suite=subject, name=_CASE_NAMES[name], status=Status.WARN,
                              message=finding.title, finding_ids=[finding.id])


def _relay(expect: Expectations, facts: ServerFacts, out: Outcome) -> None:
    if not expect.expect_relay:
        return
    if facts.relay_ok is None:
        finding, case = _unchecked("expect_relay", facts.subject,
                                   "no TURN or ICE check ran for this server (is it a turn: URL?)")
        out.findings.append(finding)
        out.checks.append(case)
        return
    if facts.relay_ok:
        out.checks.append(CheckCase(suite=facts.subject, name="expect/relay", status=Status.PASS,
                                    message="; ".join(facts.relay_evidence) or "relay works"))
        return
    reason = facts.relay_evidence[0] if facts.relay_evidence else "no relay worked"
    finding = make_finding("EXPECT-RELAY", subject=facts.subject, reason=reason,
                           evidence=facts.relay_evidence or [reason])
    out.findings.append(finding)
    out.checks.append(CheckCase(suite=facts.subject, name="expect/relay", status=Status.FAIL,
                                message=finding.title, finding_ids=[finding.id]))


def _rtt(expect: Expectations, facts: ServerFacts, out: Outcome) -> None:
    limit = expect.max_rtt_ms
    if limit is None:
        return
    if not facts.rtts_ms:
        finding, case = _unchecked("max_rtt_ms", facts.subject, "no round-trip time was measured")
        out.findings.append(finding)
        out.checks.append(case)
        return
    what, worst = max(facts.rtts_ms, key=lambda item: item[1])
    evidence = [f"{name}: {rtt:.1f} ms" for name, rtt in facts.rtts_ms]
    if worst <= limit:
        out.checks.append(CheckCase(suite=facts.subject, name="expect/rtt", status=Status.PASS,
                                    message=f"worst {worst:.1f} ms ({what}) <= {limit:g} ms"))
        return
    finding = make_finding("EXPECT-RTT", subject=facts.subject, rtt_ms=f"{worst:.1f}", limit_ms=f"{limit:g}",
                           what=what, evidence=evidence)
    out.findings.append(finding)
    out.checks.append(CheckCase(suite=facts.subject, name="expect/rtt", status=Status.FAIL,
                                message=finding.title, finding_ids=[finding.id]))


def evaluate_server(expect: Expectations, facts: ServerFacts) -> Outcome:
    out = Outcome()
    _relay(expect, facts, out)
    _rtt(expect, facts, out)
    return out


def evaluate_nat(expect: Expectations, nat_label: str | None, *, subject: str = "local network",
                 evidence: list[str] | None = None) -> Outcome:
    """``min_nat``: the measured RFC 3489 label must be as permissive as the wanted one, or more."""
    out = Outcome()
    wanted = expect.min_nat
    if wanted is None:
        return out
    found = normalise_nat(nat_label) if nat_label else None
    if found is None:
        reason = (f"the NAT check gave no usable label ({nat_label})" if nat_label
                  else "the NAT check did not run or was inconclusive")
        finding, case = _unchecked("min_nat", subject, reason)
        out.findings.append(finding)
        out.checks.append(case)
        return out
    if NAT_ORDER.index(found) <= NAT_ORDER.index(wanted):
        out.checks.append(CheckCase(suite=subject, name="expect/nat", status=Status.PASS,
                                    message=f"{found} is at least {wanted}"))
        return out
    finding = make_finding("EXPECT-NAT", subject=subject, found=found, wanted=wanted,
                           evidence=evidence or [f"NAT classified as {nat_label}"])
    out.findings.append(finding)
    out.checks.append(CheckCase(suite=subject, name="expect/nat", status=Status.FAIL, message=finding.title,
                                finding_ids=[finding.id]))
    return out
