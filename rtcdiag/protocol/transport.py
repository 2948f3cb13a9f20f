"""STUN client transactions over UDP, TCP and TLS (RFC 8489 §6.2), IPv4 and IPv6.

- ``UdpClient``: one bound socket that sends to any destination and receives from any source (RFC 5780
  CHANGE-REQUEST replies come from the other address; TURN Data indications and ChannelData come from the
  server unasked). Requests are retransmitted per ``RetransmitPolicy`` (§6.2.1). ICMP errors are read from
  the socket's error queue (Linux ``IP_RECVERR``) so a dead port fails its transaction at once
  (``RefusedError``; other ICMP unreachables: ``UnreachableError``).
- ``StreamClient``: TCP or TLS; one send per request, wait Ti (§6.2.2); frames cut by their length field,
  ChannelData padded to 4 bytes (RFC 8656 §12.5).

Responses are matched by transaction id (bytes 8..20 of the header), never by source. A reply that fails
framing or the caller's ``validate`` check (FINGERPRINT, MESSAGE-INTEGRITY) is recorded as rejected and the
transaction keeps waiting. Everything else (indications, ChannelData, requests from peers, stray bytes from
unknown sources) goes to ``client.queue``. No printing; timing uses the event loop's monotonic clock.

A server may talk forever; nothing it sends can grow memory without bound or starve the timers:
- rejected replies are counted (``rejected_count``), only the first ``MAX_KEPT_REJECTED`` are kept;
- ``client.queue`` (an :class:`Inbox`) holds at most ``INBOX_MAX_MESSAGES`` messages and ``INBOX_MAX_BYTES``
  bytes; what does not fit is dropped and counted (``client.queue.dropped``);
- a UDP socket is read at most ``READS_PER_WAKEUP`` datagrams at a time, so a flood cannot keep the event
  loop from running the retransmission and timeout timers; stream frames are capped by their 16-bit length
  fields (``framing.MAX_STUN_FRAME``, ``framing.MAX_CHANNEL_FRAME``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import os
import socket
import ssl
import struct
import termios
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fcntl import ioctl as fcntl_ioctl
from types import TracebackType

from rtcdiag.protocol import framing
from rtcdiag.tls import TlsFailure, classify_ssl_error

Address = tuple[str, int]
Validator = Callable[[bytes], str | None]  # returns None if the reply is acceptable, else why not

_IP_RECVERR = 11  # linux/in.h
_IPV6_RECVERR = 25  # linux/in6.h
_SOCK_EE = struct.Struct("=IBBBBII")  # struct sock_extended_err
_MAX_ICMP_NOTED = 64  # destinations whose first ICMP error a UdpClient keeps
_SO_EE_ORIGIN_ICMP = 2
_SO_EE_ORIGIN_ICMP6 = 3
_MAX_DATAGRAM = 65535
# Kernel receive timestamps (Linux socket(7) SO_TIMESTAMPNS, asm-generic value; SCM_TIMESTAMPNS is the same
# number): a reply's arrival time is when the kernel got it, not when the busy event loop read it, so RTTs
# measure the network, not the tool.
_SO_TIMESTAMPNS = 35
# The socket's drop counter (Linux socket(7) SO_RXQ_OVFL, asm-generic value): every datagram read carries the
# number of datagrams the kernel dropped on this socket so far because its receive buffer was full, so the
# tool can tell its own drops from loss on the network.
_SO_RXQ_OVFL = 40
_TIMESPEC = struct.Struct("=qq")
_ANCILLARY = 64
# struct tcp_info (linux/tcp.h): 8 bytes of u8 fields, then u32 rto, ato, snd_mss, rcv_mss, unacked, sacked,
# lost, retrans, fackets, last_data_sent, last_ack_sent, last_data_recv (ms since the last data came in).
_TCPI_LAST_DATA_RECV = 8 + 4 * 11
_TCP_INFO_LEN = _TCPI_LAST_DATA_RECV + 4
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")
_JIFFY_MS_MAX = 10  # HZ=100
UDP_RCVBUF = 1 << 20  # bytes: room for every reply of a burst, so the tool never drops its own packets
UDP_SNDBUF = 1 << 20  # bytes: room for a burst of sends, so a full send buffer does not drop them
_RECENT_TXIDS = 256
_SLOW_FRAME_SHARE = 0.5  # a frame still incomplete after this share of Ti is a slow (slowloris) reply
_STREAM_READ_LIMIT = 1 << 16  # asyncio StreamReader buffer high-water mark (reads pause beyond 2x this)

MAX_KEPT_REJECTED = 5  # rejected replies kept per transaction (all are counted)
COPY_MARGIN_S = 0.010  # scheduling slack on top of the round trip when waiting for answers to retransmissions
INBOX_MAX_MESSAGES = 1024  # unsolicited messages waiting in client.queue
INBOX_MAX_BYTES = 2 * 1024 * 1024  # and their total size
READS_PER_WAKEUP = 128  # datagrams read per readable event before the loop runs other work
_MAX_REASON = 300  # characters of one rejection reason kept (a reason may quote a server's reason phrase)


_timestamp_holder: socket.socket | None = None


def keep_kernel_timestamps_on() -> None:
    """Linux turns receive timestamping on for the whole stack a moment *after* the first socket asks
    (a deferred static key) and off again when the last one closes: packets in that gap are stamped only
    when read. One socket held for the life of the process keeps it on between probes; commands ask at
    start-up, so that it is on by the time the first replies come."""
    global _timestamp_holder
    if _timestamp_holder is None:
        holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        holder.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        _timestamp_holder = holder
        with contextlib.suppress(OSError):
            _wait_for_arrival_stamps(holder)


_STAMP_WAIT_S = 0.05


def _wait_for_arrival_stamps(holder: socket.socket) -> None:
    """Wait (at most ``_STAMP_WAIT_S``) until the kernel stamps datagrams when they arrive: one datagram to
    itself on loopback; while the key is still off, its stamp is taken when it is read, after ``before``."""
    holder.bind(("127.0.0.1", 0))
    holder.settimeout(0.01)
    deadline = time.monotonic() + _STAMP_WAIT_S
    while True:
        holder.sendto(b"\0", holder.getsockname())
        before = time.time()
        _, ancdata, _, _ = holder.recvmsg(1, _ANCILLARY)
        stamped = [_TIMESPEC.unpack_from(data) for level, kind, data in ancdata
                   if (level, kind) == (socket.SOL_SOCKET, _SO_TIMESTAMPNS) and len(data) >= _TIMESPEC.size]
        if not stamped or stamped[0][0] + stamped[0][1] / 1e9 < before or time.monotonic() > deadline:
            return
        time.sleep(0.001)


@dataclass(frozen=True)
class RetransmitPolicy:
    """RFC 8489 §6.2.1 (UDP) and §6.2.2 (TCP/TLS) timers. ``scaled(f)`` stretches or shrinks all of them."""

    rto: float = 0.5  # initial retransmission timeout, seconds
    rc: int = 7  # requests sent in total (1 + 6 retransmissions)
    rm: float = 16  # after the last request, wait rm * rto
    ti: float = 39.5  # stream transaction timeout, seconds

    def scaled(self, factor: float) -> RetransmitPolicy:
        return replace(self, rto=self.rto * factor, ti=self.ti * factor)

    def within(self, total_s: float) -> RetransmitPolicy:
        """The same timers, cut so that a whole transaction ends within ``total_s``: sends that would start
        later are left out and the wait after the last one ends at ``total_s`` (over TCP/TLS: Ti at most
        ``total_s``). Itself when it already fits."""
        total_s = max(total_s, 0.001)
        if self.udp_total <= total_s and self.ti <= total_s:
            return self
        offsets = [offset for offset in self.send_offsets() if offset < total_s]
        return replace(self, rc=len(offsets), rm=(total_s - offsets[-1]) / self.rto, ti=min(self.ti, total_s))

    @classmethod
    def for_timeout(cls, total_s: float) -> RetransmitPolicy:
        """RFC timers scaled so that a whole UDP transaction (and Ti) lasts ``total_s`` seconds."""
        default = cls()
        return default.scaled(total_s / default.udp_total)

    def send_offsets(self) -> list[float]:
        """When each UDP request goes out, relative to the first: 0, RTO, 3 RTO, 7 RTO, ... (doubling)."""
        return [self.rto * (2**i - 1) for i in range(self.rc)]

    def wait_after(self, attempt: int) -> float:
        """How long to wait after send number ``attempt`` (0-based) before the next one or giving up."""
        return self.rto * 2**attempt if attempt < self.rc - 1 else self.rm * self.rto

    @property
    def udp_total(self) -> float:
        """Time from the first send to giving up: 39.5 s with the RFC defaults."""
        return self.send_offsets()[-1] + self.rm * self.rto


# --- errors ----------------------------------------------------------------------------------------------

class TransportError(Exception):
    """A network failure below STUN. ``kind`` is a stable word for triage; the message is for humans."""

    kind = "transport"

    def __init__(self, message: str, peer: Address | None = None) -> None:
        super().__init__(message)
        self.peer = peer


class RefusedError(TransportError):
    """TCP connection refused (RST), or ICMP port unreachable for UDP (RFC 1122 §4.1.3.1)."""

    kind = "refused"


class ClosedError(TransportError):
    """The connection was reset or closed by the peer (or the client was closed)."""

    kind = "closed"


class ConnectTimeoutError(TransportError):
    kind = "connect-timeout"


class TlsError(TransportError):
    kind = "tls"

    def __init__(self, message: str, reason: TlsFailure, peer: Address | None = None) -> None:
        super().__init__(message, peer)
        self.reason = reason


class TlsStallError(TransportError):
    """TCP connected, but the TLS handshake did not complete in time (no or too slow an answer)."""

    kind = "tls-stall"


class SlowReplyError(TransportError):
    """A reply was still arriving when the transaction's time ran out (a peer sending bytes very slowly)."""

    kind = "slow-reply"


