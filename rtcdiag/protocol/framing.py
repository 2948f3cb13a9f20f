"""Telling STUN from ChannelData and cutting byte streams into frames, without the full codec.

- A STUN message starts with two zero bits, has a 20-byte header and a length field that counts the
  attribute bytes after the header, always a multiple of 4 (RFC 8489 §5).
- A ChannelData message starts with a channel number 0x4000-0x4FFF (0x5000-0x7FFF reserved), then a
  16-bit length of the application data (RFC 8656 §12.4).
- First-byte demultiplexing (RFC 7983 §7): 0-3 STUN, 20-63 (D)TLS, 64-79 TURN channel (ChannelData).
- Over TCP/TLS messages are framed by their length field (RFC 8489 §6.2.2) and ChannelData is padded to a
  multiple of 4 bytes; the padding is not counted in the length field (RFC 8656 §12.5).

The transaction id is bytes 8..20 of the header; matching on those bytes also matches RFC 3489 replies, whose
16-byte transaction id includes the bytes where the magic cookie now lives.
"""

from __future__ import annotations

import struct
from enum import StrEnum

HEADER_LENGTH = 20
CHANNEL_HEADER_LENGTH = 4
MAX_STUN_FRAME = HEADER_LENGTH + 0xFFFF  # the length field is 16 bits (RFC 8489 §5)
MAX_CHANNEL_FRAME = CHANNEL_HEADER_LENGTH + 0xFFFF + 3  # plus stream padding (RFC 8656 §12.4, §12.5)
MAX_FRAME = max(MAX_STUN_FRAME, MAX_CHANNEL_FRAME)
CHANNEL_MIN = 0x4000  # RFC 8656 §12
CHANNEL_MAX = 0x4FFF
_METHOD_MASK = 0x3EEF  # the 12 method bits of the message type (RFC 8489 §5: M11..M0 around C1, C0)


class FramingError(ValueError):
    """The bytes are neither a STUN message nor a ChannelData frame (or are cut short)."""


class FrameKind(StrEnum):
    STUN = "stun"
    CHANNEL_DATA = "channel-data"
    OTHER = "other"


class StunClass(StrEnum):
    """Message class from bits C1 (0x0100) and C0 (0x0010) of the type (RFC 8489 §5)."""

    REQUEST = "request"
    INDICATION = "indication"
    SUCCESS = "success"
    ERROR = "error"


_CLASS_BY_BITS = {0x000: StunClass.REQUEST, 0x010: StunClass.INDICATION,
                  0x100: StunClass.SUCCESS, 0x110: StunClass.ERROR}


def frame_kind(data: bytes) -> FrameKind:
    """Classify by the first byte (RFC 7983 §7): 0-3 STUN, 64-127 ChannelData (RFC 8656 §12), else other.

    (20-63 is DTLS/TLS: a TLS record such as 16 03 01 is not mistaken for STUN.)
    """
    if not data:
        return FrameKind.OTHER
    if data[0] <= 3:
        return FrameKind.STUN
    if data[0] >> 6 == 0b01:
        return FrameKind.CHANNEL_DATA
    return FrameKind.OTHER


def _looks_like_tls(head: bytes) -> bool:
    """A TLS record header: content type 20-23, version major 3 (RFC 8446 §5.1)."""
    return len(head) >= 2 and 20 <= head[0] <= 23 and head[1] == 3


def transaction_id(data: bytes) -> bytes | None:
    """Bytes 8..20 of a STUN header, or None when ``data`` cannot be a STUN message."""
    if len(data) < HEADER_LENGTH or frame_kind(data) is not FrameKind.STUN:
        return None
    return bytes(data[8:20])


def stun_class(data: bytes) -> StunClass | None:
    """The class of a STUN message (None if ``data`` is not STUN)."""
    if len(data) < HEADER_LENGTH or frame_kind(data) is not FrameKind.STUN:
        return None
    (msg_type,) = struct.unpack_from("!H", data, 0)
    return _CLASS_BY_BITS[msg_type & 0x0110]


def is_response(data: bytes) -> bool:
    return stun_class(data) in (StunClass.SUCCESS, StunClass.ERROR)


def datagram_problem(data: bytes) -> str | None:
    """Why a datagram is not a well-formed STUN message header-wise, or None if it looks fine.

    Checks only framing (RFC 8489 §5): size, leading bits, length field vs. datagram size, multiple of 4.
    """
    if frame_kind(data) is not FrameKind.STUN:
        return f"not a STUN message (first bytes {data[:4].hex(' ') or 'none'})"
    if len(data) < HEADER_LENGTH:
        return f"truncated STUN header ({len(data)} of 20 bytes)"
    (length,) = struct.unpack_from("!H", data, 2)
    if length % 4:
        return f"STUN length field {length} is not a multiple of 4"
    if HEADER_LENGTH + length > len(data):
        return f"truncated STUN message: header says {length} attribute bytes, {len(data) - 20} present"
    if HEADER_LENGTH + length < len(data):
        return f"{len(data) - 20 - length} stray bytes after the STUN message"
    return None


