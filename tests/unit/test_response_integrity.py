"""Trusting responses (RFC 8489 §9.2.5, §14.5-§14.8), on hand-built bytes and the RFC 5769 vectors.

- the decoder ignores attributes after MESSAGE-INTEGRITY (except MESSAGE-INTEGRITY-SHA256 and FINGERPRINT),
  after MESSAGE-INTEGRITY-SHA256 (except FINGERPRINT) and after FINGERPRINT;
- a reason phrase padded with NULs inside its value (coturn: ``Stale nonce\\x00``) is read without them;
- the probe's reply validator discards a response to an authenticated request without a valid
  MESSAGE-INTEGRITY, except the error responses a server cannot or must not sign (401, 438, 400, 420).
"""

from __future__ import annotations

import struct
import zlib

import pytest
from test_rfc5769 import IPV4_RESPONSE, SHORT_TERM_PASSWORD

from rtcdiag.probes.exchange import BAD_INTEGRITY, NO_INTEGRITY, _Unverified, _validator, needs_integrity
from rtcdiag.protocol import (
    AttrType,
    ErrorCode,
    Message,
    MessageClass,
    Method,
    StunParseError,
    verify_fingerprint,
    verify_message_integrity,
)
from rtcdiag.protocol.describe import summary
from rtcdiag.redact import unmark

TXID = bytes(range(12))
COOKIE = 0x2112A442


