"""Expectations from an ``rtcdiag.toml`` (``expect_relay``, ``max_rtt_ms``, ``min_nat``) -> findings.

A judge over the facts the other checks measured (did a relay of this server carry data, which round-trip
times were seen, the NAT label): it only compares them with the thresholds, one step per expectation
(``expect/relay``, ``expect/rtt``, ``expect/nat``). The config reader builds :class:`Expectations`; this
module does not read the config.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtcdiag.triage import ids
from rtcdiag.triage.finding import Identity, Subject, make_finding, needing
from rtcdiag.triage.judgement import Facts, Judgement, StepOutcome

CHECK = "expect"
# RFC 3489 labels from the most to the least permissive (for ``min_nat``).
NAT_ORDER = ("open", "full-cone", "restricted", "port-restricted", "symmetric", "udp-blocked")
NAT_ALIASES = {
    "open-internet": "open", "no-nat": "open", "none": "open",
    "full-cone": "full-cone", "fullcone": "full-cone",
    "restricted": "restricted", "restricted-cone": "restricted", "address-restricted": "restricted",
    "port-restricted": "port-restricted", "port-restricted-cone": "port-restricted",
    # No NAT but inbound filtered per remote endpoint: as strict as port-restricted for a peer.
    "symmetric": "symmetric", "symmetric-udp-firewall": "port-restricted",
    "udp-blocked": "udp-blocked", "blocked": "udp-blocked",
}


def normalise_nat(label: str) -> str | None:
    """``"port-restricted cone"``, ``"Port_Restricted"`` ... -> ``"port-restricted"``; None if unknown."""
    return NAT_ALIASES.get(label.strip().lower().replace("_", "-").replace(" ", "-"))


@dataclass(frozen=True)
class Expectations:
    """Pass/fail thresholds; None = not asked for."""

    expect_relay: bool | None = None
    max_rtt_ms: float | None = None
    min_nat: str | None = None  # one of NAT_ORDER

    def merged(self, override: Expectations) -> Expectations:
        return Expectations(
            expect_relay=override.expect_relay if override.expect_relay is not None else self.expect_relay,
            max_rtt_ms=override.max_rtt_ms if override.max_rtt_ms is not None else self.max_rtt_ms,
            min_nat=override.min_nat if override.min_nat is not None else self.min_nat,
        )

    @property
    def empty(self) -> bool:
        return self.expect_relay is None and self.max_rtt_ms is None and self.min_nat is None


def _unchecked(out: Judgement, subject: Subject, step: str, name: str, reason: str,
               basis: tuple[Identity, ...] | None = None) -> None:
    out.findings.append(needing(make_finding(ids.EXPECT_UNCHECKED, subject, check=CHECK, step=step, name=name,
                                             reason=reason, evidence=[reason]), basis))
    out.steps.append(StepOutcome(subject, CHECK, step, detail=reason))


def _relay(expect: Expectations, subject: Subject, facts: Facts, out: Judgement) -> None:
    if not expect.expect_relay:
        return
    relays = [r for r in facts.relays if r.server == subject.server]
    if not relays:  # what the config asks of this server, not a failure of it: nothing explains it
        _unchecked(out, subject, "relay", "expect_relay",
                   "no TURN or ICE check ran for this server (is it a turn: URL?)", basis=())
        return
    if all(r.works for r in relays):
        out.steps.append(StepOutcome(subject, CHECK, "relay", detail="; ".join(r.evidence for r in relays)))
        return
    failed = [r for r in relays if not r.works]
    # The relays that failed are what this expectation needed: a root cause of one of them explains it.
    needed = tuple(r.where for r in failed if r.where is not None)
    out.findings.append(needing(make_finding(
        ids.EXPECT_RELAY, subject, check=CHECK, step="relay", server=subject.server,
        reason=failed[0].evidence,
        failed=len(failed), total=len(relays),
        evidence=[f"{'works' if r.works else 'FAILED'}: {r.evidence}" for r in relays]),
        needed if len(needed) == len(failed) else None))
    out.steps.append(StepOutcome(subject, CHECK, "relay"))


def _rtt(expect: Expectations, subject: Subject, facts: Facts, out: Judgement) -> None:
    limit = expect.max_rtt_ms
    if limit is None:
        return
    rtts = [r for r in facts.rtts if r.server == subject.server]
    if not rtts:
        _unchecked(out, subject, "rtt", "max_rtt_ms", "no round-trip time was measured")
        return
    worst = max(rtts, key=lambda r: r.rtt_ms)
    if worst.rtt_ms <= limit:
        out.steps.append(StepOutcome(subject, CHECK, "rtt",
                                     detail=f"worst {worst.rtt_ms:.1f} ms ({worst.what}) <= {limit:g} ms"))
        return
    out.findings.append(needing(make_finding(  # a measurement, not a failure: nothing else explains it
        ids.EXPECT_RTT, subject, check=CHECK, step="rtt", server=subject.server, rtt_ms=f"{worst.rtt_ms:.1f}",
        limit_ms=f"{limit:g}", what=worst.what, evidence=[f"{r.what}: {r.rtt_ms:.1f} ms" for r in rtts]),
        ()))
    out.steps.append(StepOutcome(subject, CHECK, "rtt"))


def judge_server(expect: Expectations, subject: Subject, facts: Facts) -> Judgement:
    """``expect_relay`` and ``max_rtt_ms`` for one server (facts are matched by ``subject.server``: the
    runner labels each fact with the server it measured)."""
    out = Judgement()
    _relay(expect, subject, facts, out)
    _rtt(expect, subject, facts, out)
    return out


def judge_nat(expect: Expectations, nat_label: str | None, subject: Subject) -> Judgement:
    """``min_nat``: the measured RFC 3489 label must be as permissive as the wanted one, or more."""
    out = Judgement()
    wanted = expect.min_nat
    if wanted is None:
        return out
    found = normalise_nat(nat_label) if nat_label else None
    if found is None:
        reason = (f"the NAT check gave no usable label ({nat_label})" if nat_label
                  else "the NAT check did not run or was inconclusive")
        _unchecked(out, subject, "nat", "min_nat", reason)
        return out
    if NAT_ORDER.index(found) <= NAT_ORDER.index(wanted):
        out.steps.append(StepOutcome(subject, CHECK, "nat", detail=f"{found} is at least {wanted}"))
        return out
    out.findings.append(make_finding(ids.EXPECT_NAT, subject, check=CHECK, step="nat", found=found,
                                     wanted=wanted, evidence=[f"NAT classified as {nat_label}"]))
    out.steps.append(StepOutcome(subject, CHECK, "nat"))
    return out