class UnreachableError(TransportError):
    """ICMP host/network unreachable or administratively prohibited, or no route."""

    kind = "unreachable"


class StreamFramingError(TransportError):
    """The server sent bytes on a TCP/TLS stream that are neither STUN nor ChannelData."""

    kind = "malformed"


class LocalResourceError(TransportError):
    """This machine, not the network, failed: out of file descriptors (EMFILE, ENFILE) or socket buffer
    memory (ENOBUFS, ENOMEM). Nothing was learnt about the server."""

    kind = "local-resources"


LOCAL_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class NetworkError(TransportError):
    """Any other socket error (address not available, permission denied by a local firewall, ...)."""

    kind = "network"


# --- results ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rejected:
    """A reply that was received and not trusted."""

    reason: str
    source: Address
    at: float  # seconds after the transaction started


@dataclass(frozen=True)
class Received:
    """An unsolicited message (indication, ChannelData, stray reply) as it arrived."""

    data: bytes
    source: Address
    at: float  # event-loop time (monotonic seconds)


@dataclass
class TransactionResult:
    """What happened to one request. Times are seconds after the first send."""

    dest: Address
    transport: str
    local: Address
    response: bytes | None = None
    source: Address | None = None  # the packet's real source address
    send_times: list[float] = field(default_factory=list)
    answered_at: float | None = None
    answered_attempt: int | None = None  # which send got the answer, when identifiable
    # UDP, after retransmissions: when the answers to the other sends (copies of the one that completed the
    # transaction; a STUN server answers every request it receives) arrived. None: not waited for (no
    # retransmission, a stream, or the transaction did not end with an answer).
    copies_at: list[float] | None = None
    rejected: list[Rejected] = field(default_factory=list)  # the first MAX_KEPT_REJECTED rejected replies
    rejected_count: int = 0  # every rejected reply, kept or not

    @property
    def attempts(self) -> int:
        return len(self.send_times)

    @property
    def retransmissions(self) -> int:
        return max(0, self.attempts - 1)

    @property
    def timed_out(self) -> bool:
        return self.response is None

    @property
    def rtt(self) -> float | None:
        """RTT from the send that was answered if identifiable, else from the first send (Karn's rule)."""
        if self.answered_at is None or not self.send_times:
            return None
        index = self.answered_attempt if self.answered_attempt is not None else 0
        return self.answered_at - self.send_times[index]

    @property
    def answers(self) -> int | None:
        """How many of the sends were answered (the first answer and its copies), when that was measured:
        fewer than :attr:`attempts` means requests or answers were lost; as many means a retransmission
        only went out because the RTO was shorter than the round trip (RFC 8489 §6.2.1), nothing was lost."""
        return None if self.copies_at is None or self.response is None else 1 + len(self.copies_at)

    @property
    def attempt_rtts(self) -> list[float]:
        """Time from each send made before the answer to the answer (the first is the longest)."""
        if self.answered_at is None:
            return []
        answered = self.answered_at
        return [answered - sent for sent in self.send_times if sent <= answered]


