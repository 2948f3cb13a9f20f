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
    installed_version,
    make_self_signed_cert,
    start_coturn,
)
from rtcdiag.coturn_version import parse_version
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



# --- coturn 4.6 -> 4.17: the config follows the installed version -------------------------------------------

@pytest.mark.parametrize(("text", "version"), [
    ("4.6.1\n", (4, 6, 1)),  # `turnserver --version` of Debian 12's coturn
    ("0: : Coturn Version Coturn-4.7.0 'Gorst'\n0: : OpenSSL version 3.0.11", (4, 7, 0)),  # start banner
    ("OpenSSL 3.0.11 19 Sep 2023\nCoturn Version Coturn-4.17.2 'Gorst'", (4, 17, 2)),
    ("4.17\n", (4, 17, 0)),
    ("OpenSSL 3.0.11 19 Sep 2023\nno version here", None),
])
def test_parse_version(text: str, version: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == version


def test_config_for_coturn_4_6_keeps_the_old_switches() -> None:
    lines = _config_lines(CoturnOptions(software_attribute=False), Path("/w"), 3478, 3479, None, None, None,
                          None, version=(4, 6, 1))
    assert {"no-tlsv1", "no-tlsv1_1", "no-software-attribute"} <= set(lines)
    assert "rfc5780" not in lines and "software-attribute" not in lines  # 4.6: RFC 5780 is on by default


@pytest.mark.parametrize("version", [(4, 7, 0), (4, 17, 0), (4, 17, 3)])
def test_config_for_coturn_4_7_and_later(version: tuple[int, int, int]) -> None:
    lines = _config_lines(CoturnOptions(listening_ips=("127.0.0.1", "127.0.0.2")), Path("/w"), 3478, 3479,
                          None, None, None, None, version=version)
    assert "rfc5780" in lines  # off by default from 4.7.0
    assert "no-tlsv1" not in lines and "no-tlsv1_1" not in lines  # removed options
    assert "software-attribute" in lines and "no-software-attribute" not in lines
    quiet = _config_lines(CoturnOptions(software_attribute=False), Path("/w"), 3478, 3479, None, None, None,
                          None, version=version)
    assert "software-attribute" not in quiet and "no-software-attribute" not in quiet  # off by default


@pytest.mark.skipif(shutil.which("turnserver") is None, reason="coturn not installed")
def test_installed_coturn_version_drives_the_written_config() -> None:
    """The real installed coturn: its version is read, the config written for it, and it starts with it."""
    reported = subprocess.run(["turnserver", "--version"], capture_output=True, text=True, check=False)
    version = installed_version()
    assert version is not None and version == parse_version(reported.stdout + reported.stderr)
    with start_coturn(CoturnOptions(listening_ips=("127.0.0.1", "127.0.0.2"), no_auth=True)) as server:
        lines = server.config_path.read_text().splitlines()
        assert ("rfc5780" in lines) is (version >= (4, 7, 0))
        assert ("no-tlsv1" in lines) is (version < (4, 7, 0))
        assert "Bad configuration format" not in server.log_tail(200)
