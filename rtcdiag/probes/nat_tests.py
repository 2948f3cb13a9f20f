"""The RFC 5780 tests of NAT discovery, each a function over a ``DiscoveryContext`` (the run, its timers, the
loss measured so far): a Binding whose answer is expected (§4.3 mapping, test I), a CHANGE-REQUEST that may
go unanswered (§4.4 filtering), hairpinning (§4.5), the mapping lifetime (§4.6), Binding over TCP; the
server's fitness for them (§7.4) and the payload rewriting a NAT ALG does (§4.7)."""

from __future__ import annotations

import asyncio
import time
from ipaddress import IPv4Address, IPv6Address

from rtcdiag.addresses import format_hostport
from rtcdiag.net import Client, LocalResourceError, StreamClient, TransportError, UdpClient
from rtcdiag.net.sockaddr import source_ip_toward
from rtcdiag.probes.exchange import error_kind, exchange
from rtcdiag.probes.nat_classify import (
    Endpoint,
    NatTestOutcome,
    loss_upper_bound,
    silence_probability,
)
from rtcdiag.probes.nat_result import LifetimeResult, NatOptions, NatRun, NatTestRecord, ServerCheck
from rtcdiag.probes.record import Exchange, Outcome
from rtcdiag.protocol import Address, AttrType, ChangeRequest, Message, MessageClass, Method, ResponsePort
from rtcdiag.protocol.transaction import RetransmitPolicy

MIN_INTERVAL_S = 0.010
LIFETIME_STEPS_S = (2.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0)


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


def endpoint(text: str | None) -> Endpoint | None:
    if text is None:
        return None
    host, _, port = text.rpartition(":")
    return (host.strip("[]"), int(port))


def hostport_of(ip: str | IPv4Address | IPv6Address, port: int) -> str:
    return format_hostport(str(ip), port)


class DiscoveryContext:
    """One discovery's state shared by its tests: the run recorded, the server's primary address, the timers,
    the loss and round trips measured so far (they pace the tests that may go unanswered)."""

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


def spoke(record: NatTestRecord) -> bool:
    """The server sent something back for this test: a STUN response (success or error), or replies that
    were rejected (malformed, for other transactions: RFC 8489 §6.3)."""
    spoken = (Outcome.SUCCESS, Outcome.ERROR_RESPONSE, Outcome.REJECTED)
    return any(ex.outcome in spoken or ex.rejected_count > 0 for ex in record.exchanges)


def source_ip_if_routed(dest: tuple[str, int], family: int) -> str | None:
    """The source IP the kernel picks for ``dest`` (None when nothing routes there)."""
    try:
        return source_ip_toward(dest, family)
    except LocalResourceError:
        raise
    except TransportError:
        return None


def binding_request(change_ip: bool = False, change_port: bool = False) -> Message:
    msg = Message(Method.BINDING, MessageClass.REQUEST)
    if change_ip or change_port:
        msg.add(AttrType.CHANGE_REQUEST, ChangeRequest(change_ip=change_ip, change_port=change_port))
    return msg


def _read_reply(record: NatTestRecord, reply: Message, exchange: Exchange) -> None:
    xor = reply.find(AttrType.XOR_MAPPED_ADDRESS, Address)
    plain = reply.find(AttrType.MAPPED_ADDRESS, Address)
    origin = reply.find(AttrType.RESPONSE_ORIGIN, Address)
    mapped = xor or plain
    record.mapped = hostport_of(mapped.ip, mapped.port) if mapped else None
    record.plain_mapped = hostport_of(plain.ip, plain.port) if plain else None
    record.response_origin = hostport_of(origin.ip, origin.port) if origin else None
    record.source = exchange.response_source
    record.outcome = NatTestOutcome.REPLIED


async def answered_test(ctx: DiscoveryContext, client: Client, record: NatTestRecord,
                        dest: tuple[str, int]) -> Message | None:
    """A test whose reply is expected (RFC 8489 retransmissions); feeds the loss meter and RTTs."""
    msg = binding_request()
    reply, ex = await exchange(client, msg, dest=dest, step=record.name, policy=ctx.policy, count_copies=True)
    record.keep(ex)
    record.attempts = ex.attempts
    ctx.loss.record(ex.attempts, ex.answers if ex.answers is not None else int(reply is not None))
    if reply is None or ex.outcome is not Outcome.SUCCESS:
        record.outcome = NatTestOutcome.UNSURE
        return None
    record.rtt_ms = ex.rtt_ms
    if ex.rtt_ms is not None:
        ctx.rtts.append(ex.rtt_ms / 1000)
    _read_reply(record, reply, ex)
    return reply


