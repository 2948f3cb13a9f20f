"""`rtcdiag nat-type` from the command line against coturn on loopback (no root): an RFC 5780 server with two
loopback addresses, a single-address server and a closed port; JSON, JUnit testcases and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtcdiag import exitcodes
from rtcdiag.coturn import CoturnOptions, RunningCoturn

Factory = Callable[[CoturnOptions], RunningCoturn]


def nat_type(*args: str) -> tuple[int, dict[str, Any]]:
    argv = [sys.executable, "-m", "rtcdiag", "nat-type", "--json", "--timeout", "1", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_two_address_server_gives_a_verdict_with_steps_per_run(coturn_factory: Factory,
                                                               tmp_path: Path) -> None:
    server = coturn_factory(CoturnOptions(listening_ips=("127.0.0.1", "127.0.0.2"), no_auth=True))
    uri = f"stun:127.0.0.1:{server.port}"
    junit = tmp_path / "nat.xml"
    code, report = nat_type("--server", uri, "--repeat", "2", "--hairpin", "--junit", str(junit))
    assert code == exitcodes.OK, report["findings"]
    consensus = report["results"]["consensus"]
    # Loopback: the mapped address is the local one (no NAT) and every CHANGE-REQUEST reply arrives.
    assert (consensus["legacy"], consensus["nat_present"]) == ("open internet", False)
    assert consensus["runs_used"] == 2
    [finding] = report["findings"]
    assert (finding["id"], finding["subject"], finding["check"], finding["step"]) == (
        "NAT-TYPE", "local network", "nat", "verdict")
    cases = {(c.get("classname"), c.get("name")) for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases == {("local network", "verdict"),
                     *((uri, f"udp/{step} #{n}") for n in (1, 2)
                       for step in ("reachability", "rfc5780-server", "mapping", "filtering", "hairpin"))}
    assert {c["status"] for c in report["checks"]} == {"pass"}
    other = next(c for c in report["checks"] if c["name"] == "udp/rfc5780-server #1")
    assert "OTHER-ADDRESS 127.0.0.2:" in other["message"]


def test_single_address_server_is_inconclusive(coturn_factory: Factory) -> None:
    server = coturn_factory(CoturnOptions(listening_ips=("127.0.0.1",), no_auth=True))
    uri = f"stun:127.0.0.1:{server.port}"
    code, report = nat_type("--server", uri)
    assert code == exitcodes.INCONCLUSIVE
    assert [(f["id"], f["subject"], f["step"]) for f in report["findings"]] == [
        ("NAT-SERVER-NO-RFC5780", uri, "rfc5780-server #1")]
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses == {"udp/reachability #1": "pass", "udp/rfc5780-server #1": "inconclusive",
                        "udp/mapping #1": "skip", "udp/filtering #1": "skip", "verdict": "inconclusive"}


def test_closed_port_is_refused_and_inconclusive(dead_port: int) -> None:
    code, report = nat_type("--server", f"stun:127.0.0.1:{dead_port}")
    assert code == exitcodes.INCONCLUSIVE
    [finding] = report["findings"]
    # ICMP port unreachable for UDP and a TCP RST: actively refused, not silence.
    assert (finding["id"], finding["severity"], finding["transport"]) == ("SERVER-REFUSED", "warning", "udp")
    reach = next(c for c in report["checks"] if c["name"] == "udp/reachability #1")
    assert reach["status"] == "inconclusive" and reach["finding_ids"] == [finding["id"]]


# --- a server that answers, but not with a usable Binding success (issue 20 item 2) ----------------------
# Before: coturn `secure-stun` was "UDP-BLOCKED" (exit 1) while the evidence held its 401; a 401 or 300 to
# everything was "nothing came back, not even an error"; a TCP port that accepts and says nothing was "down
# or not listening"; an endless TCP stream "nothing came back" after 335k messages.


def _reachability(report: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["name"].endswith("/reachability #1"))


def test_secure_stun_coturn_is_its_401_not_a_udp_block(coturn_factory: Factory) -> None:
    server = coturn_factory(CoturnOptions(listening_ips=("127.0.0.1", "127.0.0.2"),
                                          users={"alice": "pw-alice"}, extra_lines=("secure-stun",),
                                          verbose=True))
    uri = f"stun:127.0.0.1:{server.port}"
    for transport in ("udp", "tcp"):
        code, report = nat_type("--server", uri, "--transport", transport)
        assert code == exitcodes.INCONCLUSIVE, report["findings"]
        [finding] = report["findings"]
        assert (finding["id"], finding["severity"], finding["transport"]) == (
            "STUN-ERROR-RESPONSE", "warning", transport)
        assert "Binding error response 401" in finding["symptom"]
        assert "UDP-BLOCKED" not in json.dumps(report)
        assert _reachability(report)["status"] == "inconclusive"
        assert "401" in _reachability(report)["message"]
    # Ground truth: coturn itself logged the 401 it sent to the unauthenticated Binding requests.
    assert "error 401" in server.log_path.read_text(errors="replace")


def test_a_binding_redirect_to_itself_is_named_not_silence() -> None:
    """Hand-written server (no real server redirects Binding requests): a 300 pointing at itself."""
    from redirect_server import redirect_server

    with redirect_server(("127.0.0.1", 9)) as server:
        server.alternate = (server.host, server.port)
        code, report = nat_type("--server", f"stun:127.0.0.1:{server.port}")
    assert code == exitcodes.INCONCLUSIVE
    [finding] = report["findings"]
    assert finding["id"] == "REDIRECT-LOOP" and finding["severity"] == "warning"
    assert f"loop: 127.0.0.1:{server.port} -> 127.0.0.1:{server.port}." in finding["symptom"]


def test_a_tcp_port_that_accepts_and_says_nothing_is_not_stun(dead_port: int) -> None:
    """Hand-written listener: a TCP port that accepts and never speaks (any non-STUN service idle on it)."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        for transport in ("udp", "tcp"):  # UDP: the port is closed (refused), TCP accepts
            code, report = nat_type("--server", f"stun:127.0.0.1:{port}", "--transport", transport)
            assert code == exitcodes.INCONCLUSIVE
            [finding] = report["findings"]
            assert (finding["id"], finding["transport"]) == ("PORT-NOT-STUN", "tcp"), finding
            assert "after the TCP connection was accepted" in finding["symptom"]
            assert "down or not listening" not in json.dumps(report)


def test_an_endless_stream_is_a_reply_flood() -> None:
    """tests/flood_servers.py (hand-written: replies for other transactions, forever)."""
    from flood_servers import FLOOD, flood_server

    with flood_server(FLOOD, max_s=10.0) as server:
        for transport in ("tcp", "udp"):
            code, report = nat_type("--server", f"stun:127.0.0.1:{server.port}", "--transport", transport)
            assert code == exitcodes.INCONCLUSIVE
            [finding] = report["findings"]
            assert (finding["id"], finding["transport"]) == ("REPLY-FLOOD", transport), finding
            assert "replies that answer nothing" in finding["symptom"]
