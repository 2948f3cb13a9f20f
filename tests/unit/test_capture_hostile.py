"""Captures and coturn logs are never trusted: damaged, hostile or random files are read up to where they
make sense, bounded and escaped, and never crash (exit 4 would be a bug).

HAND-WRITTEN FILES: these are hostile inputs no real peer produces (a length field of a gigabyte, ANSI
escapes in a STUN reason phrase, random bytes); the real captures are in
tests/integration/test_analyze_capture.py.
"""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rtcdiag.checks.capture import capture_tables, ladder, log_tables
from rtcdiag.evidence.capture import MAX_EVENTS_PER_FLOW, read_capture
from rtcdiag.evidence.coturn_log import MAX_LINE, read_coturn_log
from rtcdiag.evidence.pcap import CaptureError, PacketReader
from rtcdiag.protocol import AttrType, ErrorCode, Message, MessageClass, Method
from rtcdiag.triage.capture import judge
from rtcdiag.triage.coturn_log import judge as judge_logs

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)


def udp_frame(payload: bytes, sport: int = 5000, dport: int = 3478, src: bytes = b"\x0a\x00\x00\x02",
              dst: bytes = b"\x0a\x00\x00\x01") -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst) + udp
    return b"\x00" * 12 + b"\x08\x00" + ip


def pcap(frames: list[bytes], t0: float = 1000.0) -> bytes:
    out = bytearray(PCAP_HEADER)
    for i, frame in enumerate(frames):
        out += struct.pack("<IIII", int(t0) + i, 0, len(frame), len(frame)) + frame
    return bytes(out)


def analyze(tmp: Path, data: bytes) -> None:
    path = tmp / "x.pcap"
    path.write_bytes(data)
    summary = read_capture(path, "x.pcap")
    judge([summary])
    capture_tables([summary])
    for flow in summary.flows[:3]:
        ladder(summary, flow)


def test_an_absurd_length_field_stops_reading_with_a_note(tmp_path: Path) -> None:
    good = udp_frame(Message(Method.BINDING, MessageClass.REQUEST).encode())
    data = pcap([good]) + struct.pack("<IIII", 1001, 0, 1 << 30, 1 << 30) + b"x" * 100
    path = tmp_path / "bad.pcap"
    path.write_bytes(data)
    summary = read_capture(path, "bad.pcap")
    assert summary.packets == 1 and summary.damage and any("not plausible" in n for n in summary.notes)


def test_not_a_capture_raises_capture_error(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"GIF89a" + bytes(100))
    try:
        read_capture(path, "x")
    except CaptureError:
        return
    raise AssertionError("no CaptureError")


def test_escape_sequences_in_a_reason_phrase_are_escaped(tmp_path: Path) -> None:
    req = Message(Method.ALLOCATE, MessageClass.REQUEST)
    err = Message(Method.ALLOCATE, MessageClass.ERROR, req.transaction_id)
    err.add(AttrType.ERROR_CODE, ErrorCode(486, "\x1b[31mquota\x1b[0m\u202e"))
    path = tmp_path / "esc.pcap"
    path.write_bytes(pcap([udp_frame(req.encode()), udp_frame(err.encode(), 3478, 5000, b"\x0a\x00\x00\x01",
                                                               b"\x0a\x00\x00\x02")]))
    summary = read_capture(path, "esc.pcap")
    judgement = judge([summary])
    quota = [f for f in judgement.findings if f.id == "CAPTURE-TURN-486"]
    assert len(quota) == 1
    text = quota[0].symptom + "".join(quota[0].evidence) + ladder(summary, summary.flows[0])
    assert "\x1b" not in text and "\u202e" not in text and "quota" in text


def test_events_are_bounded_per_flow(tmp_path: Path) -> None:
    frames = [udp_frame(Message(Method.BINDING, MessageClass.REQUEST).encode()) for _ in range(3000)]
    path = tmp_path / "many.pcap"
    path.write_bytes(pcap(frames))
    summary = read_capture(path, "many.pcap")
    flow = summary.flows[0]
    assert len(flow.events) == MAX_EVENTS_PER_FLOW and flow.events_dropped == 3000 - MAX_EVENTS_PER_FLOW


def test_pcapng_nanosecond_resolution(tmp_path: Path) -> None:
    shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    shb_len = 12 + len(shb_body)
    shb = struct.pack("<II", 0x0A0D0D0A, shb_len) + shb_body + struct.pack("<I", shb_len)
    opts = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)  # if_tsresol = 10^-9
    idb_body = struct.pack("<HHI", 1, 0, 262144) + opts
    idb = struct.pack("<II", 1, 12 + len(idb_body)) + idb_body + struct.pack("<I", 12 + len(idb_body))
    frame = udp_frame(Message(Method.BINDING, MessageClass.REQUEST).encode())
    stamp = 1_500_000_000_123_456_789
    body = struct.pack("<IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF, len(frame), len(frame)) + frame
    body += b"\x00" * (-len(body) % 4)
    epb = struct.pack("<II", 6, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    path = tmp_path / "x.pcapng"
    path.write_bytes(shb + idb + epb)
    with path.open("rb") as handle:
        packets = list(PacketReader(handle))
    assert len(packets) == 1 and abs(packets[0][1] - 1_500_000_000.123456789) < 1e-6
    assert packets[0][3] == frame


def test_coturn_log_hostile_lines(tmp_path: Path) -> None:
    path = tmp_path / "turn.log"
    path.write_bytes(
        b"0: : Version Coturn-4.6.1 'Gorst'\n0: : RFC 3489/5389/5766/5780/6062/6156 STUN/TURN Server\n"
        b"1: : session 000000000000000001: realm <r> user <\x1b[31mmallory\x1b[0m>: incoming packet message "
        b"processed, error 401: Unauthorized\n"
        + b"2: : session 000000000000000002: " + b"A" * (MAX_LINE * 3) + b"\n"
        b"3: : session 000000000000000003: new, realm=<r>, username=<bob>, lifetime=600\n")
    log = read_coturn_log(path, "turn.log")
    assert log.long_lines == 1 and "000000000000000003" in log.sessions
    judgement = judge_logs([log])
    refused = [f for f in judgement.findings if f.id == "COTURN-LOG-401"]
    assert len(refused) == 1 and "\x1b" not in refused[0].title
    log_tables([log])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=80), max_size=30), st.binary(max_size=40))
