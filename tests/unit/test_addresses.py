"""Address scopes from the IANA special-purpose registries, reachability, and the redirect policy."""

from __future__ import annotations

import ipaddress

import pytest

from rtcdiag.addresses import (
    AddressScope,
    reachable_from,
    redirect_refusal,
    scope_of,
)

S = AddressScope

SCOPES = [
    ("8.8.8.8", S.PUBLIC), ("1.1.1.1", S.PUBLIC),
    ("10.99.0.10", S.PRIVATE), ("172.16.0.1", S.PRIVATE), ("172.31.255.255", S.PRIVATE),
    ("172.32.0.1", S.PUBLIC), ("192.168.1.1", S.PRIVATE),
    ("100.64.0.1", S.SHARED), ("100.127.255.254", S.SHARED), ("100.128.0.1", S.PUBLIC),
    ("127.0.0.1", S.LOOPBACK), ("127.255.0.9", S.LOOPBACK),
    ("169.254.169.254", S.LINK_LOCAL), ("169.254.0.1", S.LINK_LOCAL),
    # RFC 5737 TEST-NET-1/2/3: documentation, NOT private (Python's is_private says private)
    ("192.0.2.1", S.DOCUMENTATION), ("198.51.100.10", S.DOCUMENTATION), ("203.0.113.77", S.DOCUMENTATION),
    ("198.18.0.1", S.BENCHMARKING), ("198.19.255.254", S.BENCHMARKING),
    ("224.0.0.251", S.MULTICAST), ("239.255.255.250", S.MULTICAST),
    ("255.255.255.255", S.BROADCAST), ("0.0.0.0", S.UNSPECIFIED), ("0.1.2.3", S.RESERVED),
    ("240.0.0.1", S.RESERVED), ("192.0.0.8", S.RESERVED), ("192.88.99.1", S.RESERVED),
    ("192.0.0.10", S.PUBLIC),  # RFC 8155 TURN anycast: globally reachable
    ("::", S.UNSPECIFIED), ("::1", S.LOOPBACK), ("fe80::1", S.LINK_LOCAL), ("febf::1", S.LINK_LOCAL),
    ("fc00::1", S.PRIVATE), ("fd12:3456::1", S.PRIVATE), ("2001:db8::1", S.DOCUMENTATION),
    ("3fff::1", S.DOCUMENTATION), ("2001:2::1", S.BENCHMARKING), ("ff02::1", S.MULTICAST),
    ("ff05::1:3", S.MULTICAST), ("2606:4700:4700::1111", S.PUBLIC), ("2001::1", S.PUBLIC),
    ("2001:5::1", S.RESERVED), ("100::1", S.RESERVED), ("fec0::1", S.RESERVED), ("4000::1", S.RESERVED),
    ("64:ff9b:1::1", S.PRIVATE),
    # IPv4-mapped and NAT64 (RFC 6052) addresses: by the embedded IPv4 address
    ("::ffff:169.254.169.254", S.LINK_LOCAL), ("::ffff:10.0.0.1", S.PRIVATE), ("::ffff:8.8.8.8", S.PUBLIC),
    ("::ffff:127.0.0.1", S.LOOPBACK), ("64:ff9b::8.8.8.8", S.PUBLIC), ("64:ff9b::a9fe:a9fe", S.LINK_LOCAL),
]


@pytest.mark.parametrize(("ip", "expected"), SCOPES)
def test_scope_of_follows_the_iana_registries(ip: str, expected: AddressScope) -> None:
    assert scope_of(ip) is expected
    assert scope_of(ipaddress.ip_address(ip)) is expected
    assert scope_of(f"[{ip}]" if ":" in ip else ip) is expected  # brackets tolerated


def test_documentation_is_not_what_python_calls_private() -> None:
    assert ipaddress.ip_address("198.51.100.10").is_private  # the trap this module avoids
    assert scope_of("198.51.100.10") is not S.PRIVATE


def test_shared_address_space_has_one_name() -> None:
    assert "CGNAT" not in AddressScope.__members__  # 100.64/10 is "shared" (RFC 6598)
    assert AddressScope("shared") is S.SHARED


