"""Every typed attribute round-trips; wire forms match the RFC figures; malformed values raise
StunParseError."""

from __future__ import annotations

import pytest

from rtcdiag.protocol import (
    Address,
    AddressErrorCode,
    AttrType,
    ChangeRequest,
    ErrorCode,
    EvenPort,
    Icmp,
    Message,
    MessageClass,
    Method,
    PasswordAlgorithmEntry,
    PasswordAlgorithms,
    RawAttribute,
    RequestedAddressFamily,
    RequestedTransport,
    ResponsePort,
    StunParseError,
    TransactionTransmitCounter,
    UnknownAttributes,
)
from rtcdiag.protocol.attributes import CODECS, AttrValue

TXID = bytes(range(1, 13))
V4 = Address.of("192.0.2.1", 32853)
V6 = Address.of("2001:db8::7", 3478)

# One (type, value) sample per table row; the test below checks every row of CODECS is covered.
SAMPLES: list[tuple[AttrType, AttrValue]] = [
    (AttrType.MAPPED_ADDRESS, V4),
    (AttrType.MAPPED_ADDRESS, V6),
    (AttrType.RESPONSE_ADDRESS, V4),
    (AttrType.CHANGE_REQUEST, ChangeRequest(change_ip=True, change_port=False)),
    (AttrType.CHANGE_REQUEST, ChangeRequest(change_ip=False, change_port=True)),
    (AttrType.SOURCE_ADDRESS, V4),
    (AttrType.CHANGED_ADDRESS, V6),
    (AttrType.USERNAME, "alice"),
    (AttrType.PASSWORD, b"legacy-secret"),
    (AttrType.MESSAGE_INTEGRITY, bytes(range(20))),
    (AttrType.ERROR_CODE, ErrorCode(438, "Stale Nonce")),
    (AttrType.ERROR_CODE, ErrorCode(300, "")),
    (AttrType.UNKNOWN_ATTRIBUTES, UnknownAttributes((0x0031, 0x7FFF, 0x0002))),
    (AttrType.REFLECTED_FROM, V4),
    (AttrType.CHANNEL_NUMBER, 0x4001),
    (AttrType.LIFETIME, 600),
    (AttrType.BANDWIDTH, 64),
    (AttrType.XOR_PEER_ADDRESS, V4),
    (AttrType.XOR_PEER_ADDRESS, V6),
    (AttrType.DATA, b"\x00\x01hello"),
    (AttrType.REALM, "example.org"),
    (AttrType.NONCE, "f//499k954d6OL34oL9FSTvy64sA"),
    (AttrType.XOR_RELAYED_ADDRESS, V6),
    (AttrType.REQUESTED_ADDRESS_FAMILY, RequestedAddressFamily(2)),
    (AttrType.EVEN_PORT, EvenPort(reserve=True)),
    (AttrType.EVEN_PORT, EvenPort(reserve=False)),
    (AttrType.REQUESTED_TRANSPORT, RequestedTransport(17)),
    (AttrType.DONT_FRAGMENT, True),
    (AttrType.ACCESS_TOKEN, b"\x00\x04noncSEALED"),
    (AttrType.MESSAGE_INTEGRITY_SHA256, bytes(range(32))),
    (AttrType.MESSAGE_INTEGRITY_SHA256, bytes(range(16))),
    (AttrType.PASSWORD_ALGORITHM, PasswordAlgorithmEntry(2)),
    (AttrType.USERHASH, bytes(range(32))),
    (AttrType.XOR_MAPPED_ADDRESS, V4),
    (AttrType.TIMER_VAL, 5),
    (AttrType.RESERVATION_TOKEN, b"12345678"),
    (AttrType.PRIORITY, 0x6E0001FF),
    (AttrType.USE_CANDIDATE, True),
    (AttrType.PADDING, b"\x00" * 13),
    (AttrType.RESPONSE_PORT, ResponsePort(5000, 4)),
    (AttrType.RESPONSE_PORT, ResponsePort(5000, 2)),
    (AttrType.CONNECTION_ID, 0xDEADBEEF),
    (AttrType.ADDITIONAL_ADDRESS_FAMILY, RequestedAddressFamily(2)),
    (AttrType.ADDRESS_ERROR_CODE, AddressErrorCode(2, 440, "Address Family not Supported")),
    (
        AttrType.PASSWORD_ALGORITHMS,
        PasswordAlgorithms(
            (PasswordAlgorithmEntry(2), PasswordAlgorithmEntry(1), PasswordAlgorithmEntry(9, b"xyz"))
        ),
    ),
    (AttrType.ALTERNATE_DOMAIN, "turn.example.org"),
    (AttrType.ICMP, Icmp(3, 1, 0x01020304)),
    (AttrType.SOFTWARE, "rtcdiag 1.0 \u2603"),
    (AttrType.ALTERNATE_SERVER, V6),
    (AttrType.TRANSACTION_TRANSMIT_COUNTER, TransactionTransmitCounter(3, 1)),
    (AttrType.CACHE_TIMEOUT, 120),
    (AttrType.FINGERPRINT, 0xE57A3BCF),
    (AttrType.ICE_CONTROLLED, 0x932FF9B151263B36),
    (AttrType.ICE_CONTROLLING, 2**64 - 1),
    (AttrType.RESPONSE_ORIGIN, V4),
    (AttrType.OTHER_ADDRESS, V4),
    (AttrType.ECN_CHECK, 0x80000000),
    (AttrType.THIRD_PARTY_AUTHORIZATION, "https://auth.example.org"),
    (AttrType.MOBILITY_TICKET, b"\xaa" * 40),
]


