"""MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT: computing them and checking them on raw bytes.

RFC 8489 §14.5 (HMAC-SHA1), §14.6 (HMAC-SHA256), §14.7 (CRC-32 ^ 0x5354554E). Each covers the header with
its length field set as if the attribute were the last one, plus every attribute before it.
"""

from __future__ import annotations

import hmac
import struct
import zlib

from rtcdiag.protocol.constants import FINGERPRINT_XOR, HEADER_LENGTH, AttrType
from rtcdiag.protocol.errors import StunParseError

_U16 = struct.Struct("!H")
_ATTR_HEAD = struct.Struct("!HH")
MI_SHA1_SIZE = 20
MI_SHA256_SIZE = 32
FINGERPRINT_SIZE = 4


def _with_length(prefix: bytes, length: int) -> bytes:
    """``prefix`` (header + attributes) with the header length field set to ``length``."""
    return prefix[:2] + _U16.pack(length) + prefix[4:]


def hmac_sha1(prefix: bytes, key: bytes) -> bytes:
    """MESSAGE-INTEGRITY value for a message whose bytes so far are ``prefix`` (§14.5)."""
    data = _with_length(prefix, len(prefix) - HEADER_LENGTH + 4 + MI_SHA1_SIZE)
    return hmac.digest(key, data, "sha1")


def hmac_sha256(prefix: bytes, key: bytes, size: int = MI_SHA256_SIZE) -> bytes:
    """MESSAGE-INTEGRITY-SHA256 value (§14.6), optionally truncated to ``size`` (16..32, multiple of 4)."""
    data = _with_length(prefix, len(prefix) - HEADER_LENGTH + 4 + size)
    return hmac.digest(key, data, "sha256")[:size]


def crc_fingerprint(prefix: bytes) -> int:
    """FINGERPRINT value for a message whose bytes so far are ``prefix`` (§14.7)."""
    data = _with_length(prefix, len(prefix) - HEADER_LENGTH + 4 + FINGERPRINT_SIZE)
    return (zlib.crc32(data) ^ FINGERPRINT_XOR) & 0xFFFFFFFF


def attribute_offsets(raw: bytes) -> list[tuple[int, int, int]]:
    """``(type, offset of the attribute header, value length)`` for every attribute of a STUN message.

    Raises :class:`StunParseError` if the bytes are not a well-formed message.
    """
    if len(raw) < HEADER_LENGTH or raw[0] & 0xC0:
        raise StunParseError("not a STUN message")
    end = HEADER_LENGTH + _U16.unpack_from(raw, 2)[0]
    if end != len(raw) or end % 4:
        raise StunParseError("STUN length field does not match the message size")
    out: list[tuple[int, int, int]] = []
    pos = HEADER_LENGTH
    while pos < end:
        if pos + 4 > end:
            raise StunParseError("truncated attribute header")
        attr_type, length = _ATTR_HEAD.unpack_from(raw, pos)
        if pos + 4 + length > end:
            raise StunParseError("attribute overruns the message")
        out.append((attr_type, pos, length))
        pos += 4 + length + (-length % 4)
    if pos != end:
        raise StunParseError("attribute padding overruns the message")
    return out


def verify_message_integrity(raw: bytes, key: bytes) -> bool | None:
    """Check MESSAGE-INTEGRITY and/or MESSAGE-INTEGRITY-SHA256 of raw message bytes against ``key``.

    Returns None if neither attribute is present, True if every one present verifies, else False.
    Attributes after an integrity attribute are ignored for its check (§14.5), e.g. FINGERPRINT.
    Raises :class:`StunParseError` for malformed bytes.
    """
    results: list[bool] = []
    seen: set[int] = set()
    for attr_type, offset, length in attribute_offsets(raw):
        if attr_type in seen:
            continue  # only the first of each counts (§14: later duplicates are ignored)
        if attr_type == AttrType.MESSAGE_INTEGRITY:
            seen.add(attr_type)
            got = raw[offset + 4 : offset + 4 + length]
            results.append(length == MI_SHA1_SIZE and hmac.compare_digest(got, hmac_sha1(raw[:offset], key)))
        elif attr_type == AttrType.MESSAGE_INTEGRITY_SHA256:
            seen.add(attr_type)
            got = raw[offset + 4 : offset + 4 + length]
            ok = 16 <= length <= 32 and length % 4 == 0
            results.append(ok and hmac.compare_digest(got, hmac_sha256(raw[:offset], key, length)))
    if not results:
        return None
    return all(results)


def verify_fingerprint(raw: bytes) -> bool | None:
    """Check FINGERPRINT of raw message bytes: None if absent, False if wrong or not the last attribute."""
    offsets = attribute_offsets(raw)
    for index, (attr_type, offset, length) in enumerate(offsets):
        if attr_type == AttrType.FINGERPRINT:
            if index != len(offsets) - 1 or length != FINGERPRINT_SIZE:
                return False  # §14.7: FINGERPRINT MUST be the last attribute
            got = int.from_bytes(raw[offset + 4 : offset + 8], "big")
            return got == crc_fingerprint(raw[:offset])
    return None
