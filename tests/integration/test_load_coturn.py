"""``rtcdiag load`` against real servers on loopback, judged against the server's own record.

coturn runs with verbose logging, so its log is the ground truth: the 486/508 it sent, every session's
``usage: rp=, rb=, sp=, sb=`` (client side) and ``peer usage`` counters, and the ``refreshed ... lifetime=0``
of every release. Each run is a few steps of a fraction of a second (the whole file stays within seconds):

- a 10-port relay range: the knee is the last step under 10 streams and the failure is 508;
- ``total-quota``: 486 Allocation Quota Reached after exactly that many allocations;
- ``bps-capacity`` over ``max-bps``: 486 Allocation Bandwidth Quota Reached after capacity / max-bps;
- ``max-bps`` below a stream's rate: loss, and the loss figure is what coturn's counters say;
- TCP as the client transport; SIGTERM in the middle of a step releases every allocation;
- node-turn: it drops every ChannelData a client sends, so the first step is all loss (the server's fault,
  never this machine's).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from free_ports import free_udp_block

from rtcdiag import exitcodes
from rtcdiag.coturn import CoturnOptions, RunningCoturn
from rtcdiag.evidence.coturn_log import read_coturn_log
from rtcdiag.probes.turn_load import LoadOptions, LoadResult, LoadStep, StepVerdict, run_load
from rtcdiag.probes.turn_load_result import TOOL_LATE_SHARE
from rtcdiag.triage.load import judge

PASSWORD = "load-pw-" + secrets.token_hex(6)
WAIT_S = 20.0
CONTROL_PER_SESSION = 4  # Allocate (401), Allocate, ChannelBind, Refresh LIFETIME=0: requests and answers


def _start(factory: Callable[[CoturnOptions], RunningCoturn], **kw: object) -> RunningCoturn:
    return factory(CoturnOptions(users={"alice": PASSWORD}, verbose=True, **kw))  # type: ignore[arg-type]


def _load(server: RunningCoturn, *steps: tuple[int, float], size: int = 200, step_s: float = 0.5,
          transport: str = "udp", **kw: object) -> LoadResult:
    port = server.port
    options = LoadOptions(transport=transport, steps=steps, size=size, step_s=step_s, username="alice",
                          password=PASSWORD, max_duration_s=30, **kw)  # type: ignore[arg-type]
    return asyncio.run(run_load(("127.0.0.1", port), f"turn:127.0.0.1:{port}", options))


def _log(server: RunningCoturn) -> str:
    return server.log_path.read_text(errors="replace")


def _wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def _released(log: str) -> int:
    return len(re.findall(r"refreshed, realm=<rtcdiag.test>, username=<alice>, lifetime=0", log))


def test_a_10_port_relay_range_is_the_knee_and_508_the_failure(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    low, high = free_udp_block(10)
    server = _start(coturn_factory, min_relay_port=low, max_relay_port=high)
    result = _load(server, (4, 20.0), (8, 20.0), (12, 20.0), (16, 20.0))
    assert [s.verdict for s in result.steps] == [StepVerdict.CLEAN, StepVerdict.CLEAN, StepVerdict.REFUSED]
    failure = result.steps[-1].failure
    assert failure is not None and failure.code == 508 and failure.held == 10
    assert result.knee is not None and result.knee.streams == 8
    judged = judge(result)
    assert [f.id for f in judged.findings] == ["LOAD-NO-PORTS"]
    assert result.server_process == f"turnserver (pid {server.pid})"  # found by its listening port
    assert result.steps[0].server_cpu_pct is not None
    # coturn's own record: it refused with 508 and released every allocation it made.
    _wait_for(lambda: _released(_log(server)) >= 10, "10 releases in coturn's log")
    log = read_coturn_log(server.log_path, "coturn")
    assert any(key.startswith("508") for key in log.quota)
    assert (result.allocations_made, result.released, _released(_log(server))) == (10, 10, 10)
    # coturn frees a released allocation's port on its next timer tick (up to a second later, its "delete"
    # line); then every relay port is free again and 10 allocations fit once more.
    _wait_for(lambda: len(re.findall(r"delete: realm=<rtcdiag.test>, username=<alice>", _log(server))) >= 10,
              "10 deletes")
    again = _load(server, (10, 5.0), step_s=0.2)
    assert again.steps[0].verdict is StepVerdict.CLEAN and again.allocations_made == 10


def test_total_quota_is_486_after_exactly_that_many(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    server = _start(coturn_factory, total_quota=6)
    result = _load(server, (4, 20.0), (8, 20.0))
    failure = result.steps[-1].failure
    assert failure is not None and (failure.code, failure.held) == (486, 6)
    assert failure.reason is not None and "bandwidth" not in failure.reason.lower()
    assert [f.id for f in judge(result).findings] == ["LOAD-QUOTA"]
    assert any(key.startswith("486") for key in read_coturn_log(server.log_path, "coturn").quota)


def test_bps_capacity_reserves_max_bps_per_allocation(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    server = _start(coturn_factory, extra_lines=("max-bps=1000", "bps-capacity=3000"))
    # 2 packets/s of 100 bytes: far below max-bps, so the refusal is the reservation, not the traffic.
    result = _load(server, (2, 2.0), (4, 2.0), (6, 2.0), size=100)
    assert result.steps[0].verdict is StepVerdict.CLEAN
    failure = result.steps[-1].failure
    assert failure is not None and (failure.code, failure.held) == (486, 3)  # ceil(3000 / 1000)
    assert [f.id for f in judge(result).findings] == ["LOAD-BANDWIDTH-QUOTA"]


def _coturn_counters(server: RunningCoturn) -> tuple[int, int, int]:
    """(data packets coturn accepted from the clients, relayed back to them, sessions): its usage lines."""
    log = read_coturn_log(server.log_path, "coturn")
    sessions = [s for s in log.sessions.values() if s.rp]
    accepted = sum(s.peer_sp for s in sessions)  # what it relayed on to the peer: all it accepted
    back = sum(s.sp - (s.rp - s.peer_sp) for s in sessions)  # sent to the client minus control answers
    return accepted, back, len(sessions)


def _pacer_was_late(step: LoadStep) -> bool:
    """The tool's own record says its pacer fell behind (a loaded machine): then, and only then, a step the
    bursts could spoil is the tool's limit (inconclusive), not the server's."""
    return step.late_packets > TOOL_LATE_SHARE * step.planned and "the pacer fell behind" in step.note


def test_loss_matches_coturns_own_counters(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    clean_server = _start(coturn_factory)
    clean = _load(clean_server, (2, 50.0), step_s=1.0)
    _wait_for(lambda: len(re.findall(r"peer usage", _log(clean_server))) >= 2, "usage lines")
    accepted, back, sessions = _coturn_counters(clean_server)
    step = clean.steps[0]
    assert sessions == 2 and step.tool_drops == 0
    late = step.verdict is StepVerdict.TOOL_LIMIT and _pacer_was_late(step)
    assert step.verdict is StepVerdict.CLEAN or late, (step.verdict, step.note)
    # Ground truth: every session made 4 control requests; what we sent is what coturn accepted and what it
    # sent back is what we counted as echoed.
    log = read_coturn_log(clean_server.log_path, "coturn")
    assert all(s.rp - s.peer_sp == CONTROL_PER_SESSION for s in log.sessions.values() if s.rp)
    assert (accepted, back) == (step.sent, step.echoed)

    # max-bps 4000 bytes/s against 2 streams of 50 x 204-byte ChannelData a second: coturn drops at ingress.
    capped_server = _start(coturn_factory, extra_lines=("max-bps=4000",))
    capped = _load(capped_server, (2, 50.0), step_s=1.0)
    _wait_for(lambda: len(re.findall(r"peer usage", _log(capped_server))) >= 2, "usage lines")
    accepted, back, _ = _coturn_counters(capped_server)
    lossy = capped.steps[0]
    assert lossy.tool_drops == 0
    coturn_loss = 100.0 * (lossy.sent - back) / lossy.sent
    assert lossy.loss_pct == pytest.approx(coturn_loss, abs=1.0)
    assert 20 < lossy.loss_pct < 90
    assert accepted == back  # what it accepted it relayed both ways: the drops were at its ingress cap
    if lossy.verdict is StepVerdict.TOOL_LIMIT:
        # A loaded machine: the pacer fell behind, and its bursts (at most its late packets) could explain
        # the loss. Honest, and inconclusive: never the server's LOAD-LOSS.
        assert _pacer_was_late(lossy) and lossy.lost <= lossy.late_packets, lossy.note
        judged = judge(capped)
        assert [f.id for f in judged.findings] == ["LOAD-TOOL-LIMIT"] and judged.facts.inconclusive
    else:
        assert lossy.verdict is StepVerdict.LOSS, (lossy.verdict, lossy.note)
        assert [f.id for f in judge(capped).findings] == ["LOAD-LOSS"]


def test_tcp_client_transport(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    server = _start(coturn_factory)
    result = _load(server, (2, 20.0), (4, 20.0), transport="tcp", step_s=0.4)
    assert [s.verdict for s in result.steps] == [StepVerdict.CLEAN, StepVerdict.CLEAN]
    assert result.steps[-1].echoed == result.steps[-1].sent > 0
    assert [f.id for f in judge(result).findings] == ["LOAD-HELD"]
    _wait_for(lambda: _released(_log(server)) >= 4, "4 releases")
    assert "tcp or tls connected to" in _log(server)


def test_sigterm_mid_step_releases_every_allocation(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    server = _start(coturn_factory)
    env = {**os.environ, "RTCDIAG_TURN_PASSWORD": PASSWORD}
    process = subprocess.Popen([sys.executable, "-m", "rtcdiag", "load", f"127.0.0.1:{server.port}", "-u",
                                "alice", "--streams", "5", "--rate", "10", "--step-seconds", "30", "--json"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: len(re.findall(r"CHANNEL_BIND processed, success", _log(server))) >= 5,
                  "5 channel binds")
        time.sleep(0.2)  # into the step
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    assert process.returncode == exitcodes.TERMINATED
    assert "terminated by SIGTERM (allocations released)" in stderr
    assert _released(_log(server)) == 5


def test_the_command_reports_the_knee_and_exit_1(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    server = _start(coturn_factory, total_quota=3)
    env = {**os.environ, "RTCDIAG_TURN_PASSWORD": PASSWORD}
    done = subprocess.run([sys.executable, "-m", "rtcdiag", "load", f"127.0.0.1:{server.port}", "-u", "alice",
                           "--streams", "2,4", "--rate", "10", "--step-seconds", "0.3", "--json"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == exitcodes.FINDING_ERROR, done.stderr
    report = json.loads(done.stdout)
    import jsonschema

    schema = Path(__file__).resolve().parents[2] / "rtcdiag" / "schema" / "report.schema.json"
    jsonschema.validate(report, json.loads(schema.read_text()))
    assert [f["id"] for f in report["findings"]] == ["LOAD-QUOTA"]
    assert report["notes"][0].startswith("rtcdiag load is for TURN servers you operate")
    assert report["results"]["steps"][0]["verdict"] == "clean"


# --- node-turn: a second TURN implementation --------------------------------------------------------------

PEERS = Path(__file__).resolve().parents[1] / "peers"
NODE = shutil.which("node") or shutil.which("nodejs")


@pytest.fixture
def node_turn() -> Iterator[int]:
    if NODE is None or not (PEERS / "node_modules" / "node-turn" / "package.json").is_file():
        pytest.skip("node-turn is not installed (npm ci --prefix tests/peers)")
    for _ in range(5):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        process = subprocess.Popen([NODE, str(PEERS / "node_turn.js"), str(port), "alice", "node-turn.test"],
                                   cwd=PEERS, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                   env={**os.environ, "NODE_TURN_PASSWORD": PASSWORD})
        assert process.stdout is not None
        if process.stdout.readline().strip() == f"ready {port}":
            break
        process.wait(5)
    else:
        pytest.fail("node-turn did not start")
    try:
        yield port
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_node_turn_drops_client_channeldata_so_the_first_step_is_loss(node_turn: int) -> None:
    # Its ChannelBind success carries no MESSAGE-INTEGRITY: discarded (RFC 8489 §9.2.5), the transaction waits
    # out its timeout before streaming anyway; a short one keeps the test quick.
    options = LoadOptions(steps=((2, 20.0), (4, 20.0)), step_s=0.4, username="alice", password=PASSWORD,
                          max_duration_s=20, timeout_s=1.0)
    result = asyncio.run(run_load(("127.0.0.1", node_turn), f"turn:127.0.0.1:{node_turn}", options))
    step = result.steps[0]
    assert result.allocations_made == 2 and step.sent > 0
    assert (step.echoed, step.tool_drops, step.verdict) == (0, 0, StepVerdict.LOSS)
    assert [f.id for f in judge(result).findings] == ["LOAD-LOSS"]


def test_this_machines_own_drops_are_never_the_servers_loss(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn], monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny socket buffers and a reader that looks only every tenth tick: this machine drops echoes itself.
    The step is the tool's limit (inconclusive), and coturn's counters show it relayed every packet back."""
    from rtcdiag.net import udp as transport
    from rtcdiag.probes.turn_load_sockets import PacerReader

    monkeypatch.setattr(transport, "UDP_RCVBUF", 2048)  # the kernel's smallest: a few datagrams
    original = PacerReader.read
    calls = [0]

    def sluggish(self: PacerReader) -> None:
        calls[0] += 1
        if calls[0] % 10 == 0:
            original(self)

    monkeypatch.setattr(PacerReader, "read", sluggish)
    server = _start(coturn_factory)
    result = _load(server, (4, 200.0), step_s=0.5)
    step = result.steps[0]
    assert step.tool_drops > 0 and step.verdict is StepVerdict.TOOL_LIMIT
    assert step.lost == 0  # every missing echo is one this machine dropped
    judged = judge(result)
    assert [f.id for f in judged.findings] == ["LOAD-TOOL-LIMIT"] and judged.facts.inconclusive
    _wait_for(lambda: len(re.findall(r"peer usage", _log(server))) >= 4, "usage lines")
    accepted, back, _ = _coturn_counters(server)
    assert accepted == step.sent  # the server took every packet...
    assert back >= step.sent - step.tool_drops  # ...and sent back at least all we did not drop ourselves


