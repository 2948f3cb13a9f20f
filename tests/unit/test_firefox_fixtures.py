"""``rtcdiag analyze`` on real Firefox evidence: every fixture in tests/fixtures/firefox/ is what Debian's
headless firefox-esr gave (getAllStats, getLogging, about:webrtc saved as "Save Page" writes it) while
tests/browser/make_firefox_fixtures.py drove it through one scenario against a coturn on loopback. Each
evidence form must give the scenario's root cause, or inconclusive where that form cannot see it (a report
without its ICE log cannot tell a 401 from a dead server; a saved page has no DTLS state; about:webrtc keeps
no getUserMedia record)."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

from rtcdiag.checks.analyze import tables
from rtcdiag.evidence.load import load_all
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Report
from rtcdiag.triage.analyze import judge

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from make_firefox_fixtures import FORMS, SCENARIOS, Scenario, form_files, paths
from make_fixtures import TURN_PASSWORD, TURN_USER


def analyze(files: list[Path]) -> Report:
    dumps = load_all(files)
    return build_report("analyze", judge(dumps), tables=tables(dumps))


CASES = [(s, form) for s in SCENARIOS for form in FORMS if form in s.expect]


@pytest.mark.parametrize(("scenario", "form"), CASES, ids=[f"{s.name}-{f}" for s, f in CASES])
def test_each_form_gives_the_scenarios_root_cause(scenario: Scenario, form: str) -> None:
    report = analyze(form_files(scenario.name, form))
    roots, code = scenario.expect[form]
    assert {f.id for f in report.roots} == set(roots), [f"{f.id}: {f.symptom}" for f in report.roots]
    assert report.exit_code == code


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_the_page_saw_what_the_fixture_is_about(scenario: Scenario) -> None:
    """Ground truth: the page's own states are the scenario (else the generator is broken)."""
    page = json.loads(paths(scenario.name)["truth"].read_text())["page"]
    if scenario.params["mode"] == "gum":
        assert page["errors"] and page["errors"][0].startswith("getUserMedia: Not")
    elif scenario.expect["report"][1] == 0:
        assert page["connectionState"] == "connected"
    else:
        assert page["connectionState"] != "connected"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_no_fixture_holds_turn_credentials(scenario: Scenario) -> None:
    for what, path in paths(scenario.name).items():
        if not path.exists():
            continue
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        for secret in (TURN_PASSWORD, TURN_PASSWORD[::-1], TURN_USER):
            assert secret.encode() not in data, (what, path.name)


def test_a_wrong_password_is_named_from_the_log_and_the_page() -> None:
    """The 401 comes from Firefox's own ICE log lines, quoted, with the URL as configured."""
    report = analyze(form_files("turn-wrong-password", "page"))
    root = report.roots[0]
    assert root.id == "ANALYZE-TURN-401" and "?transport=udp" in root.title
    assert any("stun error code 401" in line for line in root.evidence)


def test_the_report_alone_says_what_it_cannot_tell_and_how_to_tell() -> None:
    report = analyze(form_files("turn-dead-port", "report"))
    root = report.roots[0]
    assert root.id == "ANALYZE-TURN-NO-RELAY-UNEXPLAINED"
    assert "Save Page" in root.fix and "401" in root.symptom
    assert report.exit_code == 3


def test_a_page_saved_by_save_page_is_latin1_and_still_read() -> None:
    """"Save Page" keeps only the low byte of each UTF-16 unit: the copy buttons' emoji make the file
    invalid UTF-8; it is read as Latin-1."""
    data = gzip.decompress(paths("healthy-relay")["page"].read_bytes())
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert analyze(form_files("healthy-relay", "page")).exit_code == 0


def test_the_healthy_report_reads_the_selected_relay_pair_and_the_dtls_state() -> None:
    dumps = load_all(form_files("healthy-relay", "report"))
    from rtcdiag.triage.analyze import summarize_all

    summaries = summarize_all(dumps)
    assert len(summaries) == 2
    for s in summaries:
        assert s.selected is not None and s.selected.local_type == "relay"
        assert s.dtls_state == "connected" and s.connected
        assert s.local_sdp is not None and s.remote_sdp is not None
