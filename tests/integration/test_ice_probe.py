"""The ICE probe against a real coturn on loopback: two aioice agents connect through the relay."""

from __future__ import annotations

import asyncio
import re
import secrets
import ssl
from collections.abc import Callable
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn
from rtcdiag.probes import ice
from rtcdiag.triage.finding import Severity
from rtcdiag.triage.ice import triage, triage_run


def _turn(server: RunningCoturn, transport: str = "udp", password: str | None = None,
          scheme: str = "turn") -> ice.IceServer:
    port = server.tls_port if scheme == "turns" else server.port
    assert port is not None
    url = f"{scheme}:{server.host}:{port}?transport={transport}"
    return ice.IceServer(url=url, scheme=scheme, host=server.host, port=port, transport=transport,
                         username="alice", password=password or server.users["alice"])


def _ca_context(server: RunningCoturn) -> ssl.SSLContext:
    assert server.ca_cert is not None
    return ssl.create_default_context(cafile=str(server.ca_cert))


@pytest.mark.parametrize("transport,scheme", [("udp", "turn"), ("tcp", "turn"), ("tcp", "turns")])
def test_agents_connect_through_the_relay_and_echo_data(coturn: RunningCoturn, transport: str,
                                                        scheme: str) -> None:
    server = _turn(coturn, transport, scheme=scheme)
    options = ice.IceOptions(packets=4, ssl_context=_ca_context(coturn))
    run = asyncio.run(ice.probe_server(server, options))

    assert run.error is None and run.ice_error is None
    assert run.connected
    relays = [c for c in run.candidates if c.type == "relay"]
    assert {c.agent for c in relays} == {"full", "relay-only"}
    assert all(c.relay_protocol == ("tls" if scheme == "turns" else transport) for c in relays)
    assert all(c.url == server.url for c in relays)
    # The relay-only agent can only use its relayed candidate: data went through coturn.
    assert run.relay_only_pair is not None and run.relay_only_pair.local_type == "relay"
    assert run.packets_sent == run.packets_received == 4
    assert run.bytes_sent == run.bytes_received == 4 * options.payload_size
    assert len(run.rtts_ms) == 4 and all(0 < rtt < 1000 for rtt in run.rtts_ms)
    assert run.first_candidate_ms["relay"] <= run.gather_ms
    assert run.connect_ms is not None and run.connect_ms >= run.first_candidate_ms["relay"]
    # A loopback server handing out loopback relay addresses is expected: only noted, never an error.
    findings = triage_run(run)
    assert [f.id for f in findings] == ["ICE-RELAY-INTERNAL-NOTED"] * len({c.address for c in relays})
    assert all(f.severity is Severity.INFO for f in findings)


def test_relay_only_both_sides_selects_relay_to_relay(coturn: RunningCoturn) -> None:
    run = asyncio.run(ice.probe_server(_turn(coturn), ice.IceOptions(relay_only=True, packets=2)))
    assert run.agents == ["relay-only-a", "relay-only"]
    assert all(c.type == "relay" for c in run.candidates)
    assert run.selected_pair is not None
    assert (run.selected_pair.local_type, run.selected_pair.remote_type) == ("relay", "relay")
    assert run.packets_received == 2


def test_udp_turn_url_also_gives_host_and_srflx_timings(coturn: RunningCoturn) -> None:
    run = asyncio.run(ice.probe_server(_turn(coturn), ice.IceOptions(packets=1)))
    full_types = {c.type for c in run.candidates if c.agent == "full"}
    assert "relay" in full_types
    if "host" in full_types:  # aioice has no host candidate on a machine with only 127.0.0.1
        assert "srflx" in full_types
        assert run.first_candidate_ms["host"] <= run.first_candidate_ms["srflx"]
        srflx = next(c for c in run.candidates if c.type == "srflx")
        assert srflx.url == run.url and srflx.related_address is not None


def test_wrong_password_gives_no_relay_with_the_401_as_evidence(coturn: RunningCoturn) -> None:
    run = asyncio.run(ice.probe_server(_turn(coturn, password="not-" + secrets.token_hex(4)),
                                       ice.IceOptions(gather_timeout_s=3)))
    assert not [c for c in run.candidates if c.type == "relay"]
    assert not run.connected and not run.attempted_connect
    relay_errors = [e.error for e in run.gather_events if e.type == "relay"]
    assert relay_errors and all(e is not None and "401" in e for e in relay_errors)
    findings = triage_run(run)
    assert [f.id for f in findings] == ["ICE-NO-RELAY"]
    assert findings[0].severity is Severity.ERROR
    assert "401" in findings[0].symptom and any("401" in line for line in findings[0].evidence)


def test_tls_without_the_ca_gives_no_relay_naming_the_certificate(coturn: RunningCoturn) -> None:
    run = asyncio.run(ice.probe_server(_turn(coturn, "tcp", scheme="turns"), ice.IceOptions()))
    assert not run.candidates or all(c.type != "relay" for c in run.candidates)
    errors = " ".join(e.error or "" for e in run.gather_events)
    assert "certificate verify failed" in errors and "SSLCertVerificationError" not in errors
    assert {e.kind for e in run.gather_events if e.type == "relay"} == {"tls:untrusted-certificate"}
    assert [f.id for f in triage_run(run)] == ["ICE-NO-RELAY"]


