"""Client transactions (RFC 8489 §6.2) against small servers on loopback written in this suite.

Timers are scaled down (RetransmitPolicy.scaled) so every test finishes in well under a second.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import servers  # tests/servers.py: hostile servers, bytes written by hand

from rtcdiag.coturn import binding_request
from rtcdiag.net import (
    ClosedError,
    RefusedError,
    StreamClient,
    StreamFramingError,
    TlsError,
    TlsStallError,
    UdpClient,
)
from rtcdiag.protocol.transaction import MAX_KEPT_REJECTED, RetransmitPolicy
from rtcdiag.resolve import ResolveError, resolve
from rtcdiag.tls import TlsFailure, make_client_context

FAST = RetransmitPolicy().scaled(0.01)  # RTO 5 ms, whole UDP transaction 395 ms, Ti 395 ms


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def crc_ok(data: bytes) -> str | None:
    """A validator written here: FINGERPRINT is the last 8 bytes of our hostile replies (RFC 8489 §14.7)."""
    import zlib
    expected = (zlib.crc32(data[:-8]) ^ 0x5354554E) & 0xFFFFFFFF
    return None if struct.unpack("!I", data[-4:])[0] == expected else "bad FINGERPRINT"


# --- policy arithmetic ---------------------------------------------------------------------------------

def test_rfc8489_default_timers() -> None:
    policy = RetransmitPolicy()
    # RFC 8489 §6.2.1: sends at 0, 500, 1500, 3500, 7500, 15500, 31500 ms; fail at 39500 ms.
    assert policy.send_offsets() == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert policy.udp_total == pytest.approx(39.5)
    assert policy.wait_after(6) == pytest.approx(8.0)  # Rm * RTO after the last request
    assert policy.ti == 39.5  # §6.2.2


def test_scaling_keeps_the_shape() -> None:
    policy = RetransmitPolicy.for_timeout(3.95)
    assert policy.rto == pytest.approx(0.05)
    assert policy.udp_total == pytest.approx(3.95)
    assert policy.ti == pytest.approx(3.95)
    assert policy.rc == 7 and policy.rm == 16


# --- UDP -----------------------------------------------------------------------------------------------

def test_udp_retransmits_rc_times_on_the_rfc_schedule_then_times_out() -> None:
    with servers.hostile_server(servers.SILENT) as server:
        async def go() -> None:
            async with await UdpClient.open(policy=FAST) as client:
                start = time.monotonic()
                result = await client.request(binding_request()[0], server.address)
                elapsed = time.monotonic() - start
                assert result.timed_out and result.response is None
                assert result.attempts == 7 and result.retransmissions == 6
                # never early; late only by what a loaded machine delays a timer (up to ~0.1 s seen in
                # CI under load: the machine's lag, not the schedule's)
                for sent, planned in zip(result.send_times, FAST.send_offsets(), strict=True):
                    assert planned - 0.001 <= sent <= planned + 0.25
                assert FAST.udp_total - 0.01 <= elapsed < FAST.udp_total + 0.5
        run(go())
        assert server.requests == 7


def test_udp_rtt_is_from_the_first_send_when_the_answered_try_is_ambiguous() -> None:
    with servers.hostile_server(servers.DROP_FIRST_TWO) as server:
        async def go() -> None:
            async with await UdpClient.open(policy=FAST) as client:
                result = await client.request(binding_request()[0], server.address)
                assert result.response is not None
                assert result.attempts == 3
                assert result.answered_attempt is None  # three identical copies were in flight
                assert result.rtt is not None and result.answered_at is not None
                # Karn: measured from the first send
                assert result.rtt == pytest.approx(result.answered_at - result.send_times[0])
                rtts = result.attempt_rtts
                assert len(rtts) == 3 and rtts[0] > rtts[1] > rtts[2] >= 0
        run(go())


def test_udp_first_try_answer_is_identified() -> None:
    with servers.hostile_server(servers.GOOD) as server:
        async def go() -> None:
            async with await UdpClient.open(policy=FAST) as client:
                request, txid = binding_request()
                result = await client.request(request, server.address)
                assert result.answered_attempt == 0 and result.attempts == 1
                assert result.response is not None and result.response[8:20] == txid
                assert result.source == server.address
                assert result.local[1] == client.local_address[1] != 0
        run(go())


@pytest.mark.parametrize(("mode", "reason"), [
    (servers.WRONG_TXID, "does not match the request"),
    (servers.TRUNCATED, "truncated STUN message"),
    (servers.GARBAGE_MODE, "not a STUN message"),
])
def test_udp_untrusted_replies_are_rejected_and_counted(mode: str, reason: str) -> None:
    with servers.hostile_server(mode) as server:
        async def go() -> None:
            async with await UdpClient.open(policy=FAST) as client:
                result = await client.request(binding_request()[0], server.address)
                assert result.response is None
                assert result.rejected_count == 7  # one bad reply per request, none trusted
                assert len(result.rejected) == MAX_KEPT_REJECTED  # only the first few are kept
                assert all(reason in r.reason and r.source == server.address for r in result.rejected)
        run(go())


def test_udp_validator_rejection_keeps_the_transaction_waiting() -> None:
    with servers.hostile_server(servers.BAD_FINGERPRINT_THEN_GOOD) as server:
        async def go() -> None:
            async with await UdpClient.open(policy=FAST) as client:
                result = await client.request(binding_request()[0], server.address, validate=crc_ok)
                assert result.response is not None and crc_ok(result.response) is None
                assert [r.reason for r in result.rejected] == ["bad FINGERPRINT"]
                assert result.attempts == 1
        run(go())


def test_udp_reply_from_another_address_is_matched_by_transaction_id() -> None:
    # RFC 5780 CHANGE-REQUEST: the answer comes from the server's other address.
    async def go() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as primary, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            primary.bind(("127.0.0.1", 0))
            other.bind(("127.0.0.1", 0))
            async with await UdpClient.open(policy=FAST) as client:
                request, txid = binding_request()
                task = asyncio.create_task(client.request(request, primary.getsockname()))
                loop = asyncio.get_running_loop()
                data, client_addr = await loop.run_in_executor(None, primary.recvfrom, 2048)
                other.sendto(servers.binding_success(data[8:20], ("127.0.0.1", client_addr[1])),
                             ("127.0.0.1", client_addr[1]))
                result = await task
                assert result.response is not None and result.response[8:20] == txid
                assert result.source == other.getsockname()
                assert result.dest == primary.getsockname()
    run(go())


def test_udp_unsolicited_messages_go_to_the_queue() -> None:
    async def go() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            async with await UdpClient.open(local_host="127.0.0.1") as client:
                indication = struct.pack("!HHI", 0x0017, 0, 0x2112A442) + b"\x01" * 12  # Data indication
                channel_data = struct.pack("!HH", 0x4000, 3) + b"abc"
                peer.sendto(indication, client.local_address)
                peer.sendto(channel_data, client.local_address)
                first = await client.receive(1.0)
                second = await client.receive(1.0)
                assert first is not None and first.data == indication and first.source == peer.getsockname()
                assert second is not None and second.data == channel_data
                assert await client.receive(0.01) is None
    run(go())


def test_udp_icmp_port_unreachable_ends_the_transaction_at_once() -> None:
    async def go() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as reserve:
            reserve.bind(("127.0.0.1", 0))  # nobody listens on UDP at this port
            dead = reserve.getsockname()
            async with await UdpClient.open() as client:  # full RFC timers: only ICMP can end it early
                start = time.monotonic()
                with pytest.raises(RefusedError, match="port unreachable"):
                    await client.request(binding_request()[0], dead)
                assert time.monotonic() - start < 0.3
    run(go())


def test_udp_ipv6_loopback() -> None:
    try:
        servers_cm = servers.hostile_server(servers.GOOD, "::1")
        server = servers_cm.__enter__()
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        async def go() -> None:
            async with await UdpClient.open(socket.AF_INET6, policy=FAST) as client:
                result = await client.request(binding_request()[0], ("::1", server.port))
                assert result.response is not None and result.source == ("::1", server.port)
        run(go())
    finally:
        servers_cm.__exit__(None, None, None)


def test_udp_close_fails_pending_and_leaks_no_task() -> None:
    with servers.hostile_server(servers.SILENT) as server:
        async def go() -> None:
            client = await UdpClient.open(policy=FAST)
            task = asyncio.create_task(client.request(binding_request()[0], server.address))
            await asyncio.sleep(0)
            await asyncio.sleep(0.01)
            await client.close()
            with pytest.raises(ClosedError):
                await task
            assert asyncio.all_tasks() == {asyncio.current_task()}
        run(go())


def test_udp_destination_must_be_an_ip() -> None:
    async def go() -> None:
        async with await UdpClient.open() as client:
            with pytest.raises(ValueError, match="resolve"):
                await client.send(b"x", ("localhost", 3478))
    run(go())


# --- TCP -----------------------------------------------------------------------------------------------

def test_tcp_garbage_is_a_framing_error() -> None:
    with servers.hostile_server(servers.GARBAGE_MODE) as server:
        async def go() -> None:
            async with await StreamClient.connect(*server.address, policy=FAST) as client:
                with pytest.raises(StreamFramingError, match="48 54 54 50"):
                    await client.request(binding_request()[0])
        run(go())


def test_tcp_truncated_message_then_close() -> None:
    with servers.hostile_server(servers.TRUNCATED) as server:
        async def go() -> None:
            async with await StreamClient.connect(*server.address, policy=FAST) as client:
                with pytest.raises(ClosedError, match="in the middle of a message"):
                    await client.request(binding_request()[0])
        run(go())


def test_tcp_one_send_then_ti_timeout_and_wrong_txid_rejected() -> None:
    with servers.hostile_server(servers.WRONG_TXID) as server:
        async def go() -> None:
            async with await StreamClient.connect(*server.address, policy=FAST) as client:
                start = time.monotonic()
                result = await client.request(binding_request()[0])
                assert time.monotonic() - start == pytest.approx(FAST.ti, abs=0.15)
                assert result.attempts == 1 and result.response is None
                assert len(result.rejected) == 1 and "does not match" in result.rejected[0].reason
        run(go())
        assert server.requests == 1  # §6.2.2: no retransmission over a stream


def test_tcp_refused() -> None:
    async def go() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as reserve:
            reserve.bind(("127.0.0.1", 0))
            with pytest.raises(RefusedError):
                await StreamClient.connect(*reserve.getsockname(), timeout=1.0)
    run(go())


def test_tls_handshake_against_a_silent_server_times_out() -> None:
    # TCP accepted, the ClientHello never answered: a stall of its own, not a connect timeout.
    with servers.hostile_server(servers.SILENT) as server:
        async def go() -> None:
            start = time.monotonic()
            with pytest.raises(TlsStallError, match="accepted, but the TLS handshake did not complete"):
                await StreamClient.connect(*server.address, ssl_context=make_client_context(), timeout=0.2)
            assert time.monotonic() - start < 1.0
        run(go())


def test_tls_against_a_plain_text_server_is_a_handshake_failure() -> None:
    async def go() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(100)
            writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            await writer.drain()
            writer.close()
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(TlsError) as info:
                await StreamClient.connect("127.0.0.1", port, ssl_context=make_client_context(), timeout=2.0)
            assert info.value.reason is TlsFailure.HANDSHAKE
        finally:
            server.close()
            await server.wait_closed()
    run(go())


# --- resolve -------------------------------------------------------------------------------------------

def test_resolve_literals_and_family_mismatch() -> None:
    async def go() -> None:
        v4 = await resolve("127.0.0.1", 3478)
        assert [(a.version, a.ip, a.port) for a in v4] == [(4, "127.0.0.1", 3478)]
        v6 = await resolve("[::1]", 5349, transport="tls")
        assert [(a.version, a.address) for a in v6] == [(6, ("::1", 5349))]
        with pytest.raises(ResolveError) as info:
            await resolve("127.0.0.1", 3478, family=6)
        assert info.value.kind == "dns" and "127.0.0.1" in str(info.value)
        with pytest.raises(ValueError):
            await resolve("127.0.0.1", 3478, transport="sctp")
    run(go())


LITERALS = ["127.0.0.1", " 10.0.0.1 ", "0.0.0.0", "[::1]", "::", "2001:DB8::1", "::FFFF:1.2.3.4",
            "fe80::1%lo", "127.1", "1.2.3.256", "localhost"]


async def _every_answer(host: str) -> list[object]:
    out: list[object] = []
    for family in (None, 4, 6):
        for port in (3478, 0, 70000):
            try:
                out.append(await resolve(host, port, family))
            except ResolveError as exc:
                out.append(f"error: {exc}")
    return out


@pytest.mark.parametrize("host", LITERALS)
def test_ip_literals_are_answered_as_getaddrinfo_answers(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-place answer for IP literals (below) says what getaddrinfo itself says, for every family and
    port: the same addresses in the same form, or the same error."""
    import rtcdiag.resolve

    fast = asyncio.run(_every_answer(host))
    monkeypatch.setattr(rtcdiag.resolve, "_literal", lambda *_args: None)  # every answer from getaddrinfo
    assert asyncio.run(_every_answer(host)) == fast


