"""turn-check against real coturn instances on loopback (started by fixtures), through the CLI.

Runs that assert "no secret in the output" are subprocesses, so that only what rtcdiag itself registers for
redaction can hide the secret (the test process registers every fixture password).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn

Factory = Callable[[CoturnOptions], RunningCoturn]
ERIN = "erin-" + secrets.token_hex(8)


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    return subprocess.run([sys.executable, "-m", "rtcdiag", "turn-check", *args],
                          env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60)


def run_json(args: list[str], env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    proc = run([*args, "--json"], env)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def ids(report: dict[str, Any]) -> set[str]:
    return {f["id"] for f in report["findings"]}


def transports(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for server in report["results"]["turn"] for t in server["transports"]]


def alice_env(coturn: RunningCoturn) -> dict[str, str]:
    return {"RTCDIAG_TURN_USERNAME": "alice", "RTCDIAG_TURN_PASSWORD": coturn.users["alice"]}


def healthy_args(coturn: RunningCoturn) -> list[str]:
    assert coturn.tls_port is not None and coturn.ca_cert is not None
    return [f"127.0.0.1:{coturn.port}", "--tls-port", str(coturn.tls_port), "--ca", str(coturn.ca_cert)]


def test_healthy_three_transports_with_data_path(coturn: RunningCoturn) -> None:
    code, report = run_json(healthy_args(coturn), alice_env(coturn))
    assert code == 0, report["findings"]
    assert report["status"] == "pass"
    legs = transports(report)
    assert [t["transport"] for t in legs] == ["udp", "tcp", "tls"]
    for leg in legs:
        assert leg["challenge_code"] == 401 and leg["realm"] == coturn.realm
        assert leg["allocated"] and leg["relayed_address"].startswith("127.0.0.1:")
        assert leg["lifetime_s"] and leg["software"].startswith("Coturn")
        assert leg["refreshed"] is True and leg["released"] is True
        assert {d["method"] for d in leg["data_paths"]} == {"send-indication", "channel-data"}
        for data in leg["data_paths"]:
            assert data["packets_sent"] == 5 and data["packets_received"] == 5, data
            assert data["loss_pct"] == 0.0 and 0 < data["rtt_min_ms"] <= data["rtt_max_ms"] < 500
        steps = [s["step"] for s in leg["steps"]]
        assert steps[:2] == ["allocate (unauthenticated)", "allocate (authenticated)"]
        assert steps[-1] == "refresh (release, LIFETIME=0)"
    # Speed (issue 3: < 0.6 s for three transports) is measured in benchmarks/bench_turn.py, not asserted.
    assert report["results"]["turn"][0]["duration_ms"] > 0


def test_console_table_and_exit_code(coturn: RunningCoturn) -> None:
    proc = run([*healthy_args(coturn), "-u", "alice"], {"RTCDIAG_TURN_PASSWORD": coturn.users["alice"]})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("rtcdiag turn-check: PASS")
    lines = proc.stdout.splitlines()  # the verdict, one line per transport, the footer (issue 22)
    assert len(lines) == 5, proc.stdout
    for line, transport in zip(lines[1:4], ("udp", "tcp", "tls"), strict=True):
        assert line.split()[1] == transport and "relay 127.0.0.1:" in line and "0% loss (10/10), rtt" in line
    assert coturn.users["alice"] not in proc.stdout + proc.stderr
    verbose = run([*healthy_args(coturn), "-u", "alice", "-v"],
                  {"RTCDIAG_TURN_PASSWORD": coturn.users["alice"]})
    assert "relay address" in verbose.stdout and "Coturn" in verbose.stdout  # the table, the software note


def test_no_secret_in_any_output_format(coturn: RunningCoturn, tmp_path: Path) -> None:
    password = coturn.users["alice"]
    pw_file = tmp_path / "pw"
    pw_file.write_text(password + "\n")
    junit, md, js, txt = (tmp_path / n for n in ("r.xml", "r.md", "r.json", "r.txt"))
    proc = run([*healthy_args(coturn), "-u", "alice", "--password-file", str(pw_file), "--markdown",
                "--junit", str(junit), "--report-file", str(js)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc2 = run([*healthy_args(coturn), "-u", "alice", "--password-file", str(pw_file),
                 "--report-file", str(md)])
    proc3 = run([*healthy_args(coturn), "-u", "alice", "--password-file", str(pw_file),
                 "--report-file", str(txt)])
    outputs = [proc.stdout, proc.stderr, proc2.stdout, proc3.stdout, junit.read_text(), md.read_text(),
               js.read_text(), txt.read_text()]
    assert "<testsuite" in outputs[4] and "| transport |" in outputs[0]
    for text in outputs:
        assert password not in text


def test_wrong_password_is_an_auth_finding_and_nothing_is_allocated(coturn: RunningCoturn) -> None:
    code, report = run_json([f"127.0.0.1:{coturn.port}", "--transport", "udp,tcp", "-u", "alice",
                             "--password-env", "PW"], {"PW": "not-the-password"})
    assert code == 1
    assert ids(report) & {"TURN-AUTH-401", "TURN-AUTH-441"}
    finding = next(f for f in report["findings"] if f["id"].startswith("TURN-AUTH-"))
    assert finding["cause"] and finding["fix"]
    assert all(not t["allocated"] and t["authenticated"] for t in transports(report))


def test_no_credentials_is_inconclusive(coturn: RunningCoturn) -> None:
    code, report = run_json([f"127.0.0.1:{coturn.port}", "--transport", "udp"])
    assert code == 3
    assert ids(report) == {"TURN-NO-CREDENTIALS"}


@pytest.fixture(scope="module")
def rest_coturn(coturn_factory: Factory) -> RunningCoturn:
    return coturn_factory(CoturnOptions(static_auth_secret="rest-" + secrets.token_hex(8)))


def test_static_auth_secret_success(rest_coturn: RunningCoturn) -> None:
    assert rest_coturn.static_auth_secret is not None
    proc = run([f"127.0.0.1:{rest_coturn.port}", "--transport", "udp,tcp", "-u", "bob", "--json"],
               {"RTCDIAG_TURN_SECRET": rest_coturn.static_auth_secret})
    assert proc.returncode == 0, proc.stdout
    assert rest_coturn.static_auth_secret not in proc.stdout
    report = json.loads(proc.stdout)
    server = report["results"]["turn"][0]
    assert server["credential_kind"] == "rest" and server["username"].endswith(":bob")
    assert all(t["allocated"] for t in server["transports"])


def test_expired_rest_credentials(rest_coturn: RunningCoturn) -> None:
    assert rest_coturn.static_auth_secret is not None
    code, report = run_json([f"127.0.0.1:{rest_coturn.port}", "--transport", "udp", "-u", "1600000000:bob"],
                            {"RTCDIAG_TURN_SECRET": rest_coturn.static_auth_secret})
    assert code == 1
    assert "TURN-REST-EXPIRED" in ids(report)
    assert not transports(report)[0]["allocated"]


def test_tls_without_ca_is_untrusted(coturn: RunningCoturn) -> None:
    assert coturn.tls_port is not None
    code, report = run_json([f"turns:127.0.0.1:{coturn.tls_port}", "-u", "alice"], alice_env(coturn))
    assert code == 1
    assert ids(report) == {"TLS-UNTRUSTED"}
    assert transports(report)[0]["failure_kind"] == "tls:untrusted-certificate"


@pytest.fixture(scope="module")
def quota_coturn(coturn_factory: Factory) -> RunningCoturn:
    return coturn_factory(CoturnOptions(users={"carol": "carol-" + secrets.token_hex(8)}, user_quota=2,
                                        self_signed=True))


def test_own_transports_over_the_quota_take_turns_and_release(quota_coturn: RunningCoturn) -> None:
    env = {"RTCDIAG_TURN_PASSWORD": quota_coturn.users["carol"]}
    code, report = run_json([*healthy_args(quota_coturn), "-u", "carol"], env)
    # user-quota=2, three transports: the third met this run's own two allocations (486), waited until they
    # were released and freed, and was retried once (issue 20 item 3: never a 486 of rtcdiag's own making).
    assert code == 0, report["findings"]
    legs = transports(report)
    assert all(t["allocated"] and t["released"] is True for t in legs)
    [waited] = [t for t in legs if t["quota_retry_after_s"] is not None]
    # both other legs were this run's: held, or released a moment before the 486 (coturn counts an allocation
    # until its timer frees it, and so does the count of what the 486 met)
    assert waited["quota_own_held"] == 2
    assert "TURN-QUOTA-486" not in ids(report)
    # Nothing left behind: coturn frees a released UDP allocation on its next 1 s timer tick, so within a
    # few seconds both quota slots must be usable again (a leaked allocation would hold one for 600 s).
    # The polls use TCP and TLS only: coturn frees those at once when the connection closes, so a failed
    # poll cannot itself hold a slot into the next one.
    deadline = time.monotonic() + 5.0
    while True:
        proc = run([*healthy_args(quota_coturn), "--transport", "tcp,tls", "--no-peer-test", "-u", "carol"],
                   env)
        if proc.returncode == 0 or time.monotonic() > deadline:
            break
    assert proc.returncode == 0, proc.stdout


@pytest.fixture(scope="module")
def open_coturn(coturn_factory: Factory) -> RunningCoturn:
    return coturn_factory(CoturnOptions(no_auth=True))


def test_open_relay(open_coturn: RunningCoturn) -> None:
    code, report = run_json([f"127.0.0.1:{open_coturn.port}", "--transport", "udp"])
    assert code == 1
    assert "TURN-OPEN-RELAY" in ids(report)
    leg = transports(report)[0]
    assert leg["open_relay"] and leg["released"] is True


def test_refused_tcp_and_bad_usage(dead_port: int) -> None:
    code, report = run_json([f"127.0.0.1:{dead_port}", "--transport", "tcp", "-u", "x", "--password", "y"])
    assert code == 1
    assert ids(report) == {"SERVER-REFUSED"}
    proc = run(["127.0.0.1", "--transport", "sctp"])
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("rtcdiag: error: --transport")
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def quota1_coturn(coturn_factory: Factory) -> RunningCoturn:
    return coturn_factory(CoturnOptions(users={"dave": "dave-" + secrets.token_hex(8)}, user_quota=1))


def test_cancellation_mid_check_still_releases_the_allocation(quota1_coturn: RunningCoturn,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (task cancellation) while the data path runs: the finally must send Refresh LIFETIME=0.

    Over UDP closing the socket does not free a coturn allocation, so with user-quota=1 a new allocation
    only succeeds again if the release really went out (else the slot stays taken for 600 s).
    """
    from rtcdiag.probes import turn
    from rtcdiag.targets import parse_target

    target = parse_target(f"127.0.0.1:{quota1_coturn.port}", default_scheme="turn")
    options = turn.TurnCheckOptions(username="dave", password=quota1_coturn.users["dave"],
                                    transports=("udp",))

    async def scenario() -> None:
        allocated = asyncio.Event()

        async def hang(*args: object, **kwargs: object) -> list[object]:
            allocated.set()
            await asyncio.Event().wait()  # until cancelled
            return []

        monkeypatch.setattr(turn, "run_data_paths", hang)
        task = asyncio.create_task(turn.check(target, options))
        await asyncio.wait_for(allocated.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        monkeypatch.undo()
        deadline = time.monotonic() + 5.0
        while True:
            again = await turn.check(target, turn.TurnCheckOptions(
                username="dave", password=quota1_coturn.users["dave"], transports=("udp",), peer_test=False))
            leg = again.transports[0]
            if leg.allocated or time.monotonic() > deadline:
                break
            assert leg.error_code == 486
        assert leg.allocated and leg.released

    asyncio.run(scenario())


def test_release_never_overtakes_the_allocate_it_releases(coturn_factory: Factory) -> None:
    """Cancelled while its authenticated Allocate is on its way: the release must not arrive first.

    coturn answers a Refresh for a 5-tuple without an allocation with 437 at once, while an Allocate can still
    be waiting for its credentials on coturn's auth thread (seen under CPU load: REFRESH 437, then ALLOCATE
    success, and the next probe got 486 for 600 s). The same order arises on any network that reorders UDP.
    Here a delay proxy (the only hand-written piece: coturn is real) holds the authenticated Allocate for
    HOLD_S and lets everything else through, and the probe is cancelled the moment that Allocate reaches the
    proxy. Ground truth is coturn's own log (verbose) and its quota: with user-quota=1 a leaked allocation
    blocks every new one for its whole lifetime, a released one frees the slot within about a second."""
    from udp_proxies import DelayProxy

    from rtcdiag.probes import turn
    from rtcdiag.protocol import AttrType, Message
    from rtcdiag.targets import parse_target

    hold_s = 0.3
    server = coturn_factory(CoturnOptions(users={"dave": "dave-" + secrets.token_hex(8)}, user_quota=1,
                                          verbose=True))
    options = turn.TurnCheckOptions(username="dave", password=server.users["dave"], transports=("udp",))

    async def scenario() -> list[bool]:
        loop = asyncio.get_running_loop()
        holding: list[bool] = []
        probe: asyncio.Task[object] | None = None

        def delay_of(data: bytes, upward: bool) -> float:
            if not (upward and data[:2] == b"\x00\x03"):  # RFC 8656 §7.1: Allocate request
                return 0.0
            if Message.decode(data).get_raw(AttrType.MESSAGE_INTEGRITY) is None:
                return 0.0  # the unauthenticated Allocate that earns the 401 challenge
            if probe is not None and not holding:  # cancelled once, as a scrape deadline does
                loop.call_soon_threadsafe(probe.cancel)
            holding.append(True)
            return hold_s

        proxy = DelayProxy((server.host, server.port), delay_of=delay_of)
        try:
            via_proxy = parse_target(f"127.0.0.1:{proxy.port}", default_scheme="turn")
            probe = asyncio.create_task(turn.check(via_proxy, options))
            with pytest.raises(asyncio.CancelledError):
                await probe
        finally:
            await asyncio.to_thread(proxy.drained.wait, 5)
            proxy.close()
        return holding

    assert asyncio.run(scenario())  # the authenticated Allocate was held (retransmissions too) and cut off
    log = server.log_path.read_text()
    assert "ALLOCATE processed, success" in log, server.log_tail()
    assert "REFRESH processed, error 437" not in log, server.log_tail()  # the release came after it
    direct = parse_target(f"127.0.0.1:{server.port}", default_scheme="turn")
    deadline = time.monotonic() + 5.0  # a leaked allocation would hold the only slot for 600 s
    while True:
        again = asyncio.run(turn.check(direct, turn.TurnCheckOptions(
            username="dave", password=server.users["dave"], transports=("udp",), peer_test=False)))
        leg = again.transports[0]
        if leg.allocated or time.monotonic() > deadline:
            break
        assert leg.error_code == 486
        time.sleep(0.1)
    assert leg.allocated and leg.released


def test_a_busy_event_loop_as_the_release_starts_is_not_a_stopped_server(
        coturn: RunningCoturn, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another probe's CPU-heavy step holds the event loop for longer than the release's time bound just as
    the release starts (a loaded exporter running 8 probes at once). The bound must count from when the
    Refresh goes out, not from before: the healthy coturn answers it, so the allocation is released, not
    reported as a server that stopped answering (TURN-SERVER-STOPPED, seen under CPU load)."""
    from rtcdiag.probes import turn
    from rtcdiag.targets import parse_target

    real_cleanup = turn._cleanup

    async def busy_cleanup(*args: Any, **kwargs: Any) -> None:
        asyncio.get_running_loop().call_soon(time.sleep, turn.RELEASE_TIMEOUT_S + 0.5)  # the other probe
        await real_cleanup(*args, **kwargs)

    monkeypatch.setattr(turn, "_cleanup", busy_cleanup)
    target = parse_target(f"127.0.0.1:{coturn.port}", default_scheme="turn")
    result = asyncio.run(turn.check(target, turn.TurnCheckOptions(
        username="alice", password=coturn.users["alice"], transports=("udp",), peer_test=False)))
    leg = result.transports[0]
    assert leg.allocated and leg.released, leg.steps
    release = [ex for ex in leg.steps if ex.step.startswith("refresh (release")]
    assert [ex.outcome.value for ex in release] == ["success"]


@pytest.fixture(scope="module")
def no_udp_coturn(coturn_factory: Factory) -> RunningCoturn:
    """coturn with the UDP listener off (``no-udp``): TCP (and the relay, which is UDP) still work."""
    return coturn_factory(CoturnOptions(users={"erin": ERIN}, no_udp=True, allow_loopback_peers=True))


def junit_cases(path: Path) -> list[tuple[str, ET.Element]]:
    """(suite name, testcase) of every testcase in a JUnit file."""
    root = ET.parse(path).getroot()
    return [(suite.get("name", ""), case)
            for suite in root.iter("testsuite") for case in suite.iter("testcase")]


def assert_junit_fails_only_udp(path: Path, skip_reason: str) -> None:
    cases = junit_cases(path)
    names = [(suite, case.get("name", "")) for suite, case in cases]
    assert len(names) == len(set(names)), "testcase names must be unique within their suite"
    steps = ("connect", "challenge", "allocate", "relay-address", "data-send-indication",
             "data-channel-data", "refresh")
    assert sorted(name for _, name in names) == sorted(f"{t}/{s}" for t in ("udp", "tcp") for s in steps)
    failed = [case.get("name", "") for _, case in cases if case.find("failure") is not None]
    assert failed == ["udp/connect"]  # one failure: the later UDP steps are skipped, not failed again
    for _, case in cases:
        name = case.get("name", "")
        assert case.find("error") is None, name
        if name.startswith("tcp/"):  # every TCP testcase passes: no failure, not skipped
            assert case.find("failure") is None and case.find("skipped") is None, name
        skipped = case.find("skipped")
        if skipped is not None:
            assert name.startswith("udp/") and name != "udp/connect"
            message = skipped.get("message", "")
            assert skip_reason in message, message  # the real reason, not "skip: skip" / "not run"
    durations = [float(case.get("time", "0")) for _, case in cases]
    assert any(d > 0 for d in durations), durations  # measured, not all 0.000


def test_udp_disabled_fails_only_the_udp_testcases_with_one_root_cause(no_udp_coturn: RunningCoturn,
                                                                       tmp_path: Path) -> None:
    """The done-when of the engine conversion: coturn without UDP, checked over UDP and TCP."""
    junit = tmp_path / "out.xml"
    code, report = run_json([f"127.0.0.1:{no_udp_coturn.port}", "--transport", "udp,tcp", "-u", "erin",
                             "--junit", str(junit)], {"RTCDIAG_TURN_PASSWORD": ERIN})
    assert code == 1
    assert_junit_fails_only_udp(junit, "ICMP port unreachable")
    assert [r["id"] for r in report["root_causes"]] == ["SERVER-REFUSED"]  # nothing listens on UDP
    problems = [f for f in report["findings"] if f["severity"] in ("error", "warning")]
    assert [(f["id"], f["transport"], f["step"]) for f in problems] == [("SERVER-REFUSED", "udp", "connect")]
    tcp = next(t for t in transports(report) if t["transport"] == "tcp")
    assert tcp["allocated"] and all(d["packets_received"] == 5 for d in tcp["data_paths"])
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["udp/allocate"] == "skip" and statuses["tcp/data-channel-data"] == "pass"
    durations = {c["name"]: c["duration_s"] for c in report["checks"]}
    measured = [f"tcp/{s}" for s in ("connect", "challenge", "allocate", "data-send-indication",
                                     "data-channel-data", "refresh")] + ["udp/connect"]
    assert all(durations[name] > 0 for name in measured), durations  # each step's own measured time


def test_udp_dropped_while_tcp_answers_is_udp_blocked(no_udp_coturn: RunningCoturn, tmp_path: Path) -> None:
    """A UDP socket that swallows everything on coturn's port: UDP silence + TCP answers = UDP-BLOCKED."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", no_udp_coturn.port))
        junit = tmp_path / "out.xml"
        code, report = run_json([f"127.0.0.1:{no_udp_coturn.port}", "--transport", "udp,tcp", "-u", "erin",
                                 "--timeout", "0.5", "--junit", str(junit)], {"RTCDIAG_TURN_PASSWORD": ERIN})
    assert code == 1
    assert_junit_fails_only_udp(junit, "no answer over UDP")
    assert [r["id"] for r in report["root_causes"]] == ["UDP-BLOCKED"]
    assert "SERVER-UNREACHABLE" not in ids(report)
    connect = next(c for c in report["checks"] if c["name"] == "udp/connect")
    assert connect["duration_s"] >= 0.3  # the time spent waiting for the silent server


def test_unresolvable_name_is_one_dns_finding_and_skipped_steps() -> None:
    code, report = run_json(["turn.invalid:3478", "--transport", "udp,tcp", "-u", "x", "--password", "y",
                             "--timeout", "1"])
    assert code == 1
    where = [(f["id"], f["transport"], f["step"]) for f in report["findings"]]
    assert where == [("DNS-FAILURE", None, "resolve")]
    assert [r["id"] for r in report["root_causes"]] == ["DNS-FAILURE"]
    skipped = [c for c in report["checks"] if c["name"] != "resolve"]
    assert len(skipped) == 14
    assert all(c["status"] == "skip" and c["message"].startswith("name does not resolve") for c in skipped)


def _ice_file(tmp_path: Path, coturn: RunningCoturn, urls: list[str]) -> Path:
    path = tmp_path / "ice-servers.json"
    path.write_text(json.dumps({"iceServers": [
        {"urls": [f"stun:127.0.0.1:{coturn.port}"]},
        {"urls": urls, "username": "alice", "credential": coturn.users["alice"]},
    ]}))
    return path


def test_ice_servers_file_is_checked_exactly_as_a_browser_uses_it(coturn: RunningCoturn,
                                                                  tmp_path: Path) -> None:
    """A real iceServers list (a stun: entry and a bare turn: URL): the stun: entry gets a Binding, turn:
    without ?transport= is UDP only (no TLS on 5349, no TCP), and the missing TCP/TLS fallback is a warning.
    Before: exit 2 "is not a TURN server"; without the stun: entry, exit 1 from a TLS leg on 5349."""
    ice = _ice_file(tmp_path, coturn, [f"turn:127.0.0.1:{coturn.port}"])
    code, report = run_json([str(ice)])
    assert code == 0, report["findings"]
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the test extra")
    from rtcdiag.report import json_report

    jsonschema.Draft202012Validator(json_report.load_schema()).validate(report)
    legs = transports(report)
    assert [(t["transport"], t["allocated"]) for t in legs] == [("udp", True)]
    stun = report["results"]["stun"]
    assert [(b["transport"], b["outcome"]) for b in stun] == [("udp", "success")]
    assert stun[0]["mapped_address"].startswith("127.0.0.1:")
    warnings = [f for f in report["findings"] if f["severity"] == "warning"]
    assert [f["id"] for f in warnings] == ["TURN-NO-TCP-FALLBACK"]
    # The URLs to add, never a turns: URL by IP address (a browser checks the name; issue 22).
    assert warnings[0]["snippet"] == ["turns:<the host name on its certificate>:443?transport=tcp",
                                      f"turn:127.0.0.1:{coturn.port}?transport=tcp"]
    assert coturn.users["alice"] not in json.dumps(report)


def test_ice_servers_file_with_tcp_and_tls_urls_has_no_fallback_warning(coturn: RunningCoturn,
                                                                        tmp_path: Path) -> None:
    assert coturn.tls_port is not None and coturn.ca_cert is not None
    ice = _ice_file(tmp_path, coturn, [f"turn:127.0.0.1:{coturn.port}?transport=udp",
                                       f"turn:127.0.0.1:{coturn.port}?transport=tcp",
                                       f"turns:127.0.0.1:{coturn.tls_port}?transport=tcp"])
    code, report = run_json([str(ice), "--ca", str(coturn.ca_cert)])
    assert code == 0, report["findings"]
    assert [t["transport"] for t in transports(report)] == ["udp", "tcp", "tls"]
    assert "TURN-NO-TCP-FALLBACK" not in ids(report)
    fallback = [c for c in report["checks"] if c["name"].endswith("fallback")]
    assert fallback and all(c["status"] == "pass" for c in fallback)


def test_turn_check_and_check_agree_on_a_bare_turn_url(coturn: RunningCoturn, tmp_path: Path) -> None:
    """The same iceServers file: turn-check and check test the same transports and give the same verdict."""
    ice = _ice_file(tmp_path, coturn, [f"turn:127.0.0.1:{coturn.port}"])
    code, report = run_json([str(ice)])
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "check", "--ice-servers", str(ice),
                           "--checks", "stun,turn", "--json"], capture_output=True, text=True, timeout=60)
    checked = json.loads(proc.stdout)
    assert (code, proc.returncode) == (0, 0), (report["findings"], checked["findings"])
    turn_legs = {t["transport"] for server in checked["results"]["turn"] for result in server
                 for t in result["transports"]}
    assert turn_legs == {t["transport"] for t in transports(report)} == {"udp"}
    assert "TURN-NO-TCP-FALLBACK" in {f["id"] for f in checked["findings"]}


def test_transport_options_conflict_with_uris_only() -> None:
    for extra in (["--transport", "tcp"], ["--tls-port", "443"]):
        proc = run(["turn:127.0.0.1:9", *extra])
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "only apply to HOST[:PORT]" in lines[0], proc.stderr
    proc = run(["stun:127.0.0.1:9"])
    assert proc.returncode == 2 and "rtcdiag stun" in proc.stderr
