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
import base64
import contextlib
import hmac
import socket
import time
from dataclasses import dataclass

from rtcdiag.addresses import Scope, format_hostport, scope
from rtcdiag.probes import slots
from rtcdiag.probes.exchange import address_of, error_kind, hostport
from rtcdiag.probes.record import ErrorKind, Outcome
from rtcdiag.probes.turn_datapath import EchoPeer, run_data_paths
from rtcdiag.probes.turn_result import RestCredentialInfo, TransportResult, TurnCheckResult
from rtcdiag.probes.turn_session import Credentials, TurnSession
from rtcdiag.protocol import (
    AttrType,
    ErrorCode,
    Message,
    MessageClass,
    Method,
    RequestedTransport,
    TransportProtocol,
    UnknownAttributes,
    attr_name,
    parse_rest_expiry,
    rest_credentials,
)
from rtcdiag.protocol.transport import RetransmitPolicy, StreamClient, TransportError, UdpClient
from rtcdiag.redact import register_secret
from rtcdiag.resolve import ResolveError, resolve
from rtcdiag.targets import DEFAULT_TLS_PORT, Target, expand_transports

DEFAULT_LIFETIME_S = 600  # RFC 8656 §3.2 default allocation lifetime; asked for in the Refresh step
RELEASE_TIMEOUT_S = 2.0  # bound on the LIFETIME=0 release in the finally (also after Ctrl-C)
_MIN_REST_EXPIRY = 1_000_000_000  # a REST user name's leading number must look like a Unix time
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
    now: float | None = None  # the local clock (tests)


def rest_username_expiry(username: str) -> int | None:
    """The expiry of a REST user name ``expiry:user`` (or a bare expiry), None for an ordinary name."""
    expiry = parse_rest_expiry(username)
    return expiry if expiry is not None and expiry >= _MIN_REST_EXPIRY else None


def rest_password(secret: str, username: str) -> str:
    """base64(HMAC-SHA1(secret, username)) (draft-uberti-behave-turn-rest-00 §2.2), registered as secret."""
    password = base64.b64encode(hmac.digest(secret.encode(), username.encode(), "sha1")).decode("ascii")
    register_secret(password)
    return password


