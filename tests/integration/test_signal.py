"""``rtcdiag signal`` against real peers on loopback (tests/signal_peers.py): WebSocket echo servers (the
``websockets`` library), nginx as a reverse proxy (correct, without the Upgrade headers, HTTP/1.0 to the
backend, proxy_read_timeout 3s, answering itself, redirecting, a dead upstream, auth_basic), haproxy
(``timeout tunnel 2s``), squid as a forward proxy (CONNECT only to its SSL_ports; ssl_bump interception with a
CA this test makes, passing or not the upgrade) and tinyproxy (ConnectPort; BasicAuth).

Each verdict is compared with what the peer did (its own access log, its status line), healthy cells
included. The only hand-written server (:func:`_hostile`) answers what no real peer sends: a 101 with a wrong
Sec-WebSocket-Accept, and an endless HTTP head.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rtcdiag import exitcodes
from rtcdiag.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from free_ports import free_port
from signal_peers import Peers, missing, peers

pytestmark = pytest.mark.skipif(bool(missing()), reason=f"not installed: {' '.join(missing())} "
                                "(apt-get install -y nginx haproxy squid-openssl tinyproxy openssl)")

TUNNEL_S = 2  # haproxy timeout tunnel
PROXY_PASSWORD = "tiny-s3cret-pass"


@dataclass
class Lab:
    root: Path
    peers: Peers
    ws: int  # echo, cleartext
    wss: int  # echo, TLS (certificate from server_ca for 127.0.0.1)
    origin: int  # accepts only Origin https://app.example.com
    subproto: int  # 403 without Sec-WebSocket-Protocol: chat
    small: int  # max message 16 KiB (1009 beyond)
    silent: int  # no echo
    nginx: int
    nginx_log: Path
    haproxy: int
    squid: int  # CONNECT only to SSL_ports = the nginx port (the "443" of this lab)
    squid_bump_up: int
    squid_bump_no: int
    squid_log: Path
    tinyproxy: int  # ConnectPort = the nginx port
    tinyproxy_auth: int
    server_ca: Path
    both_cas: Path


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    # Not under pytest's tmp_path (mode 0700 for root): squid and tinyproxy drop to their own users.
    root = Path(tempfile.mkdtemp(prefix="rtcdiag-signal-"))
    root.chmod(0o755)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        started = cleanup.enter_context(peers(root))
        server_ca = started.make_ca("server-ca", "rtcdiag test server CA")
        inspection_ca = started.make_ca("inspection-ca", "rtcdiag test inspection CA")
        cert, key = started.make_server_cert(server_ca)
        ports = started.echo_servers({
            "ws": [], "wss": ["--cert", str(cert), "--key", str(key)],
            "origin": ["--origin", "https://app.example.com"],
            "subproto": ["--subprotocol", "chat", "--require-subprotocol"],
            "small": ["--max-size", "16384"], "silent": ["--silent"]})
        nginx = free_port()
        nginx_log = started.nginx(nginx, ports["ws"], free_port())
        haproxy = free_port()
        started.haproxy(haproxy, ports["ws"], TUNNEL_S)
        squid = [free_port() for _ in range(3)]
        squid_log = started.squid(plain=squid[0], bump_upgrade=squid[1], bump_no_upgrade=squid[2],
                                  ssl_ports=nginx, inspection_ca=inspection_ca, server_ca=server_ca[0])
        tiny, tiny_auth = free_port(), free_port()
        started.tinyproxy(tiny, nginx)
        started.tinyproxy(tiny_auth, nginx, ("rtcdiag", PROXY_PASSWORD))
        both = root / "both-cas.pem"
        both.write_text(server_ca[0].read_text() + inspection_ca[0].read_text())
        yield Lab(root, started, ports["ws"], ports["wss"], ports["origin"], ports["subproto"],
                  ports["small"],
                  ports["silent"], nginx, nginx_log, haproxy, squid[0], squid[1], squid[2], squid_log, tiny,
                  tiny_auth, server_ca[0], both)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    """``rtcdiag signal ARGS --json`` through the real entry point: (exit code, report, raw output)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["signal", *args, "--json", "--no-proxy" if not any(a.startswith("--proxy") for a in args) else
              "--timeout=3"])
    out = capsys.readouterr().out
    return int(exit_info.value.code or 0), json.loads(out), out


def roots(report: dict[str, Any]) -> set[str]:
    return {r["id"] for r in report["root_causes"]}


def ids(report: dict[str, Any]) -> set[str]:
    return {f["id"] for f in report["findings"]}


def finding(report: dict[str, Any], finding_id: str) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["id"] == finding_id)


