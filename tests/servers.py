"""Hostile STUN servers for tests: replies no real server would send, written byte by byte here.

Each server listens on one loopback port for UDP *and* TCP and runs in a daemon thread. For every request it
receives it sends the replies its mode dictates. The STUN bytes are built by hand (RFC 8489 §5, §14.2,
§14.7) so that the tests do not trust the codec under test.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import selectors
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

MAGIC_COOKIE = 0x2112A442
FINGERPRINT_XOR = 0x5354554E  # RFC 8489 §14.7
BINDING_SUCCESS = 0x0101
XOR_MAPPED_ADDRESS = 0x0020
SOFTWARE = 0x8022
FINGERPRINT = 0x8028
MESSAGE_INTEGRITY = 0x0008

GARBAGE = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"

# Modes: what the server answers to each request.
GARBAGE_MODE = "garbage"  # bytes that are not STUN at all
WRONG_TXID = "wrong-txid"  # a well-formed Binding success for another transaction
BAD_FINGERPRINT = "bad-fingerprint"  # right transaction, FINGERPRINT CRC off by one
TRUNCATED = "truncated"  # header says 12 bytes of attributes, only 4 follow
SILENT = "silent"  # reads the request, never answers
WRONG_TXID_THEN_GOOD = "wrong-txid-then-good"  # a stray reply first, then the real one
BAD_FINGERPRINT_THEN_GOOD = "bad-fingerprint-then-good"
GOOD = "good"  # a correct Binding success response (XOR-MAPPED-ADDRESS, SOFTWARE, FINGERPRINT)
DROP_FIRST_TWO = "drop-first-two"  # ignores the first two copies of each transaction, answers the third
WRONG_INTEGRITY = "wrong-integrity"  # MESSAGE-INTEGRITY keyed with WRONG_KEY, then a valid FINGERPRINT
FLOOD_THEN_GOOD = "flood-then-good"  # 200 replies for other transactions, then the real answer
BAD_MAPPED = "bad-mapped"  # Binding success whose XOR-MAPPED-ADDRESS has family 0x07 and 3 address bytes
LONG_SOFTWARE = "long-software"  # a Binding success whose SOFTWARE is 65,000 bytes (RFC 8489: < 128 chars)
LONG_SOFTWARE_BYTES = 65_000
WRONG_KEY = b"not-your-key"
# TURN: a 401 challenge to an Allocate without MESSAGE-INTEGRITY, then an Allocate success to the
# authenticated one that carries no MESSAGE-INTEGRITY at all / one keyed with WRONG_KEY (RFC 8489 §9.2.5:
# a client must discard both).
TURN_UNSIGNED_ALLOCATE = "turn-unsigned-allocate"
TURN_WRONG_INTEGRITY_ALLOCATE = "turn-wrong-integrity-allocate"
ALLOCATE_REQUEST, ALLOCATE_SUCCESS, ALLOCATE_ERROR = 0x0003, 0x0103, 0x0113
ERROR_CODE, REALM, NONCE, LIFETIME, XOR_RELAYED_ADDRESS = 0x0009, 0x0014, 0x0015, 0x000D, 0x0016
HOSTILE_REALM = b"hostile.test"
SOFTWARE_NAME = b"rtcdiag hostile test server"


def _ipv6_loopback() -> bool:
    """Can this machine bind ::1? (Containers without IPv6 cannot.)"""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


HAVE_IPV6 = _ipv6_loopback()


def _attr(kind: int, value: bytes) -> bytes:
    pad = (4 - len(value) % 4) % 4
    return struct.pack("!HH", kind, len(value)) + value + b"\x00" * pad


def xor_mapped_address(txid: bytes, ip: str, port: int) -> bytes:
    """XOR-MAPPED-ADDRESS value (RFC 8489 §14.2)."""
    xport = port ^ (MAGIC_COOKIE >> 16)
    if ":" in ip:
        raw = socket.inet_pton(socket.AF_INET6, ip)
        key = struct.pack("!I", MAGIC_COOKIE) + txid
        return struct.pack("!BBH", 0, 2, xport) + bytes(a ^ b for a, b in zip(raw, key, strict=True))
    raw = socket.inet_pton(socket.AF_INET, ip)
    key = struct.pack("!I", MAGIC_COOKIE)
    return struct.pack("!BBH", 0, 1, xport) + bytes(a ^ b for a, b in zip(raw, key, strict=True))


def binding_success(txid: bytes, source: tuple[str, int], *, fingerprint_delta: int = 0,
                    software: bytes = SOFTWARE_NAME) -> bytes:
    """A Binding success response to ``txid`` mapping ``source``, ending with FINGERPRINT (+ delta)."""
    body = _attr(XOR_MAPPED_ADDRESS, xor_mapped_address(txid, source[0], source[1]))
    body += _attr(SOFTWARE, software)
    length = len(body) + 8  # FINGERPRINT included in the length it covers (RFC 8489 §14.7)
    head = struct.pack("!HHI", BINDING_SUCCESS, length, MAGIC_COOKIE) + txid
    crc = (zlib.crc32(head + body) ^ FINGERPRINT_XOR) & 0xFFFFFFFF
    crc = (crc + fingerprint_delta) & 0xFFFFFFFF
    return head + body + _attr(FINGERPRINT, struct.pack("!I", crc))


def binding_success_with_integrity(txid: bytes, source: tuple[str, int], key: bytes) -> bytes:
    """Binding success with MESSAGE-INTEGRITY (HMAC-SHA1 over the message with the length adjusted to end
    after it, RFC 8489 §14.5) and a valid FINGERPRINT after it."""
    body = _attr(XOR_MAPPED_ADDRESS, xor_mapped_address(txid, source[0], source[1]))
    head = struct.pack("!HHI", BINDING_SUCCESS, len(body) + 24, MAGIC_COOKIE) + txid
    mac = hmac.new(key, head + body, hashlib.sha1).digest()
    body += _attr(MESSAGE_INTEGRITY, mac)
    head = struct.pack("!HHI", BINDING_SUCCESS, len(body) + 8, MAGIC_COOKIE) + txid
    crc = (zlib.crc32(head + body) ^ FINGERPRINT_XOR) & 0xFFFFFFFF
    return head + body + _attr(FINGERPRINT, struct.pack("!I", crc))


def _has_attribute(message: bytes, kind: int) -> bool:
    pos = 20
    while pos + 4 <= len(message):
        attr_type, length = struct.unpack("!HH", message[pos:pos + 4])
        if attr_type == kind:
            return True
        pos += 4 + length + (-length % 4)
    return False


def _finish(msg_type: int, txid: bytes, body: bytes, key: bytes | None) -> bytes:
    """Header + ``body`` [+ MESSAGE-INTEGRITY keyed with ``key``] + FINGERPRINT (RFC 8489 §14.5, §14.7)."""
    if key is not None:
        head = struct.pack("!HHI", msg_type, len(body) + 24, MAGIC_COOKIE) + txid
        body += _attr(MESSAGE_INTEGRITY, hmac.new(key, head + body, hashlib.sha1).digest())
    head = struct.pack("!HHI", msg_type, len(body) + 8, MAGIC_COOKIE) + txid
    crc = (zlib.crc32(head + body) ^ FINGERPRINT_XOR) & 0xFFFFFFFF
    return head + body + _attr(FINGERPRINT, struct.pack("!I", crc))


def binding_success_bad_mapped(txid: bytes) -> bytes:
    """Binding success with a malformed XOR-MAPPED-ADDRESS (family 0x07, 7 bytes) and a valid FINGERPRINT."""
    body = _attr(XOR_MAPPED_ADDRESS, b"\x00\x07\x12\x34\x01\x02\x03")
    head = struct.pack("!HHI", BINDING_SUCCESS, len(body) + 8, MAGIC_COOKIE) + txid
    crc = (zlib.crc32(head + body) ^ FINGERPRINT_XOR) & 0xFFFFFFFF
    return head + body + _attr(FINGERPRINT, struct.pack("!I", crc))


def turn_allocate_replies(request: bytes, source: tuple[str, int], key: bytes | None) -> list[bytes]:
    """401 (REALM, NONCE) to an Allocate without MESSAGE-INTEGRITY; to one with it, a success
    (XOR-RELAYED-ADDRESS, XOR-MAPPED-ADDRESS, LIFETIME) signed with ``key`` (None: not signed at all)."""
    if len(request) < 20 or struct.unpack("!H", request[:2])[0] != ALLOCATE_REQUEST:
        return []
    txid = request[8:20]
    if not _has_attribute(request, MESSAGE_INTEGRITY):
        body = _attr(ERROR_CODE, struct.pack("!HBB", 0, 4, 1) + b"Unauthorized")
        body += _attr(REALM, HOSTILE_REALM) + _attr(NONCE, b"hostile-nonce-" + txid.hex().encode())
        return [_finish(ALLOCATE_ERROR, txid, body, None)]
    body = _attr(XOR_RELAYED_ADDRESS, xor_mapped_address(txid, "127.0.0.1", 50000))
    body += _attr(XOR_MAPPED_ADDRESS, xor_mapped_address(txid, source[0], source[1]))
    body += _attr(LIFETIME, struct.pack("!I", 600))
    return [_finish(ALLOCATE_SUCCESS, txid, body, key)]


def truncated_reply(txid: bytes) -> bytes:
    """Header announces 12 attribute bytes; only the first 4 (a TLV header) are present."""
    return struct.pack("!HHI", BINDING_SUCCESS, 12, MAGIC_COOKIE) + txid + struct.pack("!HH", SOFTWARE, 8)


def replies_for(mode: str, request: bytes, source: tuple[str, int], seen: int = 1) -> list[bytes]:
    """What a server in ``mode`` sends for ``request`` (its ``seen``-th copy) received from ``source``."""
    txid = request[8:20] if len(request) >= 20 else os.urandom(12)
    other = bytes(b ^ 0xFF for b in txid)
    table: dict[str, Callable[[], list[bytes]]] = {
        GARBAGE_MODE: lambda: [GARBAGE],
        WRONG_TXID: lambda: [binding_success(other, source)],
        BAD_FINGERPRINT: lambda: [binding_success(txid, source, fingerprint_delta=1)],
        TRUNCATED: lambda: [truncated_reply(txid)],
        SILENT: lambda: [],
        WRONG_TXID_THEN_GOOD: lambda: [binding_success(other, source), binding_success(txid, source)],
        BAD_FINGERPRINT_THEN_GOOD: lambda: [binding_success(txid, source, fingerprint_delta=1),
                                            binding_success(txid, source)],
        GOOD: lambda: [binding_success(txid, source)],
        DROP_FIRST_TWO: lambda: [binding_success(txid, source)] if seen >= 3 else [],
        WRONG_INTEGRITY: lambda: [binding_success_with_integrity(txid, source, WRONG_KEY)],
        TURN_UNSIGNED_ALLOCATE: lambda: turn_allocate_replies(request, source, None),
        TURN_WRONG_INTEGRITY_ALLOCATE: lambda: turn_allocate_replies(request, source, WRONG_KEY),
        BAD_MAPPED: lambda: [binding_success_bad_mapped(txid)],
        FLOOD_THEN_GOOD: lambda: [binding_success(other, source)] * 200 + [binding_success(txid, source)],
        LONG_SOFTWARE: lambda: [binding_success(txid, source, software=b"Vendor TURN " +
                                                b"x" * (LONG_SOFTWARE_BYTES - 12))],
    }
    return table[mode]()


@dataclass
class HostileServer:
    """A running hostile server: ``host``/``port`` for UDP and TCP, ``requests`` counts what it received."""

    mode: str
    host: str
    port: int
    requests: int = 0
    copies: dict[bytes, int] = field(default_factory=dict)  # transaction id -> copies received

    def count(self, request: bytes) -> int:
        """Count one more received request; return how many copies of its transaction arrived so far."""
        self.requests += 1
        txid = request[8:20]
        self.copies[txid] = self.copies.get(txid, 0) + 1
        return self.copies[txid]
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


@contextlib.contextmanager
def hostile_server(mode: str, host: str = "127.0.0.1") -> Iterator[HostileServer]:
    """Run a hostile server for the duration of the ``with`` block (UDP and TCP on the same port)."""
    udp, tcp, port = _bind_pair(host)
    server = HostileServer(mode=mode, host=host, port=port)
    server._thread = threading.Thread(target=_serve, args=(server, udp, tcp), daemon=True,
                                      name=f"hostile-{mode}")
    server._thread.start()
    try:
        yield server
    finally:
        server.stop()


def _bind_pair(host: str) -> tuple[socket.socket, socket.socket, int]:
    """A UDP socket and a listening TCP socket on the same free port (retried: the TCP port may be taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for attempt in range(50):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, port))
            tcp.listen(16)
            return udp, tcp, port
        except OSError:
            udp.close()
            tcp.close()
            if attempt == 49 or (family == socket.AF_INET6 and not _has_ipv6(host)):
                raise
    raise AssertionError("unreachable")


