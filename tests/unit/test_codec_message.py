"""Message framing strictness, integrity (SHA-1/SHA-256) placement rules, ChannelData, describe/summary."""

from __future__ import annotations

import pytest

from rtcdiag.protocol import (
    Address,
    AttrType,
    ChannelData,
    ErrorCode,
    Message,
    MessageClass,
    Method,
    RequestedTransport,
    StunParseError,
    UnknownAttributes,
    is_channeldata,
    is_stun,
    verify_fingerprint,
    verify_message_integrity,
)
from rtcdiag.protocol.describe import REDACTED, AttributeView, describe, summary
from rtcdiag.redact import echo, unmark

TXID = bytes(range(12))


def _binding(*attrs: tuple[int, bytes]) -> bytes:
    msg = Message(Method.BINDING, MessageClass.REQUEST, TXID)
    for attr_type, value in attrs:
        msg.add_raw(attr_type, value)
    return msg.encode()


GOOD = _binding((AttrType.SOFTWARE, b"abc"))


def _mutate(index: int, value: int) -> bytes:
    buf = bytearray(GOOD)
    buf[index] = value
    return bytes(buf)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "too short"),
        (GOOD[:19], "too short"),
        (GOOD[:-1], "length field"),
        (GOOD + b"\0\0\0\0", "length field"),  # trailing bytes beyond the length field
        (_mutate(0, 0x80), "first two bits"),
        (_mutate(3, GOOD[3] + 1), "length field"),
        (GOOD[:2] + b"\x00\x06" + GOOD[4:26], "multiple of 4"),
        (_mutate(23, 0x09), "overruns"),  # SOFTWARE length 9 > remaining 8
        (GOOD[:2] + b"\x00\x04" + GOOD[4:20] + b"\x80\x22\x00\x04", "overruns"),
    ],
)
def test_bad_framing_is_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(StunParseError, match=reason):
        Message.decode(data)
    if reason != "overruns":  # is_stun is header-only by design; it does not walk attributes
        assert not is_stun(data)


def test_is_stun_accepts_good_and_rejects_channeldata_and_legacy() -> None:
    assert is_stun(GOOD)
    assert not is_stun(ChannelData(0x4000, b"1234").encode())
    assert not is_stun(GOOD[:4] + b"\0\0\0\0" + GOOD[8:])  # no cookie: legacy, not "is_stun"


def test_decode_accepts_bytearray_and_memoryview() -> None:
    assert Message.decode(bytearray(GOOD)) == Message.decode(memoryview(GOOD)) == Message.decode(GOOD)


@pytest.mark.parametrize("sha256", [False, True])
def test_integrity_sha1_and_sha256_verify_and_detect_wrong_key(sha256: bool) -> None:
    msg = Message(Method.ALLOCATE, MessageClass.REQUEST, TXID)
    msg.add(AttrType.REQUESTED_TRANSPORT, RequestedTransport(17)).add(AttrType.USERNAME, "alice")
    data = msg.encode(integrity_key=b"k" * 16, integrity_sha256=sha256, fingerprint=True)
    expected = AttrType.MESSAGE_INTEGRITY_SHA256 if sha256 else AttrType.MESSAGE_INTEGRITY
    assert [a.type for a in Message.decode(data).attributes][-2:] == [expected, AttrType.FINGERPRINT]
    assert len(Message.decode(data).get_raw(expected) or b"") == (32 if sha256 else 20)
    assert verify_message_integrity(data, b"k" * 16) is True
    assert verify_message_integrity(data, b"x" * 16) is False
    assert verify_fingerprint(data) is True


def test_integrity_absent_is_none() -> None:
    assert verify_message_integrity(GOOD, b"k") is None
    assert verify_fingerprint(GOOD) is None


def test_attributes_after_integrity_do_not_break_it() -> None:
    # RFC 8489 §14.5: attributes following MESSAGE-INTEGRITY are ignored by the check.
    signed = Message.decode(Message(Method.BINDING, MessageClass.REQUEST, TXID).encode(integrity_key=b"key"))
    signed.add(AttrType.SOFTWARE, "added after MI")
    assert verify_message_integrity(signed.encode(), b"key") is True


def test_fingerprint_not_last_is_invalid() -> None:
    msg = Message.decode(Message(Method.BINDING, MessageClass.REQUEST, TXID).encode(fingerprint=True))
    msg.add(AttrType.SOFTWARE, "after FINGERPRINT")
    assert verify_fingerprint(msg.encode()) is False


def test_truncated_sha256_integrity_verifies() -> None:
    # §14.6: MESSAGE-INTEGRITY-SHA256 may be truncated to 16..32 bytes (multiple of 4).
    from rtcdiag.protocol.integrity import hmac_sha256

    msg = Message(Method.BINDING, MessageClass.REQUEST, TXID)
    prefix = msg.encode()
    mac = hmac_sha256(prefix, b"key", 16)
    data = msg.add_raw(AttrType.MESSAGE_INTEGRITY_SHA256, mac).encode()
    assert verify_message_integrity(data, b"key") is True
    assert verify_message_integrity(data, b"other") is False


def test_verifiers_raise_stun_parse_error_on_garbage() -> None:
    with pytest.raises(StunParseError):
        verify_message_integrity(b"\x00\x01\x00", b"k")
    with pytest.raises(StunParseError):
        verify_fingerprint(GOOD[:-1])


# --- ChannelData (RFC 8656 §12) ---


def test_channeldata_wire_form_and_padding() -> None:
    assert ChannelData(0x4001, b"hello").encode() == bytes.fromhex("40010005") + b"hello"
    padded = ChannelData(0x4001, b"hello").encode(pad=True)
    assert padded == bytes.fromhex("40010005") + b"hello" + b"\0\0\0"
    assert ChannelData.decode(padded) == ChannelData(0x4001, b"hello")
    assert ChannelData.frame_length(padded[:4]) == 12


