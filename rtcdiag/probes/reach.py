"""Port reachability probe: which STUN/TURN ports of a host answer, over UDP, TCP and TLS.

``await check("turn.example.com")`` probes the default matrix (UDP 3478, TCP 3478, TLS 5349, TLS 443) plus any
extra ports, all concurrently, and returns a :class:`ReachResult`:

- UDP: a STUN Binding request (RFC 8489) is the probe: an answer means open; ICMP port unreachable means
  closed; silence means blocked or nothing there (UDP cannot tell them apart).
- TCP: connect (RTT = handshake time), then a STUN Binding over the stream to see whether STUN answers.
- TLS: connect + TLS handshake offering ALPN ``stun.turn`` (RFC 7443); certificate facts in ``tls``.

With ``trace=True`` (root) each port's path is also traced hop by hop (see :mod:`rtcdiag.probes.trace`).
This module records what happened; it never decides what is good or bad.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from rtcdiag import interrupt
from rtcdiag.addresses import parse_ip
from rtcdiag.net import ConnectTimeoutError, RefusedError, StreamClient, TransportError, UdpClient
from rtcdiag.probes import slots
from rtcdiag.probes.exchange import exchange, transport_error_exchange
from rtcdiag.probes.record import Exchange, Outcome
from rtcdiag.probes.tls_info import TlsInfo
from rtcdiag.protocol.attributes import Address
from rtcdiag.protocol.constants import AttrType, MessageClass, Method
from rtcdiag.protocol.errors import StunParseError
from rtcdiag.protocol.message import Message
from rtcdiag.protocol.transaction import RetransmitPolicy
from rtcdiag.targets import TRANSPORTS as TARGET_TRANSPORTS
from rtcdiag.tls import make_client_context

if TYPE_CHECKING:
    from rtcdiag.probes.trace import TraceResult

TRANSPORTS = TARGET_TRANSPORTS  # udp, tcp, tls: defined once, in rtcdiag.targets.Transport



class PortState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # TCP RST / ICMP port unreachable
    TIMEOUT = "timeout"  # no answer at all
    TLS_FAILED = "tls-failed"  # TCP connected, TLS handshake failed
    ERROR = "error"  # local error: no route, address family not available, ...


class StunAnswer(StrEnum):
    """Whether the STUN Binding sent to an open port got a STUN answer."""

    ANSWERED = "answered"
    NO_ANSWER = "no-answer"
    NOT_TRIED = "not-tried"


# The states by their old module-level names (rtcdiag.triage.reach compares against these).
OPEN, CLOSED, TIMEOUT = PortState.OPEN, PortState.CLOSED, PortState.TIMEOUT
TLS_FAILED, ERROR = PortState.TLS_FAILED, PortState.ERROR
_ANSWERED = (Outcome.SUCCESS, Outcome.ERROR_RESPONSE)

DEFAULT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class PortTarget:
    transport: str  # "udp" | "tcp" | "tls"
    port: int

    def __str__(self) -> str:
        return f"{self.transport}:{self.port}"


# RFC 8489 §8: 3478 for STUN over UDP/TCP, 5349 over TLS; RFC 7443/8656: TURN over TLS on 443 for
# networks that only let 443 out.
DEFAULT_PORTS: tuple[PortTarget, ...] = (
    PortTarget("udp", 3478), PortTarget("tcp", 3478), PortTarget("tls", 5349), PortTarget("tls", 443),
)


@dataclass
class PortResult:
    transport: str
    port: int
    address: str
    state: PortState = PortState.TIMEOUT
    rtt_ms: float | None = None  # UDP: binding RTT; TCP/TLS: TCP connect time
    stun: StunAnswer = StunAnswer.NOT_TRIED
    mapped_address: str | None = None  # XOR-MAPPED-ADDRESS from the binding, when one came back
    error: str | None = None
    exchange: Exchange | None = None  # the STUN Binding transaction, as it happened
    tls: TlsInfo | None = None
    # The STUN answer came but could not be used: why (e.g. its XOR-MAPPED-ADDRESS does not decode; the raw
    # attribute is in ``exchange.response_attributes``).
    malformed: str | None = None
    internal_error: str | None = None  # this port's probe crashed (a bug in rtcdiag): what was raised, where

    @property
    def target(self) -> PortTarget:
        return PortTarget(self.transport, self.port)


@dataclass
class ReachResult:
    host: str
    address: str | None  # the address probed (first of ``addresses``)
    addresses: list[str] = field(default_factory=list)
    resolve_error: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    ports: list[PortResult] = field(default_factory=list)
    traces: list[TraceResult] = field(default_factory=list)
    duration_ms: float = 0.0
    planned: list[PortTarget] = field(default_factory=list)  # what was to be probed (ports stays empty
    # when the host does not resolve)

    def port(self, transport: str, port: int) -> PortResult | None:
        return next((p for p in self.ports if p.transport == transport and p.port == port), None)


def merge_targets(extra: list[PortTarget] | None, *, include_defaults: bool = True) -> list[PortTarget]:
    out = list(DEFAULT_PORTS) if include_defaults else []
    for target in extra or []:
        if target not in out:
            out.append(target)
    return out


def _describe_os_error(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return exc.strerror or str(exc) or type(exc).__name__


async def _resolve(host: str) -> list[str]:
    ip = parse_ip(host)
    if ip is not None:
        return [str(ip)]
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for family, *_rest, sockaddr in infos:
        text = str(sockaddr[0])
        if family in (socket.AF_INET, socket.AF_INET6) and text not in addresses:
            addresses.append(text)
    return addresses


def _binding_request() -> Message:
    # RFC 8489 §6.1: a plain Binding request (FINGERPRINT added by exchange()) is the reachability probe.
    return Message(Method.BINDING, MessageClass.REQUEST)


def _record_reply(result: PortResult, reply: Message | None, exchange: Exchange) -> None:
    result.exchange = exchange
    if reply is None:
        return
    try:  # the server's bytes: a malformed attribute is recorded, never raised (it used to end the run)
        mapped = reply.get_as(AttrType.XOR_MAPPED_ADDRESS, Address)
    except StunParseError as exc:
        mapped, result.malformed = None, str(exc)
    result.mapped_address = str(mapped) if mapped is not None else None


async def _probe_udp(result: PortResult, timeout: float) -> None:
    family = socket.AF_INET6 if ":" in result.address else socket.AF_INET
    async with await UdpClient.open(family=family, policy=RetransmitPolicy.for_timeout(timeout)) as client:
        reply, ex = await exchange(client, _binding_request(), dest=(result.address, result.port),
                                   step="reachability (UDP Binding)")
    _record_reply(result, reply, ex)
    if ex.outcome in _ANSWERED:
        result.state, result.stun, result.rtt_ms = PortState.OPEN, StunAnswer.ANSWERED, ex.rtt_ms
    elif ex.outcome in (Outcome.TIMEOUT, Outcome.REJECTED):
        result.state = PortState.TIMEOUT
        result.stun = StunAnswer.NO_ANSWER
        if ex.outcome is Outcome.REJECTED:
            result.error = f"only invalid replies ({_rejected_text(ex)})"
    elif "port unreachable" in (ex.error or ""):
        result.state, result.stun = PortState.CLOSED, StunAnswer.NO_ANSWER
        result.error = "ICMP port unreachable"
    else:  # other ICMP errors (host/admin prohibited), no route, ...
        result.state, result.stun, result.error = PortState.ERROR, StunAnswer.NO_ANSWER, ex.error


def _rejected_text(ex: Exchange) -> str:
    """"3 rejected: a; b; c" or "120000 rejected, first 5: a; ...": the count and the replies kept."""
    count = max(ex.rejected_count, len(ex.rejected))
    shown = "; ".join(ex.rejected)
    if count > len(ex.rejected):
        return f"{count} rejected, first {len(ex.rejected)}: {shown}"
    return f"{count} rejected: {shown}"


def _connect_failed(result: PortResult, err: TransportError, timeout: float) -> None:
    if isinstance(err, ConnectTimeoutError):
        result.state, result.error = PortState.TIMEOUT, f"no answer to TCP SYN within {timeout:g} s"
    elif isinstance(err, RefusedError):
        result.state, result.error = PortState.CLOSED, "connection refused (TCP RST)"
    else:
        result.state, result.error = PortState.ERROR, str(err)


async def _probe_tcp(result: PortResult, timeout: float) -> None:
    started = time.perf_counter()
    try:
        client = await StreamClient.connect(result.address, result.port, timeout=timeout,
                                            policy=RetransmitPolicy.for_timeout(timeout))
    except TransportError as err:
        _connect_failed(result, err, timeout)
        return
    result.state, result.rtt_ms = PortState.OPEN, round((time.perf_counter() - started) * 1000.0, 2)
    async with client:
        reply, ex = await exchange(client, _binding_request(), step="reachability (TCP Binding)")
    _record_reply(result, reply, ex)
    result.stun = StunAnswer.ANSWERED if ex.outcome in _ANSWERED else StunAnswer.NO_ANSWER


async def _connect(result: PortResult, timeout: float) -> bool:
    started = time.perf_counter()
    try:
        client = await StreamClient.connect(result.address, result.port, timeout=timeout)
    except TransportError as err:
        _connect_failed(result, err, timeout)
        return False
    result.rtt_ms = round((time.perf_counter() - started) * 1000.0, 2)
    await client.close()
    return True


async def _probe_tls(result: PortResult, timeout: float, server_name: str | None, ca_file: Path | None,
                     insecure: bool) -> None:
    from rtcdiag.probes import tls_info

    if not await _connect(result, timeout):
        return
    info, (reply, ex) = await asyncio.gather(
        tls_info.inspect(result.address, result.port, server_name=server_name, timeout=timeout,
                         ca_file=ca_file, insecure=insecure),
        _binding_over_tls(result, timeout, server_name))
    result.tls = info
    if info.handshake_ok:
        result.state = PortState.OPEN
        _record_reply(result, reply, ex)
        result.stun = StunAnswer.ANSWERED if ex.outcome in _ANSWERED else StunAnswer.NO_ANSWER
    else:
        result.state, result.error = PortState.TLS_FAILED, info.error


async def _binding_over_tls(result: PortResult, timeout: float,
                            server_name: str | None) -> tuple[Message | None, Exchange]:
    """A STUN Binding inside TLS: does STUN answer on this port? (Trust is judged from ``inspect``; this
    connection does not verify the certificate, so an untrusted one still shows whether STUN is there.)"""
    try:
        client = await StreamClient.connect(result.address, result.port, timeout=timeout,
                                            ssl_context=make_client_context(insecure=True),
                                            server_hostname=server_name,
                                            policy=RetransmitPolicy.for_timeout(timeout))
    except TransportError as err:
        return None, transport_error_exchange("reachability (TLS Binding)", "Binding request", "tls",
                                              (result.address, result.port), err)
    async with client:
        return await exchange(client, _binding_request(), step="reachability (TLS Binding)")


async def probe_port(address: str, target: PortTarget, *, timeout: float = DEFAULT_TIMEOUT_S,
                     server_name: str | None = None, ca_file: Path | None = None,
                     insecure: bool = False) -> PortResult:
    """Probe one ``transport:port`` at the IP ``address``; never raises for network problems."""
    result = PortResult(transport=target.transport, port=target.port, address=address)
    started = time.perf_counter()
    try:
        if target.transport == "udp":
            await _probe_udp(result, timeout)
        elif target.transport == "tcp":
            await _probe_tcp(result, timeout)
        else:
            await _probe_tls(result, timeout, server_name, ca_file, insecure)
    except OSError as exc:  # e.g. address family not supported here
        result.state, result.error = PortState.ERROR, _describe_os_error(exc)
    if result.rtt_ms is None and result.state is PortState.OPEN:
        result.rtt_ms = round((time.perf_counter() - started) * 1000.0, 2)
    return result


async def _guarded_probe(address: str, target: PortTarget, *, timeout: float, server_name: str | None,
                         ca_file: Path | None, insecure: bool) -> PortResult:
    """:func:`probe_port`, but a bug in one port's probe is recorded on that port (``internal_error``) and
    the other ports are still probed and reported (set RTCDIAG_DEBUG=1 to let it raise)."""
    try:
        return await probe_port(address, target, timeout=timeout, server_name=server_name, ca_file=ca_file,
                                insecure=insecure)
    except Exception as exc:
        if os.environ.get("RTCDIAG_DEBUG"):
            raise
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f" at {tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}" if tb else ""
        return PortResult(transport=target.transport, port=target.port, address=address, state=ERROR,
                          internal_error=f"{type(exc).__name__}{where}: {exc}"[:300])


def _trace_targets(targets: list[PortTarget]) -> list[tuple[str, int]]:
    # TLS rides on TCP: trace it as TCP SYNs to the same port.
    out: list[tuple[str, int]] = []
    for target in targets:
        pair = ("udp" if target.transport == "udp" else "tcp", target.port)
        if pair not in out:
            out.append(pair)
    return out


async def check(host: str, ports: list[PortTarget] | None = None, *, timeout: float = DEFAULT_TIMEOUT_S,
                ca_file: Path | None = None, insecure: bool = False, server_name: str | None = None,
                trace: bool = False, max_hops: int = 16) -> ReachResult:
    """Probe ``ports`` (default :data:`DEFAULT_PORTS`) on ``host`` concurrently.

    ``host`` may be a name (resolved once; the first address is probed) or an IP literal. TLS certificates
    are checked against ``server_name`` (default: ``host``). ``trace`` needs root.
    """
    targets = list(ports) if ports else list(DEFAULT_PORTS)
    result = ReachResult(host=host, address=None, timeout_s=timeout, planned=targets)
    started = time.perf_counter()
    if trace:
        from rtcdiag.probes.trace import require_root

        require_root()  # fail before any traffic, with one clear line
    try:
        result.addresses = await _resolve(host)
    except (OSError, UnicodeError) as exc:
        result.resolve_error = f"cannot resolve {host}: {getattr(exc, 'strerror', None) or exc}"
    if not result.addresses:
        result.resolve_error = result.resolve_error or f"cannot resolve {host}: no address"
        result.duration_ms = round((time.perf_counter() - started) * 1000.0, 2)
        return result
    address = result.addresses[0]
    result.address = address
    name = server_name or (host if parse_ip(host) is None else address)
    probes = [slots.limited(slots.PORT_FDS, _guarded_probe, address, t, timeout=timeout, server_name=name,
                            ca_file=ca_file, insecure=insecure) for t in targets]
    labels = [f"{t.transport} port {t.port} of {host}" for t in targets]  # Ctrl-C: the ports that finished
    if trace:
        from rtcdiag.probes import trace as trace_probe

        traced = asyncio.ensure_future(
            trace_probe.trace(address, _trace_targets(targets), max_hops=max_hops, timeout=timeout))
        try:
            result.ports = await interrupt.finished(probes, labels)
        finally:
            if interrupt.requested() is not None:
                traced.cancel()  # a no-op when it had finished
            try:
                result.traces = await traced
            except asyncio.CancelledError:
                if not interrupt.swallow():
                    raise
                interrupt.note_unfinished(f"path trace to {host}")
    else:
        result.ports = await interrupt.finished(probes, labels)
    result.duration_ms = round((time.perf_counter() - started) * 1000.0, 2)
    return result
