"""Sockets: STUN/TURN client transports over UDP, TCP and TLS, IPv4 and IPv6, below the probes.

- ``UdpClient`` (rtcdiag.net.udp) and ``StreamClient`` (rtcdiag.net.stream, TCP/TLS) are the senders of
  ``rtcdiag.protocol.transaction``: the transaction logic (RFC 8489 §6.2 timers, matching replies by
  transaction id, bounded inbox) lives there, without sockets; here are the socket options, the framing I/O
  and the typed failures (rtcdiag.net.errors).
- What the kernel says about a socket (receive timestamps, drop counters, ICMP errors, TCP_INFO) is read in
  rtcdiag.net.kernel, so RTTs measure the network and the tool's own drops are never taken for loss.

No printing; nothing a server sends can grow memory without bound or starve the timers.
"""

from rtcdiag.net.errors import (
    LOCAL_RESOURCE_ERRNOS,
    ClosedError,
    ConnectTimeoutError,
    LocalResourceError,
    NetworkError,
    RefusedError,
    SlowReplyError,
    StreamFramingError,
    TlsError,
    TlsStallError,
    TransportError,
    UnreachableError,
    os_error,
)
from rtcdiag.net.kernel import keep_kernel_timestamps_on
from rtcdiag.net.sockaddr import normalize
from rtcdiag.net.stream import StreamClient
from rtcdiag.net.udp import UdpClient

Client = UdpClient | StreamClient

__all__ = [
    "LOCAL_RESOURCE_ERRNOS",
    "Client",
    "ClosedError",
    "ConnectTimeoutError",
    "LocalResourceError",
    "NetworkError",
    "RefusedError",
    "SlowReplyError",
    "StreamClient",
    "StreamFramingError",
    "TlsError",
    "TlsStallError",
    "TransportError",
    "UdpClient",
    "UnreachableError",
    "keep_kernel_timestamps_on",
    "normalize",
    "os_error",
]
