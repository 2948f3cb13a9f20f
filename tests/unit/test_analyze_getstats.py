"""``rtcdiag analyze`` on getStats output saved by an app, and the second slice of issue 11's diagnoses.

The ``*.getstats.json`` fixtures are the page's own ``pc.getStats()`` results from the same real Chromium runs
as the dumps (tests/browser/make_fixtures.py, ``getStats: true``): every 2 s while the call ran, saved as an
app would save them (a list of reports, ``{id: stats}`` of the last one, ``{"stats": [...]}``). They must be
judged like the dumps of the same runs.

Hand-edited evidence, each said where it is used, only for what no browser on this machine can produce:
TCP-only and IPv6-only candidates (it has an IPv4 and an IPv6 address and UDP works; the candidates of the
real private-host getStats output are edited), an H.264 profile change (the real h264-mismatch SDP edited)
and legacy ``goog*`` stats (Chromium removed them in M117).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.checks.analyze import tables
from rtcdiag.evidence.getstats import reports_of
from rtcdiag.evidence.load import load_all, load_dump
from rtcdiag.evidence.sniff import EvidenceError, EvidenceKind, sniff
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Report
from rtcdiag.triage.analyze import judge
from rtcdiag.triage.finding import Severity

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "analyze"


def _report(*paths: Path) -> Report:
    dumps = load_all(list(paths))
    return build_report("analyze", judge(dumps), tables=tables(dumps))


def _rtcdiag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "120"}, check=False)


def _getstats(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.getstats.json").read_text())


def _write(tmp_path: Path, document: Any, name: str = "stats.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


# ---- the input: sniffed, every saved shape, same model ----------------------------------------------------

@pytest.mark.parametrize("name", ["healthy-relay", "dtls-fingerprint", "dtls-stuck", "private-host"])
def test_real_getstats_files_are_sniffed_and_read_as_one_peer_connection(name: str) -> None:
    data = (FIXTURES / f"{name}.getstats.json").read_bytes()
    assert sniff(data) is EvidenceKind.GETSTATS
    dump = load_dump(FIXTURES / f"{name}.getstats.json")
    [pc] = dump.peer_connections
    assert pc.stats_only and not pc.events
    for kind in ("transport", "candidate-pair", "local-candidate", "remote-candidate", "data-channel"):
        assert pc.of_type(kind), kind


def test_healthy_relay_getstats_gives_the_relay_pair_and_no_finding() -> None:
    report = _report(FIXTURES / "healthy-relay.getstats.json")  # saved as {"stats": [...]}
    assert report.roots == [] and report.exit_code == 0
    selected = next(t for t in report.tables if t.title == "Selected candidate pairs")
    [row] = selected.rows
    assert row[1].startswith("relay udp 127.0.0.1:") and row[3] == "udp" and row[6] == "connected"
    candidates = next(t for t in report.tables if t.title.endswith("candidates"))
    assert all(r[1] == "relay" for r in candidates.rows if r[0] == "local")


def test_dtls_failure_from_getstats_matches_the_dump_of_the_same_run() -> None:
    from_stats = _report(FIXTURES / "dtls-fingerprint.getstats.json")  # saved as {id: stats}
    from_dump = _report(FIXTURES / "dtls-fingerprint.webrtc-internals.json.gz")
    assert {f.id for f in from_stats.roots} == {f.id for f in from_dump.roots} == {"ANALYZE-DTLS-FAILED"}
    [root] = from_stats.roots
    assert root.params["stats_id"] == "T01" and root.params["dtls"] == "failed"
    assert "getStats output holds no SDP" in root.params["fingerprint"]  # it does not pretend to know
    assert any(line.endswith("stats T01.iceState connected") for line in root.evidence)
    # Its host candidates are private too, but DTLS is the failure: that is a note, not a second root.
    assert [f.severity for f in from_stats.findings if f.id == "ANALYZE-PRIVATE-HOST-ONLY"] == [Severity.INFO]


def test_dtls_stuck_from_getstats_snapshots_over_time() -> None:
    snapshots = _getstats("dtls-stuck")
    assert isinstance(snapshots, list) and len(snapshots) >= 5  # a list of reports, 2 s apart
    report = _report(FIXTURES / "dtls-stuck.getstats.json")
    [root] = report.roots
    assert root.id == "ANALYZE-DTLS-STUCK" and report.exit_code == 1
    assert root.params["dtls"] == "connecting" and root.params["role"] == "server"
    assert float(root.params["seconds"]) >= 10


@pytest.mark.parametrize("wrap", ["list", "snapshots-key", "timestamped", "map-in-report"])
def test_wrapper_shapes_read_the_same(tmp_path: Path, wrap: str) -> None:
    snapshots = _getstats("dtls-stuck")
    last = snapshots[-1]
    document: Any = {
        "list": last,
        "snapshots-key": {"peerId": "x", "snapshots": snapshots},
        "timestamped": [{"timestamp": i, "stats": report} for i, report in enumerate(snapshots)],
        "map-in-report": {"report": {s["id"]: {k: v for k, v in s.items() if k != "id"} for s in last}},
    }[wrap]
    reports = reports_of(document)
    assert reports and len(reports[-1]) == len(last)
    dump = load_dump(_write(tmp_path, document))
    [pc] = dump.peer_connections
    transport = pc.stats["T01"]
    assert transport.text("dtlsState") == "connecting" and transport.text("iceState") == "connected"


@pytest.mark.parametrize("document", [{"transport": "udp", "port": 3478}, [], [1, 2], {"stats": []},
                                      [{"type": "transport"}]])
def test_json_that_is_not_getstats_is_one_line_exit_2(tmp_path: Path, document: Any) -> None:
    path = _write(tmp_path, document)
    with pytest.raises(EvidenceError):
        load_dump(path)
    result = _rtcdiag("analyze", str(path))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_truncated_getstats_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_bytes((FIXTURES / "healthy-relay.getstats.json").read_bytes()[:3000])
    result = _rtcdiag("analyze", str(path))
    assert result.returncode == 2 and "not getStats output" in result.stderr


def test_cli_reads_getstats_with_the_usual_exit_code() -> None:
    result = _rtcdiag("analyze", "--json", str(FIXTURES / "dtls-stuck.getstats.json"))
    assert result.returncode == 1, result.stderr
    assert [r["id"] for r in json.loads(result.stdout)["root_causes"]] == ["ANALYZE-DTLS-STUCK"]


def test_legacy_goog_stats(tmp_path: Path) -> None:
    """Hand-written: Chromium's legacy getStats (removed in M117), every value a string."""
    legacy = {"result": [
        {"id": "Cand-L1", "type": "localcandidate", "timestamp": "1700000000000", "ipAddress": "203.0.113.7",
         "portNumber": "50000", "transport": "udp", "candidateType": "relayed", "priority": "41885439"},
        {"id": "Cand-R1", "type": "remotecandidate", "timestamp": "1700000000000",
         "ipAddress": "198.51.100.9", "portNumber": "40000", "transport": "udp",
         "candidateType": "serverreflexive", "priority": "1686052607"},
        {"id": "Conn-audio-1-0", "type": "googCandidatePair", "timestamp": "1700000000000",
         "googActiveConnection": "true", "localCandidateId": "Cand-L1", "remoteCandidateId": "Cand-R1",
         "googRtt": "42", "requestsSent": "10", "responsesReceived": "10", "googWritable": "true"},
    ]}
    dump = load_dump(_write(tmp_path, legacy))
    [pc] = dump.peer_connections
    local = pc.stats["Cand-L1"]
    assert local.type == "local-candidate" and local.text("candidateType") == "relay"
    report = _report(tmp_path / "stats.json")
    selected = next(t for t in report.tables if t.title == "Selected candidate pairs")
    [row] = selected.rows
    assert row[1] == "relay udp 203.0.113.7:50000" and row[2] == "srflx udp 198.51.100.9:40000"
    assert float(row[4]) == pytest.approx(42.0)


