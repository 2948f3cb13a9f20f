"""DTLS records read without keys (rtcdiag.evidence.dtls) and judged per call.

HAND-WRITTEN RECORDS, for the shapes no local peer sends: Chromium 156 always uses a 16-bit sequence number
and a length in its unified headers, no connection ID, no HelloRetryRequest between two Chromiums, no
KeyUpdate within a short call; and a DTLS 1.2 session ended by an encrypted alert (close_notify) after its
data is what Firefox sends, not Chromium. Real DTLS 1.3 from Chromium is judged in
tests/integration/test_analyze_capture_calls.py.
"""

from __future__ import annotations

import struct
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rtcdiag.evidence.capture import read_capture
from rtcdiag.evidence.dtls import HELLO_RETRY_RANDOM, DtlsSent, DtlsVersion, read_datagram
from rtcdiag.protocol import AttrType, Message, MessageClass, Method
from rtcdiag.triage.capture import judge

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
A, B = b"\x0a\x00\x00\x02", b"\x0a\x00\x00\x01"


def unified(epoch_bits: int, body: bytes, *, cid: bytes = b"", seq16: bool = True,
            length: bool = True) -> bytes:
    """RFC 9147 §4: 0 0 1 C S L E E, connection id, 8/16-bit sequence number, length (if L)."""
    first = 0x20 | (0x10 if cid else 0) | (0x08 if seq16 else 0) | (0x04 if length else 0) | epoch_bits
    seq = b"\x12\x34" if seq16 else b"\x12"
    return bytes([first]) + cid + seq + (len(body).to_bytes(2, "big") if length else b"") + body


def plain(ctype: int, body: bytes, epoch: int = 0, version: int = 0xFEFD) -> bytes:
    """RFC 6347 §4.1: type, version, epoch, 48-bit sequence number, length."""
    return struct.pack("!BHH", ctype, version, epoch) + bytes(6) + struct.pack("!H", len(body)) + body


def handshake(kind: int, body: bytes, offset: int = 0) -> bytes:
    """RFC 9147 §5.2: type, length, message_seq, fragment_offset, fragment_length, fragment."""
    size = len(body).to_bytes(3, "big")
    return bytes([kind]) + size + b"\x00\x00" + offset.to_bytes(3, "big") + size + body


def server_hello(selected: int | None, random: bytes = bytes(32), legacy: int = 0xFEFD) -> bytes:
    body = struct.pack("!H", legacy) + random + b"\x00" + b"\x13\x01" + b"\x00"
    if selected is not None:
        ext = struct.pack("!HHH", 43, 2, selected)
        body += struct.pack("!H", len(ext)) + ext
    return plain(22, handshake(2, body))


def client_hello() -> bytes:
    body = struct.pack("!H", 0xFEFD) + bytes(32) + b"\x00\x00\x00\x00\x02\xc0\x2b\x01\x00"
    return plain(22, handshake(1, body))


def test_unified_records_several_per_datagram_8_bit_sequence_and_no_length() -> None:
    sent = DtlsSent()
    datagram = unified(3, bytes(30), seq16=False) + unified(3, bytes(40), length=False)
    notes = read_datagram(sent, datagram, 1, 10.0)
    assert sent.application.count == 2 and sent.application_bytes == 70 and sent.unified == 2
    assert sent.version is DtlsVersion.DTLS_1_3 and notes and "application epoch" in notes[0]


def test_a_connection_id_makes_the_rest_of_the_datagram_one_record() -> None:
    """The CID length was negotiated and is not in the capture: one record counted, none invented."""
    sent = DtlsSent()
    read_datagram(sent, unified(3, bytes(20), cid=b"\x01\x02\x03\x04") + unified(3, bytes(20)), 1, 1.0)
    assert sent.connection_id == 1 and sent.application.count == 1
    sent12 = DtlsSent()
    read_datagram(sent12, plain(25, bytes(40), epoch=1) + plain(23, bytes(10), epoch=1), 2, 2.0)
    assert sent12.connection_id == 1 and sent12.application.count == 1  # RFC 9146 tls12_cid


