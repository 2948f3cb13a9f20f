"""The first screen is the answer (issue 22), through the real entry point against real peers on loopback:
line counts of the common cases, the verdict line whole when piped, -q, and the real output shown in the
docs (docs/output/*.txt), made here so that it never goes stale.

The docs' output is the real output with what changes from run to run made fixed: the loopback servers'
ports (coturn's UDP/TCP port is shown as 3478, its TLS port as 5349), other ports (relay, mapped) as 50000
and up in order of appearance, times as 0.3 ms / 0.05 s. ``RTCDIAG_WRITE_EXAMPLES=1`` rewrites the files;
otherwise each must match what the commands print now (line for line, after that normalisation).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from rtcdiag.coturn import RunningCoturn

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "docs" / "output"
FIXTURES = ROOT / "tests" / "fixtures"
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_")}
WRITE = os.environ.get("RTCDIAG_WRITE_EXAMPLES") == "1"


def rtcdiag(*args: str, env: dict[str, str] | None = None, columns: int = 100,
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**CLEAN_ENV, "COLUMNS": str(columns), "NO_COLOR": "1",
                                                      **(env or {})})


def normalise(text: str, coturn: RunningCoturn | None = None, shown_port: str = "3478") -> str:
    """What changes between runs made fixed (see the module); coturn's port is shown as ``shown_port``."""
    if coturn is not None:
        text = re.sub(rf"\b{coturn.port}\b", shown_port, text)
        if coturn.tls_port:
            text = re.sub(rf"(?<=:){coturn.tls_port}\b", "5349", text)
    ports: dict[str, str] = {}

    def port(match: re.Match[str]) -> str:
        found = match.group(2)
        if found in ("3478", "5349", "443", "43010"):
            return match.group(0)
        ports.setdefault(found, str(50000 + len(ports)))
        return f"{match.group(1)}:{ports[found]}"

    text = re.sub(r"(127\.0\.0\.[12]|\[::1\]):(\d{4,5})\b", port, text)
    text = re.sub(r"\b\d+\.\d+ ms\b", "0.3 ms", text)
    text = re.sub(r"\b\d+ ms\b", "3 ms", text)
    text = re.sub(r"Took \d+\.\d+ s\.", "Took 0.05 s.", text)
    text = re.sub(r"port \d{4,5} \(UDP/TCP\) and \d{4,5} \(TLS\)", "port 3478 (UDP/TCP) and 5349 (TLS)", text)
    return text


def check_example(name: str, text: str) -> None:
    path = OUTPUT / name
    if WRITE:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing: RTCDIAG_WRITE_EXAMPLES=1 makes it"
    assert path.read_text() == text, f"{path} is stale: RTCDIAG_WRITE_EXAMPLES=1 rewrites it"


def test_selftest_is_a_handful_of_lines() -> None:
    proc = rtcdiag("selftest")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) <= 8, proc.stdout  # 81 before issue 22
    text = normalise(proc.stdout)
    text = re.sub(r"(?m)^(  127\.0\.0\.1\s+\w+\s+relay 127\.0\.0\.)[12]", r"\g<1>2", text)  # either address
    check_example("selftest.txt", text)


def test_a_one_url_turn_check_pass_is_the_verdict_and_one_line(coturn: RunningCoturn) -> None:
    proc = rtcdiag("turn-check", f"turn:127.0.0.1:{coturn.port}?transport=udp", "-u", "alice",
                   env={"RTCDIAG_TURN_PASSWORD": coturn.users["alice"]})
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    assert len(lines) == 3, proc.stdout  # 48 before issue 22
    assert lines[0] == "rtcdiag turn-check: PASS: 7/7 checks passed"
    assert "relay 127.0.0.1:" in lines[1] and "0% loss (10/10), rtt" in lines[1]
    check_example("turn-check-pass.txt", normalise(proc.stdout, coturn))
    quiet = rtcdiag("turn-check", f"turn:127.0.0.1:{coturn.port}?transport=udp", "-u", "alice", "-q",
                    env={"RTCDIAG_TURN_PASSWORD": coturn.users["alice"]})
    assert quiet.stdout.splitlines() == [lines[0]] and quiet.returncode == 0  # like dig +short


