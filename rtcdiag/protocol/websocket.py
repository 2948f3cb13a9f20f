"""WebSocket bytes (RFC 6455) and the HTTP/1.1 heads around them: the client's opening handshake, the
``Sec-WebSocket-Accept`` it must get back, client frames (always masked) and a bounded parser of the server's
frames and of HTTP response heads (also a proxy's answer to ``CONNECT``, RFC 9110 §9.3.6).

No I/O here: :mod:`rtcdiag.probes.signal` owns the connection, so every proxy and TLS step is observed.
Everything that comes from the server is bounded (:data:`MAX_HEAD_BYTES`, :data:`MAX_HEADERS`, the parser's
``max_message``): a hostile server can only make the parser raise :class:`WebSocketError`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass, field
from enum import IntEnum

# RFC 6455 §1.3: the GUID concatenated to Sec-WebSocket-Key before SHA-1.
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WEBSOCKET_VERSION = "13"  # RFC 6455 §4.1 item 9
MAX_HEAD_BYTES = 16 * 1024  # an HTTP response head larger than this is not read further
MAX_HEADERS = 100
MAX_HEADER_TEXT = 512  # characters kept of one header value (the rest is cut, marked "...")
MAX_CONTROL_PAYLOAD = 125  # RFC 6455 §5.5


class WebSocketError(Exception):
    """The server's bytes break RFC 6455 or are not an HTTP response (the only error this module raises)."""


class Opcode(IntEnum):
    """RFC 6455 §5.2 / §11.8."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        return self >= 0x8


class CloseCode(IntEnum):
    """RFC 6455 §7.4.1 status codes that mean something to a diagnosis (others are shown as numbers)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005  # never sent: "the close frame had no code"
    ABNORMAL = 1006  # never sent: "no close frame at all"
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011


# --- the opening handshake (RFC 6455 §4.1, §4.2.2) --------------------------------------------------------


