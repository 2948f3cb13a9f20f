"""RFC 5769 test vectors: decode, verify MESSAGE-INTEGRITY and FINGERPRINT, re-encode byte-exact.

The vectors (RFC 5769 §2.1-§2.4, (c) IETF Trust, Simplified BSD) pad SOFTWARE/USERNAME with 0x20 in §2.1-§2.3
and with 0x00 in §2.4; re-encoding uses the same pad byte so the MACs and CRCs must come out identical.
"""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from rtcdiag.protocol import (
    Address,
    AttrType,
    Message,
    MessageClass,
    Method,
    long_term_key,
    saslprep,
    verify_fingerprint,
    verify_message_integrity,
)


def _hex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


SHORT_TERM_PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"
TXID = _hex("b7 e7 a7 01 bc 34 d6 86 fa 87 df ae")

# §2.1 Sample Request
REQUEST = _hex("""
00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
00 24 00 04 6e 00 01 ff
80 29 00 08 93 2f f9 b1 51 26 3b 36
00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
80 28 00 04 e5 7a 3b cf
""")

# §2.2 Sample IPv4 Response
IPV4_RESPONSE = _hex("""
01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
00 20 00 08 00 01 a1 47 e1 12 a6 43
00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
80 28 00 04 c0 7d 4c 96
""")

# §2.3 Sample IPv6 Response
IPV6_RESPONSE = _hex("""
01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
80 28 00 04 c8 fb 0b 4c
""")

# §2.4 Sample Request with Long-Term Authentication
LONG_TERM_REQUEST = _hex("""
00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66
""")
LT_USERNAME = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9"  # マトリックス
LT_PASSWORD_RAW = "The\u00adM\u00aatr\u2168"  # SASLprep -> "TheMatrIX"
LT_NONCE = "f//499k954d6OL34oL9FSTvy64sA"
LT_REALM = "example.org"


def _reencode(msg: Message, key: bytes, pad_byte: int, fingerprint: bool = True) -> bytes:
    """Re-encode without the vector's own MI/FINGERPRINT, letting the encoder compute them."""
    body = [a for a in msg.attributes if a.type not in (AttrType.MESSAGE_INTEGRITY, AttrType.FINGERPRINT)]
    again = Message(msg.method, msg.msg_class, msg.transaction_id, body)
    return again.encode(integrity_key=key, fingerprint=fingerprint, pad_byte=pad_byte)


def test_2_1_sample_request() -> None:
    msg = Message.decode(REQUEST)
    assert (msg.method, msg.msg_class, msg.transaction_id, msg.legacy) == (
        Method.BINDING,
        MessageClass.REQUEST,
        TXID,
        False,
    )
    assert [a.type for a in msg.attributes] == [
        AttrType.SOFTWARE,
        AttrType.PRIORITY,
        AttrType.ICE_CONTROLLED,
        AttrType.USERNAME,
        AttrType.MESSAGE_INTEGRITY,
        AttrType.FINGERPRINT,
    ]
    assert msg.get(AttrType.SOFTWARE) == "STUN test client"
    assert msg.get(AttrType.PRIORITY) == 0x6E0001FF
    assert msg.get(AttrType.ICE_CONTROLLED) == 0x932FF9B151263B36
    assert msg.get(AttrType.USERNAME) == "evtj:h6vY"
    assert verify_message_integrity(REQUEST, SHORT_TERM_PASSWORD) is True
    assert verify_message_integrity(REQUEST, b"wrong password") is False
    assert verify_fingerprint(REQUEST) is True
    assert _reencode(msg, SHORT_TERM_PASSWORD, pad_byte=0x20) == REQUEST


def test_2_1_built_from_typed_values_is_byte_exact() -> None:
    msg = Message(Method.BINDING, MessageClass.REQUEST, TXID)
    msg.add(AttrType.SOFTWARE, "STUN test client")
    msg.add(AttrType.PRIORITY, 0x6E0001FF)
    msg.add(AttrType.ICE_CONTROLLED, 0x932FF9B151263B36)
    msg.add(AttrType.USERNAME, "evtj:h6vY")
    assert msg.encode(integrity_key=SHORT_TERM_PASSWORD, fingerprint=True, pad_byte=0x20) == REQUEST