def test_older_legacy_pairs_without_candidate_ids(tmp_path: Path) -> None:
    """Hand-written: the older legacy pair (as apps serialised ``report.names()``/``report.stat()``): no
    candidate ids, only googLocalAddress/googRemoteAddress, candidate types "local"/"relay"."""
    legacy = [{"id": "Conn-audio-1-0", "type": "googCandidatePair", "timestamp": "1700000000000",
               "googActiveConnection": "true", "googLocalAddress": "203.0.113.7:50000",
               "googRemoteAddress": "[2001:db8::9]:40000", "googLocalCandidateType": "relay",
               "googRemoteCandidateType": "local", "googTransportType": "udp", "googRtt": "7",
               "googWritable": "true", "requestsSent": "3", "responsesReceived": "3"}]
    report = _report(_write(tmp_path, legacy))
    selected = next(t for t in report.tables if t.title == "Selected candidate pairs")
    [row] = selected.rows
    assert row[1] == "relay udp 203.0.113.7:50000" and row[2] == "host udp 2001:db8::9:40000"
    assert float(row[4]) == pytest.approx(7.0)


# ---- new diagnoses on real Chromium evidence ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["private-host.webrtc-internals.json.gz", "private-host.rtcstats.gz",
                                  "private-host.getstats.json"])
