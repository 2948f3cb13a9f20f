"""STUN Binding probe (RFC 8489 §3, §6): one Binding request per target x transport, every step recorded.

Library use::

    from rtcdiag.probes import binding
    results = await binding.check_all(targets, binding.BindingOptions(timeout=2.0))

The probe reports what the server said; whether that is good or bad is decided in ``rtcdiag.triage.stun``.

Requests every STUN generation accepts: no SOFTWARE by default. RFC 8489 §14.14 makes SOFTWARE optional
(SHOULD, for diagnostics), and RFC 3489-era parsers (Vovida stund, which reads 0x8022 as SERVER) require every
string length to be a multiple of 4 (RFC 3489 §11.2.6) and drop the whole request otherwise. FINGERPRINT
(RFC 8489 §14.7) is still added; when UDP stays silent although the host is alive (a TCP connect to the same
port is accepted or reset), one more request without any optional attribute tells "drops what it does not
parse" from "down".
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

from rtcdiag import interrupt
from rtcdiag.addresses import redirect_refusal, scope_of
from rtcdiag.net import StreamClient, TransportError, UdpClient
from rtcdiag.probes import slots
from rtcdiag.probes.exchange import (
    address_of,
    alternate_domain,
    error_kind,
    exchange,
    hostport,
    redirect_loop,
    transport_error_exchange,
)
from rtcdiag.probes.record import ErrorKind, Exchange, Outcome, Redirect
from rtcdiag.protocol.attributes import Address as StunAddress
from rtcdiag.protocol.constants import AttrType, MessageClass, Method
from rtcdiag.protocol.errors import StunParseError
from rtcdiag.protocol.message import Message
from rtcdiag.protocol.transaction import RetransmitPolicy
from rtcdiag.redact import ECHO
from rtcdiag.resolve import resolve
from rtcdiag.targets import Target
from rtcdiag.tls import make_client_context

SOFTWARE = "rtcdiag"  # what ``BindingOptions(software=SOFTWARE)`` sends; not sent by default
ALIVE_TIMEOUT_S = 1.0  # longest TCP connect used to tell "host alive" after a silent UDP Binding
MAX_UNKNOWN_SHOWN = 16  # unknown attribute types kept in BindingResult.unknown_attributes


@dataclass(frozen=True)
class BindingOptions:
    timeout: float = 5.0  # seconds one transaction may take (RFC 8489 schedule scaled to fit)
    ca_file: str | None = None  # extra trust anchor for stuns:/TLS
    insecure: bool = False  # skip TLS certificate verification
    family: int | None = None  # 4, 6 or None (whatever the name resolves to first)
    follow_redirects: bool = True  # 300 ALTERNATE-SERVER, within rtcdiag.addresses.redirect_refusal
    software: str | None = None  # SOFTWARE value to send (RFC 8489 §14.14); None: no SOFTWARE (see above)
    plain_retry: bool = True  # UDP silent, host alive: retry once without optional attributes

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
    # Mapped-address attributes that were present but could not be decoded: "XOR-MAPPED-ADDRESS: why".
    malformed_mapped: list[str] = field(default_factory=list)
    response_origin: str | None = None  # RFC 5780 §7.3
    other_address: str | None = None  # RFC 5780 §7.4 (or legacy CHANGED-ADDRESS)
    alternate_server: str | None = None  # RFC 8489 §14.15 (300 Try Alternate)
    alternate_scope: str | None = None  # rtcdiag.addresses.AddressScope value of alternate_server
    redirect: Redirect | None = None  # what was done with a 300 (followed: the fields describe the alternate)
    redirect_detail: str | None = None  # why it was not followed
    redirect_exchange: Exchange | None = None  # the 300 itself, when it was followed
    response_source: str | None = None  # the reply's real packet source
    software: str | None = field(default=None, metadata=ECHO)
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
    # TLS with --insecure: the connection did not verify; a separate handshake did, and found this.
    tls_verification_off: bool = False
    certificate_problem: str | None = None
    rfc3489_attributes: list[str] = field(default_factory=list)  # CHANGED-ADDRESS, SOURCE-ADDRESS (RFC 3489)
    host_alive: str | None = None  # after a silent UDP Binding: "tcp-accepted" | "tcp-refused" | None
    dropped_attributes: list[str] = field(default_factory=list)  # request attributes the server ignored
    exchange: Exchange | None = None  # the transaction the outcome comes from (the retry when there was one)
    first_exchange: Exchange | None = None  # the silent first request, when a plain retry was answered
    plain_retry_sent: bool = False  # a Binding without optional attributes followed a silent one


def _addr(reply: Message, attr_type: int) -> str | None:
    address = address_of(reply, attr_type)
    return hostport(address) if address is not None else None


def _why_malformed(reply: Message, attr_type: int) -> str:
    raw = reply.get_raw(attr_type) or b""
    try:
        reply.get_as(attr_type, StunAddress)
    except StunParseError as exc:
        return f"{exc} ({len(raw)} bytes: {raw[:20].hex(' ')})"
    return f"not an address ({len(raw)} bytes: {raw[:20].hex(' ')})"


def _fill_from_reply(result: BindingResult, reply: Message) -> None:
    result.legacy_rfc3489 = reply.legacy
    result.xor_mapped_address = _addr(reply, AttrType.XOR_MAPPED_ADDRESS)
    result.plain_mapped_address = _addr(reply, AttrType.MAPPED_ADDRESS)
    for attr_type, value in ((AttrType.XOR_MAPPED_ADDRESS, result.xor_mapped_address),
                             (AttrType.MAPPED_ADDRESS, result.plain_mapped_address)):
        if value is None and reply.has(attr_type):  # there, but not an address (RFC 8489 §14.1, §14.2)
            name = attr_type.name.replace("_", "-")
            result.malformed_mapped.append(f"{name}: {_why_malformed(reply, attr_type)}")
    if result.xor_mapped_address:
        result.mapped_address, result.mapped_from = result.xor_mapped_address, "XOR-MAPPED-ADDRESS"
    elif result.plain_mapped_address:
        result.mapped_address, result.mapped_from = result.plain_mapped_address, "MAPPED-ADDRESS"
    result.response_origin = _addr(reply, AttrType.RESPONSE_ORIGIN)
    result.other_address = _addr(reply, AttrType.OTHER_ADDRESS) or _addr(reply, AttrType.CHANGED_ADDRESS)
    result.alternate_server = _addr(reply, AttrType.ALTERNATE_SERVER)
    software = reply.find(AttrType.SOFTWARE, str)
    result.software = software.rstrip("\x00") if software else software  # RFC 3489-era NUL padding
    result.fingerprint = reply.has(AttrType.FINGERPRINT)
    result.rfc3489_attributes = [name for name, attr in (("CHANGED-ADDRESS", AttrType.CHANGED_ADDRESS),
                                                         ("SOURCE-ADDRESS", AttrType.SOURCE_ADDRESS))
                                 if reply.has(attr)]
    known = {int(t) for t in AttrType}
    unknown = [a.type for a in reply.attributes if a.type not in known]
    result.unknown_attribute_count = len(unknown)
    result.unknown_attributes = [f"0x{t:04X}" for t in unknown[:MAX_UNKNOWN_SHOWN]]


def _request(options: BindingOptions) -> Message:
    request = Message(Method.BINDING, MessageClass.REQUEST)
    if options.software is not None:
        request.add(AttrType.SOFTWARE, options.software)
    return request


async def _transact(target: Target, dest: tuple[str, int], family: int, options: BindingOptions,
                    result: BindingResult, server_name: str | None = None, *,
                    plain: bool = False) -> Message | None:
    """One Binding transaction; ``plain``: no optional attribute at all (no SOFTWARE, no FINGERPRINT)."""
    request = Message(Method.BINDING, MessageClass.REQUEST) if plain else _request(options)
    step = f"binding ({target.transport})" + (" without optional attributes" if plain else "")
    transport = target.transport or "udp"
    try:
        if transport == "udp":
            client: UdpClient | StreamClient = await UdpClient.open(family=family, policy=options.policy)
        else:
            context = (make_client_context(options.ca_file, options.insecure)
                       if transport == "tls" else None)
            client = await StreamClient.connect(dest[0], dest[1], ssl_context=context,
                                                server_hostname=(server_name or target.host)
                                                if context else None,
                                                timeout=options.timeout, policy=options.policy)
    except TransportError as err:
        result.exchange = transport_error_exchange(step, "Binding request", transport, dest, err)
        return None
    certificate = None
    if transport == "tls" and options.insecure:  # verify aside, blocking nothing (rtcdiag.tls)
        result.tls_verification_off = True
        from rtcdiag.probes import tls_info

        certificate = asyncio.ensure_future(tls_info.inspect_once(dest[0], dest[1], server_name=target.host,
                                                                  timeout=options.timeout))
    try:
        result.local_address = hostport(client.local_address)
        if isinstance(client, StreamClient):
            result.tls = client.tls_info()
        reply, record = await exchange(client, request, dest=dest, step=step, policy=options.policy,
                                       fingerprint=not plain, count_copies=True)
        result.exchange = record
        if reply is not None:
            _fill_from_reply(result, reply)
        return reply
    finally:
        await client.close()
        if certificate is not None:
            with contextlib.suppress(TimeoutError):
                info = await asyncio.wait_for(certificate, options.timeout)
                result.certificate_problem = "; ".join(tls_info.certificate_problems(info)) or None


async def _follow(target: Target, original: tuple[str, int], reply: Message, options: BindingOptions,
                  result: BindingResult) -> None:
    """RFC 8489 §10: send the Binding once to ALTERNATE-SERVER (same transport; TLS verified against
    ALTERNATE-DOMAIN, else the original name), unless --no-follow or rtcdiag.addresses.redirect_refusal
    forbids the address (link-local such as 169.254.169.254, loopback/private named from elsewhere, ...)."""
    alternate = address_of(reply, AttrType.ALTERNATE_SERVER)
    if alternate is None:
        return
    result.alternate_scope = scope_of(alternate[0]).value
    if not options.follow_redirects:
        result.redirect, result.redirect_detail = Redirect.NOT_FOLLOWED, "--no-follow"
        return
    itself = redirect_loop([original], alternate)
    if itself is not None:  # to itself: following could only loop
        result.redirect, result.redirect_detail = Redirect.LOOP, itself
        return
    refusal = redirect_refusal(original[0], alternate[0])
    if refusal is not None:
        result.redirect, result.redirect_detail = Redirect.REFUSED, refusal
        return
    result.redirect, result.redirect_exchange = Redirect.FOLLOWED, result.exchange
    shown = result.alternate_server
    result.server_address = hostport(alternate)
    family = socket.AF_INET6 if ":" in alternate[0] else socket.AF_INET
    again = await _transact(target, alternate, family, options, result, alternate_domain(reply))
    result.alternate_server = shown  # the alternate's own reply does not replace where we were sent
    onward = address_of(again, AttrType.ALTERNATE_SERVER) if again is not None and again.error_code == 300 \
        else None
    if onward is not None:  # the alternate redirects too: back (a loop) or onward (rtcdiag follows one)
        loop = redirect_loop([original, alternate], onward)
        result.redirect = Redirect.LOOP if loop is not None else Redirect.AGAIN
        result.redirect_detail = loop or f"{hostport(alternate)} redirected again, to {hostport(onward)}: " \
                                         "not followed (rtcdiag follows one redirect)"


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
    reply = await _transact(target, first.address, first.family, options, result)
    if reply is not None and reply.error_code == 300:
        await _follow(target, first.address, reply, options, result)
    elif transport == "udp" and options.plain_retry and result.exchange is not None \
            and result.exchange.outcome is Outcome.TIMEOUT:
        await _plain_retry(target, first.address, first.family, options, result)
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


async def _host_alive(dest: tuple[str, int], timeout: float) -> str | None:
    """Does the host answer at all? A TCP connect to the same port that is accepted or reset says yes."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(dest[0], dest[1]), timeout)
    except ConnectionRefusedError:
        return "tcp-refused"
    except (OSError, TimeoutError):
        return None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return "tcp-accepted"


