"""turn-check from behind a real NAT (the lab) against its coturn at a documentation address (RFC 5737).

The server address 203.0.113.10 stands for the internet: documentation ranges are public-like, not private
(rtcdiag.addresses). So the echo peer learns its NAT-mapped address and opens a pinhole, and data flows
through the relay; before, the peer offered its private LAN address and the check reported "no data flows"
(TURN-NO-DATA) for a relay that works.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from rtcdiag.addresses import AddressScope, scope_of
from rtcdiag.lab.kinds import NatKind
from rtcdiag.lab.lab import Lab
from rtcdiag.lab.topology import STUN_PORT, STUN_PRIMARY_IP

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("kind", [NatKind.PORT_RESTRICTED, NatKind.FULL_CONE])
def test_turn_data_flows_from_behind_nat_to_a_documentation_address_server(
        make_lab: Callable[..., Lab], kind: NatKind) -> None:
    lab = make_lab(kind)
    proc = subprocess.run(
        ["ip", "netns", "exec", lab.topo.client_ns, sys.executable, "-m", "rtcdiag", "turn-check",
         f"{STUN_PRIMARY_IP}:{STUN_PORT}", "--transport", "udp,tcp", "--timeout", "2", "--json"],
        capture_output=True, text=True, timeout=60)
    report = json.loads(proc.stdout)
    text = json.dumps(report)
    assert "TURN-NO-DATA" not in text and "TURN-RELAY-PRIVATE" not in text
    assert "TURN-OPEN-RELAY" in text  # the lab's coturn is anonymous: that is the only error
    (result,) = report["results"]["turn"]
    assert result["server_scope"] == "documentation"
    for t in result["transports"]:
        assert t["relay_scope"] == "documentation"
        for dp in t["data_paths"]:
            assert dp["packets_received"] == dp["packets_sent"] == 5
            # the NAT's public side (203.0.113.x in the lab), not the client's 192.168.x LAN address
            assert scope_of(dp["peer"].rpartition(":")[0]) is AddressScope.DOCUMENTATION
