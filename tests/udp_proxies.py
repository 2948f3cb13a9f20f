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

DelayOf = Callable[[bytes, bool], float | None]  # (datagram, towards the server?) -> seconds to hold it, or
# None to drop it (a lost datagram)


class DelayProxy:
    """Forwards datagrams between its clients and ``upstream``, each held ``delay`` seconds, or
    ``delay_of(data, upward)`` when given (None: dropped, counted in ``dropped``). Every client (source
    address) gets a socket of its own towards the upstream, as a NAT gives it a mapping of its own.
    ``drained`` is set while nothing is held."""

    def __init__(self, upstream: tuple[str, int], delay: float = 0.0,
                 delay_of: DelayOf | None = None) -> None:
        self.upstream = upstream
        self.delay_of: DelayOf = delay_of or (lambda _data, _upward: delay)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.port = int(self.front.getsockname()[1])
        self.backs: dict[tuple[str, int], socket.socket] = {}  # client -> its socket towards the upstream
        self.drained = threading.Event()
        self.dropped = 0  # datagrams delay_of chose to drop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="delay-proxy")
        self._thread.start()

    def _back(self, sel: selectors.BaseSelector, client: tuple[str, int]) -> socket.socket:
        back = self.backs.get(client)
        if back is None:
            back = self.backs[client] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            back.bind(("127.0.0.1", 0))
            sel.register(back, selectors.EVENT_READ, client)
        return back

    def _serve(self) -> None:
        due: list[tuple[float, int, bool, bytes, tuple[str, int]]] = []
        order = itertools.count()
        with selectors.DefaultSelector() as sel:
            sel.register(self.front, selectors.EVENT_READ, None)
            while not self._stop.is_set():
                now = time.monotonic()
                while due and due[0][0] <= now:
                    _, _, upward, data, client = heapq.heappop(due)
                    if upward:
                        self._back(sel, client).sendto(data, self.upstream)
                    else:
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
                    upward = key.data is None
                    client = (source[0], source[1]) if upward else key.data
                    if upward:
                        self._back(sel, client)  # its own socket from the first datagram on
                    delay = self.delay_of(data, upward)
                    if delay is None:
                        self.dropped += 1
                        continue
                    heapq.heappush(due, (time.monotonic() + delay, next(order), upward, data, client))
                    self.drained.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.front.close()
        for back in self.backs.values():
            back.close()