def url_result(report: dict[str, Any]) -> dict[str, Any]:
    return report["results"]["urls"][0]  # type: ignore[no-any-return]


def log_lines(path: Path, since: int) -> list[str]:
    return path.read_text().splitlines()[since:]


def log_len(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def logged(path: Path, since: int, *parts: str) -> bool:
    """squid writes a tunnel's line, nginx a request's, when it is finalised, which may be after the check
    read the answer and returned (seen under load for a proxied 426): wait for it (2 s at most)."""
    deadline = time.monotonic() + 2.0
    while True:
        if any(all(p in line for p in parts) for line in log_lines(path, since)):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def squid_logged(lab: Lab, since: int, *parts: str) -> bool:
    return logged(lab.squid_log, since, *parts)


# --- healthy cells ---------------------------------------------------------------------------------------

def test_healthy_direct_echo_server(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.ws}/")
    assert code == exitcodes.OK
    assert roots(report) == {"SIGNAL-CLEARTEXT"}  # the only finding: a warning
    url = url_result(report)
    assert url["upgrade"]["answer"]["status"] == 101 and url["upgrade"]["accept_valid"] is True
    assert url["echo"]["echo"] == "echoed" and url["echo"]["ping_rtt_ms"] > 0
    assert url["message"]["accepted"] is True and url["message"]["echoed_intact"] is True
    assert url["message"]["size"] == 32768 and url["closed_cleanly"] is True


def test_healthy_wss_and_through_nginx_and_squid(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = run(capsys, f"wss://127.0.0.1:{lab.wss}/", "--ca", str(lab.server_ca))
    assert (code, ids(report)) == (exitcodes.OK, set())
    assert url_result(report)["tls"]["info"]["trusted"] is True
    before = log_len(lab.nginx_log)
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.nginx}/good")
    assert (code, ids(report)) == (exitcodes.OK, {"SIGNAL-CLEARTEXT"})
    assert logged(lab.nginx_log, before, '"GET /good HTTP/1.1" 101')
    before = log_len(lab.squid_log)
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.nginx}/good", "--proxy", f"127.0.0.1:{lab.squid}")
    assert (code, ids(report)) == (exitcodes.OK, {"SIGNAL-CLEARTEXT"})
    assert url_result(report)["proxy_step"]["answer"]["status"] == 200
    assert squid_logged(lab, before, "TCP_TUNNEL/200", f"CONNECT 127.0.0.1:{lab.nginx}")


def test_a_silent_server_is_not_an_echo_server_and_still_passes(lab: Lab,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.silent}/")
    assert (code, ids(report)) == (exitcodes.OK, {"SIGNAL-CLEARTEXT"})
    url = url_result(report)
    assert url["echo"]["echo"] == "none" and url["message"]["accepted"] is True
    assert url["message"]["echoed_intact"] is None


# --- reverse proxies -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "status", "finding_id"), [
    ("/noupgrade", 505, "SIGNAL-UPGRADE-HEADERS-DROPPED"),  # nginx's default: HTTP/1.0 to the backend
    ("/noheaders", 426, "SIGNAL-UPGRADE-HEADERS-DROPPED"),  # HTTP/1.1, no Upgrade/Connection
    ("/static", 200, "SIGNAL-UPGRADE-IGNORED"),
    ("/redirect", 301, "SIGNAL-UPGRADE-REDIRECT"),
    ("/dead", 502, "SIGNAL-UPGRADE-BAD-GATEWAY"),
    ("/auth", 401, "SIGNAL-UPGRADE-UNAUTHORIZED"),
])
def test_nginx_answers_are_diagnosed(lab: Lab, capsys: pytest.CaptureFixture[str], path: str, status: int,
                                     finding_id: str) -> None:
    before = log_len(lab.nginx_log)
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.nginx}{path}")
    assert code == exitcodes.FINDING_ERROR
    assert roots(report) == {finding_id, "SIGNAL-CLEARTEXT"}
    assert url_result(report)["upgrade"]["answer"]["status"] == status
    assert logged(lab.nginx_log, before, f'"GET {path} HTTP/1.1" {status}')  # what nginx itself answered
    assert len(log_lines(lab.nginx_log, before)) == 1
    if finding_id == "SIGNAL-UPGRADE-REDIRECT":
        assert "https://127.0.0.1/elsewhere" in finding(report, finding_id)["symptom"]  # shown, not followed
    if finding_id == "SIGNAL-UPGRADE-HEADERS-DROPPED":
        assert "proxy_set_header Upgrade $http_upgrade" in finding(report, finding_id)["fix"]


