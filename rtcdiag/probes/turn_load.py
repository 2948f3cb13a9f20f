"""``rtcdiag load``: many TURN allocations at once, each streaming paced ChannelData through its relay to a
local echo peer, in steps, until allocations are refused, packets are lost or the round trip grows. I/O only:
the result records every step; ``rtcdiag.triage.load`` judges it.

Per stream (RFC 8656): its own client socket (UDP) or connection (TCP/TLS) -> Allocate (401 challenge, then
long-term or REST credentials, rtcdiag.probes.turn_session) -> ChannelBind to an echo peer (§12) -> packets
of ``size`` bytes at ``rate`` per second as ChannelData, as browsers send media. The echo peers are local UDP
sockets that send each tagged packet back to the relay it came from (and only to relay addresses of this
run); a peer writes into the packet how long it held it, so the round trip measured from kernel timestamps
leaves out this process's own delay.

Measuring the tool apart from the server: the pacer records how late each packet left its schedule, the
client and peer sockets count their own receive-buffer drops (SO_RXQ_OVFL) and full send buffers, and this
process's CPU is sampled per step. A step where this machine could not keep up is the tool's limit
(``StepVerdict.TOOL_LIMIT``), never the server's.

Bounded by design: at most ``MAX_STREAMS`` allocations, ``MAX_DURATION_S`` seconds of steps, packets sent
only to the target (ChannelData, requests) and from the local peers to relay addresses the server named
(never to a special-purpose address, rtcdiag.addresses.redirect_refusal). Every allocation is released
(Refresh LIFETIME=0, RFC 8656 §8) in a ``finally``: at the end, after an error, on Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import resource
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from rtcdiag.addresses import PUBLIC_LIKE, redirect_refusal, scope_of
from rtcdiag.probes.exchange import address_of, hostport
from rtcdiag.probes.local_process import LocalProcess, cpu_seconds, process_listening
from rtcdiag.probes.record import Exchange, Outcome
from rtcdiag.probes.turn import allocate_request
from rtcdiag.probes.turn_datapath import CHANNEL, local_ip_toward
from rtcdiag.probes.turn_session import Credentials, TurnSession
from rtcdiag.protocol import Address, AttrType, ErrorCode, Message, MessageClass, Method, rest_credentials
from rtcdiag.protocol.transport import (
    RetransmitPolicy,
    StreamClient,
    TransportError,
    UdpClient,
    os_error,
)
from rtcdiag.redact import ephemeral_secrets, register_secret

MAX_STREAMS = 5000
MAX_RATE_PPS = 1000.0
MIN_SIZE = 28  # the packet header below
MAX_SIZE = 1400
MAX_DURATION_S = 600.0
MAX_STEPS = 100
STREAMS_PER_PEER = 32  # streams one echo peer socket serves (its receive buffer is theirs)
ALLOCATE_CONCURRENCY = 32  # allocations in flight at once
RELEASE_TIMEOUT_S = 2.0  # one Refresh LIFETIME=0
RELEASE_BUDGET_S = 10.0  # all of them
RTT_SAMPLES_KEPT = 100_000  # per step
LATE_S = 0.05  # a packet that left this much after its slot was late (the pacer fell behind)
TOOL_LATE_SHARE = 0.1  # more late packets than this: the pacer sent in bursts
TOOL_CPU_PCT = 95.0  # this process (one thread) this busy: saturated
_STREAM_WRITE_LIMIT = 256 * 1024  # bytes queued on a TCP/TLS connection before sends are the tool's drops

# Packet: tag (4) | run id (4) | stream (4) | sequence (4) | sent, microseconds (8) | held by the peer,
# microseconds (4) | padding. The first byte 0x80 is neither STUN (0b00) nor ChannelData (0b01) (RFC 7983).
_TAG = b"\x80RTL"
_PACKET = struct.Struct("!4s4sIIqI")
_SEQ_AT = 12
_SENT_AT = 16
_HELD_AT = 24
_CHANNEL_HEADER = struct.Struct("!HH")
_HELD = struct.Struct("!I")
_SEQ_AND_SENT = struct.Struct("!Iq")


class StepVerdict(StrEnum):
    CLEAN = "clean"
    LOSS = "loss"  # the server (or the path) lost packets beyond the threshold
    RTT = "rtt"  # the round trip went over the threshold
    REFUSED = "refused"  # an Allocate or ChannelBind was answered with an error
    TIMEOUT = "timeout"  # an Allocate went unanswered, or the connection failed
    TOOL_LIMIT = "tool-limit"  # this machine could not keep up: not the server's limit
    STOPPED = "stopped"  # the run's time bound ended it first


@dataclass
class AllocationFailure:
    """The first allocation of a step that did not succeed."""

    step: str  # "allocate", "allocate (authenticated)", "channel-bind", "connect"
    held: int  # allocations held (successful) when it failed
    code: int | None = None
    reason: str | None = None
    error: str | None = None  # a timeout or transport failure, or why an answer could not be used
    unusable: bool = False  # the server answered, with something this run cannot use (not a timeout)
    local: bool = False  # this machine could not go on (no local echo peer for the relay): not the server


@dataclass
class LoadStep:
    index: int
    streams: int
    rate_pps: float
    size: int
    new_allocations: int = 0
    allocation_s: float = 0.0
    allocations_per_s: float | None = None
    planned: int = 0  # packets the schedule called for
    sent: int = 0
    echoed: int = 0
    tool_drops: int = 0  # this machine's own: receive buffers full (SO_RXQ_OVFL), send buffers full
    lost: int = 0  # sent - echoed - tool drops (never below 0): the server's or the path's
    loss_pct: float | None = None
    late_packets: int = 0  # left more than LATE_S after their slot
    rtt_p50_ms: float | None = None
    rtt_p95_ms: float | None = None
    rtt_max_ms: float | None = None
    relayed_mbps: float = 0.0  # payload through the relay, both directions, as measured (echoes)
    server_cpu_pct: float | None = None
    tool_cpu_pct: float | None = None
    duration_s: float = 0.0
    verdict: StepVerdict = StepVerdict.CLEAN
    failure: AllocationFailure | None = None
    note: str = ""


@dataclass
class LoadResult:
    target: str
    server: str  # ip:port
    transport: str
    credential_kind: str  # "long-term", "rest", "none"
    username: str | None  # as shown (REST: the first stream's name)
    thresholds: str  # "loss > 1%, RTT p95 > 100 ms"
    planned_steps: int = 0
    max_loss_pct: float = 1.0
    max_rtt_ms: float = 100.0
    server_process: str | None = None  # "turnserver (pid 1234)" when it runs on this machine
    steps: list[LoadStep] = field(default_factory=list)
    allocations_made: int = 0
    released: int = 0
    release_failed: int = 0
    allocation_rate: float | None = None  # successful allocations per second, all steps
    connect_error: str | None = None
    stopped: str | None = None  # why the ramp stopped before its last step without a verdict
    duration_s: float = 0.0

    @property
    def knee(self) -> LoadStep | None:
        """The last clean step (the most load held within the thresholds)."""
        clean = [s for s in self.steps if s.verdict is StepVerdict.CLEAN]
        return clean[-1] if clean else None

    @property
    def last(self) -> LoadStep | None:
        return self.steps[-1] if self.steps else None


@dataclass
class LoadOptions:
    transport: str = "udp"
    steps: tuple[tuple[int, float], ...] = ((10, 50.0),)  # (streams, packets/s per stream) per step
    size: int = 200
    step_s: float = 2.0
    max_duration_s: float = 60.0
    max_loss_pct: float = 1.0
    max_rtt_ms: float = 100.0
    timeout_s: float = 5.0
    username: str | None = None
    password: str | None = None
    secret: str | None = None
    ttl_s: int = 86400
    realm: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    server_name: str | None = None  # for TLS
    now: float | None = None


# --- clients with a fast path for this run's packets ------------------------------------------------------
#
# While a step streams, the UDP sockets of the run are not read by the event loop one datagram per wakeup: the
# pacer reads every socket that is ready (one epoll of the run's own) once per tick, so a thousand datagrams a
# second cost a hundred wakeups, not a thousand. Arrival times still come from the kernel (SO_TIMESTAMPNS), so
# reading a few milliseconds later changes no round trip; the echo peer's holding time is written into the
# packet and taken out.

_SO_TIMESTAMPNS = 35  # Linux socket(7), asm-generic; the same number as SCM_TIMESTAMPNS
_SO_RXQ_OVFL = 40  # Linux socket(7): datagrams dropped so far because the receive buffer was full
_TIMESPEC = struct.Struct("=qq")
_U32 = struct.Struct("=I")
_ANCILLARY = 64
_READ_BATCH = 4096  # datagrams read from one socket per tick at most
_MAX_DATAGRAM = 2048


class _Clock:
    """Kernel receive timestamps (CLOCK_REALTIME) on the event loop's monotonic clock."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.offset = 0.0
        self.sync()

    def sync(self) -> None:
        best = None
        for _ in range(3):  # the tightest of three readings: a preemption between them would skew it
            before = time.time()
            mono = self.loop.time()
            after = time.time()
            if best is None or after - before < best[0]:
                best = (after - before, (before + after) / 2 - mono)
        assert best is not None
        self.offset = best[1]

    def arrival(self, ancdata: list[tuple[int, int, bytes]], now: float, drops: list[int]) -> float:
        """When a datagram reached the kernel (loop clock); notes SO_RXQ_OVFL in ``drops[0]``."""
        arrived = now
        for level, kind, payload in ancdata:
            if level != socket.SOL_SOCKET:
                continue
            if kind == _SO_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
                seconds, nanos = _TIMESPEC.unpack_from(payload)
                stamp = seconds + nanos / 1e9 - self.offset
                if now - 5.0 < stamp <= now + 0.001:  # a clock step cannot make it absurd
                    arrived = min(stamp, now)
            elif kind == _SO_RXQ_OVFL and len(payload) >= _U32.size:
                drops[0] = max(drops[0], _U32.unpack_from(payload)[0])
        return arrived


