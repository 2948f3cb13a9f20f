"""``rtcdiag analyze`` verdicts that must hold on any real call (issue 19): the real Chromium calls that
tests/integration/analyze_dump_scenarios.py made against coturn on loopback, each with its ground truth.

Every call in tests/fixtures/analyze/ with a ``{name}.truth.json`` is what the page itself saw (each side's
connection/ICE states, its icecandidateerror events, data-channel messages received, what coturn logged),
next to the webrtc-internals dump and the rtcstats dump Chromium downloaded, and for some the caller's own
``pc.getStats()`` output. A healthy call exits 0 from every form (warnings allowed); a failing one gives its
one right root; the forms of one call agree, or the weaker one says inconclusive (exit 3).

Hand-made evidence, each said where it is used: one peer connection taken out of a real dump (the caller's
browser alone, as a two-browser call gives it), a real dump's configured URLs respelled, and a minimal
Firefox about:webrtc report (no Firefox run here: its shape is written from the RTCStatsReportInternal
dictionary, dom/webidl/RTCStatsReport.webidl).
"""

from __future__ import annotations

import gzip
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.checks.analyze import tables
from rtcdiag.evidence.load import load_all
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Report
from rtcdiag.triage.analyze import judge

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from analyze_dump_scenarios import BY_NAME

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "analyze"
TURN_PASSWORD = "fixture-Pa55-not-in-dumps"  # tests/browser/make_fixtures.py's

CALLS = list(BY_NAME)
HEALTHY = [name for name in CALLS if BY_NAME[name].expect_exit == 0]


def expected(form: str) -> tuple[set[str], int]:
    """(root-cause ids, exit code) a form of a call must give: its getStats output may say it cannot tell."""
    call = BY_NAME[form.split(".")[0]]
    if form.endswith(".getstats.json.gz") and call.getstats_exit is not None:
        return set(), call.getstats_exit
    return set(call.expect), call.expect_exit


def _forms(name: str) -> list[Path]:
    return [p for p in (FIXTURES / f"{name}.webrtc-internals.json.gz", FIXTURES / f"{name}.rtcstats.gz",
                        FIXTURES / f"{name}.getstats.json.gz") if p.exists()]


def _truth(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.truth.json").read_text())
    return data


def _report(*paths: Path) -> Report:
    dumps = load_all(list(paths))
    return build_report("analyze", judge(dumps), tables=tables(dumps))


def _rtcdiag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "120"}, check=False)


def _states(truth: dict[str, Any], side: str, what: str) -> list[str]:
    return [state for kind, state, _ in truth["states"][side] if kind == what]


def test_every_call_with_ground_truth_is_judged_here() -> None:
    assert {p.name.removesuffix(".truth.json") for p in FIXTURES.glob("*.truth.json")} == set(CALLS)


@pytest.mark.parametrize("name", list(CALLS))
def test_the_ground_truth_is_what_the_verdict_claims(name: str) -> None:
    """The page's own record agrees with the expected verdict: healthy calls connected and carried data."""
    truth = _truth(name)
    assert "HeadlessChrome" in truth["user_agent"]
    connected = "connected" in _states(truth, "a", "connection")
    errors = {code for side in "ab" for _, code, _, _ in truth["candidateErrors"][side]}
    if name in HEALTHY:
        assert connected and truth["dc"] == "open" and truth["received"] >= 10 and not errors
    elif name == "turn-killed":
        assert connected and truth["coturn_killed"] and _states(truth, "a", "connection")[-1] == "failed"
    else:
        assert not connected and errors  # never connected, and the browser said why
    if name.startswith("callee-"):
        assert truth["final"]["b"] == ["closed", "closed"] or name == "callee-quota-486"


