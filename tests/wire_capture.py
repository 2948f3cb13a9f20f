"""Real packet captures for the tests: tcpdump on loopback (started and stopped by PID) while real clients
run sessions through a real coturn. The filter keeps the capture to this coturn's ports and relay range, so
the other tests running on the machine do not end up in it."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HAVE_TCPDUMP = shutil.which("tcpdump") is not None
HAVE_TSHARK = shutil.which("tshark") is not None
CAPTURE_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "capture"  # committed real captures
READY_TIMEOUT_S = 10.0


def browser_call_unavailable() -> str | None:
    """Why a captured real-Chromium call cannot run on this machine (None: it can)."""
    from rtcdiag.probes.browser import unavailable_reason

    return unavailable_reason() or (None if HAVE_TCPDUMP else "tcpdump is not installed (apt-get install "
                                                              "tcpdump)")


def relay_range() -> tuple[int, int]:
    """A relay port range of 40 ports unlikely to be shared with another coturn of the test session."""
    base = random.randrange(20000, 40000, 40)
    return base, base + 39


@contextlib.contextmanager
def tcpdump(out: Path, ports: list[int], port_ranges: list[tuple[int, int]] = (),  # type: ignore[assignment]
            extra: str = "", host: str | None = None, netns: str | None = None,
            max_packets: int | None = None) -> Iterator[Path]:
    """tcpdump -i lo writing ``out``, listening when the block starts, stopped (SIGINT, by PID) after it.
    ``host``: only packets to or from it (other tests' traffic on the same ports stays out). ``netns``: run
    inside that network namespace; with no ports, ranges or extra, every packet of it is kept (a namespace
    the caller made holds nothing but its own traffic). ``max_packets``: tcpdump stops after that many."""
    parts = [f"port {p}" for p in ports] + [f"portrange {lo}-{hi}" for lo, hi in port_ranges]
    if extra:
        parts.append(extra)
    expr = "(udp or tcp) and (" + " or ".join(parts) + ")" if parts else ""
    if host is not None:
        expr = f"host {host} and {expr}" if expr else f"host {host}"
    # --immediate-mode: packets are written at once (no 1 s block timeout to wait for before stopping);
    # -B 16 MiB: with the default 2 MiB buffer a burst on loopback gets "dropped by kernel".
    argv = ["tcpdump", "-i", "lo", "--immediate-mode", "-B", "16384", "-U", "-s", "0", "-w", str(out)]
    if max_packets is not None:
        argv += ["-c", str(max_packets)]
    if expr:
        argv.append(expr)
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]  # ip execs tcpdump: the PID stays tcpdump's
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        os.set_blocking(proc.stderr.fileno(), False)
        deadline = time.monotonic() + READY_TIMEOUT_S
        seen = b""
        while b"listening on" not in seen:  # tcpdump says so once the capture is open
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tcpdump did not start: {seen.decode(errors='replace')}")
            chunk = proc.stderr.read() or b""
            seen += chunk
            if not chunk:
                time.sleep(0.02)
        yield out
        time.sleep(0.2)  # packets in flight reach the capture (--immediate-mode: no buffering delay)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def turn_check(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    return subprocess.run([sys.executable, "-m", "rtcdiag", "turn-check", *args, "--json"],
                          env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60)


def analyze(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", "analyze", *args], capture_output=True, text=True,
                          timeout=120)