class LoadUdpClient(UdpClient):
    """A UdpClient whose ChannelData from the server goes straight to ``on_channel_data`` (no inbox), read by
    the pacer while a step streams."""

    on_channel_data: Callable[[bytes | bytearray, int, float], None] | None = None
    server: tuple[str, int] = ("", 0)

    def _dispatch(self, data: bytes, source: tuple[str, int], arrived: float | None = None) -> None:
        handler = self.on_channel_data
        if handler is not None and len(data) >= 4 and 0x40 <= data[0] <= 0x4F and source == self.server:
            handler(data, len(data), self._loop.time() if arrived is None else arrived)
            return
        super()._dispatch(data, source, arrived)

    def connect_to_server(self, server: tuple[str, int]) -> None:
        """Talk to the server only: a connected UDP socket (connect(2)) sends without a route lookup per
        datagram and receives from the server alone."""
        self.server = server
        self._sock.connect(server)

    def send_now(self, frame: bytearray) -> bool:
        """Send one datagram to the server without a transaction; False when this machine dropped it."""
        try:
            self._sock.send(frame)
        except (BlockingIOError, InterruptedError):
            self.send_drops += 1
            return False
        except OSError as err:
            if err.errno == 105:  # ENOBUFS: the kernel's own queue is full, this machine's drop
                self.send_drops += 1
                return False
            raise os_error(err, self.server) from err
        return True

    def fileno(self) -> int:
        return self._sock.fileno()

    def pause(self) -> None:
        """Stop the event loop reading this socket (the pacer reads it)."""
        if not self.closed:
            self._loop.remove_reader(self._sock.fileno())

    def resume(self) -> None:
        if not self.closed:
            self._loop.add_reader(self._sock.fileno(), self._on_readable)

    def read_ready(self, clock: _Clock) -> int:
        """Read what waits in the socket now (bounded); this run's ChannelData to the meter, the rest as
        usual. Returns how many datagrams were read."""
        sock, server, handler = self._sock, self.server, self.on_channel_data
        buffer = bytearray(_MAX_DATAGRAM)
        now = self._loop.time()
        drops = [self.socket_drops]
        count = 0
        while count < _READ_BATCH:
            try:
                size, ancdata, _, source = sock.recvmsg_into([buffer], _ANCILLARY)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                if not self._drain_errors():
                    break
                continue
            count += 1
            arrived = clock.arrival(ancdata, now, drops)
            if handler is not None and size >= 4 and 0x40 <= buffer[0] <= 0x4F and source[0] == server[0] \
                    and source[1] == server[1]:
                handler(buffer, size, arrived)
            else:
                self._dispatch(bytes(buffer[:size]), (str(source[0]), int(source[1])), arrived)
        self.socket_drops = drops[0]
        return count

    def inode(self) -> int:
        try:
            return os.fstat(self._sock.fileno()).st_ino
        except OSError:
            return 0