def _has_ipv6(host: str) -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind((host, 0))
        return True
    except OSError:
        return False


def _serve(server: HostileServer, udp: socket.socket, tcp: socket.socket) -> None:
    sel = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytes] = {}
    udp.setblocking(False)
    tcp.setblocking(False)
    sel.register(udp, selectors.EVENT_READ)
    sel.register(tcp, selectors.EVENT_READ)
    try:
        while not server._stop.is_set():
            for key, _ in sel.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is udp:
                    _on_datagram(server, udp)
                elif sock is tcp:
                    conn, _ = tcp.accept()
                    conn.setblocking(False)
                    buffers[conn] = b""
                    sel.register(conn, selectors.EVENT_READ)
                else:
                    _on_stream(server, sel, sock, buffers)
    finally:
        for conn in list(buffers):
            conn.close()
        sel.close()
        udp.close()
        tcp.close()


def _on_datagram(server: HostileServer, udp: socket.socket) -> None:
    try:
        data, source = udp.recvfrom(4096)
    except OSError:
        return
    seen = server.count(data)
    for reply in replies_for(server.mode, data, (source[0], source[1]), seen):
        udp.sendto(reply, source)


def _on_stream(server: HostileServer, sel: selectors.BaseSelector, conn: socket.socket,
               buffers: dict[socket.socket, bytes]) -> None:
    try:
        chunk = conn.recv(4096)
    except OSError:
        chunk = b""
    if not chunk:
        sel.unregister(conn)
        buffers.pop(conn, None)
        conn.close()
        return
    data = buffers[conn] + chunk
    # Stream framing (RFC 8489 §6.2.2): 20-byte header + length field.
    while len(data) >= 20 and len(data) >= 20 + struct.unpack("!H", data[2:4])[0]:
        size = 20 + struct.unpack("!H", data[2:4])[0]
        request, data = data[:size], data[size:]
        seen = server.count(request)
        peer = conn.getpeername()
        conn.setblocking(True)
        for reply in replies_for(server.mode, request, (peer[0], peer[1]), seen):
            conn.sendall(reply)
        if server.mode == TRUNCATED:  # the stream ends inside the message
            sel.unregister(conn)
            buffers.pop(conn, None)
            conn.close()
            return
        conn.setblocking(False)
    buffers[conn] = data


