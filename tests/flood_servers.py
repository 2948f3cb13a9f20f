"""Servers that never stop talking: the client must bound what it keeps and still end at its timeout.

``flood_server(mode)`` listens on one loopback port for UDP *and* TCP, in daemon threads. For every request it
starts an endless stream (bounded only by ``max_s``, the peer going away, or the ``with`` block ending) of
replies that look valid but must be rejected or ignored:

- a success response of the request's method with *another* transaction id, SOFTWARE full of ESC sequences;
- an error response to the request's transaction id but of another method (rejected: wrong method), its
  reason phrase full of ANSI escapes, C1 controls and bidi overrides;
- a response to the request's transaction id with a FINGERPRINT that does not verify;
- a Data indication and a ChannelData frame nobody asked for.

Modes:
- ``FLOOD``: only the flood, never a valid reply;
- ``FLOOD_ANSWER``: the flood, and from ``answer_after_s`` on a valid Binding error response 400 whose
  reason phrase and SOFTWARE carry control characters (so that they reach the report), plus 4000
  attributes of unknown types;
- ``TURN_FLOOD``: an unauthenticated Allocate gets a 401 whose REALM and NONCE carry ESC sequences and
  C1 controls (the NONCE announces USERHASH, RFC 8489 §9.2): a challenge no client can answer
  (TURN-CHALLENGE-UNUSABLE); everything else gets the flood.
- ``TURN_GRANT``: a TURN server that works (UDP): 401 with a REALM full of bidi overrides, then Allocate,
  CreatePermission, ChannelBind and Refresh succeed (MESSAGE-INTEGRITY with ``USER``/``PASSWORD``), and
  from CreatePermission on it floods the client with Data indications and ChannelData nobody sent, and the
  client's echo peer with datagrams, while the client measures the data path.

A reply (401, 400, or a success) is repeated in every round of the flood after it is due, so that the
flood itself cannot drown it (the client ignores copies of a finished transaction). Over TCP no ChannelData
is sent (before a ChannelBind it ends the connection, RFC 8656 §12): the stream
goes on forever.

Replies are built with the project's codec: what is tested here is what the client keeps, not parsing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import selectors
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from servers import _bind_pair  # one UDP + TCP port pair, as the hostile servers bind it

from rtcdiag.protocol import (
    Address,
    AttrType,
    ChannelData,
    ErrorCode,
    Message,
    MessageClass,
    Method,
    StunParseError,
)

FLOOD = "flood"
FLOOD_ANSWER = "flood-answer"
TURN_FLOOD = "turn-flood"
TURN_GRANT = "turn-grant"
USER = "alice"
PASSWORD = "hostile-test-password"

HOSTILE_SOFTWARE = "evil\x1b[2J\x1b[H\x1b]0;owned\x07 \u009b31mred \u202egnp.exe\r\nPASS all checks"
HOSTILE_REASON = "\x1b[32mOK\x1b[0m \x00\u0085\u2066bidi\u2069\x08\x08\x08"
HOSTILE_REALM = "realm\x1b[5m\u009d\u202e\x1b]8;;http://evil/\x07"
# "obMatJos2" + base64(0x400000): the nonce cookie announcing username anonymity (USERHASH, RFC 8489 §9.2)
HOSTILE_NONCE = "obMatJos2QAAA\x1b]52;c;cHduZWQ=\x07\u0090nonce"
PLAIN_HOSTILE_NONCE = "nonce\u202e\u200b\u2066"  # no cookie: USERNAME, so that the key is the usual one
# TURN_GRANT's realm: no control characters (those make a challenge unusable, RFC 8489 §14.9), but bidi
# overrides and invisible characters, which a quoted-string may carry and the report must not print raw.
GRANT_REALM = "realm\u202e\u2066bidi\u2069\u200b"
UNKNOWN_TYPE = 0x7F31  # comprehension-optional, unassigned
MANY = 4000

BURST = 32  # datagrams per round and target
MAX_TARGETS = 64


def _xor_mapped(source: tuple[str, int]) -> Address:
    return Address.of(source[0], source[1])


def flood_frames(request: Message, source: tuple[str, int], *, channel_data: bool = True) -> list[bytes]:
    """One cycle of the flood for ``request`` from ``source`` (the server repeats it forever)."""
    frames: list[bytes] = []
    other_method = Method.ALLOCATE if request.method != Method.ALLOCATE else Method.BINDING
    for _ in range(4):
        stray = Message(request.method, MessageClass.SUCCESS, os.urandom(12))
        stray.add(AttrType.XOR_MAPPED_ADDRESS, _xor_mapped(source)).add(AttrType.SOFTWARE, HOSTILE_SOFTWARE)
        frames.append(stray.encode(fingerprint=True))
    wrong = Message(other_method, MessageClass.ERROR, request.transaction_id)
    wrong.add(AttrType.ERROR_CODE, ErrorCode(400, HOSTILE_REASON)).add(AttrType.SOFTWARE, HOSTILE_SOFTWARE)
    frames.append(wrong.encode(fingerprint=True))
    bad_fp = Message(request.method, MessageClass.ERROR, request.transaction_id)
    bad_fp.add(AttrType.ERROR_CODE, ErrorCode(400, HOSTILE_REASON))
    raw = bytearray(bad_fp.encode(fingerprint=True))
    raw[-1] ^= 0x01
    frames.append(bytes(raw))
    data = Message(Method.DATA, MessageClass.INDICATION)
    data.add(AttrType.XOR_PEER_ADDRESS, _xor_mapped(source)).add(AttrType.DATA, b"\x1b[2J" * 64)
    frames.append(data.encode())
    if channel_data:
        frames.append(ChannelData(0x4000, b"\x1b]0;owned\x07" * 16).encode())
    return frames


def data_flood(peer: Address | None) -> list[bytes]:
    """Data indications (from the peer) and ChannelData (channel 0x4000) that the client never caused."""
    frames: list[bytes] = []
    for _ in range(4):
        data = Message(Method.DATA, MessageClass.INDICATION)
        data.add(AttrType.XOR_PEER_ADDRESS, peer or Address.of("127.0.0.1", 9)).add(
            AttrType.DATA, b"\x80rtcdiag" + os.urandom(8))
        frames.append(data.encode())
        frames.append(ChannelData(0x4000, b"\x80rtcdiag" + os.urandom(8)).encode())
    return frames


def _granted(request: Message, key: bytes, source: tuple[str, int], relay_port: int) -> bytes:
    reply = Message(request.method, MessageClass.SUCCESS, request.transaction_id)
    reply.add(AttrType.SOFTWARE, HOSTILE_SOFTWARE)
    if request.method == Method.ALLOCATE:
        reply.add(AttrType.XOR_RELAYED_ADDRESS, Address.of("127.0.0.1", relay_port))
        reply.add(AttrType.XOR_MAPPED_ADDRESS, _xor_mapped(source)).add(AttrType.LIFETIME, 600)
    elif request.method == Method.REFRESH:
        lifetime = request.get_as(AttrType.LIFETIME, int)
        reply.add(AttrType.LIFETIME, 600 if lifetime is None else lifetime)
    return reply.encode(integrity_key=key, fingerprint=True)


def _answer(request: Message) -> bytes:
    reply = Message(request.method, MessageClass.ERROR, request.transaction_id)
    reply.add(AttrType.ERROR_CODE, ErrorCode(400, HOSTILE_REASON)).add(AttrType.SOFTWARE, HOSTILE_SOFTWARE)
    reply.add_raw(UNKNOWN_TYPE, b"\x1b[31m\x9b\x00")
    for i in range(MANY):  # 4000 more attributes of unknown type: the report must not list them all
        reply.add_raw(0x8100 + i % 0x100, b"")
    return reply.encode(fingerprint=True)


def _challenge(request: Message, nonce: str, realm: str = HOSTILE_REALM) -> bytes:
    reply = Message(request.method, MessageClass.ERROR, request.transaction_id)
    reply.add(AttrType.ERROR_CODE, ErrorCode(401, HOSTILE_REASON)).add(AttrType.SOFTWARE, HOSTILE_SOFTWARE)
    reply.add(AttrType.REALM, realm).add(AttrType.NONCE, nonce)
    return reply.encode(fingerprint=True)


@dataclass
class _Flow:
    frames: list[bytes]
    answer: bytes | None
    answer_at: float
    until: float
    index: int = 0
    extra: tuple[tuple[str, int], list[bytes]] | None = None  # also flood this address (the echo peer)

    def batch(self, now: float, count: int) -> list[bytes]:
        """The next ``count`` flood frames, with the reply first once it is due."""
        frames = self.next_batch(count)
        if self.answer is not None and now >= self.answer_at:
            frames.insert(0, self.answer)
        return frames

    def next_batch(self, count: int) -> list[bytes]:
        if not self.frames:
            return []
        batch = [self.frames[(self.index + i) % len(self.frames)] for i in range(count)]
        self.index += count
        return batch


@dataclass
class FloodServer:
    mode: str
    host: str
    port: int
    max_s: float
    answer_after_s: float
    requests: int = 0
    sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def respond(self, data: bytes, source: tuple[str, int], *, stream: bool = False) -> _Flow | None:
        """What to do about one request: a reply (``answer``, due at ``answer_at``) and/or a flood."""
        try:
            request = Message.decode(data)
        except StunParseError:
            return None
        if request.msg_class != MessageClass.REQUEST:
            return None
        self.requests += 1
        now = time.monotonic()
        until = now + self.max_s
        flood = flood_frames(request, source, channel_data=not stream)
        unauthenticated = not request.has(AttrType.MESSAGE_INTEGRITY) \
            and not request.has(AttrType.MESSAGE_INTEGRITY_SHA256)
        if self.mode in (TURN_FLOOD, TURN_GRANT) and request.method == Method.ALLOCATE and unauthenticated:
            challenge = _challenge(request, HOSTILE_NONCE) if self.mode == TURN_FLOOD else \
                _challenge(request, PLAIN_HOSTILE_NONCE, GRANT_REALM)
            return _Flow(flood if self.mode == TURN_FLOOD else [], challenge, now, until)
        if self.mode == TURN_GRANT:
            key = hashlib.md5(f"{USER}:{GRANT_REALM}:{PASSWORD}".encode()).digest()
            answer = _granted(request, key, source, self.port)
            if request.method == Method.ALLOCATE:
                return _Flow([], answer, now, until)
            peer = request.get_as(AttrType.XOR_PEER_ADDRESS, Address)
            extra = ((str(peer.ip), peer.port), [b"\x1b[2J junk for the echo peer"]) if peer else None
            return _Flow(data_flood(peer), answer, now, until, extra=extra)
        if self.mode == FLOOD_ANSWER:
            return _Flow(flood, _answer(request), now + self.answer_after_s, until)
        return _Flow(flood, None, now, until)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=3)


@contextlib.contextmanager
def flood_server(mode: str, host: str = "127.0.0.1", *, max_s: float = 30.0,
                 answer_after_s: float = 0.3) -> Iterator[FloodServer]:
    """Run a flooding server (UDP and TCP on one port) for the ``with`` block; every flood ends by itself
    after ``max_s`` seconds at the latest."""
    udp, tcp, port = _bind_pair(host)
    server = FloodServer(mode=mode, host=host, port=port, max_s=max_s, answer_after_s=answer_after_s)
    for target, sock in ((_serve_udp, udp), (_serve_tcp, tcp)):
        thread = threading.Thread(target=target, args=(server, sock), daemon=True, name=f"flood-{mode}")
        server._threads.append(thread)
        thread.start()
    try:
        yield server
    finally:
        server.stop()


def _serve_udp(server: FloodServer, udp: socket.socket) -> None:
    udp.setblocking(False)
    flows: dict[tuple[str, int], _Flow] = {}
    sel = selectors.DefaultSelector()
    sel.register(udp, selectors.EVENT_READ)
    try:
        while not server._stop.is_set():
            sel.select(timeout=0 if flows else 0.05)
            for _ in range(64):  # take new requests (bounded per round)
                try:
                    data, source = udp.recvfrom(65535)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    continue  # ICMP error of an earlier send
                peer = (str(source[0]), int(source[1]))
                flow = server.respond(data, peer)
                if flow is not None and (peer in flows or len(flows) < MAX_TARGETS):
                    flows[peer] = flow
                    if flow.extra is not None:
                        target, frames = flow.extra
                        flows[target] = _Flow(frames, None, flow.answer_at, flow.until)
            now = time.monotonic()
            for peer, flow in list(flows.items()):
                if now >= flow.until:
                    del flows[peer]
                    continue
                for frame in flow.batch(now, BURST):
                    try:
                        udp.sendto(frame, peer)
                        server.sent += 1
                    except BlockingIOError:
                        break
                    except OSError:  # ICMP port unreachable: the client is gone
                        flows.pop(peer, None)
                        break
    finally:
        sel.close()
        udp.close()


def _serve_tcp(server: FloodServer, tcp: socket.socket) -> None:
    tcp.settimeout(0.05)
    conns: list[threading.Thread] = []
    try:
        while not server._stop.is_set():
            try:
                conn, _ = tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if len(conns) >= MAX_TARGETS:
                conn.close()
                continue
            thread = threading.Thread(target=_stream, args=(server, conn), daemon=True)
            conns.append(thread)
            thread.start()
    finally:
        tcp.close()
        for thread in conns:
            thread.join(timeout=3)


def _stream(server: FloodServer, conn: socket.socket) -> None:
    """Read requests (length framing, RFC 8489 §6.2.2) and stream the flood back until the peer leaves.

    Non-blocking with an outgoing buffer, so a client that stops reading never gets a frame cut in half."""
    conn.setblocking(False)
    inbox = b""
    outbox = b""
    flow: _Flow | None = None
    peer = conn.getpeername()
    try:
        while not server._stop.is_set():
            readable, writable, _ = select.select([conn], [conn] if flow else [], [], 0.05)
            if readable:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                inbox += chunk
            while len(inbox) >= 20 and len(inbox) >= 20 + struct.unpack("!H", inbox[2:4])[0]:
                size = 20 + struct.unpack("!H", inbox[2:4])[0]
                flow = server.respond(inbox[:size], (peer[0], peer[1]), stream=True) or flow
                inbox = inbox[size:]
            if flow is None or not writable:
                continue
            now = time.monotonic()
            if now >= flow.until:
                return
            if not outbox:
                batch = flow.batch(now, BURST)
                outbox = b"".join(batch)
                server.sent += len(batch)
            with contextlib.suppress(BlockingIOError):
                outbox = outbox[conn.send(outbox):]
    except OSError:
        return
    finally:
        conn.close()
