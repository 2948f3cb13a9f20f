"""The tool never collides with itself on quotas (issue 20 item 3), against real coturn with ``user-quota=1``.

Before: ``turn-check --transport udp,tcp`` got 486 on one transport because its own other transport held the
allocation, and two runs 0.3 s apart (two CI jobs) got 486 because coturn frees a released allocation on its
~1 s timer; the finding blamed "leaked allocations from clients that never released them". Now a 486 waits
until this run holds no other allocation under the user and the server had time to free the released ones,
then the Allocate is retried once; a 486 that persists says whether rtcdiag itself held one.
Ground truth: coturn's own log of the allocations it made and deleted.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn

PASSWORD = "quota-pw-7c1e"


def _argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "rtcdiag", *args, "-u", "alice", "--json"]


def _env() -> dict[str, str]:
    return {**os.environ, "RTCDIAG_TURN_PASSWORD": PASSWORD}


def _run(*args: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(_argv(*args), capture_output=True, text=True, timeout=90, env=_env())
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _allocations(server: RunningCoturn) -> int:
    """Allocations coturn made for alice (its log: one "new" session line each)."""
    log = server.log_path.read_text(errors="replace")
    return len(re.findall(r"new, realm=<[^>]*>, username=<alice>", log))


@pytest.fixture(scope="module")
def quota_one(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> RunningCoturn:
    return coturn_factory(CoturnOptions(users={"alice": PASSWORD}, user_quota=1, verbose=True))


def test_the_transports_of_one_run_do_not_cost_each_other_a_486(quota_one: RunningCoturn) -> None:
    before = _allocations(quota_one)
    code, report = _run("turn-check", quota_one.hostport(), "--transport", "udp,tcp")
    assert code == 0, report["findings"]
    legs = report["results"]["turn"][0]["transports"]
    assert all(t["allocated"] and t["released"] for t in legs)
    retried = [t for t in legs if t["quota_retry_after_s"] is not None]
    # With a quota of one, exactly one leg met the other's allocation, and waited its turn.
    assert len(retried) == 1 and retried[0]["quota_own_held"] == 1
    assert retried[0]["quota_retry_after_s"] >= 1.0
    assert "TURN-QUOTA-486" not in json.dumps(report["findings"])
    assert _allocations(quota_one) - before == 2  # coturn made both, one after the other


def test_two_runs_a_moment_apart_both_pass(quota_one: RunningCoturn) -> None:
    """Two CI jobs 0.3 s apart: the second meets the first's just-released allocation."""
    first = subprocess.Popen(_argv("turn-check", f"turn:127.0.0.1:{quota_one.port}"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    time.sleep(0.3)
    code, report = _run("turn-check", f"turn:127.0.0.1:{quota_one.port}")
    out, _ = first.communicate(timeout=90)
    assert first.returncode == 0, out[-2000:]
    assert code == 0, report["findings"]


def test_both_families_under_a_quota_of_one_pass(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    """--family both on coturn 4.6 (it ignores ADDITIONAL-ADDRESS-FAMILY): a separate IPv6 allocation per
    transport, four allocations of one user in one run, each in its turn."""
    from servers import HAVE_IPV6

    if not HAVE_IPV6:
        pytest.skip("no IPv6 loopback")
    server = coturn_factory(CoturnOptions(listening_ips=("127.0.0.1", "::1"), users={"alice": PASSWORD},
                                          user_quota=1))
    code, report = _run("turn-check", server.hostport(), "--transport", "udp,tcp", "--family", "both")
    assert code == 0, report["findings"]
    for leg in report["results"]["turn"][0]["transports"]:
        relays = {r["family"]: bool(r["relayed_address"]) for r in leg["relays"]}
        assert relays == {"ipv4": True, "ipv6": True}
    assert "TURN-QUOTA-486" not in {f["id"] for f in report["findings"]}


def test_check_with_two_urls_under_one_user_passes(quota_one: RunningCoturn) -> None:
    base = f"turn:127.0.0.1:{quota_one.port}"
    code, report = _run("check", f"{base}?transport=udp", f"{base}?transport=tcp", "--checks", "turn")
    assert code == 0, report["findings"]
    assert "TURN-QUOTA-486" not in {f["id"] for f in report["findings"]}


async def _hold_and_check(server: RunningCoturn) -> tuple[int, dict[str, Any]]:
    """Another client holds alice's one allocation while rtcdiag runs, then releases it."""
    from rtcdiag.net import UdpClient
    from rtcdiag.probes.turn_allocate import allocate_request
    from rtcdiag.probes.turn_session import Credentials, TurnSession
    from rtcdiag.protocol import AttrType, Message, MessageClass, Method
    from rtcdiag.protocol.transaction import RetransmitPolicy

    loop = asyncio.get_running_loop()
    client = await UdpClient.open(socket.AF_INET)
    session = TurnSession(client, ("127.0.0.1", server.port), "udp", [], loop.time(),
                          RetransmitPolicy.for_timeout(2))
    try:
        challenge, _ = await session.request(allocate_request, "allocate", authenticated=False)
        assert challenge is not None
        session.learn_challenge(challenge)
        session.set_credentials(Credentials("alice", PASSWORD))
        granted, _ = await session.request(allocate_request, "allocate (authenticated)")
        assert granted is not None and granted.msg_class == MessageClass.SUCCESS
        proc = await asyncio.create_subprocess_exec(*_argv("turn-check", f"turn:127.0.0.1:{server.port}"),
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                    env=_env())
        out, _ = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, json.loads(out)
    finally:
        release = Message(Method.REFRESH, MessageClass.REQUEST).add(AttrType.LIFETIME, 0)
        await session.request(lambda: release, "release")
        await client.close()


def test_a_quota_held_by_another_client_is_reported_and_rtcdiag_held_none(quota_one: RunningCoturn) -> None:
    time.sleep(1.2)  # the earlier tests' allocations are freed (coturn's timer)
    code, report = asyncio.run(_hold_and_check(quota_one))
    assert code == 1
    [finding] = [f for f in report["findings"] if f["id"] == "TURN-QUOTA-486"]
    assert "and its one retry" in finding["symptom"]
    assert "rtcdiag itself held no allocation under this user on this server" in finding["symptom"]
    (leg,) = report["results"]["turn"][0]["transports"]
    assert leg["quota_own_held"] == 0 and leg["quota_retry_after_s"] >= 1.0
    assert [s["step"] for s in leg["steps"]][-2:] == ["allocate (authenticated)",
                                                      "allocate (authenticated, retry after 486)"]
