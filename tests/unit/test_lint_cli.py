"""``rtcdiag lint`` through the CLI: exit codes, one-line usage errors, every output format, no secrets."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import rtcdiag

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lint"
SCHEMA = json.loads((Path(rtcdiag.__file__).parent / "schema" / "report.schema.json").read_text())


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", "lint", *args], capture_output=True, text=True,
                          timeout=60)


def run_json(*args: str) -> tuple[int, dict[str, Any]]:
    proc = run(*args, "--json")
    report = json.loads(proc.stdout)
    jsonschema.validate(report, SCHEMA)
    return proc.returncode, report


@pytest.mark.parametrize(("args", "message"), [
    (("/nonexistent/turnserver.conf",), "/nonexistent/turnserver.conf: no such file"),
    ((str(FIXTURES),), "not a regular file"),
    ((str(FIXTURES / "hardened.conf"), "--version", "four"), "--version: 'four' is not a coturn version"),
])
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and message in proc.stderr


def test_invalid_json_ice_servers_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "ice.json"
    bad.write_text("{iceServers: []}")
    proc = run(str(bad))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "invalid JSON" in proc.stderr


def test_hardened_passes_and_wide_open_fails_in_every_format(tmp_path: Path) -> None:
    code, report = run_json(str(FIXTURES / "hardened-4.17.conf"), "--version", "4.17.1")
    assert code == 0 and report["findings"] == []
    junit = tmp_path / "lint.xml"
    proc = run(str(FIXTURES / "wide-open.conf"), "--version", "4.6.1", "--junit", str(junit))
    assert proc.returncode == 1
    assert "LINT-NO-AUTH" in proc.stdout and "Fix" in proc.stdout
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert {"auth", "peer-acl", "admin", "tls", "operations", "version"} <= set(cases)
    assert cases["auth"].find("failure") is not None
    markdown = run(str(FIXTURES / "wide-open.conf"), "--version", "4.6.1", "--markdown")
    assert markdown.returncode == 1 and "LINT-PEER-ACL-MISSING" in markdown.stdout
    code, report = run_json(str(FIXTURES / "wide-open.conf"), "--version", "4.6.1")
    assert code == 1
    assert {"LINT-NO-AUTH", "LINT-ADVISORY"} <= {f["id"] for f in report["findings"]}
    assert any("4.6.1 (from --version" in note for note in report["notes"])


def test_secrets_in_the_config_never_reach_the_output(tmp_path: Path) -> None:
    secret, cli, password = (secrets.token_hex(12) for _ in range(3))
    conf = tmp_path / "turnserver.conf"
    conf.write_text(f"use-auth-secret\nstatic-auth-secret={secret}\ncli-ip=0.0.0.0\ncli-password={cli}\n"
                    f"user=alice:{password}\nrealm=example.org\n")
    for fmt in ("--json", "--markdown", "--report-file"):
        extra = [fmt, str(tmp_path / "r.txt")] if fmt == "--report-file" else [fmt]
        proc = run(str(conf), "--version", "4.6.1", *extra)
        written = (tmp_path / "r.txt").read_text() if fmt == "--report-file" else ""
        text = proc.stdout + proc.stderr + written
        assert proc.returncode == 1
        assert secret not in text and cli not in text and password not in text


def test_ice_servers_file_gets_the_application_rules() -> None:
    code, report = run_json(str(FIXTURES / "ice-servers-bad.json"))
    assert code == 0  # warnings only
    assert {"APP-STATIC-CREDENTIAL", "APP-DUPLICATE-URL"} <= {f["id"] for f in report["findings"]}
    assert "static-password-1" not in json.dumps(report)


@pytest.mark.skipif(shutil.which("turnserver") is None, reason="no local turnserver binary")
def test_version_from_the_local_binary_is_named() -> None:
    installed = subprocess.run(["turnserver", "--version"], capture_output=True, text=True, timeout=10)
    _, report = run_json(str(FIXTURES / "hardened.conf"))
    note = next(n for n in report["notes"] if n.startswith("coturn version"))
    assert "local turnserver --version" in note
    assert installed.stdout.strip().splitlines()[0].strip() in note