@pytest.mark.parametrize(("name", "form"), [(n, p.name) for n in CALLS for p in _forms(n)])
def test_each_form_of_each_call_gives_its_verdict(name: str, form: str) -> None:
    roots, code = expected(form)
    report = _report(FIXTURES / form)
    assert {f.id for f in report.roots} == roots, [f"{f.id}: {f.symptom}" for f in report.roots]
    assert report.exit_code == code
    assert code in (BY_NAME[name].expect_exit, 3)  # the forms of one call agree, or one cannot tell
    # One root per failure: the same id from several connections is one statement.
    assert len(report.root_groups()) == len(roots)


@pytest.mark.parametrize("name", HEALTHY)
def test_no_healthy_call_has_an_error_anywhere(name: str) -> None:
    for path in _forms(name):
        report = _report(path)
        assert not [f.id for f in report.findings if f.severity.value == "error"], path.name
        assert all(c.status.value != "fail" for c in report.checks), path.name


@pytest.mark.parametrize("name", list(CALLS))
def test_no_fixture_holds_turn_credentials(name: str) -> None:
    for path in [*_forms(name), FIXTURES / f"{name}.truth.json"]:
        raw = path.read_bytes()
        text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        assert TURN_PASSWORD.encode() not in text and TURN_PASSWORD[::-1].encode() not in text
        assert b'"credential"' not in text
        assert len(raw) < 64 * 1024


# ---- 1. URLs compared by what they mean -------------------------------------------------------------------

def test_plain_turn_url_candidates_count_for_the_configured_server() -> None:
    """Configured turn:127.0.0.1:P; every candidate says turn:127.0.0.1:P?transport=udp: one server."""
    report = _report(FIXTURES / "healthy-relay-plain-url.webrtc-internals.json.gz")
    [step] = [c for c in report.checks if c.name.endswith("gather") and c.suite.startswith("turn:")]
    assert "?transport=" not in step.suite and "relay candidate gathered in 2/2" in step.message
    candidates = next(t for t in report.tables if t.title == "pc 8-1 candidates")
    assert all(row[6].endswith("?transport=udp") for row in candidates.rows if row[0] == "local")


def test_wrong_password_with_a_plain_url_is_one_401_under_the_configured_spelling() -> None:
    for path in _forms("turn-wrong-password-plain-url"):
        report = _report(path)
        [root] = report.roots
        assert root.id == "ANALYZE-TURN-401" and root.params["count"] == "2"
        assert "?transport=" not in root.params["url"] and root.subject.transport == "udp"
        assert all("url=turn:127.0.0.1:" in line and line.count("?transport=udp") == 1
                   for line in root.evidence)
        assert "ANALYZE-TURN-NO-RELAY" not in {f.id for f in report.findings}
        assert {f.id for f in report.explained(root)} == {"ANALYZE-RELAY-ONLY-NO-CANDIDATE"}


def test_several_urls_in_one_entry_each_give_their_relay() -> None:
    """stun:, turn: and turn:?transport=tcp in one iceServers entry, relay-only: each TURN URL is its own
    server and each gave a relay candidate (the callee connected over UDP before its TCP allocation was
    done, and Chromium stopped gathering: nothing to say about that); a STUN URL gives nothing in a
    relay-only call and nothing is said about it."""
    truth = _truth("mixed-urls-relay")
    assert [c[2] for c in truth["candidates"]["a"]] == ["", "tcp"] and len(truth["candidates"]["b"]) == 1
    report = _report(FIXTURES / "mixed-urls-relay.webrtc-internals.json.gz")
    steps = {c.suite: c.message for c in report.checks if c.name.endswith("gather")}
    udp = next(v for k, v in steps.items() if k.startswith("turn:") and "?" not in k)
    tcp = next(v for k, v in steps.items() if k.startswith("turn:") and k.endswith("?transport=tcp"))
    assert "relay candidate gathered in 2/2" in udp and "relay candidate gathered in 1/2" in tcp
    assert report.findings == []


@pytest.mark.parametrize("spelling", ["turn:127.0.0.1:{port}", "TURN:127.0.0.1:{port}",
                                      "turn:127.0.0.1:{port}?transport=udp",
                                      "Turn:127.0.0.1:{port}?TRANSPORT=UDP"])
