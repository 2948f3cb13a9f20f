"""What a server that never stops talking can make the transport keep: bounded, and the timers still fire.

The floods come from tests/flood_servers.py (loopback, daemon threads, each flood ends by itself).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import flood_servers  # tests/flood_servers.py

from rtcdiag.coturn import binding_request
from rtcdiag.net import StreamClient, UdpClient
from rtcdiag.protocol import framing, verify_fingerprint
from rtcdiag.protocol.transaction import (
    INBOX_MAX_BYTES,
    INBOX_MAX_MESSAGES,
    MAX_KEPT_REJECTED,
    Inbox,
    Received,
    RetransmitPolicy,
)

TOTAL_S = 0.5
POLICY = RetransmitPolicy.for_timeout(TOTAL_S)
BINDING_RESPONSES = (b"\x01\x01", b"\x01\x11")


def binding_reply(data: bytes) -> str | None:
    """A validator: a Binding response with a good FINGERPRINT (what exchange() checks, minus the codec)."""
    if data[:2] not in BINDING_RESPONSES:
        return "not a Binding response"
    return None if verify_fingerprint(data) else "bad FINGERPRINT"


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


# --- Inbox ---------------------------------------------------------------------------------------------

def test_inbox_drops_what_does_not_fit_and_counts_it() -> None:
    async def go() -> None:
        inbox = Inbox(max_messages=3, max_bytes=1000)
        assert all(inbox.offer(Received(b"x" * 100, ("127.0.0.1", 1), 0.0)) for _ in range(3))
        assert not inbox.offer(Received(b"y", ("127.0.0.1", 1), 0.0))  # full by count
        assert inbox.dropped == 1 and inbox.bytes == 300
        assert (await inbox.get()).data == b"x" * 100
        assert inbox.bytes == 200
        assert not inbox.offer(Received(b"z" * 801, ("127.0.0.1", 1), 0.0))  # would exceed the bytes
        assert inbox.offer(Received(b"z" * 800, ("127.0.0.1", 1), 0.0))
        assert inbox.dropped == 2 and inbox.bytes == 1000 and inbox.qsize() == 3
        inbox.get_nowait()
        assert inbox.bytes == 900
    run(go())


# --- framing ----------------------------------------------------------------------------------------------

def test_largest_frames_pass_and_nothing_more_is_buffered() -> None:
    stun = b"\x01\x01\xff\xfc" + b"\x21\x12\xa4\x42" + os.urandom(12) + b"\x00" * 0xFFFC
    channel = b"\x40\x00\xff\xff" + b"\x01" * 0xFFFF + b"\x00"  # padded to 4 bytes on a stream
    deframer = framing.StreamDeframer(allow_channel_data=True)
    frames: list[bytes] = []
    stream = stun + channel
    for offset in range(0, len(stream), 4093):
        frames += deframer.feed(stream[offset:offset + 4093])
        assert deframer.pending < framing.MAX_FRAME
    assert [len(f) for f in frames] == [len(stun), 4 + 0xFFFF]
    assert len(stun) <= framing.MAX_STUN_FRAME and deframer.pending == 0


# --- floods -----------------------------------------------------------------------------------------------

def test_udp_flood_is_counted_not_kept_and_the_timeout_holds() -> None:
    with flood_servers.flood_server(flood_servers.FLOOD, max_s=5) as server:
        async def go() -> None:
            async with await UdpClient.open(policy=POLICY) as client:
                started = time.monotonic()
                result = await client.request(binding_request()[0], server.address, validate=binding_reply)
                elapsed = time.monotonic() - started
                assert result.response is None
                assert elapsed < TOTAL_S + 1.0, f"a flood stretched the transaction to {elapsed:.1f} s"
                assert len(result.rejected) == MAX_KEPT_REJECTED < result.rejected_count
                assert all(len(r.reason) <= 310 for r in result.rejected)
                await asyncio.sleep(0.3)  # the flood goes on into the inbox: bounded
                assert client.queue.qsize() <= INBOX_MAX_MESSAGES
                assert client.queue.bytes <= INBOX_MAX_BYTES
        run(go())
        assert server.sent > 1000


@pytest.mark.parametrize(("mode", "total_s"), [(flood_servers.FLOOD, TOTAL_S),
                                               (flood_servers.FLOOD_ANSWER, 4.0)])
def test_tcp_stream_of_stray_frames_is_bounded(mode: str, total_s: float) -> None:
    """A stream cannot be reordered: the valid reply comes after the frames already buffered (megabytes of
    them), so the answering case gets a longer timeout; it ends as soon as the reply is read."""
    with flood_servers.flood_server(mode, max_s=8, answer_after_s=0.1) as server:
        async def go() -> None:
            policy = RetransmitPolicy.for_timeout(total_s)
            async with await StreamClient.connect(*server.address, policy=policy) as client:
                started = time.monotonic()
                result = await client.request(binding_request()[0], validate=binding_reply)
                elapsed = time.monotonic() - started
                assert elapsed < total_s + 1.0
                assert len(result.rejected) <= MAX_KEPT_REJECTED <= result.rejected_count
                if mode == flood_servers.FLOOD_ANSWER:
                    assert result.response is not None  # the valid reply still gets through
                else:
                    assert result.response is None
                await asyncio.sleep(0.3)
                assert client.queue.qsize() <= INBOX_MAX_MESSAGES
                assert client.queue.bytes <= INBOX_MAX_BYTES
                assert client._deframer.pending < framing.MAX_FRAME
        run(go())
