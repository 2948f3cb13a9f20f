"""Path trace (root only): TTL-limited UDP/TCP probes that show at which hop a port's path goes silent.

For each (transport, port) one probe per TTL 1..max_hops is sent at once (scapy ``sr``), each with its own
source port so every ICMP error can be matched to the probe it quotes (RFC 792: the error carries the
original IP header + 8 bytes, i.e. the UDP/TCP ports). What comes back per hop:

- ICMP time exceeded (RFC 792 type 11 / RFC 4443 type 3): a router at that hop forwarded up to here.
- ICMP port unreachable (type 3 code 3 / ICMPv6 type 1 code 4): the destination was reached, port closed.
- another ICMP destination unreachable (e.g. code 13 administratively prohibited): a filter rejected it.
- a UDP reply / TCP SYN-ACK / RST from the destination: reached (open / closed).
- nothing: the path is silent from that hop on (a filter that drops, or a router that sends no ICMP).

scapy is imported only inside this module's functions (it is slow to import and needs raw sockets).
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rtcdiag.errors import ProbeError
from rtcdiag.protocol.constants import MessageClass, Method
from rtcdiag.protocol.message import Message

DEFAULT_MAX_HOPS = 16
MAX_MAX_HOPS = 64



class HopKind(StrEnum):
    """What came back for the probe with one TTL."""

    TIME_EXCEEDED = "time-exceeded"
    PORT_UNREACHABLE = "port-unreachable"
    UNREACHABLE = "unreachable"  # ICMP destination unreachable other than port (filter, no route)
    REPLY = "reply"  # UDP answer / TCP SYN-ACK from the destination
    RESET = "reset"  # TCP RST from the destination
    SILENT = "silent"


class TraceOutcome(StrEnum):
    """How far one port's path got."""

    REACHED_OPEN = "reached-open"
    REACHED_CLOSED = "reached-closed"
    REJECTED = "rejected"  # ICMP unreachable from a hop before the destination
    DROPPED = "dropped"  # silence after the last hop that answered
    NO_ANSWER = "no-answer"  # not even the first hop answered


# The members by their old module-level names (rtcdiag.triage.reach imports some of them).
TIME_EXCEEDED, PORT_UNREACHABLE = HopKind.TIME_EXCEEDED, HopKind.PORT_UNREACHABLE
UNREACHABLE, REPLY, RESET, SILENT = HopKind.UNREACHABLE, HopKind.REPLY, HopKind.RESET, HopKind.SILENT
REACHED_OPEN, REACHED_CLOSED = TraceOutcome.REACHED_OPEN, TraceOutcome.REACHED_CLOSED
REJECTED, DROPPED, NO_ANSWER = TraceOutcome.REJECTED, TraceOutcome.DROPPED, TraceOutcome.NO_ANSWER


@dataclass
class Hop:
    ttl: int
    address: str | None
    kind: HopKind
    icmp_type: int | None = None
    icmp_code: int | None = None
    rtt_ms: float | None = None


@dataclass
class TraceResult:
    destination: str
    transport: str  # "udp" | "tcp"
    port: int
    max_hops: int
    hops: list[Hop] = field(default_factory=list)
    outcome: TraceOutcome = TraceOutcome.NO_ANSWER
    reached_at_hop: int | None = None
    last_answer_hop: int | None = None  # the last hop that answered (where the path drops after)
    last_answer_address: str | None = None
    icmp_port_unreachable: bool = False
    error: str | None = None


class TraceNotPermitted(ProbeError):
    """Raw sockets need root (CAP_NET_RAW)."""