# --- shared client machinery -----------------------------------------------------------------------------

def normalize(address: tuple[object, ...] | Address) -> Address:
    """(ip, port) with the IP in canonical text form (IPv6 compressed, zone dropped)."""
    port = address[1]
    return (_canonical_ip(str(address[0])), port if type(port) is int else int(str(port)))


@functools.lru_cache(maxsize=4096)
def _canonical_ip(host: str) -> str:
    """``host`` in canonical text form if it is an IP literal (every datagram's source passes here)."""
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host.split("%", 1)[0]).compressed
    return host


@dataclass
class _Pending:
    txid: bytes
    dest: Address
    validate: Validator | None
    future: asyncio.Future[tuple[bytes, Address, float]]
    started: float
    rejected: list[Rejected] = field(default_factory=list)
    rejected_count: int = 0
    # After the answer: its valid copies (answers to the retransmissions), counted up to ``copies_wanted``.
    copies: list[float] = field(default_factory=list)
    copies_wanted: int = 0
    copies_done: asyncio.Event | None = None

    def reject(self, reason: str, source: Address, at: float) -> None:
        """Count a rejected reply; keep only the first few (a server may send them forever)."""
        self.rejected_count += 1
        if len(self.rejected) < MAX_KEPT_REJECTED:
            if len(reason) > _MAX_REASON:
                reason = reason[:_MAX_REASON] + "..."
            self.rejected.append(Rejected(reason, source, at))


class Inbox(asyncio.Queue[Received]):
    """Unsolicited messages waiting to be read, bounded in count and in bytes.

    ``offer`` drops (and counts in ``dropped``) what does not fit instead of growing: a server streaming
    indications or ChannelData forever costs at most ``max_bytes`` of memory.
    """

    def __init__(self, max_messages: int = INBOX_MAX_MESSAGES, max_bytes: int = INBOX_MAX_BYTES) -> None:
        super().__init__(maxsize=max_messages)
        self.max_bytes = max_bytes
        self.bytes = 0  # total size of the messages waiting
        self.dropped = 0  # messages dropped because the inbox was full

    def offer(self, item: Received) -> bool:
        """Queue ``item`` if it fits; else count it as dropped. Returns whether it was queued."""
        if self.full() or self.bytes + len(item.data) > self.max_bytes:
            self.dropped += 1
            return False
        self.put_nowait(item)
        return True

    def _put(self, item: Received) -> None:
        super()._put(item)
        self.bytes += len(item.data)

    def _get(self) -> Received:
        item = super()._get()
        self.bytes -= len(item.data)
        return item