def stream_frame_size(buffer: bytes | bytearray, allow_channel_data: bool = True) -> int | None:
    """Total size (padding included) of the frame at the start of a stream buffer; None if more bytes needed.

    Raises FramingError when the first bytes cannot start a STUN or ChannelData frame; the error quotes the
    four bytes that decided it (always all there, however TCP cut the stream). A server sends
    ChannelData only on channels the client bound (RFC 8656 §12); before any ChannelBind,
    ``allow_channel_data=False`` makes such bytes (e.g. an HTTP reply: "HT" = 0x4854) a framing error.
    """
    if len(buffer) < CHANNEL_HEADER_LENGTH:
        return None
    first: int
    length: int
    first, length = struct.unpack_from("!HH", buffer, 0)
    kind = frame_kind(bytes(buffer[:1]))
    if kind is FrameKind.STUN:
        if length % 4:
            raise FramingError(f"not STUN: length field {length} is not a multiple of 4 "
                               f"(first bytes {bytes(buffer[:4]).hex(' ')})")
        if first & _METHOD_MASK == 0:
            # Method 0x000 is reserved (RFC 8489 §18.2): no server sends it. A stream of zero bytes would
            # otherwise cut into endless 20-byte "messages".
            raise FramingError(f"not STUN: reserved method 0x000 (first bytes {bytes(buffer[:4]).hex(' ')})")
        return HEADER_LENGTH + length
    if kind is FrameKind.CHANNEL_DATA:
        if not allow_channel_data:
            raise FramingError(f"not STUN, and ChannelData before any ChannelBind "
                               f"(first bytes {bytes(buffer[:4]).hex(' ')})")
        if first > CHANNEL_MAX:
            raise FramingError(f"not STUN or ChannelData: reserved channel number 0x{first:04x} "
                               f"(first bytes {bytes(buffer[:4]).hex(' ')})")
        return CHANNEL_HEADER_LENGTH + length + (-length % 4)  # RFC 8656 §12.5 padding on streams
    hint = " - this is TLS: the port expects turns:/stuns:" if _looks_like_tls(bytes(buffer[:2])) else ""
    raise FramingError(f"not STUN or ChannelData (first bytes {bytes(buffer[:4]).hex(' ')}){hint}")


def unpad_channel_data(frame: bytes) -> bytes:
    """Drop the stream padding of a ChannelData frame (its length field tells the real size)."""
    length: int = struct.unpack_from("!H", frame, 2)[0]
    return frame[:CHANNEL_HEADER_LENGTH + length]


def is_channel_bind_request(data: bytes) -> bool:
    """A ChannelBind request (method 0x009, class request: type 0x0009, RFC 8656 §11)."""
    return len(data) >= HEADER_LENGTH and data[:2] == b"\x00\x09"


def pad_for_stream(frame: bytes) -> bytes:
    """ChannelData sent over TCP/TLS is padded to a multiple of 4 (RFC 8656 §12.5); STUN already is."""
    if frame_kind(frame) is FrameKind.CHANNEL_DATA:
        return frame + b"\x00" * (-len(frame) % 4)
    return frame


class StreamDeframer:
    """Accumulates stream bytes and yields complete frames (ChannelData returned without its padding).

    Memory is bounded whatever the peer sends: a frame is at most ``MAX_FRAME`` bytes (its length field is
    16 bits), so after ``feed`` at most ``MAX_FRAME - 1`` bytes stay pending.

    What is delivered does not depend on how TCP cut the bytes: the frames complete before bytes that cannot
    frame are always returned, and the error is kept in ``error`` (raised by ``feed`` at once when no frame
    came before it, and by every later ``feed``).
    """

    def __init__(self, allow_channel_data: bool = True) -> None:
        self._buffer = bytearray()
        self.allow_channel_data = allow_channel_data  # set once the client sent a ChannelBind
        self.error: FramingError | None = None  # the stream cannot be framed from here on
        self.frames = 0  # complete frames delivered so far

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a complete frame."""
        return len(self._buffer)

    @property
    def expected(self) -> int | None:
        """Size of the frame being received, once its header says (None: not known yet, or none)."""
        try:
            return stream_frame_size(self._buffer, self.allow_channel_data) if self._buffer else None
        except FramingError:
            return None

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return every frame now complete.

        Raises FramingError on bytes that cannot frame when no complete frame precedes them in ``data``
        (otherwise the frames are returned and the error waits in ``error``).
        """
        if self.error is not None:
            raise self.error
        self._buffer += data
        frames: list[bytes] = []
        while True:
            try:
                size = stream_frame_size(self._buffer, self.allow_channel_data)
                if size is not None and size > MAX_FRAME:  # cannot happen with 16-bit lengths; a guard
                    raise FramingError(f"frame of {size} bytes exceeds the {MAX_FRAME}-byte maximum")
            except FramingError as err:
                self.error = err
                self._buffer.clear()  # nothing after bytes that cannot frame can be trusted or is kept
                if not frames:
                    raise
                return frames
            if size is None or len(self._buffer) < size:
                return frames
            frame = bytes(self._buffer[:size])
            del self._buffer[:size]
            if frame_kind(frame) is FrameKind.CHANNEL_DATA:
                frame = unpad_channel_data(frame)
            frames.append(frame)
            self.frames += 1
