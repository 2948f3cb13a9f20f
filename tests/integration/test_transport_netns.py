"""coturn launched inside a network namespace this test creates; readiness and a Binding from inside it."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

from rtcdiag.coturn import CoturnOptions, binding_request, socket_in_netns, start_coturn

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 (ip) is not installed"),
]


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"rtcd-tr-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


def test_coturn_in_a_namespace_answers_only_inside_it(netns: str) -> None:
    with start_coturn(CoturnOptions(users={"carol": "carol-pw-9"}, netns=netns)) as server:
        assert server.alive()
        request, txid = binding_request()
        with socket_in_netns(netns, socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1.0)
            sock.sendto(request, (server.host, server.port))
            data = sock.recv(2048)
        assert data[:2] == b"\x01\x01" and data[8:20] == txid

        # the host namespace's loopback is a different one: nothing listens there on that port
        async def outside() -> bytes | None:
            from rtcdiag.net import RefusedError, UdpClient
            from rtcdiag.protocol.transaction import RetransmitPolicy
            async with await UdpClient.open(policy=RetransmitPolicy().scaled(0.005)) as client:
                try:
                    result = await client.request(binding_request()[0], (server.host, server.port))
                except RefusedError:
                    return None
                return result.response
        assert asyncio.run(outside()) is None
        pid, workdir = server.pid, server.workdir
    assert not workdir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
