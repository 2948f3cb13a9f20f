"""What ``rtcdiag lint`` says coturn does with a line, checked against the installed coturn itself: the
version comes from the local ``turnserver --version`` (as ``rtcdiag lint`` takes it) and the rules' claims
(ignored, refused, fatal) are what this turnserver really does with the same lines."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from rtcdiag.coturn import CoturnOptions, RunningCoturn, turnserver_path
from rtcdiag.lint.turnserver_conf import parse_text
from rtcdiag.lint.versions import V4_7_0, V4_11_0, V4_13_0, local_version
from rtcdiag.net import UdpClient
from rtcdiag.probes.turn_allocate import allocate_request
from rtcdiag.probes.turn_session import Credentials, TurnSession
from rtcdiag.protocol import Address, AttrType, Message, MessageClass, Method
from rtcdiag.protocol.transaction import RetransmitPolicy
from rtcdiag.triage.finding import Severity
from rtcdiag.triage.lint import LintPlan, judge

Factory = Callable[[CoturnOptions], RunningCoturn]


def lint(text: str) -> dict[str, list[Severity]]:
    found: dict[str, list[Severity]] = {}
    for f in judge(LintPlan(parse_text(text, "t.conf"), local_version())).findings:
        found.setdefault(f.id, []).append(f.severity)
    return found


def test_local_version_is_read_from_the_binary() -> None:
    known = local_version()
    assert known.version is not None and known.version >= (4, 5)
    assert known.detail == turnserver_path()


def test_malformed_peer_range_and_removed_option_as_this_coturn_treats_them(coturn_factory: Factory) -> None:
    version = local_version().version
    assert version is not None
    lines = ("denied-peer-ip=10.0.0.0/8",) + (("no-loopback-peers",) if version < V4_7_0 else ())
    found = lint("\n".join(lines))
    assert Severity.ERROR in found["LINT-PEER-IP-MALFORMED"]
    if version >= V4_11_0:
        return  # coturn refuses to start with the malformed line (PR #1872); nothing more to observe
    server = coturn_factory(CoturnOptions(users={"alice": "pw-lint"}, extra_lines=lines))
    log = server.log_tail(400)
    assert "Wrong address format: 10.0.0.0/8" in log  # logged, ignored, and the server runs
    assert server.alive()
    if version < V4_7_0:
        assert "Bad configuration format: no-loopback-peers" in log
        assert found["LINT-OPTION-REJECTED"] == [Severity.WARNING]  # ignored, not fatal, before 4.7.0


def test_inline_comment_on_a_boolean_stops_coturn(tmp_path: Path) -> None:
    found = lint("no-cli # the console stays off")
    assert found["LINT-BAD-VALUE"] == [Severity.ERROR]
    conf = tmp_path / "turnserver.conf"
    conf.write_text(f"listening-ip=127.0.0.1\nlistening-port=9\nno-tls\nno-dtls\nlog-file=stdout\n"
                    f"pidfile={tmp_path / 'pid'}\nuserdb={tmp_path / 'db'}\nno-cli # the console stays off\n")
    done = subprocess.run([turnserver_path(), "-c", str(conf)], capture_output=True, text=True, timeout=20)
    assert done.returncode != 0
    assert "Unknown boolean value" in done.stdout + done.stderr


# --- zeros: what `rtcdiag lint` says a 0 means, against what this coturn does with it (issue 20) --------

PASSWORD = "pw-lint-zero"


async def _session(server: RunningCoturn) -> tuple[UdpClient, TurnSession]:
    """The test's own client: an authenticated allocation of user alice (asserts the 401 challenge)."""
    policy = RetransmitPolicy.for_timeout(2.0)
    client = await UdpClient.open(socket.AF_INET, policy=policy)
    session = TurnSession(client, (server.host, server.port), "udp", [], asyncio.get_running_loop().time(),
                          policy)
    reply, _ = await session.request(allocate_request, "allocate", authenticated=False)
    assert reply is not None and reply.error_code == 401
    session.learn_challenge(reply)
    session.set_credentials(Credentials("alice", PASSWORD))
    return client, session


async def _allocations(server: RunningCoturn, count: int) -> list[int | None]:
    """``count`` allocations of one user held at once: per allocation, None (success) or the error code."""
    opened = [await _session(server) for _ in range(count)]
    codes: list[int | None] = []
    try:
        for _, session in opened:
            reply, _ = await session.request(allocate_request, "allocate")
            assert reply is not None
            codes.append(None if reply.msg_class == MessageClass.SUCCESS else reply.error_code)
    finally:
        for client, session in opened:
            await session.request(lambda: Message(Method.REFRESH, MessageClass.REQUEST)
                                  .add(AttrType.LIFETIME, 0), "release")
            await client.close()
    return codes


def test_zero_quotas_are_no_quota_as_coturn_reads_them(coturn_factory: Factory) -> None:
    """user-quota=0 and total-quota=0 are *unlimited* to coturn (userdb.c inc_quota): lint says so, and this
    coturn grants three allocations of one user at once. The control: user-quota=1 limits (lint quiet,
    coturn answers the second 486)."""
    zeros = ("user-quota=0", "total-quota=0")
    found = lint("\n".join(zeros))
    assert found["LINT-NO-QUOTA"] == [Severity.WARNING]
    server = coturn_factory(CoturnOptions(users={"alice": PASSWORD}, extra_lines=zeros))
    assert asyncio.run(_allocations(server, 3)) == [None, None, None]
    limited = ("user-quota=1",)
    assert "LINT-NO-QUOTA" not in lint("\n".join(limited))
    server = coturn_factory(CoturnOptions(users={"alice": PASSWORD}, extra_lines=limited))
    assert asyncio.run(_allocations(server, 2)) == [None, 486]


