"""A real coturn killed with SIGKILL at a chosen point of a turn-check: the run must fail (exit 1) with
TURN-SERVER-STOPPED as the root cause, whatever the point, and never blame firewalls or stale nonces.

The point is chosen deterministically by a small proxy written in this test, in front of the coturn this
test started: it forwards every datagram (UDP) or framed message (TCP, RFC 8489 §6.2.2 / RFC 8656 §12.5)
both ways, counts what the client sends by kind, and when the chosen message arrives it kills that coturn
by its PID (SIGKILL, then waits for it) instead of forwarding the message. From then on nothing is
forwarded over UDP (the server is gone), and over TCP the connection to the client is closed as coturn's
was (a reset mid-session).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn, start_coturn
from rtcdiag.protocol import AttrType, Message, MessageClass, Method, StunParseError, is_stun

PASSWORD = "alice-" + secrets.token_hex(8)


@dataclass(frozen=True)
class KillPoint:
    """Kill when the client sends its ``nth`` message of ``kind`` (1-based)."""

    name: str
    kind: str  # "allocate-auth", "create-permission", "send", "channel-bind", "channel-data", "refresh",
    #            "release"
    nth: int = 1


def classify(data: bytes) -> str:
    """What a client message is, from its bytes (the proxy's own reading, not the probe's)."""
    if not is_stun(data):
        return "channel-data" if data[:1] and data[0] & 0xC0 == 0x40 else "other"
    try:
        msg = Message.decode(data)
    except StunParseError:
        return "other"
    if msg.msg_class == MessageClass.INDICATION:
        return "send" if msg.method == Method.SEND else "indication"
    if msg.method == Method.ALLOCATE:
        return "allocate-auth" if msg.has(AttrType.MESSAGE_INTEGRITY) else "allocate"
    if msg.method == Method.REFRESH:
        return "release" if msg.find(AttrType.LIFETIME, int) == 0 else "refresh"
    return {Method.CREATE_PERMISSION: "create-permission", Method.CHANNEL_BIND: "channel-bind"}.get(
        msg.method, "other")


@dataclass
class KillProxy:
    """Forwards between one client and ``server``; kills ``server`` (by PID) at ``point``."""

    server: RunningCoturn
    point: KillPoint
    transport: str
    counts: dict[str, int] = field(default_factory=dict)
    killed_before: str | None = None  # the message that triggered the kill
    port: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _sockets: list[socket.socket] = field(default_factory=list)

    def start(self) -> None:
        kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
        front = socket.socket(socket.AF_INET, kind)
        front.bind(("127.0.0.1", 0))
        if self.transport == "tcp":
            front.listen(4)
        self._sockets.append(front)
        self.port = int(front.getsockname()[1])
        target = self._serve_udp if self.transport == "udp" else self._serve_tcp
        self._thread = threading.Thread(target=target, args=(front,), daemon=True, name="kill-proxy")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for sock in self._sockets:
            sock.close()

    def _should_kill(self, data: bytes) -> bool:
        """Count the client's message; True when it is the chosen one (the server is then killed)."""
        kind = classify(data)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.killed_before is None and kind == self.point.kind and self.counts[kind] == self.point.nth:
            self.killed_before = kind
            self._kill()
            return True
        return False

    def _kill(self) -> None:
        process = self.server.process
        # Only the coturn this test started, by its PID, and only while it is still that process.
        assert process.poll() is None
        assert Path(f"/proc/{process.pid}/comm").read_text().strip() == "turnserver"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(5)

    def _serve_udp(self, front: socket.socket) -> None:
        back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        back.bind(("127.0.0.1", 0))
        self._sockets.append(back)
        client: tuple[str, int] | None = None
        with selectors.DefaultSelector() as sel:
            sel.register(front, selectors.EVENT_READ)
            sel.register(back, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        data, source = sock.recvfrom(65535)
                    except OSError:
                        continue
                    if sock is front:
                        client = (source[0], source[1])
                        if self.killed_before is None and not self._should_kill(data):
                            back.sendto(data, (self.server.host, self.server.port))
                    elif client is not None and self.killed_before is None:
                        front.sendto(data, client)

    def _serve_tcp(self, front: socket.socket) -> None:
        front.settimeout(0.05)
        conn: socket.socket | None = None
        while conn is None and not self._stop.is_set():
            try:
                conn, _ = front.accept()
            except TimeoutError:
                continue
        if conn is None:
            return
        self._sockets.append(conn)
        back = socket.create_connection((self.server.host, self.server.port), timeout=5)
        self._sockets.append(back)
        buffered = b""
        with selectors.DefaultSelector() as sel:
            sel.register(conn, selectors.EVENT_READ)
            sel.register(back, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        chunk = sock.recv(65535)
                    except OSError:
                        chunk = b""
                    if sock is back:
                        if not chunk:  # coturn's side of the connection is gone: so is the client's
                            conn.close()
                            return
                        conn.sendall(chunk)
                        continue
                    if not chunk:
                        return
                    frames, buffered = _frames(buffered + chunk)
                    for frame in frames:
                        if self._should_kill(frame):
                            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                            conn.close()  # a reset, as from a server that died
                            return
                        back.sendall(frame)


def _frames(data: bytes) -> tuple[list[bytes], bytes]:
    """The whole frames at the start of a TURN stream, and what remains: STUN (20 + length) or ChannelData
    (4 + length, padded to 4 over TCP, RFC 8656 §12.5)."""
    frames: list[bytes] = []
    while len(data) >= 4:
        length = struct.unpack("!H", data[2:4])[0]
        size = 20 + length if data[0] & 0xC0 == 0 else 4 + length + (-length % 4)
        if len(data) < size:
            break
        frames.append(data[:size])
        data = data[size:]
    return frames, data


@pytest.fixture
def killable() -> Iterator[Callable[[], RunningCoturn]]:
    """A coturn of this test's own (it gets killed), stopped (if still alive) after the test."""
    started: list[RunningCoturn] = []

    def start() -> RunningCoturn:
        server = start_coturn(CoturnOptions(users={"alice": PASSWORD}, allow_loopback_peers=True,
                                            die_with_parent=True))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def run_check(port: int, transport: str) -> tuple[int, dict[str, Any]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "turn-check", f"127.0.0.1:{port}", "-u", "alice",
                           "--transport", transport, "--timeout", "1", "--json"],
                          env={**clean, "RTCDIAG_TURN_PASSWORD": PASSWORD}, capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


UDP_POINTS = [
    KillPoint("right after the allocation", "create-permission"),
    KillPoint("during the Send/Data packets", "send", 3),
    KillPoint("after the permission, before ChannelBind", "channel-bind"),
    KillPoint("during the ChannelData packets", "channel-data", 2),
    KillPoint("before the Refresh", "refresh"),
    KillPoint("before the release", "release"),
]


def _assert_stopped(code: int, report: dict[str, Any], proxy: KillProxy) -> dict[str, Any]:
    assert proxy.killed_before == proxy.point.kind, proxy.counts  # the kill really happened there
    assert not proxy.server.alive()
    roots = [r["id"] for r in report["root_causes"]]
    assert code == 1, (roots, report["findings"])
    assert roots == ["TURN-SERVER-STOPPED"], report["findings"]
    [stopped] = [f for f in report["findings"] if f["id"] == "TURN-SERVER-STOPPED"]
    assert "after the allocation" in stopped["symptom"] or "after every earlier" in stopped["symptom"]
    # Nothing else stands on its own: no firewall, stale-nonce or refresh verdict beside it.
    unexplained = [f["id"] for f in report["findings"]
                   if f["severity"] != "info" and f["explained_by"] is None and f is not stopped]
    assert unexplained == []
    assert report["status"] == "fail"
    return stopped


@pytest.mark.parametrize("point", UDP_POINTS, ids=[p.name for p in UDP_POINTS])
def test_coturn_killed_mid_session_over_udp(point: KillPoint, killable: Callable[[], RunningCoturn]) -> None:
    proxy = KillProxy(killable(), point, "udp")
    proxy.start()
    try:
        code, report = run_check(proxy.port, "udp")
    finally:
        proxy.stop()
    stopped = _assert_stopped(code, report, proxy)
    # Killed during the packets of a method: that method's step (the packets stop at the first sign and a
    # liveness request goes unanswered), not the next request's.
    expected_step = {"create-permission": "data-send-indication", "send": "data-send-indication",
                     "channel-bind": "data-channel-data", "channel-data": "data-channel-data",
                     "refresh": "refresh", "release": "refresh"}[point.kind]
    assert stopped["step"] == expected_step
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["udp/allocate"] == "pass"
    assert statuses[f"udp/{expected_step}"] == "fail"


TCP_POINTS = [
    KillPoint("right after the allocation", "create-permission"),
    KillPoint("during the ChannelData packets", "channel-data", 2),
    KillPoint("before the Refresh", "refresh"),
]


@pytest.mark.parametrize("point", TCP_POINTS, ids=[p.name for p in TCP_POINTS])
def test_coturn_killed_mid_session_over_tcp_resets_the_connection(
        point: KillPoint, killable: Callable[[], RunningCoturn]) -> None:
    proxy = KillProxy(killable(), point, "tcp")
    proxy.start()
    try:
        code, report = run_check(proxy.port, "tcp")
    finally:
        proxy.stop()
    stopped = _assert_stopped(code, report, proxy)
    assert "failed (" in stopped["symptom"] or "no reply" in stopped["symptom"]


def test_coturn_killed_during_send_data_is_reported_when_it_died(
        killable: Callable[[], RunningCoturn]) -> None:
    """No proxy: a real coturn (verbose) SIGKILLed right after it logged the CreatePermission, while 5000
    Send indications are being echoed. Before, the packets went on into the dead server and the stop was
    reported at the ChannelBind after them (1.7 s later with 2000 packets); now the data path stops at the
    first sign (ICMP port unreachable, or a run of losses and an unanswered liveness request), the report
    says when the server went silent and when it last answered, and the release is not waited for."""
    server = start_coturn(CoturnOptions(users={"alice": PASSWORD}, allow_loopback_peers=True,
                                        die_with_parent=True, verbose=True))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    proc = subprocess.Popen([sys.executable, "-m", "rtcdiag", "turn-check", f"127.0.0.1:{server.port}",
                             "-u", "alice", "--transport", "udp", "--packets", "5000", "--timeout", "3",
                             "--json"], env={**clean, "RTCDIAG_TURN_PASSWORD": PASSWORD},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while "CREATE_PERMISSION processed, success" not in server.log_path.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.005)
        assert Path(f"/proc/{server.pid}/comm").read_text().strip() == "turnserver"
        os.kill(server.pid, signal.SIGKILL)
        server.process.wait(5)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()
    report = json.loads(out)
    assert [r["id"] for r in report["root_causes"]] == ["TURN-SERVER-STOPPED"], report["findings"]
    [stopped] = [f for f in report["findings"] if f["id"] == "TURN-SERVER-STOPPED"]
    assert stopped["step"] == "data-send-indication"
    [transport] = report["results"]["turn"][0]["transports"]
    [indication] = [dp for dp in transport["data_paths"] if dp["method"] == "send-indication"]
    assert indication["stopped"] and indication["packets_sent"] < 5000  # not sent on into a dead server
    assert len(transport["data_paths"]) == 1  # no ChannelBind into the dead server either
    went = re.search(r"([0-9.]+) s after the allocation \(its last answer came ([0-9.]+) s after",
                     stopped["symptom"])
    assert went is not None, stopped["symptom"]
    silent_s, last_s = float(went.group(1)), float(went.group(2))
    assert 0 <= silent_s - last_s < 1.0, stopped["symptom"]  # when it died, within the detection time
    assert report["timing"]["duration_s"] < 10, report["timing"]