def _attr(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + bytes(-len(value) % 4)


def _message(msg_type: int, *attrs: bytes) -> bytes:
    body = b"".join(attrs)
    return struct.pack("!HHI", msg_type, len(body), COOKIE) + TXID + body


def _with_fingerprint(data: bytes) -> bytes:
    """``data`` + a correct FINGERPRINT (length field first set to include it, RFC 8489 §14.7)."""
    data = data[:2] + struct.pack("!H", len(data) - 20 + 8) + data[4:]
    return data + _attr(AttrType.FINGERPRINT, struct.pack("!I", (zlib.crc32(data) ^ 0x5354554E) & 0xFFFFFFFF))


# --- the decoder rule ---------------------------------------------------------------------------------------


def test_rfc5769_response_keeps_every_attribute() -> None:
    msg = Message.decode(IPV4_RESPONSE)
    assert [a.type for a in msg.attributes] == [AttrType.SOFTWARE, AttrType.XOR_MAPPED_ADDRESS,
                                                AttrType.MESSAGE_INTEGRITY, AttrType.FINGERPRINT]


def test_attribute_smuggled_after_message_integrity_is_ignored() -> None:
    """The RFC 5769 §2.2 response with a LIFETIME and a second SOFTWARE inserted after MESSAGE-INTEGRITY:
    the MAC still verifies (it covers what comes before it), and the decoder must not read what follows."""
    fingerprint_at = len(IPV4_RESPONSE) - 8
    tampered = IPV4_RESPONSE[:fingerprint_at] + _attr(AttrType.LIFETIME, struct.pack("!I", 0)) \
        + _attr(AttrType.SOFTWARE, b"evil")
    tampered = _with_fingerprint(tampered)
    assert verify_message_integrity(tampered, SHORT_TERM_PASSWORD) is True
    assert verify_fingerprint(tampered) is True
    msg = Message.decode(tampered)
    assert [a.type for a in msg.attributes] == [AttrType.SOFTWARE, AttrType.XOR_MAPPED_ADDRESS,
                                                AttrType.MESSAGE_INTEGRITY, AttrType.FINGERPRINT]
    assert msg.get(AttrType.LIFETIME) is None
    assert msg.get_all(AttrType.SOFTWARE) == ["test vector"]


@pytest.mark.parametrize(("types", "kept"), [
    # MESSAGE-INTEGRITY-SHA256 and FINGERPRINT may follow MESSAGE-INTEGRITY (§14.5)
    ([AttrType.MESSAGE_INTEGRITY, AttrType.MESSAGE_INTEGRITY_SHA256, AttrType.FINGERPRINT],
     [AttrType.MESSAGE_INTEGRITY, AttrType.MESSAGE_INTEGRITY_SHA256, AttrType.FINGERPRINT]),
    # only FINGERPRINT may follow MESSAGE-INTEGRITY-SHA256 (§14.6)
    ([AttrType.MESSAGE_INTEGRITY_SHA256, AttrType.MESSAGE_INTEGRITY, AttrType.REALM, AttrType.FINGERPRINT],
     [AttrType.MESSAGE_INTEGRITY_SHA256, AttrType.FINGERPRINT]),
    # nothing follows FINGERPRINT (§14.7)
    ([AttrType.SOFTWARE, AttrType.FINGERPRINT, AttrType.NONCE], [AttrType.SOFTWARE, AttrType.FINGERPRINT]),
    # a second MESSAGE-INTEGRITY is not read
    ([AttrType.MESSAGE_INTEGRITY, AttrType.MESSAGE_INTEGRITY, AttrType.FINGERPRINT],
     [AttrType.MESSAGE_INTEGRITY, AttrType.FINGERPRINT]),
], ids=["sha256-after-mi", "after-sha256", "after-fingerprint", "second-mi"])
def test_which_attributes_count_after_the_integrity_attributes(types: list[int], kept: list[int]) -> None:
    sizes = {AttrType.MESSAGE_INTEGRITY: 20, AttrType.MESSAGE_INTEGRITY_SHA256: 32, AttrType.FINGERPRINT: 4}
    data = _message(0x0101, *(_attr(t, bytes(sizes.get(t, 5))) for t in types))
    assert [a.type for a in Message.decode(data).attributes] == kept


def test_ignored_attributes_must_still_be_well_framed() -> None:
    data = _message(0x0101, _attr(AttrType.FINGERPRINT, bytes(4)), struct.pack("!HH", AttrType.NONCE, 40))
    with pytest.raises(StunParseError, match="overruns"):
        Message.decode(data)


# --- the reason phrase --------------------------------------------------------------------------------------


def test_reason_phrase_padding_inside_the_value_is_not_shown() -> None:
    """coturn writes ``Stale nonce`` plus a NUL inside the ERROR-CODE value (length 16, not 15)."""
    value = struct.pack("!HBB", 0, 4, 38) + b"Stale nonce\x00"
    msg = Message.decode(_message(0x0114, _attr(AttrType.ERROR_CODE, value)))
    assert msg.error == ErrorCode(438, "Stale nonce")
    assert unmark(summary(msg)) == "Refresh error response 438 Stale nonce"
    spaced = Message.decode(_message(0x0113, _attr(AttrType.ERROR_CODE, struct.pack("!HBB", 0, 4, 1)
                                                   + b"Unauthorized \x00\x00")))
    assert spaced.error == ErrorCode(401, "Unauthorized")


# --- the probe's validator ----------------------------------------------------------------------------------

KEY = b"the-long-term-key"


def _reply(msg_class: MessageClass, code: int | None = None, key: bytes | None = None) -> bytes:
    msg = Message(Method.ALLOCATE, msg_class, TXID)
    if code is not None:
        msg.add(AttrType.ERROR_CODE, ErrorCode(code, "x"))
    return msg.encode(integrity_key=key, fingerprint=True)


REQUEST = Message(Method.ALLOCATE, MessageClass.REQUEST, TXID)


@pytest.mark.parametrize(("reply", "problem"), [
    (_reply(MessageClass.SUCCESS, key=KEY), None),
    (_reply(MessageClass.SUCCESS), NO_INTEGRITY),
    (_reply(MessageClass.SUCCESS, key=b"another key"), BAD_INTEGRITY),
    (_reply(MessageClass.ERROR, 403, key=KEY), None),
    (_reply(MessageClass.ERROR, 403), NO_INTEGRITY),
    (_reply(MessageClass.ERROR, 486), NO_INTEGRITY),
    (_reply(MessageClass.ERROR, 401), None),  # the server could not authenticate us: cannot sign
    (_reply(MessageClass.ERROR, 438), None),  # a new nonce: must not sign with the old one (§9.2.4)
    (_reply(MessageClass.ERROR, 400), None),
    (_reply(MessageClass.ERROR, 420), None),
], ids=["signed-success", "unsigned-success", "wrong-key-success", "signed-403", "unsigned-403",
        "unsigned-486", "401", "438", "400", "420"])
def test_authenticated_request_needs_a_signed_response(reply: bytes, problem: str | None) -> None:
    unverified = _Unverified()
    decoded, validate = _validator(REQUEST, KEY, unverified)
    reason = validate(reply)
    if problem is None:
        assert reason is None and reply in decoded and unverified.count == 0
    else:
        assert reason is not None and problem in reason
        assert reply not in decoded and unverified.count == 1
        assert unverified.first == summary(Message.decode(reply))
        assert unverified.success is (Message.decode(reply).msg_class == MessageClass.SUCCESS)


def test_unauthenticated_request_takes_unsigned_responses() -> None:
    decoded, validate = _validator(REQUEST, None)
    assert validate(_reply(MessageClass.SUCCESS)) is None
    assert validate(_reply(MessageClass.ERROR, 401)) is None
    assert len(decoded) == 2


def test_needs_integrity_by_class_and_code() -> None:
    assert needs_integrity(Message.decode(_reply(MessageClass.SUCCESS)))
    assert needs_integrity(Message.decode(_reply(MessageClass.ERROR, 437)))
    assert not needs_integrity(Message.decode(_reply(MessageClass.ERROR, 438)))