class _Client:
    transport = "udp"

    def __init__(self, loop: asyncio.AbstractEventLoop, policy: RetransmitPolicy) -> None:
        self._loop = loop
        self.policy = policy
        self.queue: Inbox = Inbox()
        self._pending: dict[bytes, _Pending] = {}
        self._recent: deque[bytes] = deque(maxlen=_RECENT_TXIDS)
        self._channel_peers: set[Address] = set()  # where a ChannelBind request was sent
        self.closed = False

    @property
    def local_address(self) -> Address:
        raise NotImplementedError

    async def receive(self, timeout: float | None = None) -> Received | None:
        """The next unsolicited message, or None after ``timeout`` seconds."""
        if not self.queue.empty():
            return self.queue.get_nowait()  # no task per message: keeps up with a busy socket
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def _register(self, txid: bytes, dest: Address, validate: Validator | None) -> _Pending:
        if self.closed:
            raise ClosedError("client is closed", dest)
        if txid in self._pending:
            raise ValueError(f"transaction {txid.hex()} is already in progress")
        pending = _Pending(txid=txid, dest=dest, validate=validate, future=self._loop.create_future(),
                           started=self._loop.time())
        self._pending[txid] = pending
        return pending

    def _finish(self, pending: _Pending) -> None:
        self._pending.pop(pending.txid, None)
        self._recent.append(pending.txid)

    def _fail(self, error: TransportError, dest: Address | None = None) -> None:
        """Fail pending transactions (to ``dest``, or all) with ``error``."""
        for pending in list(self._pending.values()):
            if (dest is None or pending.dest == dest) and not pending.future.done():
                pending.future.set_exception(error)

    def _dispatch(self, data: bytes, source: Address, arrived: float | None = None) -> None:
        now = self._loop.time() if arrived is None else arrived
        txid = framing.transaction_id(data)
        pending = self._pending.get(txid) if txid is not None and framing.is_response(data) else None
        if pending is not None:
            if pending.future.done():  # answered (or failed) already: later copies change nothing but a count
                if len(pending.copies) < pending.copies_wanted and framing.datagram_problem(data) is None \
                        and _run_validator(pending.validate, data) is None:
                    pending.copies.append(now - pending.started)
                    if len(pending.copies) >= pending.copies_wanted and pending.copies_done is not None:
                        pending.copies_done.set()
                return
            problem = framing.datagram_problem(data) or _run_validator(pending.validate, data)
            if problem is not None:
                pending.reject(problem, source, now - pending.started)
            else:
                pending.future.set_result((data, source, now))
            return
        if txid is not None and txid in self._recent:
            return  # a late answer to a retransmission of a finished transaction (RFC 8489 §6.3)
        kind = framing.frame_kind(data)
        if kind is framing.FrameKind.CHANNEL_DATA and source not in self._channel_peers:
            kind = framing.FrameKind.OTHER  # no ChannelBind sent there: not ChannelData (RFC 8656 §12)
        waiting = [p for p in self._pending.values() if p.dest == source]
        if waiting and (framing.is_response(data) or kind is framing.FrameKind.OTHER):
            reason = (framing.datagram_problem(data) if txid is None
                      else f"transaction id {txid.hex()} does not match the request")
            for p in waiting:
                p.reject(reason or "unexpected reply", source, now - p.started)
            return
        self.queue.offer(Received(data, source, now))

    def _result(self, pending: _Pending, dest: Address, sends: list[float]) -> TransactionResult:
        result = TransactionResult(dest=dest, transport=self.transport, local=self.local_address,
                                   send_times=sends, rejected=list(pending.rejected),
                                   rejected_count=pending.rejected_count)
        if pending.future.done() and not pending.future.cancelled():
            data, source, at = pending.future.result()  # raises the TransportError, if that is what ended it
            result.response, result.source = data, source
            # Never before the first request (two clocks and float rounding can differ by a microsecond).
            result.answered_at = max(at - pending.started, sends[0] if sends else 0.0)
            before = [t for t in sends if t <= result.answered_at]
            result.answered_attempt = 0 if len(before) == 1 else None
        return result


def _run_validator(validate: Validator | None, data: bytes) -> str | None:
    if validate is None:
        return None
    try:
        return validate(data)
    except Exception as exc:  # a validator bug must not kill the receive loop
        return f"validation failed: {exc}"


def os_error(err: OSError, dest: Address | None = None) -> TransportError:
    """The typed TransportError for a socket call's OSError."""
    return _os_error(err, dest)


