"""STUN Binding probe (RFC 8489 §3, §6): one Binding request per target x transport, every step recorded.

Library use::

    from rtcdiag.probes import binding
    results = await binding.check_all(targets, binding.BindingOptions(timeout=2.0))

The probe reports what the server said; whether that is good or bad is decided in ``rtcdiag.triage.stun``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from rtcdiag.probes import slots
from rtcdiag.probes.exchange import address_of, error_kind, exchange, hostport, transport_error_exchange
from rtcdiag.probes.record import ErrorKind, Exchange, Outcome
from rtcdiag.protocol.constants import AttrType, MessageClass, Method
from rtcdiag.protocol.message import Message
from rtcdiag.protocol.transport import RetransmitPolicy, StreamClient, TransportError, UdpClient
from rtcdiag.resolve import resolve
from rtcdiag.targets import Target
from rtcdiag.tls import make_client_context

SOFTWARE = "rtcdiag"
MAX_UNKNOWN_SHOWN = 16  # unknown attribute types kept in BindingResult.unknown_attributes


@dataclass(frozen=True)
class BindingOptions:
    timeout: float = 5.0  # seconds one transaction may take (RFC 8489 schedule scaled to fit)
    ca_file: str | None = None  # extra trust anchor for stuns:/TLS
    insecure: bool = False  # skip TLS certificate verification
    family: int | None = None  # 4, 6 or None (whatever the name resolves to first)

    @property
    def policy(self) -> RetransmitPolicy:
        return RetransmitPolicy.for_timeout(self.timeout)


@dataclass
class BindingResult:
    """Everything one Binding transaction showed; ``exchange`` holds the raw step with every attribute."""

    target: str  # URI for display (no credentials)
    host: str  # host as given
    port: int
    transport: str
    server_address: str | None = None  # ip:port actually used
    resolved: list[str] = field(default_factory=list)  # every address the name resolved to
    outcome: Outcome = Outcome.TIMEOUT
    error_kind: ErrorKind | None = None  # dns | refused | tls:<reason> | ... (see Exchange.error_kind)
    error: str | None = None
    error_code: int | None = None
    local_address: str | None = None
    mapped_address: str | None = None  # XOR-MAPPED-ADDRESS, else legacy MAPPED-ADDRESS
    mapped_from: str | None = None  # which attribute gave mapped_address
    xor_mapped_address: str | None = None
    plain_mapped_address: str | None = None  # MAPPED-ADDRESS (RFC 3489 / ALG check)
    response_origin: str | None = None  # RFC 5780 §7.3
    other_address: str | None = None  # RFC 5780 §7.4 (or legacy CHANGED-ADDRESS)
    alternate_server: str | None = None  # RFC 8489 §14.15 (300 Try Alternate)
    response_source: str | None = None  # the reply's real packet source
    software: str | None = None
    fingerprint: bool | None = None  # FINGERPRINT present in the reply
    legacy_rfc3489: bool = False  # no magic cookie in the reply
    unknown_attributes: list[str] = field(default_factory=list)  # types this codec does not know (first 16)
    unknown_attribute_count: int = 0  # how many attributes of unknown type the reply had
    rtt_ms: float | None = None
    attempts: int = 0
    retransmissions: int = 0
    attempt_rtts_ms: list[float] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # the first few rejected replies (Exchange.rejected)
    rejected_count: int = 0  # every rejected reply
    tls: dict[str, str | None] = field(default_factory=dict)  # version, cipher, alpn
    exchange: Exchange | None = None


def _addr(reply: Message, attr_type: int) -> str | None:
    address = address_of(reply, attr_type)
    return hostport(address) if address is not None else None


def _fill_from_reply(result: BindingResult, reply: Message) -> None:
    result.legacy_rfc3489 = reply.legacy
    result.xor_mapped_address = _addr(reply, AttrType.XOR_MAPPED_ADDRESS)
    result.plain_mapped_address = _addr(reply, AttrType.MAPPED_ADDRESS)
    if result.xor_mapped_address:
        result.mapped_address, result.mapped_from = result.xor_mapped_address, "XOR-MAPPED-ADDRESS"
    elif result.plain_mapped_address:
        result.mapped_address, result.mapped_from = result.plain_mapped_address, "MAPPED-ADDRESS"
    result.response_origin = _addr(reply, AttrType.RESPONSE_ORIGIN)
    result.other_address = _addr(reply, AttrType.OTHER_ADDRESS) or _addr(reply, AttrType.CHANGED_ADDRESS)
    result.alternate_server = _addr(reply, AttrType.ALTERNATE_SERVER)
    result.software = reply.find(AttrType.SOFTWARE, str)
    result.fingerprint = reply.has(AttrType.FINGERPRINT)
    known = {int(t) for t in AttrType}
    unknown = [a.type for a in reply.attributes if a.type not in known]
    result.unknown_attribute_count = len(unknown)
    result.unknown_attributes = [f"0x{t:04X}" for t in unknown[:MAX_UNKNOWN_SHOWN]]


async def _transact(target: Target, dest: tuple[str, int], family: int, options: BindingOptions,
                    result: BindingResult) -> None:
    request = Message(Method.BINDING, MessageClass.REQUEST)
    request.add(AttrType.SOFTWARE, SOFTWARE)
    step = f"binding ({target.transport})"
    transport = target.transport or "udp"
    try:
        if transport == "udp":
            client: UdpClient | StreamClient = await UdpClient.open(family=family, policy=options.policy)
        else:
            context = (make_client_context(options.ca_file, options.insecure)
                       if transport == "tls" else None)
            client = await StreamClient.connect(dest[0], dest[1], ssl_context=context,
                                                server_hostname=target.host if context else None,
                                                timeout=options.timeout, policy=options.policy)
    except TransportError as err:
        result.exchange = transport_error_exchange(step, "Binding request", transport, dest, err)
        return
    try:
        result.local_address = hostport(client.local_address)
        if isinstance(client, StreamClient):
            result.tls = client.tls_info()
        reply, record = await exchange(client, request, dest=dest, step=step, policy=options.policy)
        result.exchange = record
        if reply is not None:
            _fill_from_reply(result, reply)
    finally:
        await client.close()


async def check(target: Target, options: BindingOptions | None = None) -> BindingResult:
    """Send one Binding request to ``target`` (one transport) and record what came back."""
    options = options or BindingOptions()
    transport = target.transport or "udp"
    result = BindingResult(target=target.uri, host=target.host, port=target.port, transport=transport)
    try:
        addresses = await resolve(target.host, target.port, options.family, transport,
                                  timeout=options.timeout)
    except TransportError as err:
        result.outcome, result.error_kind, result.error = Outcome.TRANSPORT_ERROR, error_kind(err), str(err)
        return result
    result.resolved = [hostport(a.address) for a in addresses]
    first = addresses[0]
    result.server_address = hostport(first.address)
    await _transact(target, first.address, first.family, options, result)
    record = result.exchange
    if record is not None:
        result.outcome, result.error_kind, result.error = record.outcome, record.error_kind, record.error
        result.error_code = record.error_code
        result.rtt_ms, result.attempts = record.rtt_ms, record.attempts
        result.retransmissions = max(0, record.attempts - 1)
        result.attempt_rtts_ms, result.rejected = record.attempt_rtts_ms, record.rejected
        result.rejected_count = record.rejected_count
        result.response_source = record.response_source
    return result


async def check_all(targets: Sequence[Target], options: BindingOptions | None = None) -> list[BindingResult]:
    """Probe every target concurrently (at most ``slots`` at once); results keep the order of ``targets``."""
    return list(await asyncio.gather(*(slots.limited(slots.BINDING_FDS, check, t, options) for t in targets)))