@pytest.mark.parametrize("name", ["healthy-relay", "turn-wrong-password", "healthy-relay-ipv6"])
def test_a_real_dump_respelled_gives_the_same_verdict(tmp_path: Path, name: str, spelling: str) -> None:
    """The configured URL of a real dump written the ways apps write it (hand-edited rtcConfiguration;
    the candidates and errors keep what Chromium wrote): the verdict does not move."""
    original = json.loads(gzip.decompress((FIXTURES / f"{name}.webrtc-internals.json.gz").read_bytes()))
    expected = _report(FIXTURES / f"{name}.webrtc-internals.json.gz")
    for pc in original["PeerConnections"].values():
        config = json.loads(pc["rtcConfiguration"])
        [url] = config["iceServers"][0]["urls"]
        host, port = url.split("?")[0].removeprefix("turn:").rsplit(":", 1)
        written = spelling.format(port=port).replace("127.0.0.1", host)
        config["iceServers"][0]["urls"] = [written]
        pc["rtcConfiguration"] = json.dumps(config)
    path = tmp_path / "respelled.json"
    path.write_text(json.dumps(original))
    report = _report(path)
    assert [f.id for f in report.roots] == [f.id for f in expected.roots]
    assert report.exit_code == expected.exit_code
    assert "ANALYZE-TURN-NO-RELAY" not in {f.id for f in report.findings}


# ---- 2. a TURN refusal on the other side is the root, not "trickle is broken" ------------------------------

def test_callee_486_explains_the_callers_missing_remote_candidates() -> None:
    report = _report(FIXTURES / "callee-quota-486.webrtc-internals.json.gz")
    [root] = report.roots
    assert root.id == "ANALYZE-TURN-486" and root.params["pcs"] == "pc 8-2"  # only the callee was refused
    folded = {f.id: f for f in report.explained(root)}
    assert set(folded) == {"ANALYZE-NO-REMOTE-CANDIDATES", "ANALYZE-RELAY-ONLY-NO-CANDIDATE"}
    no_remote = folded["ANALYZE-NO-REMOTE-CANDIDATES"]
    assert no_remote.params["pc"] == "pc 8-1" and "pc 8-2, in this evidence" in no_remote.symptom
    assert "486" in no_remote.symptom


def _only_caller(tmp_path: Path, name: str) -> Path:
    """The real dump with the callee's connection taken out: what the caller's own browser would give."""
    data = json.loads(gzip.decompress((FIXTURES / f"{name}.webrtc-internals.json.gz").read_bytes()))
    data["PeerConnections"] = {k: v for k, v in data["PeerConnections"].items() if k == "8-1"}
    path = tmp_path / f"{name}-caller.json"
    path.write_text(json.dumps(data))
    return path


def test_remote_unknown_and_own_turn_refusal_folds_under_the_refusal(tmp_path: Path) -> None:
    """quota-486-both: the caller's own second Allocate was refused 486; the callee is not in the evidence."""
    report = _report(_only_caller(tmp_path, "quota-486-both"))
    [root] = report.roots
    assert root.id == "ANALYZE-TURN-486"
    [no_remote] = [f for f in report.explained(root) if f.id == "ANALYZE-NO-REMOTE-CANDIDATES"]
    assert "not in this evidence" in no_remote.symptom


def test_remote_unknown_without_a_turn_error_stays_its_own_root(tmp_path: Path) -> None:
    """callee-quota-486 seen from the caller alone: it had no error of its own; nothing says why the other
    side sent nothing, so "no remote candidates" stands (with both possible causes in its words)."""
    report = _report(_only_caller(tmp_path, "callee-quota-486"))
    [root] = report.roots
    assert root.id == "ANALYZE-NO-REMOTE-CANDIDATES" and root.params["remote"] == ""
    assert "its own gathering failed" in root.cause and "signalling" in root.cause


