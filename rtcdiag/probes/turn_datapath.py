"""Data through the relay: a local UDP peer echoes what the relay sends it, the client times the round trip.

Two methods, measured separately (RFC 8656):
- §9 CreatePermission for the peer, then §11 Send indications out and Data indications back;
- §12 ChannelBind (which also installs the permission), then ChannelData both ways.

At most ``WINDOW_PACKETS`` packets are in flight: the next goes out when an echo comes back (no fixed sleeps,
no burst that overflows a socket buffer on the way); each is awaited within a window derived from the
measured control RTT. A server that dies stops the packets at the first sign — an ICMP port unreachable, or
a run of lost packets while it says nothing — confirmed by one liveness request (a Binding on the
allocation's 5-tuple, which a TURN server answers, RFC 8656 §3): nothing more is sent into a dead server,
and the report says when it went silent, not when the packets ran out.

The peer is a second local socket; when the server sits on a public address the peer's address as the relay
sees it is learned with a Binding request, and the peer sends one datagram to the relayed address first so
that a NAT in front of it lets the relay's packets in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rtcdiag.net import StreamClient, TransportError, UdpClient, normalize
from rtcdiag.net.sockaddr import source_ip_toward
from rtcdiag.probes.exchange import address_of, exchange, hostport
from rtcdiag.probes.record import Exchange, Outcome
from rtcdiag.probes.turn_result import METHOD_CHANNEL, METHOD_INDICATION, DataPathResult
from rtcdiag.probes.turn_session import TurnSession
from rtcdiag.protocol import (
    Address,
    AttrType,
    ChannelData,
    Message,
    MessageClass,
    Method,
    StunParseError,
    is_channeldata,
    is_stun,
)
from rtcdiag.protocol.transaction import Received, RetransmitPolicy

CHANNEL = 0x4000  # RFC 8656 §12: first channel number
_TAG = b"\x80rtcdiag"  # first byte 0x80: neither STUN (00) nor ChannelData (01) to a demultiplexer
_MAX_HELD = 4096  # echo hold times kept at once (one per packet in flight)


class EchoPeer:
    """A UDP socket that sends our probe packets (``_TAG``...) back to where they came from.

    Anything else is not echoed (counted in ``ignored``): a server flooding the peer gets nothing back.
    """

    def __init__(self, client: UdpClient, address: tuple[str, int]) -> None:
        self.client = client
        self.address = address  # as the relay must address it (CreatePermission / XOR-PEER-ADDRESS)
        self.ignored = 0  # datagrams that were not our probes
        # How long each echo waited in this (busy) process before it was sent back, by payload: taken out of
        # the RTT. Bounded; an entry is removed when the echo is matched.
        self.held: dict[bytes, float] = {}
        self.echoed_at: dict[bytes, float] = {}  # when each echo was sent back (event-loop time), bounded
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._echo())

    @classmethod
    async def open(cls, server: tuple[str, int], *, discover: bool, policy: RetransmitPolicy,
                   t0: float, toward: tuple[str, int] | None = None) -> EchoPeer:
        """Bind on the local address that routes to ``toward`` (the relayed address: the peer must have the
        relay's family, RFC 8656 §9.1; default ``server``); with ``discover`` ask ``server`` (Binding, same
        family) for the address it sees (XOR-MAPPED-ADDRESS, RFC 8489 §14.2), which is what the relay sends
        to from behind a NAT."""
        route = toward or server
        family = socket.AF_INET6 if ":" in route[0] else socket.AF_INET
        client = await UdpClient.open(family, local_host=source_ip_toward(route, family), policy=policy)
        address = client.local_address
        if discover:
            reply, _ = await exchange(client, Message(Method.BINDING, MessageClass.REQUEST), dest=server,
                                      step="peer binding", t0=t0)
            mapped = address_of(reply, AttrType.XOR_MAPPED_ADDRESS) if reply is not None else None
            if mapped is not None:
                address = mapped
        return cls(client, address)

    async def _echo(self) -> None:
        while True:
            await self._echo_one(await self.client.queue.get())

    async def _echo_one(self, got: Received) -> None:
        if not got.data.startswith(_TAG):
            self.ignored += 1
            return
        if len(self.held) < _MAX_HELD:
            now = self._loop.time()
            self.held[got.data] = max(now - got.at, 0.0)  # got.at: kernel receive time
            self.echoed_at[got.data] = now
        with contextlib.suppress(TransportError):
            await self.client.send(got.data, got.source)

    async def flush(self) -> None:
        """Echo at once what already reached the peer's socket but was not echoed yet (a busy event loop)."""
        self.client.read_now()
        while not self.client.queue.empty():
            await self._echo_one(self.client.queue.get_nowait())

    def forget(self) -> None:
        self.held.clear()
        self.echoed_at.clear()

    async def punch(self, relay: tuple[str, int]) -> None:
        """Open a NAT pinhole towards the relayed address (the relay drops or forwards it; both harmless)."""
        with contextlib.suppress(TransportError):
            await self.client.send(_TAG + b"punch", relay)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.client.close()


