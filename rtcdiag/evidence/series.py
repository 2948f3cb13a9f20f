"""Stats fields over time, from every form of browser evidence, as numbers a chart can draw.

- webrtc-internals dumps keep each field's last samples (``values``, ~1 a second) and the object's own
  ``timestamp`` series beside them: a field that appeared later has fewer values, so the two are lined up
  from their ends (both end at the dump's last sample);
- rtcstats dumps keep only each field's last value, and apart (``PeerConnection.stats_history``, passed here
  as ``history``: the object's field -> samples) the (line time, value) history of the fields named in
  :data:`HISTORY_FIELDS` (rtcdiag.evidence.rtcstats): a delta-compressed dump records a value only when it
  changed, so a rate over unchanged samples is averaged over the time between changes;
- saved getStats snapshots append one value per snapshot, lined up with ``timestamp`` like a dump.

Counters (bytes, packets) become rates per interval. A counter that goes down was reset (Chromium resets an
outbound stream's counters when its encoder is re-initialised, and a re-created stats object starts from 0):
that interval is a gap, and the next one counts from the new value, so a reset never draws a sawtooth
spike. :func:`downsample` keeps each bucket's minimum and maximum, so a spike survives it.
Pure functions over the typed values of :mod:`rtcdiag.evidence.webrtc_internals`; nothing here can raise on
a hostile value (it is a gap).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rtcdiag.evidence.webrtc_internals import StatsObject

# The fields the charts draw, per stats type: rtcstats dumps keep their history (bounded per field).
HISTORY_FIELDS: dict[str, frozenset[str]] = {
    "inbound-rtp": frozenset({"bytesReceived", "packetsReceived", "packetsLost", "jitter", "framesPerSecond",
                              "frameWidth", "frameHeight"}),
    "outbound-rtp": frozenset({"bytesSent", "packetsSent", "framesPerSecond", "frameWidth", "frameHeight",
                               "qualityLimitationReason", "targetBitrate"}),
    "remote-inbound-rtp": frozenset({"roundTripTime", "fractionLost", "packetsLost", "jitter"}),
    "candidate-pair": frozenset({"currentRoundTripTime", "availableOutgoingBitrate", "bytesSent",
                                 "bytesReceived"}),
    "transport": frozenset({"dtlsState", "iceState"}),
}
MAX_HISTORY = 100_000  # samples kept per field (a day at one a second)

Sample = tuple[float, Any]  # (ms since the epoch, the value as the evidence gave it)
Point = tuple[float, float | None]  # (ms since the epoch, a number); None: a gap in the line
History = Mapping[str, list[Sample]]  # one stats object's fields kept apart with their times (rtcstats)


def number(value: Any) -> float | None:
    """A finite float from a stats value (numbers, or numeric text in old dumps); None for anything else."""
    kind = type(value)  # exact types first: this runs once per sample (bool is an int, and no number here)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        result = float(value)
    elif kind is bool or value is None:
        return None
    elif isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str) and len(value) <= 40:
        try:
            result = float(value)
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


_PLAIN = frozenset({int, float})  # exact types: bool is an int, and never a number here


def numbers(values: list[Any]) -> list[float | None]:
    """:func:`number` of every value: one pass in C when they are all plain finite numbers (a stats series
    almost always), else value by value."""
    if set(map(type, values)) <= _PLAIN:
        try:
            total = math.fsum(values)
        except OverflowError:
            total = math.inf
        if math.isfinite(total):
            return list(map(float, values))
    return [number(v) for v in values]


def _columns(obj: StatsObject, name: str, history: History | None) -> tuple[list[float], list[Any]]:
    """The times (ms) and values of one field, oldest first; samples whose time is not a number dropped."""
    if history is not None and name in history:
        kept = history[name]
        return [ms for ms, _ in kept], [value for _, value in kept]
    series, stamps = obj.series.get(name), obj.series.get("timestamp")
    if series is None or stamps is None:
        return [], []
    values, times = series.values(), stamps.values()
    count = min(len(values), len(times))
    values = values[len(values) - count:]
    stamped = numbers(times[len(times) - count:])
    if None not in stamped:
        return stamped, values  # type: ignore[return-value]  # no None in it
    pairs = [(ms, value) for ms, value in zip(stamped, values, strict=True) if ms is not None]
    return [ms for ms, _ in pairs], [value for _, value in pairs]


def samples(obj: StatsObject, name: str, history: History | None = None) -> list[Sample]:
    """Every sample of one field with its time, oldest first (times that are not numbers are dropped)."""
    times, values = _columns(obj, name, history)
    return list(zip(times, values, strict=True))


def gauge(obj: StatsObject, name: str, scale: float = 1.0, history: History | None = None) -> list[Point]:
    """A field read as it is (jitter, RTT, frames per second), times ``scale``; a non-number is a gap."""
    times, values = _columns(obj, name, history)
    return [(ms, None if value is None else value * scale)
            for ms, value in zip(times, numbers(values), strict=True)]


def rate(obj: StatsObject, name: str, scale: float = 1.0, history: History | None = None) -> list[Point]:
    """A counter as a rate per second times ``scale`` (bytes -> kbit/s: 0.008), one point per interval.

    A counter that went down was reset: a gap, and the next interval counts from the new value."""
    times, values = _columns(obj, name, history)
    out: list[Point] = []
    previous_ms, previous = 0.0, None
    for ms, value in zip(times, numbers(values), strict=True):
        if value is None:
            out.append((ms, None))
            previous = None
            continue
        if previous is not None:
            seconds = (ms - previous_ms) / 1000
            if seconds <= 0:
                continue  # the same sample twice
            if value < previous:
                out.append((ms, None))  # reset: never a negative rate, never a spike
            else:
                out.append((ms, (value - previous) / seconds * scale))
        previous_ms, previous = ms, value
    return out


def loss_percent(obj: StatsObject, history: History | None = None, lost_name: str = "packetsLost",
                 received_name: str = "packetsReceived") -> list[Point]:
    """Packets lost per interval as a share of the packets expected in it (lost + received), in %.

    ``packetsLost`` may go down (late duplicates, RFC 3550 §6.4.1): that interval counts no loss. A
    ``packetsReceived`` that went down is a reset: a gap."""
    received = {ms: number(v) for ms, v in samples(obj, received_name, history)}
    out: list[Point] = []
    previous: tuple[float, float, float] | None = None
    for ms, raw in samples(obj, lost_name, history):
        lost, got = number(raw), received.get(ms)
        if lost is None or got is None:
            out.append((ms, None))
            previous = None
            continue
        if previous is not None and ms > previous[0]:
            if got < previous[2]:
                out.append((ms, None))
            else:
                lost_now = max(lost - previous[1], 0.0)
                expected = lost_now + got - previous[2]
                out.append((ms, lost_now / expected * 100 if expected > 0 else 0.0))
        previous = (ms, lost, got)
    return out


def runs(obj: StatsObject, name: str, history: History | None = None) -> list[tuple[float, float, str]]:
    """A text field (a state, ``qualityLimitationReason``) as runs of one value: (start ms, end ms, value);
    a run ends where the next begins, the last at the last sample."""
    out: list[tuple[float, float, str]] = []
    for ms, raw in samples(obj, name, history):
        text = raw if isinstance(raw, str) else "" if raw is None else str(raw)
        text = text[:40]
        if out and out[-1][2] == text:
            out[-1] = (out[-1][0], ms, text)
        else:
            if out:
                out[-1] = (out[-1][0], ms, out[-1][2])
            out.append((ms, ms, text))
    return out


def downsample(points: list[Point], limit: int) -> list[Point]:
    """At most about ``limit`` points: the series cut into ``limit // 2`` buckets, each kept as its lowest
    and highest point in time order (a one-sample spike survives), a gap in a bucket kept as a gap."""
    if len(points) <= limit or limit < 4:
        return points
    buckets = limit // 2
    size = len(points) / buckets
    out: list[Point] = []
    for index in range(buckets):
        chunk = points[int(index * size):int((index + 1) * size)]
        if not chunk:
            continue
        ys = [y for _, y in chunk]
        gap = ys.index(None) if None in ys else -1
        known = [y for y in ys if y is not None] if gap >= 0 else ys
        kept: set[int] = set()
        if known:
            kept |= {ys.index(min(known)), ys.index(max(known))}  # type: ignore[type-var]
        if gap >= 0:
            kept.add(gap)
        out += [chunk[i] for i in sorted(kept)]
    return out