class LoadStreamClient(StreamClient):
    """A StreamClient (TCP/TLS) with the same fast path; ChannelData is padded to 4 bytes (RFC 8656 §12.5)."""

    on_channel_data: Callable[[bytes | bytearray, int, float], None] | None = None
    send_drops = 0

    def _dispatch(self, data: bytes, source: tuple[str, int], arrived: float | None = None) -> None:
        handler = self.on_channel_data
        if handler is not None and len(data) >= 4 and 0x40 <= data[0] <= 0x4F:
            handler(data, len(data), self._loop.time() if arrived is None else arrived)
            return
        super()._dispatch(data, source, arrived)

    def send_now(self, frame: bytearray) -> bool:
        if self.closed or self._writer.transport.is_closing():
            raise TransportError("connection closed", self.peer)
        if self._writer.transport.get_write_buffer_size() > _STREAM_WRITE_LIMIT:
            self.send_drops += 1
            return False
        self._writer.write(bytes(frame))
        return True


class LoadEchoPeer(UdpClient):
    """A local UDP socket that sends this run's packets back to the relay they came from, with the time it
    held them written in. Anything else (or from an address that is not one of this run's relays) is
    counted and dropped."""

    run_id: bytes = b""
    relays: set[tuple[str, int]]
    ignored = 0
    echoed = 0
    address: tuple[str, int] = ("", 0)  # as the relay must address it (XOR-PEER-ADDRESS)

    def _dispatch(self, data: bytes, source: tuple[str, int], arrived: float | None = None) -> None:
        self._echo(data, source, self._loop.time() if arrived is None else arrived, self._loop.time())

    def _echo(self, data: bytes, source: tuple[str, int], arrived: float, now: float) -> None:
        if len(data) < MIN_SIZE or data[:4] != _TAG or data[4:8] != self.run_id or source not in self.relays:
            self.ignored += 1
            return
        packet = bytearray(data)
        _HELD.pack_into(packet, _HELD_AT, min(max(int((now - arrived) * 1e6), 0), 0xFFFFFFFF))
        try:
            self._sock.sendto(packet, source)
            self.echoed += 1
        except OSError:  # a full send buffer (EAGAIN, ENOBUFS): this machine's own drop
            self.send_drops += 1

    def read_ready(self, clock: _Clock) -> int:
        """Echo what waits in the socket now (bounded), into one buffer: no copy per packet."""
        sock, relays, run_id, loop = self._sock, self.relays, self.run_id, self._loop
        buffer = bytearray(_MAX_DATAGRAM)
        view = memoryview(buffer)
        drops = [self.socket_drops]
        count = 0
        while count < _READ_BATCH:
            try:
                size, ancdata, _, source = sock.recvmsg_into([buffer], _ANCILLARY)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                if not self._drain_errors():
                    break
                continue
            count += 1
            now = loop.time()
            arrived = clock.arrival(ancdata, now, drops)
            if size < MIN_SIZE or buffer[:4] != _TAG or buffer[4:8] != run_id or source[:2] not in relays:
                self.ignored += 1
                continue
            _HELD.pack_into(buffer, _HELD_AT, min(max(int((now - arrived) * 1e6), 0), 0xFFFFFFFF))
            try:
                sock.sendto(view[:size], source)
                self.echoed += 1
            except OSError:  # a full send buffer (EAGAIN, ENOBUFS): this machine's own drop
                self.send_drops += 1
        self.socket_drops = drops[0]
        return count

    def fileno(self) -> int:
        return self._sock.fileno()

    def pause(self) -> None:
        if not self.closed:
            self._loop.remove_reader(self._sock.fileno())

    def resume(self) -> None:
        if not self.closed:
            self._loop.add_reader(self._sock.fileno(), self._on_readable)

    def punch(self, relay: tuple[str, int]) -> None:
        """Open a NAT pinhole towards a relay (it forwards or drops it; both harmless)."""
        with contextlib.suppress(OSError):
            self._sock.sendto(_TAG + b"punch", relay)

    def inode(self) -> int:
        try:
            return os.fstat(self._sock.fileno()).st_ino
        except OSError:
            return 0


