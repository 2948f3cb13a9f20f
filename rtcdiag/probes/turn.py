"""The TURN check: per transport, challenge -> authenticated Allocate -> data path -> Refresh -> release.

Usable without the CLI::

    from rtcdiag.probes import turn
    from rtcdiag.targets import parse_target
    result = await turn.check(parse_target("127.0.0.1:3478", default_scheme="turn"),
                              turn.TurnCheckOptions(username="alice", password="..."))

Every transport of one server runs concurrently (asyncio.gather). Each records every transaction
(rtcdiag.probes.record.Exchange) in a TransportResult. The allocation is always released with a Refresh
LIFETIME=0 (RFC 8656 §8) in a ``finally``, also after an error, a timeout or a cancellation (Ctrl-C).
This module records facts only; rtcdiag.triage.turn judges them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rtcdiag import interrupt
from rtcdiag.addresses import PUBLIC_LIKE, format_hostport, redirect_refusal, scope_of
from rtcdiag.probes import slots, turn_quota
from rtcdiag.probes.exchange import (
    address_of,
    alternate_domain,
    error_kind,
    exchange,
    hostport,
    redirect_loop,
)
from rtcdiag.probes.record import ErrorKind, Exchange, Outcome, Redirect
from rtcdiag.probes.turn_datapath import CHANNEL, EchoPeer, run_data_paths, silent
from rtcdiag.probes.turn_result import (
    METHOD_CHANNEL,
    METHOD_INDICATION,
    DataPathResult,
    FamilyRelay,
    RelayFamily,
    RestCredentialInfo,
    TcpRelayResult,
    TransportResult,
    TurnCheckResult,
)
from rtcdiag.probes.turn_session import Credentials, TurnSession
from rtcdiag.protocol import (
    Address,
    AddressErrorCode,
    AddressFamily,
    AttrType,
    ErrorCode,
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
from rtcdiag.protocol.credentials import rest_login, rest_username_expiry
from rtcdiag.protocol.transport import RetransmitPolicy, StreamClient, TransportError, UdpClient
from rtcdiag.redact import echo, register_secret
from rtcdiag.resolve import ResolveError, resolve
from rtcdiag.targets import DEFAULT_TLS_PORT, Target, expand_transports

if TYPE_CHECKING:
    from rtcdiag.probes.tls_info import TlsInfo

DEFAULT_LIFETIME_S = 600  # RFC 8656 §3.2 default allocation lifetime; asked for in the Refresh step
RELEASE_TIMEOUT_S = 2.0  # bound on the LIFETIME=0 release in the finally (also after Ctrl-C)
QUOTA_WAIT_TIMEOUTS = 4  # after a 486, wait at most this many --timeout for this run's other allocations
_MAX_UNKNOWN_SHOWN = 16  # types of a 420's UNKNOWN-ATTRIBUTES kept (it can list 32000)


@dataclass
class TurnCheckOptions:
    username: str | None = None
    password: str | None = None
    secret: str | None = None  # REST API shared secret (coturn static-auth-secret)
    ttl_s: int = 86400
    realm: str | None = None  # hash the key with this realm instead of the server's
    ca_file: str | None = None
    insecure: bool = False
    peer_test: bool = True
    packets: int = 5
    timeout_s: float = 5.0  # per transaction (RFC 8489 schedule scaled to fit)
    transports: tuple[str, ...] = ("udp", "tcp", "tls")
    tls_port: int = DEFAULT_TLS_PORT
    follow_redirects: bool = True  # 300 ALTERNATE-SERVER, within rtcdiag.addresses.redirect_refusal
    now: float | None = None  # the local clock (tests)
    # Relay families to allocate (--family): IPv4 alone is what a browser asks for (no attribute sent).
    families: tuple[RelayFamily, ...] = (RelayFamily.IPV4,)
    tcp_relay: bool = False  # --tcp-relay: also check an RFC 6062 TCP relay (TURN over TCP/TLS only)
    acl: bool = False  # --acl: permissions for sensitive peers (rtcdiag.probes.turn_acl); no data to them
    acl_peers: tuple[str, ...] = ()  # --acl-peers: the operator's own addresses/ranges, added to the list


def credentials_for(target: Target, options: TurnCheckOptions,
                    now: float) -> tuple[Credentials | None, str, RestCredentialInfo | None]:
    """(credentials, kind, REST info): REST from ``--secret``, else long-term user/password, else none."""
    username = target.username or options.username
    password = target.credential or options.password
    if options.secret is not None:
        register_secret(options.secret)
        name, password, generated = rest_login(options.secret, username, options.ttl_s, now=now)
        expiry = rest_username_expiry(name)
        rest = RestCredentialInfo(name, expiry or 0, int(now), generated) if expiry is not None else None
        return Credentials(name, password, options.realm), "rest", rest
    if username is None or password is None:
        return None, "none", None
    register_secret(password)
    expiry = rest_username_expiry(username)
    rest = RestCredentialInfo(username, expiry, int(now), False) if expiry is not None else None
    return Credentials(username, password, options.realm), ("rest" if rest else "long-term"), rest


async def check(target: Target, options: TurnCheckOptions) -> TurnCheckResult:
    """Check one TURN server over every transport the target expands to, concurrently."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    now = time.time() if options.now is None else options.now
    legs = expand_transports([target], options.transports, tls_port=options.tls_port)
    credentials, kind, rest = credentials_for(target, options, now)
    result = TurnCheckResult(target=target.uri, host=target.host, port=target.port, server_ip=None,
                             server_scope=None, username=credentials.username if credentials else None,
                             credential_kind=kind, rest=rest, peer_test=options.peer_test,
                             packets=options.packets, families=list(options.families),
                             tcp_relay=options.tcp_relay, entry=target.entry)
    try:
        resolved = await resolve(target.host, target.port, timeout=options.timeout_s)
    except ResolveError as err:
        result.resolve_error = str(err)
        # One failed leg per planned transport, so the result says what could not be checked.
        result.transports = [TransportResult(transport=leg.transport or "udp",
                                             server=format_hostport(target.host, leg.port), port=leg.port,
                                             server_name=target.host, connect_error=str(err),
                                             failure_kind=ErrorKind.DNS) for leg in legs]
        return result
    ip = resolved[0].ip
    # A server address per family: the echo peer of a relay whose family differs from the server address
    # learns its own address from a Binding to the server over the relay's family (when public).
    by_family = {(AddressFamily.IPV6 if r.version == 6 else AddressFamily.IPV4): r.ip
                 for r in reversed(resolved)}
    result.server_ip = ip
    result.server_scope = scope_of(ip).value
    policy = RetransmitPolicy.for_timeout(options.timeout_s)
    # Interrupted (Ctrl-C, SIGTERM): the transports that had finished; none finished, none reported.
    result.transports = await interrupt.finished(
        [slots.limited(slots.TURN_LEG_FDS, _check_families, leg, ip, credentials, options, policy, t0,
                       result.server_scope, by_family) for leg in legs],
        [leg.uri for leg in legs])
    if legs and not result.transports:
        raise asyncio.CancelledError
    result.duration_ms = round((loop.time() - t0) * 1000.0, 3)
    return result


