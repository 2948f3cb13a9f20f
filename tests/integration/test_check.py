"""`rtcdiag check` against real coturn instances on loopback: healthy, wrong credentials, expired TLS
certificate, a config file with expectations; JSON validated against the shipped schema, JUnit parsed,
no secret in any output format."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn
from rtcdiag.report import json_report

PASSWORD_VAR = "RTCDIAG_TEST_CHECK_PW"


def run_check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("RTCDIAG_TURN_PASSWORD", None)
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "check", *args], capture_output=True,
                          text=True, timeout=60, env=full_env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def urls(server: RunningCoturn) -> list[str]:
    base = f"turn:{server.host}:{server.port}"
    out = [f"{base}?transport=udp", f"{base}?transport=tcp"]
    if server.tls_port is not None:
        out.append(f"turns:{server.host}:{server.tls_port}?transport=tcp")
    return out


def validate(report: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the test extra")
    jsonschema.Draft202012Validator(json_report.load_schema()).validate(report)


def junit_cases(path: Path) -> list[ET.Element]:
    root = ET.parse(path).getroot()
    return list(root.iter("testcase"))


def assert_no_secret(secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text


def test_healthy_coturn_passes_with_every_output_format(coturn: RunningCoturn, tmp_path: Path) -> None:
    password = coturn.users["alice"]
    assert coturn.ca_cert is not None
    junit, markdown = tmp_path / "check.xml", tmp_path / "check.md"
    proc = run_check(*urls(coturn), "-u", "alice", "--password-env", PASSWORD_VAR, "--ca",
                     str(coturn.ca_cert), "--json", "--junit", str(junit), "--report-file", str(markdown),
                     env={PASSWORD_VAR: password})
    assert proc.returncode == 0, proc.stdout[-3000:]
    report = json.loads(proc.stdout)
    validate(report)
    assert report["command"] == "check" and report["verdict"].startswith("PASS")
    assert not [f for f in report["findings"] if f["severity"] != "info"]
    names = {(c["suite"], c["name"]) for c in report["checks"]}
    for transport in ("udp", "tcp", "tls"):
        assert any(name == f"turn/{transport}/data-channel-data" for _, name in names)
    for url, transport in zip(urls(coturn), ("udp", "tcp", "tls"), strict=True):
        url = url.removesuffix("?transport=tcp") if url.startswith("turns:") else url  # as rtcdiag shows it
        assert (url, f"ice/{transport}/connect") in names and (url, f"ice/{transport}/data") in names
    assert {c["name"] for c in report["checks"]} >= {f"ports/udp/{coturn.port}", "stun/udp/binding",
                                                     "stun/tls/binding", "ice/udp/gather-relay"}
    assert report["root_causes"] == []
    assert len(names) == len(report["checks"])  # unique testcase names
    rows = {row[1]: row for row in report["tables"][0]["rows"]}
    assert set(rows) == {"udp", "tcp", "tls"}
    cases = junit_cases(junit)
    assert len(cases) == len(report["checks"])
    assert not [c for c in cases if c.find("failure") is not None]
    assert_no_secret(password, proc.stdout, proc.stderr, junit.read_text(), markdown.read_text())


def test_wrong_password_fails_with_exit_1_and_names_the_check(coturn: RunningCoturn, tmp_path: Path) -> None:
    wrong = "wrong-" + secrets.token_hex(6)
    junit = tmp_path / "bad.xml"
    proc = run_check(f"turn:{coturn.host}:{coturn.port}?transport=udp", "-u", "alice", "--password-env",
                     PASSWORD_VAR, "--timeout", "1", "--json", "--junit", str(junit),
                     env={PASSWORD_VAR: wrong})
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    validate(report)
    ids = {f["id"] for f in report["findings"]}
    assert "ICE-NO-RELAY" in ids
    assert report["verdict"].startswith("FAIL")
    failing = [c for c in junit_cases(junit) if c.find("failure") is not None]
    assert failing and any(c.get("name") == "ice/udp/gather-relay" for c in failing)
    assert all("401" in (c.find("failure").text or "") for c in failing)  # type: ignore[union-attr]
    # One diagnosis: the refused allocation; ICE's missing relay is folded under it. The only URL is UDP:
    # the configuration's missing TCP/TLS fallback is a warning of its own, after the error.
    assert [r["id"] for r in report["root_causes"]] == ["TURN-AUTH-401", "TURN-NO-TCP-FALLBACK"]
    ice = next(f for f in report["findings"] if f["id"] == "ICE-NO-RELAY")
    assert ice["explained_by"] == report["root_causes"][0]["ref"]
    assert_no_secret(wrong, proc.stdout, proc.stderr, junit.read_text())


def test_expired_certificate_fails_with_exit_1(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    expired = coturn_factory(CoturnOptions(users={"alice": "pw-" + secrets.token_hex(6)}, self_signed=True,
                                           cert_expired=True))
    assert expired.ca_cert is not None and expired.tls_port is not None
    proc = run_check(f"turns:{expired.host}:{expired.tls_port}?transport=tcp", "-u", "alice",
                     "--password-env", PASSWORD_VAR, "--ca", str(expired.ca_cert), "--timeout", "1", "--json",
                     env={PASSWORD_VAR: expired.users["alice"]})
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    validate(report)
    ids = {f["id"] for f in report["findings"]}
    assert "TLS-EXPIRED" in ids
    evidence = " ".join(" ".join(f["evidence"]) for f in report["findings"])
    assert "2020" in evidence  # the certificate's notAfter is shown


def test_config_file_with_expectations(coturn: RunningCoturn, tmp_path: Path) -> None:
    assert coturn.ca_cert is not None
    config = tmp_path / "rtcdiag.toml"
    config.write_text(f"""