# --- one stream ------------------------------------------------------------------------------------------


@dataclass
class _Stream:
    index: int
    session: TurnSession
    client: LoadUdpClient | LoadStreamClient
    peer: LoadEchoPeer | None = None
    relay: tuple[str, int] | None = None
    allocated: bool = False
    allocate_sent: bool = False  # an authenticated Allocate went out (the server may hold an allocation)
    frame: bytearray = field(default_factory=bytearray)
    seq: int = 0  # next sequence number
    step_first: int = 0  # first sequence number of the current step
    seen: bytearray = field(default_factory=bytearray)  # one byte per sequence number of the step

    def build_frame(self, run_id: bytes, size: int, pad: bool) -> None:
        length = 4 + size + ((-(4 + size) % 4) if pad else 0)
        frame = bytearray(length)
        _CHANNEL_HEADER.pack_into(frame, 0, CHANNEL, size)
        _PACKET.pack_into(frame, 4, _TAG, run_id, self.index, 0, 0, 0)
        self.frame = frame


class _Meter:
    """The echoes of the current step: counted once per packet, with their round trips."""

    def __init__(self, streams: list[_Stream], run_id: bytes) -> None:
        self.streams = streams
        self.run_id = run_id
        self.echoed = 0
        self.unexpected = 0
        self.rtts: list[float] = []

    def take(self, data: bytes | bytearray, size: int, arrived: float) -> None:
        """One ChannelData message of ``size`` bytes at the start of ``data``."""
        if size < 4 + MIN_SIZE or data[4:8] != _TAG or data[8:12] != self.run_id:
            self.unexpected += 1
            return
        _, _, index, seq, sent_us, held_us = _PACKET.unpack_from(data, 4)
        if index >= len(self.streams):
            self.unexpected += 1
            return
        stream = self.streams[index]
        offset = seq - stream.step_first
        if not 0 <= offset < len(stream.seen) or stream.seen[offset]:
            return  # an earlier step's late echo, or a duplicate
        stream.seen[offset] = 1
        self.echoed += 1
        if len(self.rtts) < RTT_SAMPLES_KEPT:
            self.rtts.append(max(arrived - sent_us / 1e6 - held_us / 1e6, 0.0))


def _percentile(ordered: list[float], q: float) -> float:
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def _udp_drops_by_inode() -> dict[int, int]:
    """The ``drops`` column of /proc/net/udp and udp6 by socket inode (Linux proc(5)), read once."""
    drops: dict[int, int] = {}
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table, encoding="ascii", errors="replace") as lines:
                next(lines, None)
                for line in lines:
                    fields = line.split()
                    if len(fields) >= 13 and fields[9].isdigit() and fields[12].isdigit():
                        drops[int(fields[9])] = int(fields[12])
        except OSError:
            continue
    return drops


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_DRAIN_STEP_S = 0.005  # the drain after a step reads the sockets this often
_DRAIN_WALL_FACTOR = 3.0  # a process starved of CPU may stretch the drain this many times in wall time


class _Reader:
    """While a step streams: the run's UDP sockets taken from the event loop and read, when ready, by the
    pacer (one epoll for all of them); given back to the loop by ``close``. TCP/TLS connections keep their
    own read loop (the fast path in LoadStreamClient)."""

    def __init__(self, run: LoadRun) -> None:
        self.clock = _Clock(run.loop)
        self.poll = select.epoll()
        self.sockets: dict[int, LoadUdpClient | LoadEchoPeer] = {}
        self.synced = run.loop.time()
        items: list[LoadUdpClient | LoadEchoPeer] = list(run.peers)
        items += [s.client for s in run.streams if isinstance(s.client, LoadUdpClient)]
        for item in items:
            if item.closed:
                continue
            fd = item.fileno()
            item.pause()
            self.sockets[fd] = item
            self.poll.register(fd, select.EPOLLIN)

    def read(self) -> None:
        now = self.clock.loop.time()
        if now - self.synced > 1.0:
            self.clock.sync()
            self.synced = now
        for _ in range(8):  # echoes sent by the peers in this very pass can be read in the next one
            ready = self.poll.poll(0)
            if not ready:
                return
            for fd, _events in ready:
                item = self.sockets.get(fd)
                if item is not None:
                    item.read_ready(self.clock)

    def close(self) -> None:
        for item in self.sockets.values():
            item.resume()
        self.sockets.clear()
        self.poll.close()