def test_every_table_row_has_a_sample() -> None:
    assert {t for t, _ in SAMPLES} == set(CODECS)


@pytest.mark.parametrize(("attr_type", "value"), SAMPLES, ids=lambda x: getattr(x, "name", None))
def test_typed_value_round_trips_through_the_wire(attr_type: AttrType, value: AttrValue) -> None:
    msg = Message(Method.ALLOCATE, MessageClass.SUCCESS, TXID).add(attr_type, value)
    data = msg.encode()
    assert len(data) % 4 == 0
    decoded = Message.decode(data)
    assert decoded.get(attr_type) == value
    assert decoded.get_all(attr_type) == [value]
    assert decoded == msg


def test_xor_mapped_address_wire_form_rfc5769() -> None:
    # RFC 5769 §2.2: 192.0.2.1:32853 with cookie 0x2112A442 -> 00 01 a1 47 e1 12 a6 43
    msg = Message(Method.BINDING, MessageClass.SUCCESS, TXID).add(AttrType.XOR_MAPPED_ADDRESS, V4)
    assert msg.attributes[0].value == bytes.fromhex("0001a147e112a643")


def test_ipv6_xor_uses_the_transaction_id() -> None:
    a = Message(Method.BINDING, MessageClass.SUCCESS, TXID).add(AttrType.XOR_MAPPED_ADDRESS, V6)
    b = Message(Method.BINDING, MessageClass.SUCCESS, bytes(12)).add(AttrType.XOR_MAPPED_ADDRESS, V6)
    assert a.attributes[0].value[:8] == b.attributes[0].value[:8]  # family, port, cookie part
    assert a.attributes[0].value[8:] != b.attributes[0].value[8:]  # the txid part differs
    assert Message.decode(a.encode()).get(AttrType.XOR_MAPPED_ADDRESS) == V6


