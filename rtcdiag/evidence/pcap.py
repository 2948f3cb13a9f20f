"""A streaming reader of pcap and pcapng files (libpcap format, IETF draft-ietf-opsawg-pcap /
draft-ietf-opsawg-pcapng): one packet at a time, read in 1 MiB chunks, flat memory whatever the file size.

Own reader rather than scapy's: scapy builds a layered object per packet (tens of microseconds each); here
a packet is (number, time, link type, bytes). Nothing in the file is trusted: every length is checked
against the bytes present and a bound; a file cut mid-packet (a capture stopped hard, a partial download)
yields every whole packet before the cut and sets :attr:`PacketReader.truncated`.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from enum import StrEnum
from typing import BinaryIO

CHUNK = 1 << 20
MAX_PACKET = 1 << 18  # 256 KiB: tcpdump's snaplen is 262144; bigger is a corrupt length field
MAX_BLOCK = MAX_PACKET + 4096  # a pcapng block: the packet, its header and options
MAX_INTERFACES = 1024

PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
               b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"  # Section Header Block type, a palindrome (pcapng §4.1)


class CaptureFormat(StrEnum):
    PCAP = "pcap"
    PCAPNG = "pcapng"


class CaptureError(ValueError):
    """The file is not a capture, or its header is damaged."""


def capture_format(head: bytes) -> CaptureFormat | None:
    """pcap or pcapng from the first bytes of a file, else None."""
    if head[:4] in PCAP_MAGICS:
        return CaptureFormat.PCAP
    if head[:4] == PCAPNG_SHB and head[8:12] in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
        return CaptureFormat.PCAPNG
    return None


# One packet: (number, time, linktype, data, wire length). A plain tuple: a million of them are made.
# number: 1-based, as Wireshark and tcpdump number them; time: seconds since the epoch; linktype: LINKTYPE_*
# (1 Ethernet, 113 Linux cooked, 276 cooked v2, 101 raw IP, 0 BSD loopback); data: the captured bytes
# (maybe fewer than on the wire: snaplen).
Packet = tuple[int, float, int, bytes, int]


class PacketReader:
    """Iterate a capture's packets; ``truncated``/``damage`` say why reading stopped early."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._read = getattr(handle, "read1", handle.read)
        self._buf = b""
        self._pos = 0
        self._eof = False
        self.truncated = False  # the file ends inside a packet or block
        self.damage = ""  # a length field that cannot be right: reading stopped there
        self.format: CaptureFormat | None = None
        self.packets = 0

    # ---- buffering: ``_need(n)`` makes ``n`` bytes available at ``self._pos`` (False at the end) ----
    def _need(self, n: int) -> bool:
        if len(self._buf) - self._pos >= n:
            return True
        if self._eof:
            return False
        rest = self._buf[self._pos:]
        while len(rest) < n and not self._eof:
            try:
                # read1: what one step gives, so a gzip stream cut short yields its data up to the cut
                chunk = self._read(max(CHUNK, n))
            except (EOFError, OSError, zlib.error) as exc:  # gzip cut short or damaged: stop there
                self.damage = self.damage or f"compressed data cut short or damaged ({exc})"
                chunk = b""
            if not chunk:
                self._eof = True
            rest += chunk
        self._buf, self._pos = rest, 0
        return len(rest) >= n

    def __iter__(self) -> Iterator[Packet]:
        if not self._need(12):
            raise CaptureError("too short for a capture header")
        fmt = capture_format(self._buf[:12])
        if fmt is None:
            raise CaptureError("not a pcap or pcapng file")
        self.format = fmt
        return self._pcap() if fmt is CaptureFormat.PCAP else self._pcapng()

    def _pcap(self) -> Iterator[Packet]:
        if not self._need(24):
            self.truncated = True
            return
        order, unit = PCAP_MAGICS[self._buf[:4]]
        (linktype,) = struct.unpack_from(order + "I", self._buf, 20)
        linktype &= 0x0FFFFFFF  # the top bits may carry the FCS length
        self._pos = 24
        record = struct.Struct(order + "IIII")
        number = 0
        while True:
            if not self._need(16):
                self.truncated = len(self._buf) > self._pos
                return
            sec, frac, incl, orig = record.unpack_from(self._buf, self._pos)
            if incl > MAX_PACKET:
                self.damage = f"packet {number + 1}: captured length {incl} is not plausible"
                return
            if not self._need(16 + incl):
                self.truncated = True
                return
            start = self._pos + 16
            number += 1
            self.packets = number
            self._pos = start + incl
            yield (number, sec + frac * unit, linktype, self._buf[start:start + incl], orig)

    def _pcapng(self) -> Iterator[Packet]:
        order = "<"
        interfaces: list[tuple[int, float]] = []  # (linktype, seconds per timestamp unit)
        number = 0
        while True:
            if not self._need(12):
                self.truncated = len(self._buf) > self._pos
                return
            head = self._buf[self._pos:self._pos + 12]
            if head[:4] == PCAPNG_SHB:  # a new section: its own byte order, its own interfaces
                order = "<" if head[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
                interfaces = []
            btype, blen = struct.unpack_from(order + "II", head, 0)
            if blen < 12 or blen % 4 or blen > MAX_BLOCK:
                self.damage = f"block after packet {number}: length {blen} is not plausible"
                return
            if not self._need(blen):
                self.truncated = True
                return
            block = self._buf[self._pos:self._pos + blen]
            self._pos += blen
            if btype == 1:  # Interface Description Block (pcapng §4.2)
                if len(interfaces) >= MAX_INTERFACES:
                    self.damage = "more than 1024 interfaces"
                    return
                (linktype,) = struct.unpack_from(order + "H", block, 8)
                interfaces.append((linktype, _tsresol(block[16:blen - 4], order)))
            elif btype in (6, 2):  # Enhanced Packet Block (§4.3), obsolete Packet Block (2)
                if blen < 32:
                    self.damage = f"packet {number + 1}: packet block of {blen} bytes"
                    return
                if btype == 6:
                    iface, hi, lo, incl, orig = struct.unpack_from(order + "IIIII", block, 8)
                else:
                    iface, _drops, hi, lo, incl, orig = struct.unpack_from(order + "HHIIII", block, 8)
                if iface >= len(interfaces) or 28 + incl > blen - 4:
                    self.damage = f"packet {number + 1}: unknown interface or length beyond its block"
                    return
                linktype, unit = interfaces[iface]
                number += 1
                self.packets = number
                yield (number, ((hi << 32) | lo) * unit, linktype, block[28:28 + incl], orig)
            elif btype == 3:  # Simple Packet Block (§4.4): no time, interface 0
                if not interfaces:
                    self.damage = "simple packet block before any interface"
                    return
                (orig,) = struct.unpack_from(order + "I", block, 8)
                number += 1
                self.packets = number
                data = block[12:min(blen - 4, 12 + orig)]
                yield (number, 0.0, interfaces[0][0], data, orig)
            # other blocks (name resolution, statistics, custom, SHB) carry no packet


def _tsresol(options: bytes, order: str) -> float:
    """The if_tsresol option (code 9) of an IDB: 10^-n or 2^-n seconds; microseconds by default."""
    pos = 0
    while pos + 4 <= len(options):
        code, length = struct.unpack_from(order + "HH", options, pos)
        if code == 0:
            break
        if code == 9 and length >= 1 and pos + 5 <= len(options):
            value = options[pos + 4]
            exponent = value & 0x7F
            if exponent > 30:
                break
            return 2.0 ** -exponent if value & 0x80 else 10.0 ** -exponent
        pos += 4 + length + (-length % 4)
    return 1e-6
