"""`rtcdiag ports` against real peers on loopback: the session coturn (UDP/TCP/TLS), coturns with an expired
and a soon-expiring certificate, a dead port (RST / ICMP port unreachable) and a silent server."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from servers import SILENT, HostileServer

from rtcdiag.coturn import CoturnOptions, RunningCoturn
from rtcdiag.report import json_report

TIMEOUT = "0.5"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", "ports", *args], capture_output=True, text=True,
                          timeout=60)


def run_json(host: str, ports: str, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = run(host, "--no-default-ports", "--ports", ports, "--timeout", TIMEOUT, "--json", *extra)
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(json_report.load_schema()).validate(report)
    assert report["exit_code"] == proc.returncode
    return proc.returncode, report


def ports_by_key(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{p['transport']}:{p['port']}": p for p in report["results"]["ports"]}


def ids(report: dict[str, Any]) -> list[str]:
    return sorted(f["id"] for f in report["findings"])


def coturn_ports(server: RunningCoturn) -> str:
    return f"udp:{server.port},tcp:{server.port},tls:{server.tls_port}"


def test_healthy_coturn_all_open_with_tls_facts(coturn: RunningCoturn) -> None:
    assert coturn.ca_cert is not None
    code, report = run_json("127.0.0.1", coturn_ports(coturn), "--ca", str(coturn.ca_cert))
    ports = ports_by_key(report)
    udp, tcp = ports[f"udp:{coturn.port}"], ports[f"tcp:{coturn.port}"]
    tls = ports[f"tls:{coturn.tls_port}"]
    assert [udp["state"], tcp["state"], tls["state"]] == ["open", "open", "open"]
    assert udp["stun"] == tcp["stun"] == tls["stun"] == "answered"  # STUN inside TLS too
    assert tls["exchange"]["transport"] == "tls"
    assert tls["exchange"]["response"] == "Binding success response"
    assert udp["mapped_address"].startswith("127.0.0.1:")
    assert udp["exchange"]["response"] == "Binding success response"
    assert all(p["rtt_ms"] is not None and 0 < p["rtt_ms"] < 500 for p in (udp, tcp, tls))
    info = tls["tls"]
    assert info["version"] in ("TLSv1.2", "TLSv1.3")
    assert info["alpn_selected"] == "stun.turn"  # RFC 7443
    assert info["trusted"] is True and info["hostname_match"] is True
    assert 29 <= info["chain"][0]["days_to_expiry"] <= 31  # the launcher's certificate is valid for 30 days
    assert "127.0.0.1" in info["chain"][0]["san_ip"]
    assert report["findings"] == []
    assert {c["name"]: c["status"] for c in report["checks"]} == {
        f"udp/{coturn.port}": "pass", f"tcp/{coturn.port}": "pass", f"tls/{coturn.tls_port}": "pass"}
    assert code == 0


def test_self_signed_without_ca_is_untrusted_and_insecure_only_warns(coturn: RunningCoturn) -> None:
    code, report = run_json("127.0.0.1", f"tls:{coturn.tls_port}")
    assert ids(report) == ["TLS-UNTRUSTED"]
    tls = report["results"]["ports"][0]["tls"]
    assert tls["trusted"] is False and tls["verify_code"] == 18  # OpenSSL: depth zero self-signed
    assert tls["chain"][0]["subject"] == "CN=localhost"  # the chain is still shown
    assert code == 1
    code, report = run_json("127.0.0.1", f"tls:{coturn.tls_port}", "--insecure")
    tls = report["results"]["ports"][0]["tls"]
    # Verification was off, and the report says so; the certificate problem is still there, as a warning.
    assert tls["verification_off"] is True and tls["trusted"] is False and tls["verify_code"] == 18
    assert ids(report) == ["TLS-CERT-IGNORED"]
    (finding,) = report["findings"]
    assert finding["severity"] == "warning" and "not trusted: self-signed certificate" in finding["symptom"]
    assert any("verification was off" in note for note in report["notes"])
    assert code == 0


def test_dead_port_is_refused_on_every_transport(dead_port: int) -> None:
    code, report = run_json("127.0.0.1", f"udp:{dead_port},tcp:{dead_port},tls:{dead_port}")
    ports = ports_by_key(report)
    assert ports[f"udp:{dead_port}"]["state"] == "closed"
    assert ports[f"udp:{dead_port}"]["error"] == "ICMP port unreachable"
    assert ports[f"tcp:{dead_port}"]["state"] == "closed"
    assert ports[f"tls:{dead_port}"]["state"] == "closed"
    assert ids(report) == ["SERVER-REFUSED"] * 3
    assert {c["status"] for c in report["checks"]} == {"fail"}
    assert code == 1


def test_silent_server_tcp_accept_is_port_not_stun_never_udp_blocked(
        hostile: Callable[..., HostileServer]) -> None:
    server = hostile(SILENT)
    code, report = run_json("127.0.0.1", f"udp:{server.port},tcp:{server.port}")
    ports = ports_by_key(report)
    assert ports[f"udp:{server.port}"]["state"] == "timeout"
    assert ports[f"udp:{server.port}"]["exchange"]["attempts"] > 1  # retransmitted within the timeout
    assert ports[f"tcp:{server.port}"]["state"] == "open"
    assert ports[f"tcp:{server.port}"]["stun"] == "no-answer"
    # A TCP accept is no STUN answer: the UDP silence is not UDP-BLOCKED, and it is folded under the one root
    # cause, "not a STUN/TURN server on this port".
    assert ids(report) == ["PORT-NOT-STUN", "SERVER-UNREACHABLE"]
    assert [r["id"] for r in report["root_causes"]] == ["PORT-NOT-STUN"]
    unreachable = next(f for f in report["findings"] if f["id"] == "SERVER-UNREACHABLE")
    assert unreachable["explained_by"] == report["root_causes"][0]["ref"]
    assert code == 1


def test_udp_blocked_only_when_stun_over_tcp_answered_on_the_same_port(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    # "Blocked" needs real silence (an unbound port answers ICMP port unreachable): coturn without UDP
    # listeners answers STUN over TCP, and the same port is bound over UDP and never answers.
    server = coturn_factory(CoturnOptions(no_udp=True, users={"bob": "x" * 12}))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", server.port))
        code, report = run_json("127.0.0.1", f"udp:{server.port},tcp:{server.port}")
    assert ports_by_key(report)[f"tcp:{server.port}"]["stun"] == "answered"
    assert ids(report) == ["UDP-BLOCKED"]
    blocked = report["findings"][0]
    assert f"STUN over TCP {server.port} answered" in blocked["symptom"]
    assert (blocked["subject"], blocked["transport"], blocked["port"], blocked["step"]) == (
        "ports:127.0.0.1", "udp", server.port, str(server.port))
    assert code == 1


def test_stun_over_tcp_on_another_port_proves_nothing_about_a_silent_udp_port(coturn: RunningCoturn) -> None:
    """TCP on port A answers STUN, UDP port B is silent: another service (or nothing) may be behind B, so
    B is SERVER-UNREACHABLE, never UDP-BLOCKED (issue 20: one port's answer 'proved' another's blocking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        code, report = run_json("127.0.0.1", f"udp:{port},tcp:{coturn.port}")
    assert ports_by_key(report)[f"tcp:{coturn.port}"]["stun"] == "answered"
    assert ids(report) == ["SERVER-UNREACHABLE"]
    assert (report["findings"][0]["transport"], report["findings"][0]["port"]) == ("udp", port)
    assert code == 1


def test_expired_certificate(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    server = coturn_factory(CoturnOptions(self_signed=True, cert_expired=True, users={"bob": "x" * 12}))
    assert server.ca_cert is not None
    code, report = run_json("127.0.0.1", f"tls:{server.tls_port}", "--ca", str(server.ca_cert))
    tls = report["results"]["ports"][0]["tls"]
    assert tls["chain"][0]["days_to_expiry"] < 0
    assert "TLS-EXPIRED" in ids(report)
    assert code == 1


@pytest.fixture(scope="module")
def short_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate valid for 5 days for localhost / 127.0.0.1 (generated with openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    workdir = tmp_path_factory.mktemp("short-cert")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "5", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def test_expiring_soon_and_wrong_host_name(coturn_factory: Callable[[CoturnOptions], RunningCoturn],
                                           short_cert: tuple[Path, Path]) -> None:
    cert, key = short_cert
    server = coturn_factory(CoturnOptions(cert_file=cert, key_file=key, users={"bob": "y" * 12}))
    code, report = run_json("127.0.0.1", f"tls:{server.tls_port}", "--ca", str(cert))
    assert 4 <= report["results"]["ports"][0]["tls"]["chain"][0]["days_to_expiry"] <= 5
    assert ids(report) == ["TLS-EXPIRING-SOON"]  # a warning: still exit 0
    assert code == 0
    code, report = run_json("127.0.0.1", f"tls:{server.tls_port}", "--ca", str(cert),
                            "--server-name", "turn.example.test")
    assert ids(report) == ["TLS-EXPIRING-SOON", "TLS-HOSTNAME"]
    assert code == 1


def test_default_matrix_plus_extra_port_and_console_output(coturn: RunningCoturn) -> None:
    proc = run("127.0.0.1", "--ports", f"udp:{coturn.port}", "--timeout", TIMEOUT, "--json")
    report = json.loads(proc.stdout)
    probed = [f"{p['transport']}:{p['port']}" for p in report["results"]["ports"]]
    assert probed == ["udp:3478", "tcp:3478", "tls:5349", "tls:443", f"udp:{coturn.port}"]
    assert ports_by_key(report)[f"udp:{coturn.port}"]["state"] == "open"
    if ports_by_key(report)["tls:443"]["state"] != "open":  # nothing serves TLS on loopback 443 here
        assert "PORT-TLS443-MISSING" in ids(report)
        missing = next(f for f in report["findings"] if f["id"] == "PORT-TLS443-MISSING")
        assert missing["severity"] == "warning"
    console = run("127.0.0.1", "--no-default-ports", "--ports", f"udp:{coturn.port}", "--timeout", TIMEOUT)
    assert console.returncode == 0, console.stderr
    lines = console.stdout.splitlines()  # the verdict, one line per port, the footer (issue 22)
    assert len(lines) == 3 and lines[1].startswith(f"  UDP  {coturn.port}  open, "), console.stdout
    assert "STUN ok, mapped 127.0.0.1:" in lines[1]
    verbose = run("127.0.0.1", "--no-default-ports", "--ports", f"udp:{coturn.port}", "--timeout", TIMEOUT,
                  "-v")
    assert "Ports on 127.0.0.1" in verbose.stdout and "answered" in verbose.stdout


def test_a_named_port_decides_and_the_well_known_ports_are_only_tried(coturn: RunningCoturn) -> None:
    """`ports HOST:PORT` on a server that listens only there: PASS (exit 0), the closed 3478/5349/443 said
    to be tried without being asked for; they still fail `ports HOST` (issue 22)."""
    proc = run(f"127.0.0.1:{coturn.port}", "--timeout", TIMEOUT)
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    assert lines[0] == "rtcdiag ports: PASS: 2/2 checks passed"
    assert lines[1].startswith(f"  UDP  {coturn.port}  open")
    assert lines[2].startswith(f"  TCP  {coturn.port}  open")
    closed = {" ".join(line.split()[:2]) for line in lines if "(not asked)" in line}
    assert closed and closed <= {"UDP 3478", "TCP 3478", "TLS 5349", "TLS 443"}
    assert len(lines) <= 12
    data = run(f"127.0.0.1:{coturn.port}", "--timeout", TIMEOUT, "--json")
    report = json.loads(data.stdout)
    assert data.returncode == 0 and not [f for f in report["findings"] if f["severity"] != "info"]
    skipped = [c for c in report["checks"] if c["status"] == "skip"]
    assert len(skipped) == len(closed) and all("not asked for" in c["message"] for c in skipped)
    assert run("127.0.0.1", "--timeout", TIMEOUT).returncode == 1  # the well-known ports asked for: closed


@pytest.mark.parametrize("args, message", [
    (["127.0.0.1", "--ports", "sctp:5"], "TRANSPORT:PORT"),
    (["127.0.0.1", "--ports", "udp:70000"], "1-65535"),
    (["127.0.0.1", "--ca", __file__, "--insecure"], "mutually exclusive"),
    (["127.0.0.1", "--ca", __file__], "not a PEM file"),
    (["127.0.0.1", "--ca", "/nonexistent.pem"], "does not exist"),
    (["127.0.0.1", "--no-default-ports"], "--ports"),
    (["http://x/"], "unsupported scheme"),
    (["::1:3478"], "ambiguous"),
    (["a b"], "not a valid host name"),
])
def test_bad_input_is_one_line_exit_2(args: list[str], message: str) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rtcdiag: error: ") and message in lines[0], proc.stderr