async def _plain_retry(target: Target, dest: tuple[str, int], family: int, options: BindingOptions,
                       result: BindingResult) -> None:
    """UDP was silent: if the host is alive, send one Binding without optional attributes (RFC 3489-era
    servers drop requests they cannot parse, RFC 3489 §11.2.6). Its answer is the result; the silent first
    transaction stays in ``first_exchange``."""
    result.host_alive = await _host_alive(dest, min(ALIVE_TIMEOUT_S, options.timeout))
    if result.host_alive is None:
        return
    first = result.exchange
    assert first is not None
    sent = [name for name in ("SOFTWARE", "FINGERPRINT") if name == "FINGERPRINT" or options.software]
    await _transact(target, dest, family, options, result, plain=True)
    result.plain_retry_sent = True
    if result.exchange is not None and result.exchange.outcome is not Outcome.TIMEOUT:
        result.first_exchange = first
        result.dropped_attributes = sent
    else:
        result.exchange = first  # silent both times: the first transaction stands


async def check_all(targets: Sequence[Target], options: BindingOptions | None = None) -> list[BindingResult]:
    """Probe every target concurrently (at most ``slots`` at once); results keep the order of ``targets``.
    Interrupted (Ctrl-C, SIGTERM): the results that had finished (:func:`rtcdiag.interrupt.finished`)."""
    return await interrupt.finished([slots.limited(slots.BINDING_FDS, check, t, options) for t in targets],
                                    [t.uri for t in targets])

