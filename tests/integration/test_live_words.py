"""The smaller words of a live report (issue 20 item 6), each through the real entry point.

- The verdict counts the root blocks the report prints: three refusals of one statement are one cause
  (before: "3 root cause(s)" above one "3 x SERVER-REFUSED" block). A dead loopback port is the peer: the
  kernel's own ICMP port unreachable and TCP RST.
- ``turn-check`` over TLS warns TLS-EXPIRING-SOON with the ``ports`` rule (before: only ``ports`` did),
  against a real coturn serving a certificate that expires in 5 days.
- A 65,000-byte SOFTWARE is bounded in text and Markdown, whole in JSON. No real server sends one (RFC 8489
  §14.14: fewer than 128 characters): the server is the hand-written ``long-software`` mode of
  tests/servers.py.
(The server that dies mid-run: tests/integration/test_turn_server_stops.py; SIGINT's words:
test_signals.py and test_interrupt.py.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from servers import LONG_SOFTWARE, LONG_SOFTWARE_BYTES, HostileServer

from rtcdiag import exitcodes
from rtcdiag.coturn import CoturnOptions, RunningCoturn
from rtcdiag.textsafe import MAX_SHOWN_CHARS

PASSWORD = "words-pw-1"


def rtcdiag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "RTCDIAG_TURN_PASSWORD": PASSWORD, "COLUMNS": "100"})


def as_json(*args: str) -> tuple[int, dict[str, Any]]:
    proc = rtcdiag(*args, "--json")
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_one_statement_over_three_transports_is_one_root_cause(dead_port: int) -> None:
    proc = rtcdiag("turn-check", f"127.0.0.1:{dead_port}", "-u", "alice", "--tls-port", str(dead_port),
                   "--timeout", "1")
    assert proc.returncode == exitcodes.FINDING_ERROR, proc.stderr
    lines = proc.stdout.splitlines()
    blocks = [line for line in lines if re.match(r"^(ERROR|WARNING) ", line)]
    assert blocks == ["ERROR SERVER-REFUSED Connection refused"], proc.stdout
    assert "  3 x " in proc.stdout  # one statement about UDP, TCP and TLS
    assert lines[0].startswith("rtcdiag turn-check: FAIL: 1 root cause (SERVER-REFUSED);"), lines[0]
    assert "Diagnosis: root cause" in lines
    _, report = as_json("turn-check", f"127.0.0.1:{dead_port}", "-u", "alice", "--tls-port", str(dead_port),
                        "--timeout", "1")
    assert len(report["root_causes"]) == 3
    assert report["verdict"].startswith("FAIL: 1 root cause (SERVER-REFUSED);")


@pytest.fixture(scope="module")
def expiring(coturn_factory: Callable[[CoturnOptions], RunningCoturn],
             tmp_path_factory: pytest.TempPathFactory) -> tuple[RunningCoturn, Path]:
    """A coturn serving TLS with a certificate valid for 5 days (localhost, 127.0.0.1; made with openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    workdir = tmp_path_factory.mktemp("expiring-cert")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "5", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    server = coturn_factory(CoturnOptions(cert_file=cert, key_file=key, users={"alice": PASSWORD}))
    return server, cert


def test_turn_check_over_tls_warns_of_an_expiring_certificate(expiring: tuple[RunningCoturn, Path]) -> None:
    server, cert = expiring
    code, report = as_json("turn-check", f"turns:127.0.0.1:{server.tls_port}", "-u", "alice",
                           "--ca", str(cert))
    assert code == exitcodes.OK and report["status"] == "warn", report["findings"]
    [soon] = [f for f in report["findings"] if f["id"] == "TLS-EXPIRING-SOON"]
    assert (soon["check"], soon["step"], soon["transport"]) == ("turn", "connect", "tls")
    assert int(soon["params"]["days"]) in (4, 5) and soon["params"]["cert_subject"] == "CN=localhost"
    [transport] = report["results"]["turn"][0]["transports"]
    assert transport["allocated"] and transport["certificate"]["not_after"] == soon["params"]["not_after"]
    # The same rule and words as the ports check, on the same certificate.
    _, ports = as_json("ports", "127.0.0.1", "--no-default-ports", "--ports", f"tls:{server.tls_port}",
                       "--ca", str(cert))
    [same] = [f for f in ports["findings"] if f["id"] == "TLS-EXPIRING-SOON"]
    assert (same["title"], same["params"]["days"], same["params"]["not_after"]) == (
        soon["title"], soon["params"]["days"], soon["params"]["not_after"])


def test_check_states_the_expiring_certificate_once(expiring: tuple[RunningCoturn, Path]) -> None:
    """ports and turn both see it in `check`: one root cause, the other folded under it."""
    server, cert = expiring
    code, report = as_json("check", f"turns:127.0.0.1:{server.tls_port}?transport=tcp", "-u", "alice",
                           "--ca", str(cert), "--checks", "ports,turn")
    soon = [f for f in report["findings"] if f["id"] == "TLS-EXPIRING-SOON"]
    assert {f["check"] for f in soon} == {"ports", "turn"}
    assert [r["id"] for r in report["root_causes"]].count("TLS-EXPIRING-SOON") == 1, report["root_causes"]
    assert code == exitcodes.OK


def test_a_65000_byte_software_is_bounded_in_text_and_markdown(
        hostile: Callable[..., HostileServer]) -> None:
    server = hostile(LONG_SOFTWARE)
    target = f"127.0.0.1:{server.port}"
    text = rtcdiag("stun", target, "-v")  # the table with SOFTWARE comes with -v
    markdown = rtcdiag("stun", target, "--markdown")
    code, report = as_json("stun", target)
    assert code == exitcodes.OK
    [result] = report["results"]
    assert len(result["software"]) == LONG_SOFTWARE_BYTES  # JSON keeps it whole
    for out in (text, markdown):
        assert out.returncode == exitcodes.OK
        assert "x" * MAX_SHOWN_CHARS not in out.stdout  # the run of x's is cut ...
        assert f"[{LONG_SOFTWARE_BYTES:,} characters in all; --json has them]" in " ".join(out.stdout.split())
        assert len(out.stdout) < 4 * MAX_SHOWN_CHARS  # ... and the whole report is small (was 92 KB)
    assert "Vendor TURN" in text.stdout and "Vendor TURN" in markdown.stdout  # ... but its start is shown
