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
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from rtcdiag.addresses import format_hostport
from rtcdiag.probes.exchange import error_kind, exchange
from rtcdiag.probes.nat_classify import (
    Endpoint,
    Filtering,
    Legacy,
    Mapping,
    Outcome,
    classify_filtering,
    classify_mapping,
    classify_mapping_across_servers,
    legacy_label,
    loss_upper_bound,
    silence_probability,
)
from rtcdiag.probes.record import ErrorKind, Exchange
from rtcdiag.probes.record import Outcome as ExchangeOutcome
from rtcdiag.protocol import Address, AttrType, ChangeRequest, Message, MessageClass, Method, ResponsePort
from rtcdiag.protocol.transport import Client, RetransmitPolicy, StreamClient, TransportError, UdpClient
from rtcdiag.redact import ECHO
from rtcdiag.resolve import resolve

MIN_INTERVAL_S = 0.010
MAX_KEPT_EXCHANGES = 10  # per test: the first 9 and the latest (a silent test may resend many times)
LIFETIME_STEPS_S = (2.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0)


@dataclass
class NatOptions:
    transport: str = "udp"  # "udp" (full discovery) or "tcp" (NAT presence and port preservation only)
    family: int | None = None  # 4, 6 or None (first address the name resolves to)
    local_port: int = 0  # mapping socket's local port (0: any)
    hairpin: bool = False
    lifetime: bool = False
    lifetime_max_s: float = 60.0
    timeout_s: float = 5.0  # the longest one transaction may take; RFC 8489 timers are scaled to it
    silence_threshold: float = 1e-3


@dataclass
class NatTestRecord:
    """One RFC 5780 test as it happened."""

    name: str  # e.g. "mapping II"
    socket: str  # "mapping" | "filtering" | "hairpin" | "tcp"
    dest: str
    change: str = ""  # CHANGE-REQUEST flags: "", "port", "ip+port"
    expected_source: str | None = None
    outcome: Outcome = Outcome.NOT_RUN
    mapped: str | None = None  # XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS from a legacy server)
    plain_mapped: str | None = None  # MAPPED-ADDRESS, for ALG detection
    source: str | None = None  # where the reply really came from
    response_origin: str | None = None
    attempts: int = 0
    rtt_ms: float | None = None
    silence_p: float | None = None  # for unanswered tests: probability that loss alone explains it
    exchanges: list[Exchange] = field(default_factory=list)  # at most MAX_KEPT_EXCHANGES, see keep()
    exchange_count: int = 0  # every exchange of this test, kept or not

    def keep(self, exchange: Exchange) -> None:
        """Record ``exchange``: the first ones are kept, then only the latest replaces the last slot."""
        self.exchange_count += 1
        if len(self.exchanges) >= MAX_KEPT_EXCHANGES:
            self.exchanges[-1] = exchange
        else:
            self.exchanges.append(exchange)


@dataclass
class ServerCheck:
    primary: str
    other_address: str | None = None
    other_attribute: str = ""  # "OTHER-ADDRESS" | "CHANGED-ADDRESS" | ""
    response_origin: str | None = None
    software: str | None = field(default=None, metadata=ECHO)
    supported: bool = False
    problems: list[str] = field(default_factory=list)


@dataclass
class LifetimeResult:
    alive_s: float | None = None  # longest idle time after which the mapping still worked
    gone_s: float | None = None  # shortest idle time after which it was gone
    probes: dict[str, str] = field(default_factory=dict)  # idle seconds -> "alive" | "gone" | "unsure"
    supported: bool = True
    detail: str = ""