def test_private_host_only_is_a_warning_quoting_the_addresses(name: str) -> None:
    report = _report(FIXTURES / name)
    assert {f.id for f in report.roots} == {"ANALYZE-PRIVATE-HOST-ONLY"} and report.exit_code == 0
    for root in report.roots:
        assert root.severity is Severity.WARNING
        assert "192.0.2.2 (documentation)" in root.params["addresses"]  # TEST-NET-1: not public either
        assert any(line.startswith("remote host udp") for line in root.evidence)


def test_dtls_stuck_in_the_dump_quotes_the_setup_lines() -> None:
    report = _report(FIXTURES / "dtls-stuck.webrtc-internals.json.gz")
    roots = report.roots
    assert {f.id for f in roots} == {"ANALYZE-DTLS-STUCK"}
    caller = next(f for f in roots if f.subject.server == "pc 8-1")
    assert "remote a=setup:active" in caller.evidence  # what a was told: the answerer is active (munged)
    assert all(c.status.value == "pass" for c in report.checks if c.name == "ice")


def test_h264_packetization_mismatch_from_the_real_dump_and_its_sdp_files() -> None:
    from_dump = _report(FIXTURES / "h264-mismatch.webrtc-internals.json.gz")
    [root] = from_dump.roots
    assert root.id == "ANALYZE-H264-MISMATCH" and root.params["what"] == "packetization-mode"
    assert "packetization-mode=1" in root.params["offered"]
    assert "packetization-mode=0" in root.params["answered"]
    from_sdp = _report(FIXTURES / "h264-mismatch.offer.sdp", FIXTURES / "h264-mismatch.answer.sdp")
    assert [f.id for f in from_sdp.roots] == ["ANALYZE-H264-MISMATCH"]


def test_h264_profile_mismatch_and_level_difference(tmp_path: Path) -> None:
    """Hand-edited from the real h264-mismatch SDP: the answer's packetization-mode put back, then its
    profile changed (42e0 -> 4d00: Main), or only its level (1f -> 0d: allowed)."""
    offer = (FIXTURES / "h264-mismatch.offer.sdp").read_text()
    answer = (FIXTURES / "h264-mismatch.answer.sdp").read_text().replace("packetization-mode=0",
                                                                           "packetization-mode=1")
    (tmp_path / "offer.sdp").write_text(offer)
    for edit, expect in (("profile-level-id=4d001f", ["ANALYZE-H264-MISMATCH"]),
                         ("profile-level-id=42e00d", []), ("profile-level-id=42e01f", [])):
        (tmp_path / "answer.sdp").write_text(answer.replace("profile-level-id=42e01f", edit))
        report = _report(tmp_path / "offer.sdp", tmp_path / "answer.sdp")
        assert [f.id for f in report.roots] == expect, edit
        if expect:
            assert report.roots[0].params["what"] == "profile"


@pytest.mark.parametrize("name", ["datachannel-rejected.webrtc-internals.json.gz",
                                  "datachannel-rejected.rtcstats.gz"])
def test_data_channel_rejected_by_the_answer_quotes_the_channel_and_the_m_line(name: str) -> None:
    report = _report(FIXTURES / name)
    [root] = report.roots
    assert root.id == "ANALYZE-DATACHANNEL-REJECTED" and root.params["labels"] == '"rtcdiag"'
    assert any(" createDataChannel " in line for line in root.evidence)
    assert any("m=application 0 UDP/DTLS/SCTP" in line for line in root.evidence)
    # The call itself connected (audio): ICE and DTLS pass; only the data channel is refused.
    assert all(c.status.value == "pass" for c in report.checks if c.name in ("ice", "dtls"))


