"""RFC 6062 TCP relay (``--tcp-relay``): is the server able to relay a TCP connection to a TCP peer?

On a control connection of its own (an allocation belongs to one 5-tuple, RFC 8656 §2.2):

1. Allocate with REQUESTED-TRANSPORT TCP (6) (RFC 6062 §4.1; 442 = no TCP relays), challenge first;
2. a local TCP echo peer (run by the probe, of the relay's family), CreatePermission for it;
3. Connect (method 0x000A) with XOR-PEER-ADDRESS: the server opens the peer connection and answers with a
   CONNECTION-ID (§4.3; 446 Connection Already Exists, 447 Connection Timeout or Failure);
4. a second, *data* connection to the server carrying ConnectionBind with that CONNECTION-ID and the same
   credentials (§4.4); after its success response the data connection is a raw byte pipe to the peer;
5. tagged chunks written one at a time and read back from the echo (RTT, byte-identical or not);
   then the peer-initiated direction (§4.5): the peer connects to the relayed address from its permitted IP,
   the server sends a ConnectionAttempt indication (CONNECTION-ID, XOR-PEER-ADDRESS) on the control
   connection, a new data connection binds it and the chunks are echoed by the peer's side (``incoming``);
6. release: Refresh LIFETIME=0 on the control connection (RFC 8656 §8), then every socket closed.

Only facts are recorded (``TcpRelayResult``); rtcdiag.triage.turn judges them. Every read is bounded: the
ConnectionBind response by its STUN length (at most ``_MAX_BIND_REPLY`` bytes), each echo by the chunk size;
the echo peer accepts a few connections and echoes a bounded number of bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import struct

from rtcdiag.net import StreamClient, TransportError
from rtcdiag.net.sockaddr import source_ip_toward
from rtcdiag.probes.exchange import address_of, hostport, take_error
from rtcdiag.probes.record import MAX_SHOWN_ATTRIBUTES, Exchange, Outcome
from rtcdiag.probes.turn_result import RelayFamily, TcpRelayResult
from rtcdiag.probes.turn_session import Credentials, TurnSession
from rtcdiag.protocol import (
    AddressFamily,
    AttrType,
    Message,
    MessageClass,
    Method,
    RequestedAddressFamily,
    RequestedTransport,
    StunParseError,
    TransportProtocol,
    verify_message_integrity,
)
from rtcdiag.protocol.attributes import Address
from rtcdiag.protocol.describe import describe, summary
from rtcdiag.protocol.transaction import RetransmitPolicy

CHUNK_BYTES = 256  # one echoed chunk: tag + sequence + random bytes
MAX_CHUNKS = 100
_TAG = b"\x80rtcdiag-tcp"
_MAX_BIND_REPLY = 4096  # a ConnectionBind response is a few dozen bytes; refuse to buffer more
_MAX_IGNORED = 64  # other messages on the control connection while waiting for a ConnectionAttempt
_PEER_MAX_CONNECTIONS = 4
_PEER_MAX_BYTES = CHUNK_BYTES * MAX_CHUNKS * 2
RELEASE_TIMEOUT_S = 2.0


class TcpEchoPeer:
    """A local TCP server that echoes what it receives (bounded: a few connections, a capped byte count)."""

    def __init__(self, server: asyncio.Server, address: tuple[str, int]) -> None:
        self.server = server
        self.address = address
        self.accepted = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, toward: tuple[str, int]) -> TcpEchoPeer:
        """Listen on the local address that routes to ``toward`` (the relayed address: same family)."""
        family = socket.AF_INET6 if ":" in toward[0] else socket.AF_INET
        host = source_ip_toward(toward, family)
        holder: list[TcpEchoPeer] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = holder[0]
            peer.accepted += 1
            if peer.accepted > _PEER_MAX_CONNECTIONS:
                writer.close()
                return
            task = asyncio.current_task()
            if task is not None:
                peer._tasks.add(task)
            peer._writers.add(writer)
            try:
                await _echo_back(reader, writer)
            finally:
                writer.close()
                peer._writers.discard(writer)
                if task is not None:
                    peer._tasks.discard(task)

        server = await asyncio.start_server(handle, host=host, port=0, family=family)
        sockname = server.sockets[0].getsockname()
        peer = cls(server, (str(sockname[0]), int(sockname[1])))
        holder.append(peer)
        return peer

    async def close(self) -> None:
        """Stop listening; close every echo connection (its reader then ends, so the handler returns: a
        cancelled handler task would be reported by asyncio's stream callback)."""
        self.server.close()
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        for task in list(self._tasks):
            task.cancel()


def tcp_allocate_request(family: RelayFamily) -> Message:
    """Allocate for a TCP relay (RFC 6062 §4.1: REQUESTED-TRANSPORT 6); IPv6 asked as in RFC 8656 §7.1."""
    msg = Message(Method.ALLOCATE, MessageClass.REQUEST)
    msg.add(AttrType.REQUESTED_TRANSPORT, RequestedTransport(TransportProtocol.TCP))
    if family is RelayFamily.IPV6:
        msg.add(AttrType.REQUESTED_ADDRESS_FAMILY, RequestedAddressFamily(AddressFamily.IPV6))
    return msg


def _peer_request(method: Method, peer: tuple[str, int]) -> Message:
    return Message(method, MessageClass.REQUEST).add(AttrType.XOR_PEER_ADDRESS, Address.of(peer[0], peer[1]))


async def check_tcp_relay(server: tuple[str, int], transport: str, server_name: str,
                          credentials: Credentials | None, *, family: RelayFamily,
                          ssl_context: ssl.SSLContext | None, timeout_s: float, policy: RetransmitPolicy,
                          t0: float, chunks: int) -> TcpRelayResult:
    """The whole RFC 6062 sequence against ``server`` over TCP or TLS; never raises for network failures."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    r = TcpRelayResult()
    control: StreamClient | None = None
    session: TurnSession | None = None
    peer: TcpEchoPeer | None = None
    data_writer: asyncio.StreamWriter | None = None
    incoming_writer: asyncio.StreamWriter | None = None
    peer_side: asyncio.StreamWriter | None = None
    try:
        try:
            control = await StreamClient.connect(server[0], server[1], ssl_context=ssl_context,
                                                 server_hostname=server_name, timeout=timeout_s,
                                                 policy=policy)
        except TransportError as err:
            r.error = f"control connection: {err}"
            return r
        session = TurnSession(control, server, transport, r.steps, t0, policy)
        if not await _allocate(session, r, credentials, family):
            return r
        assert r.relayed_address is not None
        relay = r.relayed_address.rpartition(":")
        try:
            peer = await TcpEchoPeer.open((relay[0].strip("[]"), int(relay[2])))
        except OSError as err:  # no local address routes to the relay (or none may send there)
            r.local_error = f"no local TCP echo peer can reach the relay {r.relayed_address} ({err})"
            return r
        r.peer = hostport(peer.address)
        connection_id = await _connect_peer(session, r, peer.address)
        if connection_id is None:
            return r
        data_writer = await _bind(session, r, server, server_name, ssl_context, timeout_s, t0, connection_id,
                                  max(1, min(chunks, MAX_CHUNKS)))
        r.peer_accepted = peer.accepted > 0
        if r.bound and r.chunks_echoed == r.chunks_sent:
            r.incoming = TcpRelayResult(peer=r.peer, allocated=True, relayed_address=r.relayed_address)
            incoming_writer = await _incoming(session, r.incoming, peer.address, server, server_name,
                                              ssl_context, timeout_s, t0, max(1, min(chunks, MAX_CHUNKS)))
    finally:
        for writer in (incoming_writer, peer_side):
            if writer is not None:
                writer.close()
        await _release(r, session, peer, control, data_writer)
        r.duration_ms = round((loop.time() - started) * 1000.0, 3)
    return r


async def _allocate(session: TurnSession, r: TcpRelayResult, credentials: Credentials | None,
                    family: RelayFamily) -> bool:
    """Challenge, then the authenticated TCP Allocate (RFC 6062 §4.1); True when allocated."""
    reply, record = await session.request(lambda: tcp_allocate_request(family),
                                          "tcp allocate (unauthenticated)", authenticated=False)
    if reply is not None and reply.error_code == 401 and credentials is not None:
        session.learn_challenge(reply)
        if session.realm is None or session.nonce is None:
            take_error(r, reply, "TCP Allocate request (401 without REALM or NONCE)")
            return False
        session.set_credentials(credentials)
        reply, record = await session.request(lambda: tcp_allocate_request(family),
                                              "tcp allocate (authenticated)")
    if reply is None:
        r.error = f"TCP Allocate request: {record.error or record.outcome}"
        return False
    if reply.msg_class != MessageClass.SUCCESS:
        take_error(r, reply, "TCP Allocate request")
        return False
    relayed = address_of(reply, AttrType.XOR_RELAYED_ADDRESS)
    r.allocated = True
    if relayed is None:
        r.error = "the TCP Allocate success has no XOR-RELAYED-ADDRESS"
        return False
    r.relayed_address = hostport(relayed)
    return True


async def _connect_peer(session: TurnSession, r: TcpRelayResult, peer: tuple[str, int]) -> int | None:
    """CreatePermission, then Connect (RFC 6062 §4.3): the CONNECTION-ID, or None (recorded why)."""
    reply, record = await session.request(lambda: _peer_request(Method.CREATE_PERMISSION, peer),
                                          "tcp create-permission")
    if reply is None or reply.msg_class != MessageClass.SUCCESS:
        if reply is not None:
            take_error(r, reply, "CreatePermission request")
        else:
            r.error = f"CreatePermission request: {record.error or record.outcome}"
        return None
    reply, record = await session.request(lambda: _peer_request(Method.CONNECT, peer), "connect")
    if reply is None:
        r.error = f"Connect request: {record.error or record.outcome}"
        return None
    if reply.msg_class != MessageClass.SUCCESS:
        take_error(r, reply, "Connect request")
        return None
    connection_id = reply.find(AttrType.CONNECTION_ID, int)
    if connection_id is None or isinstance(connection_id, bool):
        r.error = "the Connect success has no CONNECTION-ID"
        return None
    r.connection_id = connection_id
    return connection_id


async def _bind(session: TurnSession, r: TcpRelayResult, server: tuple[str, int], server_name: str,
                ssl_context: ssl.SSLContext | None, timeout_s: float, t0: float,
                connection_id: int, chunks: int) -> asyncio.StreamWriter | None:
    """The data connection: ConnectionBind (RFC 6062 §4.4), then chunks echoed through the peer."""
    loop = asyncio.get_running_loop()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            server[0], server[1], ssl=ssl_context, server_hostname=server_name if ssl_context else None),
            timeout_s)
    except (OSError, TimeoutError, ssl.SSLError) as err:
        r.error = f"data connection to {hostport(server)}: {err or type(err).__name__}"
        return None
    msg = Message(Method.CONNECTION_BIND, MessageClass.REQUEST).add(AttrType.CONNECTION_ID, connection_id)
    data, key = session.encode_signed(msg)
    record = Exchange(step="connection-bind (data connection)", request=summary(msg),
                      transport=session.transport, server=hostport(server),
                      started_ms=round((loop.time() - t0) * 1000.0, 3),
                      request_attributes=describe(Message.decode(data)), attempts=1)
    r.steps.append(record)
    sent_at = loop.time()
    try:
        writer.write(data)
        header = await asyncio.wait_for(reader.readexactly(20), timeout_s)
        length = struct.unpack("!H", header[2:4])[0]
        if header[0] & 0xC0 or length > _MAX_BIND_REPLY:
            raise StunParseError(f"not a STUN message (first bytes {header[:4].hex()}, length {length})")
        raw = header + await asyncio.wait_for(reader.readexactly(length), timeout_s)
        reply = Message.decode(raw)
    except TimeoutError:
        record.outcome, record.error = Outcome.TIMEOUT, "no ConnectionBind response"
        r.error = "the ConnectionBind got no answer on the data connection"
        return writer
    except (OSError, asyncio.IncompleteReadError, ssl.SSLError) as err:
        record.outcome, record.error = Outcome.TRANSPORT_ERROR, f"data connection: {err}"
        r.error = f"data connection lost during ConnectionBind: {err}"
        return writer
    except StunParseError as err:
        record.outcome, record.error = Outcome.REJECTED, f"malformed ConnectionBind reply: {err}"
        record.rejected, record.rejected_count = [str(err)], 1
        r.error = f"the ConnectionBind reply is not STUN: {err}"
        return writer
    record.rtt_ms = round((loop.time() - sent_at) * 1000.0, 3)
    record.response, record.error_code = summary(reply), reply.error_code
    record.response_attributes = describe(reply, limit=MAX_SHOWN_ATTRIBUTES)
    record.response_attribute_count = len(reply.attributes)
    record.response_source = hostport(server)
    if reply.transaction_id != msg.transaction_id or reply.method != Method.CONNECTION_BIND:
        record.outcome, record.error = Outcome.REJECTED, f"reply {summary(reply)} does not match the request"
        r.error = "the ConnectionBind reply does not match the request"
        return writer
    if reply.msg_class == MessageClass.SUCCESS and key is not None \
            and verify_message_integrity(raw, key) is not True:
        # RFC 8489 §9.2.5: a success to an authenticated request needs valid MESSAGE-INTEGRITY.
        record.outcome = Outcome.REJECTED
        record.error = "ConnectionBind success without valid MESSAGE-INTEGRITY (RFC 8489 §9.2.5)"
        r.error = record.error
        return writer
    record.outcome = Outcome.SUCCESS if reply.msg_class == MessageClass.SUCCESS else Outcome.ERROR_RESPONSE
    if reply.msg_class != MessageClass.SUCCESS:
        take_error(r, reply, "ConnectionBind request")
        return writer
    r.bound = True
    await _echo_chunks(r, reader, writer, timeout_s, chunks)
    return writer


async def _incoming(session: TurnSession, r: TcpRelayResult, peer: tuple[str, int], server: tuple[str, int],
                    server_name: str, ssl_context: ssl.SSLContext | None, timeout_s: float, t0: float,
                    chunks: int) -> asyncio.StreamWriter | None:
    """The peer-initiated direction (RFC 6062 §4.5): the peer (from the permitted IP) connects to the relayed
    address; the server announces it with a ConnectionAttempt indication carrying CONNECTION-ID and
    XOR-PEER-ADDRESS on the control connection; a new data connection binds it; chunks echoed by the peer's
    side of that connection. Returns the data connection's writer (closed by the caller)."""
    assert r.relayed_address is not None
    host, _, port = r.relayed_address.rpartition(":")
    try:
        peer_reader, peer_writer = await asyncio.wait_for(asyncio.open_connection(
            host.strip("[]"), int(port), local_addr=(peer[0], 0)), timeout_s)
    except (OSError, TimeoutError) as err:
        r.error = f"the peer could not connect to the relayed address {r.relayed_address}: " \
                  f"{err or type(err).__name__}"
        return None
    echo = asyncio.get_running_loop().create_task(_echo_back(peer_reader, peer_writer))
    try:
        connection_id = await _connection_attempt(session, r, timeout_s)
        if connection_id is None:
            return None
        r.connection_id = connection_id
        return await _bind(session, r, server, server_name, ssl_context, timeout_s, t0, connection_id, chunks)
    finally:
        peer_writer.close()
        if not echo.done():
            await asyncio.wait([echo], timeout=1.0)
        if not echo.done():
            echo.cancel()


async def _echo_back(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The peer's side of a peer-initiated connection: echo what arrives (bounded)."""
    echoed = 0
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while echoed < _PEER_MAX_BYTES:
            data = await reader.read(min(65536, _PEER_MAX_BYTES - echoed))
            if not data:
                break
            writer.write(data)
            await writer.drain()
            echoed += len(data)


async def _connection_attempt(session: TurnSession, r: TcpRelayResult, timeout_s: float) -> int | None:
    """Wait (bounded) on the control connection for the ConnectionAttempt indication (RFC 6062 §4.5)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    ignored = 0
    while (remaining := deadline - loop.time()) > 0 and ignored < _MAX_IGNORED:
        got = await session.client.receive(remaining)
        if got is None:
            break
        try:
            msg = Message.decode(got.data)
        except StunParseError:
            ignored += 1
            continue
        if msg.method != Method.CONNECTION_ATTEMPT or msg.msg_class != MessageClass.INDICATION:
            ignored += 1
            continue
        connection_id = msg.find(AttrType.CONNECTION_ID, int)
        r.steps.append(Exchange(step="connection-attempt (indication from the server)", request="-",
                                transport=session.transport, server=hostport(session.server),
                                outcome=Outcome.SUCCESS, response=summary(msg),
                                response_attributes=describe(msg, limit=MAX_SHOWN_ATTRIBUTES),
                                response_attribute_count=len(msg.attributes)))
        if connection_id is None or isinstance(connection_id, bool):
            r.error = "the ConnectionAttempt indication has no CONNECTION-ID"
            return None
        return connection_id
    r.error = f"no ConnectionAttempt indication within {timeout_s:.1f} s after the peer connected to the " \
              f"relayed address"
    return None


async def _echo_chunks(r: TcpRelayResult, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       timeout_s: float, chunks: int) -> None:
    """One chunk at a time: write, read the same number of bytes back, compare (RFC 6062 §5.3)."""
    loop = asyncio.get_running_loop()
    prefix = _TAG + os.urandom(4)
    for seq in range(chunks):
        chunk = prefix + seq.to_bytes(4, "big")
        chunk += os.urandom(CHUNK_BYTES - len(chunk))
        sent_at = loop.time()
        try:
            writer.write(chunk)
            r.chunks_sent += 1
            r.bytes_sent += len(chunk)
            back = await asyncio.wait_for(reader.readexactly(len(chunk)), timeout_s)
        except TimeoutError:
            r.error = f"chunk {seq + 1}: nothing came back within {timeout_s:.1f} s"
            return
        except asyncio.IncompleteReadError as err:
            r.bytes_received += len(err.partial)
            r.error = f"chunk {seq + 1}: the data connection was closed ({len(err.partial)} bytes came back)"
            return
        except (OSError, ssl.SSLError) as err:
            r.error = f"chunk {seq + 1}: data connection failed: {err}"
            return
        r.bytes_received += len(back)
        if back != chunk:
            r.corrupted += 1
            continue
        r.chunks_echoed += 1
        r.rtts_ms.append(round((loop.time() - sent_at) * 1000.0, 3))
    if r.rtts_ms:
        r.rtt_avg_ms = round(sum(r.rtts_ms) / len(r.rtts_ms), 3)


async def _release(r: TcpRelayResult, session: TurnSession | None, peer: TcpEchoPeer | None,
                   control: StreamClient | None, data_writer: asyncio.StreamWriter | None) -> None:
    """Refresh LIFETIME=0 (RFC 8656 §8) if allocated, then close the data connection, peer and control."""
    try:
        if r.allocated and session is not None:
            # Bounded by the transaction's own timers, not a cancellation that would drop an answer already
            # in the socket while this process waited for the CPU (rtcdiag.probes.turn._release).
            try:
                reply, _ = await session.request(
                    lambda: Message(Method.REFRESH, MessageClass.REQUEST).add(AttrType.LIFETIME, 0),
                    "tcp refresh (release, LIFETIME=0)", policy=session.policy.within(RELEASE_TIMEOUT_S))
                r.released = reply is not None and reply.msg_class == MessageClass.SUCCESS
            except TransportError:
                r.released = False
    finally:
        if data_writer is not None:
            data_writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(data_writer.wait_closed(), 1.0)
        if peer is not None:
            await peer.close()
        if control is not None:
            with contextlib.suppress(Exception):
                await control.close()