@dataclass
class NatRun:
    server: str  # the target as the user named it
    address: str  # primary ip:port used
    transport: str
    run: int = 1
    host: str = ""  # the server's host as given (name or IP literal)
    port: int | None = None
    local: str | None = None  # local ip:port of the mapping socket
    mapped: str | None = None
    udp_answered: bool = False
    tcp_answered: bool | None = None
    server_check: ServerCheck | None = None
    tests: list[NatTestRecord] = field(default_factory=list)
    mapping: Mapping = Mapping.UNKNOWN
    nat_present: bool | None = None
    mapping_reason: str = ""
    filtering: Filtering = Filtering.UNKNOWN
    filtering_reason: str = ""
    legacy: Legacy = Legacy.UNKNOWN
    port_preserved: bool | None = None
    alg: list[str] = field(default_factory=list)
    hairpin: bool | None = None
    hairpin_detail: str = ""
    lifetime: LifetimeResult | None = None
    loss_upper: float = 1.0
    requests_sent: int = 0
    requests_answered: int = 0
    duration_ms: float = 0.0
    error: str | None = None
    error_kind: ErrorKind | None = None  # the kind of ``error`` (DNS, NETWORK, ...), else None


@dataclass
class ServerMappingRun:
    """Mapping behaviour from ordinary STUN servers: one local UDP socket sends a Binding request to every
    server (RFC 4787 §4.1 compares the mappings it gets); needs no RFC 5780 support. Filtering cannot be
    measured this way: it needs replies from an address the client never sent to (RFC 5780 §4.4)."""

    servers: list[str]  # the servers as given
    local: str | None = None  # local ip:port of the one socket
    family: int | None = None  # 4 or 6
    tests: list[NatTestRecord] = field(default_factory=list)  # one per server that resolved
    unresolved: dict[str, str] = field(default_factory=dict)  # server -> why it could not be asked
    mapping: Mapping = Mapping.UNKNOWN
    nat_present: bool | None = None
    mapping_reason: str = ""
    filtering_reason: str = ("filtering needs a reply from an address this client never sent to (RFC "
                             "5780 §4.4 CHANGE-REQUEST), which only an RFC 5780 server with two addresses "
                             "can send")
    requests_sent: int = 0
    requests_answered: int = 0
    duration_ms: float = 0.0

    @property
    def answered(self) -> int:
        return sum(1 for t in self.tests if t.mapped is not None)


@dataclass
class NatDiscovery:
    """Every run of one NAT discovery (servers x ``--repeat``) and the options they ran with; ``across``:
    the mapping from ordinary STUN servers (only when a server list was given)."""

    runs: list[NatRun]
    options: NatOptions = field(default_factory=NatOptions)
    across: ServerMappingRun | None = None


class LossMeter:
    """Round-trip loss seen on transactions that should be answered: sends that got no answer (the copies
    of an answer count, so a retransmission on a long round trip is no loss)."""

    def __init__(self) -> None:
        self.sent = 0
        self.answered = 0

    def record(self, attempts: int, answered: int) -> None:
        """``attempts`` sends of one transaction, ``answered`` of them answered (copies included: a
        retransmission that was answered too is no loss, only an RTO shorter than the round trip)."""
        self.sent += attempts
        self.answered += answered

    def upper(self) -> float:
        return loss_upper_bound(self.sent, self.answered)


def _ep(text: str | None) -> Endpoint | None:
    if text is None:
        return None
    host, _, port = text.rpartition(":")
    return (host.strip("[]"), int(port))


def _fmt(ip: str | IPv4Address | IPv6Address, port: int) -> str:
    return format_hostport(str(ip), port)


