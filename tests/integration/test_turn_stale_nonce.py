"""A real coturn whose nonces go stale after one second (``stale-nonce=1``), reached through a delay proxy
written in this test (every datagram held 0.3 s each way), so that the session outlives its nonce: coturn
answers some requests after the Allocate with 438 Stale Nonce. Each is retried with the new nonce and
succeeds, so the run passes: every step is judged on its final outcome (RFC 8489 §9.2.5), and coturn's
NUL-padded reason phrase (``Stale nonce\\x00``) is shown without the padding.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from udp_proxies import DelayProxy

from rtcdiag.coturn import CoturnOptions, RunningCoturn, start_coturn

PASSWORD = "alice-" + secrets.token_hex(8)
DELAY_S = 0.3


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
        proxy.close()
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
