"""The coturn launcher's own logic: config generation, certificates, and failing clearly.

A fake ``turnserver`` script stands in only where no real coturn can help: a binary that crashes at once.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from rtcdiag import exitcodes
from rtcdiag.coturn import (
    CoturnError,
    CoturnNotInstalled,
    CoturnOptions,
    _config_lines,
    make_self_signed_cert,
    start_coturn,
)
from rtcdiag.redact import MASK

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")


def lines_for(opts: CoturnOptions) -> list[str]:
    return _config_lines(opts, Path("/w"), 3478, 3479, None, None, None, None)


def test_lt_cred_config() -> None:
    lines = lines_for(CoturnOptions(users={"alice": "pw1", "bob": "pw2"}, realm="r.test", user_quota=1,
                                    denied_peer_ips=("10.0.0.0-10.255.255.255",)))
    assert "lt-cred-mech" in lines and "use-auth-secret" not in lines and "no-auth" not in lines
    assert {"user=alice:pw1", "user=bob:pw2", "realm=r.test", "user-quota=1"} <= set(lines)
    assert "denied-peer-ip=10.0.0.0-10.255.255.255" in lines
    assert {"listening-port=3478", "alt-listening-port=3479", "no-tls", "no-dtls", "no-cli"} <= set(lines)
    assert "allow-loopback-peers" in lines and "fingerprint" in lines
    assert "userdb=/w/turndb" in lines  # never the shared /var/lib/turn database


def test_rest_secret_and_open_relay_configs() -> None:
    rest = lines_for(CoturnOptions(static_auth_secret="s3cr3t"))
    assert "use-auth-secret" in rest and "static-auth-secret=s3cr3t" in rest and "lt-cred-mech" not in rest
    open_relay = lines_for(CoturnOptions(no_auth=True, allow_loopback_peers=False,
                                         external_ip="198.51.100.7"))
    assert "no-auth" in open_relay and "lt-cred-mech" not in open_relay
    assert "allow-loopback-peers" not in open_relay and "external-ip=198.51.100.7" in open_relay


@needs_openssl
def test_self_signed_certificate_is_valid_for_loopback(tmp_path: Path) -> None:
    cert, key = make_self_signed_cert(tmp_path)
    assert key.exists()
    shown = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName",
                            "-checkend", "86400"], capture_output=True, text=True, check=False)
    assert shown.returncode == 0  # -checkend: still valid tomorrow
    for name in ("IP Address:127.0.0.1", "DNS:localhost", "IP Address:0:0:0:0:0:0:0:1"):
        assert name in shown.stdout


@needs_openssl
def test_expired_certificate_really_expired(tmp_path: Path) -> None:
    cert, _ = make_self_signed_cert(tmp_path, expired=True)
    end = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-enddate"], capture_output=True,
                         text=True, check=True).stdout
    assert end.strip() == "notAfter=Jan  2 00:00:00 2020 GMT"
    context = ssl.create_default_context(cafile=str(cert))  # loads: it is a well-formed certificate
    assert context.cert_store_stats()["x509"] == 1


def test_missing_turnserver_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CoturnNotInstalled) as info:
        start_coturn(CoturnOptions())
    assert str(info.value) == "turnserver (coturn) is not installed: run `apt-get install coturn`"
    assert info.value.exit_code == exitcodes.USAGE


def test_crashing_turnserver_reports_its_log_without_secrets(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    fake = tmp_path / "turnserver"
    fake.write_text('#!/bin/sh\necho "fatal: cannot start"\ncat "$2"\nexit 3\n')  # $2 = the config file
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    password = "pw-that-must-not-leak-7731"
    with pytest.raises(CoturnError) as info:
        start_coturn(CoturnOptions(users={"alice": password}, ready_timeout_s=2.0))
    text = str(info.value)
    assert text.startswith("coturn exited with code 3")
    assert "fatal: cannot start" in text and "user=alice:" + MASK in text
    assert password not in text

