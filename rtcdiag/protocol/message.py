"""The STUN message: header + an ordered list of raw attributes (RFC 8489 §5, §14).

Attributes are kept exactly as received, in order, duplicates and unknown types included; typed values are
decoded lazily by :meth:`Message.get` through the table in :mod:`rtcdiag.protocol.attributes`.
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import NamedTuple, TypeVar

from rtcdiag.protocol.attributes import CODECS, AttrValue, ErrorCode, pack_value, unpack_value
from rtcdiag.protocol.constants import (
    FINGERPRINT_XOR,
    HEADER_LENGTH,
    MAGIC_COOKIE,
    MAGIC_COOKIE_BYTES,
    AttrType,
    MessageClass,
    Method,
)
from rtcdiag.protocol.errors import MessageTooLargeError, StunParseError
from rtcdiag.protocol.integrity import hmac_digest as _hmac_digest

_HEADER = struct.Struct("!HHI12s")
_HEADER_PACK = _HEADER.pack
_HEADER_UNPACK = _HEADER.unpack_from
_LEGACY_HEADER_PACK = struct.Struct("!HH16s").pack
_ATTR_HEAD = struct.Struct("!HH")
_ATTR_HEAD_PACK = _ATTR_HEAD.pack
_ATTR_HEAD_UNPACK = _ATTR_HEAD.unpack_from
_MI_HEAD = _ATTR_HEAD_PACK(AttrType.MESSAGE_INTEGRITY, 20)
_MI_SHA256_HEAD = _ATTR_HEAD_PACK(AttrType.MESSAGE_INTEGRITY_SHA256, 32)
_FP_HEAD = _ATTR_HEAD_PACK(AttrType.FINGERPRINT, 4)
_OPEN: frozenset[int] = frozenset()  # falsy: every attribute is read
# Which attributes still count after each of these (RFC 8489 §14.5-§14.7); never empty, so truthy.
_AFTER: dict[int, frozenset[int]] = {
    AttrType.MESSAGE_INTEGRITY: frozenset({AttrType.MESSAGE_INTEGRITY_SHA256, AttrType.FINGERPRINT}),
    AttrType.MESSAGE_INTEGRITY_SHA256: frozenset({AttrType.FINGERPRINT}),
    AttrType.FINGERPRINT: frozenset({-1}),  # nothing (no attribute type is -1)
}
_MAX_TYPE = 0x3FFF
_CLASSES = (MessageClass.REQUEST, MessageClass.INDICATION, MessageClass.SUCCESS, MessageClass.ERROR)
_PAD = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")  # indexed by length % 4
_crc32 = zlib.crc32
_new_raw = tuple.__new__
_new_message = object.__new__
_CODECS_GET = CODECS.get

T = TypeVar("T")


class RawAttribute(NamedTuple):
    """One attribute exactly as on the wire: type code and value bytes (without padding)."""

    type: int
    value: bytes


def message_type(method: int, msg_class: int) -> int:
    """Interleave 12 method bits and 2 class bits into the 14-bit message type (RFC 8489 §5, Figure 3)."""
    return (
        (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((msg_class & 0b01) << 4)
        | ((msg_class & 0b10) << 7)
    )


def split_message_type(msg_type: int) -> tuple[int, int]:
    """The inverse of :func:`message_type`: ``(method, class)``."""
    method = (msg_type & 0x000F) | ((msg_type & 0x00E0) >> 1) | ((msg_type & 0x3E00) >> 2)
    msg_class = ((msg_type >> 4) & 0b01) | ((msg_type >> 7) & 0b10)
    return method, msg_class


# Lookup tables for the hot paths (precomputed bit interleaving, RFC 8489 §5; message_type inlined: this
# runs at every start of the command line).
_METHOD_OBJECTS: list[int] = list(range(0x1000))
for _member in Method:
    _METHOD_OBJECTS[_member] = _member
_METHOD_BITS: list[int] = [(_m & 0x000F) | ((_m & 0x0070) << 1) | ((_m & 0x0F80) << 2)
                           for _m in range(0x1000)]
_CLASS_BITS: tuple[int, ...] = tuple(message_type(0, _c) for _c in range(4))
_SPLIT_CACHE: dict[int, tuple[int, MessageClass]] = {}


def _split_cached(msg_type: int) -> tuple[int, MessageClass]:
    """``(method, class)`` objects for a wire message type, memoised (at most 16384 entries)."""
    hit = _SPLIT_CACHE.get(msg_type)
    if hit is None:
        method, msg_class = split_message_type(msg_type)
        hit = _SPLIT_CACHE[msg_type] = (_METHOD_OBJECTS[method], _CLASSES[msg_class])
    return hit


def _header_problem(msg_type: int, length: int, size: int) -> str:
    if msg_type > _MAX_TYPE:
        return "first two bits are not 00: not a STUN message"
    if length + HEADER_LENGTH != size:
        return f"length field {length} does not match {size - HEADER_LENGTH} bytes of body"
    return f"length field {length} is not a multiple of 4"


def is_stun(data: bytes) -> bool:
    """Cheap check (no attribute walk): top bits 00, magic cookie, length field matches, multiple of 4."""
    return (
        len(data) >= HEADER_LENGTH
        and not data[0] & 0xC0
        and data[4:8] == MAGIC_COOKIE_BYTES
        and (data[2] << 8 | data[3]) + HEADER_LENGTH == len(data)
        and not data[3] & 0x03
    )


def _checked_type(method: int, msg_class: int) -> tuple[int, MessageClass]:
    """``(method, class)`` for values that are not yet a Method and a MessageClass (raises ValueError)."""
    if method.__class__ is not Method:
        if not 0 <= method <= 0xFFF:
            raise ValueError(f"method 0x{method:x} does not fit in 12 bits")
        method = _METHOD_OBJECTS[method]
    return method, msg_class if msg_class.__class__ is MessageClass else MessageClass(msg_class)


class Message:
    """A STUN message.

    ``Message(Method.BINDING, MessageClass.REQUEST)`` gets a random 12-byte transaction id. ``method`` is a
    :class:`Method` when registered, else a plain int (it still round-trips). ``legacy`` marks an RFC 3489
    message without the magic cookie; its ``transaction_id`` is then the full 16 bytes.
    """

    __slots__ = ("attributes", "legacy", "method", "msg_class", "transaction_id")

    def __init__(
        self,
        method: int,
        msg_class: MessageClass,
        transaction_id: bytes | None = None,
        attributes: list[RawAttribute] | None = None,
        *,
        legacy: bool = False,
    ) -> None:
        if transaction_id is None:
            transaction_id = os.urandom(16 if legacy else 12)
        elif len(transaction_id) != (16 if legacy else 12):
            raise ValueError(f"transaction id must be {16 if legacy else 12} bytes")
        if method.__class__ is not Method or msg_class.__class__ is not MessageClass:
            method, msg_class = _checked_type(method, msg_class)  # registered values need no checks
        self.method: int = method
        self.msg_class: MessageClass = msg_class
        self.transaction_id: bytes = transaction_id
        self.attributes: list[RawAttribute] = [] if attributes is None else attributes
        self.legacy: bool = legacy

    # --- decoding ---

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview, *, allow_legacy: bool = True) -> Message:
        """Parse one whole message (strict: RFC 8489 §5/§14 header, length, attribute padding).

        Without the magic cookie the message is taken as RFC 3489 (``legacy=True``) unless ``allow_legacy``
        is False. Raises :class:`StunParseError` (and nothing else) for any bad input.
        """
        if data.__class__ is not bytes:
            data = bytes(data)
        size = len(data)
        if size < HEADER_LENGTH:
            raise StunParseError(f"too short for a STUN header ({size} bytes)")
        msg_type, length, cookie, txid = _HEADER_UNPACK(data)
        if msg_type > _MAX_TYPE or length + HEADER_LENGTH != size or length & 3:
            raise StunParseError(_header_problem(msg_type, length, size))
        legacy = cookie != MAGIC_COOKIE
        if legacy:
            if not allow_legacy:
                raise StunParseError("no magic cookie (RFC 3489 message)")
            txid = data[4:20]
        attributes: list[RawAttribute] = []
        if length:
            append = attributes.append
            pos = HEADER_LENGTH
            closed: frozenset[int] = _OPEN  # the types still read (after an integrity attribute: fewer)
            while pos < size:
                try:
                    attr_type, attr_len = _ATTR_HEAD_UNPACK(data, pos)
                except struct.error:  # fewer than 4 bytes left
                    raise StunParseError(f"truncated attribute header at offset {pos}") from None
                start = pos + 4
                pos = start + attr_len
                if pos > size:
                    raise StunParseError(f"attribute 0x{attr_type:04X} overruns the message")
                if closed:
                    # RFC 8489 §14.5/§14.6/§14.7: after MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and
                    # FINGERPRINT count, after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT, after FINGERPRINT
                    # nothing: anything else there is ignored (still walked, so the length must add up).
                    if attr_type not in closed:
                        pos += -attr_len & 3
                        continue
                    closed = _AFTER.get(attr_type, closed)
                elif attr_type in _AFTER:
                    closed = _AFTER[attr_type]
                append(_new_raw(RawAttribute, (attr_type, data[start:pos])))
                pos += -attr_len & 3  # padding to a multiple of 4 (RFC 8489 §14); its value is ignored
            if pos != size:
                raise StunParseError("last attribute's padding overruns the message")
        msg = _new_message(cls)
        try:
            msg.method, msg.msg_class = _SPLIT_CACHE[msg_type]
        except KeyError:
            msg.method, msg.msg_class = _split_cached(msg_type)
        msg.transaction_id = txid
        msg.attributes = attributes
        msg.legacy = legacy
        return msg

    # --- attribute access ---

    @property
    def xor_key(self) -> bytes:
        """The 16 bytes XOR-address attributes are XOR'ed with: cookie + transaction id (RFC 8489 §14.2)."""
        return self.transaction_id if self.legacy else MAGIC_COOKIE_BYTES + self.transaction_id

    def add(self, attr_type: int, value: AttrValue) -> Message:
        """Append a typed attribute (packed now with this message's transaction id). Returns self.

        Raises ``TypeError`` for a value of the wrong type, ``ValueError`` for an unencodable one.
        """
        codec = _CODECS_GET(attr_type)
        if codec is None or value.__class__ is not codec.value_type:
            raw = pack_value(attr_type, value, self.xor_key)  # slow path: full type checks
        elif codec.xor:
            txid = self.transaction_id
            raw = codec.pack(value, txid if self.legacy else MAGIC_COOKIE_BYTES + txid)  # xor_key, inlined
        else:
            raw = codec.pack(value, b"")
        self.attributes.append(_new_raw(RawAttribute, (attr_type, raw)))
        return self

    def add_raw(self, attr_type: int, value: bytes) -> Message:
        """Append an attribute with exactly these value bytes (any type, even malformed). Returns self."""
        self.attributes.append(RawAttribute(attr_type, bytes(value)))
        return self

    def remove(self, attr_type: int) -> Message:
        """Drop every attribute of this type. Returns self."""
        self.attributes = [a for a in self.attributes if a.type != attr_type]
        return self

    def has(self, attr_type: int) -> bool:
        return any(a.type == attr_type for a in self.attributes)

    def get_raw(self, attr_type: int) -> bytes | None:
        """Value bytes of the first attribute of this type, or None."""
        for attr in self.attributes:
            if attr.type == attr_type:
                return attr.value
        return None

    def get(self, attr_type: int) -> AttrValue | None:
        """Typed value of the first attribute of this type (None if absent; raw bytes for unknown types).

        Raises :class:`StunParseError` if the attribute is malformed.
        """
        for attr in self.attributes:
            if attr[0] == attr_type:
                codec = _CODECS_GET(attr_type)
                if codec is None:
                    return attr[1]
                if codec.xor:
                    key = self.transaction_id if self.legacy else MAGIC_COOKIE_BYTES + self.transaction_id
                    try:
                        address: AttrValue = codec.unpack(attr[1], key)
                    except (StunParseError, ValueError, IndexError, struct.error):
                        return unpack_value(attr_type, attr[1], key)  # raises, naming the attribute
                    return address
                try:
                    value: AttrValue = codec.unpack(attr[1], b"")
                except (ValueError, IndexError, struct.error):
                    return unpack_value(attr_type, attr[1], b"")  # raises StunParseError naming the attribute
                return value
        return None

    def get_all(self, attr_type: int) -> list[AttrValue]:
        """Typed values of every attribute of this type, in wire order."""
        key = self.xor_key
        return [unpack_value(attr_type, a.value, key) for a in self.attributes if a.type == attr_type]

    def get_as(self, attr_type: int, value_type: type[T]) -> T | None:
        """Like :meth:`get` but typed for mypy: ``msg.get_as(AttrType.XOR_MAPPED_ADDRESS, Address)``.

        Raises :class:`StunParseError` if the attribute is malformed or decodes to another type.
        """
        value = self.get(attr_type)
        if value is None:
            return None
        if not isinstance(value, value_type):
            raise StunParseError(f"attribute 0x{attr_type:04X} is {type(value).__name__}, not {value_type}")
        return value

    def find(self, attr_type: int, value_type: type[T]) -> T | None:
        """Like :meth:`get_as`, but a malformed or mistyped attribute counts as absent (never raises).

        For probes reading a server's reply: the bad attribute stays visible, raw, in ``describe()``.
        """
        try:
            return self.get_as(attr_type, value_type)
        except StunParseError:
            return None

    @property
    def error(self) -> ErrorCode | None:
        """The ERROR-CODE value, or None (raises StunParseError if malformed)."""
        return self.get_as(AttrType.ERROR_CODE, ErrorCode)

    @property
    def error_code(self) -> int | None:
        """The numeric ERROR-CODE (e.g. 401), or None if absent or malformed."""
        try:
            error = self.error
        except StunParseError:
            return None
        return None if error is None else error.code

    # --- encoding ---

    def encode(
        self,
        *,
        integrity_key: bytes | None = None,
        integrity_sha256: bool = False,
        fingerprint: bool = False,
        pad_byte: int = 0,
    ) -> bytes:
        """Serialize. Adds MESSAGE-INTEGRITY (or -SHA256 when ``integrity_sha256``) keyed by ``integrity_key``
        and then FINGERPRINT after the listed attributes (RFC 8489 §14.5-§14.7); these are not added to
        ``self.attributes``. ``pad_byte`` fills attribute padding (0 per RFC 8489; RFC 5769 vectors use 0x20).
        """
        if not self.attributes and integrity_key is None and not fingerprint and not self.legacy:
            return _HEADER_PACK(_CLASS_BITS[self.msg_class] | _METHOD_BITS[self.method], 0, MAGIC_COOKIE,
                                self.transaction_id)  # a header alone (most requests)
        pads = _PAD if pad_byte == 0 else tuple(bytes((pad_byte,)) * (-n & 3) for n in range(4))
        if self.attributes:
            parts: list[bytes] = []
            append = parts.append
            for attr_type, value in self.attributes:
                n = len(value)
                append(_ATTR_HEAD_PACK(attr_type, n))
                append(value)
                if n & 3:
                    append(pads[n & 3])
            body = b"".join(parts)
        else:
            body = b""
        msg_type = _CLASS_BITS[self.msg_class] | _METHOD_BITS[self.method]
        body_len = len(body)
        total = body_len
        if integrity_key is not None:
            total += 36 if integrity_sha256 else 24
        if fingerprint:
            total += 8
        if total > 0xFFFF:
            raise MessageTooLargeError(f"message body of {total} bytes exceeds 65535 (RFC 8489 §5)")
        txid = self.transaction_id
        legacy = self.legacy
        if integrity_key is not None:
            # the MAC covers the header with the length ending at the integrity attribute (RFC 8489 §14.5)
            mi_len = body_len + (36 if integrity_sha256 else 24)
            head = (
                _LEGACY_HEADER_PACK(msg_type, mi_len, txid)
                if legacy
                else _HEADER_PACK(msg_type, mi_len, MAGIC_COOKIE, txid)
            )
            if integrity_sha256:
                body += _MI_SHA256_HEAD + _hmac_digest(integrity_key, head + body, "sha256")
            else:
                body += _MI_HEAD + _hmac_digest(integrity_key, head + body, "sha1")
        if legacy:
            data = _LEGACY_HEADER_PACK(msg_type, total, txid) + body
        else:
            data = _HEADER_PACK(msg_type, total, MAGIC_COOKIE, txid) + body
        if fingerprint:
            # CRC-32 of everything before FINGERPRINT, header length already final (RFC 8489 §14.7)
            data += _FP_HEAD + ((_crc32(data) ^ FINGERPRINT_XOR) & 0xFFFFFFFF).to_bytes(4, "big")
        return data

    def __bytes__(self) -> bytes:
        return self.encode()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (
            self.method == other.method
            and self.msg_class == other.msg_class
            and self.transaction_id == other.transaction_id
            and self.attributes == other.attributes
            and self.legacy == other.legacy
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        method = self.method.name if isinstance(self.method, Method) else f"0x{self.method:03x}"
        types = ", ".join(f"0x{a.type:04X}" for a in self.attributes)
        return (
            f"Message({method}, {self.msg_class.name}, txid={self.transaction_id.hex()}"
            f"{', legacy' if self.legacy else ''}, [{types}])"
        )