def _peer_attr(peer: tuple[str, int]) -> Address:
    return Address.of(peer[0], peer[1])


async def run_data_paths(session: TurnSession, relay: tuple[str, int], peer: EchoPeer, packets: int,
                         punch: bool, channel_number: int = CHANNEL) -> list[DataPathResult]:
    """Send/Data indications, then ChannelBind + ChannelData, each with ``packets`` echoed packets.

    ``channel_number``: the channel to bind (each relay of a dual allocation needs its own, RFC 8656 §12)."""
    results: list[DataPathResult] = []
    shown = hostport(peer.address)

    indication = DataPathResult(method=METHOD_INDICATION, peer=shown)
    results.append(indication)
    reply, record = await session.request(
        lambda: Message(Method.CREATE_PERMISSION, MessageClass.REQUEST).add(
            AttrType.XOR_PEER_ADDRESS, _peer_attr(peer.address)),
        "create-permission", record_in=indication.steps)
    if _accepted(reply, record):
        if punch:
            await peer.punch(relay)

        async def send_indication(payload: bytes) -> None:
            msg = Message(Method.SEND, MessageClass.INDICATION)
            msg.add(AttrType.XOR_PEER_ADDRESS, _peer_attr(peer.address)).add(AttrType.DATA, payload)
            await session.client.send(msg.encode(), session.server)

        # Before the relay is said to pass no data at all (a claim about the server), the echoes get the
        # whole transaction time: a busy server delays relayed data far more than its control answers (seen
        # under CPU load: control RTTs of 0.3 ms, echoes after 500 ms).
        await _measure(session, peer, indication, packets, send_indication, _data_indication_payload,
                       late_wait_s=_transaction_s(session))
        if indication.stopped is not None:
            return results  # the server went silent: a ChannelBind would only wait out a timeout
    else:
        indication.error = f"CreatePermission got {record.response or record.error or record.outcome}"
        if silent(record):
            return results  # the server stopped answering: a ChannelBind would only wait out a timeout

    channel = DataPathResult(method=METHOD_CHANNEL, peer=shown)
    results.append(channel)
    reply, record = await session.request(
        lambda: Message(Method.CHANNEL_BIND, MessageClass.REQUEST)
        .add(AttrType.CHANNEL_NUMBER, channel_number)
        .add(AttrType.XOR_PEER_ADDRESS, _peer_attr(peer.address)),
        "channel-bind", record_in=channel.steps)
    if _accepted(reply, record):
        async def send_channel(payload: bytes) -> None:
            await session.client.send(ChannelData(channel_number, payload).encode(), session.server)

        # Before ChannelData is called unrelayed while Send/Data worked (a claim about the server), its
        # echoes get the whole transaction time: a busy server or machine only delays them.
        late_wait = _transaction_s(session) if indication.packets_received else 0.0
        await _measure(session, peer, channel, packets, send_channel,
                       lambda data: _channel_payload(data, channel_number), late_wait_s=late_wait)
    else:
        channel.error = f"ChannelBind got {record.response or record.error or record.outcome}"
    return results