# ---- 3. what a dump cannot tell apart is said as such -----------------------------------------------------

def test_turns_701_reads_the_same_for_a_dead_port_and_a_refused_certificate() -> None:
    dead = _report(FIXTURES / "turns-dead-port.webrtc-internals.json.gz").roots
    refused = _report(FIXTURES / "turns-self-signed.webrtc-internals.json.gz").roots
    assert [f.id for f in dead] == [f.id for f in refused] == ["ANALYZE-TURNS-CONNECT-FAILED"]
    assert dead[0].params["text"] == refused[0].params["text"] == "Failed to establish connection"
    root = refused[0]
    url = root.params["url"]
    assert url.startswith("turns:127.0.0.1:") and root.subject.transport == "tls"
    assert "certificate" in root.cause and "nothing accepted the TCP connection" in root.cause
    assert f"`rtcdiag turn-check {shlex.quote(url)}`" in root.fix and "--insecure" in root.fix
    assert "rtcdiag ports" not in root.fix


def test_tcp_701_stays_unreachable() -> None:
    """turn:?transport=tcp to a closed port (the committed turn-dead-tcp dump): no TLS, nothing to confuse."""
    [root] = _report(FIXTURES / "turn-dead-tcp.webrtc-internals.json.gz").roots
    assert root.id == "ANALYZE-TURN-UNREACHABLE" and root.subject.transport == "tcp"


# ---- 4. a file half-understood never passes ---------------------------------------------------------------

# Hand-written (no Firefox run on this machine): the fields of Firefox's RTCStatsReportInternal as
# about:webrtc holds them (WebrtcGlobalInformation.getAllStats() gives {"reports": [...]}).
_FIREFOX_REPORT = {
    "pcid": "1b2c (id=4294967297 url=https://example.org/call)", "browserId": 2, "timestamp": 1.7e12,
    "closed": False, "offerer": True, "iceRestarts": 0, "iceRollbacks": 0,
    "configuration": {"iceServers": [{"urls": ["turn:turn.example.org:3478"]}],
                      "iceTransportPolicy": "relay"},
    "jsepSessionErrors": [], "sdpHistory": [{"isLocal": True, "timestamp": 1.7e12, "sdp": "v=0\r\n"}],
    "iceCandidatePairStats": [{"id": "p1", "timestamp": 1.7e12, "type": "candidate-pair", "state": "failed",
                               "localCandidateId": "l1", "remoteCandidateId": "r1"}],
    "iceCandidateStats": [{"id": "l1", "timestamp": 1.7e12, "type": "local-candidate", "address": "10.0.0.5",
                           "port": 5000, "protocol": "udp", "candidateType": "host"}],
    "rawLocalCandidates": ["candidate:0 1 UDP 2122252543 10.0.0.5 5000 typ host"], "rawRemoteCandidates": [],
    "transportStats": [], "inboundRtpStreamStats": [], "outboundRtpStreamStats": [],
}


@pytest.mark.parametrize("document", [_FIREFOX_REPORT, {"reports": [_FIREFOX_REPORT]},
                                      {"reports": [_FIREFOX_REPORT], "sdpHistories": []}],
                         ids=["copy-report", "get-all-stats", "stats-history"])
def test_a_firefox_report_is_read_and_never_passes_half_understood(tmp_path: Path,
                                                                    document: dict[str, Any]) -> None:
    """Read by rtcdiag.evidence.firefox (issue 25; real evidence: tests/unit/test_firefox_fixtures.py):
    relay-only, no relay candidate, and no ICE log to say why: the report cannot tell a 401 from a dead
    server, so the verdict is inconclusive, never a pass and never a guess."""
    path = tmp_path / "about-webrtc.json"
    path.write_text(json.dumps(document))
    result = _rtcdiag("analyze", str(path), "--json")
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr
    report = json.loads(result.stdout)
    assert [f["id"] for f in report["findings"] if not f.get("explained_by")] == [
        "ANALYZE-TURN-NO-RELAY-UNEXPLAINED"]


