"""A hand-written STUN/TURN server that answers EVERY request with 300 Try Alternate (RFC 8489 §10).

Hostile by design (no real server can be told to redirect Binding requests, or to redirect to an arbitrary
address such as the cloud metadata service 169.254.169.254): used by tests/integration/test_redirects.py.
UDP and TCP on the same port; the sockets can be created inside a network namespace.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from rtcdiag.coturn import socket_in_netns
from rtcdiag.protocol.attributes import Address, ErrorCode
from rtcdiag.protocol.constants import AttrType, MessageClass
from rtcdiag.protocol.message import Message

_HEADER = 20


def redirect_reply(request: bytes, alternate: tuple[str, int]) -> bytes | None:
    """300 Try Alternate with ALTERNATE-SERVER ``alternate`` for a request, None for anything else."""
    try:
        msg = Message.decode(request)
    except Exception:
        return None
    if msg.msg_class != MessageClass.REQUEST:
        return None
    reply = Message(msg.method, MessageClass.ERROR, transaction_id=msg.transaction_id)
    reply.add(AttrType.ERROR_CODE, ErrorCode(300, "Try Alternate"))
    reply.add(AttrType.ALTERNATE_SERVER, Address.of(*alternate))
    reply.add(AttrType.REALM, "hostile.test")
    return reply.encode(fingerprint=True)


@dataclass
class RedirectServer:
    host: str
    port: int
    alternate: tuple[str, int]
    requests: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def serve(self, udp: socket.socket, tcp: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(udp, selectors.EVENT_READ, "udp")
        sel.register(tcp, selectors.EVENT_READ, "listen")
        buffers: dict[socket.socket, bytes] = {}
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if key.data == "udp":
                        data, source = sock.recvfrom(65536)
                        self.requests += 1
                        reply = redirect_reply(data, self.alternate)
                        if reply is not None:
                            sock.sendto(reply, source)
                    elif key.data == "listen":
                        conn, _ = sock.accept()
                        sel.register(conn, selectors.EVENT_READ, "conn")
                        buffers[conn] = b""
                    else:
                        chunk = sock.recv(65536)
                        if not chunk:
                            sel.unregister(sock)
                            buffers.pop(sock, None)
                            sock.close()
                            continue
                        buf = buffers[sock] + chunk
                        while len(buf) >= _HEADER:
                            size = _HEADER + int.from_bytes(buf[2:4], "big")
                            if len(buf) < size:
                                break
                            self.requests += 1
                            reply = redirect_reply(buf[:size], self.alternate)
                            if reply is not None:
                                sock.sendall(reply)
                            buf = buf[size:]
                        buffers[sock] = buf
        finally:
            for conn in buffers:
                conn.close()
            sel.close()


@contextlib.contextmanager
def redirect_server(alternate: tuple[str, int], netns: str | None = None,
                    host: str = "127.0.0.1") -> Iterator[RedirectServer]:
    """Run a RedirectServer (UDP + TCP on one port) for the ``with`` block, optionally inside ``netns``."""
    with socket_in_netns(netns, socket.AF_INET, socket.SOCK_STREAM) as tcp, \
            socket_in_netns(netns, socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((host, 0))
        port = tcp.getsockname()[1]
        udp.bind((host, port))
        tcp.listen(8)
        server = RedirectServer(host, port, alternate)
        server._thread = threading.Thread(target=server.serve, args=(udp, tcp), daemon=True, name="redirect")
        server._thread.start()
        try:
            yield server
        finally:
            server._stop.set()
            server._thread.join(timeout=2)
