"""``turn-check --acl``: does the server's peer ACL refuse sensitive peers? Defensive and opt-in.

On an allocation that succeeded, for each sensitive peer: CreatePermission (RFC 8656 §9), then ChannelBind
(§12, which installs a permission too) on a channel of its own. A success means the relay would send to that
peer (error, judged in ``triage.acl``); 403 is the server's ACL refusing it. NO data is ever sent to these
addresses: no Send indication, no ChannelData. The permissions die with the allocation (released by the
caller with Refresh LIFETIME=0) or after 300 s (RFC 8656 §9).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from rtcdiag.probes.record import Outcome
from rtcdiag.probes.turn_result import AclProbe, AclResult, AclVerdict
from rtcdiag.probes.turn_session import TurnSession
from rtcdiag.protocol import Address, AttrType, Message, MessageClass, Method

FIRST_CHANNEL = 0x4100  # RFC 8656 §12: 0x4000-0x4FFF; clear of the data-path channels (0x4000, 0x4001)
PEER_PORT = 9  # a port is required in XOR-PEER-ADDRESS; permissions ignore it (RFC 8656 §9.1)
MAX_PEERS = 64  # bound on --acl-peers (each peer costs two transactions)

# The peers a relay must never reach (issue 14), with why they matter.
SENSITIVE_PEERS: tuple[tuple[str, str], ...] = (
    ("127.0.0.1", "loopback"),
    ("::1", "IPv6 loopback"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback (CVE-2026-27624)"),
    ("0.0.0.0", "this host (CVE-2020-26262)"),
    ("169.254.169.254", "cloud metadata service"),
    ("fd00:ec2::254", "AWS IPv6 metadata service"),
    ("10.0.0.1", "private (RFC 1918)"),
    ("172.16.0.1", "private (RFC 1918)"),
    ("192.168.0.1", "private (RFC 1918)"),
    ("100.64.0.1", "shared / CGNAT (RFC 6598)"),
    ("224.0.0.1", "multicast all-hosts"),
)


def peer_of(text: str) -> str:
    """An ``--acl-peers`` item as one address to ask for: an address, the first host of a CIDR block, or the
    first address of ``first-last``. Raises ValueError for anything else."""
    value = text.strip().strip("[]")
    if "/" in value:
        net = ipaddress.ip_network(value, strict=False)
        return canonical(str(next(iter(net.hosts()), net.network_address)))
    first = value.split("-", 1)[0].strip().strip("[]")
    return canonical(first)


def canonical(ip: str) -> str:
    """The address in its usual spelling; IPv4-mapped as ``::ffff:a.b.c.d`` (RFC 4291 §2.5.5.2)."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def acl_peers(server_ips: list[str], extra: tuple[str, ...]) -> list[tuple[str, str]]:
    """The sensitive list, the server's own addresses, then the operator's; each address once."""
    peers = [*SENSITIVE_PEERS, *((ip, "the server's own address") for ip in server_ips),
             *((peer_of(item), f"--acl-peers {item}") for item in extra)]
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for ip, label in peers:
        key = canonical(ip)
        if key not in seen:
            seen.add(key)
            out.append((key, label))
    return out[:MAX_PEERS]


def _verdict(reply: Message | None, outcome: Outcome) -> tuple[AclVerdict, int | None]:
    if reply is None:
        return AclVerdict.UNDECIDED, None
    if reply.msg_class == MessageClass.SUCCESS:
        return AclVerdict.PERMITTED, None
    code = reply.error_code
    if code == 403:
        return AclVerdict.DENIED, code
    if code == 443:
        return AclVerdict.FAMILY_MISMATCH, code
    if code is None:
        return AclVerdict.UNDECIDED, None
    return AclVerdict.REFUSED, code


def _builder(method: str, address: Address, channel: int) -> Callable[[], Message]:
    """A fresh request each call (a 438 retry needs a new transaction, RFC 8489 §9.2.5)."""
    if method == "CreatePermission":
        return lambda: Message(Method.CREATE_PERMISSION, MessageClass.REQUEST).add(
            AttrType.XOR_PEER_ADDRESS, address)
    return lambda: Message(Method.CHANNEL_BIND, MessageClass.REQUEST).add(
        AttrType.CHANNEL_NUMBER, channel).add(AttrType.XOR_PEER_ADDRESS, address)


async def check_acl(session: TurnSession, peers: list[tuple[str, str]]) -> AclResult:
    """Ask for a permission and a channel per peer, in turn; stop when the server stops answering."""
    result = AclResult()
    for index, (ip, label) in enumerate(peers):
        address = Address.of(ip, PEER_PORT)
        channel = FIRST_CHANNEL + index
        for method in ("CreatePermission", "ChannelBind"):
            build = _builder(method, address, channel)
            probe = AclProbe(peer=ip, label=label, method=method, verdict=AclVerdict.UNDECIDED)
            reply, record = await session.request(build, f"acl {method} {ip}", record_in=probe.steps)
            probe.verdict, probe.error_code = _verdict(reply, record.outcome)
            probe.response = record.response or record.error or record.outcome.value
            result.probes.append(probe)
            if record.outcome in (Outcome.TIMEOUT, Outcome.TRANSPORT_ERROR):
                result.stopped = f"the server did not answer {method} for {ip}: the remaining peers were " \
                                 "not asked"
                return result
    return result
