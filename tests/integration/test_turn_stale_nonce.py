"""A real coturn whose nonces go stale after one second (``stale-nonce=1``), reached through a delay proxy
written in this test (every datagram held 0.3 s each way), so that the session outlives its nonce: coturn
answers some requests after the Allocate with 438 Stale Nonce. Each is retried with the new nonce and
succeeds, so the run passes: every step is judged on its final outcome (RFC 8489 §9.2.5), and coturn's
NUL-padded reason phrase (``Stale nonce\\x00``) is shown without the padding.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import secrets
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn, start_coturn

PASSWORD = "alice-" + secrets.token_hex(8)
DELAY_S = 0.3


class DelayProxy:
    """Forwards datagrams between one client and ``upstream``, each after ``delay`` seconds."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream, self.delay = upstream, delay
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.port = int(self.front.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="delay-proxy")
        self._thread.start()

    def _serve(self) -> None:
        client: tuple[str, int] | None = None
        due: list[tuple[float, int, socket.socket, bytes, tuple[str, int]]] = []
        order = itertools.count()
        with selectors.DefaultSelector() as sel:
            sel.register(self.front, selectors.EVENT_READ)
            sel.register(self.back, selectors.EVENT_READ)
            while not self._stop.is_set():
                now = time.monotonic()
                while due and due[0][0] <= now:
                    _, _, sock, data, dest = heapq.heappop(due)
                    sock.sendto(data, dest)
                wait = min(0.02, max(0.0, due[0][0] - now)) if due else 0.02
                for key, _ in sel.select(timeout=wait):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        data, source = sock.recvfrom(65535)
                    except OSError:
                        continue
                    if sock is self.front:
                        client = (source[0], source[1])
                        heapq.heappush(due, (now + self.delay, next(order), self.back, data, self.upstream))
                    elif client is not None:
                        heapq.heappush(due, (now + self.delay, next(order), self.front, data, client))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.front.close()
        self.back.close()


@pytest.fixture
def stale_coturn() -> Iterator[RunningCoturn]:
    server = start_coturn(CoturnOptions(users={"alice": PASSWORD}, extra_lines=("stale-nonce=1",),
                                        die_with_parent=True))
    try:
        yield server
    finally:
        server.stop()


def test_stale_nonces_retried_mid_session_pass(stale_coturn: RunningCoturn) -> None:
    proxy = DelayProxy((stale_coturn.host, stale_coturn.port), DELAY_S)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    try:
        proc = subprocess.run([sys.executable, "-m", "rtcdiag", "turn-check", f"127.0.0.1:{proxy.port}", "-u",
                               "alice", "--transport", "udp", "--packets", "20", "--json"],
                              env={**clean, "RTCDIAG_TURN_PASSWORD": PASSWORD}, capture_output=True,
                              text=True, timeout=120)
    finally:
        proxy.stop()
    report: dict[str, Any] = json.loads(proc.stdout)
    leg = report["results"]["turn"][0]["transports"][0]
    steps = [*leg["steps"], *(s for d in leg["data_paths"] for s in d["steps"])]
    stale = [s for s in steps if s["error_code"] == 438]
    assert stale, [s["step"] for s in steps]  # the session really outlived its nonce
    for first in stale:
        assert first["response"].endswith("438 Stale nonce")  # coturn's NUL padding is not shown
        retry = [s for s in steps if s["step"] == first["step"] + " (retry with new nonce)"]
        assert [s["outcome"] for s in retry] == ["success"]
    for path in leg["data_paths"]:
        assert path["packets_received"] == path["packets_sent"] == 20
    assert proc.returncode == 0, report["findings"]
    assert {c["status"] for c in report["checks"]} == {"pass"}
    assert "\\u0000" not in proc.stdout
