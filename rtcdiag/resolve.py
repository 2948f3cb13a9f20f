"""Name resolution for targets: host -> the (family, ip, port) list to try, via the event loop's resolver.

Addresses come back in getaddrinfo order (RFC 6724 destination address selection), duplicates removed.
Failures raise ``ResolveError`` (a TransportError of kind "dns") so probes record them like other network
failures.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from rtcdiag.net import TransportError

_SOCKTYPE = {"udp": socket.SOCK_DGRAM, "tcp": socket.SOCK_STREAM, "tls": socket.SOCK_STREAM}
_FAMILY = {None: socket.AF_UNSPEC, 4: socket.AF_INET, 6: socket.AF_INET6}


class ResolveError(TransportError):
    """The name could not be resolved (unknown host, no address of the asked family, resolver failure)."""

    kind = "dns"

    def __init__(self, message: str, host: str) -> None:
        super().__init__(message)
        self.host = host


@dataclass(frozen=True)
class ResolvedAddress:
    family: int  # socket.AF_INET or socket.AF_INET6
    ip: str
    port: int

    @property
    def address(self) -> tuple[str, int]:
        return (self.ip, self.port)

    @property
    def version(self) -> int:
        return 6 if self.family == socket.AF_INET6 else 4


async def resolve(host: str, port: int, family: int | None = None, transport: str = "udp",
                  timeout: float = 5.0) -> list[ResolvedAddress]:
    """Resolve ``host`` (name or IP literal, brackets allowed) for ``transport``; ``family``: 4, 6 or None."""
    if family not in _FAMILY:
        raise ValueError(f"family must be 4, 6 or None, not {family!r}")
    if transport not in _SOCKTYPE:
        raise ValueError(f"transport must be udp, tcp or tls, not {transport!r}")
    name = host.strip().removeprefix("[").removesuffix("]")
    literal = _literal(name, port, family)
    if literal is not None:
        return literal
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(name, port, family=_FAMILY[family], type=_SOCKTYPE[transport]), timeout)
    except TimeoutError:
        raise ResolveError(f"resolving {name} timed out after {timeout:.1f} s", name) from None
    except socket.gaierror as err:
        raise ResolveError(_gai_message(name, family, err), name) from err
    seen: dict[tuple[int, str, int], None] = {}
    for fam, _type, _proto, _canon, sockaddr in infos:
        if fam in (socket.AF_INET, socket.AF_INET6):
            ip = str(sockaddr[0]).split("%", 1)[0]
            seen.setdefault((int(fam), ip, int(sockaddr[1])), None)
    if not seen:
        raise ResolveError(f"{name} has no {_family_word(family)} address", name)
    return [ResolvedAddress(fam, ip, p) for fam, ip, p in seen]


def _literal(name: str, port: int, family: int | None) -> list[ResolvedAddress] | None:
    """What getaddrinfo answers for an IP literal in its plain form (dotted quad, or IPv6 without a zone),
    without its thread: a numeric host needs no lookup, and no busy thread pool can time it out. None for
    anything else (names, zones, short IPv4 forms such as 127.1, ports getaddrinfo would wrap, a literal of
    the other family)."""
    if not 0 <= port <= 0xFFFF:
        return None
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            packed = socket.inet_pton(fam, name)
        except OSError:
            continue
        if family is not None and _FAMILY[family] != fam:
            return None  # getaddrinfo's answer (an error, or the IPv4 of a v4-mapped IPv6 literal)
        return [ResolvedAddress(int(fam), socket.inet_ntop(fam, packed), port)]
    return None


def _family_word(family: int | None) -> str:
    return {4: "IPv4", 6: "IPv6"}.get(family or 0, "IP")


def _gai_message(name: str, family: int | None, err: socket.gaierror) -> str:
    if err.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
        if family is not None:
            return f"unknown host {name} (or no {_family_word(family)} address)"
        return f"unknown host {name}"
    if err.errno == socket.EAI_AGAIN:
        return f"temporary DNS failure resolving {name} (no resolver reachable?)"
    if err.errno == socket.EAI_ADDRFAMILY:
        return f"{name} has no {_family_word(family)} address"
    return f"cannot resolve {name}: {err.strerror or err}"