def test_connection_lost_quotes_the_consent_requests_of_the_selected_pair() -> None:
    # A call really lost in the network (coturn killed mid-call, tests/integration/analyze_dump_scenarios.py);
    # the connection-lost scenario is the other side's pc.close(): ANALYZE-REMOTE-CLOSED.
    report = _report(FIXTURES / "turn-killed.webrtc-internals.json.gz")
    root = report.roots[0]
    assert root.id == "ANALYZE-CONNECTION-LOST"
    [line] = [e for e in root.evidence if "consentRequestsSent=" in e]
    sent = int(line.split("requestsSent=")[1].split()[0])
    answered = int(line.split("responsesReceived=")[1].split()[0])
    assert sent > answered  # the other side went away: consent requests unanswered (RFC 7675)
    assert f"{sent - answered} of {sent}" in root.symptom


# ---- hand-edited candidates (what this machine cannot produce) ------------------------------------------

def _edited_private_host(tmp_path: Path, edit: Any, failed: bool = True) -> Report:
    """The real private-host getStats output with ``edit`` applied to every RTCStats; with ``failed`` the
    connection is made to fail like it would (ICE failed, no pair succeeded, DTLS never started)."""
    snapshots = _getstats("private-host")
    for report in snapshots:
        report[:] = [s for s in (edit(dict(s)) for s in report) if s is not None]
        for stats in report if failed else []:
            if stats["type"] == "transport":
                stats.update(iceState="failed", dtlsState="new")
                stats.pop("selectedCandidatePairId", None)
            if stats["type"] == "candidate-pair":
                stats.update(state="failed", responsesReceived=0, nominated=False)
    return _report(_write(tmp_path, snapshots))


def test_tcp_only_candidates(tmp_path: Path) -> None:
    """Hand-edited: every local candidate of the real private-host run made TCP (UDP blocked)."""
    def tcp(stats: dict[str, Any]) -> dict[str, Any]:
        if stats["type"] == "local-candidate":
            stats["protocol"] = "tcp"
        return stats
    report = _edited_private_host(tmp_path, tcp)
    tcp_only = [f for f in report.findings if f.id == "ANALYZE-TCP-ONLY"]
    assert [f.severity for f in tcp_only] == [Severity.ERROR]  # the other side has no TCP candidate
    assert {f.id for f in report.roots} == {"ANALYZE-TCP-ONLY"}
    # ICE failing is its consequence, folded under it: one failure, one root cause.
    assert {f.id for f in report.explained(tcp_only[0])} & {"ANALYZE-ICE-FAILED", "ANALYZE-ICE-NO-RESPONSES"}
    assert "host tcp 192.0.2.2" in tcp_only[0].params["candidates"]


def test_ipv6_only_against_an_ipv4_only_peer(tmp_path: Path) -> None:
    """Hand-edited: the real private-host run's local IPv4 candidate and remote IPv6 candidates removed."""
    def family(stats: dict[str, Any]) -> dict[str, Any] | None:
        if stats["type"] == "local-candidate" and ":" not in stats["address"]:
            return None
        if stats["type"] == "remote-candidate" and ":" in stats["address"]:
            return None
        return stats
    report = _edited_private_host(tmp_path, family)
    assert {f.id for f in report.roots} == {"ANALYZE-IPV6-ONLY"}
    [root] = report.roots
    assert root.severity is Severity.ERROR and "no pair is possible" in root.title
    assert any(line.startswith("local host udp fd00::2") for line in root.evidence)


def test_ipv6_only_with_ipv6_on_the_other_side_is_a_warning(tmp_path: Path) -> None:
    """Hand-edited: only the local IPv4 candidate removed; the other side still has IPv6."""
    report = _edited_private_host(tmp_path, lambda s: None if s["type"] == "local-candidate"
                                  and ":" not in s["address"] else s, failed=False)
    found = [f for f in report.findings if f.id == "ANALYZE-IPV6-ONLY"]
    assert [f.severity for f in found] == [Severity.WARNING]


