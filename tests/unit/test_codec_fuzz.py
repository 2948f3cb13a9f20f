"""Property tests: whatever bytes arrive, the parser raises StunParseError and nothing else.

Covers Message.decode, lazy typed decoding of every attribute (get/get_all), describe/summary, the
integrity/fingerprint verifiers and ChannelData.decode, on arbitrary bytes and on mutated valid messages;
then what the probes do with a hostile reply (a 401's REALM/NONCE/PASSWORD-ALGORITHMS turned into an
authenticated request, the Binding and Allocate readers) and the stream deframer under any cut.
RTCDIAG_FUZZ_EXAMPLES=5000 runs a longer hunt (300 examples per property by default).
"""

from __future__ import annotations

import contextlib
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtcdiag.protocol import (
    Address,
    AttrType,
    ChannelData,
    ErrorCode,
    Message,
    MessageClass,
    Method,
    StunParseError,
    is_channeldata,
    is_stun,
    verify_fingerprint,
    verify_message_integrity,
)
from rtcdiag.protocol.attributes import CODECS
from rtcdiag.protocol.describe import describe, summary

FUZZ = settings(max_examples=int(os.environ.get("RTCDIAG_FUZZ_EXAMPLES", "300")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def _seed() -> bytes:
    msg = Message(Method.ALLOCATE, MessageClass.SUCCESS, bytes(range(12)))
    msg.add(AttrType.XOR_RELAYED_ADDRESS, Address.of("203.0.113.5", 50000))
    msg.add(AttrType.XOR_MAPPED_ADDRESS, Address.of("2001:db8::1", 40000))
    msg.add(AttrType.LIFETIME, 600)
    msg.add(AttrType.ERROR_CODE, ErrorCode(438, "Stale Nonce"))
    msg.add(AttrType.SOFTWARE, "fuzz seed")
    return msg.encode(integrity_key=b"key", fingerprint=True)


SEED = _seed()


def _exercise(data: bytes) -> None:
    """Run every parsing entry point; only StunParseError may escape any of them."""
    is_stun(data)
    is_channeldata(data)
    with contextlib.suppress(StunParseError):
        ChannelData.decode(data)
    with contextlib.suppress(StunParseError):
        verify_message_integrity(data, b"key")
    with contextlib.suppress(StunParseError):
        verify_fingerprint(data)
    try:
        msg = Message.decode(data)
    except StunParseError:
        return
    # Attributes after MESSAGE-INTEGRITY(-SHA256) / FINGERPRINT may be ignored (RFC 8489 §14.5-§14.7).
    assert sum(4 + len(a.value) + (-len(a.value) % 4) for a in msg.attributes) <= len(data) - 20
    describe(msg)  # never raises for a decoded message
    summary(msg)
    for attr in msg.attributes:
        with contextlib.suppress(StunParseError):
            msg.get_all(attr.type)
    _ = msg.error_code


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_stun_parse_error(data: bytes) -> None:
    _exercise(data)


_MI, _MI256, _FP = AttrType.MESSAGE_INTEGRITY, AttrType.MESSAGE_INTEGRITY_SHA256, AttrType.FINGERPRINT


def _counted(types: list[int]) -> list[int]:
    """The attribute types a receiver reads (RFC 8489 §14.5-§14.7), written independently of the codec."""
    kept: list[int] = []
    for t in types:
        if _FP in kept:
            break
        if _MI256 in kept and t != _FP:
            continue
        if _MI in kept and t not in (_MI256, _FP):
            continue
        kept.append(t)
    return kept


@FUZZ
@given(
    body=st.lists(
        st.tuples(st.sampled_from([*sorted(CODECS), 0x0000, 0x7FFF, 0xC057]), st.binary(max_size=40)),
        max_size=8,
    ),
    cookie=st.sampled_from([b"\x21\x12\xa4\x42", b"\x00\x00\x00\x00"]),
    msg_type=st.integers(0, 0x3FFF),
)
def test_well_framed_random_attributes(body: list[tuple[int, bytes]], cookie: bytes, msg_type: int) -> None:
    """Valid framing with random values for known types: exercises every typed unpacker."""
    attrs = b"".join(
        t.to_bytes(2, "big") + len(v).to_bytes(2, "big") + v + bytes(-len(v) % 4) for t, v in body
    )
    data = msg_type.to_bytes(2, "big") + len(attrs).to_bytes(2, "big") + cookie + bytes(12) + attrs
    msg = Message.decode(data)  # framing is valid, so this must succeed
    kept = _counted([t for t, _ in body])
    assert [a.type for a in msg.attributes] == kept
    if len(kept) == len(body):
        assert msg.encode() == data
    _exercise(data)


@FUZZ
@given(st.data())
def test_mutated_valid_message_raises_only_stun_parse_error(data: st.DataObject) -> None:
    buf = bytearray(SEED)
    for _ in range(data.draw(st.integers(1, 6))):
        action = data.draw(st.sampled_from(["flip", "set", "truncate", "extend"]))
        if action == "truncate" and buf:
            del buf[data.draw(st.integers(0, len(buf) - 1)) :]
        elif action == "extend":
            buf += data.draw(st.binary(min_size=1, max_size=12))
        elif buf:
            pos = data.draw(st.integers(0, len(buf) - 1))
            buf[pos] = buf[pos] ^ (1 << data.draw(st.integers(0, 7))) if action == "flip" else data.draw(
                st.integers(0, 255)
            )
    _exercise(bytes(buf))


@FUZZ
@given(st.integers(0x4000, 0x4FFF), st.binary(max_size=100), st.booleans())
def test_channeldata_round_trip(channel: int, payload: bytes, pad: bool) -> None:
    wire = ChannelData(channel, payload).encode(pad=pad)
    assert is_channeldata(wire)
    assert ChannelData.decode(wire) == ChannelData(channel, payload)
    assert len(wire) % 4 == 0 if pad else len(wire) == 4 + len(payload)


def test_seed_itself_is_valid() -> None:
    assert verify_message_integrity(SEED, b"key") is True and verify_fingerprint(SEED) is True
    assert Message.decode(SEED).get(AttrType.LIFETIME) == 600


# --- what the probes do with a hostile reply: only their documented outcomes, never an exception ---

def _reply_from(attrs: list[tuple[int, bytes]], msg_type: int = 0x0113) -> Message:
    body = b"".join(t.to_bytes(2, "big") + len(v).to_bytes(2, "big") + v + bytes(-len(v) % 4)
                    for t, v in attrs)
    return Message.decode(msg_type.to_bytes(2, "big") + len(body).to_bytes(2, "big") + b"\x21\x12\xa4\x42"
                          + bytes(12) + body)


_TEXT = st.one_of(st.binary(max_size=900), st.text(max_size=300).map(lambda t: t.encode()))
_CHALLENGE_TYPES = st.sampled_from([AttrType.REALM, AttrType.NONCE, AttrType.PASSWORD_ALGORITHMS,
                                    AttrType.ERROR_CODE, AttrType.USERHASH])


@FUZZ
@given(st.lists(st.tuples(_CHALLENGE_TYPES, _TEXT), max_size=6),
       st.sampled_from(["obMatJos2QAAA", "obMatJos2gAAA", "obMatJos2////", ""]), st.text(max_size=20))
def test_any_401_gives_a_key_a_problem_or_nothing_never_an_exception(
        attrs: list[tuple[int, bytes]], cookie: str, password: str) -> None:
    """learn_challenge + the authenticated request built from it, for any REALM/NONCE/PASSWORD-ALGORITHMS:
    the request is built (or refused as too large), or the challenge is called unusable."""
    from typing import Any, cast

    from rtcdiag.probes.turn_session import Credentials, TurnSession
    from rtcdiag.protocol import CredentialError, MessageTooLargeError

    reply = _reply_from([(AttrType.NONCE, cookie.encode()), *attrs] if cookie else attrs)
    session = TurnSession(cast(Any, None), ("127.0.0.1", 3478), "udp", [], 0.0, cast(Any, None))
    session.learn_challenge(reply)
    try:
        session.set_credentials(Credentials("alice", password or "pw"))
    except CredentialError:
        return  # the user's own password is unusable: reported before any request (not the server's doing)
    if session.challenge_problem is not None:
        assert session.key is None
        return
    if session.realm is None or session.nonce is None:
        return  # TURN-CHALLENGE-INVALID
    request = Message(Method.ALLOCATE, MessageClass.REQUEST)
    session._authenticate(request)
    assert session.key is not None
    with contextlib.suppress(MessageTooLargeError):
        Message.decode(request.encode(integrity_key=session.key, fingerprint=True))


@FUZZ
@given(st.lists(st.tuples(st.sampled_from([*sorted(CODECS), 0x7FFF]), st.binary(max_size=40)), max_size=10),
       st.sampled_from([0x0101, 0x0111, 0x0103, 0x0113]))
def test_probes_read_any_reply_without_raising(attrs: list[tuple[int, bytes]], msg_type: int) -> None:
    """The Binding and Allocate reply readers (mapped, relayed, lifetime, error, SOFTWARE), any values."""
    from rtcdiag.probes import binding, turn_allocate
    from rtcdiag.probes.turn_result import TransportResult

    reply = _reply_from(attrs, msg_type)
    result = binding.BindingResult(target="t", host="h", port=1, transport="udp")
    binding._fill_from_reply(result, reply)
    assert result.mapped_address is None or not result.malformed_mapped or \
        result.mapped_from == "MAPPED-ADDRESS"
    tr = TransportResult(transport="udp", server="h:1")
    turn_allocate._take_software(tr, reply)
    turn_allocate._take_allocation(tr, reply)
    turn_allocate._take_allocate_error(tr, reply, "step")


@FUZZ
@given(st.binary(max_size=400), st.lists(st.integers(1, 400), max_size=6), st.booleans())
def test_the_stream_deframer_only_raises_framing_error_and_cuts_do_not_matter(
        stream: bytes, cuts: list[int], channels: bool) -> None:
    """Any bytes, cut anywhere: the same frames and the same error as when they arrive in one piece."""
    from rtcdiag.protocol import framing

    def feed(pieces: list[bytes]) -> tuple[list[bytes], str | None]:
        deframer = framing.StreamDeframer(allow_channel_data=channels)
        frames: list[bytes] = []
        for piece in pieces:
            try:
                frames += deframer.feed(piece)
            except framing.FramingError as err:
                return frames, str(err)
            if deframer.error is not None:
                return frames, str(deframer.error)
            assert deframer.pending < framing.MAX_FRAME
        return frames, None

    bounds = sorted({c for c in cuts if c < len(stream)})
    pieces = [stream[a:b] for a, b in zip([0, *bounds], [*bounds, len(stream)], strict=True)]
    assert feed(pieces) == feed([stream])
