"""``rtcdiag browser``: a real headless Chromium (Debian's chromium through Playwright for Python) against a
real coturn on loopback. Skipped with the reason when Chromium or Playwright is not installed here (the
README's test command installs both).

Each test runs the command as a user would (a subprocess, credentials from the environment) and reads its JSON
report: the page's own records (candidates, icecandidateerror events, the calls) and the diagnosis made from
the run's webrtc-internals dump by ``rtcdiag analyze``'s rules.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn
from rtcdiag.probes.browser import unavailable_reason

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

USER = "browser-user"
PASSWORD = "browser-" + secrets.token_hex(10)
REST_SECRET = "rest-secret-" + secrets.token_hex(10)


@pytest.fixture(scope="module")
def healthy(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> RunningCoturn:
    return coturn_factory(CoturnOptions(users={USER: PASSWORD}, allow_loopback_peers=True))


def rtcdiag(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    """Run ``rtcdiag browser ... --json``; (exit code, report, stdout + stderr)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    environ.update(env or {})
    done = subprocess.run([sys.executable, "-m", "rtcdiag", "browser", *args, "--json"], capture_output=True,
                          text=True, env=environ, timeout=120)
    report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    return done.returncode, report, done.stdout + done.stderr


def roots(report: dict[str, Any]) -> list[str]:
    return [f["id"] for f in report["findings"] if not f.get("explained_by")]


