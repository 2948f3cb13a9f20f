"""NAT behaviour discovery (RFC 5780) against one STUN server; returns a :class:`NatRun` recording every step.

Order (each test family on its own socket so one cannot bias the other, RFC 5780 §4.3/§4.4 run concurrently):

1. Test I on the *mapping* socket and on the *filtering* socket at once: plain Binding to the primary
   address. Server validation (§4.1, §7.4): OTHER-ADDRESS (or legacy CHANGED-ADDRESS) must differ from the
   primary in IP *and* port. No answer at all over UDP: try TCP to tell "UDP blocked" from "server
   unreachable".
2. Concurrently: mapping tests II (other IP, primary port) and III (other IP and port) on the mapping socket;
   filtering tests II (CHANGE-REQUEST ip+port) and III (port) on the filtering socket; hairpinning (§4.5) on
   a third socket when asked. Every CHANGE-REQUEST reply must come from the address it claims (packet
   source and RESPONSE-ORIGIN), else the server is rejected.
3. Mapping lifetime (§4.6), opt-in: parallel probes with different idle times, bounded by ``lifetime_max_s``.

"No reply expected" tests do not wait RFC 8489's 39.5 s: they resend every ``interval`` (3 x the measured RTT
+ 5 ms, at least 10 ms, at most the RTO) and stop as soon as loss measured on the answered tests makes "all of
them lost" improbable (< 1e-3), or at ``timeout_s``. If loss could still explain the silence the test is
UNSURE and the verdict is unknown rather than wrong.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable

from rtcdiag.addresses import format_hostport
from rtcdiag.net import TransportError, UdpClient
from rtcdiag.probes.exchange import error_kind
from rtcdiag.probes.nat_classify import (
    Legacy,
    NatTestOutcome,
    classify_filtering,
    classify_mapping,
    classify_mapping_across_servers,
    legacy_label,
)
from rtcdiag.probes.nat_result import (
    MAX_KEPT_EXCHANGES,
    LifetimeResult,
    NatDiscovery,
    NatOptions,
    NatRun,
    NatTestRecord,
    ServerCheck,
    ServerMappingRun,
)
from rtcdiag.probes.nat_tests import (
    DiscoveryContext,
    answered_test,
    check_change_sources,
    check_server,
    collect_alg,
    endpoint,
    hairpin_test,
    hostport_of,
    lifetime_test,
    silent_test,
    source_ip_if_routed,
    spoke,
    tcp_answers,
)
from rtcdiag.resolve import resolve

# The probe's public face: what it records lives in nat_result, the RFC 5780 tests in nat_tests.
__all__ = ["MAX_KEPT_EXCHANGES", "LifetimeResult", "NatDiscovery", "NatOptions", "NatRun", "NatTestRecord",
           "ServerCheck", "ServerMappingRun", "discover", "discover_across", "spoke"]


async def discover(server: str, host: str, port: int, options: NatOptions, run: int = 1) -> NatRun:
    """Run RFC 5780 discovery against ``host``:``port`` (the name in ``server`` is for display only)."""
    started = time.monotonic()
    result = NatRun(server=server, address=format_hostport(host, port), transport=options.transport, run=run,
                    host=host, port=port)
    try:
        addresses = await resolve(host, port, options.family, options.transport, timeout=options.timeout_s)
        primary = addresses[0]
        result.address = hostport_of(primary.ip, primary.port)
        if options.transport == "udp":
            await _discover_udp(result, primary.family, (primary.ip, primary.port), options)
        else:
            await _discover_tcp(result, primary.family, (primary.ip, primary.port), options)
    except Exception as exc:  # network/resolution failures are recorded, never raised to the caller
        result.error = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
        result.error_kind = error_kind(exc) if isinstance(exc, TransportError) else None
    result.duration_ms = round((time.monotonic() - started) * 1000, 1)
    return result


async def discover_across(servers: list[tuple[str, str, int]], options: NatOptions) -> ServerMappingRun:
    """Mapping behaviour from ordinary STUN servers ``(label, host, port)``: every server is asked from the
    same local UDP socket, concurrently; the mapped addresses are compared by
    :func:`classify_mapping_across_servers`. Never raises for network failures."""
    started = time.monotonic()
    run = ServerMappingRun(servers=[label for label, _, _ in servers])

    async def where(label: str, host: str, port: int) -> tuple[str, tuple[int, str, int] | None]:
        try:
            found = await resolve(host, port, options.family, "udp", timeout=options.timeout_s)
        except TransportError as exc:
            run.unresolved[label] = str(exc)
            return label, None
        pick = next((a for a in found if a.family == socket.AF_INET), found[0])  # IPv4 first: most answer it
        return label, (pick.family, pick.ip, pick.port)

    located = await asyncio.gather(*(where(*server) for server in servers))
    families = [dest[0] for _, dest in located if dest is not None]
    if not families:
        run.mapping_reason = "no STUN server could be asked (every name failed to resolve)"
        run.duration_ms = round((time.monotonic() - started) * 1000, 1)
        return run
    family = socket.AF_INET if socket.AF_INET in families else families[0]
    run.family = 4 if family == socket.AF_INET else 6
    dests: list[tuple[str, tuple[str, int]]] = []
    for label, dest in located:
        if dest is None:
            continue
        if dest[0] != family:
            other = 10 - run.family  # 4 <-> 6
            run.unresolved[label] = f"resolved to another address family than the others (IPv{other})"
            continue
        dests.append((label, (dest[1], dest[2])))
    shell = NatRun(server="", address="", transport="udp")
    ctx = DiscoveryContext(shell, family, dests[0][1], options)
    local_ip = source_ip_if_routed(dests[0][1], family)
    sock = await UdpClient.open(family, policy=ctx.policy)
    try:
        run.local = hostport_of(local_ip, sock.local_address[1]) if local_ip else None
        run.tests = [NatTestRecord(f"mapping via {label}", "mapping", hostport_of(*dest))
                     for label, dest in dests]
        await asyncio.gather(*(answered_test(ctx, sock, record, dest)
                               for record, (_, dest) in zip(run.tests, dests, strict=True)))
    finally:
        await sock.close()
    seen = [(dest, endpoint(record.mapped)) for record, (_, dest) in zip(run.tests, dests, strict=True)]
    verdict = classify_mapping_across_servers(endpoint(run.local), seen)
    run.mapping, run.nat_present, run.mapping_reason = verdict.behaviour, verdict.nat_present, verdict.reason
    run.requests_sent, run.requests_answered = ctx.loss.sent, ctx.loss.answered
    run.duration_ms = round((time.monotonic() - started) * 1000, 1)
    return run


async def _discover_udp(result: NatRun, family: int, primary: tuple[str, int], options: NatOptions) -> None:
    ctx = DiscoveryContext(result, family, primary, options)
    result.local = None
    local_ip = source_ip_if_routed(primary, family)
    mapping_sock = await UdpClient.open(family, local_port=options.local_port, policy=ctx.policy)
    filtering_sock = await UdpClient.open(family, policy=ctx.policy)
    extra: list[UdpClient] = []
    try:
        result.local = hostport_of(local_ip, mapping_sock.local_address[1]) if local_ip else None
        map1 = NatTestRecord("mapping I", "mapping", hostport_of(*primary))
        filt1 = NatTestRecord("filtering I", "filtering", hostport_of(*primary))
        map_msg, filt_msg = await asyncio.gather(
            answered_test(ctx, mapping_sock, map1, primary),
            answered_test(ctx, filtering_sock, filt1, primary))
        result.tests += [map1, filt1]
        first = map_msg or filt_msg
        result.udp_answered = first is not None
        if first is None:
            # An error response or replies that failed validation: the server spoke over UDP (it is not
            # blocked), it just gave no usable Binding success; the triage names what it said.
            if not any(spoke(t) for t in (map1, filt1)):
                result.tcp_answered = await tcp_answers(ctx)
            _finish(result, ctx)
            return
        result.mapped = map1.mapped or filt1.mapped
        result.nat_present = _nat_present(local_ip, mapping_sock.local_address[1], map1.mapped)
        check = check_server(first, primary, map1 if map_msg is not None else filt1)
        result.server_check = check
        collect_alg(result, map1, filt1)
        if map1.mapped and local_ip:
            result.port_preserved = endpoint(map1.mapped) == (local_ip, mapping_sock.local_address[1]) or \
                (endpoint(map1.mapped) or ("", -1))[1] == mapping_sock.local_address[1]
        if not check.supported or check.other_address is None:
            _finish(result, ctx)
            return
        other = endpoint(check.other_address)
        assert other is not None
        tests: list[Awaitable[object]] = []
        map2 = NatTestRecord("mapping II", "mapping", hostport_of(other[0], primary[1]))
        map3 = NatTestRecord("mapping III", "mapping", hostport_of(*other))
        filt2 = NatTestRecord("filtering II", "filtering", hostport_of(*primary), change="ip+port",
                           expected_source=hostport_of(*other))
        filt3 = NatTestRecord("filtering III", "filtering", hostport_of(*primary), change="port",
                           expected_source=hostport_of(primary[0], other[1]))
        result.tests += [map2, map3, filt2, filt3]
        if map1.mapped is not None:
            tests += [answered_test(ctx, mapping_sock, map2, (other[0], primary[1])),
                      answered_test(ctx, mapping_sock, map3, other)]
        if filt1.outcome is NatTestOutcome.REPLIED:
            tests += [silent_test(ctx, filtering_sock, filt2, primary, change_ip=True),
                      silent_test(ctx, filtering_sock, filt3, primary, change_ip=False)]
        if options.hairpin and map1.mapped is not None:
            hair_sock = await UdpClient.open(family, policy=ctx.policy)
            extra.append(hair_sock)
            tests.append(hairpin_test(ctx, mapping_sock, hair_sock, map1.mapped))
        await asyncio.gather(*tests)
        check_change_sources(check, (filt2, filt3))
        collect_alg(result, map2, map3, filt2, filt3)
        if options.lifetime and check.supported:
            result.lifetime = await lifetime_test(ctx, primary)
        _classify(result, map1, map2, map3, filt1, filt2, filt3)
        _finish(result, ctx)
    finally:
        for sock in (mapping_sock, filtering_sock, *extra):
            await sock.close()


def _nat_present(local_ip: str | None, local_port: int, mapped: str | None) -> bool | None:
    """From test I alone (RFC 5780 §4.3): the mapped address equal to the local one means no NAT; another IP
    means NAT; the same IP with another port (a port-rewriting firewall) or nothing known: None."""
    seen = endpoint(mapped)
    if local_ip is None or seen is None:
        return None
    if seen == (local_ip, local_port):
        return False
    return True if seen[0] != local_ip else None


def _finish(result: NatRun, ctx: DiscoveryContext) -> None:
    result.loss_upper = round(ctx.loss.upper(), 4)
    result.requests_sent = ctx.loss.sent
    result.requests_answered = ctx.loss.answered
    if not result.udp_answered:
        result.legacy = Legacy.UDP_BLOCKED if result.tcp_answered else Legacy.UNKNOWN


def _classify(result: NatRun, map1: NatTestRecord, map2: NatTestRecord, map3: NatTestRecord,
              filt1: NatTestRecord, filt2: NatTestRecord, filt3: NatTestRecord) -> None:
    check = result.server_check
    if check is None or not check.supported:
        return
    mapping = classify_mapping(endpoint(result.local), endpoint(map1.mapped), endpoint(map2.mapped),
                               endpoint(map3.mapped))
    filtering = classify_filtering(filt1.outcome, filt2.outcome, filt3.outcome)
    result.mapping, result.nat_present, result.mapping_reason = (mapping.behaviour, mapping.nat_present,
                                                                 mapping.reason)
    result.filtering, result.filtering_reason = filtering.behaviour, filtering.reason
    result.legacy = legacy_label(result.udp_answered, mapping, filtering)


async def _discover_tcp(result: NatRun, family: int, primary: tuple[str, int], options: NatOptions) -> None:
    ctx = DiscoveryContext(result, family, primary, options)
    local_ip = source_ip_if_routed(primary, family)
    answered = await tcp_answers(ctx)
    result.tcp_answered = answered
    record = result.tests[-1]
    if answered and record.mapped:
        result.mapped = record.mapped
        mapped = endpoint(record.mapped)
        result.nat_present = None if local_ip is None or mapped is None else mapped[0] != local_ip
    result.mapping_reason = ("over TCP only NAT presence is reported: RFC 5780 filtering tests need UDP, "
                             "mapping tests need several connections from one local port")
