"""TLS against real coturn (certificates the fixtures generate) and hand-written stalling servers.

- ``--insecure`` still reports what is wrong with a certificate (self-signed, expired, wrong name), as a
  TLS-CERT-IGNORED warning, and the report says verification was off (a note, and ``tls_verification_off``
  / ``verification_off`` in the JSON results);
- ``--ca FILE`` adds to the system trust store (the "system store" is the file ``SSL_CERT_FILE`` names here,
  which OpenSSL's default verify paths honour): servers trusted by either verify;
- a TLS handshake that stalls (TCP accepted, no answer to ClientHello), a reply that stalls (handshake done,
  no STUN answer) and a slowloris reply (bytes dripping in) are three different findings, each bounded by
  the timeout. No real server stalls on purpose: those servers are written in tests/servers.py.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
import servers

from rtcdiag.coturn import CoturnOptions, RunningCoturn, make_self_signed_cert


def rtcdiag_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    done = subprocess.run([sys.executable, "-m", "rtcdiag", *args, "--json"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def ids(report: dict[str, Any]) -> list[str]:
    return sorted(f["id"] for f in report["findings"])


def _coturn(factory: Callable[[CoturnOptions], RunningCoturn], **tls: Any) -> RunningCoturn:
    return factory(CoturnOptions(listening_ips=("127.0.0.1",), users={"alice": "a-" + secrets.token_hex(6)},
                                 realm="rtcdiag.test", self_signed=True, allow_loopback_peers=True, **tls))


@pytest.fixture(scope="module")
def expired(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> RunningCoturn:
    return _coturn(coturn_factory, cert_expired=True)


@pytest.fixture(scope="module")
def other_name(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> RunningCoturn:
    return _coturn(coturn_factory, cert_hostnames=("turn.example.net",))


def test_stun_insecure_reports_the_self_signed_certificate_as_a_warning(coturn: RunningCoturn) -> None:
    code, report = rtcdiag_json("stun", f"stuns:localhost:{coturn.tls_port}", "--insecure")
    assert code == 0  # the check itself worked; the certificate is a warning
    assert ids(report) == ["TLS-CERT-IGNORED"]
    finding = report["findings"][0]
    assert finding["severity"] == "warning" and "not trusted" in finding["symptom"]
    result = report["results"][0]
    assert result["outcome"] == "success" and result["tls_verification_off"] is True
    assert any("verification was off" in note for note in report["notes"])
    # Verified (no --insecure) with the certificate as CA: nothing to say, and no note.
    code, report = rtcdiag_json("stun", f"stuns:localhost:{coturn.tls_port}", "--ca", str(coturn.ca_cert))
    assert (code, ids(report), report["notes"]) == (0, [], [])
    assert report["results"][0]["tls_verification_off"] is False


def test_turn_check_insecure_reports_an_expired_certificate_and_still_checks_the_relay(
        expired: RunningCoturn) -> None:
    code, report = rtcdiag_json("turn-check", f"turns:localhost:{expired.tls_port}", "-u", "alice",
                                "--password", expired.users["alice"], "--insecure")
    assert ids(report) == ["TLS-CERT-IGNORED", "TURN-RELAY-LOCAL"]  # loopback relay: info
    [finding] = [f for f in report["findings"] if f["id"] == "TLS-CERT-IGNORED"]
    assert "expired on 2020-01-02" in finding["symptom"] and "not trusted: self-signed" in finding["symptom"]
    assert finding["step"] == "connect"
    leg = report["results"]["turn"][0]["transports"][0]
    assert leg["allocated"] and leg["tls_verification_off"] is True
    assert code == 0
    # Without --insecure the same server is an error (verification on): TLS-EXPIRED.
    code, report = rtcdiag_json("turn-check", f"turns:localhost:{expired.tls_port}", "-u", "alice",
                                "--password", expired.users["alice"], "--ca", str(expired.ca_cert))
    assert "TLS-EXPIRED" in ids(report) and code == 1


def test_insecure_reports_a_certificate_for_another_name(other_name: RunningCoturn) -> None:
    code, report = rtcdiag_json("ports", "localhost", "--no-default-ports", "--ports",
                                f"tls:{other_name.tls_port}", "--insecure")
    found = {f["id"]: f for f in report["findings"]}
    assert "TLS-CERT-IGNORED" in found and "TLS-HOSTNAME" not in found
    assert "wrong name" in " ".join(f["symptom"] for f in report["findings"] if f["id"] == "TLS-CERT-IGNORED")
    assert report["results"]["ports"][0]["tls"]["verification_off"] is True
    assert code == 0


def test_ca_adds_to_the_system_store(coturn: RunningCoturn, other_name: RunningCoturn) -> None:
    """Two servers with two self-signed certificates: one trusted by the "system store" (SSL_CERT_FILE),
    the other by --ca. Both verify; before, --ca replaced the system store and the first failed."""
    assert coturn.ca_cert is not None and other_name.ca_cert is not None
    env = {"SSL_CERT_FILE": str(coturn.ca_cert), "SSL_CERT_DIR": "/nonexistent"}
    code, report = rtcdiag_json("stun", f"stuns:localhost:{coturn.tls_port}",
                                f"stuns:127.0.0.1:{other_name.tls_port}", "--ca", str(other_name.ca_cert),
                                env=env)
    assert ids(report) == [] and code == 0
    assert [r["outcome"] for r in report["results"]] == ["success", "success"]
    # Control: without --ca the second is untrusted, so the store really is only SSL_CERT_FILE here.
    code, report = rtcdiag_json("stun", f"stuns:127.0.0.1:{other_name.tls_port}", env=env)
    assert ids(report) == ["TLS-UNTRUSTED"] and code == 1


# --- stalls: hand-written servers (no real server stalls on purpose) ---

TIMEOUT_S = 1.0
SLACK_S = 4.0  # process start-up and the report: the run stays bounded by the timeout


@pytest.fixture(scope="module")
def wrap_tls(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Any], Any]:
    """Server-side TLS for the scripted servers, with a fresh self-signed certificate."""
    cert, key = make_self_signed_cert(tmp_path_factory.mktemp("stall-tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return lambda sock: context.wrap_socket(sock, server_side=True)


def _binding_answer(request: bytes, peer: tuple[str, int]) -> bytes:
    return servers.binding_success(request[8:20], peer)


def timed(*args: str) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    code, report = rtcdiag_json(*args, "--timeout", f"{TIMEOUT_S:g}")
    return code, report, time.monotonic() - started


def test_a_tls_handshake_that_stalls_is_its_own_finding() -> None:
    """TCP is accepted, the ClientHello never answered: TLS-HANDSHAKE-STALL (it was "server unreachable")."""
    with servers.scripted_stream_server(servers.StreamScript(accept_only=True)) as (host, port):
        code, stun, wall = timed("stun", f"stuns:{host}:{port}", "--insecure")
        assert ids(stun) == ["TLS-HANDSHAKE-STALL"] and code == 1 and wall < TIMEOUT_S + SLACK_S
        assert "accepted, but the TLS handshake did not complete" in stun["findings"][0]["symptom"]
        code, turn, wall = timed("turn-check", f"turns:{host}:{port}", "-u", "a", "--password", "b",
                                 "--insecure")
        assert [(f["id"], f["step"]) for f in turn["findings"]] == [("TLS-HANDSHAKE-STALL", "connect")]
        assert code == 1 and wall < TIMEOUT_S + SLACK_S
        code, ports, wall = timed("ports", host, "--no-default-ports", "--ports", f"tls:{port}", "--insecure")
        assert ids(ports) == ["TLS-HANDSHAKE-STALL"] and code == 1 and wall < TIMEOUT_S + SLACK_S
        assert ports["results"]["ports"][0]["tls"]["stalled"] is True


def test_a_reply_that_stalls_after_the_handshake_is_another_finding(wrap_tls: Callable[[Any], Any]) -> None:
    """The handshake completes, the STUN request is read and never answered: PORT-NOT-STUN, saying so."""
    with servers.scripted_stream_server(servers.StreamScript(answer=None), wrap=wrap_tls) as (host, port):
        code, stun, wall = timed("stun", f"stuns:{host}:{port}", "--insecure")
        assert "TLS-HANDSHAKE-STALL" not in ids(stun) and "PORT-NOT-STUN" in ids(stun)
        [finding] = [f for f in stun["findings"] if f["id"] == "PORT-NOT-STUN"]
        assert "no reply to a Binding request after the TLS handshake completed" in finding["symptom"]
        assert code == 1 and wall < TIMEOUT_S + SLACK_S
        code, turn, wall = timed("turn-check", f"turns:{host}:{port}", "-u", "a", "--password", "b",
                                 "--insecure")
        steps = {(f["id"], f["step"]) for f in turn["findings"]}
        assert ("PORT-NOT-STUN", "challenge") in steps and code == 1 and wall < TIMEOUT_S + SLACK_S
        assert "after the TLS handshake completed" in json.dumps(turn["findings"])


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_a_slowloris_reply_is_bounded_by_the_timeout_and_named(wrap_tls: Callable[[Any], Any],
                                                               tls: bool) -> None:
    """The answer comes one byte every 0.15 s: the transaction still ends at its timeout, and the finding
    says the reply was dripping in (SERVER-SLOW-REPLY), not that nothing came back."""
    script = servers.StreamScript(answer=_binding_answer, drip_s=0.15)
    with servers.scripted_stream_server(script, wrap=wrap_tls if tls else None) as (host, port):
        target = f"stuns:{host}:{port}" if tls else f"stun:{host}:{port}?transport=tcp"
        code, stun, wall = timed("stun", target, *(["--insecure"] if tls else []))
        assert "SERVER-SLOW-REPLY" in ids(stun) and "PORT-NOT-STUN" not in ids(stun)
        [finding] = [f for f in stun["findings"] if f["id"] == "SERVER-SLOW-REPLY"]
        assert "was still sending when the" in finding["symptom"]
        assert "-byte message had arrived" in finding["symptom"]
        assert code == 1 and wall < TIMEOUT_S + SLACK_S
        transport = "tls" if tls else "tcp"
        code, ports, wall = timed("ports", host, "--no-default-ports", "--ports", f"{transport}:{port}",
                                  *(["--insecure"] if tls else []))
        assert "SERVER-SLOW-REPLY" in ids(ports) and code == 1 and wall < TIMEOUT_S + SLACK_S


def test_check_insecure_notes_it_and_warns_about_the_certificate(coturn: RunningCoturn) -> None:
    code, report = rtcdiag_json("check", f"turns:localhost:{coturn.tls_port}?transport=tcp", "-u", "alice",
                                "--password", coturn.users["alice"], "--checks", "ports,turn", "--insecure")
    assert "TLS-CERT-IGNORED" in ids(report)
    assert {f["severity"] for f in report["findings"] if f["id"] == "TLS-CERT-IGNORED"} == {"warning"}
    assert not {"TLS-UNTRUSTED", "TLS-EXPIRED", "TLS-HOSTNAME"} & set(ids(report))
    assert any("verification was off" in note for note in report["notes"])
    assert code == 0
