"""Ctrl-C (SIGINT), SIGTERM and SIGHUP release TURN allocations (RFC 8656 §8: Refresh LIFETIME=0), and say so.

A real coturn with verbose logging; ``rtcdiag turn-check`` runs as a subprocess through a UDP delay proxy
written here (every datagram held DELAY_S each way), so that the signal, sent once coturn has logged the
allocation and its permission, lands while the data path is running. coturn's own log is the witness:
``refreshed, ... lifetime=0`` then ``delete`` for that session. A SIGKILLed run is the control: its
allocation is not released.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from udp_proxies import DelayProxy

from rtcdiag.coturn import CoturnOptions, RunningCoturn

PASSWORD = "signal-pw-" + secrets.token_hex(4)
DELAY_S = 0.15  # each way: a control round trip through the proxy takes 0.3 s
WAIT_S = 20.0  # bound on every wait for a log line or an exit (a hang fails the test, never blocks CI)


@pytest.fixture
def server(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> RunningCoturn:
    return coturn_factory(CoturnOptions(users={"alice": PASSWORD}, verbose=True))


@pytest.fixture
def proxy(server: RunningCoturn) -> Iterator[DelayProxy]:
    p = DelayProxy((server.host, server.port), DELAY_S)
    try:
        yield p
    finally:
        p.close()


def _wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def _sessions(log: str) -> list[str]:
    """coturn session ids that allocated for alice."""
    return re.findall(r"session (\d+): new, realm=<rtcdiag.test>, username=<alice>", log)


def _start(proxy: DelayProxy) -> subprocess.Popen[str]:
    env = {**os.environ, "RTCDIAG_TURN_PASSWORD": PASSWORD}
    return subprocess.Popen(
        [sys.executable, "-m", "rtcdiag", "turn-check", f"127.0.0.1:{proxy.port}", "-u", "alice",
         "--transport", "udp", "--packets", "1000", "--timeout", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _mid_data_path(server: RunningCoturn, process: subprocess.Popen[str]) -> str:
    """Wait until coturn logged the allocation and its CreatePermission (the Send/Data phase); its session."""
    def ready() -> bool:
        assert process.poll() is None, process.communicate()
        log = server.log_path.read_text(errors="replace")
        return any(f"session {s}: realm <rtcdiag.test> user <alice>: incoming packet CREATE_PERMISSION "
                   f"processed, success" in log for s in _sessions(log))
    _wait_for(ready, "the allocation and its permission in coturn's log")
    (session,) = _sessions(server.log_path.read_text(errors="replace"))
    return session


@pytest.mark.parametrize(("signum", "exit_code", "said"), [
    (signal.SIGINT, 130, "interrupted by SIGINT (allocations released)"),
    (signal.SIGTERM, 143, "terminated by SIGTERM (allocations released)"),
    (signal.SIGHUP, 129, "terminated by SIGHUP (allocations released)")])
def test_signal_mid_data_path_releases_the_allocation(server: RunningCoturn, proxy: DelayProxy,
                                                      signum: signal.Signals, exit_code: int,
                                                      said: str) -> None:
    process = _start(proxy)
    try:
        session = _mid_data_path(server, process)
        os.kill(process.pid, signum)
        out, err = process.communicate(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == exit_code, err
    assert f"rtcdiag: error: {said}; the report above shows what had finished" in err.splitlines(), err
    assert "Traceback" not in err
    # The partial report: the one transport was cut mid data path, so it is named, not judged.
    assert out.startswith(f"rtcdiag turn-check: INTERRUPTED by {signum.name}: partial report"), out
    assert f"Not finished (not judged): turn:127.0.0.1:{proxy.port}?transport=udp" in " ".join(out.split())
    log = server.log_path.read_text(errors="replace")
    # RFC 8656 §8: the release is a Refresh with LIFETIME 0. rtcdiag waited for its success response before
    # exiting, so coturn has logged it already; coturn deletes the allocation right after (own timer).
    assert f"session {session}: refreshed, realm=<rtcdiag.test>, username=<alice>, lifetime=0" in log
    _wait_for(lambda: f"session {session}: delete: realm=<rtcdiag.test>, username=<alice>"
              in server.log_path.read_text(errors="replace"), "coturn to delete the allocation")


def test_sigkill_control_leaves_the_allocation(server: RunningCoturn, proxy: DelayProxy) -> None:
    """The control: without a chance to clean up, the allocation stays (so the test above can fail)."""
    process = _start(proxy)
    try:
        session = _mid_data_path(server, process)
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    _wait_for(proxy.drained.is_set, "the proxy to deliver everything the client had sent")
    log = server.log_path.read_text(errors="replace")
    assert f"session {session}: refreshed, realm=<rtcdiag.test>, username=<alice>, lifetime=0" not in log
    assert f"session {session}: delete" not in log
