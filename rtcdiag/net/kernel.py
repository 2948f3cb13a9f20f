"""What the Linux kernel says about a socket: when a packet really arrived, what the socket dropped, which
ICMP error a datagram caused. The tool measures the network, not itself: a reply's arrival time is when the
kernel got it, not when the busy event loop read it, and the tool's own drops are counted apart from loss.

- Receive timestamps (socket(7) SO_TIMESTAMPNS) for UDP; ``tcpi_last_data_recv`` (tcp(7) TCP_INFO) for
  streams.
- Drop counters: SO_RXQ_OVFL on every datagram read, SO_MEMINFO's SK_MEMINFO_DROPS, the ``drops`` column of
  /proc/net/udp[6] (proc(5)).
- ICMP errors from the socket error queue (IP_RECVERR, ip(7); IPV6_RECVERR, ipv6(7)).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
import time

# Socket options and control messages (Linux; asm-generic values where the module lacks a name).
IP_RECVERR = 11  # linux/in.h
IPV6_RECVERR = 25  # linux/in6.h
SO_TIMESTAMPNS = 35  # socket(7); SCM_TIMESTAMPNS is the same number
# The socket's drop counter (socket(7) SO_RXQ_OVFL): every datagram read carries the number of datagrams the
# kernel dropped on this socket so far because its receive buffer was full.
SO_RXQ_OVFL = 40
ANCILLARY_SIZE = 64  # room for the control messages above
TIMESPEC = struct.Struct("=qq")
U32 = struct.Struct("=I")

_SOCK_EE = struct.Struct("=IBBBBII")  # struct sock_extended_err
_SO_EE_ORIGIN_ICMP = 2
_SO_EE_ORIGIN_ICMP6 = 3
_ICMP4 = {(3, 0): "network unreachable", (3, 1): "host unreachable", (3, 3): "port unreachable",
          (3, 9): "network prohibited", (3, 10): "host prohibited", (3, 13): "administratively prohibited"}
_ICMP6 = {(1, 0): "no route", (1, 1): "administratively prohibited", (1, 3): "address unreachable",
          (1, 4): "port unreachable"}
ICMP_PORT_UNREACHABLE = "port unreachable"

# struct tcp_info (linux/tcp.h): 8 bytes of u8 fields, then u32 rto, ato, snd_mss, rcv_mss, unacked, sacked,
# lost, retrans, fackets, last_data_sent, last_ack_sent, last_data_recv (ms since the last data came in).
_TCPI_LAST_DATA_RECV = 8 + 4 * 11
_TCP_INFO_LEN = _TCPI_LAST_DATA_RECV + 4
_JIFFY_MS_MAX = 10  # HZ=100
_MAX_WAIT_S = 5.0  # a clock step cannot make an arrival time absurd

_SO_MEMINFO = 55  # socket(7): the socket's memory counters, u32 each
_SK_MEMINFO_DROPS = 8  # sk_drops (Linux >= 4.16): what /proc/net/udp shows as "drops"


# --- receive timestamps ------------------------------------------------------------------------------------

_timestamp_holder: socket.socket | None = None


def keep_kernel_timestamps_on() -> None:
    """Linux turns receive timestamping on for the whole stack a moment *after* the first socket asks
    (a deferred static key) and off again when the last one closes: packets in that gap are stamped only
    when read. One socket held for the life of the process keeps it on between probes; commands ask at
    start-up, so that it is on by the time the first replies come."""
    global _timestamp_holder
    if _timestamp_holder is None:
        holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        holder.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
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
        _, ancdata, _, _ = holder.recvmsg(1, ANCILLARY_SIZE)
        stamped = [TIMESPEC.unpack_from(data) for level, kind, data in ancdata
                   if (level, kind) == (socket.SOL_SOCKET, SO_TIMESTAMPNS) and len(data) >= TIMESPEC.size]
        if not stamped or stamped[0][0] + stamped[0][1] / 1e9 < before or time.monotonic() > deadline:
            return
        time.sleep(0.001)


_offset: list[float] = []  # [realtime - monotonic, when it was measured (monotonic)]


def realtime_offset() -> float:
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


def datagram_arrival(ancdata: list[tuple[int, int, bytes]], now: float) -> tuple[float, int | None]:
    """When a datagram read at ``now`` (event-loop clock) reached the kernel, from its SO_TIMESTAMPNS
    control message (``now`` without one), and the socket's SO_RXQ_OVFL drop counter if it came along."""
    arrived = now
    drops: int | None = None
    for level, kind, payload in ancdata:
        if level != socket.SOL_SOCKET:
            continue
        if kind == SO_TIMESTAMPNS and len(payload) >= TIMESPEC.size:
            seconds, nanos = TIMESPEC.unpack_from(payload)
            waited = now - (int(seconds) + int(nanos) / 1e9 - realtime_offset())  # in the socket buffer
            arrived = now - min(max(waited, 0.0), _MAX_WAIT_S)
        elif kind == SO_RXQ_OVFL and len(payload) >= U32.size:
            (drops,) = U32.unpack_from(payload)
    return arrived, drops