async def discover(server: str, host: str, port: int, options: NatOptions, run: int = 1) -> NatRun:
    """Run RFC 5780 discovery against ``host``:``port`` (the name in ``server`` is for display only)."""
    started = time.monotonic()
    result = NatRun(server=server, address=format_hostport(host, port), transport=options.transport, run=run,
                    host=host, port=port)
    try:
        addresses = await resolve(host, port, options.family, options.transport, timeout=options.timeout_s)
        primary = addresses[0]
        result.address = _fmt(primary.ip, primary.port)
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
    ctx = _Ctx(shell, family, dests[0][1], options)
    local_ip = _local_ip_towards(family, dests[0][1])
    sock = await UdpClient.open(family, policy=ctx.policy)
    try:
        run.local = _fmt(local_ip, sock.local_address[1]) if local_ip else None
        run.tests = [NatTestRecord(f"mapping via {label}", "mapping", _fmt(*dest)) for label, dest in dests]
        await asyncio.gather(*(_answered_test(ctx, sock, record, dest)
                               for record, (_, dest) in zip(run.tests, dests, strict=True)))
    finally:
        await sock.close()
    seen = [(dest, _ep(record.mapped)) for record, (_, dest) in zip(run.tests, dests, strict=True)]
    verdict = classify_mapping_across_servers(_ep(run.local), seen)
    run.mapping, run.nat_present, run.mapping_reason = verdict.behaviour, verdict.nat_present, verdict.reason
    run.requests_sent, run.requests_answered = ctx.loss.sent, ctx.loss.answered
    run.duration_ms = round((time.monotonic() - started) * 1000, 1)
    return run


# --- UDP: the full discovery -------------------------------------------------------------------------------

class _Ctx:
    def __init__(self, result: NatRun, family: int, primary: tuple[str, int], options: NatOptions) -> None:
        self.result = result
        self.family = family
        self.primary = primary
        self.options = options
        self.policy = RetransmitPolicy.for_timeout(options.timeout_s)
        self.loss = LossMeter()
        self.rtts: list[float] = []
        self.started = time.monotonic()

    def interval(self) -> float:
        rtt = max(self.rtts) if self.rtts else self.policy.rto
        return min(max(3 * rtt + 0.005, MIN_INTERVAL_S), max(self.policy.rto, MIN_INTERVAL_S))


async def _discover_udp(result: NatRun, family: int, primary: tuple[str, int], options: NatOptions) -> None:
    ctx = _Ctx(result, family, primary, options)
    result.local = None
    local_ip = _local_ip_towards(family, primary)
    mapping_sock = await UdpClient.open(family, local_port=options.local_port, policy=ctx.policy)
    filtering_sock = await UdpClient.open(family, policy=ctx.policy)
    extra: list[UdpClient] = []
    try:
        result.local = _fmt(local_ip, mapping_sock.local_address[1]) if local_ip else None
        map1 = NatTestRecord("mapping I", "mapping", _fmt(*primary))
        filt1 = NatTestRecord("filtering I", "filtering", _fmt(*primary))
        map_msg, filt_msg = await asyncio.gather(
            _answered_test(ctx, mapping_sock, map1, primary),
            _answered_test(ctx, filtering_sock, filt1, primary))
        result.tests += [map1, filt1]
        first = map_msg or filt_msg
        result.udp_answered = first is not None
        if first is None:
            # An error response or replies that failed validation: the server spoke over UDP (it is not
            # blocked), it just gave no usable Binding success; the triage names what it said.
            if not any(spoke(t) for t in (map1, filt1)):
                result.tcp_answered = await _tcp_answers(ctx)
            _finish(result, ctx)
            return
        result.mapped = map1.mapped or filt1.mapped
        result.nat_present = _nat_present(local_ip, mapping_sock.local_address[1], map1.mapped)
        check = _check_server(first, primary, map1 if map_msg is not None else filt1)
        result.server_check = check
        _collect_alg(result, map1, filt1)
        if map1.mapped and local_ip:
            result.port_preserved = _ep(map1.mapped) == (local_ip, mapping_sock.local_address[1]) or \
                (_ep(map1.mapped) or ("", -1))[1] == mapping_sock.local_address[1]
        if not check.supported or check.other_address is None:
            _finish(result, ctx)
            return
        other = _ep(check.other_address)
        assert other is not None
        tests: list[Awaitable[object]] = []
        map2 = NatTestRecord("mapping II", "mapping", _fmt(other[0], primary[1]))
        map3 = NatTestRecord("mapping III", "mapping", _fmt(*other))
        filt2 = NatTestRecord("filtering II", "filtering", _fmt(*primary), change="ip+port",
                           expected_source=_fmt(*other))
        filt3 = NatTestRecord("filtering III", "filtering", _fmt(*primary), change="port",
                           expected_source=_fmt(primary[0], other[1]))
        result.tests += [map2, map3, filt2, filt3]
        if map1.mapped is not None:
            tests += [_answered_test(ctx, mapping_sock, map2, (other[0], primary[1])),
                      _answered_test(ctx, mapping_sock, map3, other)]
        if filt1.outcome is Outcome.REPLIED:
            tests += [_silent_test(ctx, filtering_sock, filt2, primary, change_ip=True),
                      _silent_test(ctx, filtering_sock, filt3, primary, change_ip=False)]
        if options.hairpin and map1.mapped is not None:
            hair_sock = await UdpClient.open(family, policy=ctx.policy)
            extra.append(hair_sock)
            tests.append(_hairpin_test(ctx, mapping_sock, hair_sock, map1.mapped))
        await asyncio.gather(*tests)
        _check_change_sources(check, (filt2, filt3))
        _collect_alg(result, map2, map3, filt2, filt3)
        if options.lifetime and check.supported:
            result.lifetime = await _lifetime(ctx, primary)
        _classify(result, map1, map2, map3, filt1, filt2, filt3)
        _finish(result, ctx)
    finally:
        for sock in (mapping_sock, filtering_sock, *extra):
            await sock.close()


