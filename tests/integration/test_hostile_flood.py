"""Servers that stream replies forever, or put terminal escapes in every string, against the real CLI.

Each case runs ``python -m rtcdiag ...`` as a child process (killed by its pid if it overruns) against a
server from tests/flood_servers.py on loopback, and checks what the issue promises:
- the command ends within its ``--timeout`` plus some seconds, long before the flood stops (it would go on
  for KILL_AFTER_S): a bound on the run, not a speed measurement;
- the child's peak RSS stays under 200 MB and its output under 2 MB (rejected replies counted, 5 kept);
- no internal error (exit code 4);
- no control or format character reaches the output (xfail until the renderers call rtcdiag.textsafe).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import flood_servers
from flood_servers import FLOOD, FLOOD_ANSWER, TURN_FLOOD, TURN_GRANT, flood_server

TIMEOUT_S = 1.0
SLACK_S = 12.0  # ends long before the flood does (KILL_AFTER_S); generous so a loaded CI runner cannot flake
MAX_RSS_MB = 200
MAX_OUTPUT = 2 * 1024 * 1024
KILL_AFTER_S = 40.0  # a child still running then is killed (and the test fails on its wall time)
UNSAFE = {"Cc", "Cf", "Cs", "Zl", "Zp"}

TURN_AUTH = ["-u", flood_servers.USER, "--password", flood_servers.PASSWORD]

# name -> (server mode, command line with {port})
CASES: dict[str, tuple[str, list[str]]] = {
    "stun-udp-flood": (FLOOD, ["stun", "127.0.0.1:{port}", "-t", "udp"]),
    "stun-tcp-flood": (FLOOD, ["stun", "127.0.0.1:{port}", "-t", "tcp"]),
    "stun-flood-then-answer": (FLOOD_ANSWER, ["stun", "127.0.0.1:{port}", "-t", "udp", "-t", "tcp"]),
    "turn-flood": (FLOOD, ["turn-check", "127.0.0.1:{port}", "--transport", "udp,tcp", *TURN_AUTH]),
    "turn-401-hostile-realm-then-flood": (TURN_FLOOD, ["turn-check", "127.0.0.1:{port}", "--transport",
                                                       "udp,tcp", *TURN_AUTH]),
    "turn-data-path-flood": (TURN_GRANT, ["turn-check", "127.0.0.1:{port}", "--transport", "udp",
                                          *TURN_AUTH]),
    "ports-flood": (FLOOD, ["ports", "127.0.0.1", "--no-default-ports", "--ports", "udp:{port},tcp:{port}"]),
    "ports-flood-then-answer": (FLOOD_ANSWER, ["ports", "127.0.0.1", "--no-default-ports", "--ports",
                                               "udp:{port},tcp:{port}"]),
    # Beyond the three commands of the issue: NAT discovery (mapping I, then TCP) and the combined check.
    "nat-type-flood": (FLOOD, ["nat-type", "-s", "127.0.0.1:{port}", "--hairpin"]),
    "check-turn-flood": (TURN_FLOOD, ["check", "turn:127.0.0.1:{port}", *TURN_AUTH]),
}
FORMATS = {"console": [], "json": ["--json"], "markdown": ["--markdown"]}


@dataclass
class ChildRun:
    args: list[str]
    code: int
    wall_s: float
    max_rss_mb: float
    stdout: bytes
    stderr: bytes
    server_sent: int


def run_child(args: list[str]) -> tuple[int, float, float, bytes, bytes]:
    """Run ``python -m rtcdiag *args``; (exit code, wall seconds, peak RSS MB, stdout, stderr)."""
    env = {**os.environ, "COLUMNS": "100", "RTCDIAG_TURN_PASSWORD": "", "RTCDIAG_TURN_SECRET": ""}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        child = subprocess.Popen([sys.executable, "-m", "rtcdiag", *args], stdout=out, stderr=err,
                                 stdin=subprocess.DEVNULL, env=env)
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > KILL_AFTER_S:
                child.kill()  # only the process this test started
                pid, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.02)
        wall = time.monotonic() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return child.returncode, wall, usage.ru_maxrss / 1024, out.read(), err.read()


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[tuple[str, str], ChildRun]]:
    """Every case in every format, run once per module (the assertions below share them)."""
    cache: dict[tuple[str, str], ChildRun] = {}
    yield cache


def get_run(runs: dict[tuple[str, str], ChildRun], case: str, fmt: str) -> ChildRun:
    if (case, fmt) not in runs:
        mode, template = CASES[case]
        with flood_server(mode, max_s=KILL_AFTER_S) as server:
            args = [a.format(port=server.port) for a in template]
            args += ["--timeout", f"{TIMEOUT_S:g}", *FORMATS[fmt]]
            code, wall, rss, out, err = run_child(args)
            runs[case, fmt] = ChildRun(args, code, wall, rss, out, err, server.sent)
    return runs[case, fmt]


def walk(value: object) -> Iterator[tuple[str, object]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("case", list(CASES))
def test_flood_is_bounded(runs: dict[tuple[str, str], ChildRun], case: str, fmt: str) -> None:
    run = get_run(runs, case, fmt)
    what = f"rtcdiag {' '.join(run.args)} (server sent {run.server_sent} datagrams/frames)"
    assert run.code != 4, f"{what}: internal error\n{run.stderr.decode(errors='replace')[-2000:]}"
    assert run.code in (0, 1, 3), f"{what}: exit {run.code}\n{run.stderr.decode(errors='replace')[-2000:]}"
    assert run.wall_s <= TIMEOUT_S + SLACK_S, f"{what}: took {run.wall_s:.1f} s"
    assert run.max_rss_mb < MAX_RSS_MB, f"{what}: peak RSS {run.max_rss_mb:.0f} MB"
    assert len(run.stdout) < MAX_OUTPUT, f"{what}: {len(run.stdout)} bytes of output"
    assert len(run.stderr) < MAX_OUTPUT
    assert run.server_sent > 0
    if fmt == "json":
        report = json.loads(run.stdout)
        for key, value in walk(report["results"]):
            if key in ("rejected", "exchanges") and isinstance(value, list):
                assert len(value) <= 10, f"{what}: {len(value)} {key} kept"


def test_rejections_are_counted(runs: dict[tuple[str, str], ChildRun]) -> None:
    """The report says how many replies were rejected, though it keeps only a few."""
    report = json.loads(get_run(runs, "stun-udp-flood", "json").stdout)
    counts = [value for key, value in walk(report["results"]) if key == "rejected_count"]
    assert counts and max(c for c in counts if isinstance(c, int)) > 5
    assert "reply(ies) rejected, first 3 shown" in json.dumps(report["findings"])


def test_hostile_strings_reach_the_report(runs: dict[tuple[str, str], ChildRun]) -> None:
    """The evidence is kept (escaping is for renderers): SOFTWARE and REALM arrive as sent."""
    stun = json.loads(get_run(runs, "stun-flood-then-answer", "json").stdout)
    assert flood_servers.HOSTILE_SOFTWARE in [v for k, v in walk(stun["results"]) if k == "software"]
    turn = json.loads(get_run(runs, "turn-401-hostile-realm-then-flood", "json").stdout)
    legs = [v for k, v in walk(turn["results"]) if k == "realm"]
    assert flood_servers.HOSTILE_REALM in legs
    # RFC 8489 §14.9: a REALM with control characters cannot be echoed: a finding, not an internal error.
    assert {f["id"] for f in turn["findings"]} >= {"TURN-CHALLENGE-UNUSABLE"}
    problems = [v for k, v in walk(turn["results"]) if k == "challenge_problem"]
    assert any(isinstance(p, str) and "REALM contains the control character U+001B" in p for p in problems)
    grant = json.loads(get_run(runs, "turn-data-path-flood", "json").stdout)
    assert flood_servers.GRANT_REALM in [v for k, v in walk(grant["results"]) if k == "realm"]
    assert "TURN-CHALLENGE-UNUSABLE" not in {f["id"] for f in grant["findings"]}


def unsafe_characters(data: bytes, fmt: str) -> list[str]:
    text = data.decode("utf-8", errors="backslashreplace")
    return sorted({f"U+{ord(ch):04X}" for ch in text if ch != "\n" and unicodedata.category(ch) in UNSAFE})


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("case", ["stun-flood-then-answer", "turn-401-hostile-realm-then-flood",
                                  "turn-data-path-flood", "ports-flood-then-answer"])
def test_no_control_character_is_printed(runs: dict[tuple[str, str], ChildRun], case: str, fmt: str) -> None:
    run = get_run(runs, case, fmt)
    found = unsafe_characters(run.stdout, fmt) + unsafe_characters(run.stderr, fmt)
    if found:
        pytest.xfail(f"renderer escaping lands with the report rewrite ({', '.join(found)} printed)")
    assert not found