def stream_arrival(sock: socket.socket | None, now: float) -> float:
    """When the last data of a TCP connection reached the kernel, on the loop's clock: ``tcpi_last_data_recv``
    (tcp(7) TCP_INFO, milliseconds) takes out the time the bytes waited for a busy event loop (to within one
    jiffy)."""
    if sock is None:
        return now
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
    except (OSError, AttributeError):
        return now
    if len(info) < _TCP_INFO_LEN:
        return now
    (last_data_recv_ms,) = U32.unpack_from(info, _TCPI_LAST_DATA_RECV)
    # The kernel counts in jiffies (1-10 ms): take out only the part of the wait beyond one jiffy, so
    # a reply that did not wait is never moved before it arrived.
    waited_ms = max(int(last_data_recv_ms) - _JIFFY_MS_MAX, 0)
    return now - min(waited_ms / 1000.0, _MAX_WAIT_S)


# --- drop counters -----------------------------------------------------------------------------------------

def udp_drop_count(sock: socket.socket) -> int:
    """The socket's drop counter: SO_MEMINFO's SK_MEMINFO_DROPS (one system call), else the ``drops``
    column of this socket's line in /proc/net/udp or /proc/net/udp6 (matched by inode); 0 when it cannot
    be read."""
    with contextlib.suppress(OSError):
        counters = sock.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, 4 * (_SK_MEMINFO_DROPS + 1))
        if len(counters) >= 4 * (_SK_MEMINFO_DROPS + 1):
            return int(U32.unpack_from(counters, 4 * _SK_MEMINFO_DROPS)[0])
    inode = socket_inode(sock)
    table = "/proc/net/udp6" if sock.family == socket.AF_INET6 else "/proc/net/udp"
    return udp_drops_by_inode((table,)).get(inode, 0) if inode else 0


def udp_drops_by_inode(tables: tuple[str, ...] = ("/proc/net/udp", "/proc/net/udp6")) -> dict[int, int]:
    """The ``drops`` column of /proc/net/udp and udp6 by socket inode (Linux proc(5)), read once."""
    drops: dict[int, int] = {}
    for table in tables:
        try:
            with open(table, encoding="ascii", errors="replace") as lines:
                next(lines, None)
                for line in lines:
                    fields = line.split()
                    # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
                    if len(fields) >= 13 and fields[9].isdigit() and fields[12].isdigit():
                        drops[int(fields[9])] = int(fields[12])
        except OSError:
            continue
    return drops


def socket_inode(sock: socket.socket) -> int:
    """The socket's inode (its line in /proc/net/*), 0 when it is closed."""
    try:
        return os.fstat(sock.fileno()).st_ino
    except OSError:
        return 0


# --- ICMP errors -------------------------------------------------------------------------------------------

def enable_icmp_errors(sock: socket.socket, family: int) -> None:
    """Queue ICMP errors on the socket's error queue (read with MSG_ERRQUEUE)."""
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)


def icmp_error_text(ancdata: list[tuple[int, int, bytes]]) -> str:
    """What an error-queue message says: "port unreachable", "host unreachable", ... (or an errno name)."""
    text = "destination unreachable"
    for level, kind, payload in ancdata:
        if (level, kind) in ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR)):
            text = _describe_icmp(payload)
    return text


def _describe_icmp(payload: bytes) -> str:
    if len(payload) < _SOCK_EE.size:
        return "error"
    ee_errno, origin, icmp_type, code, _, _, _ = _SOCK_EE.unpack_from(payload)
    table = _ICMP6 if origin == _SO_EE_ORIGIN_ICMP6 else _ICMP4
    if origin in (_SO_EE_ORIGIN_ICMP, _SO_EE_ORIGIN_ICMP6):
        return table.get((icmp_type, code), f"type {icmp_type} code {code}")
    return errno.errorcode.get(ee_errno, str(ee_errno))