def spoke(record: NatTestRecord) -> bool:
    """The server sent something back for this test: a STUN response (success or error), or replies that
    were rejected (malformed, for other transactions: RFC 8489 §6.3)."""
    spoken = (ExchangeOutcome.SUCCESS, ExchangeOutcome.ERROR_RESPONSE, ExchangeOutcome.REJECTED)
    return any(ex.outcome in spoken or ex.rejected_count > 0 for ex in record.exchanges)


def _nat_present(local_ip: str | None, local_port: int, mapped: str | None) -> bool | None:
    """From test I alone (RFC 5780 §4.3): the mapped address equal to the local one means no NAT; another IP
    means NAT; the same IP with another port (a port-rewriting firewall) or nothing known: None."""
    seen = _ep(mapped)
    if local_ip is None or seen is None:
        return None
    if seen == (local_ip, local_port):
        return False
    return True if seen[0] != local_ip else None


def _finish(result: NatRun, ctx: _Ctx) -> None:
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
    mapping = classify_mapping(_ep(result.local), _ep(map1.mapped), _ep(map2.mapped), _ep(map3.mapped))
    filtering = classify_filtering(filt1.outcome, filt2.outcome, filt3.outcome)
    result.mapping, result.nat_present, result.mapping_reason = (mapping.behaviour, mapping.nat_present,
                                                                 mapping.reason)
    result.filtering, result.filtering_reason = filtering.behaviour, filtering.reason
    result.legacy = legacy_label(result.udp_answered, mapping, filtering)


def _local_ip_towards(family: int, dest: tuple[str, int]) -> str | None:
    """The source IP the kernel picks for ``dest`` (a connected UDP socket sends nothing)."""
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(dest)
            return str(probe.getsockname()[0])
        except OSError:
            return None


def _binding(change_ip: bool = False, change_port: bool = False) -> Message:
    msg = Message(Method.BINDING, MessageClass.REQUEST)
    if change_ip or change_port:
        msg.add(AttrType.CHANGE_REQUEST, ChangeRequest(change_ip=change_ip, change_port=change_port))
    return msg


def _read_reply(record: NatTestRecord, reply: Message, exchange: Exchange) -> None:
    xor = reply.find(AttrType.XOR_MAPPED_ADDRESS, Address)
    plain = reply.find(AttrType.MAPPED_ADDRESS, Address)
    origin = reply.find(AttrType.RESPONSE_ORIGIN, Address)
    mapped = xor or plain
    record.mapped = _fmt(mapped.ip, mapped.port) if mapped else None
    record.plain_mapped = _fmt(plain.ip, plain.port) if plain else None
    record.response_origin = _fmt(origin.ip, origin.port) if origin else None
    record.source = exchange.response_source
    record.outcome = Outcome.REPLIED


