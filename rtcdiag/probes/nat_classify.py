"""NAT behaviour vocabulary and the pure classification rules of RFC 5780 §4.3-§4.4 (terms from RFC 4787).

Everything here is a function of recorded observations (addresses seen, replies received or not), so it is
unit-tested without a network. The probe (``rtcdiag.probes.nat``) gathers the observations; triage turns the
verdict into findings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

Endpoint = tuple[str, int]  # (ip, port)

# A missing reply counts as "filtered" only when loss explains it with probability below this (per test).
SILENCE_FALSE_NEGATIVE_MAX = 1e-3


class Mapping(StrEnum):
    """RFC 4787 §4.1 mapping behaviour."""

    ENDPOINT_INDEPENDENT = "endpoint-independent"
    ADDRESS_DEPENDENT = "address-dependent"
    ADDRESS_AND_PORT_DEPENDENT = "address-and-port-dependent"
    # Not endpoint-independent, measured only across server IPs (no two servers shared an IP, so whether the
    # port matters too is untested): RFC 5128 §2.4's "endpoint-dependent mapping". Symmetric either way.
    ENDPOINT_DEPENDENT = "endpoint-dependent"
    UNKNOWN = "unknown"

    @property
    def dependent(self) -> bool:
        """A new mapping per destination: the classic "symmetric" NAT (RFC 4787 §4.1, RFC 3489 §5)."""
        return self in (Mapping.ADDRESS_DEPENDENT, Mapping.ADDRESS_AND_PORT_DEPENDENT,
                        Mapping.ENDPOINT_DEPENDENT)


class Filtering(StrEnum):
    """RFC 4787 §5 filtering behaviour."""

    ENDPOINT_INDEPENDENT = "endpoint-independent"
    ADDRESS_DEPENDENT = "address-dependent"
    ADDRESS_AND_PORT_DEPENDENT = "address-and-port-dependent"
    UNKNOWN = "unknown"


class Legacy(StrEnum):
    """The classic RFC 3489 §5 labels (obsolete as a model, still what people ask for)."""

    OPEN_INTERNET = "open internet"
    FULL_CONE = "full cone"
    RESTRICTED_CONE = "restricted cone"
    PORT_RESTRICTED_CONE = "port-restricted cone"
    SYMMETRIC = "symmetric"
    SYMMETRIC_UDP_FIREWALL = "symmetric UDP firewall"
    UDP_BLOCKED = "UDP blocked"
    UNKNOWN = "unknown"


class NatTestOutcome(StrEnum):
    """What one RFC 5780 test request got back."""

    REPLIED = "replied"
    SILENT = "silent"  # no reply, and loss cannot plausibly explain it (strong evidence of filtering)
    UNSURE = "unsure"  # no reply, but the measured loss could explain it
    NOT_RUN = "not-run"


@dataclass(frozen=True)
class MappingVerdict:
    behaviour: Mapping
    nat_present: bool | None  # False when the mapped address is the local one (RFC 5780 §4.3)
    reason: str


@dataclass(frozen=True)
class FilteringVerdict:
    behaviour: Filtering
    reason: str


def classify_mapping(local: Endpoint | None, test1: Endpoint | None, test2: Endpoint | None,
                     test3: Endpoint | None) -> MappingVerdict:
    """RFC 5780 §4.3: compare the mapped addresses seen by the primary and the alternate server addresses.

    ``test1``: mapped address from the primary address; ``test2``: from the alternate IP, primary port;
    ``test3``: from the alternate IP and port. ``None`` means that test got no answer.
    """
    if test1 is None:
        return MappingVerdict(Mapping.UNKNOWN, None, "no answer from the primary address (test I)")
    if local is not None and test1 == local:
        return MappingVerdict(Mapping.ENDPOINT_INDEPENDENT, False,
                              "mapped address equals the local address: no NAT (RFC 5780 §4.3)")
    if test2 is None:
        return MappingVerdict(Mapping.UNKNOWN, True, "no answer from the alternate IP (test II)")
    if test2 == test1:
        return MappingVerdict(Mapping.ENDPOINT_INDEPENDENT, True,
                              f"same mapping {_fmt(test1)} towards both server IPs")
    if test3 is None:
        return MappingVerdict(Mapping.UNKNOWN, True, "no answer from the alternate IP and port (test III)")
    if test3 == test2:
        return MappingVerdict(Mapping.ADDRESS_DEPENDENT, True,
                              f"mapping changed with the server IP ({_fmt(test1)} -> {_fmt(test2)}) "
                              "but not with its port")
    return MappingVerdict(Mapping.ADDRESS_AND_PORT_DEPENDENT, True,
                          f"a new mapping per server address and port ({_fmt(test1)}, {_fmt(test2)}, "
                          f"{_fmt(test3)})")


def classify_mapping_across_servers(local: Endpoint | None,
                                    seen: Sequence[tuple[Endpoint, Endpoint | None]]) -> MappingVerdict:
    """Mapping from ordinary STUN servers (no RFC 5780): one local socket asked every server; ``seen`` is
    (server ip:port, mapped address or None) per server.

    Same mapping towards servers at >= 2 IPs: endpoint-independent (RFC 4787 §4.1). Different mappings:
    dependent; two servers on one IP with different ports tell address-dependent from address-and-port-
    dependent, else it is "endpoint-dependent" (RFC 5128 §2.4). The mapped address equal to the local one:
    no NAT (RFC 5780 §4.3), whatever the number of servers.
    """
    answered = [(server, mapped) for server, mapped in seen if mapped is not None]
    if not answered:
        return MappingVerdict(Mapping.UNKNOWN, None, "no STUN server answered")
    if local is not None and all(mapped == local for _, mapped in answered):
        return MappingVerdict(Mapping.ENDPOINT_INDEPENDENT, False,
                              "mapped address equals the local address: no NAT (RFC 5780 §4.3)")
    nat_present = None if local is None else (True if any(m[0] != local[0] for _, m in answered) else None)
    ips = sorted({server[0] for server, _ in answered})
    if len(ips) < 2:
        return MappingVerdict(Mapping.UNKNOWN, nat_present,
                              "the mapping behaviour needs answers from STUN servers at 2 or more IP "
                              f"addresses; only {', '.join(ips)} answered")
    mappings = list(dict.fromkeys(mapped for _, mapped in answered))
    if len(mappings) == 1:
        return MappingVerdict(Mapping.ENDPOINT_INDEPENDENT, nat_present,
                              f"same mapping {_fmt(mappings[0])} towards {len(answered)} servers at "
                              f"{len(ips)} IP addresses")
    shown = ", ".join(f"{_fmt(server)} -> {_fmt(mapped)}" for server, mapped in answered)
    pairs = [(a, b) for i, a in enumerate(answered) for b in answered[i + 1:]
             if a[0][0] == b[0][0] and a[0][1] != b[0][1]]
    if any(a[1] != b[1] for a, b in pairs):
        return MappingVerdict(Mapping.ADDRESS_AND_PORT_DEPENDENT, True,
                              f"a new mapping per server address and port ({shown})")
    if pairs:
        return MappingVerdict(Mapping.ADDRESS_DEPENDENT, True,
                              f"the mapping changed with the server IP but not with its port ({shown})")
    return MappingVerdict(Mapping.ENDPOINT_DEPENDENT, True,
                          f"a new mapping per server address ({shown}); no two servers share an IP, so "
                          "whether the port matters too was not tested")


def classify_filtering(test1: NatTestOutcome, test2: NatTestOutcome,
                       test3: NatTestOutcome) -> FilteringVerdict:
    """RFC 5780 §4.4: which CHANGE-REQUEST replies get through an established mapping.

    ``test2`` asks for a reply from the other IP and port, ``test3`` from the other port only.
    Filtering is hierarchical (RFC 4787 §5): whatever passes test II passes test III, so a strongly
    silent test III alone proves address-and-port-dependent filtering.
    """
    if test1 is not NatTestOutcome.REPLIED:
        return FilteringVerdict(Filtering.UNKNOWN, "no answer to the plain Binding request (test I)")
    if test2 is NatTestOutcome.REPLIED:
        return FilteringVerdict(Filtering.ENDPOINT_INDEPENDENT,
                                "a reply from the other server IP and port got through (test II)")
    if test3 is NatTestOutcome.SILENT:
        return FilteringVerdict(Filtering.ADDRESS_AND_PORT_DEPENDENT,
                                "no reply from another port of the same server IP got through (test III)")
    if test3 is NatTestOutcome.REPLIED and test2 is NatTestOutcome.SILENT:
        return FilteringVerdict(Filtering.ADDRESS_DEPENDENT,
                                "a reply from another port got through (test III), "
                                "none from another IP (test II)")
    return FilteringVerdict(Filtering.UNKNOWN,
                            "a missing reply could be packet loss "
                            f"(test II {test2.value}, test III {test3.value}); repeat or use another network")


def legacy_label(udp_answered: bool, mapping: MappingVerdict, filtering: FilteringVerdict) -> Legacy:
    """Map the RFC 4787 behaviours onto the RFC 3489 §10.1 decision tree."""
    if not udp_answered:
        return Legacy.UDP_BLOCKED
    if mapping.nat_present is False:
        if filtering.behaviour is Filtering.ENDPOINT_INDEPENDENT:
            return Legacy.OPEN_INTERNET
        if filtering.behaviour is Filtering.UNKNOWN:
            return Legacy.UNKNOWN
        return Legacy.SYMMETRIC_UDP_FIREWALL
    if mapping.behaviour.dependent:
        return Legacy.SYMMETRIC
    if mapping.behaviour is Mapping.UNKNOWN:
        return Legacy.UNKNOWN
    return {
        Filtering.ENDPOINT_INDEPENDENT: Legacy.FULL_CONE,
        Filtering.ADDRESS_DEPENDENT: Legacy.RESTRICTED_CONE,
        Filtering.ADDRESS_AND_PORT_DEPENDENT: Legacy.PORT_RESTRICTED_CONE,
        Filtering.UNKNOWN: Legacy.UNKNOWN,
    }[filtering.behaviour]


# --- loss: when does silence mean "filtered"? ------------------------------------------------------------

def loss_upper_bound(sent: int, answered: int, confidence: float = 0.95) -> float:
    """Upper confidence bound of the round-trip loss rate from requests ``sent`` and ``answered``.

    Clopper-Pearson style for the "all answered" case (the rule of three: 1 - alpha^(1/n)); otherwise the
    observed rate plus a normal-approximation margin. With no samples the loss is unknown (1.0).
    """
    if sent <= 0:
        return 1.0
    answered = max(0, min(answered, sent))
    lost = sent - answered
    alpha = 1.0 - confidence
    if lost == 0:
        return 1.0 - math.pow(alpha, 1.0 / sent)
    rate = lost / sent
    margin = 1.96 * math.sqrt(rate * (1.0 - rate) / sent) + 1.0 / sent
    return min(1.0, rate + margin)


def silence_probability(loss: float, attempts: int) -> float:
    """Probability that ``attempts`` independent requests all got lost (request or reply) at round-trip
    loss rate ``loss``."""
    if attempts <= 0:
        return 1.0
    return math.pow(loss, attempts)


def silence_outcome(loss: float, attempts: int,
                    threshold: float = SILENCE_FALSE_NEGATIVE_MAX) -> NatTestOutcome:
    """A test without reply is SILENT (filtered) only when loss explains it with probability < threshold."""
    return NatTestOutcome.SILENT if silence_probability(loss, attempts) < threshold else NatTestOutcome.UNSURE


def attempts_needed(loss: float, threshold: float = SILENCE_FALSE_NEGATIVE_MAX) -> int:
    """Requests without reply needed before silence is strong evidence at round-trip loss ``loss``."""
    if loss <= 0.0:
        return 1
    if loss >= 1.0:
        return 10**6
    return max(1, math.ceil(math.log(threshold) / math.log(loss)))


def _fmt(endpoint: Endpoint) -> str:
    ip, port = endpoint
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