def test_scope_of_a_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        scope_of("turn.example.org")


@pytest.mark.parametrize(("target", "where", "ok"), [
    (S.PUBLIC, S.PUBLIC, True), (S.PUBLIC, S.PRIVATE, True), (S.PUBLIC, S.LOOPBACK, True),
    (S.PRIVATE, S.PUBLIC, False), (S.PRIVATE, S.DOCUMENTATION, False), (S.PRIVATE, S.PRIVATE, True),
    (S.SHARED, S.PUBLIC, False), (S.SHARED, S.PRIVATE, False), (S.PRIVATE, S.SHARED, False),
    (S.LOOPBACK, S.LOOPBACK, True), (S.LOOPBACK, S.PRIVATE, False), (S.PRIVATE, S.LOOPBACK, True),
    (S.DOCUMENTATION, S.DOCUMENTATION, True), (S.DOCUMENTATION, S.PUBLIC, True),
    (S.LINK_LOCAL, S.PUBLIC, False), (S.LINK_LOCAL, S.LINK_LOCAL, True), (S.MULTICAST, S.MULTICAST, False),
    (S.UNSPECIFIED, S.LOOPBACK, False), (S.RESERVED, S.PUBLIC, False),
])
def test_reachable_from(target: AddressScope, where: AddressScope, ok: bool) -> None:
    assert reachable_from(target, where) is ok


@pytest.mark.parametrize(("original", "alternate", "allowed"), [
    ("127.0.0.1", "127.0.0.2", True),  # loopback -> loopback
    ("10.0.0.1", "192.168.1.5", True),  # private -> private
    ("198.51.100.1", "203.0.113.9", True),  # documentation -> documentation (a lab)
    ("8.8.8.8", "1.1.1.1", True), ("10.0.0.1", "1.1.1.1", True), ("127.0.0.1", "8.8.8.8", True),
    ("8.8.8.8", "127.0.0.1", False),  # loopback named from elsewhere
    ("8.8.8.8", "10.0.0.1", False), ("100.64.0.1", "10.0.0.1", False), ("8.8.8.8", "198.51.100.1", False),
    ("127.0.0.1", "169.254.169.254", False), ("169.254.1.1", "169.254.169.254", False),
    ("::1", "fe80::1", False), ("::1", "::ffff:169.254.169.254", False), ("127.0.0.1", "224.0.0.1", False),
    ("127.0.0.1", "255.255.255.255", False), ("127.0.0.1", "0.0.0.0", False), ("::1", "::", False),
    ("127.0.0.1", "240.0.0.1", False), ("::1", "::1", True), ("fd00::1", "fd00::2", True),
])
def test_redirect_policy(original: str, alternate: str, allowed: bool) -> None:
    refusal = redirect_refusal(original, alternate)
    assert (refusal is None) is allowed, refusal
    if alternate == "169.254.169.254":
        assert refusal is not None and "cloud metadata" in refusal


@pytest.mark.parametrize(("domain", "used"), [
    ("turn2.example.org", True), ("turn2.example.org.", True), ("xn--bcher-kva.example", True),
    ("bad name.example", False), ("evil\x00.example", False), ("a" * 64 + ".example", False),
    ("", False), ("..", False), ("-" * 10, False), ("x" * 254, False), ("caf\u00e9.example", False),
])
def test_alternate_domain_is_used_only_when_it_is_a_dns_name(domain: str, used: bool) -> None:
    """ALTERNATE-DOMAIN (RFC 8489 §14.16) becomes a TLS server name: a hostile value is never used raw."""
    from rtcdiag.probes.exchange import alternate_domain
    from rtcdiag.protocol.constants import AttrType, MessageClass, Method
    from rtcdiag.protocol.message import Message

    msg = Message(Method.ALLOCATE, MessageClass.ERROR).add(AttrType.ALTERNATE_DOMAIN, domain)
    decoded = Message.decode(msg.encode())
    assert (alternate_domain(decoded) == domain) is used