@pytest.mark.parametrize(("where", "cut_s"), [("nginx", 3.0), ("haproxy", float(TUNNEL_S))])
def test_idle_timeouts_of_nginx_and_haproxy(lab: Lab, capsys: pytest.CaptureFixture[str], where: str,
                                            cut_s: float) -> None:
    url = f"ws://127.0.0.1:{lab.nginx}/short" if where == "nginx" else f"ws://127.0.0.1:{lab.haproxy}/"
    started = time.monotonic()
    code, report, _ = run(capsys, url, "--idle", f"{cut_s + 2}")
    assert code == exitcodes.FINDING_ERROR and "SIGNAL-IDLE-TIMEOUT" in roots(report)
    idle = url_result(report)["idle"]
    assert cut_s - 0.2 <= idle["survived_s"] < cut_s + 1.0  # proxy_read_timeout 3s / timeout tunnel 2s
    assert idle["closed"]["code"] is None  # the proxy closes the TCP connection, no close frame
    interval = finding(report, "SIGNAL-IDLE-TIMEOUT")["params"]["interval"]
    assert interval == str(max(1, int(idle["survived_s"] / 2)))
    assert time.monotonic() - started < cut_s + 2.0  # the check stops when the connection ends


def test_idle_connection_that_survives_answers_a_ping(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.nginx}/good", "--idle", "1", "--message-size", "0")
    assert (code, ids(report)) == (exitcodes.OK, {"SIGNAL-CLEARTEXT"})
    idle = url_result(report)["idle"]
    assert idle["alive_after"] is True and idle["survived_s"] >= 1.0
    assert url_result(report)["message"] is None


# --- the server's own rules --------------------------------------------------------------------------------

def test_origin_checks(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.origin}/")  # default Origin http://127.0.0.1
    assert code == exitcodes.FINDING_ERROR and "SIGNAL-UPGRADE-FORBIDDEN" in roots(report)
    assert "Origin: http://127.0.0.1" in finding(report, "SIGNAL-UPGRADE-FORBIDDEN")["symptom"]
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.origin}/", "--origin", "https://app.example.com")
    assert (code, ids(report)) == (exitcodes.OK, {"SIGNAL-CLEARTEXT"})
    # The app's own origin on another domain is never taken for a foreign one; --foreign-origin tests it.
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.origin}/", "--origin", "https://app.example.com",
                          "--foreign-origin", "https://evil.example")
    assert (code, ids(report)) == (exitcodes.OK, {"SIGNAL-CLEARTEXT"})
    assert url_result(report)["foreign_origin"]["status"] == 403
    # A server without an Origin list accepts the foreign origin: cross-site WebSocket hijacking.
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.ws}/", "--foreign-origin", "https://evil.example")
    assert code == exitcodes.OK and "SIGNAL-ORIGIN-NOT-CHECKED" in roots(report)
    assert url_result(report)["foreign_origin"]["status"] == 101


def test_subprotocols(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.subproto}/")
    assert code == exitcodes.FINDING_ERROR and "SIGNAL-UPGRADE-FORBIDDEN" in roots(report)
    assert "no Sec-WebSocket-Protocol" in finding(report, "SIGNAL-UPGRADE-FORBIDDEN")["symptom"]
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.subproto}/", "--subprotocol", "chat")
    assert (code, ids(report)) == (exitcodes.OK, {"SIGNAL-CLEARTEXT"})
    assert url_result(report)["upgrade"]["protocol"] == "chat"
    # A server that knows no subprotocol answers 101 without one: browsers fail that connection.
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.ws}/", "--subprotocol", "chat")
    assert code == exitcodes.FINDING_ERROR and "SIGNAL-SUBPROTOCOL-MISSING" in roots(report)


def test_message_size_limit(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.small}/", "--message-size", "16000")
    assert (code, ids(report)) == (exitcodes.OK, {"SIGNAL-CLEARTEXT"})
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.small}/", "--message-size", "40000")
    assert code == exitcodes.FINDING_ERROR and "SIGNAL-MESSAGE-TOO-BIG" in roots(report)
    assert url_result(report)["message"]["closed"]["code"] == 1009  # websockets' own max_size close


# --- forward proxies ----------------------------------------------------------------------------------------