def page(report: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = report["results"]["browser"]
    return result


def test_healthy_server_relay_candidates_and_relay_call(healthy: RunningCoturn, tmp_path: Path) -> None:
    dump = tmp_path / "run.json.gz"
    servers = tmp_path / "ice.json"
    urls = [f"turn:{healthy.hostport()}?transport=udp", f"turn:{healthy.hostport()}?transport=tcp"]
    servers.write_text(json.dumps([{"urls": urls, "username": USER, "credential": PASSWORD}]))
    code, report, text = rtcdiag("--ice-servers", str(servers), "--save-dump", str(dump))
    assert code == 0, text
    assert PASSWORD not in text
    run = page(report)
    alone = {g["urls"][0]: g for g in run["gatherings"] if len(g["urls"]) == 1}
    assert set(alone) == set(urls)
    for url in urls:  # each server alone gave its own relay candidate, and no error
        relays = [c for c in alone[url]["candidates"] if c["type"] == "relay"]
        assert relays and all(c["url"] == url for c in relays)
        assert alone[url]["errors"] == []
    tcp_relay = next(c for c in alone[urls[1]]["candidates"] if c["type"] == "relay")
    assert tcp_relay["relay_protocol"] == "tcp"
    calls = {c["label"]: c for c in run["calls"]}
    relay_call = calls["relay call"]
    assert relay_call["state"] == "connected" and relay_call["open"]
    assert relay_call["pair"]["local_type"] == "relay" and relay_call["pair"]["remote_type"] == "relay"
    assert relay_call["sent"] == 10 and relay_call["received"] == 10 and len(relay_call["rtts_ms"]) == 10
    assert calls["normal call"]["state"] == "connected"
    # aioice with the same servers got relay candidates too: the comparison agrees.
    table = next(t for t in report["tables"] if t["title"].startswith("Chromium and aioice"))
    assert [row[-1] for row in table["rows"]] == ["yes", "yes"]
    # The saved dump is the browser's own, has no credential, and `rtcdiag analyze` reads it the same way.
    saved = gzip.decompress(dump.read_bytes())
    assert PASSWORD.encode() not in saved and b"PeerConnections" in saved
    # The page's URL carries nothing (credentials reach the page only as evaluate's argument).
    assert {pc["url"] for pc in json.loads(saved)["PeerConnections"].values()} == {"http://localhost/rtcdiag"}
    assert all(PASSWORD not in line for line in run["console"])
    analyzed = subprocess.run([sys.executable, "-m", "rtcdiag", "analyze", str(dump), "--json"],
                              capture_output=True, text=True, timeout=60)
    assert analyzed.returncode == 0, analyzed.stdout[-2000:]


def test_wrong_password_is_chromiums_401_with_its_fix(healthy: RunningCoturn) -> None:
    url = f"turn:{healthy.hostport()}?transport=udp"
    code, report, text = rtcdiag(url, "-u", USER, "--no-compare",
                                 env={"RTCDIAG_TURN_PASSWORD": "wrong-pass-123"})
    assert code == 1, text
    assert roots(report) == ["ANALYZE-TURN-401"]
    finding = next(f for f in report["findings"] if f["id"] == "ANALYZE-TURN-401")
    assert "static-auth-secret" in finding["fix"] and url in finding["title"]
    errors = [e for g in page(report)["gatherings"] for e in g["errors"]]
    assert errors and {e["code"] for e in errors} == {401} and {e["url"] for e in errors} == {url}
    # The relay-only call failed because of it: a consequence, folded under the 401.
    failed = next(f for f in report["findings"] if f["id"] == "BROWSER-CALL-FAILED")
    assert failed["explained_by"].startswith("ANALYZE-TURN-401@")
    assert "wrong-pass-123" not in text


@pytest.fixture
def closed_tcp_port() -> Iterator[int]:
    """A loopback TCP port bound but not listening: a connect gets RST at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def test_nothing_listening_over_tcp_is_701(closed_tcp_port: int) -> None:
    url = f"turn:127.0.0.1:{closed_tcp_port}?transport=tcp"
    code, report, text = rtcdiag(url, "-u", USER, "--no-compare", env={"RTCDIAG_TURN_PASSWORD": PASSWORD})
    assert code == 1, text
    assert roots(report) == ["ANALYZE-TURN-UNREACHABLE"]
    errors = [e for g in page(report)["gatherings"] for e in g["errors"]]
    assert {e["code"] for e in errors} == {701}


def test_nothing_listening_over_udp_is_silence_within_the_timeout(closed_tcp_port: int) -> None:
    """Chromium reports 701 over UDP only after ~40 s of retransmissions; within --timeout it is silence:
    no relay candidate and no error, said as such (never a made-up 701)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    url = f"turn:127.0.0.1:{port}?transport=udp"
    code, report, text = rtcdiag(url, "-u", USER, "--no-compare", "--timeout", "2",
                                 env={"RTCDIAG_TURN_PASSWORD": PASSWORD})
    assert code == 1, text
    assert roots(report) == ["ANALYZE-TURN-NO-RELAY"]
    gathering = page(report)["gatherings"][0]
    assert gathering["state"] == "timeout" and gathering["errors"] == []


def test_rest_secret_server_passes(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    server = coturn_factory(CoturnOptions(static_auth_secret=REST_SECRET, allow_loopback_peers=True))
    url = f"turn:{server.hostport()}?transport=udp"
    code, report, text = rtcdiag(url, "-u", "alice", "--secret-env", "MY_TURN_SECRET", "--no-compare",
                                 env={"MY_TURN_SECRET": REST_SECRET})
    assert code == 0, text
    assert REST_SECRET not in text
    relay_call = next(c for c in page(report)["calls"] if c["label"] == "relay call")
    assert relay_call["state"] == "connected" and relay_call["received"] == relay_call["sent"] > 0


def test_rest_username_given_ready_made_is_used_as_is(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    """-u "expiry:user" with a secret: that very username (here one that expired in 2020), its password
    made with the secret: coturn refuses it, and Chromium's 401 says so."""
    server = coturn_factory(CoturnOptions(static_auth_secret=REST_SECRET, allow_loopback_peers=True))
    url = f"turn:{server.hostport()}?transport=udp"
    code, report, text = rtcdiag(url, "-u", "1600000000:alice", "--secret-env", "MY_TURN_SECRET",
                                 "--no-compare", "--relay-only", env={"MY_TURN_SECRET": REST_SECRET})
    assert code == 1, text
    assert roots(report) == ["ANALYZE-TURN-401"]
    assert REST_SECRET not in text


def test_peer_acl_refusing_the_peer(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    server = coturn_factory(CoturnOptions(users={USER: PASSWORD}, allow_loopback_peers=True,
                                          denied_peer_ips=("127.0.0.0-127.255.255.255",)))
    url = f"turn:{server.hostport()}?transport=udp"
    code, report, text = rtcdiag(url, "-u", USER, "--relay-only", "--no-compare",
                                 env={"RTCDIAG_TURN_PASSWORD": PASSWORD})
    assert code == 1, text
    assert set(roots(report)) == {"ANALYZE-RELAY-REFUSED"}
    run = page(report)
    assert [c["label"] for c in run["calls"]] == ["relay call"]  # --relay-only: no normal call
    assert run["calls"][0]["state"] != "connected"
    assert any(c["type"] == "relay" for c in run["gatherings"][0]["candidates"])  # allocations worked


def test_browser_path_that_is_not_a_browser_is_one_line_exit_2(tmp_path: Path) -> None:
    environ = dict(os.environ, RTCDIAG_TURN_PASSWORD="y" * 12)
    done = subprocess.run([sys.executable, "-m", "rtcdiag", "browser", "turn:127.0.0.1:3478", "-u", "x",
                           "--browser-path", str(tmp_path / "none")],
                          capture_output=True, text=True, timeout=60, env=environ)
    assert done.returncode == 2
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1
    assert "--browser-path" in done.stderr and "not an executable" in done.stderr


def test_turns_with_a_self_signed_certificate(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    """What Chromium does with a turns: server whose certificate is self-signed: it refuses the TLS handshake
    and reports only 701 "Failed to establish connection"; aioice on the same URL says the certificate was
    refused, so the root cause is the certificate, and the 701 is folded under it."""
    server = coturn_factory(CoturnOptions(users={USER: PASSWORD}, allow_loopback_peers=True,
                                          self_signed=True))
    url = f"turns:127.0.0.1:{server.tls_port}?transport=tcp"
    code, report, text = rtcdiag(url, "-u", USER, "--timeout", "5", env={"RTCDIAG_TURN_PASSWORD": PASSWORD})
    assert code == 1, text
    assert roots(report) == ["BROWSER-TURNS-CERTIFICATE"]
    errors = [e for g in page(report)["gatherings"] for e in g["errors"]]
    assert errors and {e["code"] for e in errors} == {701}
    # The dump alone says "no TLS connection: unreachable or certificate refused"; aioice decides it.
    unreachable = next(f for f in report["findings"] if f["id"] == "ANALYZE-TURNS-CONNECT-FAILED")
    assert unreachable["explained_by"].startswith("BROWSER-TURNS-CERTIFICATE@")
    certificate = next(f for f in report["findings"] if f["id"] == "BROWSER-TURNS-CERTIFICATE")
    assert "self-signed" in " ".join(certificate["evidence"])


def _check(*args: str) -> tuple[int, dict[str, Any], str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    environ["RTCDIAG_TURN_PASSWORD"] = PASSWORD
    done = subprocess.run([sys.executable, "-m", "rtcdiag", "check", *args, "--json"], capture_output=True,
                          text=True, env=environ, timeout=120)
    return done.returncode, json.loads(done.stdout), done.stdout + done.stderr


def test_check_browser_includes_the_chromium_run(healthy: RunningCoturn) -> None:
    url = f"turn:{healthy.hostport()}?transport=udp"
    code, report, text = _check(url, "-u", USER, "--checks", "turn", "--browser", "--timeout", "3")
    assert code == 0, text
    assert PASSWORD not in text
    titles = [t["title"] for t in report["tables"]]
    assert "Chromium calls (two peer connections in the page, data-channel echo)" in titles
    browser_cases = [c for c in report["checks"] if c["name"].startswith("browser/")]
    assert any(c["name"] == "browser/relay-call" and c["status"] == "pass" for c in browser_cases)
    calls = report["results"]["browser"][0]["page"]["calls"]
    relay_call = next(c for c in calls if c["label"] == "relay call")
    assert relay_call["state"] == "connected"


def test_check_browser_without_chromium_is_a_note(healthy: RunningCoturn,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """No browser here (RTCDIAG_CHROMIUM and PATH point at nothing): the other checks run, a note says why
    the browser did not."""
    from rtcdiag.commands import check as check_command
    from rtcdiag.probes import browser as driver

    monkeypatch.setattr(driver, "CHROMIUM_PATHS", ())
    monkeypatch.setenv("RTCDIAG_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("PATH", "/nonexistent")
    config = check_command._config_from_args(None, None, (f"turn:{healthy.hostport()}?transport=udp",), USER,
                                             PASSWORD, None, 600, ("turn",), (), None, False, 3.0)
    report = check_command.run_check(config, live=False, browser=True)
    assert report.exit_code == 0
    assert not any(c.name.startswith("browser/") for c in report.checks)
    assert any(n.startswith("--browser: not run: Chromium is not installed") for n in report.notes)


def test_check_browser_wrong_password_is_one_cause(healthy: RunningCoturn) -> None:
    """The TURN check and Chromium both meet the 401: one root cause (the TURN check's, which saw the
    server's answer itself), Chromium's own 401 and its failed relay call folded under it."""
    url = f"turn:{healthy.hostport()}?transport=udp"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    environ["RTCDIAG_TURN_PASSWORD"] = "wrong-pass-456"
    done = subprocess.run([sys.executable, "-m", "rtcdiag", "check", url, "-u", USER, "--checks", "turn",
                           "--browser", "--timeout", "3", "--json"], capture_output=True, text=True,
                          env=environ, timeout=120)
    report = json.loads(done.stdout)
    assert done.returncode == 1
    # A UDP-only configuration also gets the TURN-NO-TCP-FALLBACK warning; the errors have one root.
    errors = [f["id"] for f in report["findings"] if not f.get("explained_by") and f["severity"] == "error"]
    assert errors == ["TURN-AUTH-401"]
    chromium = next(f for f in report["findings"] if f["id"] == "ANALYZE-TURN-401")
    assert chromium["explained_by"].startswith("TURN-AUTH-401@")