# ---- hostile getStats output: parses or is refused (exit 2); the rules never crash ----------------------

def _fuzz_strategies() -> Any:
    from hypothesis import strategies as st

    scalar = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
              | st.sampled_from(["connected", "connecting", "failed", "new", "relay", "host", "tcp", "udp",
                                 "fd00::2", "10.0.0.1", "x.local", "T1", "CP1", "L1", "R1", "true", "42"]))
    fields = st.sampled_from(["iceState", "dtlsState", "dtlsRole", "selectedCandidatePairId", "timestamp",
                              "localCandidateId", "remoteCandidateId", "address", "ip", "port", "protocol",
                              "candidateType", "requestsSent", "responsesReceived", "consentRequestsSent",
                              "nominated", "state", "label", "ipAddress", "portNumber", "googRtt",
                              "googActiveConnection", "transport"])
    kinds = st.sampled_from(["transport", "candidate-pair", "local-candidate", "remote-candidate",
                             "data-channel", "inbound-rtp", "googCandidatePair", "localcandidate", "codec"])
    stats = st.builds(lambda i, k, extra: {"id": i, "type": k, **extra},
                      st.sampled_from(["T1", "CP1", "L1", "R1", "D1", "x"]), kinds,
                      st.dictionaries(fields, scalar, max_size=8))
    report = st.lists(stats, min_size=1, max_size=8)
    return st.lists(report, min_size=1, max_size=4) | report | st.builds(lambda r: {"stats": r}, report)


def test_hostile_getstats_never_crashes(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.function_scoped_fixture])
    @given(_fuzz_strategies())
    def check(document: Any) -> None:
        from rtcdiag.evidence.getstats import parse_getstats

        try:
            dump = parse_getstats(json.dumps(document), "fuzz.json")
        except EvidenceError:
            return
        dumps = [dump]
        report = build_report("analyze", judge(dumps), tables=tables(dumps))
        assert report.exit_code in (0, 1, 3)

    check()


def test_numbers_no_float_can_hold_are_ignored_not_a_crash(tmp_path: Path) -> None:
    """Hand-written hostile input: a 400-digit integer and 1e999 (infinite) where numbers go; before this
    a float() of them raised OverflowError (exit 4) for getStats and dumps alike."""
    huge = "1" + "0" * 400
    stats = [
        '{"id":"T1","type":"transport","timestamp":HUGE,"iceState":"connected","dtlsState":"connecting",'
        '"selectedCandidatePairId":"CP1"}',
        '{"id":"CP1","type":"candidate-pair","currentRoundTripTime":1e999,"requestsSent":HUGE,'
        '"localCandidateId":"L1","remoteCandidateId":"R1"}',
        '{"id":"L1","type":"local-candidate","address":"10.0.0.1","port":HUGE,"protocol":"udp",'
        '"candidateType":"host"}']
    text = ("[" + ",".join(stats) + "]").replace("HUGE", huge)
    path = tmp_path / "huge.json"
    path.write_text(text)
    result = _rtcdiag("analyze", "--json", str(path))
    assert result.returncode in (0, 1, 3), result.stderr
    [pc] = load_dump(path).peer_connections
    assert pc.stats["CP1"].number("currentRoundTripTime") is None
    assert pc.stats["T1"].number("timestamp") is None


def test_private_hosts_are_the_root_cause_when_ice_failed(tmp_path: Path) -> None:
    """Hand-edited: the real private-host getStats output with ICE made to fail (no pair answered), as when
    the two peers are on different networks."""
    report = _edited_private_host(tmp_path, lambda s: s)
    [root] = report.roots
    assert root.id == "ANALYZE-PRIVATE-HOST-ONLY" and root.severity is Severity.ERROR
    assert {f.id for f in report.explained(root)} & {"ANALYZE-ICE-FAILED", "ANALYZE-ICE-NO-RESPONSES"}
    assert report.exit_code == 1


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.getstats.json")), ids=lambda p: p.name)
def test_no_getstats_fixture_holds_turn_credentials(path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
    from make_fixtures import TURN_PASSWORD, TURN_USER

    text = path.read_text()
    assert TURN_PASSWORD not in text and TURN_USER not in text and "credential" not in text.lower()
    assert len(text) < 64 * 1024  # fixtures stay small
