"""``rtcdiag lint`` through the CLI: exit codes, one-line usage errors, every output format, no secrets."""

from __future__ import annotations

import json
import re
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
    ((str(FIXTURES / "hardened.conf"), "--coturn-version", "four"),
     "--coturn-version: 'four' is not a coturn version"),
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
    code, report = run_json(str(FIXTURES / "hardened-4.17.conf"), "--coturn-version", "4.17.1")
    assert code == 0 and report["findings"] == []
    junit = tmp_path / "lint.xml"
    proc = run(str(FIXTURES / "wide-open.conf"), "--coturn-version", "4.6.1", "--junit", str(junit))
    assert proc.returncode == 1
    assert "LINT-NO-AUTH" in proc.stdout and "\n    fix: " in proc.stdout
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert {"auth", "peer-acl", "admin", "tls", "operations", "version"} <= set(cases)
    assert cases["auth"].find("failure") is not None
    markdown = run(str(FIXTURES / "wide-open.conf"), "--coturn-version", "4.6.1", "--markdown")
    assert markdown.returncode == 1 and "LINT-PEER-ACL-MISSING" in markdown.stdout
    code, report = run_json(str(FIXTURES / "wide-open.conf"), "--coturn-version", "4.6.1")
    assert code == 1
    assert {"LINT-NO-AUTH", "LINT-ADVISORY"} <= {f["id"] for f in report["findings"]}
    assert any("coturn 4.6.1 assumed for" in note and "(from --coturn-version" in note
               for note in report["notes"])


def test_secrets_in_the_config_never_reach_the_output(tmp_path: Path) -> None:
    secret, cli, password = (secrets.token_hex(12) for _ in range(3))
    conf = tmp_path / "turnserver.conf"
    conf.write_text(f"use-auth-secret\nstatic-auth-secret={secret}\ncli-ip=0.0.0.0\ncli-password={cli}\n"
                    f"user=alice:{password}\nrealm=example.org\n")
    for fmt in ("--json", "--markdown", "--report-file"):
        extra = [fmt, str(tmp_path / "r.txt")] if fmt == "--report-file" else [fmt]
        proc = run(str(conf), "--coturn-version", "4.6.1", *extra)
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
    note = next(n for n in report["notes"] if n.startswith("coturn ") and " assumed for " in n)
    assert "local turnserver --version" in note
    assert installed.stdout.strip().splitlines()[0].strip() in note


# --- lint speaks like a linter (issue 22) -------------------------------------------------------------------

LINE = re.compile(r"^(?P<file>[^:]+)(:(?P<line>\d+))?: (?P<severity>ERROR|WARNING|INFO) "
                  r"(?P<id>[A-Z0-9-]+) \S")


def test_text_format_is_one_line_per_finding_fix_below_summary_last() -> None:
    wide = str(FIXTURES / "wide-open.conf")
    proc = run(wide, "--coturn-version", "4.6.1")
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"rtcdiag lint: coturn 4.6.1 assumed for {wide} (from --coturn-version")
    assert re.match(r"^rtcdiag lint: FAIL: \d+ errors, \d+ warnings, \d+ notes? in 1 file", lines[-1])
    _, report = run_json(wide, "--coturn-version", "4.6.1")
    found = [m for m in map(LINE.match, lines) if m]
    assert len(found) == len(report["findings"]) and {m["file"] for m in found} == {wide}
    for index, line in enumerate(lines[1:-1], start=1):
        if LINE.match(line):
            assert lines[index + 1].startswith("    fix: ")  # the fix right below its finding
    numbered = [int(m["line"]) for m in found if m["line"]]
    assert numbered and numbered == sorted(numbered)
    assert "      denied-peer-ip=10.0.0.0-10.255.255.255" in lines  # multi-line config: one line each
    [quiet] = run(wide, "--coturn-version", "4.6.1", "-q").stdout.splitlines()
    assert lines[-1].startswith(quiet)


def test_gcc_format_is_what_editors_read() -> None:
    wide = str(FIXTURES / "wide-open.conf")
    proc = run(wide, "--coturn-version", "4.6.1", "--format", "gcc")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    gcc = re.compile(rf"^{re.escape(wide)}:\d+:1: (error|warning|note): .+ \[[A-Z0-9-]+\]$")
    assert lines and all(gcc.match(line) for line in lines), proc.stdout


