"""Integration fixtures: a real coturn on loopback, a dead port, and hostile servers.

Fixtures
- ``coturn``: session-wide healthy coturn. lt-cred-mech user ``alice`` (password in ``coturn.users``), realm
  ``rtcdiag.test``, UDP+TCP on ``coturn.port``, TLS on ``coturn.tls_port`` with a self-signed certificate
  (``coturn.ca_cert`` trusts it), allow-loopback-peers, listening on 127.0.0.1 (and ::1 when available).
- ``coturn_factory``: start another coturn with your own ``CoturnOptions``; stopped at session end.
- ``dead_port``: a loopback port with no UDP or TCP listener (UDP gets ICMP port unreachable, TCP a RST).
- ``hostile``: ``hostile(mode)`` starts a server from ``tests/servers.py`` for the test (modes listed there).

Every test in this directory is marked ``integration``; skipped with a reason when ``turnserver`` is missing.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn, start_coturn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds servers.py (no package)
from servers import HAVE_IPV6, HostileServer, hostile_server

HAVE_TURNSERVER = shutil.which("turnserver") is not None
SKIP_REASON = "coturn's turnserver is not installed (apt-get install coturn)"



def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
            if not HAVE_TURNSERVER:
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.fixture(scope="session")
def coturn_factory() -> Iterator[Callable[[CoturnOptions], RunningCoturn]]:
    """``coturn_factory(CoturnOptions(...))`` -> a started coturn, stopped when the session ends."""
    if not HAVE_TURNSERVER:
        pytest.skip(SKIP_REASON)
    started: list[RunningCoturn] = []

    def start(opts: CoturnOptions) -> RunningCoturn:
        server = start_coturn(replace(opts, die_with_parent=True))  # a killed run leaves no coturn behind
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="session")
def coturn(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> RunningCoturn:
    """The healthy coturn every integration test can share (do not exhaust its quotas)."""
    ips = ("127.0.0.1", "::1") if HAVE_IPV6 else ("127.0.0.1",)
    return coturn_factory(CoturnOptions(
        listening_ips=ips,
        users={"alice": "alice-" + secrets.token_hex(8)},
        realm="rtcdiag.test",
        self_signed=True,
        allow_loopback_peers=True,
    ))


@pytest.fixture(scope="session")
def dead_port() -> Iterator[int]:
    """A 127.0.0.1 port where nothing answers: no UDP socket (ICMP unreachable), TCP bound but not listening.

    Holding the TCP socket bound (never listening) reserves the port so that no other process can start
    listening on it during the session, and connects to it are refused.
    """
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = int(udp.getsockname()[1])
        udp.close()
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(("127.0.0.1", port))
        except OSError:
            tcp.close()
            continue
        try:
            yield port
        finally:
            tcp.close()
        return
    pytest.fail("could not find a free loopback port")


@pytest.fixture
def hostile() -> Iterator[Callable[..., HostileServer]]:
    """``hostile(mode, host="127.0.0.1")`` -> a running hostile server, stopped after the test."""
    with contextlib.ExitStack() as stack:
        def start(mode: str, host: str = "127.0.0.1") -> HostileServer:
            return stack.enter_context(hostile_server(mode, host))

        yield start