def test_epochs_handshake_then_application_then_key_updates() -> None:
    """EE = epoch & 3 (RFC 9147 §4, §6.1): 2 before the application epoch is the handshake; 3 starts the
    application epoch; after it 0, 1, 2 are epochs 4, 5, 6 (KeyUpdate), still application records."""
    sent = DtlsSent()
    for number, bits in enumerate((2, 2, 3, 3, 0, 1, 2), start=1):
        read_datagram(sent, unified(bits, bytes(25)), number, float(number))
    assert sent.handshake_encrypted.count == 2 and sent.application.count == 5 and sent.application_epoch


def test_server_hello_version_and_hello_retry() -> None:
    cases = [(server_hello(0xFEFC), DtlsVersion.DTLS_1_3), (server_hello(None), DtlsVersion.DTLS_1_2),
             (server_hello(0xFEFD), DtlsVersion.DTLS_1_2)]
    for record, version in cases:
        sent = DtlsSent()
        read_datagram(sent, record, 1, 1.0)
        assert sent.server_hello.count == 1 and sent.version is version
    retry = DtlsSent()
    read_datagram(retry, server_hello(0xFEFC, random=HELLO_RETRY_RANDOM), 1, 1.0)
    assert retry.hello_retry.count == 1 and not retry.server_hello.count  # RFC 8446 §4.1.3
    fragment = DtlsSent()  # a later fragment of a ServerHello: a ServerHello, its version unknown
    read_datagram(fragment, plain(22, handshake(2, bytes(60), offset=100)), 1, 1.0)
    assert fragment.server_hello.count == 1 and fragment.version is DtlsVersion.UNKNOWN


def test_readable_and_encrypted_alerts() -> None:
    sent = DtlsSent()
    read_datagram(sent, plain(21, b"\x02\x28"), 1, 1.0)  # fatal handshake_failure, epoch 0
    read_datagram(sent, plain(21, bytes(26), epoch=1), 2, 2.0)  # DTLS 1.2 after ChangeCipherSpec
    assert sent.alerts.count == 1 and sent.alerts.detail == "fatal handshake_failure (40)"
    assert sent.encrypted_alerts.count == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_any_datagram_in_the_dtls_range_never_raises(tail: bytes) -> None:
    for first in (20, 22, 25, 32, 44, 48, 63):
        read_datagram(DtlsSent(), bytes([first]) + tail, 1, 1.0)


# ---- judged per call ---------------------------------------------------------------------------------

def _frame(payload: bytes, forward: bool) -> bytes:
    src, dst, sport, dport = (A, B, 5000, 6000) if forward else (B, A, 6000, 5000)
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst) + udp
    return b"\x00" * 12 + b"\x08\x00" + ip


def _capture(tmp: Path, packets: list[tuple[float, bytes, bool]]) -> Path:
    out = bytearray(PCAP_HEADER)
    for t, payload, forward in packets:
        frame = _frame(payload, forward)
        out += struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(frame), len(frame)) + frame
    path = tmp / "call.pcap"
    path.write_bytes(bytes(out))
    return path


def _check(t: float, forward: bool, answered: bool) -> list[tuple[float, bytes, bool]]:
    user = "bbbb:aaaa" if forward else "aaaa:bbbb"
    req = Message(Method.BINDING, MessageClass.REQUEST).add(AttrType.PRIORITY, 1).add(AttrType.USERNAME, user)
    out = [(t, req.encode(), forward)]
    if answered:
        out.append((t + 0.01, Message(Method.BINDING, MessageClass.SUCCESS, req.transaction_id).encode(),
                    not forward))
    return out


def test_dtls12_session_closed_by_an_encrypted_alert_after_its_data_is_not_a_failure(tmp_path: Path) -> None:
    packets: list[tuple[float, bytes, bool]] = []
    for i in range(8):
        packets += _check(100.0 + i, i % 2 == 0, answered=True)
    packets += [(100.5, client_hello(), True), (100.6, server_hello(None), False)]
    packets += [(101.0 + i / 10, plain(23, bytes(80), epoch=1), i % 2 == 0) for i in range(20)]
    packets.append((107.5, plain(21, bytes(26), epoch=1), True))  # close_notify, encrypted
    summary = read_capture(_capture(tmp_path, sorted(packets, key=lambda p: p[0])), "call.pcap")
    call, = summary.sessions
    assert call.version is DtlsVersion.DTLS_1_2 and call.established and call.key == "aaaa/bbbb"
    assert judge([summary]).findings == []


