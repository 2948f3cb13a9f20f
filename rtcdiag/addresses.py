"""Address helpers shared by probes and triage: scope classification and host:port formatting."""

from __future__ import annotations

import ipaddress
from enum import StrEnum

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CGNAT_NET = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598 shared address space


class Scope(StrEnum):
    LOOPBACK = "loopback"
    UNSPECIFIED = "unspecified"
    LINK_LOCAL = "link-local"
    PRIVATE = "private"  # RFC 1918 / RFC 4193 unique local
    CGNAT = "cgnat"  # RFC 6598 100.64.0.0/10 (also Tailscale)
    MULTICAST = "multicast"
    RESERVED = "reserved"
    PUBLIC = "public"


def parse_ip(text: str) -> IPAddress | None:
    """Parse an IP literal (brackets and IPv6 zone ids tolerated); None if ``text`` is a host name."""
    text = text.strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def scope(ip: IPAddress | str) -> Scope:
    """Where ``ip`` can be reached from; IPv4-mapped IPv6 is judged by its IPv4 address."""
    addr = parse_ip(ip) if isinstance(ip, str) else ip
    if addr is None:
        raise ValueError(f"not an IP address: {ip!r}")
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_loopback:
        return Scope.LOOPBACK
    if addr.is_unspecified:
        return Scope.UNSPECIFIED
    if addr.is_link_local:
        return Scope.LINK_LOCAL
    if isinstance(addr, ipaddress.IPv4Address) and addr in CGNAT_NET:
        return Scope.CGNAT
    if addr.is_multicast:
        return Scope.MULTICAST
    if addr.is_private:
        return Scope.PRIVATE
    if addr.is_reserved or not addr.is_global:
        return Scope.RESERVED
    return Scope.PUBLIC


def format_hostport(host: str, port: int) -> str:
    """``host:port`` with IPv6 literals in brackets (RFC 3986)."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"
