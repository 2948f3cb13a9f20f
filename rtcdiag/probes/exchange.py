"""The bridge every probe uses: send a codec ``Message`` over a transport client, get (reply, Exchange).

``exchange()`` encodes the request (MESSAGE-INTEGRITY with ``key``, FINGERPRINT), runs the transaction, and
discards replies that fail checks, which are counted in ``Exchange.rejected_count`` (the first few kept as
text in ``Exchange.rejected``) while the transaction keeps waiting (RFC 8489 §6.3):
- not decodable (StunParseError), or a different method than the request;
- FINGERPRINT present but wrong (§14.7);
- with ``key`` (an authenticated request): MESSAGE-INTEGRITY(-SHA256) not matching ``key``, or missing
  from a success or error response (§9.2.5: discarded "as if it had never been received", so the
  transaction keeps waiting for a valid one). Exempt: the error responses a server sends when it could not
  or must not authenticate the request (400, 401, 438, and 420, which some servers check first); coturn
  signs every other one. Such discards are counted in ``Exchange.unverified_count``.
Network failures never raise: they become ``outcome="transport-error"`` with ``error``/``error_kind``.
A request too large to send (the server's challenge made it so) becomes ``outcome="not-sent"``.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Coroutine
from typing import Any, Protocol

from rtcdiag.net import Client, StreamClient, TlsError, TransportError
from rtcdiag.probes.record import MAX_SHOWN_ATTRIBUTES, ErrorKind, Exchange, Outcome
from rtcdiag.protocol.attributes import Address as StunAddress
from rtcdiag.protocol.attributes import ErrorCode
from rtcdiag.protocol.constants import AttrType, MessageClass
from rtcdiag.protocol.describe import describe, summary
from rtcdiag.protocol.errors import MessageTooLargeError, StunParseError
from rtcdiag.protocol.integrity import verify_fingerprint, verify_message_integrity
from rtcdiag.protocol.message import Message
from rtcdiag.protocol.transaction import Address, RetransmitPolicy, TransactionResult, Validator

MAX_UDP_PAYLOAD = 65507  # IPv4: 65535 - 20 (IP header) - 8 (UDP header), RFC 768 / RFC 791

__all__ = ["ErrorFields", "address_of", "alternate_domain", "error_kind", "exchange", "hostport",
           "indication", "redirect_loop", "take_error", "transport_error_exchange"]


def address_of(msg: Message, attr_type: int) -> Address | None:
    """The first ``attr_type`` address attribute as (ip, port); None if absent or malformed."""
    value = msg.find(attr_type, StunAddress)
    return (value.ip.compressed, value.port) if value is not None else None


class ErrorFields(Protocol):
    """A result that records the error response that ended it."""

    error_code: int | None
    error_reason: str | None
    error_step: str | None


def take_error(result: ErrorFields, reply: Message, step: str) -> None:
    """Record the error response that ended ``step``: code and reason phrase (ERROR-CODE, RFC 8489 §14.8)."""
    result.error_step, result.error_code = step, reply.error_code
    error = reply.find(AttrType.ERROR_CODE, ErrorCode)
    result.error_reason = error.reason if error is not None else None


def _same(a: Address, b: Address) -> bool:
    """One transport address (IPv6 compared by value, not spelling)."""
    try:
        return ipaddress.ip_address(a[0]) == ipaddress.ip_address(b[0]) and a[1] == b[1]
    except ValueError:
        return a == b


def redirect_loop(tried: list[Address], alternate: Address) -> str | None:
    """The loop, ``A -> B -> A`` (``A -> A`` for a server redirecting to itself), when ``alternate`` is a
    server this request already went to (``tried``, in order), else None. RFC 8489 §10: a client redirected
    to a server it already sent the request to ignores the redirect (no ping-pong between servers)."""
    if not any(_same(done, alternate) for done in tried):
        return None
    return " -> ".join(hostport(a) for a in [*tried, alternate])


_MAX_DOMAIN = 253  # RFC 1035 §2.3.4


def alternate_domain(msg: Message) -> str | None:
    """ALTERNATE-DOMAIN (RFC 8489 §14.16) when it is a plausible DNS name, else None: it becomes a TLS server
    name, so a hostile value is never used raw."""
    domain = msg.find(AttrType.ALTERNATE_DOMAIN, str)
    if domain is None or not 0 < len(domain) <= _MAX_DOMAIN:
        return None
    labels = domain.rstrip(".").split(".")
    ok = all(0 < len(label) <= 63 and label.isascii() and label.replace("-", "").isalnum()
             for label in labels)
    return domain if ok else None


def hostport(address: Address) -> str:
    """``ip:port``, IPv6 in brackets."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def error_kind(err: TransportError) -> ErrorKind:
    """Stable word for triage: the error's kind, plus the reason for TLS (``tls:expired-certificate``)."""
    return ErrorKind.of(err.kind, err.reason if isinstance(err, TlsError) else None)


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


