"""turn-check against node-turn (npm), a second, lenient TURN implementation, on loopback.

What node-turn 0.0.6 really does (read in its source and seen on the wire):
- it relays Send/Data indications, but its message reader drops every ChannelData message a client sends
  (the first two bits are not 00): ChannelData never reaches the peer;
- its ChannelBind success carries no MESSAGE-INTEGRITY (every other authenticated response does);
- a Refresh asking for a lifetime answers LIFETIME 0 and deletes the allocation (it reads an undefined
  maximum, NaN, and arms the expiry timer with it).

The verdict must name those server faults, never the relay ports or firewalls. node-turn is installed by
the README's test command (``npm ci --prefix tests/peers``); without ``node`` the tests skip.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PEERS = Path(__file__).resolve().parents[1] / "peers"
NODE = shutil.which("node") or shutil.which("nodejs")
PASSWORD = "nt-" + secrets.token_hex(8)
REALM = "node-turn.test"


@dataclass
class NodeTurn:
    port: int
    process: subprocess.Popen[str]


def _installed() -> bool:
    return (PEERS / "node_modules" / "node-turn" / "package.json").is_file()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def node_turn() -> Iterator[NodeTurn]:
    if NODE is None:
        pytest.skip("node is not installed (apt-get install nodejs npm; the README's test command does)")
    if not _installed():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed, so node-turn cannot be (apt-get install npm)")
        subprocess.run([npm, "ci", "--prefix", str(PEERS), "--no-audit", "--no-fund"], check=True,
                       capture_output=True, timeout=300)
    for _ in range(5):
        port = _free_udp_port()
        process = subprocess.Popen([NODE, str(PEERS / "node_turn.js"), str(port), "alice", REALM],
                                   cwd=PEERS, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                   env={**os.environ, "NODE_TURN_PASSWORD": PASSWORD})
        assert process.stdout is not None
        line = process.stdout.readline()  # "ready PORT", or EOF when the port was taken meanwhile
        if line.strip() == f"ready {port}":
            break
        process.wait(5)
    else:
        pytest.fail("node-turn did not start")
    try:
        yield NodeTurn(port, process)
    finally:
        process.terminate()  # the process this fixture started, by its handle
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def run_check(port: int, *extra: str) -> tuple[int, dict[str, Any]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "turn-check", f"127.0.0.1:{port}", "-u", "alice",
                           "--transport", "udp", "--timeout", "1", "--json", *extra],
                          env={**clean, "RTCDIAG_TURN_PASSWORD": PASSWORD}, capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_node_turn_does_not_relay_channeldata(node_turn: NodeTurn) -> None:
    code, report = run_check(node_turn.port)
    leg = report["results"]["turn"][0]["transports"][0]
    assert leg["software"] == "node-turn" and leg["allocated"] and leg["realm"] == REALM
    paths = {d["method"]: d for d in leg["data_paths"]}
    assert paths["send-indication"]["packets_received"] == paths["send-indication"]["packets_sent"] == 5
    assert paths["channel-data"]["packets_sent"] == 5 and paths["channel-data"]["packets_received"] == 0

    where = {(f["id"], f["step"]) for f in report["findings"]}
    assert ("TURN-CHANNELDATA-NOT-RELAYED", "data-channel-data") in where
    assert not {fid for fid, _ in where} & {"TURN-NO-DATA", "TURN-DATA-LOSS", "TURN-REFRESH-FAILED"}
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["udp/allocate"] == "pass" and statuses["udp/data-send-indication"] == "pass"
    assert statuses["udp/data-channel-data"] == "fail"
    assert code == 1
    [finding] = [f for f in report["findings"] if f["id"] == "TURN-CHANNELDATA-NOT-RELAYED"]
    assert "Send/Data indications: 5/5 echoed back" in finding["symptom"]


def test_node_turn_unsigned_channelbind_and_lifetime_zero_refresh(node_turn: NodeTurn) -> None:
    code, report = run_check(node_turn.port)
    leg = report["results"]["turn"][0]["transports"][0]
    bind, *alive = next(d for d in leg["data_paths"] if d["method"] == "channel-data")["steps"]
    assert bind["step"] == "channel-bind"
    assert bind["outcome"] == "rejected" and bind["unverified_success"] is True
    # No ChannelData came back: one liveness Binding asked whether the server itself was still there (it is).
    assert [(s["step"], s["outcome"]) for s in alive] == [("liveness (Binding)", "success")]
    assert bind["unverified_response"] == "ChannelBind success response" and bind["unverified_count"] >= 1
    assert leg["refreshed"] is True and leg["refresh_lifetime_s"] == 0 and leg["refresh_requested_s"] == 600
    assert leg["released"] is None  # the Refresh already deleted it: no release sent
    where = {(f["id"], f["step"]) for f in report["findings"]}
    assert ("TURN-RESPONSE-NO-INTEGRITY", "data-channel-data") in where
    assert ("TURN-REFRESH-LIFETIME-ZERO", "refresh") in where
    roots = {r["id"] for r in report["root_causes"]}
    assert roots == {"TURN-RESPONSE-NO-INTEGRITY", "TURN-CHANNELDATA-NOT-RELAYED",
                     "TURN-REFRESH-LIFETIME-ZERO"}
    assert code == 1


def test_realm_mismatch_shows_both_realms(node_turn: NodeTurn) -> None:
    code, report = run_check(node_turn.port, "--realm", "other.realm")
    [finding] = [f for f in report["findings"] if f["id"] == "TURN-AUTH-401"]
    assert "'other.realm'" in finding["symptom"] and f"'{REALM}'" in finding["symptom"]
    assert code == 1