def test_a_plain_ip_literal_needs_no_resolver_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """A numeric host needs no lookup: answered in place, never through getaddrinfo's thread pool (a busy
    pool under CPU load once timed out "resolving 127.0.0.1" and the exporter reported DNS-FAILURE)."""
    def no_thread(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("getaddrinfo was called for an IP literal")

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", no_thread)

    async def go() -> list[tuple[str, int]]:
        hosts = ("127.0.0.1", "[::1]", "2001:db8::7")
        return [a.address for host in hosts for a in await resolve(host, 3478)]

    assert asyncio.run(go()) == [("127.0.0.1", 3478), ("::1", 3478), ("2001:db8::7", 3478)]


def test_resolve_localhost_from_hosts_file() -> None:
    async def go() -> None:
        addresses = await resolve("localhost", 3478, family=4)
        assert ("127.0.0.1", 3478) in [a.address for a in addresses]
    run(go())


def test_tcp_reply_then_garbage_is_answered_wherever_tcp_cuts_the_bytes() -> None:
    """A complete reply followed by non-STUN bytes (a hand-written server: no real one does this), sent in
    two TCP segments cut at every position: the transaction is answered every time, and the stream then
    ends with the same framing error."""
    def answer(request: bytes, peer: tuple[str, int]) -> bytes:
        return servers.binding_success(request[8:20], peer) + servers.GARBAGE

    async def one(address: tuple[str, int]) -> tuple[bool, str]:
        async with await StreamClient.connect(*address, policy=FAST) as client:
            result = await client.request(binding_request()[0], validate=crc_ok)
            with pytest.raises(StreamFramingError) as failed:
                await client.request(binding_request()[0])
            return result.response is not None, str(failed.value).split(": ", 1)[1]

    plan = [(cut,) for cut in range(1, len(answer(bytes(20), ("127.0.0.1", 1))))]
    with servers.scripted_stream_server(servers.StreamScript(answer, cut_plan=plan)) as address:
        outcomes = {run(one(address)) for _ in plan}
    assert outcomes == {(True, "not STUN, and ChannelData before any ChannelBind (first bytes 48 54 54 50)")}
