"""`rtcdiag lab up` killed with SIGKILL at several points, then `lab down NAME` (or `lab up NAME` again) must
leave nothing behind: no namespace, no state file, no server the lab started. Real namespaces, real nft,
real coturn and stund; every lab made here is removed at teardown even when an assertion fails."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import lab_skip_reason

from rtcdiag.lab.lab import STATE_DIR, _is_server, remove_leftovers
from rtcdiag.lab.shell import list_namespaces

pytestmark = pytest.mark.lab
POLL_S = 0.002
UP_TIMEOUT_S = 60.0
_counter = itertools.count()


def rtcdiag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                          timeout=120)


def namespaces(name: str) -> list[str]:
    return [ns for ns in list_namespaces() if ns.startswith(f"{name}-")]


def state(name: str) -> dict[str, Any]:
    try:
        data = json.loads((STATE_DIR / f"{name}.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def servers_of(name: str) -> set[int]:
    """Every lab server PID known now: from the state file and inside the public namespace."""
    data = state(name)
    pids = {p for p in [data.get("coturn_pid"), *data.get("extra_pids", [])] if isinstance(p, int)}
    if f"{name}-public" in list_namespaces():
        done = subprocess.run(["ip", "netns", "pids", f"{name}-public"], capture_output=True, text=True,
                              check=False)
        pids |= {int(w) for w in done.stdout.split() if w.isdigit()}
    return {pid for pid in pids if _is_server(pid)}


@pytest.fixture
def lab_name() -> Iterator[str]:
    reason = lab_skip_reason() or (None if Path("/usr/sbin/stund").exists() else "needs stund (stun-server)")
    if reason:
        pytest.skip(reason)
    name = f"rtcdk{os.getpid()}n{next(_counter)}"
    yield name
    assert remove_leftovers(name) == []  # teardown, even when the test failed


# When to kill `lab up`: a predicate on what exists of the lab so far.
KILL_POINTS: dict[str, Callable[[str], bool]] = {
    "state file written": lambda name: bool(state(name)),
    "first namespace": lambda name: len(namespaces(name)) >= 1,
    "all namespaces": lambda name: len(namespaces(name)) >= 3,
    "coturn started": lambda name: state(name).get("coturn_pid") is not None,
    "two plain servers started": lambda name: len(state(name).get("extra_pids", [])) >= 2,
}


def kill_lab_up_when(name: str, reached: Callable[[str], bool]) -> bool:
    """Start `lab up symmetric --name NAME` and SIGKILL it once ``reached(name)``; True if it still ran."""
    proc = subprocess.Popen([sys.executable, "-m", "rtcdiag", "lab", "up", "symmetric", "--name", name],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + UP_TIMEOUT_S
        while not reached(name) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(POLL_S)
        running = proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)  # our own child, by PID
    finally:
        proc.wait(timeout=10)
    return running


def assert_nothing_left(name: str, pids: set[int]) -> None:
    assert namespaces(name) == []
    assert not (STATE_DIR / f"{name}.json").exists()
    assert not [pid for pid in pids if _is_server(pid)], "lab servers still running"


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_lab_down_removes_what_a_killed_lab_up_left(lab_name: str, point: str) -> None:
    kill_lab_up_when(lab_name, KILL_POINTS[point])
    left = servers_of(lab_name)
    if point != "state file written":  # from the first namespace on, something is really left behind
        assert namespaces(lab_name)
    down = rtcdiag("lab", "down", lab_name)
    assert down.returncode == 0, down.stderr
    assert_nothing_left(lab_name, left)
    status = rtcdiag("lab", "status", lab_name)
    assert status.returncode == 2 and "no lab named" in status.stderr
    again = rtcdiag("lab", "up", "symmetric", "--name", lab_name)  # and the name can be used again
    assert again.returncode == 0, again.stderr
    assert len(namespaces(lab_name)) == 3 and state(lab_name)["complete"] is True
    up_servers = servers_of(lab_name)
    assert len(up_servers) == 5  # the RFC 5780 coturn, three ordinary coturns, stund
    assert rtcdiag("lab", "down", lab_name).returncode == 0
    assert_nothing_left(lab_name, up_servers)


@pytest.mark.parametrize("point", ["all namespaces", "coturn started"])
def test_lab_up_after_a_kill_cleans_up_first(lab_name: str, point: str) -> None:
    kill_lab_up_when(lab_name, KILL_POINTS[point])
    left = servers_of(lab_name)
    again = rtcdiag("lab", "up", "symmetric", "--name", lab_name)
    assert again.returncode == 0, again.stderr
    assert not [pid for pid in left if _is_server(pid)]  # the old servers were stopped, not doubled
    status = rtcdiag("lab", "status", lab_name)
    assert status.returncode == 0 and ", up," in status.stdout
    twice = rtcdiag("lab", "up", "symmetric", "--name", lab_name)  # a finished lab is not replaced
    assert twice.returncode == 2 and "already exists" in twice.stderr


def test_lab_down_of_an_unknown_name_is_a_usage_error(lab_name: str) -> None:
    down = rtcdiag("lab", "down", lab_name)
    assert down.returncode == 2 and len(down.stderr.strip().splitlines()) == 1