async def _answered_test(ctx: _Ctx, client: Client, record: NatTestRecord,
                         dest: tuple[str, int]) -> Message | None:
    """A test whose reply is expected (RFC 8489 retransmissions); feeds the loss meter and RTTs."""
    msg = _binding()
    reply, ex = await exchange(client, msg, dest=dest, step=record.name, policy=ctx.policy, count_copies=True)
    record.keep(ex)
    record.attempts = ex.attempts
    ctx.loss.record(ex.attempts, ex.answers if ex.answers is not None else int(reply is not None))
    if reply is None or ex.outcome is not ExchangeOutcome.SUCCESS:
        record.outcome = Outcome.UNSURE
        return None
    record.rtt_ms = ex.rtt_ms
    if ex.rtt_ms is not None:
        ctx.rtts.append(ex.rtt_ms / 1000)
    _read_reply(record, reply, ex)
    return reply


async def _silent_test(ctx: _Ctx, client: Client, record: NatTestRecord, dest: tuple[str, int], *,
                       change_ip: bool) -> None:
    """A CHANGE-REQUEST test that may legitimately get no reply (filtering).

    The same request (same transaction id: a retransmission) is sent every ``interval`` until a reply, or
    until silence is strong evidence given the measured loss, or until ``timeout_s``.
    """
    msg = _binding(change_ip=change_ip, change_port=True)
    deadline = time.monotonic() + ctx.options.timeout_s
    while True:
        interval = ctx.interval()
        once = RetransmitPolicy(rto=interval, rc=1, rm=1)
        reply, ex = await exchange(client, msg, dest=dest, step=record.name, policy=once)
        record.attempts += max(ex.attempts, 1)
        record.keep(ex)
        if reply is not None and ex.outcome is ExchangeOutcome.SUCCESS:
            ctx.loss.record(record.attempts, 1)
            record.rtt_ms = ex.rtt_ms
            _read_reply(record, reply, ex)
            return
        if ex.outcome not in (ExchangeOutcome.TIMEOUT, ExchangeOutcome.SUCCESS):
            record.outcome = Outcome.UNSURE  # an error response or transport error is not filtering
            return
        p = silence_probability(ctx.loss.upper(), record.attempts)
        record.silence_p = p
        if p < ctx.options.silence_threshold:
            record.outcome = Outcome.SILENT
            return
        if time.monotonic() >= deadline:
            record.outcome = Outcome.UNSURE
            return


async def _hairpin_test(ctx: _Ctx, target: UdpClient, sender: UdpClient, mapped: str) -> None:
    """RFC 5780 §4.5: send a Binding request from another socket to the mapping socket's mapped address;
    hairpinning works if the mapping socket receives it."""
    record = NatTestRecord("hairpin", "hairpin", mapped)
    ctx.result.tests.append(record)
    dest = _ep(mapped)
    assert dest is not None
    msg = _binding()
    data = msg.encode(fingerprint=True)
    txid = data[8:20]
    deadline = time.monotonic() + ctx.options.timeout_s
    while True:
        await sender.send(data, dest)
        record.attempts += 1
        end = time.monotonic() + ctx.interval()
        while (left := end - time.monotonic()) > 0:
            got = await target.receive(timeout=left)
            if got is not None and got.data[8:20] == txid:
                record.outcome = Outcome.REPLIED
                record.source = _fmt(*got.source)
                ctx.result.hairpin = True
                ctx.result.hairpin_detail = f"request to {mapped} arrived from {record.source}"
                return
        p = silence_probability(ctx.loss.upper(), record.attempts)
        record.silence_p = p
        if p < ctx.options.silence_threshold:
            record.outcome = Outcome.SILENT
            ctx.result.hairpin = False
            ctx.result.hairpin_detail = f"{record.attempts} requests to {mapped} never arrived"
            return
        if time.monotonic() >= deadline:
            record.outcome = Outcome.UNSURE
            ctx.result.hairpin_detail = "no request arrived, but loss could explain it"
            return