# Error codes answered without MESSAGE-INTEGRITY to an authenticated request: the server could not (400,
# 401, 420 before it got to the credentials) or must not (438: a new nonce, RFC 8489 §9.2.4) sign them.
UNSIGNED_ERRORS = frozenset({400, 401, 420, 438})
NO_INTEGRITY = "no MESSAGE-INTEGRITY in a response to an authenticated request (RFC 8489 §9.2.5)"
BAD_INTEGRITY = "MESSAGE-INTEGRITY does not verify with our credentials (RFC 8489 §9.2.5)"


def needs_integrity(reply: Message) -> bool:
    """Must this response to an authenticated request carry MESSAGE-INTEGRITY(-SHA256)? (RFC 8489 §9.2.5)"""
    return reply.msg_class == MessageClass.SUCCESS or (
        reply.msg_class == MessageClass.ERROR and reply.error_code not in UNSIGNED_ERRORS)


class _Unverified:
    """Replies discarded for their integrity: counted, the first one summarised (bounded)."""

    __slots__ = ("count", "ended", "first", "reason", "success")

    def __init__(self) -> None:
        self.count = 0
        self.first: str | None = None
        self.reason = ""
        self.success = False
        self.ended: asyncio.Event | None = None  # set at the first one (streams end the transaction there)

    def add(self, reply: Message, reason: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = summary(reply)
            self.reason = reason
            self.success = reply.msg_class == MessageClass.SUCCESS
        if self.ended is not None:
            self.ended.set()


def _validator(request: Message, key: bytes | None,
               unverified: _Unverified | None = None) -> tuple[dict[bytes, Message], Validator]:
    """A transport validator that also keeps the decoded reply (so it is parsed only once)."""
    decoded: dict[bytes, Message] = {}

    def validate(data: bytes) -> str | None:
        try:
            reply = Message.decode(data)
        except StunParseError as exc:
            return f"malformed reply: {exc}"
        if reply.method != request.method:
            return f"reply is a {summary(reply)} to a {summary(request)}"
        try:
            if verify_fingerprint(data) is False:
                return "FINGERPRINT does not match (RFC 8489 §14.7)"
            if key is not None:
                verified = verify_message_integrity(data, key)
                if verified is False or (verified is None and needs_integrity(reply)):
                    reason = f"{summary(reply)}: {NO_INTEGRITY if verified is None else BAD_INTEGRITY}"
                    if unverified is not None:
                        unverified.add(reply, reason)
                    return reason
        except StunParseError as exc:
            return f"malformed reply: {exc}"
        decoded[data] = reply
        return None

    return decoded, validate


async def exchange(client: Client, msg: Message, *, dest: Address | None = None, step: str,
                   key: bytes | None = None, sha256: bool = False, fingerprint: bool = True,
                   policy: RetransmitPolicy | None = None,
                   t0: float | None = None, count_copies: bool = False) -> tuple[Message | None, Exchange]:
    """Run one transaction for ``msg``; never raises for network failures.

    ``dest`` is required for UDP clients (stream clients talk to their peer). ``t0`` (event-loop time of the
    probe's start) sets ``Exchange.started_ms``. ``count_copies``: after retransmissions, count the answers
    to every send (``Exchange.answers``), for the probes that judge loss from them (STUN Binding, NAT).
    """
    loop = asyncio.get_running_loop()
    target = client.peer if isinstance(client, StreamClient) else dest
    if target is None:
        raise ValueError("exchange() over UDP needs dest=(ip, port)")
    record = Exchange(step=step, request=summary(msg), transport=client.transport, server=hostport(target),
                      started_ms=_ms(loop.time() - t0) if t0 is not None else 0.0)
    try:
        data = msg.encode(integrity_key=key, integrity_sha256=sha256, fingerprint=fingerprint)
        if client.transport == "udp" and len(data) > MAX_UDP_PAYLOAD:
            raise MessageTooLargeError(f"a {len(data)}-byte request does not fit in one UDP datagram "
                                       f"({MAX_UDP_PAYLOAD} bytes at most)")
    except MessageTooLargeError as exc:
        # What the server asked us to echo (REALM, NONCE, PASSWORD-ALGORITHMS) made the request too big.
        record.outcome = Outcome.NOT_SENT
        record.error = f"request not sent: {exc}"
        return None, record
    record.request_attributes = describe(Message.decode(data))
    unverified = _Unverified()
    decoded, validate = _validator(msg, key, unverified)
    try:
        request = client.request(data, target, txid=data[8:20], validate=validate, policy=policy,
                                 count_copies=count_copies)
        if isinstance(client, StreamClient) and key is not None:
            ended = await _unless_unverified(request, unverified)
            if ended is None:
                # RFC 8489 §9.2.5: over a reliable transport the transaction ends at once (no resend).
                record.outcome, record.attempts = Outcome.REJECTED, 1
                record.rejected, record.rejected_count = [f"{unverified.reason} (from {hostport(target)})"], 1
                _note_unverified(record, unverified)
                return None, record
            result = ended
        else:
            result = await request
    except TransportError as err:
        record.outcome = Outcome.TRANSPORT_ERROR
        record.error = str(err)
        record.error_kind = error_kind(err)
        record.attempts = max(1, record.attempts)
        _note_unverified(record, unverified)
        return None, record
    _note_unverified(record, unverified)
    return _fill(record, result, decoded)


async def _unless_unverified(request: Coroutine[Any, Any, TransactionResult],
                             unverified: _Unverified) -> TransactionResult | None:
    """The transaction's result, or None when a reply failed its integrity check first (then cancelled)."""
    unverified.ended = asyncio.Event()
    task = asyncio.ensure_future(request)
    waiter = asyncio.ensure_future(unverified.ended.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # cancelled (Ctrl-C): take the transaction down too
        task.cancel()
        raise
    finally:
        waiter.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.wait({task})  # let it unregister; its CancelledError stays in the task
    return None


def _note_unverified(record: Exchange, unverified: _Unverified) -> None:
    record.unverified_count = unverified.count
    record.unverified_response = unverified.first
    record.unverified_success = unverified.success


def _fill(record: Exchange, result: TransactionResult,
          decoded: dict[bytes, Message]) -> tuple[Message | None, Exchange]:
    record.attempts = result.attempts
    record.rejected = [f"{r.reason} (from {hostport(r.source)})" for r in result.rejected]
    record.rejected_count = max(result.rejected_count, len(result.rejected))
    if result.response is None:
        record.outcome = Outcome.REJECTED if record.rejected_count else Outcome.TIMEOUT
        return None, record
    reply = decoded.get(result.response) or Message.decode(result.response)
    record.response = summary(reply)
    record.response_attributes = describe(reply, limit=MAX_SHOWN_ATTRIBUTES)
    record.response_attribute_count = len(reply.attributes)
    record.response_source = hostport(result.source) if result.source else None
    record.error_code = reply.error_code
    record.outcome = Outcome.ERROR_RESPONSE if reply.msg_class == MessageClass.ERROR else Outcome.SUCCESS
    rtt = result.rtt
    record.rtt_ms = _ms(rtt) if rtt is not None else None
    record.attempt_rtts_ms = [_ms(x) for x in result.attempt_rtts]
    record.answers = result.answers
    record.copies_ms = [_ms(x) for x in result.copies_at or []]
    return reply, record


async def indication(client: Client, msg: Message, *, dest: Address | None = None, step: str,
                     fingerprint: bool = True, t0: float | None = None) -> Exchange:
    """Send an indication (no response expected, RFC 8489 §6.1); record it as ``outcome="sent"``."""
    loop = asyncio.get_running_loop()
    target = client.peer if isinstance(client, StreamClient) else dest
    if target is None:
        raise ValueError("indication() over UDP needs dest=(ip, port)")
    data = msg.encode(fingerprint=fingerprint)
    record = Exchange(step=step, request=summary(msg), transport=client.transport, server=hostport(target),
                      request_attributes=describe(msg), outcome=Outcome.SENT, attempts=1,
                      started_ms=_ms(loop.time() - t0) if t0 is not None else 0.0)
    try:
        await client.send(data, target)
    except TransportError as err:
        record.outcome = Outcome.TRANSPORT_ERROR
        record.error = str(err)
        record.error_kind = error_kind(err)
    return record


def transport_error_exchange(step: str, request: str, transport: str, server: Address,
                             err: TransportError, started_ms: float = 0.0) -> Exchange:
    """An Exchange for a failure before any message could be sent (TCP refused, TLS handshake, DNS)."""
    return Exchange(step=step, request=request, transport=transport, server=hostport(server),
                    outcome=Outcome.TRANSPORT_ERROR, error=str(err), error_kind=error_kind(err),
                    started_ms=started_ms)
