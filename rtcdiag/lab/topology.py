"""Names and addresses of one lab instance. Documentation (RFC 5737) and private (RFC 1918) ranges only,
configured only inside the lab's own namespaces."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rtcdiag.lab.kinds import SPECS, NatKind

# Interface names inside the namespaces (namespaces isolate them, so they never collide).
CLIENT_IF = "eth0"
ROUTER_LAN_IF = "lan0"
ROUTER_WAN_IF = "wan0"
PUBLIC_IF = "eth0"

WAN_PREFIX = 24  # the lab's "internet" is 203.0.113.0/24, TEST-NET-3 (RFC 5737)
ROUTER_WAN_IP = "203.0.113.1"
ROUTER_WAN_1TO1_IP = "203.0.113.2"  # second router address for the static 1:1 NAT kinds
STUN_PRIMARY_IP = "203.0.113.10"
STUN_ALTERNATE_IP = "203.0.113.11"
STUN_PORT = 3478  # RFC 8489 §8 default; alternate port is STUN_PORT + 1 (coturn's default)
STUN_ALT_PORT = STUN_PORT + 1
# Ordinary (single-address, no RFC 5780) coturns at other public addresses: `nat-type --servers` reads the
# mapping from them; two share 203.0.113.20 with different ports (address vs address-and-port dependence).
PLAIN_STUN = (("203.0.113.20", STUN_PORT), ("203.0.113.21", STUN_PORT), ("203.0.113.20", STUN_PORT + 2))
# Vovida stund (RFC 3489, CHANGED-ADDRESS on its second IP): a legacy server RFC 5780 discovery can use.
STUND_IPS = ("203.0.113.22", "203.0.113.23")

LAN_PREFIX = 24
NAT_LAN = ("192.168.77.0", "192.168.77.1", "192.168.77.2")  # RFC 1918 behind a NAT: net, router, client
ROUTED_LAN = ("198.51.100.0", "198.51.100.1", "198.51.100.2")  # TEST-NET-2, routed (no NAT)

_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")


@dataclass(frozen=True)
class Topology:
    kind: NatKind
    name: str  # lab instance name; namespaces are <name>-client, <name>-router, <name>-public

    def __post_init__(self) -> None:
        if not _NAME_OK.match(self.name):
            raise ValueError(f"bad lab name {self.name!r}: letters, digits, '.', '_' and '-' only (max 41)")

    @property
    def client_ns(self) -> str:
        return f"{self.name}-client"

    @property
    def router_ns(self) -> str:
        return f"{self.name}-router"

    @property
    def public_ns(self) -> str:
        return f"{self.name}-public"

    @property
    def namespaces(self) -> tuple[str, str, str]:
        return (self.client_ns, self.router_ns, self.public_ns)

    @property
    def lan(self) -> tuple[str, str, str]:
        return NAT_LAN if SPECS[self.kind].translates else ROUTED_LAN

    @property
    def lan_net(self) -> str:
        return self.lan[0]

    @property
    def router_lan_ip(self) -> str:
        return self.lan[1]

    @property
    def client_ip(self) -> str:
        return self.lan[2]

    @property
    def client_public_ip(self) -> str:
        """Where the client's traffic appears to come from on the WAN."""
        spec = SPECS[self.kind]
        if not spec.translates:
            return self.client_ip
        return ROUTER_WAN_1TO1_IP if spec.one_to_one else ROUTER_WAN_IP

    @property
    def stun_uri(self) -> str:
        return f"stun:{STUN_PRIMARY_IP}:{STUN_PORT}"

    @property
    def plain_stun_uris(self) -> tuple[str, ...]:
        return tuple(f"stun:{ip}:{port}" for ip, port in PLAIN_STUN)

    @property
    def stund_uri(self) -> str:
        return f"stun:{STUND_IPS[0]}:{STUN_PORT}"