def new_key() -> str:
    """A fresh Sec-WebSocket-Key: 16 random bytes, base64 (RFC 6455 §4.1 item 7)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_for(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer ``key`` with (RFC 6455 §4.2.2 item 5.4)."""
    digest = hashlib.sha1(key.encode("ascii") + WEBSOCKET_GUID, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def host_header(host: str, port: int, default_port: int) -> str:
    """RFC 6455 §4.1 item 4 / RFC 9110 §7.2: ``host`` (IPv6 in brackets), ``:port`` unless the default."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return shown if port == default_port else f"{shown}:{port}"


def upgrade_request(target: str, host: str, key: str, *, origin: str | None = None,
                    protocols: tuple[str, ...] = (), headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """The client's opening handshake: ``GET target HTTP/1.1`` with Upgrade, Connection, the key and version
    (RFC 6455 §4.1 items 1-9), Origin when given (browsers always send it, §4.1 item 8), the subprotocols
    (§4.1 item 10) and any extra headers. No extension is offered (so the server may set no RSV bit)."""
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", f"Sec-WebSocket-Version: {WEBSOCKET_VERSION}"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    if protocols:
        lines.append(f"Sec-WebSocket-Protocol: {', '.join(protocols)}")
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def connect_request(host: str, port: int, *, authorization: str | None = None,
                    user_agent: str | None = None) -> bytes:
    """``CONNECT host:port HTTP/1.1`` for an HTTP proxy (RFC 9110 §9.3.6; RFC 6455 §4.1: a client behind a
    proxy asks it for a tunnel, for ws:// as for wss://)."""
    authority = host_header(host, port, default_port=-1)
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    if user_agent:
        lines.append(f"User-Agent: {user_agent}")
    if authorization:
        lines.append(f"Proxy-Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


# --- HTTP response heads ------------------------------------------------------------------------------


@dataclass
class ResponseHead:
    """An HTTP/1.x status line and header fields (names as sent, values cut to :data:`MAX_HEADER_TEXT`)."""

    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    headers_dropped: int = 0  # fields beyond MAX_HEADERS, not kept

    def get(self, name: str) -> str | None:
        """The first field named ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for k, v in self.headers if k.lower() == wanted]

    def tokens(self, name: str) -> list[str]:
        """The comma-separated tokens of every ``name`` field, lower case (``keep-alive, Upgrade``)."""
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()]

    @property
    def content_length(self) -> int | None:
        value = self.get("content-length")
        return int(value) if value is not None and value.strip().isdigit() else None


def head_end(buffer: bytes | bytearray) -> int:
    """The offset just past the blank line that ends an HTTP head in ``buffer``, or -1 (not complete yet).

    Raises :class:`WebSocketError` once ``buffer`` holds :data:`MAX_HEAD_BYTES` without a complete head."""
    end = bytes(buffer[:MAX_HEAD_BYTES + 4]).find(b"\r\n\r\n")
    if end >= 0:
        return end + 4
    if len(buffer) >= MAX_HEAD_BYTES:
        raise WebSocketError(f"no end of the HTTP head within {MAX_HEAD_BYTES} bytes")
    return -1


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")  # RFC 9110 §5.5: field values are octets; show every byte as one char


def _cut(text: str) -> str:
    return text if len(text) <= MAX_HEADER_TEXT else text[:MAX_HEADER_TEXT] + "..."


def parse_head(raw: bytes) -> ResponseHead:
    """Parse ``HTTP/1.x STATUS REASON`` and its header fields (RFC 9112 §4, §5); :class:`WebSocketError`
    when the bytes are not an HTTP/1.x response."""
    lines = raw.split(b"\r\n")
    status_line = lines[0]
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3:
        shown = _cut(_text(status_line[:80]))
        raise WebSocketError(f"not an HTTP/1.x response: {shown!r}")
    head = ResponseHead(version=_text(parts[0]), status=int(parts[1]),
                        reason=_cut(_text(parts[2])) if len(parts) > 2 else "")
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise WebSocketError(f"malformed HTTP header line: {_cut(_text(line[:80]))!r}")
        if len(head.headers) >= MAX_HEADERS:
            head.headers_dropped += 1
            continue
        head.headers.append((_text(name), _cut(_text(value.strip()))))
    return head


# --- frames (RFC 6455 §5) -----------------------------------------------------------------------------


def client_frame(opcode: Opcode, payload: bytes = b"", *, fin: bool = True, mask_key: bytes | None = None,
                 ) -> bytes:
    """One client frame: FIN, opcode, the MASK bit set and the payload masked (RFC 6455 §5.2, §5.3)."""
    key = os.urandom(4) if mask_key is None else mask_key
    first = (0x80 if fin else 0) | int(opcode)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    return header + key + mask(payload, key)


def mask(payload: bytes, key: bytes) -> bytes:
    """RFC 6455 §5.3: XOR with the 4-byte key, repeated (its own inverse)."""
    if not payload:
        return b""
    repeated = (key * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(payload), "big")


def close_payload(code: CloseCode | int, reason: str = "") -> bytes:
    """RFC 6455 §5.5.1: a 2-byte status code, then a UTF-8 reason (the whole under 126 bytes)."""
    return struct.pack("!H", int(code)) + reason.encode("utf-8")[:123]


@dataclass(frozen=True)
class Close:
    """A close frame's body: the code (1005 when it had none) and reason (RFC 6455 §5.5.1, §7.1.5)."""

    code: int
    reason: str = ""


def parse_close(payload: bytes) -> Close:
    if not payload:
        return Close(int(CloseCode.NO_STATUS))
    if len(payload) == 1:
        raise WebSocketError("close frame with a 1-byte body (RFC 6455 §5.5.1: the code is 2 bytes)")
    code = struct.unpack("!H", payload[:2])[0]
    return Close(code, payload[2:].decode("utf-8", errors="replace"))


@dataclass(frozen=True)
class Frame:
    """A whole message (continuations joined) or one control frame, as the server sent it."""

    opcode: Opcode
    payload: bytes


class FrameParser:
    """Server frames from a byte stream, messages reassembled; every limit of RFC 6455 §5 enforced.

    ``max_message`` bounds one message (and so the buffer): a longer one raises :class:`WebSocketError`
    before it is buffered. Server frames must not be masked (§5.1), control frames must be whole and at most
    125 bytes (§5.5), no RSV bit without a negotiated extension (§5.2), a continuation only after a
    fragment and no new data frame inside one (§5.4).
    """

    def __init__(self, max_message: int) -> None:
        self.max_message = max_message
        self._buffer = bytearray()
        self._fragments: list[bytes] | None = None
        self._fragment_opcode = Opcode.TEXT
        self._fragment_size = 0
        self.frames_seen = 0

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        out: list[Frame] = []
        while True:
            frame = self._next()
            if frame is None:
                return out
            out.append(frame)

    def _next(self) -> Frame | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        first, second = buf[0], buf[1]
        fin, rsv, raw_opcode = bool(first & 0x80), first & 0x70, first & 0x0F
        masked, length = bool(second & 0x80), second & 0x7F
        offset = 2
        if rsv:
            raise WebSocketError(f"frame with RSV bits {rsv >> 4:03b} set, no extension negotiated "
                                 "(RFC 6455 §5.2)")
        try:
            opcode = Opcode(raw_opcode)
        except ValueError:
            raise WebSocketError(f"reserved opcode 0x{raw_opcode:X} (RFC 6455 §5.2)") from None
        if masked:
            raise WebSocketError("the server masked a frame (RFC 6455 §5.1: a client must close)")
        if length == 126:
            if len(buf) < 4:
                return None
            length, offset = struct.unpack("!H", buf[2:4])[0], 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length, offset = struct.unpack("!Q", buf[2:10])[0], 10
        if opcode.is_control and (length > MAX_CONTROL_PAYLOAD or not fin):
            raise WebSocketError(f"control frame {opcode.name} of {length} bytes, fin={fin} (RFC 6455 §5.5: "
                                 "at most 125 bytes, never fragmented)")
        so_far = self._fragment_size if opcode is Opcode.CONTINUATION else 0
        if so_far + length > self.max_message:
            raise WebSocketError(f"a message of more than {self.max_message} bytes (the limit of this probe)")
        if len(buf) < offset + length:
            return None
        payload = bytes(buf[offset:offset + length])
        del buf[:offset + length]
        self.frames_seen += 1
        return self._assemble(opcode, fin, payload)

    def _assemble(self, opcode: Opcode, fin: bool, payload: bytes) -> Frame | None:
        if opcode.is_control:
            return Frame(opcode, payload)
        if opcode is Opcode.CONTINUATION:
            if self._fragments is None:
                raise WebSocketError("continuation frame without a message to continue (RFC 6455 §5.4)")
            self._fragments.append(payload)
            self._fragment_size += len(payload)
            if not fin:
                return None
            whole = b"".join(self._fragments)
            self._fragments, self._fragment_size = None, 0
            return Frame(self._fragment_opcode, whole)
        if self._fragments is not None:
            raise WebSocketError("a new data frame inside a fragmented message (RFC 6455 §5.4)")
        if fin:
            return Frame(opcode, payload)
        self._fragments, self._fragment_opcode, self._fragment_size = [payload], opcode, len(payload)
        return None
