"""`rtcdiag selftest`: starts its own coturn on loopback, runs check, prints a green report; clear error
(exit 2) when coturn is not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", "selftest", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


def test_selftest_is_green_offline() -> None:
    proc = run("--json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    report = json.loads(proc.stdout)
    assert report["command"] == "selftest" and report["verdict"].startswith("PASS")
    names = {c["name"] for c in report["checks"]}
    assert {"stun/udp/binding", "stun/tcp/binding", "stun/tls/binding", "ice/udp/connect", "ice/tls/data",
            "expect/relay"} <= names
    assert all(c["status"] == "pass" for c in report["checks"])


def test_selftest_console_report_is_green() -> None:
    proc = run(env={"COLUMNS": "100", "NO_COLOR": "1"})
    assert proc.returncode == 0
    assert proc.stdout.startswith("rtcdiag selftest: PASS")
    lines = proc.stdout.splitlines()  # the verdict, one line per transport, the NAT, the footer (issue 22)
    assert len(lines) == 6, proc.stdout
    assert [line.split()[1] for line in lines[1:4]] == ["udp", "tcp", "tls"]
    assert all("0% loss (6/6)" in line and "ICE connected" in line for line in lines[1:4])
    assert lines[4].split() == ["local", "network", "NAT:", "open", "internet"]
    verbose = run("-v", env={"COLUMNS": "100", "NO_COLOR": "1"})
    assert "Servers by transport" in verbose.stdout and "INFO TURN-RELAY-LOCAL" in verbose.stdout
    assert "selftest-" not in proc.stdout + verbose.stdout  # the generated password is never shown


def test_missing_coturn_is_one_line_and_exit_2(tmp_path: object) -> None:
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "selftest"], capture_output=True, text=True,
                          timeout=30, env={**os.environ, "PATH": "/nonexistent"})
    assert proc.returncode == 2
    assert proc.stderr == "rtcdiag: error: coturn is not installed: apt-get install coturn\n"
    assert proc.stdout == ""


@pytest.mark.parametrize("flag", ["--markdown"])
def test_selftest_markdown(flag: str) -> None:
    proc = run(flag)
    assert proc.returncode == 0
    assert proc.stdout.lstrip().startswith("#") and "PASS" in proc.stdout