def _os_error(err: OSError, dest: Address | None) -> TransportError:
    where = f" ({dest[0]} port {dest[1]})" if dest else ""
    if err.errno in LOCAL_RESOURCE_ERRNOS:
        return LocalResourceError(f"{err.strerror or err} on this machine{where}", dest)
    if isinstance(err, ConnectionRefusedError):
        return RefusedError(f"connection refused{where}", dest)
    if isinstance(err, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return ClosedError(f"connection reset by peer{where}", dest)
    if err.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return UnreachableError(f"{err.strerror or err}{where}", dest)
    if isinstance(err, TimeoutError):
        return ConnectTimeoutError(f"timed out{where}", dest)
    return NetworkError(f"{err.strerror or err}{where}", dest)


# --- UDP -------------------------------------------------------------------------------------------------

_ICMP4 = {(3, 0): "network unreachable", (3, 1): "host unreachable", (3, 3): "port unreachable",
          (3, 9): "network prohibited", (3, 10): "host prohibited", (3, 13): "administratively prohibited"}
_ICMP6 = {(1, 0): "no route", (1, 1): "administratively prohibited", (1, 3): "address unreachable",
          (1, 4): "port unreachable"}


class UdpClient(_Client):
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
            raise _os_error(err, None) from err
        try:
            sock.setblocking(False)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVERR, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
            with contextlib.suppress(OSError):  # best effort: without them the loop's clock is used
                keep_kernel_timestamps_on()
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            for option, size in ((socket.SO_RCVBUF, UDP_RCVBUF), (socket.SO_SNDBUF, UDP_SNDBUF)):
                with contextlib.suppress(OSError):  # the kernel caps them at net.core.[rw]mem_max
                    sock.setsockopt(socket.SOL_SOCKET, option, size)
            with contextlib.suppress(OSError):  # without it, drops are read from /proc (socket_drop_count)
                sock.setsockopt(socket.SOL_SOCKET, _SO_RXQ_OVFL, 1)
            default_host = "::" if family == socket.AF_INET6 else "0.0.0.0"
            sock.bind((local_host or default_host, local_port))
        except OSError as err:
            sock.close()
            if err.errno in LOCAL_RESOURCE_ERRNOS:
                raise _os_error(err, None) from err
            raise NetworkError(f"cannot bind UDP {local_host or 'any'} port {local_port}: "
                               f"{err.strerror or err}") from err
        return cls(sock, loop, policy or RetransmitPolicy())

    @property
    def local_address(self) -> Address:
        return self._local

    async def request(self, data: bytes, dest: Address, *, txid: bytes | None = None,
                      validate: Validator | None = None, policy: RetransmitPolicy | None = None,
                      count_copies: bool = False) -> TransactionResult:
        """Send ``data`` with retransmissions until a matching, valid response or the timeout.

        ``count_copies``: after retransmissions, also wait (at most about one round trip) for the answers to
        the other sends, so that loss can be told from an RTO shorter than the round trip
        (:attr:`TransactionResult.answers`). Returns a result (``response`` None on timeout); raises
        TransportError when an ICMP error or a send error ends the transaction.
        """
        dest = normalize(dest)
        policy = policy or self.policy
        pending = self._register(txid or data[8:20], dest, validate)
        sends: list[float] = []
        try:
            for attempt in range(policy.rc):
                # The send time is taken before the datagram goes out: on loopback the reply can reach the
                # kernel (its receive timestamp) before sendto() even returns to us.
                sends.append(self._loop.time() - pending.started)
                self._sendto(data, dest)
                done, _ = await asyncio.wait([pending.future], timeout=policy.wait_after(attempt))
                if done:
                    break
            copies = await self._copies(pending, sends) if count_copies else None
        finally:
            self._finish(pending)
        result = self._result(pending, dest, sends)
        result.copies_at = copies
        return result

    async def _copies(self, pending: _Pending, sends: list[float]) -> list[float] | None:
        """After retransmissions, wait for the answers to the other sends: a STUN server answers every copy
        of a request it receives, so on a path that lost nothing every send is answered. Waits until they
        are all in, or until the last send plus twice the first answer's delay (the round trip is at most
        that): one round trip more at worst, and only when a retransmission went out."""
        future = pending.future
        if len(sends) < 2 or not future.done() or future.cancelled() or future.exception() is not None:
            return None
        answered = future.result()[2] - pending.started
        pending.copies_wanted = len(sends) - 1
        pending.copies_done = asyncio.Event()
        if len(pending.copies) < pending.copies_wanted:
            wait = sends[-1] + 2 * max(answered, 0.0) + COPY_MARGIN_S - (self._loop.time() - pending.started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pending.copies_done.wait(), max(wait, 0.0))
        self.read_now()  # what reached the kernel by now counts (its receive time stamps the copy)
        return list(pending.copies)

    async def send(self, data: bytes, dest: Address) -> None:
        """Send once, no transaction (indications, ChannelData)."""
        self._sendto(data, normalize(dest))

    def _sendto(self, data: bytes, dest: Address) -> None:
        if self.closed:
            raise ClosedError("client is closed", dest)
        _require_ip(dest)
        if framing.is_channel_bind_request(data):
            self._channel_peers.add(dest)
        try:
            self._sock.sendto(data, dest)
        except BlockingIOError:
            self.send_drops += 1  # send buffer full: lost here, counted as the tool's own drop
        except ConnectionRefusedError:
            self._drain_errors()  # an earlier ICMP error was pending; it named its destination
            with contextlib.suppress(OSError):
                self._sock.sendto(data, dest)
        except OSError as err:
            raise _os_error(err, dest) from err

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
                data, ancdata, _, source = self._sock.recvmsg(_MAX_DATAGRAM, _ANCILLARY)
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
            self.socket_drops = max(self.socket_drops, _proc_udp_drops(self._sock))
        return self.socket_drops

    def _arrival(self, ancdata: list[tuple[int, int, bytes]]) -> float:
        """When the datagram reached the kernel, on the event loop's clock (now, without a timestamp).
        Also notes the socket's drop counter (SO_RXQ_OVFL) when it comes along."""
        now = self._loop.time()
        arrived = now
        for level, kind, payload in ancdata:
            if level != socket.SOL_SOCKET:
                continue
            if kind == _SO_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
                seconds, nanos = _TIMESPEC.unpack_from(payload)
                waited = now - (int(seconds) + int(nanos) / 1e9 - _realtime_offset())  # in the socket buffer
                arrived = now - min(max(waited, 0.0), 5.0)  # a clock step cannot make it absurd
            elif kind == _SO_RXQ_OVFL and len(payload) >= _U32.size:
                (drops,) = _U32.unpack_from(payload)
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
            text = "destination unreachable"
            for level, kind, payload in ancdata:
                if (level, kind) in ((socket.IPPROTO_IP, _IP_RECVERR), (socket.IPPROTO_IPV6, _IPV6_RECVERR)):
                    text = _describe_icmp(payload)
            where = f" from {dest[0]} port {dest[1]}" if dest else ""
            # ICMP port unreachable is UDP's connection refused (RFC 1122 §4.1.3.1): nothing listens there.
            error_type = RefusedError if text == "port unreachable" else UnreachableError
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

    async def __aenter__(self) -> UdpClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


_offset: list[float] = []  # [realtime - monotonic, when it was measured (monotonic)]


def _realtime_offset() -> float:
    """CLOCK_REALTIME (kernel timestamps) minus the monotonic clock (the event loop's), measured at most once
    a second as the tightest of three readings: reading both clocks for every datagram would put any
    preemption between the two reads into the RTT."""
    now = time.monotonic()
    if not _offset or now - _offset[1] > 1.0:
        best: tuple[float, float] | None = None
        for _ in range(3):
            before = time.time()
            mono = time.monotonic()
            after = time.time()
            if best is None or after - before < best[0]:
                best = (after - before, (before + after) / 2 - mono)
        assert best is not None
        _offset[:] = [best[1], now]
    return _offset[0]


_SO_MEMINFO = 55  # Linux socket(7): the socket's memory counters, u32 each
_SK_MEMINFO_DROPS = 8  # sk_drops (Linux >= 4.16): what /proc/net/udp shows as "drops"


def _proc_udp_drops(sock: socket.socket) -> int:
    """The socket's drop counter: SO_MEMINFO's SK_MEMINFO_DROPS (one system call), else the ``drops``
    column of this socket's line in /proc/net/udp or /proc/net/udp6 (matched by inode); 0 when it cannot
    be read."""
    with contextlib.suppress(OSError):
        counters = sock.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, 4 * (_SK_MEMINFO_DROPS + 1))
        if len(counters) >= 4 * (_SK_MEMINFO_DROPS + 1):
            return int(_U32.unpack_from(counters, 4 * _SK_MEMINFO_DROPS)[0])
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
        table = "/proc/net/udp6" if sock.family == socket.AF_INET6 else "/proc/net/udp"
        with open(table, encoding="ascii") as lines:
            for line in lines:
                fields = line.split()
                # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
                if len(fields) >= 13 and fields[9] == inode:
                    return int(fields[12])
    except (OSError, ValueError):
        pass
    return 0


