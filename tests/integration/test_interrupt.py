"""Ctrl-C prints the partial report of what finished, never a traceback, and exits 130 (issue 20 item 11).

Before: Ctrl-C during ``check`` or ``ice`` against a silent server printed a 20-line traceback
("_GatheringFuture exception was never retrieved ... CancelledError") before "interrupted", and no command
showed what it had already measured. Here each of check, ice, stun, turn-check and nat-type runs as a real
process against two servers at once: a real coturn (verbose, so that its log says when its part is done)
and a silent UDP socket of this test (the "server" that never answers: no real server can be made to hang
like that on purpose). SIGINT arrives once coturn's part is over and the silent one is still being asked
(its socket has just received another retransmission). The report must hold coturn's results, name the
silent server as not finished and judge nothing about it; stderr has the one line and no traceback.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn

PASSWORD = "interrupt-pw-1"
WAIT_S = 30.0  # bound on every wait (a hang fails the test, never blocks CI)
NOISE = ("Traceback", "never retrieved", "Exception in callback", "Task was destroyed", "CancelledError")


class SilentServer:
    """A UDP socket that reads and counts what arrives and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            self.count += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


class Forwarder:
    """A UDP forwarder to a real server that counts its answers (coturn does not log STUN Bindings): one
    upstream socket per client socket, as a NAT would, so several sockets of one run each get theirs."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.port = int(self.front.getsockname()[1])
        self.answers = 0
        self._backs: dict[tuple[str, int], socket.socket] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self.front, selectors.EVENT_READ, None)
            while not self._stop.is_set():
                for key, _ in sel.select(0.1):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    data, addr = sock.recvfrom(65535)
                    if key.data is None:  # from a client: to the server, from that client's own socket
                        back = self._backs.get(addr)
                        if back is None and len(self._backs) < 64:
                            back = self._backs[addr] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                            back.bind(("127.0.0.1", 0))
                            sel.register(back, selectors.EVENT_READ, addr)
                        if back is not None:
                            back.sendto(data, self.upstream)
                    else:
                        self.front.sendto(data, key.data)
                        self.answers += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for back in self._backs.values():
            back.close()
        self.front.close()


@pytest.fixture
def forwarder(server: RunningCoturn) -> Iterator[Forwarder]:
    forward = Forwarder((server.host, server.port))
    try:
        yield forward
    finally:
        forward.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def server(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> RunningCoturn:
    return coturn_factory(CoturnOptions(users={"alice": PASSWORD}, verbose=True))


def _wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def _log_count(server: RunningCoturn, text: str) -> int:
    return server.log_path.read_text(errors="replace").count(text)


def _interrupt(args: list[str], silent: SilentServer, coturn_done: Callable[[], bool],
               ) -> tuple[int, dict[str, Any], str]:
    """Run rtcdiag; SIGINT once ``coturn_done()`` and the silent server got another request after that."""
    process = subprocess.Popen([sys.executable, "-m", "rtcdiag", *args, "--timeout", "30", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "RTCDIAG_TURN_PASSWORD": PASSWORD})
    try:
        def done() -> bool:
            assert process.poll() is None, process.communicate()
            return coturn_done()
        _wait_for(done, "coturn's part to be done")
        asked = silent.count
        _wait_for(lambda: silent.count > asked, "another request to the silent server")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, (out, err)
    for noise in NOISE:
        assert noise not in err, err
    assert err.strip().splitlines() == [
        "rtcdiag: error: interrupted by SIGINT (allocations released); the report above shows what had "
        "finished"], err
    report = json.loads(out)
    assert report["status"] == "interrupted" and report["exit_code"] == 130
    assert report["verdict"].startswith("INTERRUPTED by SIGINT: partial report")
    assert report["interrupted"]["signal"] == "SIGINT"
    unfinished = report["interrupted"]["unfinished"]
    assert any(str(silent.port) in what for what in unfinished), unfinished
    # Nothing that had not finished is judged (a silence cut short is not "unreachable"); the config rule
    # (which transports the URLs name) reads the URL list, not a probe.
    judged = [f for f in report["findings"] if str(silent.port) in json.dumps(f) and f["check"] != "config"]
    assert not judged, judged
    assert any(note.startswith("Interrupted by SIGINT") for note in report["notes"])
    return process.returncode, report, err


RELEASED = "username=<alice>, lifetime=0"  # coturn's log line of a release (Refresh LIFETIME=0)


def _released(server: RunningCoturn, times: int) -> Callable[[], bool]:
    before = _log_count(server, RELEASED)
    return lambda: _log_count(server, RELEASED) >= before + times


def test_stun(forwarder: Forwarder, silent: SilentServer) -> None:
    _, report, _ = _interrupt(["stun", f"127.0.0.1:{forwarder.port}", f"127.0.0.1:{silent.port}"], silent,
                              lambda: forwarder.answers >= 1)
    assert [(r["target"], r["outcome"]) for r in report["results"]] == [
        (f"stun:127.0.0.1:{forwarder.port}?transport=udp", "success")]


def test_turn_check(server: RunningCoturn, silent: SilentServer) -> None:
    _, report, _ = _interrupt(["turn-check", f"turn:127.0.0.1:{server.port}", f"turn:127.0.0.1:{silent.port}",
                               "-u", "alice"], silent, _released(server, 1))
    [result] = report["results"]["turn"]
    assert result["target"] == f"turn:127.0.0.1:{server.port}"
    assert [(t["allocated"], t["released"]) for t in result["transports"]] == [(True, True)]


def test_nat_type(forwarder: Forwarder, silent: SilentServer) -> None:
    # coturn with one address: one Binding answered without OTHER-ADDRESS ends its run (no RFC 5780).
    _, report, _ = _interrupt(["nat-type", "-s", f"stun:127.0.0.1:{forwarder.port}",
                               "-s", f"stun:127.0.0.1:{silent.port}"], silent, lambda: forwarder.answers >= 1)
    assert {c["suite"] for c in report["checks"]} - {"local network"} == {f"stun:127.0.0.1:{forwarder.port}"}


def test_ice(server: RunningCoturn, silent: SilentServer) -> None:
    # Two agents per TURN URL, each with its own allocation, both released when the URL is done.
    _, report, _ = _interrupt(["ice", f"turn:127.0.0.1:{server.port}", f"turn:127.0.0.1:{silent.port}",
                               "-u", "alice"], silent, _released(server, 2))
    [run] = report["results"]["ice"]["runs"]
    assert run["url"] == f"turn:127.0.0.1:{server.port}?transport=udp" and run["connected"]


def test_check(server: RunningCoturn, silent: SilentServer, tmp_path: Path) -> None:
    # The TURN check's allocation and the two ICE agents' ones: coturn's URL is done.
    metrics = tmp_path / "rtcdiag.prom"
    metrics.write_text("# the last complete run's verdict\n")
    _, report, _ = _interrupt(["check", f"turn:127.0.0.1:{server.port}", f"turn:127.0.0.1:{silent.port}",
                               "-u", "alice", "--openmetrics", str(metrics)], silent, _released(server, 3))
    # A partial run is no verdict for monitoring: the textfile collector keeps the last complete one.
    assert metrics.read_text() == "# the last complete run's verdict\n"
    assert any(note.startswith(f"--openmetrics: {metrics} not written") for note in report["notes"])
    [turn] = report["results"]["turn"][0]
    assert turn["target"] == f"turn:127.0.0.1:{server.port}" and turn["transports"][0]["released"]
    [ice] = report["results"]["ice"][0]["runs"]
    assert ice["connected"]
    assert [p["port"] for p in report["results"]["ports"][0]["ports"]] == [server.port]