def test_dtls13_one_record_each_way_after_the_handshake_is_not_a_session(tmp_path: Path) -> None:
    """An ACK one way and an alert-sized record the other, then only ICE for 5 s: the handshake did not give
    a session (Chromium's refusal of a certificate whose fingerprint does not match looks like this)."""
    packets: list[tuple[float, bytes, bool]] = []
    for i in range(12):
        packets += _check(100.0 + i / 2, i % 2 == 0, answered=True)
    packets += [(100.2, client_hello(), True), (100.3, server_hello(0xFEFC), False),
                (100.31, unified(2, bytes(500)), False), (100.4, unified(2, bytes(450)), True),
                (100.41, unified(3, bytes(61)), True), (100.5, unified(3, bytes(19)), False)]
    summary = read_capture(_capture(tmp_path, sorted(packets, key=lambda p: p[0])), "call.pcap")
    call, = summary.sessions
    assert call.version is DtlsVersion.DTLS_1_3 and not call.established
    ids = [f.id for f in judge([summary]).findings]
    assert ids == ["CAPTURE-DTLS-NOTHING-AFTER-HANDSHAKE"]
    finding = judge([summary]).findings[0]
    assert "19 bytes is the size of an encrypted alert" in finding.symptom and "DTLS 1.3" in finding.symptom


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=200)), max_size=12))
def test_any_tls_byte_stream_never_raises(chunks: list[tuple[bool, bytes]]) -> None:
    """TLS read without keys (rtcdiag.evidence.tls): whatever the server or client sends, bounded, no
    exception, an outcome."""
    from rtcdiag.evidence.tls import TlsConnection, TlsOutcome

    connection = TlsConnection(flow=1, client="10.0.0.2:5000", server="10.0.0.1:5349", client_forward=True)
    hello = b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x03"  # a ClientHello record, then anything
    connection.feed(True, hello, 1, 1.0)
    for number, (from_client, data) in enumerate(chunks, start=2):
        connection.feed(from_client, bytes([22, 3, 3]) + data if number % 3 else data, number, float(number))
    connection.close(True, 99, 99.0, reset=False)
    assert isinstance(connection.finish(100.0), TlsOutcome)


def test_a_hang_up_leaves_a_few_unanswered_checks_not_a_lost_call(tmp_path: Path) -> None:
    """Checks answered for 4 s, then 4 unanswered in the second before this side closes too, then 20 s of
    another call's traffic: a healthy end, not consent lost (the checks stopped). The same checks going on
    for 16 s are."""
    def capture(unanswered_for: float) -> list[str]:
        packets: list[tuple[float, bytes, bool]] = []
        for i in range(8):
            packets += _check(100.0 + i / 2, i % 2 == 0, answered=True)
        count = int(unanswered_for / 0.25)
        for i in range(count):
            packets += _check(104.0 + i * 0.25, True, answered=False)
        other = Message(Method.BINDING, MessageClass.REQUEST).encode()  # another flow's traffic, to 126 s
        out = bytearray(PCAP_HEADER)
        for t, payload, forward in sorted(packets, key=lambda p: p[0]):
            frame = _frame(payload, forward)
            out += struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(frame), len(frame)) + frame
        for t in range(105, 127):
            frame = _frame(other, True).replace(b"\x13\x88", b"\x13\x89", 1)  # source port 5001: its own flow
            out += struct.pack("<IIII", t, 0, len(frame), len(frame)) + frame
        path = tmp_path / f"hangup{count}.pcap"
        path.write_bytes(bytes(out))
        return [f.id for f in judge([read_capture(path, path.name)]).findings]

    assert capture(1.0) == []
    assert capture(16.0) == ["CAPTURE-ICE-CONSENT-LOST"]
