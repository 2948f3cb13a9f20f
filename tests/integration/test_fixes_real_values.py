"""Fixes a person can paste (issue 22), through the real entry point against real peers on loopback: every
fix names the real values and its lines to paste come whole, one a line, shell-quoted.

- A refused port: the `ss` line and the coturn listener line carry the port that was probed (not 3478).
- A wrong password from an RTCIceServer file: the fix names the entry's fields and the user.
- TLS-HOSTNAME from turn-check: the certificate's own names (looked at unverified once it was refused),
  against a coturn serving a certificate made here for a DNS name only.
- TURN-NO-TCP-FALLBACK for a server given by IP: never a `turns:` URL with an IP (browsers check the name).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtcdiag import exitcodes
from rtcdiag.coturn import CoturnOptions, RunningCoturn

Factory = Callable[[CoturnOptions], RunningCoturn]
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_")}


def rtcdiag(*args: str, env: dict[str, str] | None = None,
            columns: int = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                          timeout=60, env={**CLEAN_ENV, "COLUMNS": str(columns), **(env or {})})


def as_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    proc = rtcdiag(*args, "--json", env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_a_refused_port_gets_the_lines_for_that_port(dead_port: int) -> None:
    args = ("turn-check", f"127.0.0.1:{dead_port}", "-t", "udp", "-u", "x", "--password", "y", "--timeout",
            "1")
    code, report = as_json(*args)
    assert code == exitcodes.FINDING_ERROR
    [refused] = [f for f in report["findings"] if f["id"] == "SERVER-REFUSED"]
    assert refused["snippet"] == ["# on the server: what listens there?",
                                  f"ss -lnup 'sport = :{dead_port}'", "# turnserver.conf",
                                  f"listening-port={dead_port}"]
    assert "3478" not in " ".join([refused["fix"], *refused["snippet"]])
    text = rtcdiag(*args).stdout.splitlines()  # 60 columns: the lines to paste are never wrapped
    assert f"             ss -lnup 'sport = :{dead_port}'" in text
    assert shlex.split(f"ss -lnup 'sport = :{dead_port}'")[-1] == f"sport = :{dead_port}"


def test_a_wrong_password_from_an_ice_servers_file_names_the_entry(coturn: RunningCoturn,
                                                                   tmp_path: Path) -> None:
    ice = tmp_path / "ice.json"
    ice.write_text(json.dumps({"iceServers": [
        {"urls": f"stun:127.0.0.1:{coturn.port}"},
        {"urls": f"turn:127.0.0.1:{coturn.port}?transport=udp", "username": "alice",
         "credential": "not-" + coturn.users["alice"]}]}))
    code, report = as_json("turn-check", str(ice))
    assert code == exitcodes.FINDING_ERROR
    [auth] = [f for f in report["findings"] if f["id"] == "TURN-AUTH-401"]
    assert auth["snippet"] == [f"# user alice: iceServers[1].username and .credential in {ice}",
                               "# on the server: is alice a user of realm 'rtcdiag.test'?",
                               "grep -n '^user=alice:' /etc/turnserver.conf"]


def test_tls_hostname_names_the_certificates_names(coturn_factory: Factory, tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj",
                    "/CN=turn.example.test", "-addext", "subjectAltName=DNS:turn.example.test"],
                   check=True, capture_output=True)
    server = coturn_factory(CoturnOptions(cert_file=cert, key_file=key, users={"alice": "pw-" + "1" * 10}))
    code, report = as_json("turn-check", f"turns:127.0.0.1:{server.tls_port}", "-u", "alice", "--ca",
                           str(cert), env={"RTCDIAG_TURN_PASSWORD": "pw-" + "1" * 10})
    assert code == exitcodes.FINDING_ERROR
    [hostname] = [f for f in report["findings"] if f["id"] == "TLS-HOSTNAME"]
    assert "the certificate names turn.example.test, not 127.0.0.1" in hostname["symptom"]
    assert "not trusted" not in hostname["symptom"]  # the unverified look trusted --ca too
    assert hostname["snippet"][0].startswith(f"openssl s_client -connect 127.0.0.1:{server.tls_port} ")


def test_the_fallback_fix_never_offers_turns_with_an_ip(coturn: RunningCoturn) -> None:
    code, report = as_json("check", f"turn:127.0.0.1:{coturn.port}", "-u", "alice", "--checks", "turn",
                           env={"RTCDIAG_TURN_PASSWORD": coturn.users["alice"]})
    assert code == exitcodes.OK, report["findings"]
    [fallback] = [f for f in report["findings"] if f["id"] == "TURN-NO-TCP-FALLBACK"]
    assert fallback["snippet"] == ["turns:<the host name on its certificate>:443?transport=tcp",
                                   f"turn:127.0.0.1:{coturn.port}?transport=tcp"]
    assert "turns:127.0.0.1" not in json.dumps(fallback)
