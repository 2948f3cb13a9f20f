"""Address helpers shared by probes and triage: scope classification, reachability, redirect policy and
host:port formatting.

Scopes follow the IANA special-purpose address registries (RFC 6890 and its successors), not Python's
``ipaddress.is_private``, which counts documentation (TEST-NET) and benchmarking ranges as private:

- IPv4: 0/8 this network (RFC 791; 0.0.0.0 unspecified), 10/8, 172.16/12, 192.168/16 private (RFC 1918),
  100.64/10 shared (RFC 6598, CGNAT and Tailscale), 127/8 loopback (RFC 1122), 169.254/16 link-local
  (RFC 3927), 192.0.0/24 IETF protocol assignments (RFC 6890; 192.0.0.9 PCP and 192.0.0.10 TURN anycast
  are global, RFC 7723 / RFC 8155), 192.0.2/24, 198.51.100/24, 203.0.113/24 documentation (RFC 5737),
  192.88.99/24 deprecated 6to4 relay anycast (RFC 7526), 198.18/15 benchmarking (RFC 2544), 224/4 multicast
  (RFC 5771), 240/4 reserved (RFC 1112), 255.255.255.255 limited broadcast (RFC 919).
- IPv6: :: unspecified, ::1 loopback (RFC 4291), ::ffff:0:0/96 IPv4-mapped and 64:ff9b::/96 NAT64
  (RFC 6052) classified by the embedded IPv4 address, 64:ff9b:1::/48 local-use NAT64 (RFC 8215, private),
  100::/64 discard-only (RFC 6666), 2001::/23 IETF protocol assignments (RFC 2928; Teredo 2001::/32, the
  2001:1::1-3 anycasts, AMT 2001:3::/32, AS112 2001:4:112::/48, ORCHIDv2 2001:20::/28 and DRIP
  2001:30::/28 are global), 2001:2::/48 benchmarking (RFC 5180), 2001:db8::/32 and 3fff::/20
  documentation (RFC 3849, RFC 9637), 5f00::/16 SRv6 SIDs (RFC 9602), fc00::/7 unique local (RFC 4193),
  fe80::/10 link-local, fec0::/10 deprecated site-local (RFC 3879), ff00::/8 multicast; anything outside
  2000::/3 that is not listed is unallocated (reserved).
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Net = ipaddress.IPv4Network | ipaddress.IPv6Network

CGNAT_NET = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598 shared address space


class AddressScope(StrEnum):
    """Where an address can be reached from (IANA special-purpose registries)."""

    PUBLIC = "public"  # global unicast
    PRIVATE = "private"  # RFC 1918, RFC 4193 unique local, RFC 8215 local-use NAT64
    SHARED = "shared"  # RFC 6598 100.64.0.0/10 (carrier-grade NAT, also Tailscale)
    LOOPBACK = "loopback"
    LINK_LOCAL = "link-local"  # 169.254/16 (cloud metadata 169.254.169.254), fe80::/10
    DOCUMENTATION = "documentation"  # RFC 5737 TEST-NET-1/2/3, 2001:db8::/32, 3fff::/20 (not private!)
    BENCHMARKING = "benchmarking"  # RFC 2544 198.18/15, RFC 5180 2001:2::/48
    MULTICAST = "multicast"
    BROADCAST = "broadcast"  # 255.255.255.255
    UNSPECIFIED = "unspecified"  # 0.0.0.0, ::
    RESERVED = "reserved"  # any other special-purpose or unallocated range


_S = AddressScope


def _nets(scope: AddressScope, *cidrs: str) -> list[tuple[_Net, AddressScope]]:
    return [(ipaddress.ip_network(c), scope) for c in cidrs]


# First match wins, so the more specific (global) exceptions come before their enclosing block.
_V4_TABLE: list[tuple[_Net, AddressScope]] = [
    *_nets(_S.UNSPECIFIED, "0.0.0.0/32"),
    *_nets(_S.BROADCAST, "255.255.255.255/32"),
    *_nets(_S.PUBLIC, "192.0.0.9/32", "192.0.0.10/32", "192.31.196.0/24", "192.52.193.0/24",
           "192.175.48.0/24"),
    *_nets(_S.RESERVED, "0.0.0.0/8", "192.0.0.0/24", "192.88.99.0/24", "240.0.0.0/4"),
    *_nets(_S.PRIVATE, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
    *_nets(_S.SHARED, "100.64.0.0/10"),
    *_nets(_S.LOOPBACK, "127.0.0.0/8"),
    *_nets(_S.LINK_LOCAL, "169.254.0.0/16"),
    *_nets(_S.DOCUMENTATION, "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"),
    *_nets(_S.BENCHMARKING, "198.18.0.0/15"),
    *_nets(_S.MULTICAST, "224.0.0.0/4"),
]

_V6_TABLE: list[tuple[_Net, AddressScope]] = [
    *_nets(_S.UNSPECIFIED, "::/128"),
    *_nets(_S.LOOPBACK, "::1/128"),
    *_nets(_S.PRIVATE, "64:ff9b:1::/48", "fc00::/7"),
    *_nets(_S.RESERVED, "100::/64", "5f00::/16", "fec0::/10", "2001:10::/28"),
    *_nets(_S.PUBLIC, "2001::/32", "2001:1::1/128", "2001:1::2/128", "2001:1::3/128", "2001:3::/32",
           "2001:4:112::/48", "2001:20::/28", "2001:30::/28"),
    *_nets(_S.BENCHMARKING, "2001:2::/48"),
    *_nets(_S.RESERVED, "2001::/23"),
    *_nets(_S.DOCUMENTATION, "2001:db8::/32", "3fff::/20"),
    *_nets(_S.LINK_LOCAL, "fe80::/10"),
    *_nets(_S.MULTICAST, "ff00::/8"),
    *_nets(_S.PUBLIC, "2000::/3"),
]

# The tables as (netmask, network address, scope) integers, in the same order.
_V4_MASKS = [(int(net.netmask), int(net.network_address), found) for net, found in _V4_TABLE]
_V6_MASKS = [(int(net.netmask), int(net.network_address), found) for net, found in _V6_TABLE]

_NAT64_WKP = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 §2.1 well-known prefix

# Scopes whose addresses stand for "the internet" when the user points rtcdiag at them: labs and tests use
# documentation and benchmarking ranges as stand-ins for public addresses (they are not private).
PUBLIC_LIKE = frozenset({_S.PUBLIC, _S.DOCUMENTATION, _S.BENCHMARKING})
# Scopes that are never a usable unicast destination for a STUN/TURN server or relay.
UNUSABLE = frozenset({_S.LINK_LOCAL, _S.MULTICAST, _S.BROADCAST, _S.UNSPECIFIED, _S.RESERVED})


def parse_ip(text: str) -> IPAddress | None:
    """Parse an IP literal (brackets and IPv6 zone ids tolerated); None if ``text`` is a host name."""
    if text in _PARSED:
        return _PARSED[text]
    try:
        parsed: IPAddress | None = ipaddress.ip_address(text.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        parsed = None
    if len(_PARSED) < 4096:  # bounded (untrusted text); a dump repeats a few addresses thousands of times
        _PARSED[text] = parsed
    return parsed


_PARSED: dict[str, IPAddress | None] = {}  # parse_ip's answers by text (address objects are immutable)


def _embedded_v4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 well-known-prefix address."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _NAT64_WKP:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def scope_of(ip: IPAddress | str) -> AddressScope:
    """The IANA special-purpose scope of ``ip``; IPv4-mapped and NAT64 IPv6 by their embedded IPv4."""
    addr = parse_ip(ip) if isinstance(ip, str) else ip
    if addr is None:
        raise ValueError(f"not an IP address: {ip!r}")
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = _embedded_v4(addr)
        if embedded is not None:
            return scope_of(embedded)
        masks = _V6_MASKS
    else:
        masks = _V4_MASKS
    number = int(addr)
    for mask, network, found in masks:
        if number & mask == network:  # ``addr in net``, without its method calls (a dump has thousands)
            return found
    return _S.PUBLIC if isinstance(addr, ipaddress.IPv4Address) else _S.RESERVED




def _reach_rank(s: AddressScope) -> int:
    """How far an address reaches: 0 host, 1 link, 2 site (private or shared), 3 internet."""
    if s in PUBLIC_LIKE:
        return 3
    if s in (_S.PRIVATE, _S.SHARED):
        return 2
    if s is _S.LINK_LOCAL:
        return 1
    return 0


def reachable_from(target: AddressScope, where: AddressScope) -> bool:
    """Can a host that reached something at a ``where`` address also reach a ``target`` address?

    A relay address works for every client that reached the server when it reaches at least as far as the
    server's address (public-like relay behind any server; private relay behind a private server), or is
    in the very same scope. Private and shared (100.64/10) are different sites; unusable scopes (link-local,
    multicast, broadcast, unspecified, reserved) are reachable from nowhere else.
    """
    if target is where:
        return target not in (_S.MULTICAST, _S.BROADCAST, _S.UNSPECIFIED, _S.RESERVED)
    if target in UNUSABLE:
        return False
    rank, origin = _reach_rank(target), _reach_rank(where)
    if rank == 2 and origin == 2:
        return False  # private vs shared: two different sites
    return rank >= origin


def redirect_refusal(original: IPAddress | str, alternate: IPAddress | str) -> str | None:
    """Why a 300 ALTERNATE-SERVER (RFC 8489 §10) to ``alternate`` must not be followed from a server
    reached at ``original``; None when it may be.

    Followed only to a public unicast address or to one in the same scope as the original target
    (loopback -> loopback, private -> private, shared -> shared, documentation -> documentation), never to
    link-local (169.254.169.254 is the cloud metadata service), multicast, broadcast, unspecified or any
    other special-purpose address, and never into a narrower scope (loopback or a private network named by
    a server elsewhere).
    """
    to, frm = scope_of(alternate), scope_of(original)
    if to in UNUSABLE:
        extra = " (169.254.169.254 is the cloud metadata service)" if to is _S.LINK_LOCAL else ""
        return f"{to.value} address{extra}: never a STUN/TURN server"
    if to is _S.PUBLIC or to is frm:
        return None
    return f"{to.value} address named by a server reached at a {frm.value} address"


def format_hostport(host: str, port: int) -> str:
    """``host:port`` with IPv6 literals in brackets (RFC 3986)."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"
