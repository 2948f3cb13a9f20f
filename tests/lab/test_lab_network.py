"""The lab's plumbing, checked with a tiny UDP echo in the public namespace (no STUN involved): each kind
must translate (or not) to the expected source address, and drop what it is meant to drop."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Callable

import pytest

from rtcdiag.coturn import socket_in_netns
from rtcdiag.lab.kinds import NatKind
from rtcdiag.lab.lab import Lab
from rtcdiag.lab.topology import STUN_ALTERNATE_IP, STUN_PRIMARY_IP

MakeLab = Callable[..., Lab]

pytestmark = pytest.mark.lab
ECHO_WAIT_S = 0.5  # loopback-speed veths: an echo comes back in well under a millisecond


def _echo_source(lab_ns_public: str, lab_ns_client: str, server_ip: str) -> tuple[str, int] | None:
    """Send one datagram client -> public; the public side echoes back the source it saw."""
    with socket_in_netns(lab_ns_public, socket.AF_INET, socket.SOCK_DGRAM) as server, \
            socket_in_netns(lab_ns_client, socket.AF_INET, socket.SOCK_DGRAM) as client:
        server.bind((server_ip, 0))
        server.settimeout(ECHO_WAIT_S)
        port = server.getsockname()[1]
        seen: list[tuple[str, int]] = []

        def serve() -> None:
            try:
                _data, addr = server.recvfrom(2048)
            except OSError:
                return
            seen.append((addr[0], addr[1]))
            server.sendto(f"{addr[0]}:{addr[1]}".encode(), addr)

        thread = threading.Thread(target=serve)
        thread.start()
        client.bind(("0.0.0.0", 0))
        client.settimeout(ECHO_WAIT_S)
        client.sendto(b"ping", (server_ip, port))
        thread.join()
        if not seen:
            return None
        reply, _ = client.recvfrom(2048)
        assert reply.decode() == f"{seen[0][0]}:{seen[0][1]}"
        return seen[0]


@pytest.mark.parametrize("kind", [NatKind.OPEN, NatKind.FULL_CONE, NatKind.RESTRICTED_CONE,
                                  NatKind.PORT_RESTRICTED, NatKind.SYMMETRIC, NatKind.UDP_FIREWALL])
def test_udp_reaches_public_with_expected_source(make_lab: MakeLab, kind: NatKind) -> None:
    lab = make_lab(kind, stun=False)
    for server_ip in (STUN_PRIMARY_IP, STUN_ALTERNATE_IP):
        seen = _echo_source(lab.topo.public_ns, lab.topo.client_ns, server_ip)
        assert seen is not None, f"{kind.value}: no UDP from the client reached {server_ip}"
        assert seen[0] == lab.topo.client_public_ip


def test_udp_blocked_drops_udp_but_passes_tcp(make_lab: MakeLab) -> None:
    lab = make_lab(NatKind.UDP_BLOCKED, stun=False)
    assert _echo_source(lab.topo.public_ns, lab.topo.client_ns, STUN_PRIMARY_IP) is None
    with socket_in_netns(lab.topo.public_ns, socket.AF_INET, socket.SOCK_STREAM) as listener, \
            socket_in_netns(lab.topo.client_ns, socket.AF_INET, socket.SOCK_STREAM) as client:
        listener.bind((STUN_PRIMARY_IP, 0))
        listener.listen(1)
        client.settimeout(2)
        client.connect((STUN_PRIMARY_IP, listener.getsockname()[1]))
        conn, addr = listener.accept()
        conn.close()
        assert addr[0] == lab.topo.client_public_ip


def test_lab_down_leaves_nothing(make_lab: MakeLab) -> None:
    lab = make_lab(NatKind.SYMMETRIC)
    pid = lab.state.coturn_pid
    assert pid is not None
    assert lab.down() == []
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not any(ns in names for ns in lab.topo.namespaces)
    with pytest.raises(OSError):
        open(f"/proc/{pid}/cmdline", "rb").close()
