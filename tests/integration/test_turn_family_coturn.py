"""turn-check relay families (RFC 8656 §7) and RFC 6062 TCP relays against real coturn on loopback.

Servers (started here with the factory): a dual-stack coturn (listening and relaying on 127.0.0.1 and ::1),
one that relays only on ::1, and one with `no-tcp-relay`. Every run goes through the CLI in a subprocess.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from servers import HAVE_IPV6

from rtcdiag.coturn import CoturnOptions, RunningCoturn

pytestmark = pytest.mark.skipif(not HAVE_IPV6, reason="no IPv6 loopback (::1) on this machine")

Factory = Callable[[CoturnOptions], RunningCoturn]
BOTH = ("127.0.0.1", "::1")


def _start(factory: Factory, **kw: Any) -> RunningCoturn:
    return factory(CoturnOptions(listening_ips=BOTH, users={"alice": "alice-" + secrets.token_hex(8)},
                                 allow_loopback_peers=True, **kw))


@pytest.fixture(scope="module")
def dual(coturn_factory: Factory) -> RunningCoturn:
    """Dual stack: listens and relays on 127.0.0.1 and ::1, TLS with a certificate for both."""
    return _start(coturn_factory, relay_ips=BOTH, self_signed=True)


@pytest.fixture(scope="module")
def v6_relay(coturn_factory: Factory) -> RunningCoturn:
    """Listens on both families but relays only on ::1 (relay-ip=::1)."""
    return _start(coturn_factory, relay_ips=("::1",))


@pytest.fixture(scope="module")
def no_tcp_relay(coturn_factory: Factory) -> RunningCoturn:
    return _start(coturn_factory, relay_ips=BOTH, no_tcp_relay=True)


def run(server: RunningCoturn, *args: str) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    env |= {"RTCDIAG_TURN_USERNAME": "alice", "RTCDIAG_TURN_PASSWORD": server.users["alice"]}
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "turn-check", *args, "--json"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def legs(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for server in report["results"]["turn"] for t in server["transports"]]


def where(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(id, transport, step) of every finding that is not the loopback relay note."""
    return {(f["id"], f["transport"], f["step"]) for f in report["findings"]
            if f["id"] != "TURN-RELAY-LOCAL"}


def echoed(leg: dict[str, Any], family: str) -> list[tuple[str, int, int]]:
    return [(d["method"], d["packets_sent"], d["packets_received"]) for d in leg["data_paths"]
            if d["family"] == family]


FULL = [("send-indication", 5, 5), ("channel-data", 5, 5)]


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]"])
def test_dual_stack_passes_over_both_server_addresses_with_an_ipv4_relay(dual: RunningCoturn,
                                                                          host: str) -> None:
    assert dual.tls_port is not None and dual.ca_cert is not None
    code, report = run(dual, f"{host}:{dual.port}", "--tls-port", str(dual.tls_port), "--ca",
                       str(dual.ca_cert))
    assert code == 0, report["findings"]
    assert where(report) == set()
    for leg in legs(report):
        assert leg["allocated"] and leg["relayed_address"].startswith("127.0.0.1:"), leg["transport"]
        assert [r["family"] for r in leg["relays"]] == ["ipv4"]
        assert echoed(leg, "ipv4") == FULL
        # What a browser sends: no family attribute, whatever the server address family.
        sent = {a["name"] for ex in leg["steps"] for a in ex["request_attributes"]}
        assert "REQUESTED-ADDRESS-FAMILY" not in sent and "ADDITIONAL-ADDRESS-FAMILY" not in sent


