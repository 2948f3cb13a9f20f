"""`rtcdiag stun` diagnoses, not lists: a port that accepts TCP but speaks no STUN is one root cause.

The silent TCP service is a real listening socket written here (loopback); nothing answers UDP on the same
port, so the kernel's ICMP port unreachable is what the UDP probe sees.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest


@pytest.fixture
def silent_tcp() -> Iterator[int]:
    """A TCP port that accepts connections and never sends a byte (stops at teardown)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set() and len(held) < 64:
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        server.close()


def test_tcp_port_without_stun_is_one_root_cause_and_never_udp_blocked(silent_tcp: int) -> None:
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "stun", f"127.0.0.1:{silent_tcp}", "-t", "udp",
                           "-t", "tcp", "--timeout", "0.5", "--json"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert [r["id"] for r in report["root_causes"]] == ["PORT-NOT-STUN"]
    ids = {f["id"] for f in report["findings"]}
    assert "UDP-BLOCKED" not in ids
    root = report["root_causes"][0]
    others = [f for f in report["findings"] if f["ref"] != root["ref"]]
    assert others and all(f["explained_by"] == root["ref"] for f in others if f["severity"] != "info")
    assert "Not a STUN/TURN server on TCP port" in root["title"]