@pytest.mark.parametrize(
    ("attr_type", "value", "wire"),
    [
        (AttrType.ERROR_CODE, ErrorCode(401, "Unauthorized"), "00000401" + b"Unauthorized".hex()),
        (AttrType.ERROR_CODE, ErrorCode(508), "00000508"),
        (AttrType.CHANGE_REQUEST, ChangeRequest(True, True), "00000006"),
        (AttrType.REQUESTED_TRANSPORT, RequestedTransport(17), "11000000"),
        (AttrType.CHANNEL_NUMBER, 0x4000, "40000000"),
        (AttrType.EVEN_PORT, EvenPort(True), "80"),
        (AttrType.RESPONSE_PORT, ResponsePort(0x1388, 4), "13880000"),
        (AttrType.RESPONSE_PORT, ResponsePort(0x1388, 2), "1388"),
        (AttrType.UNKNOWN_ATTRIBUTES, UnknownAttributes((0x1234, 0x0031)), "12340031"),
        (AttrType.PASSWORD_ALGORITHMS, PasswordAlgorithms((PasswordAlgorithmEntry(2),)), "00020000"),
        (AttrType.PASSWORD_ALGORITHM, PasswordAlgorithmEntry(1, b"ab"), "00010002" + "61620000"),
        (AttrType.ADDRESS_ERROR_CODE, AddressErrorCode(1, 440), "01000428"),
        (AttrType.ICMP, Icmp(3, 13, 7), "0000030d00000007"),
        (AttrType.MAPPED_ADDRESS, Address.of("10.0.0.1", 80), "000100500a000001"),
    ],
)
def test_wire_forms_match_rfc_figures(attr_type: int, value: AttrValue, wire: str) -> None:
    msg = Message(Method.BINDING, MessageClass.REQUEST, TXID).add(attr_type, value)
    assert msg.attributes[0].value.hex() == wire


def test_response_port_forms_from_stuntman_and_coturn_both_decode() -> None:
    two = Message(Method.BINDING, MessageClass.REQUEST, TXID).add_raw(AttrType.RESPONSE_PORT, b"\x13\x88")
    four = Message(Method.BINDING, MessageClass.REQUEST, TXID)
    four.add_raw(AttrType.RESPONSE_PORT, b"\x13\x88\0\0")
    assert Message.decode(two.encode()).get(AttrType.RESPONSE_PORT) == ResponsePort(5000, 2)
    assert Message.decode(four.encode()).get(AttrType.RESPONSE_PORT) == ResponsePort(5000, 4)


def test_duplicate_and_unknown_attributes_survive_in_order() -> None:
    msg = Message(Method.BINDING, MessageClass.SUCCESS, TXID)
    msg.add(AttrType.SOFTWARE, "one")
    msg.add_raw(0xC057, b"\x00\x01\x00\x0a")  # GOOG-NETWORK-INFO, unknown here
    msg.add(AttrType.SOFTWARE, "two")
    msg.add_raw(0x7FF0, b"xyz")  # unknown comprehension-required type
    msg.add(AttrType.XOR_MAPPED_ADDRESS, V4)
    msg.add(AttrType.XOR_MAPPED_ADDRESS, V6)
    data = msg.encode(fingerprint=True)
    decoded = Message.decode(data)
    assert [a.type for a in decoded.attributes] == [
        AttrType.SOFTWARE, 0xC057, AttrType.SOFTWARE, 0x7FF0, AttrType.XOR_MAPPED_ADDRESS,
        AttrType.XOR_MAPPED_ADDRESS, AttrType.FINGERPRINT,
    ]  # fmt: skip
    assert decoded.get(AttrType.SOFTWARE) == "one"
    assert decoded.get_all(AttrType.SOFTWARE) == ["one", "two"]
    assert decoded.get(0xC057) == b"\x00\x01\x00\x0a"
    assert decoded.get(0x7FF0) == b"xyz"
    assert decoded.get_all(AttrType.XOR_MAPPED_ADDRESS) == [V4, V6]
    assert decoded.encode() == data  # FINGERPRINT is now a listed attribute: byte-identical


