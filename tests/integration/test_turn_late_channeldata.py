"""Relayed echoes that come back late are late, not "not relayed".

A real coturn behind a delay proxy written in this test that holds only ChannelData coming back from the
server (first byte 0x40-0x7F, RFC 7983 / RFC 8656 §12.4) for LATE_S, far beyond the receive window the data
path derives from the control round trip. Send/Data echoes pass at once. Before a server is said not to relay
ChannelData (a claim about the server), the echoes get the whole transaction time: the run must not report
TURN-CHANNELDATA-NOT-RELAYED, and the late echoes are counted. The same for Data indications (the proxy holds
those instead): before "no data flows through the relay" (TURN-NO-DATA), the echoes get the transaction time
(a coturn starved of CPU relayed echoes after 500 ms while answering its control requests in 0.3 ms).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from udp_proxies import DelayProxy

from rtcdiag.coturn import CoturnOptions, RunningCoturn

PASSWORD = "late-cd-" + secrets.token_hex(6)
LATE_S = 0.4  # the window is 4 x the control RTT (~0.1 ms here) + 20 ms, at least 50 ms


def _late_channeldata(data: bytes, upward: bool) -> float:
    return LATE_S if not upward and data and 0x40 <= data[0] <= 0x7F else 0.0


def _late_data_indications(data: bytes, upward: bool) -> float:
    return LATE_S if not upward and data[:2] == b"\x00\x17" else 0.0  # Data indication (RFC 8656 §11.4)


def _turn_check_through(coturn_factory: Callable[[CoturnOptions], RunningCoturn],
                        delay_of: Callable[[bytes, bool], float]) -> dict[str, Any]:
    """turn-check --json (UDP, 3 packets) of a real coturn behind a proxy delaying what ``delay_of`` says."""
    server = coturn_factory(CoturnOptions(users={"alice": PASSWORD}, allow_loopback_peers=True))
    proxy = DelayProxy((server.host, server.port), delay_of=delay_of)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    try:
        proc = subprocess.run([sys.executable, "-m", "rtcdiag", "turn-check", f"127.0.0.1:{proxy.port}", "-u",
                               "alice", "--transport", "udp", "--packets", "3", "--timeout", "3", "--json"],
                              env={**clean, "RTCDIAG_TURN_PASSWORD": PASSWORD}, capture_output=True,
                              text=True, timeout=60)
    finally:
        proxy.close()
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def test_late_channeldata_echoes_are_not_called_unrelayed(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    report = _turn_check_through(coturn_factory, _late_channeldata)
    ids = {f["id"] for f in report["findings"]}
    assert "TURN-CHANNELDATA-NOT-RELAYED" not in ids, report["findings"]
    (leg,) = report["results"]["turn"][0]["transports"]
    paths = {p["method"]: p for p in leg["data_paths"]}
    assert paths["send-indication"]["packets_received"] == 3
    channel = paths["channel-data"]
    assert channel["packets_received"] >= 1 and channel["late_wait_s"] > 0  # the late echoes were awaited
    assert max(channel["rtts_ms"]) >= LATE_S * 1000 * 0.9  # and their RTT says how late they were


def test_late_data_indication_echoes_are_not_called_no_data(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    report = _turn_check_through(coturn_factory, _late_data_indications)
    assert not {f["id"] for f in report["findings"]} & {"TURN-NO-DATA", "TURN-CHANNELDATA-NOT-RELAYED"}, \
        report["findings"]
    (leg,) = report["results"]["turn"][0]["transports"]
    paths = {p["method"]: p for p in leg["data_paths"]}
    indication = paths["send-indication"]
    assert indication["packets_received"] >= 1 and indication["late_wait_s"] > 0  # awaited, and they came
    assert max(indication["rtts_ms"]) >= LATE_S * 1000 * 0.9
    assert paths["channel-data"]["packets_received"] == 3
