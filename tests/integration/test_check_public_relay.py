"""`rtcdiag check` against a coturn that is reached at a *public* address but relays from a private one —
the Docker/AWS classic of a missing `external-ip`. Emulated in a network namespace made by the test:
the server listens on 1.2.3.4 (global scope, only inside the namespace) and relays from 10.99.0.1.
Needs root (ip netns); everything, the check included, runs inside the namespace."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from rtcdiag.coturn import CoturnOptions, start_coturn

PUBLIC_IP = "1.2.3.4"  # global scope; exists only inside the test's namespace
PRIVATE_RELAY_IP = "10.99.0.1"

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create a network namespace"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2 (ip netns)"),
]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"rtcdiag-chk-{os.getpid()}"
    ip("netns", "add", name)
    try:
        # On the namespace's own loopback device: no dummy/veth module needed, and nothing can leave it.
        ip("-n", name, "addr", "add", f"{PUBLIC_IP}/32", "dev", "lo")
        ip("-n", name, "addr", "add", f"{PRIVATE_RELAY_IP}/32", "dev", "lo")
        ip("-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def test_private_relay_behind_public_address_is_an_error(namespace: str) -> None:
    password = "pw-" + secrets.token_hex(8)
    options = CoturnOptions(listening_ips=(PUBLIC_IP,), relay_ips=(PRIVATE_RELAY_IP,),
                            users={"alice": password}, allow_loopback_peers=False, netns=namespace)
    with start_coturn(options) as server:
        env = {**os.environ, "RTCDIAG_TEST_PW": password}
        proc = subprocess.run(
            ["ip", "netns", "exec", namespace, sys.executable, "-m", "rtcdiag", "check",
             f"turn:{PUBLIC_IP}:{server.port}?transport=udp", "-u", "alice",
             "--password-env", "RTCDIAG_TEST_PW", "--checks", "turn,ice", "--timeout", "2", "--json"],
            capture_output=True, text=True, timeout=60, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stdout[-2000:]
    report = json.loads(proc.stdout)
    errors = {f["id"]: f for f in report["findings"] if f["severity"] == "error"}
    assert "TURN-RELAY-PRIVATE" in errors and "ICE-RELAY-PRIVATE" in errors
    assert PRIVATE_RELAY_IP in errors["ICE-RELAY-PRIVATE"]["title"]
    assert "external-ip" in errors["ICE-RELAY-PRIVATE"]["fix"]
    assert password not in proc.stdout
