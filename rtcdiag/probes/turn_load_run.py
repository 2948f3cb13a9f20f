"""One ``rtcdiag load`` run against one server address: open streams (Allocate, ChannelBind to a local echo
peer), stream paced ChannelData through every relay while the meter counts the echoes, release every
allocation."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import resource
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rtcdiag.addresses import PUBLIC_LIKE, redirect_refusal, scope_of
from rtcdiag.net import TransportError, os_error
from rtcdiag.net.kernel import udp_drops_by_inode
from rtcdiag.net.sockaddr import source_ip_toward
from rtcdiag.probes.exchange import address_of, hostport
from rtcdiag.probes.local_process import LocalProcess, cpu_seconds
from rtcdiag.probes.record import Exchange, Outcome
from rtcdiag.probes.turn_allocate import allocate_request
from rtcdiag.probes.turn_datapath import CHANNEL
from rtcdiag.probes.turn_load_plan import MIN_SIZE, STREAMS_PER_PEER, LoadOptions
from rtcdiag.probes.turn_load_result import LATE_S, AllocationFailure, LoadResult, LoadStep
from rtcdiag.probes.turn_load_sockets import (
    CHANNEL_HEADER,
    PACKET,
    SEQ_AND_SENT,
    SEQ_AT,
    TAG,
    LoadEchoPeer,
    LoadStreamClient,
    LoadUdpClient,
    PacerReader,
)
from rtcdiag.probes.turn_session import Credentials, TurnSession
from rtcdiag.protocol import Address, AttrType, ErrorCode, Message, MessageClass, Method, rest_credentials
from rtcdiag.protocol.transaction import RetransmitPolicy
from rtcdiag.redact import register_secret

ALLOCATE_CONCURRENCY = 32  # allocations in flight at once
RELEASE_TIMEOUT_S = 2.0  # one Refresh LIFETIME=0
RELEASE_BUDGET_S = 10.0  # all of them
RTT_SAMPLES_KEPT = 100_000  # per step

_DRAIN_STEP_S = 0.005  # the drain after a step reads the sockets this often
_DRAIN_WALL_FACTOR = 3.0  # a process starved of CPU may stretch the drain this many times in wall time


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
        CHANNEL_HEADER.pack_into(frame, 0, CHANNEL, size)
        PACKET.pack_into(frame, 4, TAG, run_id, self.index, 0, 0, 0)
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
        if size < 4 + MIN_SIZE or data[4:8] != TAG or data[8:12] != self.run_id:
            self.unexpected += 1
            return
        _, _, index, seq, sent_us, held_us = PACKET.unpack_from(data, 4)
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


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
            local = source_ip_toward(relay, family)
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
        by_inode = udp_drops_by_inode()
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
        readable: list[LoadUdpClient | LoadEchoPeer] = list(self.peers)
        readable += [s.client for s in streams if isinstance(s.client, LoadUdpClient)]
        reader = PacerReader(loop, readable)
        tick = min(max(1.0 / rate, 0.002), 0.01)
        start = loop.time()
        end = start + seconds
        sent = late = 0
        due_total = 0
        pack = SEQ_AND_SENT.pack_into
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
                        pack(frame, 4 + SEQ_AT, stream.seq, int(loop.time() * 1e6))
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

    async def _drain(self, reader: PacerReader, sent: int) -> None:
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