def test_rfc3489_legacy_message_without_cookie() -> None:
    # RFC 3489 §11.1: 16-byte transaction id, no magic cookie; MAPPED/CHANGED/SOURCE-ADDRESS.
    legacy_id = bytes.fromhex("00112233445566778899aabbccddeeff")
    data = (
        bytes.fromhex("0101") + (36).to_bytes(2, "big") + legacy_id
        + bytes.fromhex("00010008" "0001" "1f90" "c6336401")  # MAPPED-ADDRESS 198.51.100.1:8080
        + bytes.fromhex("00040008" "0001" "0d96" "c0000202")  # SOURCE-ADDRESS 192.0.2.2:3478
        + bytes.fromhex("00050008" "0001" "0d97" "c0000203")  # CHANGED-ADDRESS 192.0.2.3:3479
    )  # fmt: skip
    msg = Message.decode(data)
    assert msg.legacy is True
    assert msg.transaction_id == legacy_id
    assert (msg.method, msg.msg_class) == (Method.BINDING, MessageClass.SUCCESS)
    assert msg.get(AttrType.MAPPED_ADDRESS) == Address.of("198.51.100.1", 8080)
    assert msg.get(AttrType.SOURCE_ADDRESS) == Address.of("192.0.2.2", 3478)
    assert msg.get(AttrType.CHANGED_ADDRESS) == Address.of("192.0.2.3", 3479)
    assert msg.get(AttrType.XOR_MAPPED_ADDRESS) is None
    assert msg.encode() == data
    with pytest.raises(StunParseError, match="magic cookie"):
        Message.decode(data, allow_legacy=False)


def test_legacy_message_built_and_reparsed() -> None:
    msg = Message(Method.BINDING, MessageClass.REQUEST, legacy=True)
    assert len(msg.transaction_id) == 16
    msg.add(AttrType.CHANGE_REQUEST, ChangeRequest(change_ip=True, change_port=True))
    again = Message.decode(msg.encode())
    assert again.legacy and again == msg


@pytest.mark.parametrize(
    ("attr_type", "raw"),
    [
        (AttrType.XOR_MAPPED_ADDRESS, b"\x00\x01\x00\x00\x01\x02\x03"),  # IPv4 needs 8 bytes
        (AttrType.MAPPED_ADDRESS, b"\x00\x03" + bytes(6)),  # family 3
        (AttrType.MAPPED_ADDRESS, b"\x00\x02" + bytes(6)),  # IPv6 family with IPv4 length
        (AttrType.ERROR_CODE, b"\x00\x00\x04"),
        (AttrType.ERROR_CODE, b"\x00\x00\x04\x64"),  # number 100 > 99
        (AttrType.LIFETIME, b"\x00\x01"),
        (AttrType.USERNAME, b"\xff\xfe"),  # not UTF-8
        (AttrType.UNKNOWN_ATTRIBUTES, b"\x00\x01\x00"),
        (AttrType.EVEN_PORT, b"\x80\x00"),
        (AttrType.DONT_FRAGMENT, b"\x00"),
        (AttrType.RESPONSE_PORT, b"\x13\x88\x00"),
        (AttrType.PASSWORD_ALGORITHMS, b"\x00\x01\x00\x08abc"),
        (AttrType.MESSAGE_INTEGRITY, bytes(19)),
        (AttrType.ICE_CONTROLLING, bytes(7)),
    ],
)
def test_malformed_values_raise_stun_parse_error(attr_type: AttrType, raw: bytes) -> None:
    msg = Message.decode(Message(Method.BINDING, MessageClass.REQUEST, TXID).add_raw(attr_type, raw).encode())
    assert msg.attributes == [RawAttribute(attr_type, raw)]  # the message itself still decodes
    with pytest.raises(StunParseError):
        msg.get(attr_type)