def test_random_payloads_and_tails_never_crash(payloads: list[bytes], tail: bytes) -> None:
    import tempfile

    frames = []
    for i, p in enumerate(payloads):
        lead = bytes([(i * 37) % 256])  # spread over the RFC 7983 ranges: STUN, DTLS, ChannelData, RTP
        frames.append(udp_frame(lead + p, 5000 + i % 3, 3478) if i % 2 else
                      udp_frame(lead + p, 3478, 5000 + i % 3, b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"))
    with tempfile.TemporaryDirectory() as tmp:
        analyze(Path(tmp), pcap(frames) + tail)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_random_files_after_a_pcap_header_never_crash(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        analyze(Path(tmp), PCAP_HEADER + data)
        with contextlib.suppress(CaptureError):  # a damaged pcapng header: exit 2, nothing worse
            analyze(Path(tmp), b"\x0a\x0d\x0d\x0a" + data[:4] + b"\x4d\x3c\x2b\x1a" + data)


def test_consent_lost_mid_call(tmp_path: Path) -> None:
    """HAND-WRITTEN PACKETS (a 40 s call whose path breaks; no loopback peer loses its path): ICE checks
    from A answered for 10 s, then unanswered for 35 s (RFC 7675 consent)."""
    a, b = b"\x0a\x00\x00\x02", b"\x0a\x00\x00\x01"
    frames: list[tuple[float, bytes]] = []
    for i in range(10):  # the last one, at the very end, may have been answered after the capture
        req = Message(Method.BINDING, MessageClass.REQUEST).add(AttrType.PRIORITY, 1)
        t = 1000.0 + i * 5
        frames.append((t, udp_frame(req.encode(), 5000, 6000, a, b)))
        if i < 3:
            ok = Message(Method.BINDING, MessageClass.SUCCESS, req.transaction_id)
            frames.append((t + 0.01, udp_frame(ok.encode(), 6000, 5000, b, a)))
    out = bytearray(PCAP_HEADER)
    for t, frame in frames:
        out += struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(frame), len(frame)) + frame
    path = tmp_path / "consent.pcap"
    path.write_bytes(bytes(out))
    judgement = judge([read_capture(path, "consent.pcap")])
    lost = [f for f in judgement.findings if f.id == "CAPTURE-ICE-CONSENT-LOST"]
    assert len(lost) == 1 and "6 check packet(s)" in lost[0].symptom
    assert not [f for f in judgement.findings if f.id == "CAPTURE-ICE-NO-RESPONSE"]


def test_sniffing_rotated_logs_and_dumps_quoting_coturn() -> None:
    from rtcdiag.evidence.coturn_log import looks_like_coturn_log

    rotated = (b"7: : session 001000000000000002: realm <r> user <bob>: incoming packet ALLOCATE processed, "
               b"success\n")
    assert looks_like_coturn_log(rotated)
    assert not looks_like_coturn_log(b'{"PeerConnections": {"software": "Coturn-4.6.1", "turnserver": 1}}')
    assert not looks_like_coturn_log(b"just some text\n")


def test_gzip_capture_and_a_gzip_cut_short(tmp_path: Path) -> None:
    import gzip

    req = Message(Method.ALLOCATE, MessageClass.REQUEST)
    err = Message(Method.ALLOCATE, MessageClass.ERROR, req.transaction_id).add(AttrType.ERROR_CODE,
                                                                               ErrorCode(508, "full"))
    frames = [udp_frame(req.encode()), udp_frame(err.encode(), 3478, 5000, b"\x0a\x00\x00\x01",
                                                 b"\x0a\x00\x00\x02")] * 200
    packed = gzip.compress(pcap(frames))
    whole, cut = tmp_path / "x.pcap.gz", tmp_path / "cut.pcap.gz"
    whole.write_bytes(packed)
    cut.write_bytes(packed[:len(packed) // 2])
    summary = read_capture(whole, "x.pcap.gz")
    assert summary.packets == 400 and not summary.notes
    half = read_capture(cut, "cut.pcap.gz")
    assert 0 < half.packets < 400 and any("cut short" in n for n in half.notes)
    assert [f.id for f in judge([half]).findings] == ["CAPTURE-TURN-508"]