def test_family_both_gives_one_row_and_one_set_of_steps_per_family(dual: RunningCoturn,
                                                                    tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    code, report = run(dual, f"[::1]:{dual.port}", "--transport", "udp,tcp", "--family", "both",
                       "--junit", str(junit))
    assert code == 0, report["findings"]
    for leg in legs(report):
        assert [(r["family"], r["relayed_address"] is not None) for r in leg["relays"]] == [
            ("ipv4", True), ("ipv6", True)]
        assert leg["relays"][1]["relayed_address"].startswith("[::1]:")
        assert echoed(leg, "ipv4") == FULL and echoed(leg, "ipv6") == FULL
    # coturn ignores the RFC 8656 code point of ADDITIONAL-ADDRESS-FAMILY: said once per transport (info).
    assert where(report) <= {("TURN-DUAL-ALLOCATION-IGNORED", t, "allocate-ipv6") for t in ("udp", "tcp")}
    [table] = [t for t in report["tables"] if t["title"].startswith("TURN ")]
    assert [row[0] for row in table["rows"]] == ["udp", "udp ipv6", "tcp", "tcp ipv6"]
    names = [case.get("name") for case in ET.parse(junit).getroot().iter("testcase")]
    assert len(names) == len(set(names))
    assert {"udp/allocate", "udp/allocate-ipv6", "tcp/data-channel-data-ipv6"} <= set(names)


def test_ipv6_only_relay_refuses_the_default_ipv4_request(v6_relay: RunningCoturn) -> None:
    code, report = run(v6_relay, f"[::1]:{v6_relay.port}", "--transport", "udp,tcp")
    assert code == 1
    assert where(report) == {("TURN-NO-IPV4-RELAY", t, "allocate") for t in ("udp", "tcp")}
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["udp/allocate"] == "fail" and statuses["udp/data-channel-data"] == "skip"


def test_ipv6_only_relay_passes_with_family_6(v6_relay: RunningCoturn) -> None:
    code, report = run(v6_relay, f"127.0.0.1:{v6_relay.port}", "--transport", "udp,tcp", "--family", "6")
    assert code == 0, report["findings"]
    assert where(report) == set()
    for leg in legs(report):
        assert leg["relayed_address"].startswith("[::1]:")
        assert echoed(leg, "ipv6") == FULL
        auth = [ex for ex in leg["steps"] if ex["step"] == "allocate (authenticated)"][-1]
        assert {"name": "REQUESTED-ADDRESS-FAMILY", "value": "IPv6"}.items() <= next(
            a for a in auth["request_attributes"] if a["name"] == "REQUESTED-ADDRESS-FAMILY").items()
    assert "udp/allocate-ipv6" in {c["name"] for c in report["checks"]}


def test_tcp_relay_passes_against_coturn_and_is_skipped_over_udp(dual: RunningCoturn) -> None:
    assert dual.tls_port is not None and dual.ca_cert is not None
    code, report = run(dual, f"127.0.0.1:{dual.port}", "--tls-port", str(dual.tls_port), "--ca",
                       str(dual.ca_cert), "--tcp-relay")
    assert code == 0, report["findings"]
    by_leg = {leg["transport"]: leg["tcp_relay"] for leg in legs(report)}
    assert by_leg["udp"] is None
    for transport in ("tcp", "tls"):
        tcp = by_leg[transport]
        assert tcp["bound"] and tcp["connection_id"] is not None and tcp["peer_accepted"]
        assert (tcp["chunks_sent"], tcp["chunks_echoed"], tcp["corrupted"]) == (5, 5, 0)
        assert tcp["bytes_received"] == tcp["bytes_sent"] > 0 and tcp["released"] is True
        incoming = tcp["incoming"]  # the peer-initiated direction: ConnectionAttempt, then ConnectionBind
        assert incoming["bound"] and incoming["connection_id"] not in (None, tcp["connection_id"])
        assert (incoming["chunks_sent"], incoming["chunks_echoed"]) == (5, 5)
        assert [ex["step"] for ex in incoming["steps"]] == [
            "connection-attempt (indication from the server)", "connection-bind (data connection)"]
        steps = [ex["step"] for ex in tcp["steps"]]
        assert {"connect", "connection-bind (data connection)",
                "tcp refresh (release, LIFETIME=0)"} <= set(steps)
    cases = {c["name"]: c for c in report["checks"]}
    assert cases["tcp/tcp-relay"]["status"] == "pass" and cases["tls/tcp-relay"]["status"] == "pass"
    assert cases["udp/tcp-relay"]["status"] == "skip"


def test_no_tcp_relay_server_is_the_no_rfc_6062_finding(no_tcp_relay: RunningCoturn) -> None:
    code, report = run(no_tcp_relay, f"127.0.0.1:{no_tcp_relay.port}", "--transport", "udp,tcp",
                       "--tcp-relay")
    assert where(report) == {("TURN-TCP-RELAY-UNSUPPORTED", "tcp", "tcp-relay")}
    assert code == 0  # a warning: WebRTC's UDP relays work
    [tcp] = [leg["tcp_relay"] for leg in legs(report) if leg["transport"] == "tcp"]
    assert tcp["error_code"] == 442 and not tcp["allocated"]


def test_check_config_family_key(v6_relay: RunningCoturn, tmp_path: Path) -> None:
    config = tmp_path / "rtcdiag.toml"
    config.write_text(f"""
checks = ["turn"]
[[servers]]
urls = ["turn:[::1]:{v6_relay.port}?transport=udp"]
username = "alice"
password_env = "RTCDIAG_TEST_FAMILY_PW"
family = 6
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    env["RTCDIAG_TEST_FAMILY_PW"] = v6_relay.users["alice"]
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "check", "--config", str(config), "--json"],
                          env=env, capture_output=True, text=True, timeout=60)
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, report["findings"]
    names = {c["name"] for c in report["checks"]}
    assert any(name.endswith("udp/data-channel-data-ipv6") for name in names), names


def test_broadcast_relay_is_the_relay_finding_not_a_crash(coturn_factory: Factory) -> None:
    """coturn announcing 255.255.255.255 as its relay (external-ip): a broadcast address is reachable from
    nowhere (IANA special-purpose), so that is the server's error (TURN-RELAY-PRIVATE, exit 1); no local
    socket may send there (EACCES), so the data path is undecided — never exit 4 nor TURN-NO-DATA."""
    server = _start(coturn_factory, relay_ips=("127.0.0.1",), external_ip="255.255.255.255/127.0.0.1")
    code, report = run(server, f"127.0.0.1:{server.port}", "--transport", "udp")
    assert code == 1, report["findings"]
    ids = {f["id"] for f in report["findings"]}
    assert "TURN-RELAY-PRIVATE" in ids
    assert not ids & {"TURN-NO-DATA", "TURN-DATA-LOSS", "INTERNAL-ERROR"}
    cases = {c["name"]: c for c in report["checks"]}
    assert cases["udp/data-send-indication"]["status"] == "inconclusive"
    assert "255.255.255.255" in cases["udp/data-channel-data"]["message"]
    assert legs(report)[0]["released"] is True
