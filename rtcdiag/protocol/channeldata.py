"""TURN ChannelData messages (RFC 8656 §12.4): 2-byte channel number, 2-byte length, application data."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rtcdiag.protocol.constants import CHANNEL_MAX, CHANNEL_MIN
from rtcdiag.protocol.errors import StunParseError

_HEAD = struct.Struct("!HH")


@dataclass(frozen=True, slots=True)
class ChannelData:
    """One ChannelData message. ``channel`` must be 0x4000-0x4FFF (RFC 8656 §12)."""

    channel: int
    data: bytes

    def encode(self, pad: bool = False) -> bytes:
        """Wire bytes; ``pad`` pads to a multiple of 4, required over TCP/TLS (RFC 8656 §12.5)."""
        if not CHANNEL_MIN <= self.channel <= CHANNEL_MAX:
            raise ValueError(f"channel 0x{self.channel:04X} outside 0x4000-0x4FFF")
        if len(self.data) > 0xFFFF:
            raise ValueError("ChannelData payload exceeds 65535 bytes")
        out = _HEAD.pack(self.channel, len(self.data)) + self.data
        return out + b"\x00" * (-len(out) % 4) if pad else out

    @classmethod
    def decode(cls, data: bytes) -> ChannelData:
        """Parse one ChannelData message; trailing bytes beyond the 4-byte padding are an error.

        Raises :class:`StunParseError` only.
        """
        if len(data) < 4:
            raise StunParseError("ChannelData shorter than its 4-byte header")
        channel, length = _HEAD.unpack_from(data)
        if not CHANNEL_MIN <= channel <= CHANNEL_MAX:
            raise StunParseError(f"channel number 0x{channel:04X} outside 0x4000-0x4FFF")
        end = 4 + length
        if end > len(data):
            raise StunParseError(f"ChannelData length {length} exceeds the {len(data) - 4} bytes present")
        if len(data) - end > (-end % 4):
            raise StunParseError("ChannelData has trailing bytes beyond its padding")
        return cls(channel, bytes(data[4:end]))

    @staticmethod
    def frame_length(header: bytes) -> int:
        """Total bytes (with stream padding) of the ChannelData message starting with this 4-byte header."""
        length = int(_HEAD.unpack_from(header)[1]) + 4
        return length + (-length % 4)


def is_channeldata(data: bytes) -> bool:
    """Cheap demultiplexing check: first two bits 01 and a valid channel number (RFC 8656 §12, §18)."""
    return len(data) >= 4 and 0x40 <= data[0] <= 0x4F
