"""`rtcdiag ports --trace` in network namespaces this test creates: client -> router -> server.

The router forwards (ip_forward=1) and drops UDP to port 3478 (nft, forward hook, silently). A coturn in the
server namespace listens on UDP/TCP 3480. The trace must say: UDP 3478 goes silent after hop 1 (the router,
10.91.1.1); UDP 3479 reaches hop 2 and gets ICMP port unreachable; TCP 3478 reaches hop 2 (RST); UDP 3480
reaches hop 2 and STUN answers. Traffic goes only to addresses inside these namespaces. Teardown always.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, start_coturn

CLIENT_IP, ROUTER_CLIENT_SIDE = "10.91.1.2", "10.91.1.1"
ROUTER_SERVER_SIDE, SERVER_IP = "10.91.2.1", "10.91.2.2"
DROPPED_PORT, CLOSED_PORT, COTURN_PORT = 3478, 3479, 3480


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "the trace lab needs root (network namespaces, nftables, raw sockets)"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("turnserver", "coturn")):
        if shutil.which(tool) is None:
            return f"the trace lab needs `{tool}` (apt-get install {package})"
    return None


def sh(*argv: str, stdin: str | None = None) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True, input=stdin, timeout=30)


@dataclass
class PathLab:
    client: str
    router: str
    server: str


def _build(lab: PathLab) -> None:
    for ns in (lab.client, lab.router, lab.server):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    # veth pairs are created directly inside the namespaces, so their names cannot collide with anyone's.
    for ns, dev, peer in ((lab.client, "vc0", "vr0"), (lab.server, "vs0", "vr1")):
        sh("ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", peer, "netns", lab.router)
    addresses = ((lab.client, "vc0", CLIENT_IP), (lab.router, "vr0", ROUTER_CLIENT_SIDE),
                 (lab.router, "vr1", ROUTER_SERVER_SIDE), (lab.server, "vs0", SERVER_IP))
    for ns, dev, ip in addresses:
        addr = f"{ip}/24"
        sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
    sh("ip", "-n", lab.client, "route", "add", "default", "via", ROUTER_CLIENT_SIDE)
    sh("ip", "-n", lab.server, "route", "add", "default", "via", ROUTER_SERVER_SIDE)
    sh("ip", "netns", "exec", lab.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    for ns in (lab.router, lab.server):  # no ICMP rate limit: every probe gets its answer
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
    rules = ("table inet rtcdiag_trace {\n chain forward_filter {\n  type filter hook forward priority 0;\n"
             f"  ip daddr {SERVER_IP} udp dport {DROPPED_PORT} drop\n }}\n}}\n")
    sh("ip", "netns", "exec", lab.router, "nft", "-f", "-", stdin=rules)


@pytest.fixture(scope="module")
def path_lab() -> Iterator[PathLab]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    tag = f"rtdtr{os.getpid()}"
    lab = PathLab(client=f"{tag}c", router=f"{tag}r", server=f"{tag}s")
    try:
        _build(lab)
        with start_coturn(CoturnOptions(listening_ips=(SERVER_IP,), port=COTURN_PORT, netns=lab.server,
                                        users={"trace": "trace-" + os.urandom(6).hex()})):
            yield lab
    finally:
        for ns in (lab.client, lab.router, lab.server):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def _trace(lab: PathLab) -> tuple[int, dict[str, Any]]:
    ports = f"udp:{DROPPED_PORT},udp:{CLOSED_PORT},tcp:{DROPPED_PORT},udp:{COTURN_PORT}"
    proc = subprocess.run(["ip", "netns", "exec", lab.client, sys.executable, "-m", "rtcdiag", "ports",
                           SERVER_IP, "--no-default-ports", "--ports", ports, "--trace", "--max-hops", "4",
                           "--timeout", "0.5", "--json"], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture(scope="module")
def traced(path_lab: PathLab) -> tuple[int, dict[str, Any]]:
    return _trace(path_lab)


def _trace_of(report: dict[str, Any], transport: str, port: int) -> dict[str, Any]:
    return next(t for t in report["results"]["traces"] if t["transport"] == transport and t["port"] == port)


def test_trace_names_the_router_hop_where_udp_3478_is_dropped(traced: tuple[int, dict[str, Any]]) -> None:
    code, report = traced
    trace = _trace_of(report, "udp", DROPPED_PORT)
    assert trace["outcome"] == "dropped"
    assert (trace["last_answer_hop"], trace["last_answer_address"]) == (1, ROUTER_CLIENT_SIDE)
    assert [(h["ttl"], h["address"], h["kind"]) for h in trace["hops"]] == [
        (1, ROUTER_CLIENT_SIDE, "time-exceeded"), (2, None, "silent")]
    drop = next(f for f in report["findings"] if f["id"] == "TRACE-PATH-DROP")
    assert "hop 1" in drop["title"] and ROUTER_CLIENT_SIDE in drop["title"]
    ports = {(p["transport"], p["port"]): p for p in report["results"]["ports"]}
    assert ports[("udp", DROPPED_PORT)]["state"] == "timeout"
    assert code == 1


def test_trace_reaches_server_hop_2_for_open_and_closed_ports(traced: tuple[int, dict[str, Any]]) -> None:
    _code, report = traced
    closed_udp = _trace_of(report, "udp", CLOSED_PORT)
    assert (closed_udp["outcome"], closed_udp["reached_at_hop"]) == ("reached-closed", 2)
    assert closed_udp["icmp_port_unreachable"] is True
    assert closed_udp["hops"][-1]["address"] == SERVER_IP
    closed_tcp = _trace_of(report, "tcp", DROPPED_PORT)  # the drop rule is UDP only
    assert (closed_tcp["outcome"], closed_tcp["reached_at_hop"]) == ("reached-closed", 2)
    assert closed_tcp["hops"][-1]["kind"] == "reset"
    stun = _trace_of(report, "udp", COTURN_PORT)
    assert (stun["outcome"], stun["reached_at_hop"]) == ("reached-open", 2)
    ports = {(p["transport"], p["port"]): p["state"] for p in report["results"]["ports"]}
    assert ports == {("udp", DROPPED_PORT): "timeout", ("udp", CLOSED_PORT): "closed",
                     ("tcp", DROPPED_PORT): "closed", ("udp", COTURN_PORT): "open"}
    # Only the dropped port gets a trace finding; reached destinations need none.
    traced = [(f["subject"], f["step"], f["port"]) for f in report["findings"]
              if f["id"].startswith("TRACE-")]
    assert traced == [(f"ports:{SERVER_IP}", f"trace/udp/{DROPPED_PORT}", DROPPED_PORT)]
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses[f"trace/udp/{DROPPED_PORT}"] == "warn"
    assert statuses[f"trace/udp/{COTURN_PORT}"] == statuses[f"udp/{COTURN_PORT}"] == "pass"
    assert statuses[f"udp/{DROPPED_PORT}"] == "fail"


def test_trace_without_raw_socket_permission_is_one_line_exit_2() -> None:
    argv = [sys.executable, "-m", "rtcdiag", "ports", "127.0.0.1", "--trace"]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv (util-linux) is needed to drop CAP_NET_RAW")
        argv = ["setpriv", "--bounding-set=-net_raw", *argv]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "rtcdiag: error: --trace needs root (raw sockets, CAP_NET_RAW): run it as root or drop --trace"]