@pytest.mark.parametrize(
    ("vector", "expected"),
    [
        (IPV4_RESPONSE, Address(ip_address("192.0.2.1"), 32853)),
        (IPV6_RESPONSE, Address(ip_address("2001:db8:1234:5678:11:2233:4455:6677"), 32853)),
    ],
    ids=["2.2-ipv4", "2.3-ipv6"],
)
def test_2_2_and_2_3_sample_responses(vector: bytes, expected: Address) -> None:
    msg = Message.decode(vector)
    assert (msg.method, msg.msg_class, msg.transaction_id) == (Method.BINDING, MessageClass.SUCCESS, TXID)
    assert msg.get(AttrType.SOFTWARE) == "test vector"
    assert msg.get_as(AttrType.XOR_MAPPED_ADDRESS, Address) == expected
    assert verify_message_integrity(vector, SHORT_TERM_PASSWORD) is True
    assert verify_fingerprint(vector) is True
    assert _reencode(msg, SHORT_TERM_PASSWORD, pad_byte=0x20) == vector
    # and built from the typed address, the XOR'ed bytes match the vector
    built = Message(Method.BINDING, MessageClass.SUCCESS, TXID)
    built.add(AttrType.SOFTWARE, "test vector").add(AttrType.XOR_MAPPED_ADDRESS, expected)
    assert built.encode(integrity_key=SHORT_TERM_PASSWORD, fingerprint=True, pad_byte=0x20) == vector


def test_2_4_long_term_authentication() -> None:
    assert saslprep(LT_PASSWORD_RAW) == "TheMatrIX"
    key = long_term_key(LT_USERNAME, LT_REALM, LT_PASSWORD_RAW)
    assert key == long_term_key(LT_USERNAME, LT_REALM, "TheMatrIX")
    msg = Message.decode(LONG_TERM_REQUEST)
    assert msg.transaction_id == _hex("78 ad 34 33 c6 ad 72 c0 29 da 41 2e")
    assert msg.get(AttrType.USERNAME) == LT_USERNAME
    assert msg.get(AttrType.NONCE) == LT_NONCE
    assert msg.get(AttrType.REALM) == LT_REALM
    assert verify_message_integrity(LONG_TERM_REQUEST, key) is True
    wrong_key = long_term_key(LT_USERNAME, LT_REALM, "thematrix")
    assert verify_message_integrity(LONG_TERM_REQUEST, wrong_key) is False
    assert verify_fingerprint(LONG_TERM_REQUEST) is None  # the vector has no FINGERPRINT
    built = Message(Method.BINDING, MessageClass.REQUEST, msg.transaction_id)
    built.add(AttrType.USERNAME, LT_USERNAME).add(AttrType.NONCE, LT_NONCE).add(AttrType.REALM, LT_REALM)
    assert built.encode(integrity_key=key) == LONG_TERM_REQUEST


@pytest.mark.parametrize("vector", [REQUEST, IPV4_RESPONSE, IPV6_RESPONSE, LONG_TERM_REQUEST])
def test_every_vector_reencodes_unchanged_from_its_raw_attributes(vector: bytes) -> None:
    pad = 0x00 if vector is LONG_TERM_REQUEST else 0x20
    assert Message.decode(vector).encode(pad_byte=pad) == vector


@pytest.mark.parametrize("offset", [21, 30, 45, 60])
def test_a_flipped_bit_breaks_integrity_and_fingerprint(offset: int) -> None:
    tampered = bytearray(REQUEST)
    tampered[offset] ^= 0x01
    assert verify_message_integrity(bytes(tampered), SHORT_TERM_PASSWORD) is False
    assert verify_fingerprint(bytes(tampered)) is False