class LoadRun:
    """One run against one server address: open echo peers, ramp, release."""

    def __init__(self, server: tuple[str, int], target: str, options: LoadOptions) -> None:
        self.server = server
        self.options = options
        self.loop = asyncio.get_running_loop()
        self.t0 = self.loop.time()
        self.policy = RetransmitPolicy.for_timeout(options.timeout_s)
        self.run_id = os.urandom(4)
        self.streams: list[_Stream] = []
        self.pending: list[_Stream] = []  # opened, not (yet) allocated: released too if an Allocate went out
        self.peers: list[LoadEchoPeer] = []
        self.peer_lock = asyncio.Lock()
        self.public = scope_of(server[0]) in PUBLIC_LIKE
        now = time.time() if options.now is None else options.now
        self.now = now
        kind = "rest" if options.secret is not None else ("long-term" if options.password is not None
                                                           else "none")
        self.result = LoadResult(
            target=target, server=hostport(server), transport=options.transport, credential_kind=kind,
            username=None, max_loss_pct=options.max_loss_pct, max_rtt_ms=options.max_rtt_ms,
            thresholds=f"loss > {options.max_loss_pct:g}%, RTT p95 > {options.max_rtt_ms:g} ms",
            planned_steps=len(options.steps))
        self.meter = _Meter(self.streams, self.run_id)
        self.process: LocalProcess | None = None

    # --- credentials ---------------------------------------------------------------------------------------

    def credentials(self, index: int) -> Credentials | None:
        o = self.options
        if o.secret is not None:
            # One REST user name per stream (as one per participant): user-quota is per name.
            base = o.username or "rtcdiag-load"
            name, password = rest_credentials(o.secret, f"{base}-{index}", o.ttl_s, now=self.now)
            if index == 0:
                self.result.username = name
            return Credentials(name, password, o.realm)
        if o.username is None or o.password is None:
            return None
        register_secret(o.password)
        self.result.username = o.username
        return Credentials(o.username, o.password, o.realm)

    # --- echo peers ----------------------------------------------------------------------------------------

    async def peer_for(self, relay: tuple[str, int]) -> LoadEchoPeer:
        """An echo peer of the relay's family (RFC 8656 §9.1: a peer of another family gets 443), one socket
        per STREAMS_PER_PEER streams, bound on the local address that routes to the relay."""
        family = socket.AF_INET6 if ":" in relay[0] else socket.AF_INET
        async with self.peer_lock:
            peers = [p for p in self.peers if p.family == family and len(p.relays) < STREAMS_PER_PEER]
            if peers:
                return peers[0]
            local = local_ip_toward(relay, family)
            opened = await LoadEchoPeer.open(family, local_host=local, policy=self.policy)
            assert isinstance(opened, LoadEchoPeer)
            peer = opened
            peer.relays = set()
            peer.run_id = self.run_id
            peer.address = peer.local_address
            self.peers.append(peer)
            if self.public and (":" in self.server[0]) == (family == socket.AF_INET6):
                await self._discover(peer)  # what the relay sees from behind a NAT (same family only)
            return peer

    async def _discover(self, peer: LoadEchoPeer) -> None:
        """The peer's address as the relay sees it (XOR-MAPPED-ADDRESS of a Binding, RFC 8489 §14.2)."""
        from rtcdiag.probes.exchange import exchange

        reply, _ = await exchange(peer, Message(Method.BINDING, MessageClass.REQUEST), dest=self.server,
                                  step="peer binding", t0=self.t0)
        mapped = address_of(reply, AttrType.XOR_MAPPED_ADDRESS) if reply is not None else None
        if mapped is not None:
            peer.address = mapped

    # --- allocations ---------------------------------------------------------------------------------------

    async def _connect(self) -> LoadUdpClient | LoadStreamClient:
        o = self.options
        if o.transport == "udp":
            family = socket.AF_INET6 if ":" in self.server[0] else socket.AF_INET
            client = await LoadUdpClient.open(family, policy=self.policy)
            assert isinstance(client, LoadUdpClient)
            try:
                client.connect_to_server(self.server)
            except OSError as err:
                await client.close()
                raise os_error(err, self.server) from err
            return client
        ssl_context = None
        if o.transport == "tls":
            from rtcdiag.tls import make_client_context

            ssl_context = make_client_context(o.ca_file, o.insecure)
        stream = await LoadStreamClient.connect(self.server[0], self.server[1], ssl_context=ssl_context,
                                                server_hostname=o.server_name, timeout=o.timeout_s,
                                                policy=self.policy)
        assert isinstance(stream, LoadStreamClient)
        return stream

    async def open_stream(self, index: int) -> _Stream | AllocationFailure:
        """Connect, Allocate (401 challenge, then credentials), ChannelBind to an echo peer. A 437 to the very
        first Allocate is a previous run's allocation on a local port the kernel handed out again: once,
        from a new socket (as turn-check does)."""
        for attempt in range(2):
            try:
                client = await self._connect()
            except TransportError as err:
                return AllocationFailure("connect", len(self.streams), error=str(err))
            session = TurnSession(client, self.server, self.options.transport, [], self.t0, self.policy)
            stream = _Stream(index, session, client)
            self.pending.append(stream)
            failure = await self._allocate(stream)
            if failure is not None and failure.code == 437 and failure.step == "allocate" and attempt == 0:
                self.pending.remove(stream)
                with contextlib.suppress(Exception):
                    await client.close()
                continue
            if failure is not None:
                return failure
            self.pending.remove(stream)
            return stream
        raise AssertionError("unreachable")

    async def _request(self, stream: _Stream, build: Callable[[], Message], step: str, *,
                       authenticated: bool = True) -> tuple[Message | None, Exchange]:
        steps: list[Exchange] = []
        return await stream.session.request(build, step, authenticated=authenticated, record_in=steps)

    def _failure(self, step: str, reply: Message | None, record: Exchange) -> AllocationFailure:
        held = len(self.streams)
        if reply is None:
            why = record.error or ("no answer" if record.outcome is Outcome.TIMEOUT else str(record.outcome))
            return AllocationFailure(step, held, error=why)
        error = reply.find(AttrType.ERROR_CODE, ErrorCode)
        return AllocationFailure(step, held, code=reply.error_code,
                                 reason=(error.reason[:120] if error is not None and error.reason else None))

    async def _allocate(self, stream: _Stream) -> AllocationFailure | None:
        reply, record = await self._request(stream, allocate_request, "allocate", authenticated=False)
        if reply is not None and reply.msg_class == MessageClass.SUCCESS:
            stream.allocate_sent = True  # an open relay (no authentication)
        elif reply is not None and reply.error_code == 401:
            stream.session.learn_challenge(reply)
            credentials = self.credentials(stream.index)
            if stream.session.challenge_problem is not None or credentials is None:
                why = stream.session.challenge_problem or "the server asks for credentials, none were given"
                return AllocationFailure("allocate", len(self.streams), code=401, reason=why[:120])
            stream.session.set_credentials(credentials)
            stream.allocate_sent = True
            reply, record = await self._request(stream, allocate_request, "allocate (authenticated)")
        else:
            return self._failure("allocate", reply, record)
        if reply is None or reply.msg_class != MessageClass.SUCCESS:
            return self._failure("allocate (authenticated)", reply, record)
        stream.allocated = True
        relay = address_of(reply, AttrType.XOR_RELAYED_ADDRESS)
        if relay is None:
            return AllocationFailure("allocate (authenticated)", len(self.streams),
                                     error="success without XOR-RELAYED-ADDRESS", unusable=True)
        refusal = redirect_refusal(self.server[0], relay[0])
        if refusal is not None and scope_of(relay[0]) is not scope_of(self.server[0]):
            # The peer would send to it: only to an address the redirect policy allows.
            return AllocationFailure("allocate (authenticated)", len(self.streams),
                                     error=f"relay address {hostport(relay)} refused: {refusal}",
                                     unusable=True)
        stream.relay = relay
        try:
            peer = await self.peer_for(relay)
        except (OSError, TransportError) as err:  # no local address of the relay's family routes to it
            return AllocationFailure("channel-bind", len(self.streams), error=f"local echo peer: {err}",
                                     local=True)
        stream.peer = peer
        peer.relays.add(relay)  # its place is taken now (released or not, it is counted)
        peer_address = Address.of(peer.address[0], peer.address[1])
        def channel_bind() -> Message:
            return Message(Method.CHANNEL_BIND, MessageClass.REQUEST).add(
                AttrType.CHANNEL_NUMBER, CHANNEL).add(AttrType.XOR_PEER_ADDRESS, peer_address)

        reply, record = await self._request(stream, channel_bind, "channel-bind")
        # A success without a valid MESSAGE-INTEGRITY is discarded (RFC 8489 §9.2.5), but the server says the
        # channel exists: stream anyway (as turn-check does) and let the data say whether it relays.
        unverified = reply is None and record.outcome is Outcome.REJECTED and record.unverified_success
        if not unverified and (reply is None or reply.msg_class != MessageClass.SUCCESS):
            return self._failure("channel-bind", reply, record)
        if self.public:
            peer.punch(relay)
        return None

    async def grow(self, target: int, step: LoadStep) -> AllocationFailure | None:
        """Open streams until ``target`` are held; the first failure stops new ones (those in flight end)."""
        began = self.loop.time()
        failure: AllocationFailure | None = None
        next_index = len(self.streams) + len(self.pending)
        gate = asyncio.Semaphore(ALLOCATE_CONCURRENCY)
        made = 0

        async def one(index: int) -> None:
            nonlocal failure, made
            async with gate:
                if failure is not None:
                    return
                got = await self.open_stream(index)
            if isinstance(got, AllocationFailure):
                if failure is None:
                    failure = got
                return
            # A stream's index is its place in self.streams: the meter finds it by the index in the packet.
            got.index = len(self.streams)
            got.build_frame(self.run_id, self.options.size, self.options.transport != "udp")
            got.client.on_channel_data = self.meter.take
            self.streams.append(got)
            made += 1

        wanted = range(next_index, next_index + max(target - len(self.streams), 0))
        await asyncio.gather(*(one(i) for i in wanted))
        if failure is not None:
            failure.held = len(self.streams)  # every allocation that succeeded, in flight or not
        elapsed = self.loop.time() - began
        step.new_allocations = made
        step.allocation_s = round(elapsed, 3)
        step.allocations_per_s = round(made / elapsed, 1) if made and elapsed > 0 else None
        self.result.allocations_made += made
        return failure

    # --- streaming -----------------------------------------------------------------------------------------

    def _tool_drops(self) -> int:
        by_inode = _udp_drops_by_inode()
        total = 0
        for stream in self.streams:
            client = stream.client
            total += client.send_drops + client.queue.dropped
            if isinstance(client, LoadUdpClient):
                total += max(client.socket_drops, by_inode.get(client.inode(), 0))
        for peer in self.peers:
            total += peer.send_drops + max(peer.socket_drops, by_inode.get(peer.inode(), 0))
        return total

    async def stream(self, step: LoadStep, seconds: float) -> None:
        """Send ``step.rate_pps`` packets per second on every stream for ``seconds``, then wait for echoes.
        Every tick: the packets due, then whatever the echo peers and the clients have received."""
        streams = self.streams
        rate = step.rate_pps
        per_stream = math.ceil(rate * seconds) + 1
        for stream in streams:
            stream.step_first = stream.seq
            stream.seen = bytearray(per_stream)
        meter = self.meter
        meter.echoed, meter.rtts = 0, []
        drops_before = self._tool_drops()
        cpu_before = _cpu_self()
        server_before = cpu_seconds(self.process.pid) if self.process is not None else None
        loop = self.loop
        reader = _Reader(self)
        tick = min(max(1.0 / rate, 0.002), 0.01)
        start = loop.time()
        end = start + seconds
        sent = late = 0
        due_total = 0
        pack = _SEQ_AND_SENT.pack_into
        try:
            while True:
                now = loop.time()
                due_total = min(int((min(now, end) - start) * rate) + 1, per_stream)
                behind = now - LATE_S
                for stream in streams:
                    count = due_total - (stream.seq - stream.step_first)
                    if count <= 0:
                        continue
                    frame = stream.frame
                    send = stream.client.send_now
                    first = stream.seq - stream.step_first
                    late += sum(1 for offset in range(first, first + count) if start + offset / rate < behind)
                    for _ in range(count):
                        pack(frame, 4 + _SEQ_AT, stream.seq, int(loop.time() * 1e6))
                        stream.seq += 1
                        if send(frame):
                            sent += 1
                reader.read()
                if now >= end:
                    break
                await asyncio.sleep(max(min(tick, end - loop.time()), 0))
            step.planned = due_total * len(streams)
            await self._drain(reader, sent)
        finally:
            reader.close()
        elapsed = loop.time() - start
        step.duration_s = round(elapsed, 3)
        step.sent = sent
        step.echoed = meter.echoed
        step.late_packets = late
        step.tool_drops = max(self._tool_drops() - drops_before, 0)
        step.lost = max(sent - meter.echoed - step.tool_drops, 0)
        step.loss_pct = round(100.0 * step.lost / sent, 3) if sent else None
        if meter.rtts:
            ordered = sorted(meter.rtts)
            step.rtt_p50_ms = round(_percentile(ordered, 50) * 1000, 3)
            step.rtt_p95_ms = round(_percentile(ordered, 95) * 1000, 3)
            step.rtt_max_ms = round(ordered[-1] * 1000, 3)
        step.relayed_mbps = round(2 * meter.echoed * step.size * 8 / seconds / 1e6, 3)
        step.tool_cpu_pct = round(100.0 * (_cpu_self() - cpu_before) / elapsed, 1) if elapsed > 0 else None
        if server_before is not None and self.process is not None:
            server_after = cpu_seconds(self.process.pid)
            if server_after is not None and elapsed > 0:
                step.server_cpu_pct = round(100.0 * (server_after - server_before) / elapsed, 1)

    async def _drain(self, reader: _Reader, sent: int) -> None:
        """Wait for the last echoes: until all are back or a window (4 x the p95 round trip so far, 100 ms to
        1 s) has passed with nothing new, neither an echo back at a client nor a packet the echo peers sent
        on (that one still has its way back to come); every socket is read before the window is judged.
        Measures the network, not the tool: only the time this process was really listening counts (a
        wake-up that came late because the machine was busy counts as the time asked for), so a starved
        event loop cannot call echoes lost that were still on their way. Bounded in wall time by
        _DRAIN_WALL_FACTOR x the window (counted again from each sign of progress)."""
        loop = self.loop
        ordered = sorted(self.meter.rtts[-2000:])
        window = min(max(4 * _percentile(ordered, 95), 0.1), 1.0) if ordered else 0.5
        after_progress = min(window, 0.2)
        wanted, quiet = window, 0.0  # seconds of listening with nothing new: wanted, and so far
        wall_end = loop.time() + _DRAIN_WALL_FACTOR * window
        progress = self._progress()
        while self.meter.echoed < sent:
            begun = loop.time()
            await asyncio.sleep(_DRAIN_STEP_S)
            reader.read()
            now = loop.time()
            if (seen := self._progress()) != progress:
                progress = seen
                wanted, quiet = max(wanted - quiet, after_progress), 0.0
                wall_end = max(wall_end, now + _DRAIN_WALL_FACTOR * after_progress)
                continue
            quiet += min(now - begun, _DRAIN_STEP_S)
            if quiet >= wanted or now >= wall_end:
                break

    def _progress(self) -> int:
        """Echoes back at the clients and packets the echo peers sent on, so far."""
        return self.meter.echoed + sum(peer.echoed for peer in self.peers)

    # --- release -------------------------------------------------------------------------------------------

    async def release(self) -> None:
        """Refresh LIFETIME=0 for every allocation (and every Allocate that went out), then close sockets."""
        gate = asyncio.Semaphore(64)
        todo = [s for s in [*self.streams, *self.pending] if s.allocated or s.allocate_sent]

        async def one(stream: _Stream) -> bool:
            async with gate:
                try:
                    reply, _ = await asyncio.wait_for(
                        self._request(stream, _release, "refresh (release, LIFETIME=0)"), RELEASE_TIMEOUT_S)
                except (TimeoutError, TransportError):
                    return False
                # 437: no such allocation (an Allocate that never made one): nothing held.
                return reply is not None and (reply.msg_class == MessageClass.SUCCESS
                                              or reply.error_code == 437)

        try:
            for stream in todo:
                stream.client.on_channel_data = None
            tasks = [asyncio.ensure_future(one(s)) for s in todo]
            if tasks:
                # The whole release is bounded too: a server that stopped answering costs at most this.
                _, late = await asyncio.wait(tasks, timeout=RELEASE_BUDGET_S)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
            ok = [t.done() and not t.cancelled() and t.exception() is None and t.result() is True
                  for t in tasks]
            self.result.released = sum(1 for s, good in zip(todo, ok, strict=True) if good and s.allocated)
            self.result.release_failed = len(todo) - sum(ok)
        finally:
            for stream in [*self.streams, *self.pending]:
                with contextlib.suppress(Exception):
                    await stream.client.close()
            for peer in self.peers:
                with contextlib.suppress(Exception):
                    await peer.close()