def test_squid_refuses_connect_to_another_port(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"wss://127.0.0.1:{lab.wss}/"
    before = log_len(lab.squid_log)
    code, report, _ = run(capsys, url, "--ca", str(lab.server_ca), "--proxy", f"http://127.0.0.1:{lab.squid}")
    assert code == exitcodes.FINDING_ERROR and roots(report) == {"SIGNAL-PROXY-REFUSED"}
    assert "--try-port 443" in finding(report, "SIGNAL-PROXY-REFUSED")["fix"]
    assert squid_logged(lab, before, "TCP_DENIED/403", f"CONNECT 127.0.0.1:{lab.wss}")
    # --try-port: the proxy opens the allowed port (the lab's "443") to the same host: one root, serve there.
    code, report, _ = run(capsys, url, "--ca", str(lab.server_ca), "--proxy", f"http://127.0.0.1:{lab.squid}",
                          "--try-port", str(lab.nginx))
    assert roots(report) == {"SIGNAL-PROXY-PORT-REFUSED"}
    refused = finding(report, "SIGNAL-PROXY-PORT-REFUSED")
    assert refused["params"]["alt_port"] == str(lab.nginx) and "port 443" in refused["fix"]
    steps = {c["name"]: c["status"] for c in report["checks"]}
    assert steps["tls/tls"] == "skip" and steps["tls/upgrade"] == "skip"


def test_tinyproxy_connect_port_and_basic_auth(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = run(capsys, f"wss://127.0.0.1:{lab.wss}/", "--ca", str(lab.server_ca),
                          "--proxy", f"http://127.0.0.1:{lab.tinyproxy}")
    assert roots(report) == {"SIGNAL-PROXY-PORT-REFUSED"}  # told by tinyproxy's own words about the port
    assert url_result(report)["proxy_step"]["answer"]["status"] == 403
    good = f"ws://127.0.0.1:{lab.nginx}/good"
    code, report, _ = run(capsys, good, f"ws://127.0.0.1:{lab.nginx}/noheaders",
                          "--proxy", f"http://127.0.0.1:{lab.tinyproxy_auth}")
    auth = [f for f in report["findings"] if f["id"] == "SIGNAL-PROXY-AUTH"]
    assert len(auth) == 1 and auth[0]["subject"] == f"proxy http://127.0.0.1:{lab.tinyproxy_auth}"  # once
    assert "Basic" in auth[0]["symptom"]
    code, report, out = run(capsys, good, "--proxy", f"http://rtcdiag:{PROXY_PASSWORD}@127.0.0.1:{lab.tinyproxy_auth}")
    assert (code, ids(report)) == (exitcodes.OK, {"SIGNAL-CLEARTEXT"})
    assert PROXY_PASSWORD not in out and "rtcdiag:***@" in out


def test_proxy_from_the_environment_and_no_proxy(lab: Lab, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{lab.squid}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(SystemExit):
        main(["signal", f"ws://127.0.0.1:{lab.nginx}/good", "--json"])
    report = json.loads(capsys.readouterr().out)
    url = url_result(report)
    assert (url["proxy_source"], url["proxy_variable"]) == ("environment", "http_proxy")
    assert url["proxy_step"]["answer"]["status"] == 200
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.0/8")
    with pytest.raises(SystemExit):
        main(["signal", f"ws://127.0.0.1:{lab.nginx}/good", "--json"])
    url = url_result(json.loads(capsys.readouterr().out))
    assert url["proxy_source"] == "NO_PROXY" and url["proxy_step"] is None


def test_a_dead_proxy_is_one_root_for_every_url(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    dead = free_port()
    code, report, _ = run(capsys, f"ws://127.0.0.1:{lab.nginx}/good", f"ws://127.0.0.1:{lab.ws}/",
                          "--proxy", f"http://127.0.0.1:{dead}")
    assert code == exitcodes.FINDING_ERROR
    assert [f["id"] for f in report["findings"]].count("SIGNAL-PROXY-UNREACHABLE") == 1


# --- TLS interception (squid ssl_bump) ----------------------------------------------------------------------

def test_squid_ssl_bump_is_named_as_interception(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"wss://127.0.0.1:{lab.wss}/"
    # The proxy's CA is not trusted here: interception is the root (an error), not "untrusted certificate".
    code, report, _ = run(capsys, url, "--ca", str(lab.server_ca), "--proxy", f"http://127.0.0.1:{lab.squid_bump_up}")
    assert code == exitcodes.FINDING_ERROR and roots(report) == {"SIGNAL-TLS-INTERCEPTED"}
    intercepted = finding(report, "SIGNAL-TLS-INTERCEPTED")
    assert intercepted["severity"] == "error" and "inspection CA" in intercepted["symptom"]
    assert "server CA" in intercepted["symptom"]
    # Trusted (both CAs) and passing the upgrade: a warning; the WebSocket works through it.
    code, report, _ = run(capsys, url, "--ca", str(lab.both_cas), "--proxy", f"http://127.0.0.1:{lab.squid_bump_up}")
    assert (code, roots(report)) == (exitcodes.OK, {"SIGNAL-TLS-INTERCEPTED"})
    assert url_result(report)["echo"]["echo"] == "echoed"
    # The same interception without http_upgrade_request_protocols: the upgrade is what breaks.
    before = log_len(lab.squid_log)
    code, report, _ = run(capsys, url, "--ca", str(lab.both_cas), "--proxy", f"http://127.0.0.1:{lab.squid_bump_no}")
    assert code == exitcodes.FINDING_ERROR
    assert roots(report) == {"SIGNAL-INSPECTION-BLOCKS-UPGRADE", "SIGNAL-TLS-INTERCEPTED"}
    # squid relayed a plain GET: the server answered 426
    assert squid_logged(lab, before, "/426", f"GET https://127.0.0.1:{lab.wss}/")
    # Directly, the same server is healthy: no interception claimed.
    code, report, _ = run(capsys, url, "--ca", str(lab.server_ca))
    assert (code, ids(report)) == (exitcodes.OK, set())


# --- what no real peer sends --------------------------------------------------------------------------

def _hostile(mode: str) -> tuple[int, threading.Event]:
    """Hand-written: accept one connection at a time, read the request, answer by ``mode`` — "bad-accept"
    (101 with a wrong Sec-WebSocket-Accept) or "endless-head" (an HTTP head that never ends)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(4096)
                if mode == "bad-accept":
                    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\n"
                                 b"Sec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n")
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                    for _ in range(200):  # 200 x 1 KiB of headers: more than the 16 KiB a head may take
                        try:
                            conn.sendall(b"X-Filler: " + b"a" * 1000 + b"\r\n")
                        except OSError:
                            break
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], stop


@pytest.mark.parametrize(("mode", "finding_id"), [("bad-accept", "SIGNAL-UPGRADE-INVALID"),
                                                  ("endless-head", "SIGNAL-UPGRADE-NO-ANSWER")])
def test_hostile_answers_are_bounded_and_diagnosed(capsys: pytest.CaptureFixture[str], mode: str,
                                                   finding_id: str) -> None:
    port, stop = _hostile(mode)
    try:
        code, report, _ = run(capsys, f"ws://127.0.0.1:{port}/")
    finally:
        stop.set()
    assert code == exitcodes.FINDING_ERROR and finding_id in roots(report)
    if mode == "endless-head":
        assert "16384" in finding(report, finding_id)["symptom"]


# --- check and the exporter ------------------------------------------------------------------------------

def test_check_config_runs_the_signalling_entries(lab: Lab, capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    config = tmp_path / "rtcdiag.toml"
    config.write_text(f"""
checks = ["signal"]
timeout = 3

[[signalling]]
name = "app"
urls = ["ws://127.0.0.1:{lab.nginx}/good", "ws://127.0.0.1:{lab.nginx}/noheaders"]
no_proxy = true
message_size = 1000
""")
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--config", str(config), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert exit_info.value.code == exitcodes.FINDING_ERROR
    assert "SIGNAL-UPGRADE-HEADERS-DROPPED" in roots(report)
    suites = {c["suite"] for c in report["checks"]}
    assert {f"ws://127.0.0.1:{lab.nginx}/good", f"ws://127.0.0.1:{lab.nginx}/noheaders"} <= suites
    assert any(t["title"] == "Signalling (WebSocket)" for t in report["tables"])


def test_exporter_signal_module_gives_step_metrics(lab: Lab, tmp_path: Path) -> None:
    import asyncio

    from rtcdiag.checks.run import run_config_detailed
    from rtcdiag.exporter.metrics import ProbeOutcome, write_openmetrics
    from rtcdiag.exporter.modules import load_exporter_config

    file = tmp_path / "exporter.toml"
    file.write_text('[modules.ws]\nkind = "signal"\nurls = ["ws://{target}/good"]\nno_proxy = true\n')
    exporter = load_exporter_config(file)
    module = exporter.modules["ws"]
    config = exporter.check_config(module, exporter.target(module, f"127.0.0.1:{lab.nginx}"), 8.0)
    run = asyncio.run(run_config_detailed(config, fallback=False))
    out = tmp_path / "metrics.prom"
    write_openmetrics(ProbeOutcome(run, run.report.duration_s), out)
    text = out.read_text()
    assert 'rtcdiag_step_success{check="signal",step="upgrade",transport="tcp"} 1.0' in text
    assert "probe_success 1.0" in text
