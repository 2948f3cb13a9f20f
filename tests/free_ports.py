"""Free loopback ports for the peers a test starts (one home for the tests' port pickers)."""

from __future__ import annotations

import secrets
import socket

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the kernel had free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_udp_block(size: int) -> tuple[int, int]:
    """``size`` consecutive UDP ports free now, above the kernel's ephemeral range (32768-60999 by default),
    so that another test's sockets do not take them while coturn relays on them: (first, last)."""
    for _ in range(200):
        low = 61000 + secrets.randbelow(4000)
        held: list[socket.socket] = []
        try:
            for port in range(low, low + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(sock)
                sock.bind(("127.0.0.1", port))
            return low, low + size - 1
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    pytest.fail("no free block of relay ports")


def bind_udp_and_tcp(host: str = "127.0.0.1") -> tuple[int, socket.socket, socket.socket]:
    """One port bound for UDP and for TCP (not listening yet): (port, udp, tcp). The kernel picks the UDP
    port; another process may hold it for TCP, so a few are tried (seen under load: EADDRINUSE)."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((host, 0))
        port = int(udp.getsockname()[1])
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind((host, port))
        except OSError:
            udp.close()
            tcp.close()
            continue
        return port, udp, tcp
    pytest.fail(f"no port of {host} free for both UDP and TCP")


def free_udp_and_tcp_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP a moment ago (for a server the test starts on it)."""
    port, udp, tcp = bind_udp_and_tcp(host)
    udp.close()
    tcp.close()
    return port
