"""Ctrl-C, SIGTERM or SIGHUP during ``rtcdiag analyze`` (README exit codes: 130, 143, 129): the report is kept
and the exit code is 128 + the signal, with one line on stderr and no traceback.

analyze runs without an event loop (``commands.shared.running.run_local``, issue 19): its handlers record the
signal, the files (bounded reads) are read and judged to the end, the report is printed, then the command
ends with 128 + the signal. (Under the event loop, before, a signal during the reading was lost: exit 0.)

A second Ctrl-C (the handlers are removed on the first) ends the command at once: exit 130, one line.

The dump is the real healthy-relay one with its two peer connections repeated (600 connections, ~30 MB) so
that the analysis lasts long enough for the signal to land in it: the test sends it once the process has
installed its SIGTERM handler (``SigCgt`` in /proc, which only ``run_local`` sets), i.e. during the analysis.
"""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "analyze" / \
    "healthy-relay.webrtc-internals.json.gz"
WAIT_S = 60.0  # bound on every wait (a hang fails the test, never blocks CI)


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    document = json.loads(gzip.decompress(FIXTURE.read_bytes()))
    connections = list(document["PeerConnections"].values())
    document["PeerConnections"] = {f"{i}-1": connections[i % len(connections)] for i in range(600)}
    path = tmp_path_factory.mktemp("interrupt") / "dump.json"
    path.write_text(json.dumps(document))
    return path


def _analyze(path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "rtcdiag", "analyze", "--json", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _catches_sigterm(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
    return bool(caught >> (signal.SIGTERM - 1) & 1)


def _checks(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(c["suite"], c["name"], c["status"], c["message"]) for c in report["checks"]]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_analyze_keeps_the_report_and_exits_128_plus_it(dump: Path,
                                                                       signum: signal.Signals) -> None:
    control = subprocess.run([sys.executable, "-m", "rtcdiag", "analyze", "--json", str(dump)],
                             capture_output=True, text=True, timeout=WAIT_S, check=False)
    assert control.returncode == 0, control.stderr
    whole = json.loads(control.stdout)
    assert whole["status"] == "pass" and len(whole["checks"]) > 1000

    proc = _analyze(dump)
    try:
        deadline = time.monotonic() + WAIT_S
        while not _catches_sigterm(proc.pid):  # analyze's handlers are installed: it is reading the dump
            assert proc.poll() is None, "analyze ended before its handlers were seen"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 128 + signum, err
    verb = "interrupted" if signum == signal.SIGINT else "terminated"
    # analyze holds no allocation and reads its files to the end: no word about allocations or a part.
    assert err == f"rtcdiag: error: {verb} by {signum.name} (the files were read to the end); the report " \
                  "above is complete\n"
    report = json.loads(out)  # the whole report, then the exit code of the signal
    assert report["status"] == "interrupted"
    assert report["verdict"] == f"INTERRUPTED by {signum.name} after the files were read: {whole['verdict']}"
    assert report["interrupted"]["signal"] == signum.name
    assert report["interrupted"]["exit_code"] == 128 + signum
    assert report["interrupted"]["unfinished"] == []
    assert _checks(report) == _checks(whole)  # every connection was read and judged


def test_a_second_ctrl_c_ends_analyze_at_once(dump: Path) -> None:
    proc = _analyze(dump)
    try:
        deadline = time.monotonic() + WAIT_S
        while not _catches_sigterm(proc.pid):
            assert proc.poll() is None, "analyze ended before its handlers were seen"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        proc.send_signal(signal.SIGINT)
        while _catches_sigterm(proc.pid):  # the first signal took the handlers off
            assert time.monotonic() < deadline
            time.sleep(0.001)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    lines = err.split("\n")  # (a line break first: the terminal's "^C" is left where the cursor was)
    assert [line for line in lines if line] == [
        "rtcdiag: error: interrupted"], err
    assert "Traceback" not in err
