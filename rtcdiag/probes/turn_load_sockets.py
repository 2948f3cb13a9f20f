"""The sockets of a ``rtcdiag load`` run, with a fast path for its own packets: clients whose ChannelData
from the server goes straight to the meter, echo peers that send each tagged packet back to the relay it
came from with the time they held it written in, and the pacer's reader of every UDP socket of the run."""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import struct
import time
from collections.abc import Callable

from rtcdiag.net import StreamClient, TransportError, UdpClient, kernel, os_error
from rtcdiag.probes.turn_load_plan import MIN_SIZE

_STREAM_WRITE_LIMIT = 256 * 1024  # bytes queued on a TCP/TLS connection before sends are the tool's drops

# Packet: tag (4) | run id (4) | stream (4) | sequence (4) | sent, microseconds (8) | held by the peer,
# microseconds (4) | padding. The first byte 0x80 is neither STUN (0b00) nor ChannelData (0b01) (RFC 7983).
TAG = b"\x80RTL"
PACKET = struct.Struct("!4s4sIIqI")
SEQ_AT = 12
_HELD_AT = 24
CHANNEL_HEADER = struct.Struct("!HH")
_HELD = struct.Struct("!I")
SEQ_AND_SENT = struct.Struct("!Iq")


# --- clients with a fast path for this run's packets ------------------------------------------------------
#
# While a step streams, the UDP sockets of the run are not read by the event loop one datagram per wakeup: the
# pacer reads every socket that is ready (one epoll of the run's own) once per tick, so a thousand datagrams a
# second cost a hundred wakeups, not a thousand. Arrival times still come from the kernel (SO_TIMESTAMPNS), so
# reading a few milliseconds later changes no round trip; the echo peer's holding time is written into the
# packet and taken out.

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
            if kind == kernel.SO_TIMESTAMPNS and len(payload) >= kernel.TIMESPEC.size:
                seconds, nanos = kernel.TIMESPEC.unpack_from(payload)
                stamp = seconds + nanos / 1e9 - self.offset
                if now - 5.0 < stamp <= now + 0.001:  # a clock step cannot make it absurd
                    arrived = min(stamp, now)
            elif kind == kernel.SO_RXQ_OVFL and len(payload) >= kernel.U32.size:
                drops[0] = max(drops[0], kernel.U32.unpack_from(payload)[0])
        return arrived


class _PacedSocket(UdpClient):
    """A UDP socket the pacer can take from the event loop (``pause``) and give back (``resume``)."""

    def fileno(self) -> int:
        return self._sock.fileno()

    def pause(self) -> None:
        """Stop the event loop reading this socket (the pacer reads it)."""
        if not self.closed:
            self._loop.remove_reader(self._sock.fileno())

    def resume(self) -> None:
        if not self.closed:
            self._loop.add_reader(self._sock.fileno(), self._on_readable)

    def inode(self) -> int:
        """The socket's inode: its line in /proc/net/udp[6] (0 when closed)."""
        return kernel.socket_inode(self._sock)


class LoadUdpClient(_PacedSocket):
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
                size, ancdata, _, source = sock.recvmsg_into([buffer], kernel.ANCILLARY_SIZE)
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


class LoadEchoPeer(_PacedSocket):
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
        if len(data) < MIN_SIZE or data[:4] != TAG or data[4:8] != self.run_id or source not in self.relays:
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
                size, ancdata, _, source = sock.recvmsg_into([buffer], kernel.ANCILLARY_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                if not self._drain_errors():
                    break
                continue
            count += 1
            now = loop.time()
            arrived = clock.arrival(ancdata, now, drops)
            if size < MIN_SIZE or buffer[:4] != TAG or buffer[4:8] != run_id or source[:2] not in relays:
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

    def punch(self, relay: tuple[str, int]) -> None:
        """Open a NAT pinhole towards a relay (it forwards or drops it; both harmless)."""
        with contextlib.suppress(OSError):
            self._sock.sendto(TAG + b"punch", relay)


class PacerReader:
    """While a step streams: the run's UDP sockets taken from the event loop and read, when ready, by the
    pacer (one epoll for all of them); given back to the loop by ``close``. TCP/TLS connections keep their
    own read loop (the fast path in LoadStreamClient)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, items: list[LoadUdpClient | LoadEchoPeer]) -> None:
        self.clock = _Clock(loop)
        self.poll = select.epoll()
        self.sockets: dict[int, LoadUdpClient | LoadEchoPeer] = {}
        self.synced = loop.time()
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
