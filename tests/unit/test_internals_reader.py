"""The webrtc-internals reader streams the peer connections (issue 19: a dump of thousands of connections is
never in memory twice): it must read every document exactly as ``json.loads`` + the shape checks would —
formatting, duplicate keys, trailing data, truncation, bounds — and a stats series is parsed only when read.
The documents are derived from the real healthy-relay dump; the odd shapes are hand-made (no browser writes
them)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.evidence import webrtc_internals as wi
from rtcdiag.evidence.sniff import EvidenceError
from rtcdiag.evidence.webrtc_internals import InternalsDump, StatsObject, parse_internals

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "analyze"
FIXTURE = FIXTURES / "healthy-relay.webrtc-internals.json.gz"


def real() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(gzip.decompress(FIXTURE.read_bytes()))
    return document


def shape(dump: InternalsDump) -> list[tuple[str, int, dict[str, tuple[str, dict[str, Any]]]]]:
    """What a dump read into: per connection its key, event count and every stats series' values."""
    return [(pc.key, len(pc.events), {sid: (obj.type, {name: obj.values(name) for name in obj.raw})
                                       for sid, obj in pc.stats.items()}) for pc in dump.peer_connections]


def test_formatting_does_not_change_what_is_read() -> None:
    document = real()
    compact = parse_internals(json.dumps(document, separators=(",", ":")), "a")
    spaced = parse_internals(json.dumps(document, indent=3) + "\n\n", "b")
    assert shape(compact) == shape(spaced)
    assert len(compact.peer_connections) == 2 and compact.user_agent and compact.get_user_media
    assert sum(len(pc.stats) for pc in compact.peer_connections) > 20


def test_a_duplicate_key_is_read_as_json_loads_reads_it() -> None:
    document = real()
    first, second = (json.dumps(v) for v in document["PeerConnections"].values())
    # json.loads: the first position, the last value.
    text = ('{"UserAgent": "x", "PeerConnections": {"8-1": ' + first + ', "8-2": ' + second + ', "8-1": '
            + second + '}, "UserAgent": "y"}')
    dump = parse_internals(text, "dup")
    reference = json.loads(text)
    assert [pc.key for pc in dump.peer_connections] == list(reference["PeerConnections"])
    assert shape(dump)[0][1:] == shape(dump)[1][1:]  # 8-1 holds the second connection's content
    assert dump.user_agent == "y"


@pytest.mark.parametrize(("text", "reason"), [
    ('{"PeerConnections": {}} x', "not valid JSON"),
    ('{"PeerConnections": {"1-1": {"url": "a"}}', "truncated"),
    ('{"PeerConnections": {"1-1": {"url": "a"', "truncated"),
    ('{"PeerConnections": {"1-1" {"url": "a"}}}', "truncated"),
    ('{"PeerConnections": {"1-1": {"url": "a"},}}', "truncated"),
    ('{"PeerConnections": {1: {}}}', "truncated"),
    ("[1, 2]", "no PeerConnections or getUserMedia"),
    ('{"UserAgent": "x"}', "no PeerConnections or getUserMedia"),
    ('{"PeerConnections": null}', "no PeerConnections or getUserMedia"),
    ('{"PeerConnections": [1]}', "no PeerConnections or getUserMedia"),
    ('{"PeerConnections": {"1-1": {}}, "PeerConnections": 5}', "no PeerConnections or getUserMedia"),
])
def test_what_json_loads_refuses_is_refused(text: str, reason: str) -> None:
    with pytest.raises(EvidenceError, match=reason):
        parse_internals(text, "bad")


def test_peer_connections_past_the_bound_are_counted_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wi, "MAX_PEER_CONNECTIONS", 3)
    pcs = {f"1-{i}": {"url": f"u{i}"} for i in range(7)}
    text = json.dumps({"PeerConnections": pcs})
    dump = parse_internals(text, "many")
    assert [pc.url for pc in dump.peer_connections] == ["u0", "u1", "u2"]
    assert dump.notes == ["only the first 3 of 7 peer connections read"]
    # A key seen again past the bound replaces the one read, as json.loads would.
    text = text[:-2] + ', "1-0": {"url": "again"}}}'
    assert [pc.url for pc in parse_internals(text, "again").peer_connections] == ["again", "u1", "u2"]


def test_a_stats_series_is_parsed_when_read_and_odd_ones_read_as_empty() -> None:
    series = {"statsType": "transport", "values": ""}
    stats = {f"T1-{name}": dict(series, values=values) for name, values in {
        "dtlsState": '["new","connected"]', "spaced": ' [1, 2] ', "deep": "[" * 100_000 + "]" * 100_000,
        "object": '{"a": 1}', "broken": "[1,", "listed": [3, 4]}.items()}
    stats["nodash"] = dict(series, values="[1]")  # no "<id>-<field>": skipped
    stats["T2-x"] = {"statsType": 7, "values": "[1]"}  # not a stats series: skipped
    dump = parse_internals(json.dumps({"PeerConnections": {"1-1": {"stats": stats}}}), "odd")
    objects = dump.peer_connections[0].stats
    assert list(objects) == ["T1"]
    transport = objects["T1"]
    assert transport.parsed == {}  # nothing parsed until a rule reads it
    assert transport.last("dtlsState") == "connected" and transport.text("dtlsState") == "connected"
    assert transport.values("spaced") == [1, 2] and transport.values("listed") == [3, 4]
    assert transport.values("deep") == transport.values("object") == transport.values("broken") == []
    assert transport.last("absent") is None and transport.values("absent") == []
    assert "dtlsState" in transport.series and "absent" not in transport.series
    assert transport.series["dtlsState"].values() == ["new", "connected"]
    assert transport.series["dtlsState"].stats_type == "transport"
    with pytest.raises(KeyError):
        transport.series["absent"]
    assert len(transport.series) == 6 and set(transport.parsed) >= {"dtlsState", "deep"}


def test_a_stats_object_keeps_a_list_it_was_given() -> None:
    obj = StatsObject("c", "codec")
    obj.raw["mimeType"] = ["audio/opus"]
    assert obj.last("mimeType") == "audio/opus"
    obj.number("mimeType")  # not a number: None, no error
    assert obj.number("mimeType") is None