def _release() -> Message:
    return Message(Method.REFRESH, MessageClass.REQUEST).add(AttrType.LIFETIME, 0)


def plan_problems(options: LoadOptions) -> list[str]:
    """Why these options cannot run (one line each, naming the option); checked before any traffic."""
    out: list[str] = []
    if not options.steps or len(options.steps) > MAX_STEPS:
        out.append(f"--streams/--rate: give 1..{MAX_STEPS} steps")
    for streams, rate in options.steps:
        if not 1 <= streams <= MAX_STREAMS:
            out.append(f"--streams: {streams} is not within 1..{MAX_STREAMS}")
            break
        if not 0 < rate <= MAX_RATE_PPS:
            out.append(f"--rate: {rate:g} is not within 0..{MAX_RATE_PPS:g} packets per second")
            break
    if not MIN_SIZE <= options.size <= MAX_SIZE:
        out.append(f"--size: {options.size} is not within {MIN_SIZE}..{MAX_SIZE} bytes")
    if not 0.2 <= options.step_s <= 60:
        out.append(f"--step-seconds: {options.step_s:g} is not within 0.2..60")
    if not 1 <= options.max_duration_s <= MAX_DURATION_S:
        out.append(f"--max-duration: {options.max_duration_s:g} is not within 1..{MAX_DURATION_S:g}")
    if options.transport not in ("udp", "tcp", "tls"):
        out.append(f"--transport: {options.transport!r} is not udp, tcp or tls")
    return out


