"""turn-check --acl against real coturn on loopback: the verdict per sensitive peer matches what the server
really does, proven independently: the TEST's own TURN client (built from the protocol layer, not the ACL
probe) asks for the permission and sends a datagram through the relay to a local listener, which does or
does not receive it. rtcdiag itself never sends data to the sensitive peers: its recorded steps hold only
CreatePermission and ChannelBind, and a listener on the probed peer port receives nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn
from rtcdiag.lint.versions import parse_version
from rtcdiag.net import UdpClient
from rtcdiag.probes.turn_acl import PEER_PORT
from rtcdiag.probes.turn_allocate import allocate_request
from rtcdiag.probes.turn_result import RelayFamily
from rtcdiag.probes.turn_session import Credentials, TurnSession
from rtcdiag.protocol import Address, AttrType, Message, MessageClass, Method
from rtcdiag.protocol.transaction import RetransmitPolicy

Factory = Callable[[CoturnOptions], RunningCoturn]
PASSWORD = "acl-" + secrets.token_hex(8)
PRIVATE = {"10.0.0.1", "172.16.0.1", "192.168.0.1", "100.64.0.1", "224.0.0.1"}


def run_acl(server: RunningCoturn, *extra: str, host: str = "127.0.0.1") -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    env |= {"RTCDIAG_TURN_USERNAME": "alice", "RTCDIAG_TURN_PASSWORD": PASSWORD}
    target = f"[{host}]:{server.port}" if ":" in host else f"{host}:{server.port}"
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "turn-check", target, "--transport", "udp",
                           "--no-peer-test", "--acl", *extra, "--json"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def verdicts(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(peer, method) -> verdict, from the raw results of every transport."""
    out: dict[tuple[str, str], str] = {}
    for server in report["results"]["turn"]:
        for t in server["transports"]:
            for probe in (t.get("acl") or {}).get("probes", []):
                out[(probe["peer"], probe["method"])] = probe["verdict"]
    return out


def permitted_findings(report: dict[str, Any]) -> set[str]:
    return {f["params"]["peer"] for f in report["findings"] if f["id"] == "TURN-ACL-PEER-PERMITTED"}


def requests_sent(report: dict[str, Any]) -> list[str]:
    return [step["request"] for server in report["results"]["turn"] for t in server["transports"]
            for probe in (t.get("acl") or {}).get("probes", []) for step in probe["steps"]]


@contextlib.contextmanager
def listener(ip: str, port: int = 0) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((ip, port))
        sock.setblocking(False)
        yield sock
    finally:
        sock.close()


def received(sock: socket.socket) -> list[bytes]:
    got: list[bytes] = []
    with contextlib.suppress(BlockingIOError):
        while True:
            got.append(sock.recv(2048))
    return got


async def _relay_delivers(server: tuple[str, int], peer: tuple[str, int], family: RelayFamily,
                          sink: socket.socket) -> tuple[bool, bool]:
    """The test's own client: (permission granted?, datagram arrived at ``sink``?). Sends data (tests may)."""
    policy = RetransmitPolicy.for_timeout(2.0)
    loop = asyncio.get_running_loop()
    client = await UdpClient.open(socket.AF_INET6 if ":" in server[0] else socket.AF_INET, policy=policy)
    session = TurnSession(client, server, "udp", [], loop.time(), policy)
    try:
        reply, _ = await session.request(lambda: allocate_request((family,)), "allocate", authenticated=False)
        assert reply is not None and reply.error_code == 401
        session.learn_challenge(reply)
        session.set_credentials(Credentials("alice", PASSWORD))
        reply, _ = await session.request(lambda: allocate_request((family,)), "allocate")
        assert reply is not None and reply.msg_class == MessageClass.SUCCESS, reply
        address = Address.of(*peer)
        reply, _ = await session.request(lambda: Message(Method.CREATE_PERMISSION, MessageClass.REQUEST).add(
            AttrType.XOR_PEER_ADDRESS, address), "create-permission")
        granted = reply is not None and reply.msg_class == MessageClass.SUCCESS
        payload = b"acl-proof-" + secrets.token_hex(4).encode()
        indication = Message(Method.SEND, MessageClass.INDICATION).add(AttrType.XOR_PEER_ADDRESS, address)
        await client.send(indication.add(AttrType.DATA, payload).encode(), server)
        arrived = False
        for _ in range(50):  # up to 0.5 s for the datagram to come through the relay
            if payload in received(sink):
                arrived = True
                break
            await asyncio.sleep(0.01)
        await session.request(lambda: Message(Method.REFRESH, MessageClass.REQUEST).add(AttrType.LIFETIME, 0),
                              "release")
        return granted, arrived
    finally:
        await client.close()