async def _check_families(target: Target, ip: str, credentials: Credentials | None, options: TurnCheckOptions,
                          policy: RetransmitPolicy, t0: float, server_scope: str,
                          server_ips: dict[AddressFamily, str]) -> TransportResult:
    """:func:`check_transport`; then every family a dual allocation silently left out (the server ignored
    ADDITIONAL-ADDRESS-FAMILY, RFC 8656 §7.1) in a separate allocation with REQUESTED-ADDRESS-FAMILY."""
    tr = await check_transport(target, ip, credentials, options, policy, t0, server_scope, server_ips)
    # A 440 to the whole dual Allocate: the IPv4 part failed (a server ignoring the attribute refused the
    # default family); the IPv6 relay may still work on its own.
    refused = not tr.allocated and tr.error_code == 440
    if not (tr.allocated or refused) or tr.open_relay:
        return tr
    for relay in tr.relays:
        if relay.asked and relay.requested_with == _ADDITIONAL and relay.relayed_address is None \
                and relay.error_code is None:
            sub = await check_transport(target, ip, credentials,
                                        replace(options, families=(relay.family,), tcp_relay=False,
                                                acl=False),
                                        policy, t0, server_scope, server_ips)
            relay.separate, relay.requested_with, relay.steps = True, _REQUESTED, sub.steps
            relay.released = sub.released
            got = sub.relay(relay.family)
            if got is not None and got.relayed_address is not None:
                relay.relayed_address, relay.relayed_ip = got.relayed_address, got.relayed_ip
                relay.relay_scope = got.relay_scope
            elif sub.error_code is not None:
                relay.error_code, relay.error_reason = sub.error_code, sub.error_reason
            else:
                relay.error = sub.timed_out_step or sub.connect_error or "no allocation"
            tr.data_paths.extend(sub.data_paths)
    return tr