def require_root() -> None:
    """Raw sockets need root (CAP_NET_RAW): raise :class:`TraceNotPermitted` before any traffic otherwise."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
    except PermissionError:
        raise TraceNotPermitted("a path trace needs root (raw sockets, CAP_NET_RAW)") from None
    except OSError:
        pass  # e.g. no IPv4 here: not a permission problem; the trace itself reports what fails


def _stun_binding() -> bytes:
    # A real STUN Binding request (RFC 8489 §6.1) as payload, so a STUN server answers and "open" is seen.
    return Message(Method.BINDING, MessageClass.REQUEST).encode(fingerprint=True)


def _build(destination: str, transport: str, port: int, ttl: int, sport: int) -> Any:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.packet import Raw

    v6 = ipaddress.ip_address(destination).version == 6
    ip = IPv6(dst=destination, hlim=ttl) if v6 else IP(dst=destination, ttl=ttl, id=sport & 0xFFFF)
    if transport == "udp":
        return ip / UDP(sport=sport, dport=port) / Raw(_stun_binding())
    return ip / TCP(sport=sport, dport=port, flags="S", seq=random.getrandbits(32))


def _classify(reply: Any, destination: str) -> tuple[HopKind, int | None, int | None]:
    from scapy.layers.inet import ICMP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6TimeExceeded

    if reply.haslayer(ICMP):
        icmp = reply[ICMP]
        kind = TIME_EXCEEDED if icmp.type == 11 else UNREACHABLE
        if icmp.type == 3 and icmp.code == 3:
            kind = PORT_UNREACHABLE
        return kind, int(icmp.type), int(icmp.code)
    if reply.haslayer(ICMPv6TimeExceeded):
        return TIME_EXCEEDED, 3, int(reply[ICMPv6TimeExceeded].code)
    if reply.haslayer(ICMPv6DestUnreach):
        code = int(reply[ICMPv6DestUnreach].code)
        return (PORT_UNREACHABLE if code == 4 else UNREACHABLE), 1, code
    if reply.haslayer(TCP):
        return (RESET if int(reply[TCP].flags) & 0x04 else REPLY), None, None
    if reply.haslayer(UDP):
        return REPLY, None, None
    return UNREACHABLE, None, None


def summarise(result: TraceResult) -> TraceResult:
    """Fill outcome / reached_at_hop / last_answer_* from ``hops`` and trim the silent tail to one hop."""
    answered = [h for h in result.hops if h.kind != SILENT]
    reached = next((h for h in answered if h.kind in (REPLY, RESET, PORT_UNREACHABLE)
                    and h.address == result.destination), None)
    if reached is None:  # a port-unreachable from the destination may carry a different source on hosts
        reached = next((h for h in answered if h.kind in (REPLY, RESET)), None)
    if reached is not None:
        result.reached_at_hop = reached.ttl
        result.outcome = REACHED_OPEN if reached.kind == REPLY else REACHED_CLOSED
        result.icmp_port_unreachable = reached.kind == PORT_UNREACHABLE
        result.hops = [h for h in result.hops if h.ttl <= reached.ttl]
        result.last_answer_hop, result.last_answer_address = reached.ttl, reached.address
        return result
    rejected = next((h for h in answered if h.kind in (UNREACHABLE, PORT_UNREACHABLE)), None)
    if rejected is not None:
        result.outcome = REJECTED
        result.icmp_port_unreachable = rejected.kind == PORT_UNREACHABLE
        result.hops = [h for h in result.hops if h.ttl <= rejected.ttl]
        result.last_answer_hop, result.last_answer_address = rejected.ttl, rejected.address
        return result
    if answered:
        last = max(answered, key=lambda h: h.ttl)
        result.outcome = DROPPED
        result.last_answer_hop, result.last_answer_address = last.ttl, last.address
        result.hops = [h for h in result.hops if h.ttl <= last.ttl + 1]
    else:
        result.outcome = NO_ANSWER
        result.hops = result.hops[:1]
    return result


def _trace_blocking(destination: str, targets: list[tuple[str, int]], max_hops: int,
                    timeout: float) -> list[TraceResult]:
    from scapy.config import conf
    from scapy.sendrecv import sr

    conf.verb = 0
    base = random.randint(20000, 60000 - len(targets) * max_hops - 1)
    probes: dict[int, tuple[int, int]] = {}  # source port -> (target index, ttl)
    packets = []
    for index, (transport, port) in enumerate(targets):
        for ttl in range(1, max_hops + 1):
            sport = base + index * max_hops + ttl - 1
            probes[sport] = (index, ttl)
            packets.append(_build(destination, transport, port, ttl, sport))
    results = [TraceResult(destination=destination, transport=t, port=p, max_hops=max_hops)
               for t, p in targets]
    hops: list[dict[int, Hop]] = [{} for _ in targets]
    answered, _unanswered = sr(packets, timeout=timeout, verbose=0)
    for sent, reply in answered:
        sport = int(sent.payload.sport)
        index, ttl = probes[sport]
        kind, icmp_type, icmp_code = _classify(reply, destination)
        rtt = (float(reply.time) - float(sent.sent_time)) * 1000.0 if sent.sent_time else None
        hops[index][ttl] = Hop(ttl=ttl, address=str(reply.src), kind=kind, icmp_type=icmp_type,
                               icmp_code=icmp_code, rtt_ms=None if rtt is None else round(rtt, 2))
    for index, result in enumerate(results):
        result.hops = [hops[index].get(ttl, Hop(ttl=ttl, address=None, kind=SILENT))
                       for ttl in range(1, max_hops + 1)]
        summarise(result)
    return results


async def trace(destination: str, targets: list[tuple[str, int]], *, max_hops: int = DEFAULT_MAX_HOPS,
                timeout: float = 2.0) -> list[TraceResult]:
    """Trace each ``(transport, port)`` (transport "udp" or "tcp") towards the IP ``destination``.

    All probes go out at once; the call takes about ``timeout`` seconds. Needs root.
    """
    require_root()
    if not 1 <= max_hops <= MAX_MAX_HOPS:
        raise ValueError(f"max_hops must be 1-{MAX_MAX_HOPS}, not {max_hops}")
    if not targets:
        return []
    try:
        return await asyncio.to_thread(_trace_blocking, destination, targets, max_hops, timeout)
    except OSError as exc:  # e.g. no route, raw socket refused in a container
        return [TraceResult(destination=destination, transport=t, port=p, max_hops=max_hops,
                            error=f"trace failed: {exc.strerror or exc}") for t, p in targets]