def _transaction_s(session: TurnSession) -> float:
    """How long one transaction may take on this session (RFC 8489 §6.2.1 Rc x RTO total, §6.2.2 Ti)."""
    return session.policy.udp_total if session.transport == "udp" else session.policy.ti


def silent(record: Exchange) -> bool:
    """The server gave no answer at all to this request: timeout, or the connection failed/reset."""
    return record.outcome in (Outcome.TIMEOUT, Outcome.TRANSPORT_ERROR)


def _accepted(reply: Message | None, record: Exchange) -> bool:
    """A success, or only successes without a valid MESSAGE-INTEGRITY (discarded, RFC 8489 §9.2.5: the
    judge reports the server as non-compliant). The packets are sent anyway in the second case: the server
    claims the permission or channel exists, and whether it relays is still worth knowing."""
    if reply is not None:
        return reply.msg_class == MessageClass.SUCCESS
    return record.outcome is Outcome.REJECTED and record.unverified_success


def _data_indication_payload(data: bytes) -> bytes | None:
    """DATA of a Data indication (RFC 8656 §11.4), else None."""
    if not is_stun(data):
        return None
    try:
        msg = Message.decode(data)
    except StunParseError:
        return None
    if msg.method != Method.DATA or msg.msg_class != MessageClass.INDICATION:
        return None
    return msg.get_raw(AttrType.DATA)


def _channel_payload(data: bytes, channel: int = CHANNEL) -> bytes | None:
    """Application data of a ChannelData message on our channel (RFC 8656 §12.6), else None."""
    if not is_channeldata(data):
        return None
    try:
        frame = ChannelData.decode(data)
    except StunParseError:
        return None
    return frame.data if frame.channel == channel else None


def _seq_of(payload: bytes, prefix: bytes, size: int) -> int | None:
    """The sequence number of one of this measurement's packets, else None."""
    if len(payload) != size or not payload.startswith(prefix):
        return None
    return int.from_bytes(payload[-_SEQ_BYTES:], "big")


_LATE_STEP_S = 0.05  # the late wait listens this long at a time, then echoes what reached the peer
_LATE_WALL_FACTOR = 3.0  # a process starved of CPU may stretch the late wait this many times in wall time


async def _late_wait(client: UdpClient | StreamClient, peer: EchoPeer, take: Callable[[Received], None],
                     done: Callable[[], bool], wait_s: float) -> None:
    """Listen for late echoes until ``done()`` or ``wait_s`` seconds of listening have passed.

    Measures the network, not the tool: only the time this process was really listening counts (a wake-up
    that came late because the machine was busy counts as the time asked for, not as the time it took), so
    a starved event loop cannot make a server look silent; and once the time is up, whatever already reached
    the sockets is still taken in (the echo peer's packets echoed, the client's read). Bounded in wall time
    by _LATE_WALL_FACTOR x ``wait_s``."""
    loop = asyncio.get_running_loop()
    wall_end = loop.time() + _LATE_WALL_FACTOR * wait_s
    listened = 0.0
    while not done() and listened < wait_s and loop.time() < wall_end:
        await peer.flush()
        asked = min(wait_s - listened, _LATE_STEP_S)
        begun = loop.time()
        got = await client.receive(asked)
        if got is not None:
            take(got)
        listened += min(loop.time() - begun, asked)
    if isinstance(client, UdpClient):
        client.read_now()
    while not done() and not client.queue.empty():
        take(client.queue.get_nowait())


STRAGGLER_MIN_S = 0.5  # listening granted to echoes still missing when others came back


def straggler_s(window_s: float) -> float:
    """How long echoes still missing after their windows are listened for, when others came back: a few
    windows, at least STRAGGLER_MIN_S (a loss claim waits that long; a healthy run never does)."""
    return max(4 * window_s, STRAGGLER_MIN_S)