def relay_delivers(server: RunningCoturn, peer_ip: str, sink: socket.socket, *, host: str = "127.0.0.1",
                   family: RelayFamily = RelayFamily.IPV4) -> tuple[bool, bool]:
    port = sink.getsockname()[1]
    return asyncio.run(_relay_delivers((host, server.port), (peer_ip, port), family, sink))


def start(factory: Factory, **kwargs: Any) -> RunningCoturn:
    return factory(CoturnOptions(users={"alice": PASSWORD}, **kwargs))


def only_permissions_sent(report: dict[str, Any]) -> None:
    sent = requests_sent(report)
    assert sent, "the ACL probe sent nothing"
    assert all(r.startswith(("CreatePermission request", "ChannelBind request")) for r in sent), sent


def test_without_denied_lines_every_permitted_sensitive_peer_is_reported(coturn_factory: Factory) -> None:
    server = start(coturn_factory, allow_loopback_peers=False)
    code, report = run_acl(server)
    seen = verdicts(report)
    assert code == 1, report["summary"] if "summary" in report else report["findings"]
    # coturn relays to private, shared and multicast addresses unless told otherwise (any version).
    for peer in PRIVATE:
        assert seen[(peer, "CreatePermission")] == "permitted"
        assert seen[(peer, "ChannelBind")] == "permitted"
    permitted = {peer for (peer, _), verdict in seen.items() if verdict == "permitted"}
    assert permitted_findings(report) == permitted
    assert permitted >= PRIVATE
    # Loopback is refused by default (allow-loopback-peers absent): 403, and independently no data arrives.
    assert seen[("127.0.0.1", "CreatePermission")] == "denied"
    assert "127.0.0.1" not in permitted_findings(report)
    with listener("127.0.0.1") as sink:
        assert relay_delivers(server, "127.0.0.1", sink) == (False, False)
    only_permissions_sent(report)
    # The version the server names in SOFTWARE is checked against the advisory table (warnings).
    software = {t["software"] for s in report["results"]["turn"] for t in s["transports"] if t["software"]}
    version = parse_version(next(iter(software))) if software else None
    advisories = {f["params"]["id"].split(" ")[0] for f in report["findings"] if f["id"] == "LINT-ADVISORY"}
    assert ("CVE-2026-27624" in advisories) is (version is not None and version < (4, 9, 0))


def test_allow_loopback_peers_is_reported_and_really_reaches_loopback(coturn_factory: Factory) -> None:
    server = start(coturn_factory, allow_loopback_peers=True)
    try:
        peer_port = listener("127.0.0.1", PEER_PORT)  # the port rtcdiag names in XOR-PEER-ADDRESS
        watched = peer_port.__enter__()
    except OSError:
        pytest.skip(f"cannot bind 127.0.0.1:{PEER_PORT} (needs root) to watch for data")
    try:
        code, report = run_acl(server)
        assert received(watched) == [], "rtcdiag sent data to a sensitive peer"
    finally:
        peer_port.__exit__(None, None, None)
    assert code == 1
    assert verdicts(report)[("127.0.0.1", "CreatePermission")] == "permitted"
    assert "127.0.0.1" in permitted_findings(report)
    finding = next(f for f in report["findings"] if f["params"].get("peer") == "127.0.0.1")
    assert finding["severity"] == "error" and "allow-loopback-peers" in finding["fix"]
    with listener("127.0.0.1") as sink:  # independently: data through the relay reaches loopback
        assert relay_delivers(server, "127.0.0.1", sink) == (True, True)
    only_permissions_sent(report)


