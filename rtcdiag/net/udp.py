"""``UdpClient``: one bound UDP socket that sends to any destination and receives from any source (RFC 5780
CHANGE-REQUEST replies come from the other address; TURN Data indications and ChannelData come from the server
unasked). Requests are retransmitted per ``RetransmitPolicy`` (RFC 8489 §6.2.1,
rtcdiag.protocol.transaction). ICMP errors are read from the socket's error queue (Linux ``IP_RECVERR``) so a
dead port fails its transaction at once (``RefusedError``; other ICMP unreachables: ``UnreachableError``).

A flood cannot starve the timers: the socket is read at most ``READS_PER_WAKEUP`` datagrams at a time. Arrival
times come from the kernel and the tool's own drops are counted (rtcdiag.net.kernel).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from rtcdiag.net import kernel
from rtcdiag.net.errors import (
    LOCAL_RESOURCE_ERRNOS,
    ClosedError,
    NetworkError,
    RefusedError,
    TransportError,
    UnreachableError,
    os_error,
)
from rtcdiag.net.sockaddr import normalize, require_ip
from rtcdiag.protocol.transaction import (
    Address,
    RetransmitPolicy,
    TransactionEndpoint,
    TransactionResult,
    Validator,
)

UDP_RCVBUF = 1 << 20  # bytes: room for every reply of a burst, so the tool never drops its own packets
UDP_SNDBUF = 1 << 20  # bytes: room for a burst of sends, so a full send buffer does not drop them
READS_PER_WAKEUP = 128  # datagrams read per readable event before the loop runs other work
_MAX_DATAGRAM = 65535
_MAX_ICMP_NOTED = 64  # destinations whose first ICMP error a UdpClient keeps


class UdpClient(TransactionEndpoint):
    """One UDP socket: requests with retransmissions to any destination, replies from any source."""

    transport = "udp"

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop,
                 policy: RetransmitPolicy) -> None:
        super().__init__(loop, policy)
        self._sock = sock
        self.family = sock.family
        self._local = normalize(sock.getsockname())
        # The tool's own drops, so that they are never taken for loss on the network:
        self.socket_drops = 0  # datagrams the kernel dropped here: receive buffer full (SO_RXQ_OVFL)
        self.send_drops = 0  # datagrams not sent because the socket's send buffer was full
        # The first ICMP error each destination caused (also for datagrams that are not requests, e.g.
        # Send indications into a server that died): {destination: (loop time, error)}, bounded.
        self.icmp_errors: dict[Address, tuple[float, TransportError]] = {}
        loop.add_reader(sock.fileno(), self._on_readable)

    @classmethod
    async def open(cls, family: int = socket.AF_INET, local_host: str | None = None, local_port: int = 0,
                   policy: RetransmitPolicy | None = None) -> UdpClient:
        """Bind a UDP socket (``local_host``/``local_port`` default: any address, a free port)."""
        loop = asyncio.get_running_loop()
        try:
            sock = socket.socket(family, socket.SOCK_DGRAM)
        except OSError as err:
            raise os_error(err, None) from err
        try:
            sock.setblocking(False)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            kernel.enable_icmp_errors(sock, family)
            with contextlib.suppress(OSError):  # best effort: without them the loop's clock is used
                kernel.keep_kernel_timestamps_on()
                sock.setsockopt(socket.SOL_SOCKET, kernel.SO_TIMESTAMPNS, 1)
            for option, size in ((socket.SO_RCVBUF, UDP_RCVBUF), (socket.SO_SNDBUF, UDP_SNDBUF)):
                with contextlib.suppress(OSError):  # the kernel caps them at net.core.[rw]mem_max
                    sock.setsockopt(socket.SOL_SOCKET, option, size)
            with contextlib.suppress(OSError):  # without it, drops are read from /proc (socket_drop_count)
                sock.setsockopt(socket.SOL_SOCKET, kernel.SO_RXQ_OVFL, 1)
            default_host = "::" if family == socket.AF_INET6 else "0.0.0.0"
            sock.bind((local_host or default_host, local_port))
        except OSError as err:
            sock.close()
            if err.errno in LOCAL_RESOURCE_ERRNOS:
                raise os_error(err, None) from err
            raise NetworkError(f"cannot bind UDP {local_host or 'any'} port {local_port}: "
                               f"{err.strerror or err}") from err
        return cls(sock, loop, policy or RetransmitPolicy())

    @property
    def local_address(self) -> Address:
        return self._local

    def _closed_error(self, dest: Address | None) -> Exception:
        return ClosedError("client is closed", dest)

    async def request(self, data: bytes, dest: Address, *, txid: bytes | None = None,
                      validate: Validator | None = None, policy: RetransmitPolicy | None = None,
                      count_copies: bool = False) -> TransactionResult:
        """Send ``data`` with retransmissions until a matching, valid response or the timeout.

        ``count_copies``: after retransmissions, also wait (at most about one round trip) for the answers to
        the other sends, so that loss can be told from an RTO shorter than the round trip
        (:attr:`TransactionResult.answers`). Returns a result (``response`` None on timeout); raises
        TransportError when an ICMP error or a send error ends the transaction.
        """
        return await self._retransmitted(data, normalize(dest), txid, validate, policy or self.policy,
                                         count_copies)

    async def send(self, data: bytes, dest: Address) -> None:
        """Send once, no transaction (indications, ChannelData)."""
        self._send_datagram(data, normalize(dest))

    def _send_datagram(self, data: bytes, dest: Address) -> None:
        if self.closed:
            raise ClosedError("client is closed", dest)
        require_ip(dest)
        self._note_channel_bind(data, dest)
        try:
            self._sock.sendto(data, dest)
        except BlockingIOError:
            self.send_drops += 1  # send buffer full: lost here, counted as the tool's own drop
        except ConnectionRefusedError:
            self._drain_errors()  # an earlier ICMP error was pending; it named its destination
            with contextlib.suppress(OSError):
                self._sock.sendto(data, dest)
        except OSError as err:
            raise os_error(err, dest) from err

    def _read_waiting(self) -> None:
        self.read_now()

    def _on_readable(self) -> None:
        # At most READS_PER_WAKEUP datagrams, then back to the event loop (timers, other sockets); the
        # selector calls again at once if more are waiting. A flood cannot starve the timeouts.
        self.read_now(READS_PER_WAKEUP)

    def read_now(self, limit: int = 4096) -> int:
        """Read what is waiting in the socket now (at most ``limit`` datagrams), without waiting for the event
        loop to call the reader: a deadline is judged on what has reached the kernel. Returns how many."""
        count = 0
        while count < limit and not self.closed:
            try:
                data, ancdata, _, source = self._sock.recvmsg(_MAX_DATAGRAM, kernel.ANCILLARY_SIZE)
            except BlockingIOError:
                break
            except OSError:
                if not self._drain_errors():
                    break
                continue
            count += 1
            self._dispatch(data, normalize(source), self._arrival(ancdata))
        return count

    def socket_drop_count(self) -> int:
        """Datagrams the kernel dropped on this socket so far: the SO_RXQ_OVFL counter of the last datagram
        read, or the ``drops`` column of /proc/net/udp[6] (Linux proc(5)), which also counts drops after
        the last datagram read."""
        if not self.closed:
            self.socket_drops = max(self.socket_drops, kernel.udp_drop_count(self._sock))
        return self.socket_drops

    def _arrival(self, ancdata: list[tuple[int, int, bytes]]) -> float:
        """When the datagram reached the kernel, on the event loop's clock (now, without a timestamp).
        Also notes the socket's drop counter (SO_RXQ_OVFL) when it comes along."""
        arrived, drops = kernel.datagram_arrival(ancdata, self._loop.time())
        if drops is not None:
            self.socket_drops = max(self.socket_drops, int(drops))
        return arrived

    def _drain_errors(self) -> int:
        """Read ICMP errors from the error queue, fail the transactions to the destinations they name;
        return how many errors were read."""
        count = 0
        while True:
            try:
                _, ancdata, _, addr = self._sock.recvmsg(512, 1024, socket.MSG_ERRQUEUE)
            except OSError:
                return count
            count += 1
            dest = normalize(addr) if addr else None
            text = kernel.icmp_error_text(ancdata)
            where = f" from {dest[0]} port {dest[1]}" if dest else ""
            # ICMP port unreachable is UDP's connection refused (RFC 1122 §4.1.3.1): nothing listens there.
            error_type = RefusedError if text == kernel.ICMP_PORT_UNREACHABLE else UnreachableError
            error = error_type(f"ICMP {text}{where}", dest)
            if dest is not None and dest not in self.icmp_errors and len(self.icmp_errors) < _MAX_ICMP_NOTED:
                self.icmp_errors[dest] = (self._loop.time(), error)
            self._fail(error, dest)

    async def close(self) -> None:
        if self.closed:
            return
        self._fail(ClosedError("client closed"))
        self.closed = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