def credentials_for(target: Target, options: TurnCheckOptions,
                    now: float) -> tuple[Credentials | None, str, RestCredentialInfo | None]:
    """(credentials, kind, REST info): REST from ``--secret``, else long-term user/password, else none."""
    username = target.username or options.username
    password = target.credential or options.password
    if options.secret is not None:
        register_secret(options.secret)
        if username is not None and rest_username_expiry(username) is not None:
            name = username  # a ready-made "expiry:user": check exactly that one
            password = rest_password(options.secret, name)
            generated = False
        else:
            name, password = rest_credentials(options.secret, username or "", options.ttl_s, now=now)
            generated = True
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
                             packets=options.packets)
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
    result.server_ip = ip
    result.server_scope = scope(ip).value
    policy = RetransmitPolicy.for_timeout(options.timeout_s)
    result.transports = list(await asyncio.gather(*(
        slots.limited(slots.TURN_LEG_FDS, check_transport, leg, ip, credentials, options, policy, t0,
                      result.server_scope) for leg in legs)))
    result.duration_ms = round((loop.time() - t0) * 1000.0, 3)
    return result


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
                          policy: RetransmitPolicy, t0: float, server_scope: str) -> TransportResult:
    """One transport: every step recorded; the allocation released whatever happens."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    transport = target.transport or "udp"
    tr = TransportResult(transport=transport, server=format_hostport(ip, target.port), port=target.port,
                         server_name=target.host)
    sessions: list[TurnSession] = []
    peer: EchoPeer | None = None
    try:
        session = await _open_session(tr, transport, (ip, target.port), target.host, options, policy, t0)
        if session is None:
            return tr
        sessions.append(session)
        session = await _allocate(session, tr, credentials, options, policy, t0, sessions)
        if session is None or not tr.allocated or tr.relayed_address is None:
            return tr
        if options.peer_test and tr.relayed_ip is not None:
            relay = _split(tr.relayed_address)
            peer = await EchoPeer.open(session.server, discover=server_scope == Scope.PUBLIC.value,
                                       policy=policy, t0=t0)
            tr.data_paths = await run_data_paths(session, relay, peer, options.packets,
                                                 punch=server_scope == Scope.PUBLIC.value)
        # RFC 8656 §8: Refresh keeps the allocation alive (and tests that the server accepts it).
        reply, _ = await session.request(lambda: _refresh(DEFAULT_LIFETIME_S), "refresh")
        tr.refreshed = reply is not None and reply.msg_class == MessageClass.SUCCESS
        if tr.refreshed and reply is not None:
            tr.refresh_lifetime_s = _int(reply, AttrType.LIFETIME)
        return tr
    finally:
        await _cleanup(tr, sessions, peer)
        tr.duration_ms = round((loop.time() - started) * 1000.0, 3)


async def _cleanup(tr: TransportResult, sessions: list[TurnSession], peer: EchoPeer | None) -> None:
    """Release (RFC 8656 §8: Refresh LIFETIME=0), then close sockets. Runs after errors and cancellation."""
    try:
        if tr.allocated and sessions:
            session = sessions[-1]
            try:
                reply, _ = await asyncio.wait_for(
                    session.request(lambda: _refresh(0), "refresh (release, LIFETIME=0)"), RELEASE_TIMEOUT_S)
                tr.released = reply is not None and reply.msg_class == MessageClass.SUCCESS
            except (TimeoutError, TransportError):
                tr.released = False
    finally:
        if peer is not None:
            await peer.close()
        for session in sessions:
            with contextlib.suppress(Exception):
                await session.client.close()


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
    tr.connected = True
    tr.server = hostport(server)
    return TurnSession(client, server, transport, tr.steps, t0, policy)


def _allocate_request() -> Message:
    # RFC 8656 §7.1: REQUESTED-TRANSPORT UDP (17), the only relay transport WebRTC uses.
    msg = Message(Method.ALLOCATE, MessageClass.REQUEST)
    return msg.add(AttrType.REQUESTED_TRANSPORT, RequestedTransport(TransportProtocol.UDP))


def _refresh(lifetime: int) -> Message:
    return Message(Method.REFRESH, MessageClass.REQUEST).add(AttrType.LIFETIME, lifetime)


async def _allocate(session: TurnSession, tr: TransportResult, credentials: Credentials | None,
                    options: TurnCheckOptions, policy: RetransmitPolicy, t0: float,
                    sessions: list[TurnSession]) -> TurnSession | None:
    """Steps 1-2 (RFC 8489 §9.2.4): unauthenticated Allocate, then with credentials; 300 followed once."""
    redirected = False
    while True:
        reply, record = await session.request(_allocate_request, "allocate (unauthenticated)",
                                              authenticated=False)
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
            return session
        tr.challenge_code = reply.error_code
        if reply.error_code == 300 and not redirected:
            followed = await _follow_alternate(session, tr, reply, options, policy, t0, sessions)
            if followed is None:
                return session
            session, redirected = followed, True
            continue
        if reply.error_code != 401:
            _take_error(tr, reply, "unauthenticated Allocate request")
            return session
        session.learn_challenge(reply)
        tr.realm = session.realm
        tr.nonce_seen = session.nonce is not None
        tr.password_algorithms = session.offered_algorithms()
        if credentials is None or session.realm is None or session.nonce is None:
            return session
        session.set_credentials(credentials)
        tr.authenticated = True
        tr.auth_algorithm = session.algorithm_name
        tr.userhash = session.use_userhash
        tr.userhash_error = session.userhash_error
        reply, record = await session.request(_allocate_request, "allocate (authenticated)")
        tr.stale_nonce_retries = session.stale_nonce_retries
        _take_software(tr, reply)
        if reply is None:
            why = f" ({record.error})" if record.error else ""
            tr.timed_out_step = f"authenticated Allocate request{why}"
            return session
        if reply.msg_class == MessageClass.SUCCESS:
            _take_allocation(tr, reply)
            return session
        if reply.error_code == 300 and not redirected:
            followed = await _follow_alternate(session, tr, reply, options, policy, t0, sessions)
            if followed is not None:
                session, redirected = followed, True
                continue
        _take_error(tr, reply, "authenticated Allocate request")
        return session


async def _follow_alternate(session: TurnSession, tr: TransportResult, reply: Message,
                            options: TurnCheckOptions, policy: RetransmitPolicy, t0: float,
                            sessions: list[TurnSession]) -> TurnSession | None:
    """RFC 8489 §10: 300 Try Alternate names ALTERNATE-SERVER; connect there (same transport) once."""
    alternate = address_of(reply, AttrType.ALTERNATE_SERVER)
    if alternate is None:
        _take_error(tr, reply, "Allocate request (300 without ALTERNATE-SERVER)")
        return None
    tr.alternate_server = hostport(alternate)
    tr.challenge_answered = False
    tr.challenge_code = None
    new = await _open_session(tr, session.transport, alternate, alternate[0], options, policy, t0)
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
        tr.relay_scope = scope(relayed[0]).value
    mapped = address_of(reply, AttrType.XOR_MAPPED_ADDRESS)
    tr.mapped_address = hostport(mapped) if mapped is not None else None
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


def _int(msg: Message, attr_type: int) -> int | None:
    value = msg.find(attr_type, int)
    return None if isinstance(value, bool) else value


def _split(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)
