"""Retransmission is not loss (issue 20 item 8): real coturn behind a UDP delay proxy (tests/udp_proxies.py)
whose own counter is the ground truth of what was dropped.

Before: on a lossless 200 ms path with ``--timeout 2`` the scaled RTO fired before the answer and
``STUN-PACKET-LOSS`` "requests needed retransmission" was reported although the proxy dropped nothing. A STUN
server answers every copy of a request it receives, so after retransmissions rtcdiag counts the answers: all
of them came back = no loss; fewer = loss, which is what the proxy really did.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from udp_proxies import DelayOf, DelayProxy

ONE_WAY_S = 0.1  # a 200 ms round trip: longer than the RTO that --timeout 2 scales to (~25 ms)


def _run(*args: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", *args, "--timeout", "2", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _ids(report: dict[str, Any]) -> set[str]:
    return {f["id"] for f in report["findings"]}


@pytest.fixture
def proxy(coturn: RunningCoturn) -> Iterator[Callable[[DelayOf], DelayProxy]]:
    started: list[DelayProxy] = []

    def start(delay_of: DelayOf) -> DelayProxy:
        started.append(DelayProxy(("127.0.0.1", coturn.port), delay_of=delay_of))
        return started[-1]

    try:
        yield start
    finally:
        for each in started:
            each.close()


def test_a_long_round_trip_without_loss_is_not_called_loss(proxy: Callable[[DelayOf], DelayProxy]) -> None:
    path = proxy(lambda _data, _upward: ONE_WAY_S)
    code, report = _run("stun", f"127.0.0.1:{path.port}")
    assert code == 0, report["findings"]
    (result,) = report["results"]
    exchange = result["exchange"]
    assert result["attempts"] >= 2  # the RTO did fire before the answer ...
    assert exchange["answers"] == result["attempts"]  # ... and every one of those sends was answered
    assert result["rtt_ms"] >= 2 * ONE_WAY_S * 1000 * 0.9  # the RTT is the path's, from the first send
    assert "STUN-PACKET-LOSS" not in _ids(report)
    assert path.dropped == 0  # ground truth: the proxy lost nothing
    step = next(c for c in report["checks"] if c["name"] == "udp/binding")
    assert "every one answered (the RTO was shorter than the round trip)" in step["message"]


def test_a_lost_request_on_the_same_path_is_loss(proxy: Callable[[DelayOf], DelayProxy]) -> None:
    sent: list[bool] = []

    def drop_first_request(_data: bytes, upward: bool) -> float | None:
        if upward and not sent:
            sent.append(True)
            return None  # the first Binding request never reaches coturn
        return ONE_WAY_S

    path = proxy(drop_first_request)
    code, report = _run("stun", f"127.0.0.1:{path.port}")
    assert path.dropped == 1  # ground truth
    assert code == 0  # a warning
    (result,) = report["results"]
    assert result["exchange"]["answers"] == result["attempts"] - 1
    [loss] = [f for f in report["findings"] if f["id"] == "STUN-PACKET-LOSS"]
    assert f"only {result['attempts'] - 1} of them answered: 1 lost" in loss["symptom"]


def test_nat_discovery_counts_answered_retransmissions_as_answered(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    server = coturn_factory(CoturnOptions(no_auth=True))
    path = DelayProxy(("127.0.0.1", server.port), delay=ONE_WAY_S)
    try:
        code, report = _run("nat-type", "--server", f"stun:127.0.0.1:{path.port}")
    finally:
        path.close()
    assert code == 3  # one address: no RFC 5780 verdict, as without the proxy
    (run,) = report["results"]["runs"]
    assert run["requests_sent"] > 2  # retransmitted on the long round trip ...
    assert run["requests_answered"] == run["requests_sent"]  # ... and no send counted as lost
    assert path.dropped == 0
