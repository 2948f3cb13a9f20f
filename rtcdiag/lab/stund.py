"""Start a real Vovida ``stund`` (Debian package ``stun-server``): an RFC 3489-era STUN server, for tests and
the lab.

stund answers on two IPs and two ports (RFC 3489 §9.2 CHANGE-REQUEST: primary and alternate address), so it
needs two local addresses (on loopback 127.0.0.1 and 127.0.0.2 work). Its replies carry MAPPED-ADDRESS,
SOURCE-ADDRESS, CHANGED-ADDRESS, an XOR-MAPPED-ADDRESS of the draft era and a NUL-padded SERVER (0x8022),
and its parser drops any request with a string attribute whose length is not a multiple of 4.

Usage::

    with start_stund("127.0.0.1", "127.0.0.2") as server:
        server.port, server.alt_port
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from rtcdiag.coturn import (
    POLL_INTERVAL_S,
    READY_TIMEOUT_S,
    STOP_GRACE_S,
    CoturnError,
    binding_request,
    socket_in_netns,
)

DEFAULT_PORT = 3478  # stund's defaults: primary 3478, alternate port 3479


class StundError(CoturnError):
    """stund is missing or could not be started (exit 3: nothing could be checked)."""


@dataclass
class RunningStund:
    process: subprocess.Popen[bytes]
    workdir: Path
    host: str  # primary IP
    alternate: str  # second IP (CHANGED-ADDRESS)
    port: int
    alt_port: int
    netns: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def uri(self) -> str:
        return f"stun:{self.host}:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.workdir / "stund.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period, by PID; then remove the temp dir. Idempotent."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_GRACE_S)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RunningStund:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def stund_path() -> str:
    path = shutil.which("stund") or ("/usr/sbin/stund" if os.access("/usr/sbin/stund", os.X_OK) else None)
    if path is None:
        raise StundError("stund is not installed: run `apt-get install stun-server`")
    return path


def start_stund(host: str, alternate: str, port: int = 0, alt_port: int = 0, *, netns: str | None = None,
                die_with_parent: bool = False, attempts: int = 3) -> RunningStund:
    """Start stund on ``host``/``alternate`` (``port``, ``alt_port``; 0 = free ones picked here) and return
    once it answers a Binding request. ``netns``: inside that network namespace."""
    binary = stund_path()
    last: StundError | None = None
    for _ in range(attempts):
        p, alt = port or _free_udp_pair(host, alternate, netns), alt_port
        alt = alt or p + 1
        workdir = Path(tempfile.mkdtemp(prefix="rtcdiag-stund-"))
        argv = [binary, "-h", host, "-a", alternate, "-p", str(p), "-o", str(alt)]
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        setpriv = shutil.which("setpriv") if die_with_parent else None
        if setpriv:
            argv = [setpriv, "--pdeathsig", "KILL", "--", *argv]
        with open(workdir / "stund.log", "wb") as log:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       cwd=workdir, start_new_session=True)
        server = RunningStund(process, workdir, host, alternate, p, alt, netns)
        try:
            _wait_ready(server)
            return server
        except StundError as err:
            server.stop()
            last = err
            if port:  # a fixed port will not get free by trying again
                break
        except BaseException:
            server.stop()
            raise
    assert last is not None
    raise last


def _free_udp_pair(host: str, alternate: str, netns: str | None) -> int:
    """A port P with P and P+1 free for UDP on both IPs (stund binds all four)."""
    for _ in range(50):
        with socket_in_netns(netns, socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if port >= 65535:
            continue
        if all(_udp_free(ip, q, netns) for ip in (host, alternate) for q in (port, port + 1)):
            return port
    raise StundError(f"no free UDP port pair on {host} and {alternate}")


def _udp_free(ip: str, port: int, netns: str | None) -> bool:
    with socket_in_netns(netns, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((ip, port))
        except OSError:
            return False
        return True


def _wait_ready(server: RunningStund) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if server.process.poll() is not None:
            raise StundError(f"stund exited with code {server.process.returncode}:\n{server.log_tail()}")
        if time.monotonic() > deadline:
            raise StundError(f"stund did not answer a Binding on {server.host}:{server.port} within "
                             f"{READY_TIMEOUT_S:.0f} s:\n{server.log_tail()}")
        if _answers(server):
            return


def _answers(server: RunningStund) -> bool:
    request, txid = binding_request()
    with socket_in_netns(server.netns, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(POLL_INTERVAL_S)
        try:
            sock.sendto(request, (server.host, server.port))
            data = sock.recv(2048)
        except OSError:
            time.sleep(POLL_INTERVAL_S / 2)
            return False
    return len(data) >= 20 and data[:2] == b"\x01\x01" and data[8:20] == txid