def test_denied_peer_ip_lines_and_acl_peers(coturn_factory: Factory) -> None:
    server = start(coturn_factory, allow_loopback_peers=True,
                   denied_peer_ips=("127.0.0.2", "10.0.0.0-10.255.255.255"))
    code, report = run_acl(server, "--acl-peers", "127.0.0.2,127.0.0.3/32",
                           "--acl-peers", "10.9.0.0-10.9.0.9")
    seen = verdicts(report)
    assert code == 1
    assert seen[("127.0.0.2", "CreatePermission")] == "denied"
    assert seen[("127.0.0.2", "ChannelBind")] == "denied"
    assert seen[("10.0.0.1", "CreatePermission")] == "denied"
    assert seen[("10.9.0.0", "CreatePermission")] == "denied"
    assert seen[("127.0.0.3", "CreatePermission")] == "permitted"
    assert {"127.0.0.3", "172.16.0.1"} <= permitted_findings(report)
    assert not {"127.0.0.2", "10.0.0.1", "10.9.0.0"} & permitted_findings(report)
    # Independently: the denied address gets nothing through the relay, the permitted one does.
    with listener("127.0.0.2") as denied_sink, listener("127.0.0.3") as open_sink:
        assert relay_delivers(server, "127.0.0.2", denied_sink) == (False, False)
        assert relay_delivers(server, "127.0.0.3", open_sink) == (True, True)
    only_permissions_sent(report)


def test_ipv4_mapped_form_of_a_denied_address(coturn_factory: Factory) -> None:
    """127.0.0.0/8 denied; ::ffff:127.0.0.1 asked on an IPv6 relay. coturn before 4.9.0 grants it
    (CVE-2026-27624), later versions refuse it: the verdict must be what the server answers the test's own
    client. With the relay bound to ::1 the granted datagram cannot leave the IPv6 socket (recorded)."""
    from servers import HAVE_IPV6

    if not HAVE_IPV6:
        pytest.skip("no IPv6 loopback")
    server = start(coturn_factory, listening_ips=("127.0.0.1", "::1"), allow_loopback_peers=True,
                   denied_peer_ips=("127.0.0.0-127.255.255.255",))
    code, report = run_acl(server, "--family", "6", host="::1")
    seen = verdicts(report)
    with listener("127.0.0.1") as sink:
        granted, arrived = relay_delivers(server, "::ffff:127.0.0.1", sink, host="::1",
                                          family=RelayFamily.IPV6)
    tool_says = seen[("::ffff:127.0.0.1", "CreatePermission")]
    assert tool_says == ("permitted" if granted else "denied")
    assert ("::ffff:127.0.0.1" in permitted_findings(report)) is granted
    assert not arrived or granted  # data never arrives for a peer the tool calls refused
    assert code == (1 if permitted_findings(report) else 0)
    # IPv4 peers on an IPv6 relay: 443, not judged as an ACL verdict.
    assert seen[("10.0.0.1", "CreatePermission")] == "family-mismatch"
    assert "10.0.0.1" not in permitted_findings(report)
    only_permissions_sent(report)


def test_the_lint_clean_peer_acl_leaves_nothing_permitted_on_a_real_coturn(coturn_factory: Factory) -> None:
    """The denied-peer-ip lines of tests/fixtures/lint/hardened.conf (which lints without errors) given to a
    real coturn: coturn accepts every line (no `Wrong address format` in its log) and --acl finds no
    sensitive peer it permits, on an IPv4 and an IPv6 relay."""
    from pathlib import Path

    from servers import HAVE_IPV6

    from rtcdiag.lint.turnserver_conf import read_file

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "lint" / "hardened.conf"
    lines = tuple(read_file(fixture).values("denied-peer-ip"))
    assert len(lines) >= 16
    ips = ("127.0.0.1", "::1") if HAVE_IPV6 else ("127.0.0.1",)
    server = start(coturn_factory, listening_ips=ips, allow_loopback_peers=False, denied_peer_ips=lines,
                   extra_lines=("no-multicast-peers",))
    code, report = run_acl(server)
    assert "Wrong address format" not in server.log_tail(400)
    assert code == 0, [f["id"] for f in report["findings"]]
    assert permitted_findings(report) == set()
    seen = verdicts(report)
    assert {seen[(peer, "CreatePermission")] for peer in PRIVATE} == {"denied"}
    if HAVE_IPV6:
        code6, report6 = run_acl(server, "--family", "6", host="::1")
        assert permitted_findings(report6) == set(), verdicts(report6)
        assert verdicts(report6)[("::ffff:127.0.0.1", "CreatePermission")] == "denied"
        assert code6 == 0