def descriptors_needed(options: LoadOptions) -> int:
    streams = max((s for s, _ in options.steps), default=0)
    return streams + math.ceil(streams / STREAMS_PER_PEER) + 64


async def run_load(server: tuple[str, int], target: str, options: LoadOptions) -> LoadResult:
    """Ramp through ``options.steps`` against ``server`` (an IP address and port)."""
    with ephemeral_secrets():  # per-stream REST passwords and keys: forgotten after the run (never output)
        return await _run(LoadRun(server, target, options))


async def _run(run: LoadRun) -> LoadResult:
    options = run.options
    result = run.result
    loop = run.loop
    deadline = run.t0 + options.max_duration_s
    server = run.server
    run.process = await loop.run_in_executor(None, process_listening, server[0], server[1], options.transport)
    if run.process is not None:
        result.server_process = f"{run.process.name} (pid {run.process.pid})"
    try:
        for index, (streams, rate) in enumerate(options.steps):
            step = LoadStep(index + 1, streams, rate, options.size)
            left = deadline - loop.time()
            if left < options.step_s:
                result.stopped = (f"--max-duration {options.max_duration_s:g} s reached before step "
                                  f"{index + 1} ({streams} streams)")
                break
            result.steps.append(step)
            try:
                failure = await asyncio.wait_for(run.grow(streams, step), left)
            except TimeoutError:
                step.verdict = StepVerdict.STOPPED
                step.note = "allocations did not finish within --max-duration"
                result.stopped = step.note
                break
            except TransportError as err:  # an echo peer could not be opened: this machine
                step.verdict = StepVerdict.TOOL_LIMIT
                step.note = f"local echo peer: {err}"
                break
            if failure is not None:
                step.failure = failure
                refused = failure.code is not None or failure.unusable
                if failure.local:
                    step.verdict, step.note = StepVerdict.TOOL_LIMIT, failure.error or "this machine"
                else:
                    step.verdict = StepVerdict.REFUSED if refused else StepVerdict.TIMEOUT
                if index == 0 and not run.streams and failure.step == "connect":
                    result.connect_error = failure.error
                break
            try:
                await run.stream(step, options.step_s)
            except TransportError as err:  # a connection to the server failed while streaming
                step.verdict = StepVerdict.TIMEOUT
                step.note = f"a connection failed while streaming: {err}"
                break
            step.verdict = step_verdict(step, options)
            if step.verdict is not StepVerdict.CLEAN:
                break
    finally:
        await run.release()
        elapsed = [s for s in result.steps if s.allocation_s > 0]
        total_s = sum(s.allocation_s for s in elapsed)
        if result.allocations_made and total_s > 0:
            result.allocation_rate = round(result.allocations_made / total_s, 1)
        result.duration_s = round(loop.time() - run.t0, 3)
    return result