def test_relay_that_refuses_loopback_peers_makes_ice_fail(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    # Without allow-loopback-peers coturn refuses to relay to 127.0.0.1 (403 on ChannelBind), so two
    # relay-only agents with loopback relay candidates can never reach each other: a real ICE failure.
    # (With a full agent, its host candidate on a non-loopback interface could still pair with the relay.)
    strict = coturn_factory(CoturnOptions(users={"alice": "pw-" + secrets.token_hex(6)},
                                          allow_loopback_peers=False))
    run = asyncio.run(ice.probe_server(_turn(strict), ice.IceOptions(relay_only=True,
                                                                       connect_timeout_s=1.5)))
    assert [c for c in run.candidates if c.type == "relay"]
    assert run.attempted_connect and not run.connected
    assert run.ice_error is not None
    ids = [f.id for f in triage_run(run)]
    assert "ICE-FAILED" in ids


def test_stun_url_gathers_without_connecting(coturn: RunningCoturn) -> None:
    stun = ice.IceServer(url=f"stun:{coturn.host}:{coturn.port}", scheme="stun", host=coturn.host,
                         port=coturn.port)
    result = asyncio.run(ice.probe([stun], ice.IceOptions()))
    (run,) = result.runs
    assert run.agents == ["full"] and not run.attempted_connect
    if any(c.type == "host" for c in run.candidates):
        assert any(c.type == "srflx" for c in run.candidates)
        assert triage(result) == []
    else:
        assert [f.id for f in triage(result)] == ["ICE-NO-SRFLX"]


def test_silent_server_bounded_by_gather_timeout(dead_port: int) -> None:
    server = ice.IceServer(url=f"turn:127.0.0.1:{dead_port}", scheme="turn", host="127.0.0.1",
                           port=dead_port, username="alice", password="whatever-pw")
    run = asyncio.run(ice.probe_server(server, ice.IceOptions(gather_timeout_s=0.5)))
    assert run.duration_ms < 2500
    assert [f.id for f in triage_run(run)] == ["ICE-NO-RELAY"]


def test_a_437_from_a_port_the_kernel_handed_out_again_is_retried_from_a_new_one(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn], monkeypatch: pytest.MonkeyPatch) -> None:
    """coturn still holds an allocation for a local port (an earlier client's, released or not, on the port
    the kernel now hands out again): it answers a new Allocate from that port 437 Allocation Mismatch (RFC
    8656 §7.2). Browsers (libwebrtc, libnice) then retry from another local port, up to three (RFC 8656
    §7.4); aioice gave up, and a healthy server got an ICE-NO-RELAY (seen once under CPU load).

    The real coturn holds a real allocation; only the kernel's choice of port is forced (the relay socket of
    the first agent binds the held port), as no test can make the kernel repeat a port on demand."""
    import aioice.turn

    server = coturn_factory(CoturnOptions(users={"alice": "pw-" + secrets.token_hex(6)}, verbose=True))
    address = (server.host, server.port)
    held_port: list[int] = []

    async def hold_an_allocation() -> None:
        # An allocation made on a local port, whose socket then closes without releasing it (a crashed
        # client; or a released one coturn has not deleted yet).
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(
            lambda: aioice.turn.TurnClientUdpProtocol(address, username="alice",
                                                      password=server.users["alice"], lifetime=600,
                                                      channel_refresh_time=500),
            remote_addr=address)
        await client.connect()
        held_port.append(transport.get_extra_info("sockname")[1])
        assert client.refresh_task is not None
        client.refresh_task.cancel()
        transport.close()

    original = asyncio.base_events.BaseEventLoop.create_datagram_endpoint
    forced: list[int] = []

    async def reused_port(self: asyncio.AbstractEventLoop, factory: Any, local_addr: Any = None,
                          remote_addr: Any = None, **kwargs: Any) -> Any:
        if remote_addr == address and local_addr is None and not forced:
            forced.append(held_port[0])  # the first TURN socket gets the port coturn still holds
            local_addr = ("127.0.0.1", held_port[0])
        return await original(self, factory, local_addr=local_addr, remote_addr=remote_addr,  # type: ignore[arg-type]
                              **kwargs)

    async def main() -> ice.IceRun:
        await hold_an_allocation()
        monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "create_datagram_endpoint", reused_port)
        return await ice.probe_server(_turn(server), ice.IceOptions(packets=2, relay_only=True))

    run = asyncio.run(main())
    assert forced == held_port
    # Ground truth: coturn's own log has the 437 it sent to the reused port.
    log = server.log_path.read_text(errors="replace")
    assert len(re.findall(r"incoming packet \w+ processed, error 437", log)) == 1
    assert "ICE-NO-RELAY" not in [f.id for f in triage_run(run)]
    relays = [c for c in run.candidates if c.type == "relay"]
    assert {c.agent for c in relays} == {"relay-only-a", "relay-only"}
    assert run.connected and run.packets_received == 2
    retried = [e for e in run.gather_events if e.kind == ice.RETRIED_437]  # kept as evidence
    assert len(retried) == 1 and "437" in (retried[0].error or "")
