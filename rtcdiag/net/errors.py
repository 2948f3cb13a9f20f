"""What can go wrong below STUN: typed network failures, each with a stable ``kind`` word for triage."""

from __future__ import annotations

import errno

from rtcdiag.protocol.transaction import Address
from rtcdiag.tls import TlsFailure


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


def os_error(err: OSError, dest: Address | None = None) -> TransportError:
    """The typed TransportError for a socket call's OSError."""
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
