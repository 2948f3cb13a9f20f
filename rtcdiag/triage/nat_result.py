"""The vocabulary of the NAT judgement: its check, subjects and step names, the verdict's types (Source,
Consensus, NatTriage) and what each NAT type means for calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rtcdiag.probes.nat import NatRun
from rtcdiag.probes.nat_classify import Filtering, Legacy, Mapping
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Finding, Subject, make_finding

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


def run_label(run: NatRun) -> str:
    return f"{run.server} (run {run.run})"


def run_subject(run: NatRun) -> Subject:
    """One discovery run's server: the URI as given, its host and port, and the transport."""
    return Subject(server=run.server, host=run.host, port=run.port, transport=run.transport)


def step_name(name: str, run: NatRun) -> str:
    return f"{name} #{run.run}"


def yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def verdict_finding(finding_id: str, *, evidence: list[str], **params: Any) -> Finding:
    """A finding about the NAT in front of this machine: the ``verdict`` step of the local network."""
    return make_finding(finding_id, LOCAL_NETWORK, check=CHECK, step=VERDICT, evidence=evidence, **params)
