"""The transaction logic without a socket (rtcdiag.protocol.transaction): a scripted sender stands in for
rtcdiag.net's UdpClient, so the RFC 8489 §6.2.1 schedule and the §6.3 / RFC 8656 §12 matching rules are
checked on their own. (The same rules against real sockets: test_transport.py.)"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

import pytest

from rtcdiag.protocol import ChannelData, Message, MessageClass, Method
from rtcdiag.protocol.transaction import Address, RetransmitPolicy, TransactionEndpoint

POLICY = RetransmitPolicy().scaled(0.01)  # RTO 5 ms, 395 ms in all
SERVER: Address = ("192.0.2.1", 3478)  # never contacted: there is no socket
OTHER: Address = ("192.0.2.2", 3479)


class ClosedForTest(Exception):
    pass


class Scripted(TransactionEndpoint):
    """A sender without a socket: notes each send and lets ``script`` answer it (``script(n, data)`` returns
    the datagrams that arrive after send number ``n``, 1-based, with their sources). ``unread`` holds what
    "reached the machine" but was not read yet: ``_read_waiting`` hands it over (no clock involved)."""

    def __init__(self, script: Callable[[int, bytes], list[tuple[bytes, Address]]]) -> None:
        super().__init__(asyncio.get_running_loop(), POLICY)
        self.script = script
        self.sends: list[tuple[bytes, Address]] = []
        self.unread: list[tuple[bytes, Address]] = []

    @property
    def local_address(self) -> Address:
        return ("192.0.2.9", 50000)

    def _send_datagram(self, data: bytes, dest: Address) -> None:
        self._note_channel_bind(data, dest)
        self.sends.append((data, dest))
        for reply, source in self.script(len(self.sends), data):
            self._loop.call_soon(self._dispatch, reply, source)

    def _read_waiting(self) -> None:
        while self.unread:
            self._dispatch(*self.unread.pop(0))

    def _closed_error(self, dest: Address | None) -> Exception:
        return ClosedForTest(str(dest))

    async def close(self) -> None:
        self.closed = True


def answer(request: bytes) -> bytes:
    return Message(Method.BINDING, MessageClass.SUCCESS, transaction_id=request[8:20]).encode()


def binding() -> bytes:
    return Message(Method.BINDING, MessageClass.REQUEST).encode()


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_silence_is_rc_sends_on_the_rfc_schedule_then_a_timeout() -> None:
    async def go() -> None:
        async with Scripted(lambda n, data: []) as endpoint:
            result = await endpoint._retransmitted(binding(), SERVER, None, None, POLICY, False)
            assert result.timed_out and result.attempts == POLICY.rc == 7
            assert [dest for _, dest in endpoint.sends] == [SERVER] * 7
            for sent, planned in zip(result.send_times, POLICY.send_offsets(), strict=True):
                assert planned - 0.001 <= sent <= planned + 0.05
    run(go())


def test_a_round_trip_longer_than_the_rto_is_told_from_loss_by_the_copies() -> None:
    # The answer to the first send comes only after the second went out (a round trip longer than the RTO);
    # the answer to the second (a copy) has reached the machine when the copies are judged: nothing was lost.
    async def go() -> None:
        def answered_late(n: int, data: bytes) -> list[tuple[bytes, Address]]:
            if n != 2:
                return []
            slow.unread.append((answer(data), SERVER))  # the answer to the second send, not read yet
            return [(answer(data), SERVER)]  # the answer to the first

        slow = Scripted(answered_late)
        async with slow:
            result = await slow._retransmitted(binding(), SERVER, None, None, POLICY, True)
            assert result.response is not None and result.attempts == 2
            assert result.answered_attempt is None  # two identical copies were in flight: Karn's rule
            assert result.answers == 2 and result.copies_at is not None and len(result.copies_at) == 1
            # The same without its copy: one of the two sends (or its answer) was lost.
            lossy = Scripted(lambda n, data: [(answer(data), SERVER)] if n == 2 else [])
            result = await lossy._retransmitted(binding(), SERVER, None, None, POLICY, True)
            assert result.attempts == 2 and result.answers == 1
            # Not asked to count copies: not measured.
            plain = Scripted(lambda n, data: [(answer(data), SERVER)] if n == 2 else [])
            assert (await plain._retransmitted(binding(), SERVER, None, None, POLICY, False)).answers is None
    run(go())


def test_replies_are_matched_by_transaction_id_not_by_source() -> None:
    def script(n: int, data: bytes) -> list[tuple[bytes, Address]]:
        wrong = Message(Method.BINDING, MessageClass.SUCCESS).encode()  # another transaction id
        return [(wrong, SERVER), (answer(data), OTHER)]

    async def go() -> None:
        async with Scripted(script) as endpoint:
            result = await endpoint._retransmitted(binding(), SERVER, None, None, POLICY, False)
            assert result.source == OTHER and result.attempts == 1  # RFC 5780: replies from elsewhere
            assert result.rejected_count == 1
            assert "does not match the request" in result.rejected[0].reason
    run(go())


def test_a_rejecting_validator_keeps_the_transaction_waiting() -> None:
    async def go() -> None:
        async with Scripted(lambda n, data: [(answer(data), SERVER)]) as endpoint:
            result = await endpoint._retransmitted(binding(), SERVER, None, lambda data: "bad FINGERPRINT",
                                                   POLICY, False)
            assert result.timed_out and result.rejected_count == 7
            assert len(result.rejected) == 5  # MAX_KEPT_REJECTED: counted, not all kept
    run(go())


def test_channel_data_is_taken_only_from_where_a_channel_bind_went() -> None:
    data = ChannelData(0x4000, b"hello").encode()

    async def go() -> None:
        async with Scripted(lambda n, sent: []) as endpoint:
            endpoint._dispatch(data, SERVER)  # no ChannelBind sent: not ChannelData (RFC 8656 §12)
            bind = Message(Method.CHANNEL_BIND, MessageClass.REQUEST).encode()
            endpoint._send_datagram(bind, SERVER)
            endpoint._dispatch(data, SERVER)
            first, second = endpoint.queue.get_nowait(), endpoint.queue.get_nowait()
            assert first.data == second.data == data and endpoint.queue.empty()
            # With a transaction to SERVER waiting, something that is not STUN from there is a rejected reply.
            task = asyncio.ensure_future(endpoint._retransmitted(binding(), OTHER, None, None, POLICY, False))
            await asyncio.sleep(0)
            endpoint._dispatch(b"\x80garbage", OTHER)
            result = await task
            assert result.rejected_count == 1 and endpoint.queue.empty()
    run(go())


def test_a_closed_endpoint_refuses_new_transactions() -> None:
    async def go() -> None:
        endpoint = Scripted(lambda n, data: [])
        await endpoint.close()
        with pytest.raises(ClosedForTest):
            await endpoint._retransmitted(binding(), SERVER, None, None, POLICY, False)
    run(go())


def test_an_error_that_meets_a_cancelled_transaction_is_not_left_unretrieved() -> None:
    """An ICMP error (here: ``_fail``, as UdpClient's error queue does) can fail a transaction in the same
    loop turn its task is cancelled (a sibling job failed, Ctrl-C). Nobody reads that error then; asyncio
    would print "Future exception was never retrieved" and a traceback at exit (seen on ``rtcdiag check``
    against a closed UDP port, one run in two). The transaction's end marks it read."""
    reports: list[str] = []

    async def go() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: reports.append(context["message"]))
        endpoint = Scripted(lambda n, data: [])
        task = asyncio.create_task(endpoint._retransmitted(binding(), SERVER, None, None, POLICY, False))
        await asyncio.sleep(0)  # the request is out, its transaction waits
        (pending,) = endpoint._pending.values()
        endpoint._fail(ConnectionRefusedError("ICMP port unreachable"), SERVER)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pending.future.done() and not pending.future.cancelled()  # failed (its error not read here)
        del pending, task
        gc.collect()  # a future is reported when it is destroyed with its exception unread
    run(go())
    assert not [r for r in reports if "never retrieved" in r], reports
