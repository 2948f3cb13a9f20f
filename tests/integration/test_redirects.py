"""300 Try Alternate (RFC 8489 §10): reported always, followed only within the address-scope policy, and the
user's credentials used at an alternate only in the redirecting server's realm.

Real peers: two coturns on loopback, the first with ``alternate-server`` pointing at the second (coturn sends
the 300 to the first, unauthenticated Allocate). The hostile redirect (to 169.254.169.254, and of Binding
requests, which no real server redirects) comes from tests/redirect_server.py, a hand-written server; that
run happens inside a network namespace this test creates, where 169.254.0.0/16 is routed to a veth
pair and an nftables rule counts every packet sent towards it, so "nothing was sent there" is
observed at the kernel, not inferred from rtcdiag's own records.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn, socket_in_netns

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from redirect_server import redirect_server

PASSWORD = "redirect-pw-" + secrets.token_hex(4)
USERS = {"alice": PASSWORD}


def _rtcdiag(*args: str, netns: str | None = None) -> tuple[int, dict[str, Any], str]:
    argv = [sys.executable, "-m", "rtcdiag", *args, "--json"]
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    env = {**os.environ, "RTCDIAG_TURN_PASSWORD": PASSWORD}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def _findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for cause in report.get("root_causes", []):
        found.append(cause)
        found += cause.get("consequences", [])
    found += report.get("findings", [])
    return found


def _ids(report: dict[str, Any]) -> set[str]:
    text = json.dumps(report)
    return set(re.findall(r'"id": "([A-Z0-9-]+)"', text))


def _log(server: RunningCoturn) -> str:
    return server.log_path.read_text(errors="replace")


@pytest.fixture
def pair(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> Callable[..., tuple[RunningCoturn,
                                                                                         RunningCoturn]]:
    """``pair(realm_b)`` -> (A, B): coturn A redirects every Allocate to coturn B (both verbose)."""
    def make(realm_b: str = "rtcdiag.test") -> tuple[RunningCoturn, RunningCoturn]:
        b = coturn_factory(CoturnOptions(users=USERS, realm=realm_b, verbose=True))
        a = coturn_factory(CoturnOptions(users=USERS, verbose=True,
                                         extra_lines=(f"alternate-server=127.0.0.1:{b.port}",)))
        return a, b
    return make


def test_redirect_to_another_loopback_coturn_is_followed_reported_and_passes(pair: Any) -> None:
    a, b = pair()
    code, report, err = _rtcdiag("turn-check", a.hostport(), "-u", "alice", "--transport", "udp,tcp")
    assert code == 0, err
    text = json.dumps(report)
    assert "TURN-ALTERNATE-SERVER" in _ids(report)
    assert f"127.0.0.1:{b.port} (loopback), followed once" in text
    transports = report["results"]["turn"][0]["transports"]
    assert {t["transport"] for t in transports} == {"udp", "tcp"}
    for t in transports:
        assert t["allocated"] and t["released"] and t["redirect"] == "followed"
        assert t["alternate_server"] == f"127.0.0.1:{b.port}" and t["redirect_realm"] == "rtcdiag.test"
    # the allocations were made (and released) by B, for alice; A never saw alice's credentials
    assert len(re.findall(r"new, realm=<rtcdiag.test>, username=<alice>", _log(b))) == 2
    assert len(re.findall(r"username=<alice>, lifetime=0", _log(b))) == 2
    assert "alice" not in _log(a) and "error 300" in _log(a)


def test_alternate_in_another_realm_gets_no_credentials(pair: Any) -> None:
    a, b = pair(realm_b="elsewhere.test")
    code, report, _ = _rtcdiag("turn-check", a.hostport(), "-u", "alice", "--transport", "udp")
    assert code == 3  # inconclusive: the check stopped at the alternate's challenge
    assert "TURN-REDIRECT-REALM" in _ids(report)
    text = json.dumps(report)
    assert "'elsewhere.test' is not the redirecting server's realm 'rtcdiag.test'" in text
    (t,) = report["results"]["turn"][0]["transports"]
    assert t["redirect"] == "credentials-withheld" and not t["authenticated"]
    # B was asked (unauthenticated) and answered 401; no request with alice's name ever reached it
    assert "error 401" in _log(b) and "alice" not in _log(b)


def test_no_follow_sends_nothing_to_the_alternate(pair: Any) -> None:
    a, b = pair()
    code, report, _ = _rtcdiag("turn-check", a.hostport(), "-u", "alice", "--transport", "udp,tcp",
                               "--no-follow")
    assert code == 3
    assert "not followed (--no-follow)" in json.dumps(report)
    assert all(t["redirect"] == "not-followed" for t in report["results"]["turn"][0]["transports"])
    assert "session" not in _log(b)  # B never got a packet from this run
    assert "error 300" in _log(a)


def test_stun_binding_redirect_to_loopback_coturn_is_followed(coturn: RunningCoturn) -> None:
    with redirect_server((coturn.host, coturn.port)) as hostile:
        code, report, err = _rtcdiag("stun", f"{hostile.host}:{hostile.port}", "-t", "udp", "-t", "tcp")
    assert code == 0, err
    results = report["results"]
    assert len(results) == 2
    for r in results:
        assert r["outcome"] == "success" and r["redirect"] == "followed"
        assert r["server_address"] == f"{coturn.host}:{coturn.port}" and r["mapped_address"]
    assert "STUN-ALTERNATE-SERVER" in _ids(report)


# --- a hostile redirect to the cloud metadata address, watched by the kernel --------------------------------


def _ns(netns: str, *cmd: str, stdin: str | None = None) -> str:
    proc = subprocess.run(["ip", "netns", "exec", netns, *cmd], input=stdin, capture_output=True, text=True,
                          check=True)
    return proc.stdout


@pytest.fixture
def watched_netns() -> Iterator[tuple[str, Callable[[], int]]]:
    """A namespace with loopback and a veth pair (both ends inside) that routes 169.254.0.0/16; ``count()``
    is how many packets (any protocol, any port) were sent towards 169.254.0.0/16 from inside it."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if shutil.which("ip") is None or shutil.which("nft") is None:
        pytest.skip("iproute2 (ip) and nftables (nft) are needed")
    name = f"rtcd-rd-{os.getpid()}-{secrets.token_hex(2)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        for cmd in (["link", "set", "lo", "up"],
                    ["link", "add", "meta0", "type", "veth", "peer", "name", "meta1"],
                    ["addr", "add", "169.254.0.1/16", "dev", "meta0"], ["link", "set", "meta0", "up"],
                    ["link", "set", "meta1", "up"]):
            subprocess.run(["ip", "-n", name, *cmd], check=True, capture_output=True)
        _ns(name, "nft", "-f", "-", stdin="table inet watch {\n chain out {\n  type filter hook output "
            "priority 0;\n  ip daddr 169.254.0.0/16 counter\n }\n}\n")

        def count() -> int:
            listing = _ns(name, "nft", "list", "chain", "inet", "watch", "out")
            match = re.search(r"counter packets (\d+)", listing)
            assert match, listing
            return int(match.group(1))
        yield name, count
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