def _check_server(reply: Message, primary: tuple[str, int], record: NatTestRecord) -> ServerCheck:
    """RFC 5780 §7.4: OTHER-ADDRESS must name a second IP *and* port (CHANGED-ADDRESS accepted, RFC 3489)."""
    check = ServerCheck(primary=_fmt(*primary), response_origin=record.response_origin)
    software = reply.find(AttrType.SOFTWARE, str)
    check.software = software.rstrip("\x00") if software else software  # RFC 3489-era NUL padding
    other = reply.find(AttrType.OTHER_ADDRESS, Address)
    check.other_attribute = "OTHER-ADDRESS" if other else ""
    if other is None:
        other = reply.find(AttrType.CHANGED_ADDRESS, Address)
        check.other_attribute = "CHANGED-ADDRESS" if other else ""
    if other is None:
        check.problems.append("the Binding response carries no OTHER-ADDRESS (nor legacy CHANGED-ADDRESS): "
                              "the server has no second address for RFC 5780 tests")
        return check
    check.other_address = _fmt(other.ip, other.port)
    if str(other.ip) == primary[0]:
        check.problems.append(f"{check.other_attribute} {check.other_address} has the same IP as the primary "
                              f"{check.primary} (RFC 5780 §7.4 needs a second IP)")
    if other.port == primary[1]:
        check.problems.append(f"{check.other_attribute} {check.other_address} has the same port as the "
                              f"primary {check.primary}")
    if other.ip.version != (6 if ":" in primary[0] else 4):
        check.problems.append(f"{check.other_attribute} {check.other_address} is of another address family")
    check.supported = not check.problems
    return check


def _check_change_sources(check: ServerCheck, records: tuple[NatTestRecord, ...]) -> None:
    """A CHANGE-REQUEST reply must come from the address asked for: by packet source and RESPONSE-ORIGIN."""
    for record in records:
        if record.outcome is not Outcome.REPLIED or record.expected_source is None:
            continue
        if record.source != record.expected_source:
            check.problems.append(f"{record.name}: CHANGE-REQUEST ({record.change}) reply came from "
                                  f"{record.source}, not from {record.expected_source}")
        elif record.response_origin is not None and record.response_origin != record.expected_source:
            check.problems.append(f"{record.name}: RESPONSE-ORIGIN {record.response_origin} does not match "
                                  f"the packet source {record.source}")
    check.supported = not check.problems


def _collect_alg(result: NatRun, *records: NatTestRecord) -> None:
    """MAPPED-ADDRESS differing from XOR-MAPPED-ADDRESS: something rewrote the payload (RFC 5780 §4.7)."""
    for record in records:
        if record.plain_mapped and record.mapped and record.plain_mapped != record.mapped:
            text = (f"{record.name}: MAPPED-ADDRESS {record.plain_mapped} vs "
                    f"XOR-MAPPED-ADDRESS {record.mapped}")
            if text not in result.alg:
                result.alg.append(text)


async def _tcp_answers(ctx: _Ctx) -> bool:
    """Does the same server answer a Binding over TCP? (UDP blocked vs server unreachable.)"""
    record = NatTestRecord("tcp binding", "tcp", _fmt(*ctx.primary))
    ctx.result.tests.append(record)
    try:
        client = await StreamClient.connect(ctx.primary[0], ctx.primary[1], timeout=ctx.options.timeout_s,
                                            policy=ctx.policy)
    except TransportError as exc:
        record.outcome = Outcome.UNSURE
        record.source = None
        record.keep(Exchange(step="tcp connect", request="TCP connect", transport="tcp",
                             server=_fmt(*ctx.primary), outcome=ExchangeOutcome.TRANSPORT_ERROR,
                             error=str(exc), error_kind=error_kind(exc)))
        return False
    try:
        reply, ex = await exchange(client, _binding(), dest=ctx.primary, step=record.name,
                                   policy=ctx.policy)
        record.keep(ex)
        if reply is None:
            record.outcome = Outcome.UNSURE
            return False
        _read_reply(record, reply, ex)
        return True
    finally:
        await client.close()


