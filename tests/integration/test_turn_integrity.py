"""turn-check against a server whose Allocate success is not (validly) integrity-protected.

No real server does this on purpose (coturn signs every response to an authenticated request), so the
server is the hand-written hostile fixture from ``tests/servers.py``: it challenges with a 401 (REALM,
NONCE), then answers the authenticated Allocate with a success that carries no MESSAGE-INTEGRITY, or one
keyed with another key. RFC 8489 §9.2.5: the client discards such a response as if it had never been
received (over UDP it keeps retransmitting and waiting for a valid one). The verdict must not be
"allocated"; it is TURN-RESPONSE-NO-INTEGRITY, a non-compliant server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from servers import TURN_UNSIGNED_ALLOCATE, TURN_WRONG_INTEGRITY_ALLOCATE, HostileServer


def run_check(port: int, transport: str) -> tuple[int, dict[str, Any]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "turn-check", f"127.0.0.1:{port}", "-u", "alice",
                           "--transport", transport, "--timeout", "0.6", "--json"],
                          env={**clean, "RTCDIAG_TURN_PASSWORD": "pw"}, capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("mode", [TURN_UNSIGNED_ALLOCATE, TURN_WRONG_INTEGRITY_ALLOCATE])
def test_allocate_success_without_valid_integrity_is_not_an_allocation(
        mode: str, transport: str, hostile: Callable[..., HostileServer]) -> None:
    server = hostile(mode)
    code, report = run_check(server.port, transport)
    leg = report["results"]["turn"][0]["transports"][0]
    assert leg["challenge_code"] == 401 and leg["authenticated"] is True
    assert leg["allocated"] is False and leg["relayed_address"] is None
    auth = leg["steps"][-1]
    assert auth["step"] == "allocate (authenticated)" and auth["outcome"] == "rejected"
    assert auth["unverified_response"] == "Allocate success response" and auth["unverified_success"]
    if transport == "udp":  # discarded as never received: the request was sent again, answered again
        assert auth["attempts"] >= 2 and auth["unverified_count"] >= 2
        assert max(server.copies.values()) >= 2
    assert [r["id"] for r in report["root_causes"]] == ["TURN-RESPONSE-NO-INTEGRITY"]
    assert {f["id"] for f in report["findings"]} == {"TURN-RESPONSE-NO-INTEGRITY"}
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses[f"{transport}/allocate"] == "fail"
    assert statuses[f"{transport}/relay-address"] == "skip"
    messages = {c["name"]: c["message"] for c in report["checks"]}
    assert "allocated" not in messages[f"{transport}/allocate"].replace("not an allocation", "")
    assert code == 1


def test_over_tcp_an_unsigned_answer_ends_the_transaction_at_once(
        hostile: Callable[..., HostileServer]) -> None:
    """RFC 8489 §9.2.5: over a reliable transport the discarded response ends the transaction immediately.
    With a 600 s transaction timeout the run only finishes (inside the 60 s guard) if it did not wait."""
    server = hostile(TURN_UNSIGNED_ALLOCATE)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "turn-check", f"127.0.0.1:{server.port}", "-u",
                           "alice", "--transport", "tcp", "--timeout", "600", "--json"],
                          env={**clean, "RTCDIAG_TURN_PASSWORD": "pw"}, capture_output=True, text=True,
                          timeout=60)
    report = json.loads(proc.stdout)
    auth = report["results"]["turn"][0]["transports"][0]["steps"][-1]
    assert auth["outcome"] == "rejected" and auth["unverified_count"] == 1 and auth["attempts"] == 1
    assert [r["id"] for r in report["root_causes"]] == ["TURN-RESPONSE-NO-INTEGRITY"]
    assert proc.returncode == 1
