"""Stream framing and demultiplexing (RFC 8489 §5/§6.2.2, RFC 8656 §12.5, RFC 7983 §7), bytes written here."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcdiag.protocol import framing

COOKIE = struct.pack("!I", 0x2112A442)
TXID = bytes(range(12))


def stun(msg_type: int = 0x0101, body: bytes = b"", txid: bytes = TXID) -> bytes:
    return struct.pack("!HH", msg_type, len(body)) + COOKIE + txid + body


def channel_data(channel: int, payload: bytes) -> bytes:
    return struct.pack("!HH", channel, len(payload)) + payload


def test_frame_kind_by_first_two_bits() -> None:
    assert framing.frame_kind(stun()) is framing.FrameKind.STUN
    assert framing.frame_kind(channel_data(0x4000, b"x")) is framing.FrameKind.CHANNEL_DATA
    assert framing.frame_kind(b"\x80\x00") is framing.FrameKind.OTHER
    assert framing.frame_kind(b"\x16\x03\x01") is framing.FrameKind.OTHER  # TLS handshake record
    assert framing.frame_kind(b"") is framing.FrameKind.OTHER


@pytest.mark.parametrize(("msg_type", "cls"), [
    (0x0001, framing.StunClass.REQUEST), (0x0011, framing.StunClass.INDICATION),
    (0x0101, framing.StunClass.SUCCESS), (0x0111, framing.StunClass.ERROR),
    (0x0113, framing.StunClass.ERROR),  # Allocate error response
    (0x0017, framing.StunClass.INDICATION),  # Data indication
])
def test_stun_class_from_type_bits(msg_type: int, cls: framing.StunClass) -> None:
    assert framing.stun_class(stun(msg_type)) is cls


def test_transaction_id_is_bytes_8_to_20_also_for_rfc3489() -> None:
    assert framing.transaction_id(stun()) == TXID
    legacy = struct.pack("!HH", 0x0101, 0) + b"\xaa" * 16  # no cookie: 16-byte id (RFC 3489)
    assert framing.transaction_id(legacy) == b"\xaa" * 12
    assert framing.transaction_id(b"\x01\x01\x00") is None
    assert framing.transaction_id(channel_data(0x4000, b"x" * 20)) is None


def test_datagram_problems() -> None:
    good = stun(body=struct.pack("!HH", 0x8022, 4) + b"abcd")
    assert framing.datagram_problem(good) is None
    assert "truncated STUN message" in str(framing.datagram_problem(good[:-4]))
    assert "stray bytes" in str(framing.datagram_problem(good + b"\0\0\0\0"))
    assert "not a STUN message" in str(framing.datagram_problem(b"HTTP/1.1 400"))
    assert "truncated STUN header" in str(framing.datagram_problem(b"\x01\x01\x00\x00"))
    odd = struct.pack("!HH", 0x0101, 2) + COOKIE + TXID + b"ab"
    assert "multiple of 4" in str(framing.datagram_problem(odd))


def test_deframer_splits_concatenated_and_split_frames() -> None:
    first = stun(body=struct.pack("!HH", 0x8022, 3) + b"abc\0")
    second = stun(0x0111)
    deframer = framing.StreamDeframer()
    stream = first + second
    frames: list[bytes] = []
    for i in range(0, len(stream), 3):  # three bytes at a time
        frames += deframer.feed(stream[i:i + 3])
    assert frames == [first, second]
    assert deframer.pending == 0


def test_channel_data_is_padded_on_streams_and_unpadded_on_receive() -> None:
    # RFC 8656 §12.5: over TCP/TLS ChannelData is padded to a multiple of 4; the length field excludes it.
    frame = channel_data(0x4001, b"hello")
    padded = framing.pad_for_stream(frame)
    assert padded == frame + b"\0\0\0"
    assert framing.pad_for_stream(stun()) == stun()
    deframer = framing.StreamDeframer(allow_channel_data=True)
    assert deframer.feed(padded + stun()) == [frame, stun()]


def test_channel_data_before_channel_bind_is_a_framing_error() -> None:
    deframer = framing.StreamDeframer(allow_channel_data=False)
    with pytest.raises(framing.FramingError, match="before any ChannelBind"):
        deframer.feed(b"HTTP/1.1 400 Bad Request\r\n")


def test_reserved_channel_number_is_a_framing_error() -> None:
    with pytest.raises(framing.FramingError, match="reserved channel number 0x5000"):
        framing.StreamDeframer().feed(channel_data(0x5000, b"abcd"))


@pytest.mark.parametrize("head", [b"\xc0\x00\x00\x00", b"\x80\x01\x00\x00", b"\x04\x00\x00\x00"])
def test_first_byte_outside_stun_and_channel_ranges_is_a_framing_error(head: bytes) -> None:
    with pytest.raises(framing.FramingError, match="not STUN or ChannelData"):
        framing.StreamDeframer().feed(head)


def test_tls_record_on_a_plain_stream_says_tls() -> None:
    # RFC 7983 §7: 20-63 is (D)TLS. A server speaking TLS on a port used as plain TCP.
    with pytest.raises(framing.FramingError, match="this is TLS"):
        framing.StreamDeframer().feed(b"\x15\x03\x03\x00\x02\x02\x46")  # TLS alert record


def test_stun_length_not_multiple_of_4_is_a_framing_error() -> None:
    with pytest.raises(framing.FramingError, match="multiple of 4"):
        framing.StreamDeframer().feed(struct.pack("!HH", 0x0101, 5) + COOKIE)


def test_channel_bind_request_detection() -> None:
    assert framing.is_channel_bind_request(stun(0x0009))
    assert not framing.is_channel_bind_request(stun(0x0109))  # ChannelBind success response
    assert not framing.is_channel_bind_request(stun(0x0003))


@given(st.lists(st.binary(min_size=0, max_size=60).map(lambda b: b + b"\0" * (-len(b) % 4)), max_size=8),
       st.integers(min_value=1, max_value=17))
def test_deframer_reassembles_any_chunking(bodies: list[bytes], chunk: int) -> None:
    messages = [stun(0x0101, body) for body in bodies]
    stream = b"".join(messages)
    deframer = framing.StreamDeframer()
    out: list[bytes] = []
    for i in range(0, len(stream), chunk):
        out += deframer.feed(stream[i:i + chunk])
    assert out == messages


def _feed_split(stream: bytes, cut: int, allow_channel_data: bool = False) -> tuple[list[bytes], str | None]:
    """Feed ``stream`` in two chunks cut at ``cut``; the frames delivered and the framing error, if any."""
    deframer = framing.StreamDeframer(allow_channel_data=allow_channel_data)
    frames: list[bytes] = []
    for chunk in (stream[:cut], stream[cut:]):
        try:
            frames += deframer.feed(chunk)
        except framing.FramingError as err:
            return frames, str(err)
        if deframer.error is not None:
            return frames, str(deframer.error)
    return frames, None


@pytest.mark.parametrize("garbage", [b"HTTP/1.1 400 Bad Request\r\n\r\n", b"\x16\x03\x01\x00\x05hello",
                                     b"\x00" * 40, struct.pack("!HH", 0x0101, 5) + COOKIE])
def test_a_complete_reply_before_bad_bytes_is_delivered_however_tcp_splits_them(garbage: bytes) -> None:
    # The verdict must not depend on how TCP cut the segment: the complete reply is always delivered, and
    # the bytes after it always end the stream with the same error.
    reply = stun(0x0101, struct.pack("!HH", 0x8022, 4) + b"abcd")
    stream = reply + garbage
    results = [_feed_split(stream, cut) for cut in range(len(stream) + 1)]
    for cut, (frames, error) in enumerate(results):
        assert frames == [reply], cut
        assert error is not None and error == results[0][1], cut


def test_after_a_framing_error_nothing_more_is_kept_or_delivered() -> None:
    deframer = framing.StreamDeframer(allow_channel_data=False)
    assert deframer.feed(stun() + b"HTTP/1.1 200 OK\r\n") == [stun()]
    assert deframer.error is not None and deframer.pending == 0
    with pytest.raises(framing.FramingError):
        deframer.feed(stun())
    assert deframer.pending == 0


def test_a_stream_of_zero_bytes_is_not_stun() -> None:
    # 20 zero bytes would frame as a "message" of the reserved method 0x000 (RFC 8489 §18.2): endless garbage.
    with pytest.raises(framing.FramingError, match="reserved method"):
        framing.StreamDeframer().feed(b"\x00" * 65536)
