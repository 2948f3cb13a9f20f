"""Stats over time for the ``--html`` charts (rtcdiag.evidence.series, rtcdiag.checks.call_charts).

Ground truth is Chromium's own arithmetic: its webrtc-internals dump and its rtcstats dump carry, beside each
byte counter, the bitrate Chromium computed from it (``[bytesSent_in_bits/s]``); the rates rtcdiag draws from
the counters must be the same, in all three evidence forms of one real call (tests/fixtures/matrix, made by
a real Chromium). The counter reset and the spike are hand-made series (no local peer can be told to
re-initialise its encoder at a chosen sample): said where they are used.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from rtcdiag.checks.call_charts import call_sections
from rtcdiag.evidence.getstats import parse_getstats
from rtcdiag.evidence.load import load_dump
from rtcdiag.evidence.series import downsample, gauge, loss_percent, rate, runs, samples
from rtcdiag.evidence.webrtc_internals import StatsObject
from rtcdiag.report.visual import LaneChart, LineChart

CALL = Path(__file__).resolve().parents[1] / "fixtures" / "matrix" / "relay-udp-bare-av"
KBITS = 8 / 1000


def _obj(kind: str, **fields: list[object]) -> StatsObject:
    """One stats object over time, as an app saves getStats snapshots, read by rtcdiag's own reader; a field
    with fewer values than the others appeared later (its values are the last snapshots')."""
    count = max(len(values) for values in fields.values())
    snapshots: list[list[dict[str, object]]] = []
    for index in range(count):
        entry: dict[str, object] = {"id": "X", "type": kind}
        for name, values in fields.items():
            if index >= count - len(values):
                entry[name] = values[index - (count - len(values))]
        snapshots.append([entry])
    return parse_getstats(json.dumps(snapshots), "hand-made").peer_connections[0].stats["X"]


def test_bitrates_equal_chromiums_own_in_the_webrtc_internals_dump() -> None:
    dump = load_dump(CALL / "webrtc-internals.json.gz")
    compared = 0
    for pc in dump.peer_connections:
        for obj in pc.of_type("outbound-rtp") + pc.of_type("inbound-rtp"):
            counter = "bytesSent" if obj.type == "outbound-rtp" else "bytesReceived"
            chromium = dict(samples(obj, f"[{counter}_in_bits/s]"))
            for ms, kbps in rate(obj, counter, KBITS):
                if ms in chromium and kbps is not None:
                    assert kbps == pytest.approx(float(chromium[ms]) / 1000, rel=0.01, abs=0.01)
                    compared += 1
    assert compared >= 4 * 8  # four streams per connection, ~8 intervals each


def test_bitrates_equal_chromiums_own_in_the_rtcstats_dump() -> None:
    """The rtcstats parser keeps each charted field's history (line time, value) apart
    (``PeerConnection.stats_history``); Chromium's own bitrate is in the same lines (not kept by the
    parser: read here from the file)."""
    dump = load_dump(CALL / "rtcstats.gz")
    own: dict[tuple[str, str], list[float]] = {}
    for line in gzip.decompress((CALL / "rtcstats.gz").read_bytes()).decode().splitlines()[2:]:
        record = json.loads(line.rstrip(","))
        if record[0] == "getStats":
            for stats_id, stats in record[2].items():
                for counter in ("bytesSent", "bytesReceived"):
                    if f"[{counter}_in_bits/s]" in stats:
                        own.setdefault((record[1], stats_id), []).append(stats[f"[{counter}_in_bits/s]"])
    compared = 0
    for pc in dump.peer_connections:
        for obj in pc.of_type("outbound-rtp") + pc.of_type("inbound-rtp"):
            counter = "bytesSent" if obj.type == "outbound-rtp" else "bytesReceived"
            ours = [kbps for _, kbps in rate(obj, counter, KBITS, pc.stats_history.get(obj.id))]
            theirs = own[(pc.key, obj.id)]  # from the second report on, as ours
            assert len(ours) == len(theirs) >= 8
            for mine, chromium in zip(ours, theirs, strict=True):
                # rtcdiag times a sample by its line (when rtcstats wrote it), Chromium by the stats'
                # timestamp: a few ms apart over ~1 s intervals.
                assert mine == pytest.approx(chromium / 1000, rel=0.05, abs=0.5)
                compared += 1
    assert compared >= 4 * 2 * 8


def test_every_form_of_one_call_draws_the_same_charts() -> None:
    """A webrtc-internals dump, an rtcstats dump and getStats snapshots of the same call: the same charts,
    each with data (the getStats file is the page's own snapshots, fewer of them)."""
    shown: dict[str, list[str]] = {}
    for form in ("webrtc-internals.json.gz", "rtcstats.gz", "getstats.json.gz"):
        sections = call_sections([load_dump(CALL / form)])
        first = sections[0]
        shown[form] = [c.title for c in first.charts]
        for chart in first.charts:
            if isinstance(chart, LineChart):
                assert any(v is not None for line in chart.lines for _, v in line.points), (form, chart.title)
            else:
                assert isinstance(chart, LaneChart) and chart.lanes
    assert shown["webrtc-internals.json.gz"] == shown["rtcstats.gz"] == shown["getstats.json.gz"] == [
        "Timeline: signalling, gathering, ICE, connection and DTLS states (s)", "Audio bitrate",
        "Video bitrate", "Packet loss", "Round-trip time", "Jitter"]


def test_a_counter_reset_is_a_gap_never_a_spike() -> None:
    """Hand-made: bytesSent as Chromium reports it when an encoder is re-initialised (the counter starts over
    from 0 on the same stats object), one sample a second."""
    stamps = [1000.0 * i for i in range(8)]
    obj = _obj("outbound-rtp", timestamp=stamps, bytesSent=[0, 1000, 2000, 3000, 100, 1100, 2100, 3100])
    points = rate(obj, "bytesSent", KBITS)
    assert points == [(1000.0, 8.0), (2000.0, 8.0), (3000.0, 8.0), (4000.0, None), (5000.0, 8.0),
                      (6000.0, 8.0), (7000.0, 8.0)]


def test_loss_percent_per_interval_and_late_duplicates() -> None:
    """packetsLost may go down (duplicates, RFC 3550 §6.4.1): that interval loses nothing, never < 0."""
    obj = _obj("inbound-rtp", timestamp=[0, 1000, 2000, 3000], packetsReceived=[0, 90, 190, 290],
               packetsLost=[0, 10, 8, 8])
    assert loss_percent(obj) == [(1000, 10.0), (2000, 0.0), (3000, 0.0)]


def test_downsample_keeps_a_one_sample_spike_and_gaps() -> None:
    """Hand-made: 10 minutes at 10 samples a second, one spike, one gap."""
    points: list[tuple[float, float | None]] = [(float(i), 20.0) for i in range(6000)]
    points[4321] = (4321.0, 900.0)
    points[100] = (100.0, None)
    drawn = downsample(points, 240)
    assert len(drawn) <= 240 + 2
    assert max(v for _, v in drawn if v is not None) == 900.0
    assert any(v is None for _, v in drawn)
    assert [t for t, _ in drawn] == sorted(t for t, _ in drawn)


def test_gauges_line_up_from_the_end_when_a_field_appeared_later() -> None:
    """webrtc-internals keeps a field from when it first appeared: its values end with the timestamps."""
    obj = _obj("inbound-rtp", timestamp=[0, 1000, 2000, 3000], jitter=[0.002, 0.004])
    assert gauge(obj, "jitter", 1000) == [(2000, 2.0), (3000, 4.0)]


def test_runs_of_a_state() -> None:
    obj = _obj("outbound-rtp", timestamp=[0, 1000, 2000, 3000, 4000],
               qualityLimitationReason=["none", "none", "bandwidth", "bandwidth", "none"])
    assert runs(obj, "qualityLimitationReason") == [(0, 2000, "none"), (2000, 4000, "bandwidth"),
                                                    (4000, 4000, "none")]


def test_hostile_values_are_gaps() -> None:
    obj = _obj("inbound-rtp", timestamp=[0, "x", 2000, 3000], jitter=[1e999, None, "<script>", 0.5])
    assert gauge(obj, "jitter") == [(0, None), (2000, None), (3000, 0.5)]