def test_get_as_checks_the_type() -> None:
    msg = Message(Method.BINDING, MessageClass.SUCCESS, TXID).add(AttrType.XOR_MAPPED_ADDRESS, V4)
    assert msg.get_as(AttrType.XOR_MAPPED_ADDRESS, Address) == V4
    assert msg.get_as(AttrType.OTHER_ADDRESS, Address) is None
    with pytest.raises(StunParseError):
        msg.get_as(AttrType.XOR_MAPPED_ADDRESS, str)


def test_error_code_convenience() -> None:
    msg = Message(Method.ALLOCATE, MessageClass.ERROR, TXID).add(AttrType.ERROR_CODE, ErrorCode(441, "Wrong"))
    assert msg.error_code == 441
    assert msg.error == ErrorCode(441, "Wrong")
    broken = Message(Method.ALLOCATE, MessageClass.ERROR, TXID).add_raw(AttrType.ERROR_CODE, b"\x00")
    assert broken.error_code is None
    assert Message(Method.BINDING, MessageClass.SUCCESS).error_code is None


def test_pack_rejects_wrong_value_types() -> None:
    msg = Message(Method.BINDING, MessageClass.REQUEST, TXID)
    with pytest.raises(TypeError):
        msg.add(AttrType.LIFETIME, "600")
    with pytest.raises(TypeError):
        msg.add(AttrType.LIFETIME, True)
    with pytest.raises(TypeError):
        msg.add(0xC057, "not bytes")
    with pytest.raises(ValueError):
        msg.add(AttrType.ERROR_CODE, ErrorCode(200))


@pytest.mark.parametrize(
    ("method", "msg_class", "wire_type"),
    [
        (Method.BINDING, MessageClass.REQUEST, 0x0001),
        (Method.BINDING, MessageClass.SUCCESS, 0x0101),
        (Method.BINDING, MessageClass.ERROR, 0x0111),
        (Method.ALLOCATE, MessageClass.ERROR, 0x0113),
        (Method.SEND, MessageClass.INDICATION, 0x0016),
        (Method.DATA, MessageClass.INDICATION, 0x0017),
        (Method.CONNECT, MessageClass.REQUEST, 0x000A),
        (Method.CONNECTION_ATTEMPT, MessageClass.INDICATION, 0x001C),
        (0xFFF, MessageClass.ERROR, 0x3FFF),
        (0x05A, MessageClass.REQUEST, 0x00AA),
    ],
)
def test_method_and_class_bits(method: int, msg_class: MessageClass, wire_type: int) -> None:
    data = Message(method, msg_class, TXID).encode()
    assert int.from_bytes(data[:2], "big") == wire_type
    decoded = Message.decode(data)
    assert (decoded.method, decoded.msg_class) == (method, msg_class)


def test_unregistered_method_stays_an_int() -> None:
    decoded = Message.decode(Message(0x05A, MessageClass.REQUEST, TXID).encode())
    assert decoded.method == 0x05A and not isinstance(decoded.method, Method)
    assert isinstance(Message.decode(Message(3, MessageClass.REQUEST, TXID).encode()).method, Method)


def test_remove_has_and_get_raw() -> None:
    msg = Message(Method.BINDING, MessageClass.REQUEST, TXID)
    msg.add(AttrType.SOFTWARE, "x").add(AttrType.LIFETIME, 1)
    assert msg.has(AttrType.SOFTWARE) and msg.get_raw(AttrType.LIFETIME) == b"\0\0\0\1"
    msg.remove(AttrType.SOFTWARE)
    assert not msg.has(AttrType.SOFTWARE) and msg.get_raw(AttrType.SOFTWARE) is None


def test_constructor_validates() -> None:
    with pytest.raises(ValueError):
        Message(Method.BINDING, MessageClass.REQUEST, b"short")
    with pytest.raises(ValueError):
        Message(0x1000, MessageClass.REQUEST)
    assert len(Message(Method.BINDING, MessageClass.REQUEST).transaction_id) == 12
    assert Message(1, MessageClass.REQUEST).transaction_id != Message(1, MessageClass.REQUEST).transaction_id