# --- TCP: NAT presence and port preservation only ---------------------------------------------------------

async def _discover_tcp(result: NatRun, family: int, primary: tuple[str, int], options: NatOptions) -> None:
    ctx = _Ctx(result, family, primary, options)
    local_ip = _local_ip_towards(family, primary)
    answered = await _tcp_answers(ctx)
    result.tcp_answered = answered
    record = result.tests[-1]
    if answered and record.mapped:
        result.mapped = record.mapped
        mapped = _ep(record.mapped)
        result.nat_present = None if local_ip is None or mapped is None else mapped[0] != local_ip
    result.mapping_reason = ("over TCP only NAT presence is reported: RFC 5780 filtering tests need UDP, "
                             "mapping tests need several connections from one local port")


# --- §4.6 mapping lifetime ---------------------------------------------------------------------------------

async def _lifetime(ctx: _Ctx, primary: tuple[str, int]) -> LifetimeResult:
    """For each idle time T (in parallel): socket X makes a mapping, stays silent T seconds, then socket Y
    asks the server (RESPONSE-PORT, RFC 5780 §7.5) to answer to X's mapped port; X hearing it = alive.

    T = 0 is the control: if even that reply never arrives the server ignores RESPONSE-PORT (or the NAT
    filters it) and no lifetime is claimed. Bounded by ``lifetime_max_s``.
    """
    steps = [t for t in LIFETIME_STEPS_S if t <= ctx.options.lifetime_max_s] or [ctx.options.lifetime_max_s]
    steps = [0.0, *steps]
    out = LifetimeResult()

    async def probe(idle: float) -> tuple[float, str]:
        x = await UdpClient.open(ctx.family, policy=ctx.policy)
        y = await UdpClient.open(ctx.family, policy=ctx.policy)
        try:
            rec = NatTestRecord(f"lifetime {idle:g}s", "lifetime", _fmt(*primary))
            reply = await _answered_test(ctx, x, rec, primary)
            mapped = _ep(rec.mapped)
            if reply is None or mapped is None:
                return idle, "unsure"
            await asyncio.sleep(idle)
            msg = _binding()
            msg.add(AttrType.RESPONSE_PORT, ResponsePort(mapped[1]))
            data = msg.encode(fingerprint=True)
            txid = data[8:20]
            attempts = 0
            while True:
                await y.send(data, primary)
                attempts += 1
                end = time.monotonic() + ctx.interval()
                while (left := end - time.monotonic()) > 0:
                    got = await x.receive(timeout=left)
                    if got is not None and got.data[8:20] == txid:
                        return idle, "alive"
                if silence_probability(ctx.loss.upper(), attempts) < ctx.options.silence_threshold:
                    return idle, "gone"
                if attempts >= 40:
                    return idle, "unsure"
        finally:
            await x.close()
            await y.close()

    results = await asyncio.gather(*(probe(t) for t in steps))
    for idle, state in results:
        out.probes[f"{idle:g}"] = state
    if results[0][1] != "alive":
        out.supported = False
        out.detail = ("the control probe (no idle time) got no reply on the mapped port: the server ignores "
                      "RESPONSE-PORT or the NAT filters it, so no lifetime can be measured")
        return out
    results = results[1:]
    alive = [t for t, s in results if s == "alive"]
    gone = [t for t, s in results if s == "gone"]
    out.alive_s = max(alive) if alive else None
    out.gone_s = min(gone) if gone else None
    if gone and alive and out.gone_s is not None and out.alive_s is not None and out.gone_s < out.alive_s:
        out.detail = "mappings did not expire monotonically (alive after a longer idle than one already gone)"
    return out