WINDOW_PACKETS = 64  # packets in flight at most: echoes pace the sending, no burst can overflow a buffer
_SEQ_BYTES = 4
LIVENESS_MISSES = 8  # packets lost in a row, with nothing from the server meanwhile, before it is asked


def _icmp_error(client: UdpClient | StreamClient,
                server: tuple[str, int]) -> tuple[float, TransportError] | None:
    """The first ICMP error the server's address sent back to this client (UDP only), or None."""
    return client.icmp_errors.get(server) if isinstance(client, UdpClient) else None


async def _server_answers(session: TurnSession, result: DataPathResult) -> bool:
    """One liveness request (a Binding on the allocation's 5-tuple: a TURN server answers it, RFC 8656 §3;
    any answer, even an error, is a sign of life), recorded in the data path's steps."""
    reply, record = await session.request(lambda: Message(Method.BINDING, MessageClass.REQUEST),
                                          "liveness (Binding)", authenticated=False, record_in=result.steps)
    return reply is not None or not silent(record)


@dataclass
class _Counters:
    """The tool's own drop counters of the control client and the echo peer, at one moment."""

    inbox: int
    socket: int
    send: int

    @classmethod
    def of(cls, *clients: UdpClient | StreamClient) -> _Counters:
        inbox = sum(c.queue.dropped for c in clients)
        udp = [c for c in clients if isinstance(c, UdpClient)]
        return cls(inbox, sum(c.socket_drop_count() for c in udp), sum(c.send_drops for c in udp))


