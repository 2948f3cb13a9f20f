"""Vovida ``stund`` (Debian ``stun-server``), an RFC 3489-era server, as a real peer on loopback.

stund drops every request whose string attribute length is not a multiple of 4 (it logs `Bad length string
7 / problem parsing ServerName` for a 7-byte SOFTWARE). rtcdiag sends no SOFTWARE, so `stun`, `check` and
`nat-type` work against it; a request *with* SOFTWARE (library option) shows the plain retry at work.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from rtcdiag.lab.stund import RunningStund, start_stund, stund_path
from rtcdiag.probes import binding
from rtcdiag.probes.record import Outcome
from rtcdiag.targets import parse_target
from rtcdiag.triage.stun import judge

try:
    stund_path()
except Exception:  # pragma: no cover - the CI image installs stun-server
    pytest.skip("stund (apt-get install stun-server) is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def stund() -> Iterator[RunningStund]:
    with start_stund("127.0.0.1", "127.0.0.2", die_with_parent=True) as server:
        yield server


def rtcdiag_json(*args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run([sys.executable, "-m", "rtcdiag", *args, "--json"], capture_output=True, text=True,
                          timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def ids(report: dict[str, Any]) -> set[str]:
    return {f["id"] for f in report["findings"]}


def test_stun_passes_and_names_the_rfc3489_server(stund: RunningStund) -> None:
    code, report = rtcdiag_json("stun", f"{stund.uri}?transport=udp")
    assert code == 0, report["findings"]
    result = report["results"][0]
    assert result["outcome"] == "success" and result["attempts"] == 1  # answered at once, no retry
    assert result["mapped_address"].endswith(":" + result["local_address"].rsplit(":", 1)[1])
    assert [a["name"] for a in result["exchange"]["request_attributes"]] == ["FINGERPRINT"]  # no SOFTWARE
    assert result["software"] == "Vovida.org 0.97"  # the NUL padding is not part of the name
    assert result["other_address"] == f"127.0.0.2:{stund.alt_port}"  # CHANGED-ADDRESS
    assert "STUN-RFC3489-SERVER" in ids(report)
    assert "SERVER-UNREACHABLE" not in ids(report) and "STUN-DROPS-OPTIONAL-ATTRIBUTES" not in ids(report)


def test_a_request_stund_cannot_parse_is_retried_without_optional_attributes(stund: RunningStund) -> None:
    """A 7-byte SOFTWARE (what rtcdiag used to send) is dropped by stund; the host is alive (its TCP port
    resets), so one plain Binding follows and is answered: a warning, not "server down"."""
    target = parse_target(f"{stund.uri}?transport=udp")
    result = asyncio.run(binding.check(target, binding.BindingOptions(timeout=1.0, software="rtcdiag")))
    assert result.outcome is Outcome.SUCCESS and result.mapped_address is not None
    assert result.first_exchange is not None and result.first_exchange.outcome is Outcome.TIMEOUT
    assert result.host_alive == "tcp-refused" and result.dropped_attributes == ["SOFTWARE", "FINGERPRINT"]
    assert result.exchange is not None and result.exchange.request_attributes == []
    found = {f.id: f for f in judge([result]).findings}
    assert "STUN-DROPS-OPTIONAL-ATTRIBUTES" in found and "SERVER-UNREACHABLE" not in found
    assert "STUN-PACKET-LOSS" not in found  # the silence was the parser, not the network
    padded = asyncio.run(binding.check(target, binding.BindingOptions(timeout=1.0, software="rtcdiag!")))
    assert padded.outcome is Outcome.SUCCESS and not padded.plain_retry_sent  # 8 bytes parse fine


def test_check_passes_against_stund(stund: RunningStund) -> None:
    code, report = rtcdiag_json("check", f"{stund.uri}?transport=udp", "--checks", "stun,ports")
    assert code == 0, report["findings"]
    assert "STUN-RFC3489-SERVER" in ids(report)
    assert not {"SERVER-UNREACHABLE", "PORT-NOT-STUN"} & ids(report)


def test_nat_type_uses_stunds_changed_address(stund: RunningStund) -> None:
    """RFC 5780 discovery through stund's CHANGED-ADDRESS and CHANGE-REQUEST: on loopback there is no NAT."""
    code, report = rtcdiag_json("nat-type", "--server", stund.uri)
    assert code == 0, report["findings"]
    consensus = report["results"]["consensus"]
    assert consensus["nat_present"] is False and consensus["legacy"] == "open internet"
    run = report["results"]["runs"][0]
    assert run["server_check"]["other_attribute"] == "CHANGED-ADDRESS"
    assert run["server_check"]["software"] == "Vovida.org 0.97"
