"""The TURN check's session and allocation (RFC 8656 §7, RFC 8489 §9.2.4): connect, the unauthenticated
Allocate and its 401 challenge, the authenticated Allocate (a 437 retried from a new port: to the first
Allocate, or to our own retransmission of the authenticated one, whose allocation is released first; a 486
retried once this run's own allocations are gone, a 300 followed once within the redirect policy), the relays
of every family asked for. Records facts in the TransportResult; rtcdiag.triage.turn judges them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

from rtcdiag.addresses import redirect_refusal, scope_of
from rtcdiag.net import StreamClient, TransportError, UdpClient
from rtcdiag.probes import turn_quota
from rtcdiag.probes.exchange import (
    address_of,
    alternate_domain,
    error_kind,
    exchange,
    hostport,
    redirect_loop,
    take_error,
)
from rtcdiag.probes.record import ErrorKind, Exchange, Outcome, Redirect
from rtcdiag.probes.turn_options import TurnCheckOptions
from rtcdiag.probes.turn_result import FamilyRelay, RelayFamily, TransportResult
from rtcdiag.probes.turn_session import Credentials, TurnSession
from rtcdiag.protocol import (
    Address,
    AddressErrorCode,
    AddressFamily,
    AttrType,
    Message,
    MessageClass,
    Method,
    RequestedAddressFamily,
    RequestedTransport,
    StunParseError,
    TransportProtocol,
    UnknownAttributes,
    attr_name,
)
from rtcdiag.protocol.attributes import unpack_value
from rtcdiag.protocol.transaction import RetransmitPolicy
from rtcdiag.redact import echo

OWN_RELEASE_S = 2.0  # bound on releasing what a retransmitted Allocate made before a 437 (as the release's)
QUOTA_WAIT_TIMEOUTS = 4  # after a 486, wait at most this many --timeout for this run's other allocations
_MAX_UNKNOWN_SHOWN = 16  # types of a 420's UNKNOWN-ATTRIBUTES kept (it can list 32000)
WIRE_FAMILY = {RelayFamily.IPV4: AddressFamily.IPV4, RelayFamily.IPV6: AddressFamily.IPV6}
REQUESTED_FAMILY = "REQUESTED-ADDRESS-FAMILY"
ADDITIONAL_FAMILY = "ADDITIONAL-ADDRESS-FAMILY"


async def connect_client(transport: str, ip: str, port: int, server_name: str, options: TurnCheckOptions,
                         policy: RetransmitPolicy) -> UdpClient | StreamClient:
    if transport == "udp":
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        return await UdpClient.open(family, policy=policy)
    ssl_context = None
    if transport == "tls":
        from rtcdiag.tls import make_client_context

        ssl_context = make_client_context(options.ca_file, options.insecure)
    return await StreamClient.connect(ip, port, ssl_context=ssl_context, server_hostname=server_name,
                                      timeout=options.timeout_s, policy=policy)


async def open_session(tr: TransportResult, transport: str, server: tuple[str, int], server_name: str,
                       options: TurnCheckOptions, policy: RetransmitPolicy, t0: float) -> TurnSession | None:
    """Connect (TCP/TLS: within the timeout) and start a TurnSession; a failure is recorded in ``tr``."""
    loop = asyncio.get_running_loop()
    begin = loop.time()
    try:
        client = await connect_client(transport, server[0], server[1], server_name, options, policy)
    except TransportError as err:
        tr.connected = False
        tr.connect_error = str(err)
        tr.failure_kind = error_kind(err)
        return None
    if transport != "udp":
        tr.connect_ms = round((loop.time() - begin) * 1000.0, 3)
    if isinstance(client, StreamClient) and client.ssl_object is not None:
        from rtcdiag.probes.tls_info import leaf_certificate

        tr.certificate = leaf_certificate(client.ssl_object)
    tr.connected = True
    tr.server = hostport(server)
    return TurnSession(client, server, transport, tr.steps, t0, policy)


def planned_relays(families: tuple[RelayFamily, ...]) -> list[FamilyRelay]:
    """One FamilyRelay per family asked for, saying which attribute asks for it (see allocate_request)."""
    if set(families) == {RelayFamily.IPV4, RelayFamily.IPV6}:
        return [FamilyRelay(RelayFamily.IPV4), FamilyRelay(RelayFamily.IPV6, ADDITIONAL_FAMILY)]
    family = families[0] if families else RelayFamily.IPV4
    return [FamilyRelay(family, REQUESTED_FAMILY if family is RelayFamily.IPV6 else None)]


def allocate_request(families: tuple[RelayFamily, ...] = (RelayFamily.IPV4,),
                     protocol: int = TransportProtocol.UDP) -> Message:
    """An Allocate request for ``protocol`` (UDP 17, the only relay transport WebRTC uses; TCP 6 for RFC
    6062) and the relay families wanted (RFC 8656 §7.1):

    - IPv4 alone: no family attribute (IPv4 is the default; what a browser sends);
    - IPv6 alone: REQUESTED-ADDRESS-FAMILY IPv6;
    - both (a dual allocation): ADDITIONAL-ADDRESS-FAMILY IPv6 (IPv4 implied; never together with
      REQUESTED-ADDRESS-FAMILY, which a server answers with 400, §7.2).
    """
    msg = Message(Method.ALLOCATE, MessageClass.REQUEST)
    msg.add(AttrType.REQUESTED_TRANSPORT, RequestedTransport(protocol))
    for relay in planned_relays(families):
        if relay.requested_with is not None:
            attr = AttrType.REQUESTED_ADDRESS_FAMILY if relay.requested_with == REQUESTED_FAMILY \
                else AttrType.ADDITIONAL_ADDRESS_FAMILY
            msg.add(attr, RequestedAddressFamily(WIRE_FAMILY[relay.family]))
    return msg


def take_relays(tr: TransportResult, reply: Message) -> None:
    """Fill ``tr.relays`` from an Allocate success: every XOR-RELAYED-ADDRESS (a dual allocation has one per
    family, RFC 8656 §7.2) and every ADDRESS-ERROR-CODE (a family the server could not allocate, §18.12).
    The top-level relayed_* fields describe the first family asked for (None when that one failed)."""
    if not tr.relays:
        tr.relays = planned_relays((RelayFamily.IPV4,))
    got: dict[RelayFamily, tuple[str, int]] = {}
    errors: dict[RelayFamily, AddressErrorCode] = {}
    key = reply.xor_key
    for attr in reply.attributes:
        if attr.type not in (AttrType.XOR_RELAYED_ADDRESS, AttrType.ADDRESS_ERROR_CODE):
            continue
        try:
            value = unpack_value(attr.type, attr.value, key)
        except StunParseError:
            continue  # malformed: stays visible, raw, in the recorded exchange
        if isinstance(value, Address):
            family = RelayFamily.IPV6 if value.family == AddressFamily.IPV6 else RelayFamily.IPV4
            got.setdefault(family, (value.ip.compressed, value.port))
        elif isinstance(value, AddressErrorCode):
            family = RelayFamily.IPV6 if value.family == AddressFamily.IPV6 else RelayFamily.IPV4
            errors.setdefault(family, value)
    for relay in tr.relays:
        address = got.pop(relay.family, None)
        if address is not None:
            relay.relayed_address, relay.relayed_ip = hostport(address), address[0]
            relay.relay_scope = scope_of(address[0]).value
        error = errors.get(relay.family)
        if error is not None and address is None:
            relay.error_code, relay.error_reason = error.code, error.reason or None
    for family, address in got.items():  # a family nobody asked for (a server ignoring the attributes)
        tr.relays.append(FamilyRelay(family, None, hostport(address), address[0], scope_of(address[0]).value,
                                     asked=False))
    first = tr.relays[0]
    tr.relayed_address, tr.relayed_ip = first.relayed_address, first.relayed_ip
    tr.relay_scope = first.relay_scope


def refresh_request(lifetime: int) -> Message:
    return Message(Method.REFRESH, MessageClass.REQUEST).add(AttrType.LIFETIME, lifetime)


async def allocate(session: TurnSession, tr: TransportResult, credentials: Credentials | None,
                   options: TurnCheckOptions, policy: RetransmitPolicy, t0: float,
                   sessions: list[TurnSession]) -> TurnSession | None:
    """Steps 1-2 (RFC 8489 §9.2.4): unauthenticated Allocate, then with credentials; 300 followed once."""
    redirected = False

    def build() -> Message:
        return allocate_request(options.families)

    while True:
        reply, record = await _first_allocate(session, build, tr, policy, t0, probe=not redirected)
        if reply is not None and reply.error_code == 437 and not tr.fresh_port_retry:
            # RFC 8656 §7.2: 437 means an allocation already exists for this 5-tuple. Before we sent a
            # single authenticated request that can only be a previous run's allocation on a local port the
            # kernel handed out again (coturn keeps a released one for up to a second): not a fault of the
            # server nor the network. Once, from a new local port (the 437 stays in the steps as evidence).
            tr.fresh_port_retry = True
            fresh = await open_session(tr, session.transport, session.server,
                                       tr.server_name or session.server[0], options, policy, t0)
            if fresh is not None:
                sessions.append(fresh)
                session = fresh
                continue
        _take_software(tr, reply)
        if reply is None:
            if record.outcome is Outcome.TRANSPORT_ERROR:
                tr.connected = False
                tr.connect_error, tr.failure_kind = record.error, record.error_kind
            elif record.outcome is Outcome.REJECTED:
                tr.failure_kind = ErrorKind.MALFORMED
                count = max(record.rejected_count, len(record.rejected))
                more = f" ({count} rejected, first {len(record.rejected)} shown)" \
                    if count > len(record.rejected) else ""
                tr.connect_error = "; ".join(record.rejected) + more
            return session
        tr.challenge_answered = True
        if reply.msg_class == MessageClass.SUCCESS:
            tr.open_relay = True  # RFC 8656 §7.2 servers SHOULD demand credentials
            _take_allocation(tr, reply)
            _hold(session, "")
            return session
        tr.challenge_code = reply.error_code
        if reply.error_code == 300:
            followed = await _follow_alternate(session, tr, reply, credentials, options, policy, t0,
                                               sessions, "unauthenticated Allocate request")
            if followed is None:
                return session
            session, redirected = followed, True
            continue
        if reply.error_code != 401:
            _take_allocate_error(tr, reply, "unauthenticated Allocate request")
            return session
        session.learn_challenge(reply)
        tr.challenge_problem = session.challenge_problem
        tr.realm = session.realm if tr.challenge_problem is None else _shown_text(reply, AttrType.REALM)
        tr.nonce_seen = session.nonce is not None
        tr.password_algorithms = session.offered_algorithms()
        if credentials is None or session.realm is None or session.nonce is None or tr.challenge_problem:
            return session
        if redirected and session.realm != tr.redirect_realm:
            # Credentials go only to the realm the redirecting server is in (see _follow_alternate).
            tr.redirect = Redirect.CREDENTIALS_WITHHELD
            tr.redirect_detail = (f"the alternate server's realm {echo(repr(session.realm))} is not the "
                                  f"redirecting server's realm {echo(repr(tr.redirect_realm))}"
                                  if tr.redirect_realm is not None
                                  else "the redirecting server's realm is unknown (pass --realm to name it)")
            return session
        session.set_credentials(credentials)
        tr.authenticated = True
        tr.hash_realm = credentials.realm_override or session.realm
        tr.auth_algorithm = session.algorithm_name
        tr.userhash = session.use_userhash
        tr.userhash_error = session.userhash_error
        reply, record = await _allocate_request(session, build, "allocate (authenticated)")
        if reply is not None and reply.error_code == 486:
            reply, record = await _after_quota(session, build, tr, credentials.username, options, reply,
                                               record)
        if reply is not None and reply.error_code == 437 and record.attempts > 1 and not tr.fresh_port_retry:
            # RFC 8656 §7.3: a 437 to an Allocate we retransmitted: the server made the allocation on an
            # earlier copy, whose success never reached us, and took this copy for a new request (keeping the
            # first answer for retransmissions is only a SHOULD, §7.2). Our own doing, never the server's: the
            # allocation is released (Refresh LIFETIME=0 on the same 5-tuple) and made again from a new port.
            tr.fresh_port_retry = True
            await _release_own_allocation(session)
            fresh = await open_session(tr, session.transport, session.server,
                                       tr.server_name or session.server[0], options, policy, t0)
            if fresh is not None:
                sessions.append(fresh)
                session = fresh
                tr.authenticated = False
                continue
        tr.stale_nonce_retries = session.stale_nonce_retries
        _take_software(tr, reply)
        if reply is None:
            why = f" ({record.error})" if record.error else ""
            tr.timed_out_step = f"authenticated Allocate request{why}"
            return session
        if reply.msg_class == MessageClass.SUCCESS:
            _take_allocation(tr, reply)
            _hold(session, credentials.username)
            return session
        if reply.error_code == 300:
            followed = await _follow_alternate(session, tr, reply, credentials, options, policy, t0,
                                               sessions, "authenticated Allocate request")
            if followed is not None:
                session, redirected = followed, True
                tr.authenticated = False  # starts again at the alternate with an unauthenticated Allocate
                continue
            return session
        _take_allocate_error(tr, reply, "authenticated Allocate request")
        return session


async def _release_own_allocation(session: TurnSession) -> None:
    """Refresh LIFETIME=0 (RFC 8656 §8) for the allocation a retransmitted Allocate made on this 5-tuple,
    within OWN_RELEASE_S; recorded in the steps (a success proves the allocation was this run's)."""
    with contextlib.suppress(TransportError):
        await session.request(lambda: refresh_request(0),
                              "refresh (release what the retransmitted Allocate made)",
                              policy=session.policy.within(OWN_RELEASE_S))


def _hold(session: TurnSession, username: str) -> None:
    """This run now holds an allocation under ``username`` on the session's server (see turn_quota)."""
    if session.quota_key is None:  # a reservation taken for a retry after 486 already counts it
        session.quota_key = (session.server[0], username)
        turn_quota.allocated(session.quota_key)


async def _after_quota(session: TurnSession, build: Callable[[], Message], tr: TransportResult, username: str,
                       options: TurnCheckOptions, reply: Message,
                       record: Exchange) -> tuple[Message | None, Exchange]:
    """486 Allocation Quota Reached (RFC 8656 §19) to the authenticated Allocate: wait until this run holds no
    other allocation under this user on this server and the server had time to free the last released one
    (turn_quota), then retry once. The result says how many this run itself held when the 486 came."""
    loop = asyncio.get_running_loop()
    key = (session.server[0], username)
    tr.quota_own_held = turn_quota.counted(key)
    refused_at = loop.time()
    # Other legs of this run finish within their own timeouts; wait for them generously, never forever.
    deadline = refused_at + turn_quota.RELEASE_DELAY_S + QUOTA_WAIT_TIMEOUTS * options.timeout_s
    if not await turn_quota.take_turn(key, refused_at, deadline):
        return reply, record
    session.quota_key = key  # the reservation: the allocation if the retry makes one, else given back
    tr.quota_retry_after_s = round(loop.time() - refused_at, 3)
    return await _allocate_request(session, build, "allocate (authenticated, retry after 486)")


async def _first_allocate(session: TurnSession, build: Callable[[], Message], tr: TransportResult,
                          policy: RetransmitPolicy, t0: float, *,
                          probe: bool) -> tuple[Message | None, Exchange]:
    """The unauthenticated Allocate. Unanswered for one RTO, a Binding request goes out alongside it on the
    same connection (``probe``): a server that answers the Binding and never the Allocate serves STUN only
    (coturn ``stun-only``, a plain STUN server named in a turn: URL). It costs a healthy server nothing and
    a silent one no time: the Binding is dropped when the Allocate's own wait ends."""
    allocate = asyncio.ensure_future(_allocate_request(session, build, "allocate (unauthenticated)",
                                                       authenticated=False))
    binding: asyncio.Future[tuple[Message | None, Exchange]] | None = None
    try:
        if probe:
            await asyncio.wait({allocate}, timeout=policy.rto)
            if not allocate.done():
                binding = asyncio.ensure_future(exchange(
                    session.client, Message(Method.BINDING, MessageClass.REQUEST), dest=session.server,
                    step="binding (alongside the unanswered Allocate)", policy=policy, t0=t0))
        reply, record = await allocate
    finally:
        for task in (allocate, binding):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait({task})
    if reply is None and binding is not None and binding.done() and not binding.cancelled():
        _, tr.binding_probe = binding.result()
    return reply, record


async def _allocate_request(session: TurnSession, build: Callable[[], Message], label: str, *,
                            authenticated: bool = True) -> tuple[Message | None, Exchange]:
    """One Allocate transaction; cancelled while it waits for the answer, the session is marked so that
    rtcdiag.probes.turn._cleanup releases the allocation the server may have made (RFC 8656 §7.2: made on
    receipt). The transaction itself is shielded from the cancellation: it goes on (retransmissions
    included) so that the release can learn its outcome first."""
    transaction = asyncio.ensure_future(session.request(build, label, authenticated=authenticated))
    try:
        return await asyncio.shield(transaction)
    except asyncio.CancelledError:
        session.allocate_unanswered = True
        session.cut_off_allocate = transaction
        raise


async def _redirecting_realm(session: TurnSession, options: TurnCheckOptions) -> str | None:
    """The realm of the server that sent the 300: from its own 401 when the 300 answered an authenticated
    Allocate; else asked with one unauthenticated Refresh (RFC 8656 §5: the server demands credentials for
    every request but Binding, so it answers 401 with its REALM); else ``--realm`` (the user's word)."""
    if session.realm is not None:
        return session.realm
    reply, _ = await session.request(lambda: Message(Method.REFRESH, MessageClass.REQUEST),
                                     "realm of the redirecting server (unauthenticated Refresh)",
                                     authenticated=False, retry_stale_nonce=False)
    realm = reply.find(AttrType.REALM, str) if reply is not None and reply.error_code == 401 else None
    return realm if realm is not None else options.realm


async def _follow_alternate(session: TurnSession, tr: TransportResult, reply: Message,
                            credentials: Credentials | None, options: TurnCheckOptions,
                            policy: RetransmitPolicy, t0: float, sessions: list[TurnSession],
                            step: str) -> TurnSession | None:
    """RFC 8489 §10: 300 Try Alternate names ALTERNATE-SERVER; connect there (same transport) once.

    Safety (rtcdiag's policy, docs/commands/turn-check.md "Redirects"): nothing is sent to an address that
    rtcdiag.addresses.redirect_refusal forbids (link-local such as 169.254.169.254, loopback or a private
    network named by a server elsewhere, multicast, broadcast, unspecified, reserved), nor at all with
    ``--no-follow``. At the alternate the Allocate starts unauthenticated; the user's credentials are used
    there only when its 401 names the realm of the server the user pointed us at (RFC 8489 §10: "the same
    credentials"), so a redirect can never make rtcdiag key the password into a foreign realm. For TLS the
    certificate is checked against ALTERNATE-DOMAIN, else the original server name (§10).
    """
    alternate = address_of(reply, AttrType.ALTERNATE_SERVER)
    if alternate is None:
        _take_allocate_error(tr, reply, f"{step} (300 without ALTERNATE-SERVER)")
        return None
    tried = list(dict.fromkeys(s.server for s in sessions))  # where this Allocate went, in order
    loop = redirect_loop(tried, alternate)
    if len(tried) > 1 or loop is not None:
        # RFC 8489 §10: never back to a server the request already went to; and rtcdiag follows one redirect.
        if tr.alternate_server is None:
            tr.alternate_server, tr.alternate_scope = hostport(alternate), scope_of(alternate[0]).value
        tr.redirect = Redirect.LOOP if loop is not None else Redirect.AGAIN
        tr.redirect_detail = loop or f"{hostport(tried[-1])} redirected again, to {hostport(alternate)}: " \
                                     "not followed (rtcdiag follows one redirect)"
        _take_allocate_error(tr, reply, step)
        return None
    tr.alternate_server = hostport(alternate)
    tr.alternate_scope = scope_of(alternate[0]).value
    if not options.follow_redirects:
        tr.redirect = Redirect.NOT_FOLLOWED
        tr.redirect_detail = "--no-follow"
        _take_allocate_error(tr, reply, step)
        return None
    refusal = redirect_refusal(session.server[0], alternate[0])
    if refusal is not None:
        tr.redirect = Redirect.REFUSED
        tr.redirect_detail = refusal
        _take_allocate_error(tr, reply, step)
        return None
    if credentials is not None:
        tr.redirect_realm = await _redirecting_realm(session, options)
    tr.redirect = Redirect.FOLLOWED
    tr.challenge_answered = False
    tr.challenge_code = None
    tr.error_code = tr.error_reason = tr.error_step = None
    server_name = alternate_domain(reply) or tr.server_name or session.server[0]
    new = await open_session(tr, session.transport, alternate, server_name, options, policy, t0)
    if new is None:
        return None
    sessions.append(new)
    return new


def _take_allocation(tr: TransportResult, reply: Message) -> None:
    """RFC 8656 §7.3: XOR-RELAYED-ADDRESS, XOR-MAPPED-ADDRESS, LIFETIME of the new allocation."""
    tr.allocated = True
    relayed = address_of(reply, AttrType.XOR_RELAYED_ADDRESS)
    if relayed is not None:
        tr.relayed_address = hostport(relayed)
        tr.relayed_ip = relayed[0]
        tr.relay_scope = scope_of(relayed[0]).value
    mapped = address_of(reply, AttrType.XOR_MAPPED_ADDRESS)
    tr.mapped_address = hostport(mapped) if mapped is not None else None
    take_relays(tr, reply)
    tr.lifetime_s = int_attribute(reply, AttrType.LIFETIME)
    tr.error_code = None


def _take_allocate_error(tr: TransportResult, reply: Message, step: str) -> None:
    """The error response that ended the Allocate, with the attributes a 420 says the server does not know."""
    take_error(tr, reply, step)
    unknown = reply.find(AttrType.UNKNOWN_ATTRIBUTES, UnknownAttributes)
    if unknown is not None:
        tr.unknown_attribute_count = len(unknown.types)
        tr.unknown_attributes = [f"0x{t:04X} {attr_name(t)}" for t in unknown.types[:_MAX_UNKNOWN_SHOWN]]


def _take_software(tr: TransportResult, reply: Message | None) -> None:
    if reply is None or tr.software is not None:
        return
    tr.software = reply.find(AttrType.SOFTWARE, str)


def _shown_text(msg: Message, attr_type: int, limit: int = 200) -> str | None:
    """A text attribute as evidence even when it is unusable: undecodable bytes replaced, cut at ``limit``."""
    raw = msg.get_raw(attr_type)
    if raw is None:
        return None
    text = raw[:limit * 4].decode("utf-8", errors="replace")
    return text if len(text) <= limit else f"{text[:limit]}... ({len(raw)} bytes)"


def int_attribute(msg: Message, attr_type: int) -> int | None:
    value = msg.find(attr_type, int)
    return None if isinstance(value, bool) else value
