"""Progress on a terminal and --deadline (issue 22), as real processes against a real coturn and a silent UDP
socket of this test (the server that never answers: no real server hangs like that on purpose).

- stderr a terminal (a pty): one status line redrawn in place ("n/N done; waiting for ..."), erased before the
  report; stdout (a pipe) never gets it; stderr a pipe, or --json, gets none.
- --deadline S: what had finished is reported, what had not is named and not judged, the allocation of the
  finished TURN server is released (coturn's own log says so), exit 3 (nothing failed) after about S.
"""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn

PASSWORD = "progress-pw-1"
ERASE = "\r\x1b[K"


class SilentServer:
    """A UDP socket that reads what arrives and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def server(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> RunningCoturn:
    return coturn_factory(CoturnOptions(users={"alice": PASSWORD}, verbose=True))


def _env() -> dict[str, str]:
    return {**os.environ, "RTCDIAG_TURN_PASSWORD": PASSWORD, "COLUMNS": "200"}


def _with_pty_stderr(args: list[str]) -> tuple[int, str, str]:
    """Run rtcdiag with stderr on a pty (a terminal) and stdout on a pipe; (exit code, stdout, stderr)."""
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "rtcdiag", *args], stdout=subprocess.PIPE,
                               stderr=slave, env=_env())
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            if process.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed its end
            break
        if not data:
            break
        seen += data
    out = process.stdout.read().decode() if process.stdout else ""
    process.wait(timeout=30)
    os.close(master)
    return process.returncode, out, seen.decode(errors="replace")


def test_progress_is_a_status_line_on_a_terminal_only(server: RunningCoturn,
                                                     silent: SilentServer) -> None:
    args = ["turn-check", f"turn:127.0.0.1:{server.port}", f"turn:127.0.0.1:{silent.port}", "-u", "alice",
            "--timeout", "1.5"]
    code, out, err = _with_pty_stderr(args)
    assert code == 1, out  # the silent one does not answer
    assert "rtcdiag turn-check: 1/2 done; waiting for " in err, err
    assert f"turn:127.0.0.1:{silent.port}" in err.split("waiting for ", 1)[1]
    assert err.endswith(ERASE)  # erased before the report: the terminal is left clean
    assert "\r" not in out and "\x1b" not in out  # never on stdout
    piped = subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                           timeout=60, env=_env())
    assert piped.stderr == "" and "\r" not in piped.stdout  # stderr a pipe: no status line at all
    code, out, err = _with_pty_stderr([*args, "--json"])
    assert "done" not in err and json.loads(out)["command"] == "turn-check"


def _released(server: RunningCoturn) -> int:
    return server.log_path.read_text(errors="replace").count("username=<alice>, lifetime=0")


def test_deadline_reports_what_finished_and_names_the_rest(server: RunningCoturn,
                                                           silent: SilentServer) -> None:
    released = _released(server)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "turn-check", f"turn:127.0.0.1:{server.port}",
                           f"turn:127.0.0.1:{silent.port}", "-u", "alice", "--timeout", "30", "--deadline",
                           "2", "--json"], capture_output=True, text=True, timeout=60, env=_env())
    took = time.monotonic() - started
    report: dict[str, Any] = json.loads(proc.stdout)
    assert proc.returncode == report["exit_code"] == 3, report["findings"]  # nothing failed: inconclusive
    assert report["verdict"].startswith("INCONCLUSIVE: ") and "--deadline 2 s reached" in report["verdict"]
    assert [u for u in report["deadline"]["unfinished"] if str(silent.port) in u]
    [finished] = report["results"]["turn"]
    assert finished["target"] == f"turn:127.0.0.1:{server.port}"
    assert [(t["allocated"], t["released"]) for t in finished["transports"]] == [(True, True)]
    assert _released(server) >= released + 1  # coturn's own log: the allocation was released
    assert not [f for f in report["findings"] if str(silent.port) in json.dumps(f)]  # the cut is not judged
    assert proc.stderr.strip().splitlines() == [
        "rtcdiag: --deadline 2 s reached: cut short (allocations released); the report above shows what "
        "had finished"]
    assert took < 15  # bounded by the deadline, not by the 30 s timeout
