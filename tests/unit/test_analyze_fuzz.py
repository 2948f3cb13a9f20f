"""A dump is attacker-controlled: any JSON (and any line soup for rtcstats) either parses or is refused with
EvidenceError (exit 2); the rules and the report never crash on what parsed. Hypothesis builds dumps shaped
like the real ones (the right keys, wrong or hostile values) so the fuzzing reaches the rules."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtcdiag.checks.analyze import tables
from rtcdiag.evidence.rtcstats import parse_rtcstats
from rtcdiag.evidence.sniff import EvidenceError
from rtcdiag.evidence.webrtc_internals import parse_internals
from rtcdiag.report.build import build_report
from rtcdiag.triage.analyze import judge

_EVENTS = ["onicecandidate", "addIceCandidate", "onicecandidateerror", "oniceconnectionstatechange",
           "onconnectionstatechange", "onsignalingstatechange", "onicegatheringstatechange",
           "setRemoteDescription", "setRemoteDescriptionOnSuccess", "setLocalDescriptionOnSuccess",
           "setRemoteDescriptionOnFailure",
           "addIceCandidateFailed", "iceConnectionStateChange", "createOffer"]
_TEXT = st.text(max_size=40) | st.sampled_from([
    '"connected"', '"failed"', '"disconnected"', '"checking"', '"have-local-offer"', '"complete"',
    "candidate:1 1 udp 1 10.0.0.1 5 typ relay", '{"candidate":"candidate:1 1 udp 1 a.local 5 typ host"}',
    '{"url":"turn:x:1","error_code":701,"error_text":"\\u001b[31m"}',
    '{"type":"offer","sdp":"v=0\\r\\nm=audio 0 x 1"}',
    '{"type":"answer","sdp":"v=0\\r\\na=setup:active\\r\\nm=audio 9 x 1\\r\\na=fmtp:9 apt=7"}',
    "type: offer, sdp: v=0", "Called in wrong state: stable"])
_SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | _TEXT
_JSON = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
_EVENT = st.fixed_dictionaries({"type": st.sampled_from(_EVENTS) | _JSON, "value": _TEXT | _JSON,
                                "timestamp": st.floats(allow_nan=True) | st.integers() | _JSON})
_STATS = st.dictionaries(
    st.sampled_from(["T01-dtlsState", "T01-selectedCandidatePairId", "CP1-requestsSent", "CP1-state",
                     "CP1-localCandidateId", "I1-address", "I1-port", "I1-candidateType", "x-", "-",
                     "nodash"]),
    st.fixed_dictionaries({"statsType": st.sampled_from(["transport", "candidate-pair", "local-candidate"])
                           | _JSON, "values": _TEXT | _JSON}), max_size=6)
_PC = st.fixed_dictionaries({"rtcConfiguration": _TEXT | _JSON, "url": _JSON,
                             "updateLog": st.lists(_EVENT, max_size=8) | _JSON, "stats": _STATS | _JSON})
_PCS = st.dictionaries(st.text(max_size=5), _PC, max_size=3) | _JSON
_DUMP = st.fixed_dictionaries({"PeerConnections": _PCS,
                               "getUserMedia": st.lists(st.dictionaries(
                                   st.sampled_from(["request_id", "error", "audio", "video", "timestamp"]),
                                   _JSON, max_size=5), max_size=3) | _JSON,
                               "timestamp": _JSON})


def _judge_and_report(dump: object) -> None:
    dumps = [dump]  # type: ignore[list-item]
    report = build_report("analyze", judge(dumps), tables=tables(dumps))  # type: ignore[arg-type]
    for finding in report.findings:
        assert "\x1b" not in finding.symptom and all("\x1b" not in line for line in finding.evidence)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DUMP)
def test_internals_dumps_parse_or_are_refused_and_never_crash_the_rules(document: object) -> None:
    try:
        dump = parse_internals(json.dumps(document), "fuzz")
    except EvidenceError:
        return
    _judge_and_report(dump)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from([*_EVENTS, "create", "getStats", "getstats",
                                           "navigator.mediaDevices.getUserMedia",
                                           "navigator.mediaDevices.getUserMediaOnFailure"]),
                          st.sampled_from([None, "1-1", "1-0"]) | _JSON, _TEXT | _JSON, _JSON,
                          st.floats(allow_nan=True) | st.integers()).map(list)
                | st.lists(_JSON, max_size=5) | _JSON, max_size=12))
def test_rtcstats_lines_parse_or_are_refused(lines: list[object]) -> None:
    text = "RTCStatsDump\n{}\n" + "\n".join(json.dumps(line) for line in lines)
    try:
        dump = parse_rtcstats(text, "fuzz")
    except EvidenceError:
        return
    _judge_and_report(dump)
