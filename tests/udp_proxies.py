"""A UDP delay proxy on loopback for integration tests: one client, one upstream (a real coturn), every
datagram forwarded after a delay chosen per datagram. Used to make sessions outlive a nonce, to keep a run
mid data path while a signal arrives, and to make ChannelData echoes late while control messages are not."""

from __future__ import annotations

import heapq
import itertools
import selectors
import socket
import threading
import time
from collections.abc import Callable

DelayOf = Callable[[bytes, bool], float]  # (datagram, towards the server?) -> seconds to hold it


class DelayProxy:
    """Forwards datagrams between the (single) client and ``upstream``, each held ``delay`` seconds, or
    ``delay_of(data, upward)`` when given. ``drained`` is set while nothing is held."""

    def __init__(self, upstream: tuple[str, int], delay: float = 0.0,
                 delay_of: DelayOf | None = None) -> None:
        self.upstream = upstream
        self.delay_of: DelayOf = delay_of or (lambda _data, _upward: delay)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.port = int(self.front.getsockname()[1])
        self.drained = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="delay-proxy")
        self._thread.start()

    def _serve(self) -> None:
        client: tuple[str, int] | None = None
        due: list[tuple[float, int, bool, bytes]] = []
        order = itertools.count()
        with selectors.DefaultSelector() as sel:
            sel.register(self.front, selectors.EVENT_READ, True)
            sel.register(self.back, selectors.EVENT_READ, False)
            while not self._stop.is_set():
                now = time.monotonic()
                while due and due[0][0] <= now:
                    _, _, upward, data = heapq.heappop(due)
                    if upward:
                        self.back.sendto(data, self.upstream)
                    elif client is not None:
                        self.front.sendto(data, client)
                if due:
                    self.drained.clear()
                else:
                    self.drained.set()
                wait = min(0.02, max(0.0, due[0][0] - now)) if due else 0.02
                for key, _ in sel.select(timeout=wait):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        data, source = sock.recvfrom(65535)
                    except OSError:
                        continue
                    upward = bool(key.data)
                    if upward:
                        client = (source[0], source[1])
                    heapq.heappush(due, (time.monotonic() + self.delay_of(data, upward), next(order), upward,
                                         data))
                    self.drained.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.front.close()
        self.back.close()
