"""The local process that listens on an address, and its CPU time: Linux proc(5) only, read-only.

- ``/proc/net/{udp,udp6,tcp,tcp6}``: one socket per line, ``local_address`` as hex ``IP:PORT`` (IPv4 in host
  byte order, IPv6 as four host-order 32-bit words), ``st`` (0A = TCP LISTEN), ``inode``;
- ``/proc/<pid>/fd/*``: links ``socket:[inode]`` name the process holding the socket (readable for our own
  processes, or as root);
- ``/proc/<pid>/stat``: ``utime`` and ``stime`` (fields 14 and 15, clock ticks, every thread included).

Used by ``rtcdiag load`` to report the CPU of a TURN server running on this machine. Every read is bounded
and every failure (no /proc, no permission, a process gone) gives None, never an error.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TCP_LISTEN = "0A"
_MAX_LINES = 200_000  # sockets read per table
_MAX_FDS = 1_000_000  # descriptors looked at in the whole scan


@dataclass(frozen=True)
class LocalProcess:
    pid: int
    name: str  # /proc/<pid>/comm, printable


def is_local_address(ip: str) -> bool:
    """Is ``ip`` an address of this machine (loopback, or one a socket can bind)?"""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if addr.is_loopback:
        return True
    family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((ip, 0))
    except OSError:
        return False
    return True


def _hex_address(text: str) -> tuple[str, int] | None:
    host, _, port = text.partition(":")
    try:
        raw = bytes.fromhex(host)
        number = int(port, 16)
    except ValueError:
        return None
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(struct.pack("<I", struct.unpack(">I", raw)[0]))), number
    if len(raw) == 16:
        words = struct.unpack(">4I", raw)
        return str(ipaddress.IPv6Address(b"".join(struct.pack("<I", w) for w in words))), number
    return None


def _listening_inodes(ip: str, port: int, transport: str) -> set[str]:
    """Inodes of sockets bound to ``ip:port`` (or the wildcard of its family) for ``transport``."""
    stream = transport != "udp"
    version = ipaddress.ip_address(ip).version
    tables = ("tcp", "tcp6") if stream else ("udp", "udp6")
    wanted = {ipaddress.ip_address(ip), ipaddress.ip_address("::" if version == 6 else "0.0.0.0")}
    if version == 4:
        wanted |= {ipaddress.ip_address("::"), ipaddress.ip_address(f"::ffff:{ip}")}
    found: set[str] = set()
    for table in tables:
        try:
            with open(_PROC / "net" / table, encoding="ascii", errors="replace") as lines:
                next(lines, None)  # the header
                for number, line in enumerate(lines):
                    if number >= _MAX_LINES:
                        break
                    fields = line.split()
                    if len(fields) < 10 or (stream and fields[3] != _TCP_LISTEN):
                        continue
                    local = _hex_address(fields[1])
                    if local is None or local[1] != port:
                        continue
                    if ipaddress.ip_address(local[0]) in wanted:
                        found.add(fields[9])
        except OSError:
            continue
    return found - {"0"}


def process_listening(ip: str, port: int, transport: str) -> LocalProcess | None:
    """The process holding the socket that listens on ``ip:port`` over ``transport`` on this machine; None
    when the address is not local, the socket is not found or its process cannot be seen."""
    if not is_local_address(ip):
        return None
    inodes = _listening_inodes(ip, port, transport)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    seen = 0
    try:
        entries = list(os.scandir(_PROC))
    except OSError:
        return None
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            fds = list(os.scandir(f"{entry.path}/fd"))
        except OSError:
            continue
        for fd in fds:
            seen += 1
            if seen > _MAX_FDS:
                return None
            try:
                if os.readlink(fd.path) in targets:
                    return LocalProcess(int(entry.name), _comm(int(entry.name)))
            except OSError:
                continue
    return None


def _comm(pid: int) -> str:
    try:
        text = (_PROC / str(pid) / "comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "?"
    return "".join(ch for ch in text[:32] if ch.isprintable())


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (every thread), or None."""
    try:
        text = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: fields start after the last ")".
    rest = text[text.rfind(")") + 2:].split()
    try:
        ticks = int(rest[11]) + int(rest[12])  # fields 14 (utime) and 15 (stime)
    except (IndexError, ValueError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")
