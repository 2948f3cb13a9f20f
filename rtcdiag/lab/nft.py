"""nftables rule sets for the router namespace, one per NAT kind (pure text; ``nft -f -`` loads it).

Linux conntrack NAT keeps the source port when it can, so plain masquerade is endpoint-independent
mapping with address-and-port-dependent filtering (RFC 4787 §4.1, §5); ``fully-random`` makes mapping
address-and-port dependent; a static 1:1 SNAT/DNAT pair is endpoint-independent for both.
"""

from __future__ import annotations

from rtcdiag.lab.kinds import SPECS, NatKind
from rtcdiag.lab.topology import ROUTER_LAN_IF, ROUTER_WAN_1TO1_IP, ROUTER_WAN_IF, Topology

TABLE = "rtcdiag_lab"
CONTACTED_TIMEOUT_S = 300  # RFC 4787 REQ-5: filter state lives at least as long as the mapping


def ruleset(topo: Topology) -> str:
    """The complete ``table ip rtcdiag_lab`` for ``topo.kind``."""
    kind = topo.kind
    spec = SPECS[kind]
    lan, wan = ROUTER_LAN_IF, ROUTER_WAN_IF
    client = topo.client_ip
    nat: list[str] = []
    forward: list[str] = []
    sets: list[str] = []
    prerouting: list[str] = []
    forward_policy = "accept"

    if spec.one_to_one:
        prerouting.append(f"ip daddr {ROUTER_WAN_1TO1_IP} dnat to {client}")
        nat.append(f"ip saddr {client} snat to {ROUTER_WAN_1TO1_IP}")
    elif kind is NatKind.SYMMETRIC:
        nat.append(f'oifname "{wan}" masquerade fully-random')
    elif spec.translates:
        nat.append(f'oifname "{wan}" masquerade')

    if kind is NatKind.RESTRICTED_CONE:
        # Address-dependent filtering per mapping: remember (internal ip, internal port, remote ip) on the
        # way out; let in only what matches one (after DNAT, daddr/dport are the internal ones).
        sets.append(
            "set contacted { type ipv4_addr . inet_service . ipv4_addr; flags dynamic, timeout; "
            f"timeout {CONTACTED_TIMEOUT_S}s; }}")
        forward_policy = "drop"
        forward += [
            f'iifname "{lan}" meta l4proto {{ tcp, udp }} update @contacted '
            "{ ip saddr . th sport . ip daddr }",
            f'iifname "{lan}" accept',
            "ct state established,related accept",
            f'iifname "{wan}" meta l4proto {{ tcp, udp }} ip daddr . th dport . ip saddr @contacted accept',
            f'iifname "{wan}" icmp type echo-request accept',
        ]
    elif kind is NatKind.UDP_BLOCKED:
        forward.append("meta l4proto udp drop")
    elif kind is NatKind.UDP_FIREWALL:
        forward_policy = "drop"
        forward += [
            "ct state established,related accept",
            f'iifname "{lan}" accept',
        ]

    body = [f"table ip {TABLE} {{"]
    body += [f"\t{line}" for line in sets]
    body += _chain("prerouting", "nat", "prerouting", "dstnat", "accept", prerouting)
    body += _chain("postrouting", "nat", "postrouting", "srcnat", "accept", nat)
    body += _chain("forward", "filter", "forward", "filter", forward_policy, forward)
    body.append("}")
    return "\n".join(body) + "\n"


def _chain(name: str, chain_type: str, hook: str, priority: str, policy: str, rules: list[str]) -> list[str]:
    lines = [f"\tchain {name} {{", f"\t\ttype {chain_type} hook {hook} priority {priority}; policy {policy};"]
    lines += [f"\t\t{rule}" for rule in rules]
    lines.append("\t}")
    return lines
