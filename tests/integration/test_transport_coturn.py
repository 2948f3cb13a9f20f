"""Transactions and the exchange bridge against a real coturn on loopback (UDP, TCP, TLS, IPv4/IPv6),
a dead port, and the hostile servers of tests/servers.py."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from servers import (
    BAD_FINGERPRINT,
    GARBAGE_MODE,
    SILENT,
    TRUNCATED,
    WRONG_INTEGRITY,
    WRONG_KEY,
    WRONG_TXID,
    HostileServer,
)

from rtcdiag.coturn import CoturnOptions, RunningCoturn
from rtcdiag.net import RefusedError, StreamClient, TlsError, UdpClient
from rtcdiag.probes.exchange import exchange, indication, transport_error_exchange
from rtcdiag.protocol import (
    Address,
    AttrType,
    Message,
    MessageClass,
    Method,
    RequestedTransport,
    long_term_key,
)
from rtcdiag.protocol.transaction import RetransmitPolicy
from rtcdiag.tls import TlsFailure, make_client_context

FAST = RetransmitPolicy().scaled(0.01)  # 395 ms for a whole UDP transaction


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def binding() -> Message:
    return Message(Method.BINDING, MessageClass.REQUEST)


def mapped(reply: Message | None) -> Address | None:
    assert reply is not None
    return reply.get_as(AttrType.XOR_MAPPED_ADDRESS, Address)


# --- coturn: the three transports ---------------------------------------------------------------------

def test_udp_binding_via_exchange(coturn: RunningCoturn) -> None:
    async def go() -> None:
        async with await UdpClient.open(local_host="127.0.0.1") as client:
            t0 = asyncio.get_running_loop().time()
            reply, record = await exchange(client, binding(), dest=(coturn.host, coturn.port),
                                           step="binding", t0=t0)
            address = mapped(reply)
            assert address is not None and (str(address.ip), address.port) == client.local_address
            assert record.outcome == "success" and record.transport == "udp"
            assert record.response == "Binding success response"
            assert record.response_source == f"127.0.0.1:{coturn.port}"
            assert record.attempts == 1 and record.rtt_ms is not None and 0 <= record.rtt_ms < 500
            assert record.attempt_rtts_ms == [record.rtt_ms]
            names = [a.name for a in record.response_attributes]
            assert "XOR-MAPPED-ADDRESS" in names and names[-1] == "FINGERPRINT"  # coturn has `fingerprint`
            assert [a.name for a in record.request_attributes] == ["FINGERPRINT"]
    run(go())


def test_udp_binding_ipv6(coturn: RunningCoturn) -> None:
    if "::1" not in coturn.listening_ips:
        pytest.skip("no IPv6 loopback on this machine")

    async def go() -> None:
        async with await UdpClient.open(socket.AF_INET6, local_host="::1") as client:
            reply, record = await exchange(client, binding(), dest=("::1", coturn.port), step="binding")
            address = mapped(reply)
            assert address is not None and str(address.ip) == "::1"
            assert record.server == f"[::1]:{coturn.port}" and record.response_source == record.server
    run(go())


def test_tcp_binding(coturn: RunningCoturn) -> None:
    async def go() -> None:
        async with await StreamClient.connect(coturn.host, coturn.port) as client:
            reply, record = await exchange(client, binding(), step="binding")
            address = mapped(reply)
            assert address is not None and address.port == client.local_address[1]
            assert record.outcome == "success" and record.transport == "tcp"
    run(go())


def test_tls_binding_with_the_ca_file(coturn: RunningCoturn) -> None:
    assert coturn.tls_port is not None and coturn.ca_cert is not None

    async def go() -> None:
        context = make_client_context(ca_file=str(coturn.ca_cert))
        async with await StreamClient.connect(coturn.host, coturn.tls_port, ssl_context=context,
                                              timeout=2.0) as client:
            info = client.tls_info()
            assert info["version"] in ("TLSv1.2", "TLSv1.3")
            assert client.peer_certificate()
            reply, record = await exchange(client, binding(), step="binding")
            assert mapped(reply) is not None
            assert record.outcome == "success" and record.transport == "tls"
    run(go())


def test_tls_without_the_ca_is_untrusted(coturn: RunningCoturn) -> None:
    assert coturn.tls_port is not None

    async def go() -> None:
        with pytest.raises(TlsError) as info:
            await StreamClient.connect(coturn.host, coturn.tls_port, ssl_context=make_client_context(),
                                       timeout=2.0)
        assert info.value.reason is TlsFailure.UNTRUSTED
        record = transport_error_exchange("connect", "TLS connect", "tls", (coturn.host, coturn.tls_port),
                                          info.value)
        assert record.outcome == "transport-error" and record.error_kind == "tls:untrusted-certificate"
        assert "self-signed" in (record.error or "")
    run(go())


def test_tls_wrong_host_name(coturn: RunningCoturn) -> None:
    assert coturn.tls_port is not None and coturn.ca_cert is not None

    async def go() -> None:
        context = make_client_context(ca_file=str(coturn.ca_cert))
        with pytest.raises(TlsError) as info:
            await StreamClient.connect(coturn.host, coturn.tls_port, ssl_context=context,
                                       server_hostname="turn.example.org", timeout=2.0)
        assert info.value.reason is TlsFailure.HOSTNAME_MISMATCH
    run(go())


def test_tls_insecure_accepts_the_self_signed_certificate(coturn: RunningCoturn) -> None:
    assert coturn.tls_port is not None

    async def go() -> None:
        context = make_client_context(insecure=True)
        async with await StreamClient.connect(coturn.host, coturn.tls_port, ssl_context=context) as client:
            reply, _ = await exchange(client, binding(), step="binding")
            assert mapped(reply) is not None
    run(go())


def test_tls_expired_certificate(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    server = coturn_factory(CoturnOptions(users={"bob": "bob-pass-1"}, self_signed=True, cert_expired=True))
    assert server.tls_port is not None and server.ca_cert is not None

    async def go() -> None:
        context = make_client_context(ca_file=str(server.ca_cert))
        with pytest.raises(TlsError) as info:
            await StreamClient.connect(server.host, server.tls_port, ssl_context=context, timeout=2.0)
        assert info.value.reason is TlsFailure.EXPIRED
    run(go())


def test_allocate_challenge_then_authenticated_allocate_with_integrity(coturn: RunningCoturn) -> None:
    password = coturn.users["alice"]

    async def go() -> None:
        async with await UdpClient.open() as client:
            dest = (coturn.host, coturn.port)
            first = Message(Method.ALLOCATE, MessageClass.REQUEST)
            first.add(AttrType.REQUESTED_TRANSPORT, RequestedTransport(17))
            challenge, record = await exchange(client, first, dest=dest, step="allocate (unauthenticated)")
            assert challenge is not None and record.outcome == "error-response" and record.error_code == 401
            realm, nonce = challenge.get(AttrType.REALM), challenge.get(AttrType.NONCE)
            assert realm == coturn.realm and isinstance(nonce, str)
            key = long_term_key("alice", realm, password)
            second = Message(Method.ALLOCATE, MessageClass.REQUEST)
            second.add(AttrType.REQUESTED_TRANSPORT, RequestedTransport(17))
            credentials = ((AttrType.USERNAME, "alice"), (AttrType.REALM, realm), (AttrType.NONCE, nonce))
            for kind, value in credentials:
                second.add(kind, value)
            reply, record = await exchange(client, second, dest=dest, step="allocate", key=key)
            assert reply is not None and record.outcome == "success", record
            assert reply.has(AttrType.MESSAGE_INTEGRITY) and record.rejected == []
            shown = {a.name: a.value for a in record.response_attributes}
            assert shown["MESSAGE-INTEGRITY"] == "<redacted>"
            assert "XOR-RELAYED-ADDRESS" in shown
            release = Message(Method.REFRESH, MessageClass.REQUEST)
            for kind, value in ((AttrType.LIFETIME, 0), (AttrType.USERNAME, "alice"), (AttrType.REALM, realm),
                                (AttrType.NONCE, nonce)):
                release.add(kind, value)
            _, record = await exchange(client, release, dest=dest, step="release", key=key)
            assert record.outcome == "success"
    run(go())


# --- dead port -----------------------------------------------------------------------------------------

def test_dead_port_udp_is_refused_at_once(dead_port: int) -> None:
    async def go() -> None:
        async with await UdpClient.open() as client:  # RFC timers: only the ICMP error can end it fast
            start = time.monotonic()
            reply, record = await exchange(client, binding(), dest=("127.0.0.1", dead_port), step="binding")
            assert reply is None and record.outcome == "transport-error"
            # ICMP port unreachable is UDP's "connection refused" (RFC 1122 §4.1.3.1)
            assert record.error_kind == "refused" and "ICMP port unreachable" in (record.error or "")
            assert time.monotonic() - start < 0.5
    run(go())


def test_dead_port_tcp_is_refused(dead_port: int) -> None:
    async def go() -> None:
        start = time.monotonic()
        with pytest.raises(RefusedError):
            await StreamClient.connect("127.0.0.1", dead_port, timeout=1.0)
        assert time.monotonic() - start < 0.5
    run(go())


def test_unanswered_udp_times_out_in_bounded_time(hostile: Callable[..., HostileServer]) -> None:
    server = hostile(SILENT)

    async def go() -> None:
        async with await UdpClient.open(policy=FAST) as client:
            start = time.monotonic()
            reply, record = await exchange(client, binding(), dest=server.address, step="binding")
            assert reply is None and record.outcome == "timeout" and record.attempts == 7
            assert time.monotonic() - start < FAST.udp_total + 0.3
    run(go())


# --- hostile servers through the exchange bridge -------------------------------------------------------

@pytest.mark.parametrize(("mode", "reason"), [
    (GARBAGE_MODE, "not a STUN message"),
    (WRONG_TXID, "does not match the request"),
    (BAD_FINGERPRINT, "FINGERPRINT does not match"),
    (TRUNCATED, "truncated STUN message"),
])
def test_hostile_udp_replies_are_rejected_not_trusted(hostile: Callable[..., HostileServer], mode: str,
                                                      reason: str) -> None:
    server = hostile(mode)

    async def go() -> None:
        async with await UdpClient.open(policy=FAST) as client:
            reply, record = await exchange(client, binding(), dest=server.address, step="binding")
            assert reply is None and record.outcome == "rejected"
            assert record.rejected_count == record.attempts == 7
            assert len(record.rejected) == 5  # the first few are kept as evidence, all are counted
            assert all(reason in r and f"127.0.0.1:{server.port}" in r for r in record.rejected)
    run(go())


def test_wrong_message_integrity_is_rejected(hostile: Callable[..., HostileServer]) -> None:
    server = hostile(WRONG_INTEGRITY)

    async def go() -> None:
        async with await UdpClient.open(policy=FAST) as client:
            reply, record = await exchange(client, binding(), dest=server.address, step="binding",
                                           key=b"the-real-key")
            assert reply is None and record.outcome == "rejected"
            assert "MESSAGE-INTEGRITY does not verify" in record.rejected[0]
            # the same reply is accepted by a client holding the key it was made with
            reply, record = await exchange(client, binding(), dest=server.address, step="binding",
                                           key=WRONG_KEY)
            assert reply is not None and record.outcome == "success"
    run(go())


@pytest.mark.parametrize(("mode", "kind", "text"), [
    (GARBAGE_MODE, "malformed", "48 54 54 50"),
    (TRUNCATED, "closed", "in the middle of a message"),
])
def test_hostile_tcp_streams_are_transport_errors(hostile: Callable[..., HostileServer], mode: str, kind: str,
                                                  text: str) -> None:
    server = hostile(mode)

    async def go() -> None:
        async with await StreamClient.connect(*server.address, policy=FAST) as client:
            reply, record = await exchange(client, binding(), step="binding")
            assert reply is None and record.outcome == "transport-error"
            assert record.error_kind == kind and text in (record.error or "")
    run(go())


def test_indication_is_recorded_as_sent(coturn: RunningCoturn) -> None:
    async def go() -> None:
        async with await UdpClient.open() as client:
            msg = Message(Method.BINDING, MessageClass.INDICATION)  # RFC 8489 §6.1: keepalive indication
            record = await indication(client, msg, dest=(coturn.host, coturn.port), step="keepalive")
            assert record.outcome == "sent" and record.request == "Binding indication"
            assert await client.receive(0.05) is None  # no answer to an indication
    run(go())
