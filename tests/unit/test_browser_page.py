"""``rtcdiag browser`` without a browser: what the page returns is bounded and made printable (a server picks
the error text Chromium reports), the dump's connections are named after what the page made them for, and
Chromium and aioice are compared URL by URL.

The page results here are written by hand in the shape the page script returns (the real ones are exercised
against Chromium in tests/integration/test_browser_command.py); a hand-written value is the only way to get
hostile and oversized ones.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from rtcdiag.checks.browser import browser_tables, dump_text, read_dump, relabel
from rtcdiag.evidence.webrtc_internals import parse_internals
from rtcdiag.probes.browser_ice import (
    READY_MARKER,
    BrowserIceOptions,
    BrowserIceResult,
    canonical_url,
    connection_labels,
    page_servers,
    parse_page,
)
from rtcdiag.probes.ice import CandidateInfo, CandidateType, GatherEvent, IceResult, IceRun, IceServer
from rtcdiag.redact import unmark
from rtcdiag.report.build import build_report
from rtcdiag.triage.browser import BrowserEvidence, compare, judge

TURN = "turn:127.0.0.1:3478?transport=udp"


def _page(calls: list[dict[str, Any]] | None = None, **gather: Any) -> dict[str, Any]:
    g = {"label": f"gather {TURN}", "urls": [TURN], "state": "complete", "ms": 120.0,
         "candidates": [{"type": "relay", "protocol": "udp", "address": "127.0.0.1", "port": 50000,
                         "priority": 1, "relayProtocol": "udp", "url": TURN, "foundation": "1", "ms": 80}],
         "errors": []}
    g.update(gather)
    return {"gathers": [g], "calls": calls or [], "ms": 500.0}


def _call(**over: Any) -> dict[str, Any]:
    c = {"label": "relay call", "policy": "relay", "state": "connected", "connectMs": 60, "open": True,
         "sent": 10, "received": 10, "rtts": [2.0] * 10, "candidates": [], "errors": [], "error": "",
         "pair": {"localType": "relay", "local": "127.0.0.1:50000", "localProtocol": "udp",
                  "relayProtocol": "udp", "url": TURN, "remoteType": "relay", "remote": "127.0.0.1:50002",
                  "rttMs": 1.0}}
    c.update(over)
    return c


def test_hostile_page_values_are_bounded_and_printable() -> None:
    result = BrowserIceResult(servers=[TURN])
    evil = "\x1b[31mUnauthorized\x07" + "A" * 10_000
    parse_page(_page(errors=[{"url": TURN, "code": "401", "text": evil}] * 500,
                     candidates=[{"type": 5, "port": "x", "address": ["no"]}] * 5000), result)
    gathering = result.gatherings[0]
    assert len(gathering.errors) == 100 and len(gathering.candidates) == 200
    error = gathering.errors[0]
    assert "\x1b" not in error.text and "\x07" not in error.text and len(error.text) <= 300
    assert error.code == 0  # a string is not a code
    assert gathering.candidates[0].port == 0 and gathering.candidates[0].type == "5"


@pytest.mark.parametrize("raw", [None, [], "x", {"gathers": "x", "calls": {"a": 1}}, {"calls": [None, 3]}])
def test_malformed_page_results_give_empty_records(raw: Any) -> None:
    result = BrowserIceResult(servers=[TURN])
    parse_page(raw, result)
    assert all(c.state == "" for c in result.calls)


def test_credentials_reach_the_page_only_as_rtciceserver_fields() -> None:
    server = IceServer(url="turn:127.0.0.1:3478", scheme="turn", host="127.0.0.1", port=3478,
                       username="u", password="pw-not-in-urls-1234")
    (entry,) = page_servers([server])
    assert entry == {"urls": TURN, "username": "u", "credential": "pw-not-in-urls-1234"}
    assert canonical_url("turns:h:5349") == "turns:h:5349?transport=tcp"
    assert canonical_url("stun:h:3478") == "stun:h:3478"


def _internals(keys: list[str], marker: str | None = None) -> bytes:
    pcs: dict[str, Any] = {}
    for key in keys:
        pcs[key] = {"url": "http://localhost/rtcdiag", "rtcConfiguration": "{iceServers: []}",
                    "updateLog": [{"type": "createDataChannel", "value": '{"label":"gather"}',
                                   "timestamp": 1.0}], "stats": {}}
    if marker:
        pcs["8-99"] = {"url": "http://localhost/rtcdiag", "rtcConfiguration": "{}",
                       "updateLog": [{"type": "createDataChannel", "value": f'{{"label":"{marker}"}}',
                                      "timestamp": 2.0}], "stats": {}}
    return gzip.compress(json.dumps({"getUserMedia": [], "PeerConnections": pcs, "UserAgent": "x"}).encode())


def test_dump_connections_named_in_creation_order_and_marker_dropped() -> None:
    labels = connection_labels([IceServer(url=TURN, scheme="turn", host="127.0.0.1", port=3478)],
                               BrowserIceOptions())
    assert labels == [f"gather {TURN}", "relay call a", "relay call b", "normal call a", "normal call b"]
    # Dump order is not creation order: the lid says it (8-10 after 8-9).
    dump = parse_internals(dump_text(_internals(["8-10", "8-6", "8-7", "8-8", "8-9"], READY_MARKER)), "d")
    relabel(dump, labels)
    assert sorted(pc.key for pc in dump.peer_connections) == sorted(labels)
    assert next(pc for pc in dump.peer_connections if pc.key == "normal call b").events[0].timestamp_ms == 1.0
    odd = parse_internals(dump_text(_internals(["8-1"])), "d")
    relabel(odd, labels)
    assert [pc.key for pc in odd.peer_connections] == ["8-1"] and odd.notes


def test_no_dump_is_inconclusive_not_a_verdict() -> None:
    result = BrowserIceResult(servers=[TURN])
    parse_page(_page([_call()]), result)
    dump, why = read_dump(result)
    assert dump is None and why
    report = build_report("browser", judge(BrowserEvidence(result, None, why)))
    assert report.exit_code == 3


def test_browser_failure_is_inconclusive() -> None:
    crashed = BrowserIceResult(servers=[TURN], error="crashed")
    report = build_report("browser", judge(BrowserEvidence(crashed)))
    assert report.exit_code == 3 and not report.findings


def _with_dump(page: dict[str, Any]) -> BrowserEvidence:
    result = BrowserIceResult(servers=[TURN])
    parse_page(page, result)
    result.internals_dump = _internals(["8-1"])
    dump, _ = read_dump(result)
    return BrowserEvidence(result, dump)


def test_echo_loss_and_channel_not_open() -> None:
    lossy = _with_dump(_page([_call(received=4, rtts=[2.0] * 4)]))
    report = build_report("browser", judge(lossy))
    assert [f.id for f in report.findings] == ["BROWSER-ECHO-LOSS"] and report.exit_code == 0
    assert "6 of 10" in report.findings[0].title
    closed = build_report("browser", judge(_with_dump(_page([_call(open=False, received=0, rtts=[])]))))
    assert [f.id for f in closed.findings] == ["BROWSER-CHANNEL-NOT-OPEN"] and closed.exit_code == 1
    healthy = judge(_with_dump(_page([_call()])))
    assert [f.works for f in healthy.facts.relays] == [True]


def _aioice(relay: bool, error: str | None = None, kind: str | None = None, url: str = TURN) -> IceResult:
    run = IceRun(url=url, server_host="127.0.0.1", scheme=url.partition(":")[0], relay_protocol="udp",
                 agents=["full"])
    if relay:
        run.candidates.append(CandidateInfo("full", CandidateType.RELAY, "1", 1, "udp", "127.0.0.1", 50010, 1,
                                            None, None, "udp", url))
    else:
        run.gather_events.append(GatherEvent("full", "relay", 10.0, error, kind))
    return IceResult(relay_only=False, runs=[run])


def test_comparison_flags_disagreement() -> None:
    page = _page([_call()], candidates=[], errors=[{"url": TURN, "code": 401, "text": "Unauthorized."}])
    evidence = _with_dump(page)
    evidence.ice = _aioice(relay=True)
    (row,) = compare(evidence.page, evidence.ice)
    # the server's reason phrase is marked as outside text (masked for secrets when the report is built)
    assert row.agree is False and "401 Unauthorized." in unmark(row.browser) and "1 relay" in row.aioice
    report = build_report("browser", judge(evidence), tables=browser_tables(evidence))
    assert "BROWSER-AIOICE-DISAGREE" in {f.id for f in report.findings}
    table = next(t for t in report.tables if t.title.startswith("Chromium and aioice"))
    assert table.rows[0][-1] == "NO"
    evidence.ice = _aioice(relay=False, error="401 Unauthorized", kind="auth")
    assert compare(evidence.page, evidence.ice)[0].agree is True


def test_no_browser_is_one_line_exit_2_before_any_traffic(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """No Chromium on this machine (none at the usual paths, none on PATH): one line, how to install, exit 2.
    The URL points at a port nothing listens on: nothing would answer if anything were sent."""
    from rtcdiag import cli
    from rtcdiag.probes import browser as driver

    monkeypatch.setattr(driver, "CHROMIUM_PATHS", ())
    monkeypatch.delenv("RTCDIAG_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("RTCDIAG_TURN_PASSWORD", "p" * 12)
    with pytest.raises(SystemExit) as exited:
        cli.main(["browser", "turn:127.0.0.1:9", "-u", "u"])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Chromium is not installed" in err[0] and "apt-get install -y chromium" in err[0]
    assert "rtcdiag[browser]" in err[0]