def test_tls_and_an_ipv6_client_with_an_ipv4_relay(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    """TURN over TLS (certificate checked against the server's own CA); and a client over IPv6 that gets an
    IPv4 relay (no REQUESTED-ADDRESS-FAMILY, as browsers ask): its echo peer must be IPv4 (RFC 8656 §9.1)."""
    from servers import HAVE_IPV6

    ips = ("127.0.0.1", "::1") if HAVE_IPV6 else ("127.0.0.1",)
    server = coturn_factory(CoturnOptions(users={"alice": PASSWORD}, self_signed=True, listening_ips=ips))
    assert server.tls_port is not None and server.ca_cert is not None
    tls = LoadOptions(transport="tls", steps=((2, 20.0),), step_s=0.3, username="alice", password=PASSWORD,
                      ca_file=str(server.ca_cert), server_name="127.0.0.1", max_duration_s=20)
    result = asyncio.run(run_load(("127.0.0.1", server.tls_port), "turns:127.0.0.1", tls))
    assert result.steps[0].verdict is StepVerdict.CLEAN and result.steps[0].echoed == result.steps[0].sent > 0
    if not HAVE_IPV6:
        return
    udp6 = LoadOptions(steps=((2, 20.0),), step_s=0.3, username="alice", password=PASSWORD, max_duration_s=20)
    result = asyncio.run(run_load(("::1", server.port), "turn:[::1]", udp6))
    step = result.steps[0]
    assert step.verdict is StepVerdict.CLEAN and step.echoed == step.sent > 0