def test_max_allocate_lifetime_zero_ends_the_allocation_at_its_first_refresh(coturn_factory: Factory) -> None:
    """lint: an error. This coturn: the allocation lives (a CreatePermission a second later succeeds), a
    Refresh asking 600 s is answered with LIFETIME 0, and coturn's log then says the allocation timed out
    and was deleted, about a second later."""
    found = lint("max-allocate-lifetime=0")
    assert found["LINT-ZERO-VALUE"] == [Severity.ERROR]
    server = coturn_factory(CoturnOptions(users={"alice": PASSWORD}, verbose=True,
                                          extra_lines=("max-allocate-lifetime=0",)))
    permit = Message(Method.CREATE_PERMISSION, MessageClass.REQUEST).add(AttrType.XOR_PEER_ADDRESS,
                                                                        Address.of("127.0.0.1", 9))

    async def run() -> tuple[bool, int | None]:
        client, session = await _session(server)
        try:
            reply, _ = await session.request(allocate_request, "allocate")
            assert reply is not None and reply.msg_class == MessageClass.SUCCESS
            await asyncio.sleep(1.2)  # past the 1 s a Refresh would leave: the Allocate alone did not end it
            reply, _ = await session.request(lambda: permit, "create-permission")
            alive = reply is not None and reply.msg_class == MessageClass.SUCCESS
            reply, _ = await session.request(lambda: Message(Method.REFRESH, MessageClass.REQUEST)
                                             .add(AttrType.LIFETIME, 600), "refresh")
            assert reply is not None and reply.msg_class == MessageClass.SUCCESS
            return alive, reply.find(AttrType.LIFETIME, int)
        finally:
            await client.close()

    alive, refreshed = asyncio.run(run())
    assert alive and refreshed == 0  # RFC 8656 §7.3: a Refresh success with LIFETIME 0 deletes
    deadline = time.monotonic() + 10
    while "delete: realm=<rtcdiag.test>, username=<alice>" not in server.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, server.log_tail(40)
        time.sleep(0.05)
    assert "reason: allocation timeout" in server.log_path.read_text(errors="replace")


def test_bps_capacity_without_max_bps_stops_coturn(tmp_path: Path) -> None:
    found = lint("bps-capacity=1000000\nmax-bps=0")
    assert found["LINT-BAD-VALUE"] == [Severity.ERROR]
    assert "LINT-NO-QUOTA" not in found  # the capacity is a limit (coturn just refuses to run with it alone)
    conf = tmp_path / "turnserver.conf"
    conf.write_text(f"listening-ip=127.0.0.1\nlistening-port=9\nno-tls\nno-dtls\nlog-file=stdout\n"
                    f"pidfile={tmp_path / 'pid'}\nuserdb={tmp_path / 'db'}\n"
                    "bps-capacity=1000000\nmax-bps=0\n")
    done = subprocess.run([turnserver_path(), "-c", str(conf)], capture_output=True, text=True, timeout=20)
    assert done.returncode != 0
    assert "you must set --max-bps" in done.stdout + done.stderr


def test_permission_lifetime_zero_as_this_coturn_version_reads_it(coturn_factory: Factory) -> None:
    """Before 4.13.0 a 0 s permission never expires (no timer); from 4.13.0 it expires within a second.
    lint says which for this coturn; the relay says the same: a Send 2.5 s after the CreatePermission."""
    version = local_version().version
    assert version is not None
    found = lint("permission-lifetime=0")
    never = version < V4_13_0
    assert found["LINT-ZERO-VALUE"] == [Severity.WARNING if never else Severity.ERROR]
    server = coturn_factory(CoturnOptions(users={"alice": PASSWORD}, extra_lines=("permission-lifetime=0",)))
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(2.0)

    async def run() -> bool:
        client, session = await _session(server)
        try:
            reply, _ = await session.request(allocate_request, "allocate")
            assert reply is not None and reply.msg_class == MessageClass.SUCCESS
            peer = Address.of(*sink.getsockname())
            reply, _ = await session.request(lambda: Message(Method.CREATE_PERMISSION, MessageClass.REQUEST)
                                             .add(AttrType.XOR_PEER_ADDRESS, peer), "create-permission")
            assert reply is not None and reply.msg_class == MessageClass.SUCCESS
            await asyncio.sleep(2.5)  # coturn's own timer: a 0 s permission is swept within a second (4.13+)
            send = Message(Method.SEND, MessageClass.INDICATION).add(AttrType.XOR_PEER_ADDRESS, peer)
            await client.send(send.add(AttrType.DATA, b"zero-lifetime").encode(), (server.host, server.port))
            try:
                return await asyncio.to_thread(sink.recv, 2048) == b"zero-lifetime"
            except TimeoutError:
                return False
        finally:
            await client.close()

    try:
        assert asyncio.run(run()) is never
    finally:
        sink.close()