def test_a_healthy_dump_is_short() -> None:
    proc = rtcdiag("analyze", str(FIXTURES / "analyze" / "healthy-relay.webrtc-internals.json.gz"))
    assert proc.returncode == 0, proc.stdout
    assert len(proc.stdout.splitlines()) <= 25, proc.stdout  # 102 before issue 22
    check_example("analyze-healthy.txt", normalise(proc.stdout))


def test_a_wrong_password_dump_names_its_one_root() -> None:
    """The README's third example: a real call of the ground-truth matrix (a wrong password) from its dump."""
    dump = FIXTURES / "matrix" / "auth-wrong-password" / "webrtc-internals.json.gz"
    proc = rtcdiag("analyze", str(dump.relative_to(ROOT)))
    assert proc.returncode == 1, proc.stdout
    assert proc.stdout.splitlines()[0].startswith("rtcdiag analyze: FAIL: 1 root cause (ANALYZE-TURN-401)")
    assert len(proc.stdout.splitlines()) <= 35, proc.stdout
    check_example("analyze-wrong-password.txt", normalise(proc.stdout))


def test_a_wrong_password_check_is_complete_and_its_verdict_whole_when_piped(coturn: RunningCoturn) -> None:
    args = ("check", f"turn:127.0.0.1:{coturn.port}", "-u", "alice")
    env = {"RTCDIAG_TURN_PASSWORD": "not-" + coturn.users["alice"]}
    proc = rtcdiag(*args, env=env)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert len(lines) <= 40, proc.stdout  # 53 before issue 22
    assert "ERROR TURN-AUTH-401 Credentials rejected (401 after authenticating)" in lines
    assert "             # user alice: the password given to rtcdiag (--password-env, --password-file or " \
           "$RTCDIAG_TURN_PASSWORD)" in lines
    check_example("check-wrong-password.txt", normalise(proc.stdout, coturn))
    narrow = rtcdiag(*args, "--junit", "/dev/null", env=env, columns=40)  # CI: a pipe, a narrow log
    verdict = json.loads(rtcdiag(*args, "--json", env=env).stdout)["verdict"]
    assert narrow.stdout.splitlines()[0] == f"rtcdiag check: {verdict}"  # `| head -1` is all of it
    assert len(narrow.stdout.splitlines()[0]) > 40


def test_ports_of_a_named_port(coturn: RunningCoturn) -> None:
    proc = rtcdiag("ports", f"127.0.0.1:{coturn.port}", "--timeout", "1")
    assert proc.returncode == 0, proc.stdout  # "FAIL: 4 root causes" before issue 22
    check_example("ports-named.txt", normalise(proc.stdout, coturn, shown_port="43010"))


def test_lint_output() -> None:
    proc = rtcdiag("lint", "tests/fixtures/lint/wide-open.conf", "--coturn-version", "4.6.1")
    assert proc.returncode == 1
    check_example("lint.txt", proc.stdout)


def test_bare_check_says_first_that_it_asks_public_servers(coturn: RunningCoturn) -> None:
    """`rtcdiag check` with no server asks public STUN servers: said on stderr before anything is sent and
    in the notes. Tests send nothing off this machine: the default list is pointed at the loopback coturn."""
    code = ("import rtcdiag.commands.check as c; "
            f"c.DEFAULT_STUN_SERVERS = ('stun:127.0.0.1:{coturn.port}',); "
            "from rtcdiag.cli import main; main(['check', '--checks', 'stun'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**CLEAN_ENV, "NO_COLOR": "1"})
    assert proc.stderr.splitlines()[0] == (
        f"rtcdiag check: no server given: asking the public STUN servers 127.0.0.1:{coturn.port} (Binding, "
        "ICE gathering, NAT); give URIs, --ice-servers FILE or --config FILE to check your own")
    assert proc.stdout.startswith("rtcdiag check: PASS")
    help_text = rtcdiag("check", "--help").stdout
    assert "public STUN servers on" in " ".join(help_text.split())

