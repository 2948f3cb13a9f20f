"""Reading evidence files: type sniffing, gzip, bounds, hostile strings, the old dump format and SDP.

The dumps written here are hand-written on purpose, each for a reason no local browser can reproduce:
the *old* webrtc-internals format (event names without ``on``, ``time`` strings, text values,
``RTCIceCandidatePair_...`` ids: Chromium before ~M80; the Chromium installed here writes only the new
format), hostile values (control characters, oversized strings), and files that are not dumps at all.
Everything a current browser can produce is tested on its real dumps in test_analyze_fixtures.py.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.evidence.load import load_dump
from rtcdiag.evidence.sdp import parse_candidate, parse_sdp
from rtcdiag.evidence.sniff import EvidenceError
from rtcdiag.evidence.webrtc_internals import canonical_event, description_value, fields_value, state_value
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Report
from rtcdiag.triage.analyze import judge

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "analyze"


def _rtcdiag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "120"}, check=False)


def _write(tmp_path: Path, document: Any, name: str = "dump.txt") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def _report(path: Path) -> Report:
    return build_report("analyze", judge([load_dump(path)]))


# ---- files that are not dumps: one line, exit 2 --------------------------------------------------------

@pytest.mark.parametrize(("content", "words"), [
    (b"", "empty file"),
    (b"   \n", "empty file"),
    (b'{"PeerConnections": {"1-1": {"updateLog": [{"type": "createOffer"', "truncated"),
    (b"hello, this is a text file\n", "not a webrtc-internals dump"),
    (b'{"some": "json"}', "looks like JSON of no known evidence shape (top-level keys: some)"),
    (b'[1, 2, 3]', "looks like JSON of no known evidence shape (a list of 3 item(s))"),
    (b"RTCStatsDump\n{\"fileFormat\":3}\n", "rtcstats dump"),
    (b'{"PeerConnections": []}', "not a webrtc-internals dump"),
])
def test_not_a_dump_is_one_line_and_exit_2(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "file.txt"
    path.write_bytes(content)
    result = _rtcdiag("analyze", str(path))
    assert result.returncode == 2, result.stdout
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and words in result.stderr
    assert "Traceback" not in result.stderr


def test_truncated_gzip_download_is_exit_2(tmp_path: Path) -> None:
    data = (FIXTURES / "healthy-relay.webrtc-internals.json.gz").read_bytes()
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    result = _rtcdiag("analyze", str(path))
    assert result.returncode == 2 and "truncated gzip" in result.stderr


def test_missing_file_is_exit_2(tmp_path: Path) -> None:
    result = _rtcdiag("analyze", str(tmp_path / "nope.json"))
    assert result.returncode == 2 and result.stderr.startswith("rtcdiag: error:")


def test_gzip_bomb_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rtcdiag.evidence.sniff as sniff

    monkeypatch.setattr(sniff, "MAX_DECOMPRESSED_BYTES", 1_000_000)
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(b"{" + b" " * 5_000_000 + b"}"))
    with pytest.raises(EvidenceError, match="decompresses to more than"):
        load_dump(path)


def test_plain_and_gzip_dumps_read_the_same(tmp_path: Path) -> None:
    gz = FIXTURES / "turn-wrong-password.webrtc-internals.json.gz"
    plain = tmp_path / "plain.json"
    plain.write_bytes(gzip.decompress(gz.read_bytes()))
    a, b = load_dump(gz), load_dump(plain)
    assert [pc.key for pc in a.peer_connections] == [pc.key for pc in b.peer_connections] == ["8-1", "8-2"]
    assert [e.type for e in a.peer_connections[0].events] == [e.type for e in b.peer_connections[0].events]


# ---- the old format (hand-written: no browser here writes it) -------------------------------------------

_OLD_ANSWER = ("type: answer, sdp: v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
               "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n"
               "a=fingerprint:sha-256 AA:BB\r\na=setup:active\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n")


def _old_pc(log: list[dict[str, str]], stats: dict[str, Any] | None = None,
            config: str = "{ iceServers: [turn:turn.example.com:3478?transport=udp, "
                          "stun:stun.example.com:19302], iceTransportPolicy: all }") -> dict[str, Any]:
    return {"constraints": "", "rtcConfiguration": config, "url": "https://app.example/call",
            "updateLog": [{"time": f"2/7/2020, 10:15:{i:02d} AM", **e} for i, e in enumerate(log)],
            "stats": stats or {}}


def _series(values: list[Any], stats_type: str = "candidate-pair") -> dict[str, Any]:
    return {"startTime": "2020-02-07T10:15:00.000Z", "endTime": "2020-02-07T10:15:09.000Z",
            "statsType": stats_type, "values": json.dumps(values)}


_OLD_START = [
    {"type": "createOffer", "value": "options: {offerToReceiveAudio: 1, iceRestart: false}"},
    {"type": "setLocalDescription", "value": "type: offer, sdp: v=0\r\n"},
    {"type": "signalingStateChange", "value": "have-local-offer"},
    {"type": "iceGatheringStateChange", "value": "gathering"},
    {"type": "onIceCandidate",
     "value": "sdpMid: 0, sdpMLineIndex: 0, candidate: candidate:1 1 udp 2122260223 10.0.0.5 54321 typ host "
              "generation 0"},
    {"type": "onIceCandidate",
     "value": "sdpMid: 0, sdpMLineIndex: 0, candidate: candidate:2 1 udp 1686052607 203.0.113.7 54321 typ "
              "srflx raddr 10.0.0.5 rport 54321 generation 0"},
    {"type": "setRemoteDescription", "value": _OLD_ANSWER},
    {"type": "setRemoteDescriptionOnSuccess", "value": ""},
    {"type": "signalingStateChange", "value": "stable"},
    {"type": "iceGatheringStateChange", "value": "complete"},
    {"type": "addIceCandidate",
     "value": "sdpMid: 0, sdpMLineIndex: 0, candidate: candidate:3 1 udp 1686052607 198.51.100.9 40000 typ "
              "srflx raddr 192.168.1.3 rport 40000 generation 0"},
    {"type": "iceConnectionStateChange", "value": "checking"},
]


def test_old_format_events_are_normalised() -> None:
    assert canonical_event("iceConnectionStateChange") == "oniceconnectionstatechange"
    assert canonical_event("onIceCandidate") == "onicecandidate"
    assert canonical_event("icecandidateerror") == "onicecandidateerror"
    assert canonical_event("setRemoteDescriptionOnFailure") == "setRemoteDescriptionOnFailure"
    assert state_value('"connected"') == state_value("connected") == "connected"
    old = description_value("type: offer, sdp: v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\n")
    new = description_value('{"type":"offer","sdp":"v=0\\r\\no=- 1 2 IN IP4 1.2.3.4\\r\\n"}')
    assert old == new and old is not None and old.type == "offer"
    assert fields_value("url: turn:a.example:3478\naddress: 10.0.0.x\nerror_code: 401")["error_code"] == "401"


def test_old_format_ice_failure_without_responses_folds_under_the_silent_turn(tmp_path: Path) -> None:
    stats = {"RTCIceCandidatePair_Ab-Cd_Ef-Gh-requestsSent": _series([3, 6, 9]),
             "RTCIceCandidatePair_Ab-Cd_Ef-Gh-responsesReceived": _series([0, 0, 0]),
             "RTCIceCandidatePair_Ab-Cd_Ef-Gh-requestsReceived": _series([0, 0, 0]),
             "RTCIceCandidatePair_Ab-Cd_Ef-Gh-state": _series(["in-progress", "failed", "failed"])}
    log = [*_OLD_START, {"type": "iceConnectionStateChange", "value": "failed"}]
    path = _write(tmp_path, {"getUserMedia": [], "PeerConnections": {"1234-1": _old_pc(log, stats)}})
    dump = load_dump(path)
    pc = dump.peer_connections[0]
    assert pc.ice_servers == ["turn:turn.example.com:3478?transport=udp", "stun:stun.example.com:19302"]
    assert "RTCIceCandidatePair_Ab-Cd_Ef-Gh" in pc.stats  # split on the last '-'
    assert pc.events[0].timestamp_ms is not None and pc.events[0].when.count(":") == 2
    report = _report(path)
    [root] = report.roots
    assert root.id == "ANALYZE-TURN-NO-RELAY" and root.subject.host == "turn.example.com"
    folded = {f.id: f for f in report.explained(root)}
    assert set(folded) == {"ANALYZE-ICE-NO-RESPONSES"}
    assert folded["ANALYZE-ICE-NO-RESPONSES"].params["sent"] == "9"
    assert folded["ANALYZE-ICE-NO-RESPONSES"].params["one_way"] == ""
    # The STUN server gave its srflx candidate (an old dump names no URL; it is the only STUN server).
    assert "ANALYZE-STUN-UNREACHABLE" not in {f.id for f in report.findings}


def test_one_way_checks_and_lost_connection(tmp_path: Path) -> None:
    one_way = {"RTCIceCandidatePair_X-requestsSent": _series([5]),
               "RTCIceCandidatePair_X-responsesReceived": _series([0]),
               "RTCIceCandidatePair_X-requestsReceived": _series([4])}
    no_turn = "{ iceServers: [stun:stun.example.com:19302], iceTransportPolicy: all }"
    lost = [*_OLD_START, {"type": "iceConnectionStateChange", "value": "connected"},
            {"type": "iceConnectionStateChange", "value": "disconnected"},
            {"type": "iceConnectionStateChange", "value": "failed"}]
    path = _write(tmp_path, {"PeerConnections": {
        "1-1": _old_pc([*_OLD_START, {"type": "iceConnectionStateChange", "value": "failed"}], one_way,
                       no_turn),
        "1-2": _old_pc(lost, config=no_turn)}})
    report = _report(path)
    by_id = {f.id: f for f in report.roots}
    assert set(by_id) == {"ANALYZE-ICE-NO-RESPONSES", "ANALYZE-CONNECTION-LOST"}
    assert "4 check(s) from the other side did arrive" in by_id["ANALYZE-ICE-NO-RESPONSES"].params["one_way"]
    assert by_id["ANALYZE-CONNECTION-LOST"].subject.server == "pc 1-2"


def test_remote_candidates_never_added(tmp_path: Path) -> None:
    log = [e for e in _OLD_START if e["type"] != "addIceCandidate"]
    log.append({"type": "iceConnectionStateChange", "value": "failed"})
    path = _write(tmp_path, {"PeerConnections": {"1-1": _old_pc(log, config="{ iceServers: [] }")}})
    assert [f.id for f in _report(path).roots] == ["ANALYZE-NO-REMOTE-CANDIDATES"]


def test_add_ice_candidate_failed(tmp_path: Path) -> None:
    log = [*_OLD_START, {"type": "addIceCandidateFailed", "value": "Error processing ICE candidate"},
           {"type": "iceConnectionStateChange", "value": "failed"}]
    path = _write(tmp_path, {"PeerConnections": {"1-1": _old_pc(log, config="{ iceServers: [] }")}})
    roots = {f.id for f in _report(path).roots}
    assert "ANALYZE-ADD-CANDIDATE-FAILED" in roots


def test_a_failed_description_skips_the_ice_judgement(tmp_path: Path) -> None:
    log = [*_OLD_START, {"type": "setLocalDescriptionOnFailure", "value": "Failed to set local offer: bad"},
           {"type": "iceConnectionStateChange", "value": "failed"}]
    path = _write(tmp_path, {"PeerConnections": {"1-1": _old_pc(log, config="{ iceServers: [] }")}})
    report = _report(path)
    assert [f.id for f in report.roots] == ["ANALYZE-SDP-FAILED"]
    assert report.roots[0].params["operation"] == "setLocalDescription"
    [ice] = [c for c in report.checks if c.name == "ice"]
    assert ice.status.value == "skip" and "signalling failed" in ice.message


def test_turn_error_codes_per_url_and_relay_private(tmp_path: Path) -> None:
    def error(url: str, code: int, text: str) -> dict[str, str]:
        return {"type": "icecandidateerror",
                "value": f"url: {url}\naddress: 10.0.0.x\nport: 5000\nerror_code: {code}\nerror_text: {text}"}

    config = ("{ iceServers: [turn:a.example:3478?transport=udp, turn:b.example:3478, turns:c.example:443, "
              "turn:d.example:3478] }")
    log = [*_OLD_START[:4], error("turn:a.example:3478?transport=udp", 486, "Allocation Quota Reached"),
           error("turn:b.example:3478", 508, "Insufficient Capacity"),
           error("turns:c.example:443", 403, "Forbidden"),
           {"type": "onIceCandidate",
            "value": "candidate: candidate:9 1 udp 41885439 10.1.2.3 50000 typ relay raddr 203.0.113.7 "
                     "rport 1"}]
    path = _write(tmp_path, {"PeerConnections": {"1-1": _old_pc(log, config=config)}})
    report = _report(path)
    ids = {f.id: f for f in report.findings}
    assert {"ANALYZE-TURN-486", "ANALYZE-TURN-508", "ANALYZE-TURN-403"} <= set(ids)
    assert ids["ANALYZE-TURN-403"].subject.transport == "tls"
    assert ids["ANALYZE-TURN-508"].subject.transport == "udp"  # Chromium: no ?transport= means UDP
    # The relay candidate names no URL (old dump) and four TURN servers are configured: nobody can say
    # d.example gave none, so no "no relay" claim; its private address is reported all the same.
    assert "ANALYZE-TURN-NO-RELAY" not in ids
    assert ids["ANALYZE-RELAY-PRIVATE"].params["address"] == "10.1.2.3"
    assert ids["ANALYZE-RELAY-PRIVATE"].params["scope"] == "private"


def test_get_user_media_errors(tmp_path: Path) -> None:
    gum = [{"request_id": 1, "request_type": "getUserMedia", "video": "width: {exact: 4000}",
            "timestamp": 1.0},
           {"request_id": 1, "request_type": "getUserMedia", "error": "OverconstrainedError",
            "error_message": "width", "timestamp": 2.0},
           {"request_id": 2, "request_type": "getUserMedia", "audio": "", "timestamp": 3.0},
           {"request_id": 2, "request_type": "getUserMedia", "error": "NotReadableError",
            "error_message": "Could not start audio source", "timestamp": 4.0}]
    path = _write(tmp_path, {"getUserMedia": gum, "PeerConnections": {}})
    roots = {f.id: f for f in _report(path).roots}
    assert set(roots) == {"ANALYZE-GUM-OVERCONSTRAINED", "ANALYZE-GUM-NOT-READABLE"}
    assert "width: {exact: 4000}" in roots["ANALYZE-GUM-OVERCONSTRAINED"].params["constraints"]


def test_an_empty_dump_is_inconclusive(tmp_path: Path) -> None:
    path = _write(tmp_path, {"getUserMedia": [], "PeerConnections": {}})
    result = _rtcdiag("analyze", str(path))
    assert result.returncode == 3, result.stdout


# ---- hostile dumps -----------------------------------------------------------------------------------

def test_hostile_strings_are_escaped_in_every_output(tmp_path: Path) -> None:
    evil = "\x1b[2J\x1b[32mPASS\u202e\x07"
    log = [*_OLD_START[:4],
           {"type": "icecandidateerror",
            "value": json.dumps({"url": f"turn:evil.example:3478?x={evil}", "address": evil,
                                 "error_code": 401, "error_text": evil * 1000})}]
    path = _write(tmp_path, {"UserAgent": evil, "PeerConnections": {f"1-{evil}": _old_pc(log)}})
    for fmt in ((), ("--json",), ("--markdown",)):
        result = _rtcdiag("analyze", *fmt, str(path))
        assert result.returncode == 1, result.stderr
        for bad in ("\x1b", "\u202e", "\x07"):
            assert bad not in result.stdout
        assert len(result.stdout) < 200_000


def test_counts_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rtcdiag.evidence.webrtc_internals as wi

    monkeypatch.setattr(wi, "MAX_EVENTS", 50)
    monkeypatch.setattr(wi, "MAX_PEER_CONNECTIONS", 3)
    log = [{"type": "iceConnectionStateChange", "value": "checking"}] * 500
    path = _write(tmp_path, {"PeerConnections": {f"1-{i}": _old_pc(log) for i in range(10)}})
    dump = load_dump(path)
    assert len(dump.peer_connections) == 3 and all(len(pc.events) == 50 for pc in dump.peer_connections)
    assert any("only the first 3 of 10 peer connections" in n for n in dump.notes)


# ---- SDP -----------------------------------------------------------------------------------------------

def test_sdp_parser() -> None:
    sdp = parse_sdp("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=ice-lite\r\n"
                    "a=fingerprint:sha-256 AA:BB\r\n"
                    "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:0\r\na=setup:actpass\r\na=ice-ufrag:abcd\r\n"
                    "a=ice-pwd:pwpwpwpwpwpwpwpwpwpwpwpw\r\na=recvonly\r\na=fmtp:97 apt=96\r\n"
                    "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n"
                    "a=candidate:1 1 udp 2122260223 a1b2.local 5000 typ host generation 0\r\n"
                    "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:1\r\n")
    assert sdp.bundle == ["0", "1"] and sdp.ice_lite and sdp.fingerprints == ["sha-256 AA:BB"]
    video, data = sdp.media
    assert (video.kind, video.mid, video.direction, video.setup) == ("video", "0", "recvonly", "actpass")
    assert video.rtx_apt == {"97": "96"} and video.rtpmap["96"] == "VP8/90000"
    assert video.ice_ufrag == "abcd" and video.candidates[0].is_mdns
    assert data.rejected and sdp.setups() == ["actpass"]


def test_candidate_parser() -> None:
    c = parse_candidate("candidate:3228608960 1 udp 58597375 127.0.0.1 56826 typ relay raddr 0.0.0.0 rport 0 "
                        "generation 0 ufrag awun network-id 1")
    assert c is not None and (c.type, c.address, c.port, c.related_port, c.ufrag) == (
        "relay", "127.0.0.1", 56826, 0, "awun")
    tcp = parse_candidate("a=candidate:4 1 tcp 1518214911 192.0.2.2 9 typ host tcptype active")
    assert tcp is not None and tcp.tcp_type == "active"
    for bad in ("", "candidate:1 1 udp", "candidate:1 x udp 1 1.2.3.4 5 typ host", "garbage " * 100):
        assert parse_candidate(bad) is None


# ---- SDP contents: a real dump with its descriptions edited the way a munging app or a broken gateway ----
# ---- would send them (a browser never produces these itself) -------------------------------------------

def _edited(tmp_path: Path, edit: dict[str, list[tuple[str, str]]]) -> Path:
    """healthy-relay's dump with pc 8-1's descriptions edited: ``edit`` maps an event type to replacements."""
    raw = (FIXTURES / "healthy-relay.webrtc-internals.json.gz").read_bytes()
    document = json.loads(gzip.decompress(raw))
    for event in document["PeerConnections"]["8-1"]["updateLog"]:
        for old, new in edit.get(event["type"], []):
            value = json.loads(event["value"])
            assert old in value["sdp"], old
            value["sdp"] = value["sdp"].replace(old, new)
            event["value"] = json.dumps(value)
    return _write(tmp_path, document)


def test_answer_rejecting_the_audio_m_line(tmp_path: Path) -> None:
    path = _edited(tmp_path, {"setRemoteDescription": [
        ("m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126", "m=audio 0 UDP/TLS/RTP/SAVPF 0")]})
    [root] = _report(path).roots
    assert root.id == "ANALYZE-MLINE-REJECTED"
    assert (root.params["kind"], root.params["mid"]) == ("audio", "0")
    assert any("opus/48000/2" in line for line in root.evidence)


def test_dtls_role_conflict(tmp_path: Path) -> None:
    path = _edited(tmp_path, {"setLocalDescriptionOnSuccess": [("a=setup:actpass", "a=setup:active")]})
    [root] = _report(path).roots
    assert root.id == "ANALYZE-DTLS-ROLE-CONFLICT" and root.params["role"] == "active"


def test_rtx_pointing_to_a_missing_payload_type(tmp_path: Path) -> None:
    path = _edited(tmp_path, {"setRemoteDescription": [
        ("SAVPF 111 63 9 0 8 13 110 126", "SAVPF 111 63 9 0 8 13 110 126 99"),
        ("a=rtpmap:126 telephone-event/8000\r\n",
         "a=rtpmap:126 telephone-event/8000\r\na=rtpmap:99 rtx/48000\r\na=fmtp:99 apt=98\r\n")]})
    [root] = _report(path).roots
    assert root.id == "ANALYZE-RTX-APT-MISSING"
    assert root.params["apt"] == "98" and root.severity.value == "warning"


def test_stun_server_that_gave_no_srflx_and_no_error(tmp_path: Path) -> None:
    """Said about a connection that did not connect. One that connected says nothing about the server: a
    browser stops gathering once a pair works, and drops a srflx equal to a host address (real: the
    mixed-urls fixture)."""
    start = [e for e in _OLD_START if "srflx" not in e.get("value", "") or e["type"] != "onIceCandidate"]
    for end, said in (("failed", True), ("connected", False)):
        path = _write(tmp_path, {"PeerConnections": {"1-1": _old_pc(
            [*start, {"type": "iceConnectionStateChange", "value": end}],
            config="{ iceServers: [stun:stun.example.com:19302] }")}})
        report = _report(path)
        found = [f for f in report.findings if f.id == "ANALYZE-STUN-NO-SRFLX"]
        assert bool(found) is said, end
        assert all(f.subject.host == "stun.example.com" and f in report.roots for f in found)
        [step] = [c for c in report.checks if c.suite.startswith("stun:") and c.name.endswith("gather")]
        assert said or "connected without one" in step.message


def test_slow_gathering_on_its_own_is_a_warning(tmp_path: Path) -> None:
    log = [{"type": "iceGatheringStateChange", "value": "gathering", "timestamp": 1_000_000.0},
           {"type": "onIceCandidate", "timestamp": 1_000_010.0,
            "value": "candidate: candidate:1 1 udp 2122260223 10.0.0.5 54321 typ host generation 0"},
           {"type": "iceGatheringStateChange", "value": "complete", "timestamp": 1_012_500.0}]
    pc = _old_pc([], config="{ iceServers: [] }")
    pc["updateLog"] = log
    path = _write(tmp_path, {"PeerConnections": {"1-1": pc}})
    report = _report(path)
    assert [(f.id, f.params["seconds"]) for f in report.roots] == [("ANALYZE-SLOW-GATHERING", "12.5")]
    assert report.exit_code == 0


# ---- rtcstats: the rtcstats.js library's delta-compressed reports (hand-written: Chromium's own download
# ---- writes full reports, see the real *.rtcstats.gz fixtures) -----------------------------------------

def test_rtcstats_delta_compressed_reports_and_a_cut_last_line(tmp_path: Path) -> None:
    lines = [
        "RTCStatsDump", '{"fileFormat":2}',
        json.dumps(["create", None, {"userAgent": "UA/1"}, 1_000_000]),
        json.dumps(["create", "1-1", {"iceServers": [{"urls": ["turn:t.example:3478"]}]},
                    "https://a.example/", 5]),
        json.dumps(["onicecandidate", "1-1", {"candidate": "candidate:1 1 udp 1 198.51.100.1 5000 typ host"},
                    10]),
        json.dumps(["addIceCandidate", "1-1", {"candidate": "candidate:2 1 udp 1 198.51.100.2 5001 typ host"},
                    10]),
        json.dumps(["oniceconnectionstatechange", "1-1", "checking", 10]),
        json.dumps(["getstats", "1-1", {"CP1": {"type": "candidate-pair", "requestsSent": 3,
                                                "responsesReceived": 0, "requestsReceived": 0,
                                                "state": "in-progress"}}, 1000]),
        json.dumps(["getstats", "1-1", {"CP1": {"requestsSent": 9, "state": "failed"}}, 1000]),  # changed
        json.dumps(["oniceconnectionstatechange", "1-1", "failed", 10]),
        '["getstats", "1-1", {"CP1": {"requestsSent": 1',  # the download was cut here
    ]
    path = tmp_path / "rtcstats.txt"
    path.write_text("\n".join(lines))
    dump = load_dump(path)
    [pc] = dump.peer_connections
    assert pc.ice_servers == ["turn:t.example:3478"] and pc.url == "https://a.example/"
    assert pc.stats["CP1"].last("requestsSent") == 9 and pc.stats["CP1"].last("responsesReceived") == 0
    assert pc.events[0].timestamp_ms == 1_000_015.0
    assert any("truncated" in note for note in dump.notes) and dump.user_agent == "UA/1"
    report = _report(path)
    [root] = report.roots
    assert root.id == "ANALYZE-TURN-NO-RELAY"
    assert [f.id for f in report.explained(root)] == ["ANALYZE-ICE-NO-RESPONSES"]


# ---- SDP files: the offer and answer pc 8-1 of the healthy-relay run applied (extracted from its real dump:
# ---- healthy-relay.offer.sdp / .answer.sdp), edited for each fault ------------------------------------

def _sdp_pair(tmp_path: Path, offer_edits: list[tuple[str, str]] | None = None,
              answer_edits: list[tuple[str, str]] | None = None) -> list[str]:
    paths = []
    for side, edits in (("offer", offer_edits or []), ("answer", answer_edits or [])):
        text = (FIXTURES / f"healthy-relay.{side}.sdp").read_bytes().decode()
        for old, new in edits:
            assert old in text, old
            text = text.replace(old, new)
        path = tmp_path / f"{side}.sdp"
        path.write_bytes(text.encode())
        paths.append(str(path))
    return paths


def _roots(*paths: str) -> tuple[int, list[str]]:
    result = _rtcdiag("analyze", "--json", *paths)
    assert result.returncode in (0, 1, 3), result.stderr
    return result.returncode, sorted({r["id"] for r in json.loads(result.stdout)["root_causes"]})


def test_the_real_offer_and_answer_are_fine_in_either_order(tmp_path: Path) -> None:
    offer, answer = _sdp_pair(tmp_path)
    assert _roots(offer, answer) == (0, [])
    assert _roots(answer, offer) == (0, [])  # the answer (a=setup:active) given first is put second
    data = json.loads(_rtcdiag("analyze", "--json", offer, answer).stdout)
    table = next(t for t in data["tables"] if "m-lines" in t["title"])
    assert [row[:3] for row in table["rows"]] == [["offer", "audio", "0"], ["offer", "application", "1"],
                                                  ["answer", "audio", "0"], ["answer", "application", "1"]]
    steps = {c["name"]: c["status"] for c in data["checks"]}
    assert steps == {"signaling": "pass", "gathering": "skip", "ice": "skip", "dtls": "skip"}


def test_sdp_faults(tmp_path: Path) -> None:
    cases = {
        "ANALYZE-MLINE-REJECTED": ([], [("m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
                                         "m=audio 0 UDP/TLS/RTP/SAVPF 0")]),
        "ANALYZE-ICE-CREDENTIALS-SHORT": ([], [("a=ice-pwd:0sPz5iLVqN/LrsfqOeua3NXJ", "a=ice-pwd:short")]),
        "ANALYZE-SDP-NO-FINGERPRINT": ([], [("a=fingerprint:sha-256 ", "a=x-removed:")]),
        "ANALYZE-ICE-LITE-BOTH": ([("a=group:BUNDLE", "a=ice-lite\r\na=group:BUNDLE")],
                                  [("a=group:BUNDLE", "a=ice-lite\r\na=group:BUNDLE")]),
        "ANALYZE-DTLS-ROLE-CONFLICT": ([("a=setup:actpass", "a=setup:active")], []),
        # The offer sends audio (sendrecv); an answer "sendonly" to a "sendonly" offer is invalid.
        "ANALYZE-DIRECTION-MISMATCH": ([("a=sendrecv", "a=sendonly")], [("a=recvonly", "a=sendonly")]),
        "ANALYZE-BUNDLE-MISMATCH": ([], [("a=group:BUNDLE 0 1", "a=group:BUNDLE 0 1 7")]),
    }
    for expected, (offer_edits, answer_edits) in cases.items():
        paths = _sdp_pair(tmp_path, offer_edits, answer_edits)
        assert _roots(*paths) == (1, [expected]), expected


def test_an_answer_without_bundle_and_an_inactive_answer(tmp_path: Path) -> None:
    no_bundle = _sdp_pair(tmp_path, [], [("a=group:BUNDLE 0 1\r\n", "")])
    assert _roots(*no_bundle) == (1, ["ANALYZE-BUNDLE-MISMATCH"])
    # recvonly -> inactive is a valid answer (the app may decline): no finding.
    assert _roots(*_sdp_pair(tmp_path, [], [("a=recvonly", "a=inactive")])) == (0, [])


def test_one_sdp_alone_is_judged_on_its_own(tmp_path: Path) -> None:
    [offer, _] = _sdp_pair(tmp_path, [("a=ice-ufrag:awun", "a=ice-ufrag:aw")])
    assert _roots(offer) == (1, ["ANALYZE-ICE-CREDENTIALS-SHORT"])


def test_data_channel_still_connecting_after_the_connection_is_up(tmp_path: Path) -> None:
    """healthy-relay's real dump with its data channel's state series edited to stay "connecting" (no local
    browser scenario could keep a channel from opening: Chromium ignored a munged a=sctp-port)."""
    document = json.loads(gzip.decompress((FIXTURES / "healthy-relay.webrtc-internals.json.gz").read_bytes()))
    stats = document["PeerConnections"]["8-1"]["stats"]
    states = [key for key, series in stats.items() if series["statsType"] == "data-channel"
              and key.endswith("-state")]
    assert states
    for key in states:
        stats[key]["values"] = stats[key]["values"].replace("open", "connecting")
    [root] = _report(_write(tmp_path, document)).roots
    assert root.id == "ANALYZE-DATACHANNEL-NOT-OPEN" and root.subject.server == "pc 8-1"
    assert float(root.params["seconds"]) >= 3


def test_glare_handled_by_a_rollback_is_only_noted(tmp_path: Path) -> None:
    """Perfect negotiation's polite side: the remote offer rolls its own back and the call connects."""
    log = [{"type": "setLocalDescription", "value": "type: offer, sdp: v=0\r\n"},
           {"type": "signalingStateChange", "value": "have-local-offer"},
           {"type": "setRemoteDescription", "value": "type: offer, sdp: v=0\r\n"},
           {"type": "setRemoteDescriptionOnSuccess", "value": ""},
           {"type": "iceConnectionStateChange", "value": "connected"}]
    path = _write(tmp_path, {"PeerConnections": {"1-1": _old_pc(log, config="{ iceServers: [] }")}})
    report = _report(path)
    assert report.roots == [] and report.exit_code == 0
    assert [(f.id, f.severity.value) for f in report.findings] == [("ANALYZE-SDP-GLARE", "info")]