@pytest.mark.parametrize(
    "data",
    [
        b"\x40\x00\x00",  # shorter than the header
        bytes.fromhex("3fff0000"),  # channel below 0x4000
        bytes.fromhex("50000000"),  # reserved range
        bytes.fromhex("40000005") + b"abc",  # length beyond the data
        bytes.fromhex("40000001") + b"a" + bytes(7),  # trailing bytes beyond padding
    ],
)
def test_channeldata_rejects_bad_frames(data: bytes) -> None:
    with pytest.raises(StunParseError):
        ChannelData.decode(data)


def test_channeldata_encode_rejects_bad_channel() -> None:
    with pytest.raises(ValueError):
        ChannelData(0x3FFF, b"").encode()
    assert not is_channeldata(GOOD)
    assert is_channeldata(bytes.fromhex("4fff0000"))


# --- describe / summary ---


def test_describe_shows_every_attribute_in_order_and_redacts_secrets() -> None:
    msg = Message(Method.ALLOCATE, MessageClass.ERROR, TXID)
    msg.add(AttrType.ERROR_CODE, ErrorCode(401, "Unauthorized"))
    msg.add(AttrType.REALM, "example.org")
    msg.add(AttrType.USERHASH, bytes(range(32)))
    msg.add(AttrType.ACCESS_TOKEN, b"opaque-token-bytes")
    msg.add(AttrType.UNKNOWN_ATTRIBUTES, UnknownAttributes((0x0031,)))
    msg.add_raw(0xC057, b"\x00\x01\x00\x0a")
    msg.add_raw(AttrType.LIFETIME, b"\x01")  # malformed
    msg.add(AttrType.XOR_MAPPED_ADDRESS, Address.of("2001:db8::1", 443))
    data = msg.encode(integrity_key=b"secret-key", fingerprint=True)
    views = describe(Message.decode(data))
    assert all(isinstance(v, AttributeView) for v in views)
    # The sender's own text (reason phrase, REALM) is marked as outside text: masked there, and only there.
    assert (views[0].value, views[1].value) == ("401 " + echo("Unauthorized"), echo("'example.org'"))
    assert [(v.name, unmark(v.value)) for v in views] == [
        ("ERROR-CODE", "401 Unauthorized"),
        ("REALM", "'example.org'"),
        ("USERHASH", REDACTED),
        ("ACCESS-TOKEN", REDACTED),
        ("UNKNOWN-ATTRIBUTES", "0x0031"),
        ("0xC057", "0001000a"),
        ("LIFETIME", "malformed: LIFETIME: 32-bit attribute: bad value length 1"),
        ("XOR-MAPPED-ADDRESS", "[2001:db8::1]:443"),
        ("MESSAGE-INTEGRITY", REDACTED),
        ("FINGERPRINT", views[-1].value),
    ]
    assert views[-1].value.startswith("0x") and len(views[-1].value) == 10
    mi = Message.decode(data).get_raw(AttrType.MESSAGE_INTEGRITY) or b""
    text = repr(views)
    assert mi.hex() not in text and bytes(range(32)).hex() not in text and "opaque-token" not in text
    assert views[0].raw_hex == "00000401" + b"Unauthorized".hex()


@pytest.mark.parametrize(
    ("msg", "expected"),
    [
        (Message(Method.BINDING, MessageClass.REQUEST), "Binding request"),
        (Message(Method.BINDING, MessageClass.SUCCESS, legacy=True), "Binding success response (RFC 3489)"),
        (
            Message(Method.ALLOCATE, MessageClass.ERROR).add(AttrType.ERROR_CODE, ErrorCode(401, "Unauth")),
            "Allocate error response 401 Unauth",
        ),
        (
            Message(Method.CREATE_PERMISSION, MessageClass.ERROR).add(AttrType.ERROR_CODE, ErrorCode(403)),
            "CreatePermission error response 403 Forbidden",
        ),
        (Message(Method.DATA, MessageClass.INDICATION), "Data indication"),
        (Message(Method.CONNECTION_BIND, MessageClass.SUCCESS), "ConnectionBind success response"),
        (Message(0x05A, MessageClass.REQUEST), "Method 0x05a request"),
        (
            Message(Method.REFRESH, MessageClass.ERROR).add_raw(AttrType.ERROR_CODE, b"\x00"),
            "Refresh error response (malformed ERROR-CODE)",
        ),
    ],
)
def test_summary(msg: Message, expected: str) -> None:
    assert unmark(summary(msg)) == expected


def test_find_treats_malformed_or_mistyped_attributes_as_absent() -> None:
    from rtcdiag.protocol import Address, AttrType, Message, MessageClass, Method, StunParseError

    msg = Message(Method.BINDING, MessageClass.SUCCESS)
    msg.add_raw(AttrType.XOR_MAPPED_ADDRESS, b"\x00\x01\x00")  # 3 bytes: not an address (RFC 8489 §14.2)
    msg.add(AttrType.SOFTWARE, "coturn")
    decoded = Message.decode(msg.encode())
    with pytest.raises(StunParseError):
        decoded.get_as(AttrType.XOR_MAPPED_ADDRESS, Address)
    assert decoded.find(AttrType.XOR_MAPPED_ADDRESS, Address) is None
    assert decoded.find(AttrType.SOFTWARE, str) == "coturn"
    assert decoded.find(AttrType.SOFTWARE, Address) is None  # another type: absent, not an error
    assert decoded.find(AttrType.REALM, str) is None