async def _measure(session: TurnSession, peer: EchoPeer, result: DataPathResult, packets: int,
                   send: Callable[[bytes], Awaitable[None]],
                   extract: Callable[[bytes], bytes | None], *, late_wait_s: float = 0.0) -> None:
    """Send ``packets`` tagged payloads, at most ``WINDOW_PACKETS`` in flight (the next goes out when an echo
    comes back or the oldest packet's wait has ended), and collect the echoes.

    A packet is lost when its echo is not back within the receive window after it was sent, judged on what
    has reached the kernel (the sockets are read before a deadline is called); a packet the echo peer sent
    back late (the event loop was busy) gets a whole window from when its echo left. RTTs are kernel
    receive time minus send time, minus the time the echo sat in the peer before it was sent back. The
    tool's own drops (a full receive buffer: SO_RXQ_OVFL, a full send buffer, a full inbox) are counted
    apart so that they are never taken for loss. ``late_wait_s``: when no echo at all came back in the
    window, wait up to this long for late ones before giving up; when only some came back, the missing ones
    get ``straggler_s`` (late is not lost).
    """
    loop = asyncio.get_running_loop()
    client = session.client
    prefix = _TAG + os.urandom(6)
    size = len(prefix) + _SEQ_BYTES
    window_s = session.receive_window_s()
    sent_at: list[float] = []
    received: dict[int, float] = {}
    waiting: dict[int, float] = {}  # in flight: seq -> end of its wait (insertion order = send order)
    before = _Counters.of(client, peer.client)
    server = normalize(session.server)
    icmp_before = _icmp_error(client, server)
    heard_at = loop.time()  # the last datagram from the server (an echo, or anything else it sent)
    misses: list[int] = []  # packets given up since the last sign of life, in order
    asked_at = -1.0  # when the liveness request was last sent (one per run of misses)

    def take(got: Received) -> None:
        nonlocal heard_at
        if got.source == server:
            heard_at = max(heard_at, got.at)
        payload = extract(got.data)
        echo = _seq_of(payload, prefix, size) if payload is not None else None
        if payload is None or echo is None:
            result.unexpected_packets += 1  # a late packet of another method, the punch, anything else
            return
        if echo < len(sent_at) and echo not in received:
            held_s = peer.held.pop(payload, 0.0)
            peer.echoed_at.pop(payload, None)
            received[echo] = max(got.at - sent_at[echo] - held_s, 0.0)
            waiting.pop(echo, None)
            result.last_echo_ms = round(max(got.at - session.started, 0.0) * 1000.0, 3)
            misses.clear()  # a sign of life: the losses before it say nothing about the server

    async def gone(trailing: bool) -> bool:
        """The first sign the server died (RFC 1122 §4.1.3.1: ICMP port unreachable is UDP's refusal, or a
        run of losses while it says nothing), confirmed by a liveness request: stop the packets."""
        nonlocal asked_at
        icmp = _icmp_error(client, server)
        quiet = bool(misses) and heard_at < sent_at[misses[0]]
        if icmp is not None and icmp is not icmp_before:
            sign = f"{icmp[1]} while sending"
        elif quiet and (len(misses) >= LIVENESS_MISSES or trailing) and asked_at < sent_at[misses[0]]:
            sign = f"{len(misses)} packet(s) in a row lost while the server sent nothing"
        else:
            return False
        asked_at = loop.time()
        if await _server_answers(session, result):
            misses.clear()
            return False
        result.stopped = f"the server went silent: {sign}; the liveness request got no answer"
        return True

    while True:
        try:
            while len(sent_at) < packets and len(waiting) < WINDOW_PACKETS:
                seq = len(sent_at)
                now = loop.time()  # before the send: the echo can reach the kernel before send() returns
                sent_at.append(now)
                waiting[seq] = now + window_s
                await send(prefix + seq.to_bytes(_SEQ_BYTES, "big"))
                result.packets_sent += 1
        except TransportError as err:
            result.error = f"sending failed: {err}"
            del sent_at[result.packets_sent:]
            waiting = {seq: end for seq, end in waiting.items() if seq < result.packets_sent}
            packets = result.packets_sent
        if not waiting:
            break
        until = min(waiting.values())
        if loop.time() < until:
            got = await client.receive(until - loop.time())
            if got is not None:
                take(got)
                continue
        # A packet's wait is over (a flood of other packets cannot postpone this). First take in whatever
        # already reached the sockets: the client's (at most the inbox) and the echo peer's (echoed now).
        if isinstance(client, UdpClient):
            client.read_now()
        while not client.queue.empty():
            take(client.queue.get_nowait())
        await peer.flush()
        now = loop.time()
        for seq, end in list(waiting.items()):
            if end > now:
                continue
            left = peer.echoed_at.get(prefix + seq.to_bytes(_SEQ_BYTES, "big"))
            if left is not None and left + window_s > now:
                # It reached the peer, whose echo left late (this process was busy): the way back gets a
                # whole window of its own. Once per packet: the echo's departure does not change.
                waiting[seq] = left + window_s
            else:
                del waiting[seq]  # given up: lost (unless its echo still comes while others are awaited)
                misses.append(seq)
        if await gone(trailing=not waiting and len(sent_at) >= packets):
            break
    started = loop.time()
    if late_wait_s > 0 and sent_at and not received and result.stopped is None:
        await _late_wait(client, peer, take, lambda: bool(received), late_wait_s)
    if received and len(received) < len(sent_at) and result.stopped is None and result.error is None:
        # Some came back (in the windows, or the first of the late ones just awaited), some not yet: the
        # rest may be late, not lost (a loaded machine held echoes in the peer's socket for 300 ms while its
        # event loop served 240 legs; over TCP on loopback nothing can be lost on the way). They get
        # straggler_s of listening before they count as lost.
        await _late_wait(client, peer, take, lambda: len(received) == len(sent_at), straggler_s(window_s))
    result.late_wait_s = round(loop.time() - started, 3)
    after = _Counters.of(client, peer.client)
    result.packets_received = len(received)
    result.dropped_packets = after.inbox - before.inbox
    result.socket_drops = after.socket - before.socket
    result.send_drops = after.send - before.send
    result.rtts_ms = [round(received[s] * 1000.0, 3) for s in sorted(received)]
    result.summarize()
    peer.forget()
