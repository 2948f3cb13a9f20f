"""The system trust store (~20 ms of CPU to load) is loaded only when a TLS step runs (issue 20): ICE's TLS
context is built for ``turns:`` servers only."""

from __future__ import annotations

import ssl
import subprocess
import sys

from rtcdiag.checks.ice import IceServer, tls_context

# Counts the system trust store loads of one run (create_default_context loads it through this method).
COUNTING = """
import ssl, sys
loads = []
inner = ssl.SSLContext.load_default_certs
def counted(self, *args, **kwargs):
    loads.append(1)
    return inner(self, *args, **kwargs)
ssl.SSLContext.load_default_certs = counted
import rtcdiag.cli
try:
    rtcdiag.cli.main(sys.argv[1:])
except SystemExit as exc:
    print("exit", exc.code, "loads", len(loads), file=sys.stderr)
"""


def test_check_without_a_tls_url_loads_no_trust_store() -> None:
    """``check`` of a plain ``stun:`` URL (a closed loopback port: STUN, ports and ICE all run and fail)
    builds no TLS context: the ICE job used to build one at planning time for nothing."""
    done = subprocess.run([sys.executable, "-c", COUNTING, "check", "stun:127.0.0.1:9", "--timeout", "0.5"],
                          capture_output=True, text=True, timeout=120)
    last = done.stderr.strip().splitlines()[-1]
    assert last == "exit 1 loads 0", (last, done.stdout)
    assert "ice" in done.stdout.lower(), done.stdout  # the ICE check was planned and ran


def _server(scheme: str, transport: str = "udp") -> IceServer:
    return IceServer(url=f"{scheme}:127.0.0.1:5349", scheme=scheme, host="127.0.0.1", port=5349,
                     transport=transport)


def test_ice_tls_context_only_for_turns_servers_and_with_the_same_verification() -> None:
    assert tls_context([_server("stun"), _server("turn"), _server("turn", "tcp")], None, False) is None
    verifying = tls_context([_server("turn"), _server("turns", "tcp")], None, False)
    assert verifying is not None
    assert verifying.verify_mode == ssl.CERT_REQUIRED and verifying.check_hostname
    assert verifying.cert_store_stats()["x509_ca"] > 0 or ssl.get_default_verify_paths().cafile is None
    insecure = tls_context([_server("turns", "tcp")], None, True)
    assert insecure is not None
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname
