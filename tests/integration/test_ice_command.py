"""`rtcdiag ice` from the command line against the loopback coturn: tables, JUnit cases, exit codes."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from rtcdiag.coturn import RunningCoturn


def run_ice(*args: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RTCDIAG_TEST_ICE_PW": password}
    argv = [sys.executable, "-m", "rtcdiag", "ice", *args, "--password-env", "RTCDIAG_TEST_ICE_PW"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_ice_command_reports_candidates_and_the_selected_pair(coturn: RunningCoturn, tmp_path: Path) -> None:
    assert coturn.ca_cert is not None
    junit = tmp_path / "ice.xml"
    password = coturn.users["alice"]
    proc = run_ice(f"turn:{coturn.host}:{coturn.port}", f"turns:{coturn.host}:{coturn.tls_port}",
                   "-u", "alice", "--ca", str(coturn.ca_cert), "--relay-only", "--json",
                   "--junit", str(junit), password=password)
    assert proc.returncode == 0, proc.stdout[-2000:]
    report = json.loads(proc.stdout)
    summary = report["tables"][0]
    assert summary["title"] == "ICE end to end" and len(summary["rows"]) == 2
    for row in summary["rows"]:
        assert row[5].startswith("relay ") and " <-> relay " in row[5]  # --relay-only: relay to relay
        assert row[6].startswith("5/5 pkts")
    candidate_tables = [t for t in report["tables"] if t["title"].startswith("ICE candidates via")]
    assert len(candidate_tables) == 2
    assert all(row[1] == "relay" for t in candidate_tables for row in t["rows"])
    assert {row[7] for t in candidate_tables for row in t["rows"]} == {"udp", "tls"}
    udp_url = f"turn:{coturn.host}:{coturn.port}?transport=udp"
    tls_url = f"turns:{coturn.host}:{coturn.tls_port}"
    cases = {(c.get("classname"), c.get("name")) for c in ET.parse(junit).getroot().iter("testcase")}
    # One testcase per URL x step, named transport/step (the transport between agents and server).
    assert cases == {(url, f"{transport}/{step}") for url, transport in ((udp_url, "udp"), (tls_url, "tls"))
                     for step in ("gather-relay", "connect", "data")}
    statuses = {(c["suite"], c["name"]): c["status"] for c in report["checks"]}
    assert set(statuses.values()) == {"pass"}, statuses
    # A loopback relay address from a loopback server is only noted (info), attached to its gather step.
    noted = [f for f in report["findings"] if f["id"] == "ICE-RELAY-INTERNAL-NOTED"]
    assert noted and {(f["subject"], f["transport"], f["step"]) for f in noted} == {
        (udp_url, "udp", "gather-relay"), (tls_url, "tls", "gather-relay")}
    assert all(f["host"] == coturn.host and f["check"] == "ice" for f in noted)
    assert password not in proc.stdout and password not in junit.read_text()


def test_ice_command_wrong_password_exits_1(coturn: RunningCoturn) -> None:
    wrong = "nope-" + secrets.token_hex(5)
    proc = run_ice(f"turn:{coturn.host}:{coturn.port}", "-u", "alice", "--timeout", "2", "--json",
                   password=wrong)
    assert proc.returncode == 1
    assert wrong not in proc.stdout
    report = json.loads(proc.stdout)
    [finding] = report["findings"]
    assert (finding["id"], finding["step"], finding["transport"]) == ("ICE-NO-RELAY", "gather-relay", "udp")
    assert "401" in finding["symptom"]
    cases = {c["name"]: c for c in report["checks"]}
    assert cases["udp/gather-relay"]["status"] == "fail"
    # The later steps did not run: skipped with the reason, not failed again.
    assert cases["udp/connect"]["status"] == "skip"
    skipped = cases["udp/connect"]["message"]
    assert "no relay candidate" in skipped and "401" in skipped
    assert cases["udp/data"]["status"] == "skip"


def test_ice_command_unresolvable_name_says_so_without_python_reprs() -> None:
    proc = run_ice("turn:rtcdiag-no-such-host.invalid:3478", "-u", "alice", "--timeout", "1", "--json",
                   password="pw-" + secrets.token_hex(4))
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    [finding] = report["findings"]
    assert finding["id"] == "ICE-NO-RELAY" and finding["host"] == "rtcdiag-no-such-host.invalid"
    assert "rtcdiag-no-such-host.invalid does not resolve" in finding["symptom"]
    assert "gaierror" not in proc.stdout and "Errno" not in proc.stdout


def test_ice_command_needs_credentials_for_turn(coturn: RunningCoturn) -> None:
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "ice", f"turn:{coturn.host}:{coturn.port}"],
                          capture_output=True, text=True, timeout=30,
                          env={k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN")})
    assert proc.returncode == 2
    assert proc.stderr.startswith("rtcdiag: error: ") and "user name and a password" in proc.stderr