def test_github_format_gives_escaped_annotations(tmp_path: Path) -> None:
    conf = tmp_path / "turnserver.conf"
    conf.write_text("# coturn 4.17.1\nlt-cred-mec\nrealm=example.org\nuser=alice:" + "p" * 20 + "\n")
    proc = run(str(conf), "--format", "github")
    annotations = [line for line in proc.stdout.splitlines() if line.startswith("::")]
    unknown = next(line for line in annotations if "title=LINT-UNKNOWN-OPTION" in line)
    where = str(conf).replace(":", "%3A")
    assert unknown.startswith(f"::error file={where},line=2,title=LINT-UNKNOWN-OPTION::")
    assert "%0AFix: " in unknown and unknown.endswith("%0Alt-cred-mech")  # line breaks escaped
    assert all("\n" not in line for line in annotations)


def test_unknown_options_name_the_nearest_known_one(tmp_path: Path) -> None:
    conf = tmp_path / "turnserver.conf"
    conf.write_text("lt-cred-mec\nno-clii\nrealm=example.org\nuser=alice:" + "p" * 20
                    + "\nwhatever-this-is=1\n")
    _, report = run_json(str(conf), "--coturn-version", "4.17.1")
    unknown = {f["params"]["option"]: f for f in report["findings"] if f["id"] == "LINT-UNKNOWN-OPTION"}
    assert unknown["lt-cred-mec"]["snippet"] == ["lt-cred-mech"]
    assert unknown["lt-cred-mec"]["severity"] == "error"
    assert unknown["no-clii"]["snippet"] == ["no-cli"]
    assert "the nearest one is `no-cli`" in unknown["no-clii"]["symptom"]
    assert unknown["whatever-this-is"]["snippet"] == []
    assert unknown["whatever-this-is"]["severity"] == "warning"


def test_a_file_that_is_not_a_turnserver_conf_is_exit_2(tmp_path: Path) -> None:
    hostname = tmp_path / "hostname"
    hostname.write_text("myhost\n")
    proc = run(str(hostname))
    assert (proc.returncode, proc.stdout, proc.stderr.count("\n")) == (2, "", 1)
    assert "not a turnserver.conf" in proc.stderr and "'myhost'" in proc.stderr


def test_the_files_own_version_comment_and_the_option_win_over_the_local_binary(tmp_path: Path) -> None:
    conf = tmp_path / "turnserver.conf"
    body = "use-auth-secret\nstatic-auth-secret=" + "s" * 40 + "\nrealm=example.org\n"
    conf.write_text("# coturn 4.17.1\n" + body)
    _, report = run_json(str(conf))
    note = report["notes"][0]
    assert note.startswith(f"coturn 4.17.1 assumed for {conf} (from the file's own `# coturn` comment: "
                           "line 1")
    assert "LINT-ADVISORY" not in {f["id"] for f in report["findings"]}  # 4.17.1 has every fix
    _, report = run_json(str(conf), "--coturn-version", "4.6.1")
    assert report["notes"][0].startswith(f"coturn 4.6.1 assumed for {conf} (from --coturn-version")
    assert "LINT-ADVISORY" in {f["id"] for f in report["findings"]}
    conf.write_text("# for coturn 4.x\n" + body)
    _, report = run_json(str(conf))
    assert "(from the file's own `# coturn` comment: line 1: coturn 4.x)" in report["notes"][0]
    # No exact version, and still not the local binary's.
    assert "LINT-VERSION-UNKNOWN" in {f["id"] for f in report["findings"]}


def test_masking_never_damages_an_option_name(tmp_path: Path) -> None:
    conf = tmp_path / "turnserver.conf"
    conf.write_text("# coturn 4.17.1\nuse-auth-secret\nstatic-auth-secret=secret\nrealm=example.org\n")
    proc = run(str(conf), "-v")
    assert "static-auth-secret is an example value" in proc.stdout
    assert "static-auth-***" not in proc.stdout and "***" not in proc.stdout.replace("static-auth-secret", "")
