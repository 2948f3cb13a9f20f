"""Socket addresses as (ip, port) with the IP in one canonical text form, so that replies match requests."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import socket

from rtcdiag.protocol.transaction import Address


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


def require_ip(dest: Address) -> None:
    """Sockets here send to IP addresses only: a name must be resolved first (rtcdiag.resolve)."""
    if not _is_ip(dest[0]):
        raise ValueError(f"destination must be an IP address (resolve {dest[0]!r} first)")


@functools.lru_cache(maxsize=4096)
def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def source_ip_toward(dest: Address, family: int) -> str:
    """The source IP the kernel picks for ``dest``: a UDP ``connect`` sends nothing. TransportError (from
    rtcdiag.net.errors) when nothing routes there."""
    from rtcdiag.net.errors import os_error

    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect(dest)
            return str(sock.getsockname()[0])
    except OSError as err:
        raise os_error(err, dest) from err