def step_verdict(step: LoadStep, options: LoadOptions) -> StepVerdict:
    """Tool first: a step where this machine dropped packets itself, could not send what was planned or ran
    out of CPU decides nothing about the server. A pacer that fell behind sent bursts: harmless while the
    step is clean (the round trips are timed from the real send times), but then loss or a long round trip
    cannot be told from the bursts this machine made, so that is inconclusive too."""
    if not step.sent:
        step.note = step.note or "nothing was sent"
        return StepVerdict.TOOL_LIMIT
    threshold = options.max_loss_pct / 100.0
    tool_share = step.tool_drops / step.sent
    late_share = step.late_packets / max(step.planned, 1)
    mine: list[str] = []
    if tool_share > threshold / 2:
        mine.append(f"{step.tool_drops} packet(s) dropped by this machine's own sockets")
    if step.sent < 0.9 * step.planned:
        mine.append(f"sent {step.sent} of {step.planned} planned")
    if step.tool_cpu_pct is not None and step.tool_cpu_pct >= TOOL_CPU_PCT:
        mine.append(f"rtcdiag used {step.tool_cpu_pct:g}% of a CPU")
    late = f"{100 * late_share:.0f}% of packets left over {LATE_S * 1000:g} ms late (the pacer fell behind)"
    over = None
    if step.loss_pct is not None and step.loss_pct > options.max_loss_pct:
        over = StepVerdict.LOSS
    elif step.rtt_p95_ms is not None and step.rtt_p95_ms > options.max_rtt_ms:
        over = StepVerdict.RTT
    if over is not None and late_share > TOOL_LATE_SHARE:
        mine.append(f"{late}: its bursts may explain the {over.value}")
    if mine:
        step.note = "; ".join(mine)
        return StepVerdict.TOOL_LIMIT
    if late_share > TOOL_LATE_SHARE:
        step.note = late
    return over or StepVerdict.CLEAN