async def silent_test(ctx: DiscoveryContext, client: Client, record: NatTestRecord, dest: tuple[str, int],
                      *, change_ip: bool) -> None:
    """A CHANGE-REQUEST test that may legitimately get no reply (filtering).

    The same request (same transaction id: a retransmission) is sent every ``interval`` until a reply, or
    until silence is strong evidence given the measured loss, or until ``timeout_s``.
    """
    msg = binding_request(change_ip=change_ip, change_port=True)
    deadline = time.monotonic() + ctx.options.timeout_s
    while True:
        interval = ctx.interval()
        once = RetransmitPolicy(rto=interval, rc=1, rm=1)
        reply, ex = await exchange(client, msg, dest=dest, step=record.name, policy=once)
        record.attempts += max(ex.attempts, 1)
        record.keep(ex)
        if reply is not None and ex.outcome is Outcome.SUCCESS:
            ctx.loss.record(record.attempts, 1)
            record.rtt_ms = ex.rtt_ms
            _read_reply(record, reply, ex)
            return
        if ex.outcome not in (Outcome.TIMEOUT, Outcome.SUCCESS):
            record.outcome = NatTestOutcome.UNSURE  # an error response or transport error is not filtering
            return
        p = silence_probability(ctx.loss.upper(), record.attempts)
        record.silence_p = p
        if p < ctx.options.silence_threshold:
            record.outcome = NatTestOutcome.SILENT
            return
        if time.monotonic() >= deadline:
            record.outcome = NatTestOutcome.UNSURE
            return


async def hairpin_test(ctx: DiscoveryContext, target: UdpClient, sender: UdpClient, mapped: str) -> None:
    """RFC 5780 §4.5: send a Binding request from another socket to the mapping socket's mapped address;
    hairpinning works if the mapping socket receives it."""
    record = NatTestRecord("hairpin", "hairpin", mapped)
    ctx.result.tests.append(record)
    dest = endpoint(mapped)
    assert dest is not None
    msg = binding_request()
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
                record.outcome = NatTestOutcome.REPLIED
                record.source = hostport_of(*got.source)
                ctx.result.hairpin = True
                ctx.result.hairpin_detail = f"request to {mapped} arrived from {record.source}"
                return
        p = silence_probability(ctx.loss.upper(), record.attempts)
        record.silence_p = p
        if p < ctx.options.silence_threshold:
            record.outcome = NatTestOutcome.SILENT
            ctx.result.hairpin = False
            ctx.result.hairpin_detail = f"{record.attempts} requests to {mapped} never arrived"
            return
        if time.monotonic() >= deadline:
            record.outcome = NatTestOutcome.UNSURE
            ctx.result.hairpin_detail = "no request arrived, but loss could explain it"
            return


def check_server(reply: Message, primary: tuple[str, int], record: NatTestRecord) -> ServerCheck:
    """RFC 5780 §7.4: OTHER-ADDRESS must name a second IP *and* port (CHANGED-ADDRESS accepted, RFC 3489)."""
    check = ServerCheck(primary=hostport_of(*primary), response_origin=record.response_origin)
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
    check.other_address = hostport_of(other.ip, other.port)
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


def check_change_sources(check: ServerCheck, records: tuple[NatTestRecord, ...]) -> None:
    """A CHANGE-REQUEST reply must come from the address asked for: by packet source and RESPONSE-ORIGIN."""
    for record in records:
        if record.outcome is not NatTestOutcome.REPLIED or record.expected_source is None:
            continue
        if record.source != record.expected_source:
            check.problems.append(f"{record.name}: CHANGE-REQUEST ({record.change}) reply came from "
                                  f"{record.source}, not from {record.expected_source}")
        elif record.response_origin is not None and record.response_origin != record.expected_source:
            check.problems.append(f"{record.name}: RESPONSE-ORIGIN {record.response_origin} does not match "
                                  f"the packet source {record.source}")
    check.supported = not check.problems


def collect_alg(result: NatRun, *records: NatTestRecord) -> None:
    """MAPPED-ADDRESS differing from XOR-MAPPED-ADDRESS: something rewrote the payload (RFC 5780 §4.7)."""
    for record in records:
        if record.plain_mapped and record.mapped and record.plain_mapped != record.mapped:
            text = (f"{record.name}: MAPPED-ADDRESS {record.plain_mapped} vs "
                    f"XOR-MAPPED-ADDRESS {record.mapped}")
            if text not in result.alg:
                result.alg.append(text)


async def tcp_answers(ctx: DiscoveryContext) -> bool:
    """Does the same server answer a Binding over TCP? (UDP blocked vs server unreachable.)"""
    record = NatTestRecord("tcp binding", "tcp", hostport_of(*ctx.primary))
    ctx.result.tests.append(record)
    try:
        client = await StreamClient.connect(ctx.primary[0], ctx.primary[1], timeout=ctx.options.timeout_s,
                                            policy=ctx.policy)
    except TransportError as exc:
        record.outcome = NatTestOutcome.UNSURE
        record.source = None
        record.keep(Exchange(step="tcp connect", request="TCP connect", transport="tcp",
                             server=hostport_of(*ctx.primary), outcome=Outcome.TRANSPORT_ERROR,
                             error=str(exc), error_kind=error_kind(exc)))
        return False
    try:
        reply, ex = await exchange(client, binding_request(), dest=ctx.primary, step=record.name,
                                   policy=ctx.policy)
        record.keep(ex)
        if reply is None:
            record.outcome = NatTestOutcome.UNSURE
            return False
        _read_reply(record, reply, ex)
        return True
    finally:
        await client.close()


async def lifetime_test(ctx: DiscoveryContext, primary: tuple[str, int]) -> LifetimeResult:
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
            rec = NatTestRecord(f"lifetime {idle:g}s", "lifetime", hostport_of(*primary))
            reply = await answered_test(ctx, x, rec, primary)
            mapped = endpoint(rec.mapped)
            if reply is None or mapped is None:
                return idle, "unsure"
            await asyncio.sleep(idle)
            msg = binding_request()
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
