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
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rtcdiag import interrupt
from rtcdiag.addresses import PUBLIC_LIKE, format_hostport, scope_of
from rtcdiag.net import TransportError
from rtcdiag.probes import slots, turn_quota
from rtcdiag.probes.record import ErrorKind, Exchange
from rtcdiag.probes.turn_datapath import CHANNEL, EchoPeer, run_data_paths, silent
from rtcdiag.probes.turn_result import (
    METHOD_CHANNEL,
    METHOD_INDICATION,
    DataPathResult,
    RelayFamily,
    TcpRelayResult,
    TransportResult,
    TurnCheckResult,
)
from rtcdiag.probes.turn_session import Credentials, TurnSession
from rtcdiag.protocol import (
    AddressFamily,
    AttrType,
    Message,
    MessageClass,
    rest_password,
    rest_username_expiry,
)
from rtcdiag.protocol.transaction import RetransmitPolicy
from rtcdiag.resolve import ResolveError, resolve
from rtcdiag.targets import Target, expand_transports

if TYPE_CHECKING:
    from rtcdiag.probes.tls_info import TlsInfo

from rtcdiag.probes.turn_allocate import (
    ADDITIONAL_FAMILY,
    REQUESTED_FAMILY,
    WIRE_FAMILY,
    allocate,
    int_attribute,
    open_session,
    planned_relays,
    refresh_request,
)
from rtcdiag.probes.turn_options import TurnCheckOptions, credentials_for

# The check's public face; what it is asked (turn_options) and how it allocates (turn_allocate) live apart;
# rest_password and rest_username_expiry are rtcdiag.protocol.credentials', re-exported for old callers.
__all__ = ["DEFAULT_LIFETIME_S", "RELEASE_TIMEOUT_S", "TurnCheckOptions", "check", "check_transport",
           "credentials_for", "rest_password", "rest_username_expiry"]

DEFAULT_LIFETIME_S = 600  # RFC 8656 §3.2 default allocation lifetime; asked for in the Refresh step
RELEASE_TIMEOUT_S = 2.0  # bound on the LIFETIME=0 release in the finally (also after Ctrl-C)


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
        if relay.asked and relay.requested_with == ADDITIONAL_FAMILY and relay.relayed_address is None \
                and relay.error_code is None:
            sub = await check_transport(target, ip, credentials,
                                        replace(options, families=(relay.family,), tcp_relay=False,
                                                acl=False),
                                        policy, t0, server_scope, server_ips)
            relay.separate, relay.requested_with, relay.steps = True, REQUESTED_FAMILY, sub.steps
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
        session = await open_session(tr, transport, (ip, target.port), target.host, options, policy, t0)
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
        session = await allocate(session, tr, credentials, options, policy, t0, sessions)
        if session is None or not tr.allocated or not any(r.relayed_address for r in tr.relays):
            return tr
        if options.peer_test:
            await _family_data_paths(session, tr, options, policy, t0, server_scope, server_ips or {}, peers)
            if any(silent(ex) for dp in tr.data_paths for ex in dp.steps):
                return tr  # the server stopped answering: a Refresh would only wait out another timeout
        # RFC 8656 §8: Refresh keeps the allocation alive (and tests that the server accepts it).
        tr.refresh_requested_s = DEFAULT_LIFETIME_S
        reply, _ = await session.request(lambda: refresh_request(DEFAULT_LIFETIME_S), "refresh")
        tr.refreshed = reply is not None and reply.msg_class == MessageClass.SUCCESS
        if tr.refreshed and reply is not None:
            tr.refresh_lifetime_s = int_attribute(reply, AttrType.LIFETIME)
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
        reply, _ = await session.request(lambda: refresh_request(0), "refresh (release, LIFETIME=0)",
                                         policy=session.policy.within(deadline - loop.time()))
        tr.released = reply is not None and reply.msg_class == MessageClass.SUCCESS
    except TransportError:
        tr.released = False
        return
    if cut_off is None or cut_off.attempts < 2 or cut_off.rtt_ms is None:
        return
    await asyncio.sleep(min(cut_off.rtt_ms / 1000.0, max(0.0, deadline - loop.time())))
    with contextlib.suppress(TransportError):
        await session.request(lambda: refresh_request(0), "refresh (release again: Allocate retransmitted)",
                              policy=session.policy.within(deadline - loop.time()))


async def _answer_of(transaction: asyncio.Task[tuple[Message | None, Exchange]],
                     wait_s: float) -> tuple[Message | None, Exchange | None]:
    """The cut-off Allocate's answer, waited for at most ``wait_s`` (None: no answer, or transport error)."""
    try:
        return await asyncio.wait_for(asyncio.shield(transaction), wait_s)
    except (TimeoutError, TransportError):
        return None, None


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
        wire = WIRE_FAMILY[relay.family]
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


def _split(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)
