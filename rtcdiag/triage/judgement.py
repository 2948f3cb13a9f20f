"""What judging one probe result gives: findings, the outcome of every step, and facts for other checks.

A check's ``judge`` returns a :class:`Judgement`; the report builder turns the steps into statuses (pass,
warn, fail, skip, inconclusive) and testcases in one place, from the findings attached to each step by its
subject, check and step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from rtcdiag.triage.finding import Finding, Identity, Subject


class StepState(StrEnum):
    DONE = "done"  # the step ran; its status comes from the findings attached to it
    SKIPPED = "skipped"  # the step did not run; ``detail`` says why (e.g. an earlier step failed)
    UNDECIDED = "undecided"  # the step ran but the evidence cannot decide (inconclusive)


@dataclass
class StepOutcome:
    """One step of one check about one subject: a row of the report, a JUnit testcase."""

    subject: Subject
    check: str
    step: str
    state: StepState = StepState.DONE
    detail: str = ""  # one line: what happened, or why the step was skipped / undecided
    duration_s: float = 0.0


@dataclass(frozen=True)
class RelayFact:
    """Did data flow through a relay of this server (TURN data path or an ICE relay pair)?"""

    server: str  # the host the check measured; ``rtcdiag check`` relabels it with the server's label
    works: bool
    evidence: str
    where: Identity | None = None  # the endpoint measured (what an EXPECT-RELAY over it depends on)


@dataclass(frozen=True)
class RttFact:
    server: str
    what: str  # e.g. "STUN binding udp/3478"
    rtt_ms: float


# Names any working resolver on the internet resolves (the public STUN servers ``rtcdiag check`` uses by
# default): when even these fail, DNS itself does not work here.
WELL_KNOWN_NAMES = frozenset({"stun.l.google.com", "stun.cloudflare.com", "stun1.l.google.com",
                              "global.stun.twilio.com", "example.com", "example.org"})


def is_well_known(host: str) -> bool:
    return host.lower().rstrip(".") in WELL_KNOWN_NAMES


@dataclass(frozen=True)
class NameFact:
    """One host name lookup: did it resolve? ``well_known`` names resolve from any working DNS."""

    host: str
    resolved: bool
    well_known: bool = False
    detail: str = ""


@dataclass(frozen=True)
class Explained:
    """``root`` explains ``finding`` though no layer rule of the diagnosis can see it: a root cause found by
    putting several evidence files of one call together (rtcdiag.triage.correlate), the findings each file
    made on its own folded under it."""

    root: Finding
    finding: Finding


@dataclass
class Facts:
    """What a check measured that other checks and the diagnosis need."""

    relays: list[RelayFact] = field(default_factory=list)
    rtts: list[RttFact] = field(default_factory=list)
    names: list[NameFact] = field(default_factory=list)
    nat_label: str | None = None  # RFC 3489 label when the NAT check reached a verdict
    inconclusive: bool = False  # the evidence could not decide (exit 3 unless an error explains more)
    explained: list[Explained] = field(default_factory=list)
    # Evidence files (rtcdiag analyze) holding nothing a verdict can rest on (an empty dump, a capture without
    # WebRTC traffic, a coturn log without an allocation or a refusal), and those that hold something. A
    # blank file decides nothing and contradicts nothing: the run is inconclusive for it only when no file
    # of the run holds anything (``undecided``).
    blank: list[str] = field(default_factory=list)
    judged: list[str] = field(default_factory=list)

    @property
    def undecided(self) -> bool:
        """Exit 3 unless an error explains more: something seen could not be decided, or no file given held
        anything to judge."""
        return self.inconclusive or (bool(self.blank) and not self.judged)

    def extend(self, other: Facts) -> None:
        self.relays += other.relays
        self.rtts += other.rtts
        self.names += other.names
        self.explained += other.explained
        self.blank += other.blank
        self.judged += other.judged
        self.nat_label = self.nat_label or other.nat_label
        self.inconclusive = self.inconclusive or other.inconclusive


@dataclass
class Judgement:
    findings: list[Finding] = field(default_factory=list)
    steps: list[StepOutcome] = field(default_factory=list)
    facts: Facts = field(default_factory=Facts)

    def extend(self, other: Judgement) -> None:
        self.findings += other.findings
        self.steps += other.steps
        self.facts.extend(other.facts)

    @staticmethod
    def merge(parts: list[Judgement]) -> Judgement:
        merged = Judgement()
        for part in parts:
            merged.extend(part)
        return merged


def assign_entry(judgement: Judgement, entry: str, suffix: str = "") -> None:
    """Everything ``judgement`` is about belongs to the server entry ``entry`` (its findings, steps, the
    identities its consequences need and its relay facts): the diagnosis keeps one entry's causes to
    that entry. ``suffix`` (e.g. ``(#2)``) is added to server labels that lack it, so that two entries on
    one host stay apart in testcases and refs."""

    def mine(subject: Subject) -> Subject:
        server = subject.server
        if suffix and not server.endswith(suffix):
            server = f"{server} {suffix}"
        return replace(subject, server=server, entry=entry)

    for finding in judgement.findings:
        finding.subject = mine(finding.subject)
        if finding.basis is not None:
            finding.basis = tuple(replace(needed, entry=entry) for needed in finding.basis)
    judgement.steps = [replace(step, subject=mine(step.subject)) for step in judgement.steps]
    judgement.facts.relays = [replace(fact, where=replace(fact.where, entry=entry)) if fact.where else fact
                              for fact in judgement.facts.relays]
