"""``rtcdiag analyze`` on real browser evidence: every fixture in tests/fixtures/analyze/ is a dump that
Debian's headless Chromium downloaded from chrome://webrtc-internals while tests/browser/make_fixtures.py
drove it through one scenario against a coturn on loopback. Each scenario must give its own root cause,
once."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rtcdiag.checks.analyze import tables
from rtcdiag.evidence.load import load_dump
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Report
from rtcdiag.triage.analyze import judge

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from make_fixtures import SCENARIOS, TURN_PASSWORD, TURN_USER, Scenario, fixture_path, rtcstats_path


def _report(path: Path) -> Report:
    dumps = [load_dump(path)]
    return build_report("analyze", judge(dumps), tables=tables(dumps))


def _rtcdiag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "120"}, check=False)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_each_scenario_gives_its_root_cause(scenario: Scenario) -> None:
    report = _report(fixture_path(scenario.name))
    roots = {f.id for f in report.roots}
    if scenario.expect:
        assert roots == {scenario.expect}, [f"{f.id}: {f.symptom}" for f in report.roots]
    else:
        assert roots == set(), [f"{f.id}: {f.symptom}" for f in report.roots]
    assert report.exit_code == scenario.expect_exit


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_the_rtcstats_dump_of_the_same_run_gives_the_same_root_cause(scenario: Scenario) -> None:
    report = _report(rtcstats_path(scenario.name))
    expect = scenario.expect if scenario.rtcstats_expect is None else scenario.rtcstats_expect
    assert {f.id for f in report.roots} == ({expect} if expect else set())
    exit_code = scenario.expect_exit if scenario.rtcstats_exit is None else scenario.rtcstats_exit
    assert report.exit_code == exit_code


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_no_fixture_holds_turn_credentials(scenario: Scenario) -> None:
    for path in (fixture_path(scenario.name), fixture_path(scenario.name).with_name(
            f"{scenario.name}.rtcstats.gz")):
        text = gzip.decompress(path.read_bytes())
        assert TURN_PASSWORD.encode() not in text
        assert b"credential" not in text.lower()
        assert TURN_USER.encode() not in text  # rtcConfiguration keeps the URLs only
        assert len(path.read_bytes()) < 64 * 1024  # fixtures stay small


def test_wrong_password_names_the_url_and_folds_the_relay_only_consequence() -> None:
    report = _report(fixture_path("turn-wrong-password"))
    [root] = report.roots
    assert root.subject.server.startswith("turn:127.0.0.1:") and root.subject.transport == "udp"
    assert root.params["code"] == "401" and root.params["count"] == "2"  # both peer connections, one finding
    assert any("onicecandidateerror" in line and "error_code=401" in line for line in root.evidence)
    folded = report.explained(root)
    assert [f.id for f in folded] == ["ANALYZE-RELAY-ONLY-NO-CANDIDATE"] * 2
    assert {f.subject.server for f in folded} == {"pc 8-1", "pc 8-2"}


def test_dead_udp_turn_port_states_the_stun_701_under_the_turn_701() -> None:
    report = _report(fixture_path("turn-dead-port"))
    [root] = report.roots
    assert root.id == "ANALYZE-TURN-UNREACHABLE"
    # Chromium's 701 for the STUN binding to the same address, and the 40 s gathering, fold under it.
    assert {f.id for f in report.explained(root)} == {
        "ANALYZE-STUN-UNREACHABLE", "ANALYZE-RELAY-ONLY-NO-CANDIDATE", "ANALYZE-SLOW-GATHERING"}


def test_dtls_failure_quotes_the_transport_stats_and_the_fingerprint() -> None:
    report = _report(fixture_path("dtls-fingerprint"))
    root = report.roots[0]
    assert root.params["stats_id"] == "T01" and root.params["dtls"] == "failed"
    assert root.params["fingerprint"].startswith("sha-256 ")
    assert any(line.startswith("remote a=fingerprint:sha-256") for line in root.evidence)
    statuses = {(c.suite, c.name): c.status.value for c in report.checks}
    assert statuses[("pc 8-1", "dtls")] == "fail" and statuses[("pc 8-1", "ice")] == "pass"


def test_glare_is_one_statement_for_both_sides() -> None:
    report = _report(fixture_path("glare"))
    groups = report.root_groups()
    assert len(groups) == 1 and {f.subject.server for f in groups[0]} == {"pc 8-1", "pc 8-2"}
    assert "wrong state: stable" in groups[0][0].params["failure"]
    # ICE is not judged when signalling failed: skipped with the reason.
    ice = [c for c in report.checks if c.name == "ice"]
    assert ice and all(c.status.value == "skip" and "signalling failed" in c.message for c in ice)


def test_healthy_relay_call_has_tables_with_the_selected_relay_pair() -> None:
    report = _report(fixture_path("healthy-relay"))
    selected = next(t for t in report.tables if t.title == "Selected candidate pairs")
    assert [row[0] for row in selected.rows] == ["pc 8-1", "pc 8-2"]
    for row in selected.rows:
        assert row[1].startswith("relay udp 127.0.0.1:") and row[3] == "udp" and float(row[4]) >= 0
        assert row[5] == "connected" and row[6] == "connected"
    timeline = next(t for t in report.tables if t.title.startswith("pc 8-1 timeline"))
    seen = [(row[2], row[3]) for row in timeline.rows]
    for step in [("signaling state", "have-local-offer"), ("ICE gathering state", "complete"),
                 ("ICE connection state", "connected"), ("connection state", "connected"),
                 ("DTLS state", "connected"), ("first candidate", "relay")]:
        assert step in seen
    # In the order it happened (the first relay candidate before "gathering complete"), every row timed:
    # DTLS connected at the moment the connection state says so (W3C webrtc-pc §4.3.3).
    offsets = [int(row[1].removeprefix("+").removesuffix(" ms")) for row in timeline.rows]
    assert offsets == sorted(offsets)
    dtls = next(row for row in timeline.rows if row[2] == "DTLS state")
    connected = next(row for row in timeline.rows if row[2:] == ["connection state", "connected"])
    assert dtls[0] == connected[0] != "(stats)"
    rtp = next(t for t in report.tables if t.title == "pc 8-2 RTP streams")
    [inbound] = [row for row in rtp.rows if row[1] == "in"]
    assert inbound[2] == "audio" and int(inbound[3]) > 0 and inbound[4] == "0.0%"
    assert 5 < float(inbound[5]) < 200  # Opus from the fake microphone: tens of kbit/s
    candidates = next(t for t in report.tables if t.title == "pc 8-1 candidates")
    local = [row for row in candidates.rows if row[0] == "local"]
    assert local
    assert all(row[1] == "relay" and row[5] == "udp" and row[6].startswith("turn:") for row in local)


def test_mdns_only_is_a_warning_that_names_a_local_name() -> None:
    report = _report(fixture_path("no-ice-servers-mdns"))
    assert {f.id for f in report.roots} == {"ANALYZE-MDNS-ONLY"}
    assert all(f.params["example"].endswith(".local") for f in report.roots)


def test_cli_json_report_and_exit_code() -> None:
    result = _rtcdiag("analyze", "--json", str(fixture_path("turn-wrong-password")))
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert [r["id"] for r in data["root_causes"]] == ["ANALYZE-TURN-401"]
    assert any(t["title"] == "Selected candidate pairs" for t in data["tables"])


def test_cli_console_report_opens_with_the_diagnosis() -> None:
    result = _rtcdiag("analyze", str(fixture_path("gum-no-camera")))
    assert result.returncode == 1
    text = result.stdout
    assert text.index("Diagnosis") < text.index("ERROR ANALYZE-GUM-NOT-FOUND")
    assert "Checks" not in text  # the table of steps comes with -v
    verbose = _rtcdiag("analyze", "-v", str(fixture_path("gum-no-camera"))).stdout
    assert verbose.index("ERROR ANALYZE-GUM-NOT-FOUND") < verbose.index("Checks")


@pytest.mark.parametrize("name", ["healthy-relay", "turn-dead-port", "glare", "gum-denied"])
def test_json_report_validates_against_the_schema(name: str) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the test extra")
    from rtcdiag.report import json_report

    result = _rtcdiag("analyze", "--json", str(fixture_path(name)))
    jsonschema.Draft202012Validator(json_report.load_schema()).validate(json.loads(result.stdout))


def test_relay_over_tcp_names_the_protocol_and_the_rtt() -> None:
    report = _report(fixture_path("relay-over-tcp"))
    assert {f.id for f in report.roots} == {"ANALYZE-RELAY-TCP"} and report.exit_code == 0
    for finding in report.roots:
        assert finding.params["protocol"] == "TCP" and finding.params["url"].endswith("?transport=tcp")
        assert finding.params["rtt"].endswith(" ms")


def test_peer_refused_by_the_turn_acl_is_about_the_turn_server() -> None:
    report = _report(fixture_path("turn-peer-acl"))
    roots = report.roots
    assert {f.id for f in roots} == {"ANALYZE-RELAY-REFUSED"}
    assert all(f.subject.host == "127.0.0.1" and f.subject.transport == "udp" for f in roots)
    assert all(0 <= float(f.params["ms"]) <= 1000 for f in roots)
