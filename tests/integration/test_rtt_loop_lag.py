"""RTTs measure the network, not the tool: a reply that waits for a busy event loop is timed from when the
kernel received it (UDP: SO_TIMESTAMPNS; TCP: TCP_INFO last_data_recv, to within one jiffy), against a
real coturn on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest

from rtcdiag.coturn import RunningCoturn
from rtcdiag.protocol import Message, MessageClass, Method
from rtcdiag.protocol.transport import StreamClient, TransactionResult, UdpClient

STALL_S = 0.25  # the event loop is blocked this long while the reply arrives


async def _request_during_stall(client: UdpClient | StreamClient, dest: tuple[str, int]) -> TransactionResult:
    warm_up = await client.request(Message(Method.BINDING, MessageClass.REQUEST).encode(), dest)
    assert warm_up.response is not None  # (the kernel turns timestamping on a moment after it is asked)
    await asyncio.sleep(0.05)
    request = Message(Method.BINDING, MessageClass.REQUEST)
    task = asyncio.create_task(client.request(request.encode(), dest))
    await asyncio.sleep(0)  # the request goes out
    time.sleep(STALL_S)  # a busy loop: the reply sits in the socket meanwhile
    return await task


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_reply_waiting_for_a_stalled_loop_is_not_counted(coturn: RunningCoturn, transport: str) -> None:
    async def go() -> TransactionResult:
        dest = (coturn.host, coturn.port)
        if transport == "udp":
            async with await UdpClient.open() as udp:
                return await _request_during_stall(udp, dest)
        stream = await StreamClient.connect(*dest)
        try:
            return await _request_during_stall(stream, dest)
        finally:
            await stream.close()

    result = asyncio.run(go())
    assert result.response is not None and result.rtt is not None
    # Without the kernel's arrival time the RTT would be the stall (250 ms); UDP is exact, TCP within a jiffy.
    limit = 0.005 if transport == "udp" else 0.02
    assert 0 <= result.rtt < limit, f"{transport} RTT {result.rtt * 1000:.1f} ms includes the loop stall"
