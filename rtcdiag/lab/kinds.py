"""The NAT kinds the lab emulates and what RFC 5780 discovery must find behind each one."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rtcdiag.probes.nat_classify import Filtering, Legacy, Mapping


class NatKind(StrEnum):
    OPEN = "open"
    FULL_CONE = "full-cone"
    RESTRICTED_CONE = "restricted-cone"
    PORT_RESTRICTED = "port-restricted"
    SYMMETRIC = "symmetric"
    UDP_BLOCKED = "udp-blocked"
    UDP_FIREWALL = "udp-firewall"


@dataclass(frozen=True)
class KindSpec:
    kind: NatKind
    description: str
    translates: bool  # False: the client has a routed ("public") address, no NAT
    one_to_one: bool  # static 1:1 NAT to the router's second WAN address
    mapping: Mapping | None  # what discovery must find; None when UDP cannot pass at all
    filtering: Filtering | None
    legacy: Legacy
    hairpin: bool | None  # whether the emulation hairpins (None: not applicable)


SPECS: dict[NatKind, KindSpec] = {s.kind: s for s in (
    KindSpec(NatKind.OPEN, "no NAT, routed, no filtering (open internet)", False, False,
             Mapping.ENDPOINT_INDEPENDENT, Filtering.ENDPOINT_INDEPENDENT, Legacy.OPEN_INTERNET, None),
    KindSpec(NatKind.FULL_CONE, "static 1:1 SNAT+DNAT: endpoint-independent mapping and filtering",
             True, True,
             Mapping.ENDPOINT_INDEPENDENT, Filtering.ENDPOINT_INDEPENDENT, Legacy.FULL_CONE, True),
    KindSpec(NatKind.RESTRICTED_CONE,
             "1:1 NAT plus a dynamic set of contacted addresses: endpoint-independent mapping, "
             "address-dependent filtering", True, True,
             Mapping.ENDPOINT_INDEPENDENT, Filtering.ADDRESS_DEPENDENT, Legacy.RESTRICTED_CONE, True),
    KindSpec(NatKind.PORT_RESTRICTED,
             "plain masquerade: endpoint-independent mapping (port kept), address-and-port-dependent "
             "filtering", True, False,
             Mapping.ENDPOINT_INDEPENDENT, Filtering.ADDRESS_AND_PORT_DEPENDENT, Legacy.PORT_RESTRICTED_CONE,
             False),
    KindSpec(NatKind.SYMMETRIC,
             "masquerade fully-random: a new mapping per destination address and port", True, False,
             Mapping.ADDRESS_AND_PORT_DEPENDENT, Filtering.ADDRESS_AND_PORT_DEPENDENT, Legacy.SYMMETRIC,
             False),
    KindSpec(NatKind.UDP_BLOCKED, "masquerade, UDP dropped by the router, TCP allowed", True, False,
             None, None, Legacy.UDP_BLOCKED, None),
    KindSpec(NatKind.UDP_FIREWALL,
             "no NAT, stateful firewall drops unsolicited inbound (symmetric UDP firewall)", False, False,
             Mapping.ENDPOINT_INDEPENDENT, Filtering.ADDRESS_AND_PORT_DEPENDENT,
             Legacy.SYMMETRIC_UDP_FIREWALL, None),
)}