@pytest.mark.parametrize(("document", "words"), [
    ({"iceServers": [{"urls": "turn:h.example"}]}, "an RTCIceServer configuration"),
    ({"root_causes": [], "findings": []}, "an rtcdiag JSON report"),
    ({"calls": 3}, "JSON of no known evidence shape (top-level keys: calls)"),
])
def test_json_of_another_shape_is_named(tmp_path: Path, document: Any, words: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps(document))
    result = _rtcdiag("analyze", str(path))
    assert result.returncode == 2 and f"x.json looks like {words}" in result.stderr


def test_getstats_with_nothing_to_judge_is_inconclusive_never_a_pass(tmp_path: Path) -> None:
    """RTCStats read, but only a transport still "new" and a codec: no candidate, no state past "new"."""
    path = tmp_path / "stats.json"
    path.write_text(json.dumps([{"id": "T01", "type": "transport", "timestamp": 1.7e12, "iceState": "new",
                                 "dtlsState": "new"},
                                {"id": "C1", "type": "codec", "timestamp": 1.7e12,
                                 "mimeType": "audio/opus"}]))
    report = _report(path)
    assert report.exit_code == 3 and report.findings == []
    assert any("nothing to judge" in c.message for c in report.checks)


def test_a_dump_whose_connections_never_did_anything_is_inconclusive(tmp_path: Path) -> None:
    data = {"getUserMedia": [], "PeerConnections": {"1-1": {
        "rtcConfiguration": "{\"iceServers\":[]}", "url": "https://example.org/", "updateLog": [],
        "stats": {}}}}
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(data))
    assert _report(path).exit_code == 3


# ---- 5. healthy events are not trouble --------------------------------------------------------------------

def test_ice_restart_that_stays_connected_passes() -> None:
    truth = _truth("ice-restart")
    assert _states(truth, "a", "connection")[-1] == "connected" and truth["received"] == 20
    assert truth["coturn"]["allocate success"] == 4  # new candidates after the restart: new allocations
    report = _report(FIXTURES / "ice-restart.webrtc-internals.json.gz")
    assert report.findings == [] and report.exit_code == 0


@pytest.mark.parametrize("name", ["callee-close", "callee-page-closed", "connection-lost"])
def test_the_other_side_closing_is_a_hang_up_not_a_lost_connection(name: str) -> None:
    """Its close_notify puts this side's DTLS in "closed" before ICE goes disconnected/failed (the committed
    connection-lost scenario is the callee's pc.close() too)."""
    for path in (FIXTURES / f"{name}.webrtc-internals.json.gz", FIXTURES / f"{name}.rtcstats.gz"):
        report = _report(path)
        closed = [f for f in report.findings if f.id == "ANALYZE-REMOTE-CLOSED"]
        assert [f.params["pc"] for f in closed] == ["pc 8-1"], path.name
        assert closed[0].severity.value == "info" and "close_notify" in closed[0].symptom
        assert "ANALYZE-CONNECTION-LOST" not in {f.id for f in report.findings}
        assert report.exit_code == 0


def test_a_connection_lost_in_the_network_is_still_lost() -> None:
    """coturn killed mid-call: DTLS stays "connected" to the end, consent goes unanswered."""
    report = _report(FIXTURES / "turn-killed.webrtc-internals.json.gz")
    lost = [f for f in report.roots if f.id == "ANALYZE-CONNECTION-LOST"]
    assert {f.params["pc"] for f in lost} == {"pc 8-1", "pc 8-2"}
    assert "ANALYZE-REMOTE-CLOSED" not in {f.id for f in report.findings}
    [line] = [e for e in lost[0].evidence if "consentRequestsSent=" in e]
    sent = int(line.split(" requestsSent=")[1].split()[0])
    answered = int(line.split("responsesReceived=")[1].split()[0])
    assert sent > answered and f"{sent - answered:.0f} of {sent}" in lost[0].symptom