@pytest.mark.lab
def test_redirect_to_link_local_metadata_address_sends_nothing_there(
        watched_netns: tuple[str, Callable[[], int]]) -> None:
    netns, count = watched_netns
    import socket

    # the watch works: one datagram from inside the namespace to the metadata address is counted
    with socket_in_netns(netns, socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.sendto(b"x", ("169.254.169.254", 3478))
    assert count() == 1

    with redirect_server(("169.254.169.254", 3478), netns=netns) as hostile:
        target = f"{hostile.host}:{hostile.port}"
        turn_code, turn, _ = _rtcdiag("turn-check", target, "-u", "alice", "--transport", "udp,tcp",
                                      "--timeout", "1", netns=netns)
        stun_code, stun, _ = _rtcdiag("stun", target, "-t", "udp", "-t", "tcp", "--timeout", "1", netns=netns)
        assert hostile.requests >= 4  # both commands did talk to the redirecting server, over UDP and TCP
    assert count() == 1  # and nothing more left for 169.254.0.0/16
    for code, report in ((turn_code, turn), (stun_code, stun)):
        assert code == 1
        assert "REDIRECT-REFUSED" in _ids(report)
        text = json.dumps(report)
        assert "169.254.169.254:3478 (link-local), not followed" in text
        assert "cloud metadata" in text
    assert {t["redirect"] for t in turn["results"]["turn"][0]["transports"]} == {"refused"}
    assert {r["redirect"] for r in stun["results"]} == {"refused"}


# --- redirect loops (issue 20 item 4) ----------------------------------------------------------------------
# Before: a loop ended as TURN-ERROR-OTHER "an error code rtcdiag does not have a specific explanation for"
# (turn-check) or STUN-ERROR-RESPONSE "rejected: 300" (stun). Now REDIRECT-LOOP names the chain; RFC 8489
# §10: never back to a server the request already went to.


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        return int(udp.getsockname()[1])


def test_two_coturns_redirecting_to_each_other_are_a_named_loop(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    port_a, port_b = _free_port(), _free_port()
    b = coturn_factory(CoturnOptions(port=port_b, users=USERS, verbose=True,
                                     extra_lines=(f"alternate-server=127.0.0.1:{port_a}",)))
    a = coturn_factory(CoturnOptions(port=port_a, users=USERS, verbose=True,
                                     extra_lines=(f"alternate-server=127.0.0.1:{b.port}",)))
    code, report, err = _rtcdiag("turn-check", a.hostport(), "-u", "alice", "--transport", "udp,tcp")
    assert code == 1, err
    loops = [f for f in report["findings"] if f["id"] == "REDIRECT-LOOP"]
    assert sorted(f["transport"] for f in loops) == ["tcp", "udp"]
    chain = f"127.0.0.1:{a.port} -> 127.0.0.1:{b.port} -> 127.0.0.1:{a.port}"
    assert all(chain in f["symptom"] for f in loops)
    assert "TURN-ERROR-OTHER" not in _ids(report)
    assert {r["id"] for r in report["root_causes"]} == {"REDIRECT-LOOP"}
    for t in report["results"]["turn"][0]["transports"]:
        assert t["redirect"] == "loop" and not t["allocated"] and t["redirect_detail"] == chain
    # Ground truth: both coturns answered 300, and neither made an allocation.
    for server in (a, b):
        assert "error 300" in _log(server) and "new, realm" not in _log(server)


def test_a_server_redirecting_to_itself_is_a_loop_not_followed() -> None:
    """Hand-written server (coturn will not name itself as alternate-server; no real server redirects
    Binding requests): every request, Binding and Allocate, gets a 300 to its own address."""
    with redirect_server(("127.0.0.1", 9)) as hostile:
        hostile.alternate = (hostile.host, hostile.port)
        target = f"{hostile.host}:{hostile.port}"
        turn_code, turn, _ = _rtcdiag("turn-check", target, "-u", "alice", "--transport", "udp,tcp")
        stun_code, stun, _ = _rtcdiag("stun", target, "-t", "udp", "-t", "tcp")
        assert hostile.requests == 4  # one request per command and transport: a self-redirect is not followed
    chain = f"{target} -> {target}"
    for code, report in ((turn_code, turn), (stun_code, stun)):
        assert code == 1
        loops = [f for f in report["findings"] if f["id"] == "REDIRECT-LOOP"]
        assert sorted(f["transport"] for f in loops) == ["tcp", "udp"]
        assert all(chain in f["symptom"] for f in loops)
        assert not _ids(report) & {"TURN-ERROR-OTHER", "STUN-ERROR-RESPONSE"}


def test_stun_redirects_back_and_forth_are_a_loop() -> None:
    """Two hand-written servers (no real server redirects Binding requests): A to B, B back to A."""
    with redirect_server(("127.0.0.1", 9)) as a, redirect_server(("127.0.0.1", 9)) as b:
        a.alternate, b.alternate = (b.host, b.port), (a.host, a.port)
        code, report, _ = _rtcdiag("stun", f"{a.host}:{a.port}")
    assert code == 1
    [loop] = [f for f in report["findings"] if f["id"] == "REDIRECT-LOOP"]
    assert f"{a.host}:{a.port} -> {b.host}:{b.port} -> {a.host}:{a.port}" in loop["symptom"]
    assert "STUN-ERROR-RESPONSE" not in _ids(report)


def test_a_second_redirect_onward_is_reported_not_an_unknown_error(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    """A to B, B to C (no loop): rtcdiag follows one redirect, so the check is inconclusive, in words."""
    c = coturn_factory(CoturnOptions(users=USERS))
    b = coturn_factory(CoturnOptions(users=USERS, extra_lines=(f"alternate-server=127.0.0.1:{c.port}",)))
    a = coturn_factory(CoturnOptions(users=USERS, extra_lines=(f"alternate-server=127.0.0.1:{b.port}",)))
    code, report, _ = _rtcdiag("turn-check", a.hostport(), "-u", "alice", "--transport", "udp")
    assert code == 3
    assert "TURN-ERROR-OTHER" not in _ids(report) and "REDIRECT-LOOP" not in _ids(report)
    text = json.dumps(report)
    assert f"127.0.0.1:{b.port} redirected again, to 127.0.0.1:{c.port}: not followed" in text
    (t,) = report["results"]["turn"][0]["transports"]
    assert t["redirect"] == "again"