async def _connect(transport: str, ip: str, port: int, server_name: str, options: TurnCheckOptions,
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


async def check_transport(target: Target, ip: str, credentials: Credentials | None, options: TurnCheckOptions,
                          policy: RetransmitPolicy, t0: float, server_scope: str,
                          server_ips: dict[AddressFamily, str] | None = None) -> TransportResult:
    """One transport: every step recorded; the allocation released whatever happens."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    transport = target.transport or "udp"
    tr = TransportResult(transport=transport, server=format_hostport(ip, target.port), port=target.port,
                         server_name=target.host)
    tr.relays = planned_relays(options.families)
    sessions: list[TurnSession] = []
    peers: list[EchoPeer] = []
    certificate = _check_certificate_aside(tr, ip, target, options)
    cut = False
    try:
        session = await _open_session(tr, transport, (ip, target.port), target.host, options, policy, t0)
        if session is None:
            if certificate is None and str(tr.failure_kind or "") in _CERTIFICATE_REFUSED:
                # The certificate was refused: a look at it (unverified), so that the report can say
                # which names it has and until when (the fix needs them).
                from rtcdiag.probes import tls_info

                certificate = asyncio.ensure_future(tls_info.inspect_once(
                    ip, target.port, server_name=target.host, timeout=options.timeout_s,
                    ca_file=Path(options.ca_file) if options.ca_file else None))
            return tr
        sessions.append(session)
        session = await _allocate(session, tr, credentials, options, policy, t0, sessions)
        if session is None or not tr.allocated or not any(r.relayed_address for r in tr.relays):
            return tr
        if options.peer_test:
            await _family_data_paths(session, tr, options, policy, t0, server_scope, server_ips or {}, peers)
            if any(silent(ex) for dp in tr.data_paths for ex in dp.steps):
                return tr  # the server stopped answering: a Refresh would only wait out another timeout
        # RFC 8656 §8: Refresh keeps the allocation alive (and tests that the server accepts it).
        tr.refresh_requested_s = DEFAULT_LIFETIME_S
        reply, _ = await session.request(lambda: _refresh(DEFAULT_LIFETIME_S), "refresh")
        tr.refreshed = reply is not None and reply.msg_class == MessageClass.SUCCESS
        if tr.refreshed and reply is not None:
            tr.refresh_lifetime_s = _int(reply, AttrType.LIFETIME)
        if options.tcp_relay and transport != "udp":
            tr.tcp_relay = await _tcp_relay(tr, session, credentials, options, policy, t0)
        if options.acl:
            from rtcdiag.probes.turn_acl import acl_peers, check_acl

            own = [ip for ip in (session.server[0], tr.relayed_ip) if ip]
            tr.acl = await check_acl(session, acl_peers(own, options.acl_peers))
        return tr
    except asyncio.CancelledError:
        cut = True
        raise
    finally:
        if sessions and tr.challenge_problem is None:  # a 438's new NONCE may be the unusable one
            tr.challenge_problem = sessions[-1].challenge_problem
        await _cleanup(tr, sessions, *peers)
        if cut and tr.allocated:  # Ctrl-C / SIGTERM: whether the release of what it held was confirmed
            interrupt.note_release(tr.released)
        if certificate is not None:
            tr.certificate_problem = await _settled(certificate, options.timeout_s)
        tr.duration_ms = round((loop.time() - started) * 1000.0, 3)


async def _tcp_relay(tr: TransportResult, session: TurnSession, credentials: Credentials | None,
                     options: TurnCheckOptions, policy: RetransmitPolicy, t0: float) -> TcpRelayResult:
    """RFC 6062 over this transport (TCP/TLS), on connections of its own, to the server that allocated."""
    from rtcdiag.probes.turn_tcp_relay import check_tcp_relay

    ssl_context = None
    if session.transport == "tls":
        from rtcdiag.tls import make_client_context

        ssl_context = make_client_context(options.ca_file, options.insecure)
    family = options.families[0] if options.families else RelayFamily.IPV4
    return await check_tcp_relay(session.server, session.transport, tr.server_name or session.server[0],
                                 credentials, family=family, ssl_context=ssl_context,
                                 timeout_s=options.timeout_s, policy=policy, t0=t0, chunks=options.packets)


# TLS failures where the certificate is the problem (rtcdiag.tls.TlsFailure values).
_CERTIFICATE_REFUSED = frozenset({"tls:hostname-mismatch", "tls:untrusted-certificate",
                                  "tls:expired-certificate", "tls:certificate-not-yet-valid"})


def _check_certificate_aside(tr: TransportResult, ip: str, target: Target,
                             options: TurnCheckOptions) -> asyncio.Task[TlsInfo] | None:
    """TLS with --insecure: look at the certificate in handshakes of their own, alongside the session (it
    blocks nothing), so that what the session ignored can still be reported."""
    if tr.transport != "tls" or not options.insecure:
        return None
    tr.tls_verification_off = True
    from rtcdiag.probes import tls_info

    return asyncio.ensure_future(tls_info.inspect_once(ip, target.port, server_name=target.host,
                                                       timeout=options.timeout_s))


async def _settled(task: asyncio.Task[TlsInfo], timeout: float) -> str | None:
    """The certificate problems found aside, waiting at most ``timeout`` more (cancelled with the check)."""
    from rtcdiag.probes.tls_info import certificate_problems

    try:
        info = await asyncio.wait_for(task, timeout)
    except TimeoutError:
        return None
    return "; ".join(certificate_problems(info)) or None


async def _cleanup(tr: TransportResult, sessions: list[TurnSession], *peers: EchoPeer) -> None:
    """Release (RFC 8656 §8: Refresh LIFETIME=0), then close sockets. Runs after errors and cancellation."""
    try:
        # A Refresh answered LIFETIME=0 has deleted the allocation (RFC 8656 §7.3): no release.
        unanswered = bool(sessions) and sessions[-1].allocate_unanswered
        if (tr.allocated or unanswered) and sessions and not (tr.refreshed and tr.refresh_lifetime_s == 0):
            await _release(tr, sessions[-1], unanswered)
    finally:
        for session in sessions:
            if session.cut_off_allocate is not None:  # its answer is no longer waited for
                session.cut_off_allocate.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await session.cut_off_allocate  # ends before its socket closes
        for session in sessions:  # this run's ledger of allocations per user (turn_quota)
            if session.quota_key is not None:
                made = tr.allocated or session.allocate_unanswered
                await turn_quota.released(session.quota_key, freed=made)
                session.quota_key = None
        for peer in peers:
            await peer.close()
        for session in sessions:
            with contextlib.suppress(Exception):
                await session.client.close()


async def _release(tr: TransportResult, session: TurnSession, unanswered: bool) -> None:
    """Refresh LIFETIME=0, all within RELEASE_TIMEOUT_S; after a cut-off Allocate, not before its answer.

    A release must not overtake the Allocate it releases: coturn answers a Refresh for a 5-tuple without an
    allocation with 437 at once, while an Allocate may still wait for its credentials on coturn's auth thread
    (its answer postponed); that Allocate then succeeds after the Refresh and the allocation is held for its
    whole LIFETIME (seen under CPU load: REFRESH 437, then ALLOCATE success, then 486 for the next probe).
    So a cut-off Allocate transaction runs to its answer first (RFC 8489 §6.2.1, for half the time allowed).
    A retransmission of it still queued at the server could make the allocation again after the release: when
    there were retransmissions, one more Refresh LIFETIME=0 follows after the Allocate's round trip (a 437 to
    it means nothing was left).

    The time allowed bounds the release transaction's own timers, which start when the Refresh is sent (in
    this step): a bound armed before the send (asyncio.wait_for runs its coroutine one loop turn later)
    expired unsent when other probes kept the event loop busy for longer, and a healthy server that
    answered the Refresh was reported as stopped (seen under CPU load; coturn's log had the release).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RELEASE_TIMEOUT_S
    cut_off: Exchange | None = None
    try:
        if unanswered and session.cut_off_allocate is not None:
            reply, cut_off = await _answer_of(session.cut_off_allocate, RELEASE_TIMEOUT_S / 2)
            if reply is not None and reply.msg_class == MessageClass.ERROR:
                return  # refused (401, 486, ...): there is no allocation to release
        reply, _ = await session.request(lambda: _refresh(0), "refresh (release, LIFETIME=0)",
                                         policy=session.policy.within(deadline - loop.time()))
        tr.released = reply is not None and reply.msg_class == MessageClass.SUCCESS
    except TransportError:
        tr.released = False
        return
    if cut_off is None or cut_off.attempts < 2 or cut_off.rtt_ms is None:
        return
    await asyncio.sleep(min(cut_off.rtt_ms / 1000.0, max(0.0, deadline - loop.time())))
    with contextlib.suppress(TransportError):
        await session.request(lambda: _refresh(0), "refresh (release again: Allocate retransmitted)",
                              policy=session.policy.within(deadline - loop.time()))


async def _answer_of(transaction: asyncio.Task[tuple[Message | None, Exchange]],
                     wait_s: float) -> tuple[Message | None, Exchange | None]:
    """The cut-off Allocate's answer, waited for at most ``wait_s`` (None: no answer, or transport error)."""
    try:
        return await asyncio.wait_for(asyncio.shield(transaction), wait_s)
    except (TimeoutError, TransportError):
        return None, None


async def _open_session(tr: TransportResult, transport: str, server: tuple[str, int], server_name: str,
                        options: TurnCheckOptions, policy: RetransmitPolicy, t0: float) -> TurnSession | None:
    loop = asyncio.get_running_loop()
    begin = loop.time()
    try:
        client = await _connect(transport, server[0], server[1], server_name, options, policy)
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


_WIRE_FAMILY = {RelayFamily.IPV4: AddressFamily.IPV4, RelayFamily.IPV6: AddressFamily.IPV6}
_REQUESTED = "REQUESTED-ADDRESS-FAMILY"
_ADDITIONAL = "ADDITIONAL-ADDRESS-FAMILY"


def planned_relays(families: tuple[RelayFamily, ...]) -> list[FamilyRelay]:
    """One FamilyRelay per family asked for, saying which attribute asks for it (see allocate_request)."""
    if set(families) == {RelayFamily.IPV4, RelayFamily.IPV6}:
        return [FamilyRelay(RelayFamily.IPV4), FamilyRelay(RelayFamily.IPV6, _ADDITIONAL)]
    family = families[0] if families else RelayFamily.IPV4
    return [FamilyRelay(family, _REQUESTED if family is RelayFamily.IPV6 else None)]


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
            attr = AttrType.REQUESTED_ADDRESS_FAMILY if relay.requested_with == _REQUESTED \
                else AttrType.ADDITIONAL_ADDRESS_FAMILY
            msg.add(attr, RequestedAddressFamily(_WIRE_FAMILY[relay.family]))
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


async def _family_data_paths(session: TurnSession, tr: TransportResult, options: TurnCheckOptions,
                             policy: RetransmitPolicy, t0: float, server_scope: str,
                             server_ips: dict[AddressFamily, str], peers: list[EchoPeer]) -> None:
    """The data path through every relay of the allocation, one family after the other (they share the
    control connection), each to an echo peer of the relay's family (RFC 8656 §9.1: a peer of another
    family gets 443) and on its own channel number."""
    public = server_scope in PUBLIC_LIKE
    for index, relay in enumerate(r for r in tr.relays if r.asked and r.relayed_address is not None):
        assert relay.relayed_address is not None
        address = _split(relay.relayed_address)
        wire = _WIRE_FAMILY[relay.family]
        binding_ip = session.server[0] if (":" in session.server[0]) == (wire == AddressFamily.IPV6) \
            else server_ips.get(wire)
        binding = (binding_ip, session.server[1]) if binding_ip is not None else None
        try:
            peer = await EchoPeer.open(binding or address, discover=public and binding is not None,
                                       policy=policy, t0=t0, toward=address)
        except (OSError, TransportError) as err:
            # No local address of the relay's family routes to it (e.g. no IPv6 here), or a relayed address
            # no socket can send to: the data path cannot be tried from this machine.
            why = f"no local {relay.family.label} echo peer can reach the relay {relay.relayed_address} " \
                  f"({err})"
            tr.data_paths.extend(DataPathResult(method=method, peer="-", family=relay.family, local_error=why)
                                 for method in (METHOD_INDICATION, METHOD_CHANNEL))
            continue
        peers.append(peer)
        paths = await run_data_paths(session, address, peer, options.packets, punch=public,
                                     channel_number=CHANNEL + index)
        for path in paths:
            path.family = relay.family
        tr.data_paths.extend(paths)


def _refresh(lifetime: int) -> Message:
    return Message(Method.REFRESH, MessageClass.REQUEST).add(AttrType.LIFETIME, lifetime)


async def _allocate(session: TurnSession, tr: TransportResult, credentials: Credentials | None,
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
            fresh = await _open_session(tr, session.transport, session.server,
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
            _take_error(tr, reply, "unauthenticated Allocate request")
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
        _take_error(tr, reply, "authenticated Allocate request")
        return session


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
    tr.quota_own_held = turn_quota.held(key)
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
    :func:`_cleanup` releases the allocation the server may have made (RFC 8656 §7.2: made on receipt).
    The transaction itself is shielded from the cancellation: it goes on (retransmissions included) so that
    the release can learn its outcome first."""
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

    Safety (rtcdiag's policy, README "Redirects"): nothing is sent to an address that
    rtcdiag.addresses.redirect_refusal forbids (link-local such as 169.254.169.254, loopback or a private
    network named by a server elsewhere, multicast, broadcast, unspecified, reserved), nor at all with
    ``--no-follow``. At the alternate the Allocate starts unauthenticated; the user's credentials are used
    there only when its 401 names the realm of the server the user pointed us at (RFC 8489 §10: "the same
    credentials"), so a redirect can never make rtcdiag key the password into a foreign realm. For TLS the
    certificate is checked against ALTERNATE-DOMAIN, else the original server name (§10).
    """
    alternate = address_of(reply, AttrType.ALTERNATE_SERVER)
    if alternate is None:
        _take_error(tr, reply, f"{step} (300 without ALTERNATE-SERVER)")
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
        _take_error(tr, reply, step)
        return None
    tr.alternate_server = hostport(alternate)
    tr.alternate_scope = scope_of(alternate[0]).value
    if not options.follow_redirects:
        tr.redirect = Redirect.NOT_FOLLOWED
        tr.redirect_detail = "--no-follow"
        _take_error(tr, reply, step)
        return None
    refusal = redirect_refusal(session.server[0], alternate[0])
    if refusal is not None:
        tr.redirect = Redirect.REFUSED
        tr.redirect_detail = refusal
        _take_error(tr, reply, step)
        return None
    if credentials is not None:
        tr.redirect_realm = await _redirecting_realm(session, options)
    tr.redirect = Redirect.FOLLOWED
    tr.challenge_answered = False
    tr.challenge_code = None
    tr.error_code = tr.error_reason = tr.error_step = None
    server_name = alternate_domain(reply) or tr.server_name or session.server[0]
    new = await _open_session(tr, session.transport, alternate, server_name, options, policy, t0)
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
    tr.lifetime_s = _int(reply, AttrType.LIFETIME)
    tr.error_code = None


def _take_error(tr: TransportResult, reply: Message, step: str) -> None:
    tr.error_step = step
    tr.error_code = reply.error_code
    error = reply.find(AttrType.ERROR_CODE, ErrorCode)
    tr.error_reason = error.reason if error is not None else None
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


def _int(msg: Message, attr_type: int) -> int | None:
    value = msg.find(attr_type, int)
    return None if isinstance(value, bool) else value


def _split(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)