def _describe_icmp(payload: bytes) -> str:
    if len(payload) < _SOCK_EE.size:
        return "error"
    ee_errno, origin, icmp_type, code, _, _, _ = _SOCK_EE.unpack_from(payload)
    table = _ICMP6 if origin == _SO_EE_ORIGIN_ICMP6 else _ICMP4
    if origin in (_SO_EE_ORIGIN_ICMP, _SO_EE_ORIGIN_ICMP6):
        return table.get((icmp_type, code), f"type {icmp_type} code {code}")
    return errno.errorcode.get(ee_errno, str(ee_errno))


def _require_ip(dest: Address) -> None:
    if not _is_ip(dest[0]):
        raise ValueError(f"destination must be an IP address (resolve {dest[0]!r} first)")


@functools.lru_cache(maxsize=4096)
def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# --- TCP / TLS -------------------------------------------------------------------------------------------

class StreamClient(_Client):
    """A TCP or TLS connection carrying STUN/TURN messages and ChannelData (RFC 8489 §6.2.2)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Address, tls: bool,
                 loop: asyncio.AbstractEventLoop, policy: RetransmitPolicy) -> None:
        super().__init__(loop, policy)
        self.transport = "tls" if tls else "tcp"
        self.peer = peer
        self._reader = reader
        self._writer = writer
        self._deframer = framing.StreamDeframer(allow_channel_data=False)
        self._partial: tuple[int, float] | None = None  # (frames before it, when) of the frame coming in
        self._local = normalize(writer.get_extra_info("sockname"))
        self._error: TransportError | None = None
        self._read_at: float | None = None  # when the latest bytes were read from the socket
        self._stamp_reads(writer)
        self._task = loop.create_task(self._read_loop())

    def _stamp_reads(self, writer: asyncio.StreamWriter) -> None:
        """Note the arrival time in the callback that reads the socket (for TLS: that decrypts the record),
        not when the read task gets round to the bytes: the event loop may run other work in between."""
        protocol = writer.transport.get_protocol()
        received = getattr(protocol, "data_received", None)
        if not callable(received):
            return

        def data_received(data: bytes) -> None:
            self._read_at = self._arrival()
            received(data)

        setattr(protocol, "data_received", data_received)  # noqa: B010 (an attribute BaseProtocol lacks)

    @classmethod
    async def connect(cls, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
                      server_hostname: str | None = None, timeout: float = 5.0,
                      local_host: str | None = None, local_port: int = 0,
                      policy: RetransmitPolicy | None = None) -> StreamClient:
        """Connect (and TLS handshake) within ``timeout`` seconds; typed TransportErrors otherwise."""
        loop = asyncio.get_running_loop()
        peer = normalize((host, port))
        local = (local_host or ("::" if ":" in host else "0.0.0.0"), local_port) \
            if (local_host or local_port) else None
        tls_name = (server_hostname or host) if ssl_context is not None else None
        started = loop.time()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, local_addr=local, limit=_STREAM_READ_LIMIT), timeout)
        except TimeoutError:
            raise ConnectTimeoutError(f"TCP connect to {host} port {port} timed out after {timeout:.1f} s",
                                      peer) from None
        except OSError as err:
            raise _os_error(err, peer) from err
        if ssl_context is not None:
            # The handshake apart from the TCP connect: an accepted connection whose TLS never completes is
            # its own failure (TlsStallError), not "unreachable".
            left = max(timeout - (loop.time() - started), 0.001)
            try:
                await asyncio.wait_for(writer.start_tls(ssl_context, server_hostname=tls_name,
                                                        ssl_handshake_timeout=left), left)
            except TimeoutError:
                writer.transport.abort()
                raise TlsStallError(f"TCP connection to {host} port {port} accepted, but the TLS handshake "
                                    f"did not complete within {timeout:.1f} s", peer) from None
            except ssl.SSLError as err:
                writer.transport.abort()
                reason, detail = classify_ssl_error(err)
                raise TlsError(f"{detail} ({host} port {port})", reason, peer) from err
            except OSError as err:
                writer.transport.abort()
                raise _os_error(err, peer) from err
        return cls(reader, writer, peer, ssl_context is not None, loop, policy or RetransmitPolicy())

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        """The TLS session of a TLS connection (the certificate the server presented), else None."""
        obj = self._writer.get_extra_info("ssl_object")
        return obj if isinstance(obj, ssl.SSLObject) else None

    @property
    def local_address(self) -> Address:
        return self._local

    def tls_info(self) -> dict[str, str | None]:
        """Negotiated TLS version, cipher and ALPN protocol (empty for plain TCP)."""
        ssl_object = self._writer.get_extra_info("ssl_object")
        if ssl_object is None:
            return {}
        cipher = ssl_object.cipher()
        return {"version": ssl_object.version(), "cipher": cipher[0] if cipher else None,
                "alpn": ssl_object.selected_alpn_protocol()}

    def peer_certificate(self) -> bytes | None:
        """The server's leaf certificate (DER), if TLS."""
        ssl_object = self._writer.get_extra_info("ssl_object")
        if ssl_object is None:
            return None
        cert: bytes | None = ssl_object.getpeercert(binary_form=True)
        return cert

    async def request(self, data: bytes, dest: Address | None = None, *, txid: bytes | None = None,
                      validate: Validator | None = None, policy: RetransmitPolicy | None = None,
                      count_copies: bool = False) -> TransactionResult:
        """Send once and wait up to Ti for the matching valid response (no retransmission on streams, so
        ``count_copies`` has nothing to count)."""
        if self._error is not None:
            raise self._error
        policy = policy or self.policy
        pending = self._register(txid or data[8:20], self.peer, validate)
        sends: list[float] = []
        try:
            sent_at = await self._write(data)
            sends.append(sent_at - pending.started)
            await asyncio.wait([pending.future], timeout=policy.ti)
            partial = self._partial
            if not pending.future.done() and partial is not None and \
                    self._loop.time() - partial[1] >= policy.ti * _SLOW_FRAME_SHARE and \
                    not self._rest_arrived():
                # Ti ran out while one frame had been coming in for most of it: bytes dripping in (slowloris),
                # not silence (a flood's frames each complete in moments).
                size = self._deframer.expected
                of = f" of a {size}-byte message" if size else ""
                raise SlowReplyError(f"{self.peer[0]} port {self.peer[1]} was still sending when the "
                                     f"{policy.ti:.1f} s ran out: {self._deframer.pending} bytes{of} had "
                                     f"arrived", self.peer)
        finally:
            self._finish(pending)
        return self._result(pending, self.peer, sends)

    async def send(self, data: bytes, dest: Address | None = None) -> None:
        """Send once, no transaction (indications, ChannelData padded to 4 bytes)."""
        if self._error is not None:
            raise self._error
        await self._write(framing.pad_for_stream(data))

    def _rest_arrived(self) -> bool:
        """Whether the rest of the frame coming in already reached this machine, unread: then it is rtcdiag
        that is behind (a busy event loop, say a flood's frames to parse on a loaded machine), not the peer
        that is slow. Counts the kernel's receive queue (FIONREAD, tcp(7) SIOCINQ; for TLS the records,
        at least as long as what they carry) and the stream reader's buffer."""
        size = self._deframer.expected
        needed = size - self._deframer.pending if size else 1
        unread = len(getattr(self._reader, "_buffer", b""))
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, ValueError):
                unread += _I32.unpack(fcntl_ioctl(sock.fileno(), termios.FIONREAD, bytes(4)))[0]
        return unread >= max(needed, 1)

    async def _write(self, data: bytes) -> float:
        """Hand ``data`` to the kernel; return when that happened (the send time RTTs are measured from,
        taken before any wait for a full buffer, so the reply can never seem to come before the request)."""
        if self.closed:
            raise ClosedError("client is closed", self.peer)
        if framing.is_channel_bind_request(data):
            self._deframer.allow_channel_data = True  # the server may now send ChannelData (RFC 8656 §12)
            self._channel_peers.add(self.peer)
        try:
            sent_at = self._loop.time()  # before the write: the reply can arrive before write() returns
            self._writer.write(data)
            if self._writer.transport.get_write_buffer_size():
                # A peer that never reads would block drain() forever once the buffers are full.
                await asyncio.wait_for(self._writer.drain(), max(self.policy.ti, 1.0))
        except TimeoutError:
            raise NetworkError(f"{self.peer[0]} port {self.peer[1]} does not read what is sent "
                               f"(send blocked)", self.peer) from None
        except OSError as err:
            raise _os_error(err, self.peer) from err
        return sent_at

    async def _read_loop(self) -> None:
        error: TransportError
        try:
            while True:
                chunk = await self._reader.read(65536)
                if not chunk:
                    error = self._eof_error()
                    break
                arrived = self._read_at if self._read_at is not None else self._arrival()
                for frame in self._deframer.feed(chunk):
                    self._dispatch(frame, self.peer, arrived)
                if not self._deframer.pending:
                    self._partial = None
                elif self._partial is None or self._partial[0] != self._deframer.frames:
                    self._partial = (self._deframer.frames, arrived)  # a new frame started arriving
                if self._deframer.error is not None:  # after the complete frames before it
                    raise self._deframer.error
        except framing.FramingError as err:
            error = StreamFramingError(f"malformed stream from {self.peer[0]} port {self.peer[1]}: {err}",
                                       self.peer)
        except ssl.SSLError as err:
            error = TlsError(classify_ssl_error(err)[1], TlsFailure.HANDSHAKE, self.peer)
        except OSError as err:
            error = _os_error(err, self.peer)
        self._error = error
        self._fail(error)

    def _arrival(self) -> float:
        """When the last data reached the kernel, on the loop's clock: ``tcpi_last_data_recv`` (Linux tcp(7)
        TCP_INFO, milliseconds) takes out the time the bytes waited for a busy event loop (to within
        one jiffy)."""
        now = self._loop.time()
        sock = self._writer.get_extra_info("socket")
        if sock is None:
            return now
        try:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
        except (OSError, AttributeError):
            return now
        if len(info) < _TCP_INFO_LEN:
            return now
        (last_data_recv_ms,) = _U32.unpack_from(info, _TCPI_LAST_DATA_RECV)
        # The kernel counts in jiffies (1-10 ms): take out only the part of the wait beyond one jiffy, so
        # a reply that did not wait is never moved before it arrived.
        waited_ms = max(int(last_data_recv_ms) - _JIFFY_MS_MAX, 0)
        return now - min(waited_ms / 1000.0, 5.0)

    def _eof_error(self) -> ClosedError:
        where = f"{self.peer[0]} port {self.peer[1]}"
        if self._deframer.pending:
            return ClosedError(f"connection closed by {where} in the middle of a message "
                               f"({self._deframer.pending} bytes of an incomplete frame)", self.peer)
        return ClosedError(f"connection closed by {where}", self.peer)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._fail(ClosedError("client closed", self.peer))
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)

    async def __aenter__(self) -> StreamClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


Client = UdpClient | StreamClient