# --- stream servers for one scripted answer ----------------------------------------------------------------

@dataclass
class StreamScript:
    """What a scripted stream server does with each connection (see :func:`scripted_stream_server`).

    ``answer(request, peer)`` gives the bytes to send for the first STUN request read; they go out as the
    pieces ``cuts`` makes of them (TCP_NODELAY, ``gap_s`` between pieces), or one byte every ``drip_s``
    seconds; then the connection stays open and silent. ``answer=None``: read the request, never answer.
    ``cut_plan``: the cuts of the n-th connection (instead of ``cuts``). ``accept_only``: never read nor
    answer anything (a TCP accept, then silence).
    """

    answer: Callable[[bytes, tuple[str, int]], bytes] | None = None
    cuts: tuple[int, ...] = ()
    cut_plan: list[tuple[int, ...]] | None = None
    gap_s: float = 0.005
    accept_only: bool = False
    drip_s: float | None = None  # slowloris: the answer goes out one byte every drip_s seconds


@contextlib.contextmanager
def scripted_stream_server(script: StreamScript, host: str = "127.0.0.1",
                           wrap: Callable[[socket.socket], socket.socket] | None = None
                           ) -> Iterator[tuple[str, int]]:
    """A loopback TCP server (TLS when ``wrap`` wraps accepted sockets) following ``script`` per connection.

    Written here because no real server sends a reply and then garbage, or cuts it where the test says.
    """
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(64)
    listener.settimeout(0.05)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def handle(conn: socket.socket, index: int) -> None:
        cuts = script.cut_plan[index] if script.cut_plan is not None else script.cuts
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if script.accept_only:
                stop.wait()
                return
            conn.settimeout(5)
            if wrap is not None:
                conn = wrap(conn)  # the TLS handshake (server side), bounded by the timeout above
                conns.append(conn)
            data = b""
            while len(data) < 20 or len(data) < 20 + struct.unpack("!H", data[2:4])[0]:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            if script.answer is None:
                stop.wait()
                return
            payload = script.answer(data, conn.getpeername()[:2])
            if script.drip_s is not None:
                for i in range(len(payload)):
                    conn.sendall(payload[i:i + 1])
                    if stop.wait(script.drip_s):
                        return
                stop.wait()
                return
            start = 0
            for cut in (*cuts, len(payload)):
                conn.sendall(payload[start:cut])
                start = cut
                if cut < len(payload):
                    stop.wait(script.gap_s)
            stop.wait()
        except OSError:
            return

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conns.append(conn)
            threading.Thread(target=handle, args=(conn, len(conns) - 1), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True, name="scripted-stream")
    thread.start()
    try:
        yield (host, int(listener.getsockname()[1]))
    finally:
        stop.set()
        thread.join(2)
        listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()
