"""`rtcdiag stun` end to end: a real coturn on loopback over UDP, TCP, TLS and IPv6, plus hostile servers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from servers import (
    BAD_FINGERPRINT,
    BAD_MAPPED,
    DROP_FIRST_TWO,
    FLOOD_THEN_GOOD,
    GARBAGE_MODE,
    HAVE_IPV6,
    SILENT,
    WRONG_TXID_THEN_GOOD,
)

from rtcdiag.coturn import CoturnOptions, RunningCoturn


def rtcdiag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                          timeout=60)


def stun_json(*args: str) -> tuple[int, dict[str, Any]]:
    done = rtcdiag("stun", "--json", *args)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def finding_ids(report: dict[str, Any]) -> set[str]:
    return {f["id"] for f in report["findings"]}


def local_port(result: dict[str, Any]) -> int:
    return int(result["local_address"].rsplit(":", 1)[1])


def test_udp_tcp_tls_give_the_real_mapped_address(coturn: RunningCoturn) -> None:
    code, report = stun_json(f"stun:127.0.0.1:{coturn.port}?transport=udp",
                             f"stun:127.0.0.1:{coturn.port}?transport=tcp",
                             f"stuns:localhost:{coturn.tls_port}", "--ca", str(coturn.ca_cert))
    assert code == 0, report["findings"]
    assert report["schema"] == "rtcdiag/1"
    by_transport = {r["transport"]: r for r in report["results"]}
    assert set(by_transport) == {"udp", "tcp", "tls"}
    for transport, result in by_transport.items():
        assert result["outcome"] == "success", transport
        # On loopback the server sees our own socket: mapped address == local address.
        assert result["mapped_address"] == f"127.0.0.1:{local_port(result)}", transport
        assert result["mapped_from"] == "XOR-MAPPED-ADDRESS"
        assert result["software"].startswith("Coturn")
        assert result["fingerprint"] is True
        server_port = coturn.tls_port if transport == "tls" else coturn.port
        assert result["response_origin"] == f"127.0.0.1:{server_port}"
        assert result["rtt_ms"] is not None and result["rtt_ms"] > 0
        assert result["attempts"] == 1
    assert by_transport["tls"]["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert "ERROR" not in {f["severity"].upper() for f in report["findings"]}


@pytest.mark.skipif(not HAVE_IPV6, reason="no IPv6 loopback on this machine")
def test_ipv6_loopback(coturn: RunningCoturn) -> None:
    code, report = stun_json(f"[::1]:{coturn.port}")
    assert code == 0
    (result,) = report["results"]
    assert result["server_address"] == f"[::1]:{coturn.port}"
    assert result["mapped_address"] == f"[::1]:{local_port(result)}"


def test_console_report_shows_mapped_address_and_exit_0(coturn: RunningCoturn) -> None:
    done = rtcdiag("stun", f"127.0.0.1:{coturn.port}", "-t", "udp", "-t", "tcp")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()  # the verdict, one line per transport, the footer (issue 22)
    assert lines[0] == "rtcdiag stun: PASS: 2/2 checks passed" and len(lines) == 4, done.stdout
    assert [line.split()[1] for line in lines[1:3]] == ["udp", "tcp"]
    assert all("mapped 127.0.0.1:" in line and "rtt" in line for line in lines[1:3])
    verbose = rtcdiag("stun", f"127.0.0.1:{coturn.port}", "-t", "udp", "-t", "tcp", "-v")
    assert "Coturn" in verbose.stdout  # SOFTWARE, in the table -v shows


def test_junit_and_markdown(coturn: RunningCoturn, tmp_path: Path) -> None:
    junit = tmp_path / "stun.xml"
    done = rtcdiag("stun", "--markdown", "--junit", str(junit), f"127.0.0.1:{coturn.port}", "-t", "udp",
                   "-t", "tcp")
    assert done.returncode == 0
    assert "udp/binding" in done.stdout or "| udp |" in done.stdout
    assert "Mapped address" in done.stdout
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert sorted(c.get("name") or "" for c in cases) == ["tcp/binding", "udp/binding"]
    assert not ET.parse(junit).getroot().findall(".//failure")


def test_tls_untrusted_without_ca_then_insecure(coturn: RunningCoturn) -> None:
    code, report = stun_json(f"stuns:localhost:{coturn.tls_port}")
    assert code == 1
    assert finding_ids(report) == {"TLS-UNTRUSTED"}
    code, report = stun_json(f"stuns:localhost:{coturn.tls_port}", "--insecure")
    assert code == 0
    assert report["results"][0]["outcome"] == "success"


def test_dead_port_is_refused_over_udp_and_tcp(dead_port: int) -> None:
    code, report = stun_json(f"127.0.0.1:{dead_port}", "-t", "udp", "-t", "tcp", "--timeout", "2")
    assert code == 1
    assert {f["id"] for f in report["findings"]} == {"SERVER-REFUSED"}
    assert {r["error_kind"] for r in report["results"]} == {"refused"}


def test_silent_server_times_out_after_retransmissions(hostile: Any) -> None:
    server = hostile(SILENT)
    code, report = stun_json(f"127.0.0.1:{server.port}", "--timeout", "0.3")
    assert code == 1
    assert finding_ids(report) == {"SERVER-UNREACHABLE"}
    result = report["results"][0]
    assert result["attempts"] == 7  # RFC 8489 §6.2.1: Rc = 7
    # the host is alive (its TCP port accepts), so one more transaction without optional attributes
    # followed, also unanswered: 7 + 7 requests, two transaction ids
    assert result["plain_retry_sent"] is True and result["host_alive"] == "tcp-accepted"
    assert server.requests == 14 and sorted(server.copies.values()) == [7, 7]
    assert "nor to one without optional attributes" in report["findings"][0]["symptom"]


def test_udp_silent_but_tcp_answers_is_udp_blocked(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    # A coturn without UDP listeners answers STUN over TCP; its port is bound over UDP and never answers
    # (real silence: an unbound port answers ICMP port unreachable). Same host, same port: UDP-BLOCKED.
    server = coturn_factory(CoturnOptions(no_udp=True, users={"bob": "x" * 12}))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", server.port))
        code, report = stun_json(f"stun:127.0.0.1:{server.port}?transport=udp",
                                 f"stun:127.0.0.1:{server.port}?transport=tcp", "--timeout", "0.3")
    assert code == 1
    assert "UDP-BLOCKED" in finding_ids(report)
    assert "SERVER-UNREACHABLE" not in finding_ids(report)


def test_tcp_answering_on_another_port_does_not_make_udp_silence_blocked(coturn: RunningCoturn,
                                                                         hostile: Any) -> None:
    """A silent UDP port next to coturn's TCP on another port of the same host: another service (or
    nothing) may be behind the silent port, so it is SERVER-UNREACHABLE, not UDP-BLOCKED."""
    server = hostile(SILENT)
    code, report = stun_json(f"stun:127.0.0.1:{server.port}?transport=udp",
                             f"stun:127.0.0.1:{coturn.port}?transport=tcp", "--timeout", "0.3")
    assert code == 1
    assert finding_ids(report) == {"SERVER-UNREACHABLE"}


@pytest.mark.parametrize("mode", [GARBAGE_MODE, BAD_FINGERPRINT])
def test_garbage_or_bad_fingerprint_is_malformed_reply(hostile: Any, mode: str) -> None:
    server = hostile(mode)
    code, report = stun_json(f"127.0.0.1:{server.port}", "--timeout", "0.3")
    assert code == 1
    assert finding_ids(report) == {"MALFORMED-REPLY"}
    result = report["results"][0]
    assert result["outcome"] == "rejected"
    assert result["rejected_count"] == 7  # each retransmission drew one bad reply, none trusted
    assert len(result["rejected"]) == 5  # the first few are kept as evidence


def test_stray_reply_is_rejected_and_real_one_used(hostile: Any) -> None:
    server = hostile(WRONG_TXID_THEN_GOOD)
    code, report = stun_json(f"127.0.0.1:{server.port}")
    assert code == 0
    result = report["results"][0]
    assert result["outcome"] == "success"
    assert result["mapped_address"] == f"127.0.0.1:{local_port(result)}"


def test_lost_requests_are_retransmitted_and_reported(hostile: Any) -> None:
    server = hostile(DROP_FIRST_TWO)
    code, report = stun_json(f"127.0.0.1:{server.port}", "--timeout", "2")
    assert code == 0  # loss is a warning
    result = report["results"][0]
    assert result["attempts"] == 3 and result["retransmissions"] == 2
    assert "STUN-PACKET-LOSS" in finding_ids(report)


@pytest.mark.parametrize("bad", ["stun://127.0.0.1", "stun:127.0.0.1:99999", "ftp:example.org",
                                 "stun:127.0.0.1?transport=sctp"])
def test_malformed_uri_is_one_line_and_exit_2(bad: str) -> None:
    done = rtcdiag("stun", bad)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rtcdiag: error:"), done.stderr


def test_a_malformed_xor_mapped_address_is_called_malformed_not_absent(hostile: Any) -> None:
    """A hand-written server (no real one sends this): XOR-MAPPED-ADDRESS with family 0x07."""
    server = hostile(BAD_MAPPED)
    code, report = stun_json(f"127.0.0.1:{server.port}", "-t", "udp", "-t", "tcp")
    assert code == 1
    assert finding_ids(report) == {"STUN-MALFORMED-MAPPED-ADDRESS"}
    assert {f["transport"] for f in report["findings"]} == {"udp", "tcp"}
    symptom = report["findings"][0]["symptom"]
    assert "XOR-MAPPED-ADDRESS" in symptom and "family" in symptom
    assert all(r["malformed_mapped"] and r["mapped_address"] is None for r in report["results"])


def test_a_reply_flood_is_its_own_warning_not_packet_loss(hostile: Any) -> None:
    """A hand-written server answers each request with 200 replies for other transactions, then the answer."""
    server = hostile(FLOOD_THEN_GOOD)
    code, report = stun_json(f"127.0.0.1:{server.port}", "-t", "udp", "-t", "tcp")
    assert code == 0  # a warning: the answer itself was good
    assert finding_ids(report) == {"REPLY-FLOOD"}
    assert {f["transport"] for f in report["findings"]} == {"udp", "tcp"}
    assert all(r["rejected_count"] >= 200 and r["outcome"] == "success" for r in report["results"])
