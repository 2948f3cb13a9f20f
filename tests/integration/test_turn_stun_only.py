"""A STUN-only server named as ``turn:`` (issue 20 item 9), against real servers: coturn ``stun-only`` (UDP
and TCP) and Vovida stund (UDP, a plain RFC 3489 STUN server).

Before: ``SERVER-UNREACHABLE`` "nothing came back, not even an error" over UDP and ``PORT-NOT-STUN`` "not a
STUN/TURN server" over TCP, while the same report (``check``) showed its Binding answered. Now the first
Allocate that goes one RTO unanswered gets a Binding request alongside it: answered, it is
``TURN-STUN-ONLY`` "STUN only: TURN is not enabled on this server".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn

PASSWORD = "stun-only-pw"


def _rtcdiag(*args: str) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "RTCDIAG_TURN_PASSWORD": PASSWORD}
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", *args, "-u", "alice", "--timeout", "2", "--json"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _roots(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(id, transport) of every root cause (its ``ref`` is ``ID@subject|transport|check/step``)."""
    return [(r["id"], r["ref"].split("|")[1]) for r in report["root_causes"]]


@pytest.fixture(scope="module")
def stun_only(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> RunningCoturn:
    return coturn_factory(CoturnOptions(users={"alice": PASSWORD}, extra_lines=("stun-only",)))


def test_coturn_stun_only_is_named_over_udp_and_tcp(stun_only: RunningCoturn) -> None:
    assert "stun-only" in stun_only.config_path.read_text()  # ground truth: TURN is off in its config
    code, report = _rtcdiag("turn-check", f"127.0.0.1:{stun_only.port}", "--transport", "udp,tcp")
    assert code == 1
    found = [f for f in report["findings"] if f["severity"] == "error"]
    assert sorted((f["id"], f["transport"], f["step"]) for f in found) == [
        ("TURN-STUN-ONLY", "tcp", "challenge"), ("TURN-STUN-ONLY", "udp", "challenge")]
    for finding in found:
        assert finding["title"] == "STUN only: TURN is not enabled on this server"
        assert "answered a Binding request (Binding success response" in finding["symptom"]
        assert "remove `stun-only`" in finding["fix"] and "`stun:`" in finding["fix"]
    for leg in report["results"]["turn"][0]["transports"]:
        assert leg["binding_probe"]["outcome"] == "success"
        assert not leg["challenge_answered"] and not leg["allocated"]
    text = json.dumps(report)
    assert "SERVER-UNREACHABLE" not in text and "PORT-NOT-STUN" not in text


def test_check_of_a_stun_only_server_agrees_with_its_own_stun_step(stun_only: RunningCoturn) -> None:
    code, report = _rtcdiag("check", f"turn:127.0.0.1:{stun_only.port}")
    assert code == 1
    assert ("TURN-STUN-ONLY", "udp") in _roots(report)
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["stun/udp/binding"] == "pass"  # the same report: its Binding was answered
    assert "SERVER-UNREACHABLE" not in json.dumps(report["root_causes"])


def test_healthy_coturn_sends_no_binding_alongside(coturn: RunningCoturn) -> None:
    env = {**os.environ, "RTCDIAG_TURN_PASSWORD": coturn.users["alice"]}
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "turn-check", f"turn:127.0.0.1:{coturn.port}",
                           "-u", "alice", "--json"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:]
    (leg,) = json.loads(proc.stdout)["results"]["turn"][0]["transports"]
    assert leg["binding_probe"] is None and leg["allocated"]


@pytest.fixture(scope="module")
def stund() -> Iterator[Any]:
    from rtcdiag.lab.stund import start_stund, stund_path

    try:
        stund_path()
    except Exception:  # pragma: no cover - the CI image installs stun-server
        pytest.skip("stund (apt-get install stun-server) is not installed")
    with start_stund("127.0.0.1", "127.0.0.2", die_with_parent=True) as server:
        yield server


def test_vovida_stund_as_turn_is_stun_only(stund: Any) -> None:
    code, report = _rtcdiag("turn-check", f"turn:127.0.0.1:{stund.port}")
    assert code == 1
    assert _roots(report)[0] == ("TURN-STUN-ONLY", "udp")
    (leg,) = report["results"]["turn"][0]["transports"]
    assert leg["binding_probe"]["outcome"] == "success"
    assert "Vovida" in json.dumps(leg["binding_probe"])  # stund's own SOFTWARE in its Binding answer