checks = ["stun", "ice"]
timeout = 2
ca = "{coturn.ca_cert}"

[expect]
expect_relay = true
max_rtt_ms = 1000

[[servers]]
name = "loopback"
urls = {json.dumps(urls(coturn))}
username = "alice"
password_env = "{PASSWORD_VAR}"

[[servers]]
urls = ["stun:{coturn.host}:{coturn.port}"]
[servers.expect]
max_rtt_ms = 0.001
""")
    proc = run_check("--config", str(config), "--json", env={PASSWORD_VAR: coturn.users["alice"]})
    report = json.loads(proc.stdout)
    validate(report)
    by_name = {(c["suite"], c["name"]): c["status"] for c in report["checks"]}
    assert by_name[(f"{coturn.host} (loopback)", "expect/relay")] == "pass"
    assert by_name[(f"{coturn.host} (#2)", "expect/rtt")] == "fail"
    # The STUN-only server has no relay to check, and 0.001 ms cannot be met: both are reported.
    ids = sorted(f["id"] for f in report["findings"] if f["severity"] != "info")
    assert ids == ["EXPECT-RTT", "EXPECT-UNCHECKED"]
    assert proc.returncode == 1
    assert {c["name"] for c in report["checks"]} <= {
        "stun/udp/binding", "stun/tcp/binding", "stun/tls/binding", "expect/relay", "expect/rtt",
        *(f"ice/{t}/{step}" for t in ("udp", "tcp", "tls")
          for step in ("gather-relay", "connect", "data", "gather-srflx"))}


def test_config_error_is_one_line_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[servers]]\nurls = ["turn:127.0.0.1"]\npassword_env = "RTCDIAG_TEST_UNSET_VAR"\n')
    proc = run_check("--config", str(config))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("rtcdiag: error: ")
    assert "servers[0].password_env" in proc.stderr and "RTCDIAG_TEST_UNSET_VAR" in proc.stderr


def test_rich_report_fits_80_columns_without_breaking_words(coturn: RunningCoturn, tmp_path: Path) -> None:
    assert coturn.ca_cert is not None
    data = tmp_path / "report.json"
    proc = run_check(*urls(coturn), "-u", "alice", "--password-env", PASSWORD_VAR, "--ca",
                     str(coturn.ca_cert), "--report-file", str(data), "-v",
                     env={PASSWORD_VAR: coturn.users["alice"], "COLUMNS": "80", "NO_COLOR": "1",
                          "TERM": "dumb"})
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines and lines[0].startswith("rtcdiag check: PASS")
    assert max(len(line) for line in lines[1:]) <= 80  # the verdict is never wrapped (issue 22)
    report = json.loads(data.read_text())
    words: set[str] = set()
    for finding in report["findings"]:
        for text in (finding["title"], finding["symptom"], finding["cause"], finding["fix"]):
            words.update(w for w in text.split() if 3 <= len(w) <= 30)
    for table in report["tables"]:
        words.update(w for row in table["rows"] for cell in row for w in cell.split() if 3 <= len(w) <= 20)
    assert words
    broken = sorted(w for w in words if not any(w in line for line in lines))
    assert broken == []


def test_transport_option_chooses_the_transports_of_a_host_port(coturn: RunningCoturn) -> None:
    """`check -t` is spelt as everywhere else (issue 22): the transports of a HOST[:PORT] target; with only
    URIs, which carry their own, it is a usage error before anything is sent."""
    proc = run_check(f"127.0.0.1:{coturn.port}", "-u", "alice", "--password-env", PASSWORD_VAR, "-t", "udp",
                     "--checks", "stun,turn", "--json", env={PASSWORD_VAR: coturn.users["alice"]})
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, report["findings"]
    legs = {t["transport"] for server in report["results"]["turn"] for r in server for t in r["transports"]}
    assert legs == {"udp"}
    refused = run_check(f"turn:127.0.0.1:{coturn.port}", "-t", "tcp")
    assert refused.returncode == 2 and "-t/--transport only applies to HOST[:PORT] targets" in refused.stderr
