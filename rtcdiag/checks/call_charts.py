"""The HTML page's part for browser evidence (``analyze DUMP --html``, ``browser --html``): per peer
connection a timeline of its states with the errors marked, its candidates and candidate pairs (the
selected pair highlighted), and per stream charts over time.

Made from the same typed values the rules read (rtcdiag.triage.analyze's summaries, the stats objects of
rtcdiag.evidence.webrtc_internals) through rtcdiag.evidence.series; it judges nothing. RTP first: bitrate,
loss, round-trip time and jitter are shown, the rest (packets lost, frames per second, resolution,
available outgoing bitrate, quality limitation, the pair's own bitrate) is one click away. Bounded: the first
:data:`MAX_CHARTED` connections get charts (those a root cause names first), each line at most
:data:`MAX_POINTS` points.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from rtcdiag.evidence.series import History, Point, downsample, gauge, loss_percent, number, rate, runs
from rtcdiag.evidence.webrtc_internals import InternalsDump, PeerConnection, StatsObject
from rtcdiag.report.model import Table
from rtcdiag.report.visual import (
    Chart,
    Lane,
    LaneChart,
    Line,
    LineChart,
    Mark,
    MarkedTable,
    Section,
    Span,
    Tone,
)
from rtcdiag.triage.analyze import PcSummary, labels, summarize
from rtcdiag.triage.finding import Finding

MAX_CHARTED = 12  # peer connections with charts
MAX_POINTS = 240  # per line (downsampled, minimum and maximum kept)
MAX_STREAMS = 8  # RTP streams per chart
MAX_ROWS = 200  # candidates or pairs per table
MAX_MARKS = 50
KBITS = 8 / 1000  # bytes per second -> kbit/s

_LANES = ("signaling", "gathering", "ice", "connection", "dtls")
_TONES = {
    "stable": Tone.GOOD, "complete": Tone.GOOD, "connected": Tone.GOOD, "completed": Tone.GOOD,
    "none": Tone.GOOD,
    "new": Tone.IDLE, "closed": Tone.IDLE, "": Tone.IDLE,
    "failed": Tone.BAD, "disconnected": Tone.WARN, "bandwidth": Tone.WARN, "cpu": Tone.WARN,
    "other": Tone.WARN,
}


def tone(state: str) -> Tone:
    """A state's colour: connected/stable/complete good, failed bad, disconnected a warning, new or
    closed idle, anything on its way (checking, connecting, have-local-offer...) busy."""
    return _TONES.get(state, Tone.BUSY)


def call_sections(dumps: list[InternalsDump], roots: Iterable[Finding] = ()) -> list[Section]:
    """One section per peer connection (SDP-only sessions have none: their m-lines are in the tables)."""
    named = {f.subject.server for f in roots}
    found: list[tuple[InternalsDump, PeerConnection, str]] = [
        (d, pc, label) for d, names in zip(dumps, labels(dumps), strict=True)
        for pc, label in zip(d.peer_connections, names, strict=True) if not pc.sdp_only]
    found.sort(key=lambda item: item[2] not in named)  # stable: dump order otherwise
    sections = [connection_section(summarize(pc, label, d.timestamp_ms))
                for d, pc, label in found[:MAX_CHARTED]]
    if len(found) > MAX_CHARTED and sections:
        sections[0].notes.append(f"Charts for {MAX_CHARTED} of {len(found)} peer connections (those a root "
                                 "cause names first); the tables below list every one.")
    return sections


def _origin(s: PcSummary) -> float | None:
    """The connection's time zero: its first event, else its first stats sample (getStats output)."""
    stamps = [e.timestamp_ms for e in s.pc.events if e.timestamp_ms is not None]
    if stamps:
        return min(stamps)
    firsts: list[float] = []
    for obj in s.pc.stats.values():
        series = obj.series.get("timestamp")
        values = series.values() if series is not None else []
        first = number(values[0]) if values else None
        if first is not None:
            firsts.append(first)
    return min(firsts) if firsts else None


def connection_section(s: PcSummary) -> Section:
    origin = _origin(s)
    section = Section(title=f"{s.label} ({s.pc.url or 'no url'})")
    if origin is not None:
        timeline: Chart | None = _timeline(s, origin)
        shown, more = _stream_charts(s, origin)
        end = _end_ms(s)
        if end is not None:  # one time axis for the connection: its charts line up
            domain = (0.0, max(_seconds(end, origin), 0.001))
            shown = [_on(chart, domain) for chart in shown]
            more = [_on(chart, domain) for chart in more]
            timeline = _on(timeline, domain) if timeline is not None else None
        if timeline is not None:
            section.charts.append(timeline)
        section.charts += shown
        section.more += more
    for table in (_candidates(s), _pairs(s)):
        if table.table.rows:
            section.tables.append(table)
        else:
            section.notes.append(f"{table.table.title}: none in the evidence.")
    return section


def _on(chart: Chart, domain: tuple[float, float]) -> Chart:
    if isinstance(chart, LineChart | LaneChart):
        return replace(chart, x_range=domain)
    return chart


# ---- the timeline ------------------------------------------------------------------------------------------

def _seconds(ms: float, origin: float) -> float:
    return round((ms - origin) / 1000, 3)


def _end_ms(s: PcSummary) -> float | None:
    """Where the timeline ends: the last event, the last stats sample, or when the dump was made."""
    stamps = [e.timestamp_ms for e in s.pc.events if e.timestamp_ms is not None]
    for obj in s.pc.stats.values():
        last = number(obj.last("timestamp"))
        if last is not None:
            stamps.append(last)
            break
    if s.dumped_at_ms is not None and stamps and s.dumped_at_ms >= max(stamps):
        stamps.append(min(s.dumped_at_ms, max(stamps) + 60_000))
    return max(stamps) if stamps else None


def _spans(changes: list[tuple[float, str]], end: float) -> tuple[Span, ...]:
    spans: list[Span] = []
    for index, (at, state) in enumerate(changes):
        until = changes[index + 1][0] if index + 1 < len(changes) else max(end, at)
        spans.append(Span(at, until, state, tone(state)))
    return tuple(spans)


def _timeline(s: PcSummary, origin: float) -> LaneChart | None:
    end_ms = _end_ms(s)
    end = _seconds(end_ms, origin) if end_ms is not None else 0.0
    changes: dict[str, list[tuple[float, str]]] = {lane: [] for lane in _LANES}
    for t in s.timeline:
        if t.event is not None and t.event.timestamp_ms is not None and t.what in changes:
            changes[t.what].append((_seconds(t.event.timestamp_ms, origin), t.state))
    if not changes["dtls"]:  # a dump's update log has no DTLS event: the transport's stats have its states
        for transport in s.pc.of_type("transport")[:1]:
            changes["dtls"] = [(_seconds(start, origin), state) for start, _, state in
                               runs(transport, "dtlsState", s.pc.stats_history.get(transport.id)) if state]
    lanes = [Lane(name, _spans(changes[name], end)) for name in _LANES if changes[name]]
    ticks = tuple(Mark(_seconds(c.event.timestamp_ms, origin),
                       f"{c.side} {c.candidate.type} {c.candidate.protocol} {c.candidate.address}:"
                       f"{c.candidate.port}" + (f" ({c.url})" if c.url else ""), Tone.GOOD)
                  for c in s.candidates if c.event is not None and c.event.timestamp_ms is not None
                  and c.side == "local")[:MAX_MARKS]
    if ticks:
        lanes.append(Lane("candidates", (), ticks))
    marks: list[Mark] = []
    for error in s.errors[:MAX_MARKS]:
        if error.event.timestamp_ms is not None:
            marks.append(Mark(_seconds(error.event.timestamp_ms, origin),
                              f"icecandidateerror {error.code} {error.text} ({error.url})"))
    for failure in s.failures[:MAX_MARKS]:
        if failure.timestamp_ms is not None:
            marks.append(Mark(_seconds(failure.timestamp_ms, origin),
                              f"{failure.type}: {failure.value[:200]}"))
    if not lanes and not marks:
        return None
    return LaneChart(title="Timeline: signalling, gathering, ICE, connection and DTLS states (s)",
                     lanes=tuple(lanes), marks=tuple(marks))


# ---- the charts --------------------------------------------------------------------------------------------

def _line(label: str, points: list[Point], origin: float) -> Line | None:
    if not any(value is not None for _, value in points):
        return None
    drawn = downsample(points, MAX_POINTS)
    return Line(label, tuple((_seconds(ms, origin), None if v is None else round(v, 3)) for ms, v in drawn))


def _chart(title: str, unit: str, candidates: list[tuple[str, list[Point]]], origin: float,
           ) -> LineChart | None:
    lines = [line for label, points in candidates[:MAX_STREAMS]
             if (line := _line(label, points, origin)) is not None]
    return LineChart(title=title, unit=unit, lines=tuple(lines)) if lines else None


def _stream_name(obj: StatsObject, direction: str) -> str:
    ssrc = obj.text("ssrc")
    return f"{direction} {obj.text('kind') or '?'}" + (f" {ssrc}" if ssrc else "")


def _remote_report(pc: PeerConnection, outbound: StatsObject) -> StatsObject | None:
    """The other side's RTCP report on an outbound stream (remote-inbound-rtp: its loss, RTT, jitter)."""
    reports = pc.of_type("remote-inbound-rtp")
    for report in reports:
        if report.text("localId") == outbound.id:
            return report
    ssrc = outbound.text("ssrc")
    return next((r for r in reports if ssrc and r.text("ssrc") == ssrc), None)


def _kind_order(obj: StatsObject) -> tuple[int, str]:
    return ({"audio": 0, "video": 1}.get(obj.text("kind"), 2), obj.id)


def _stream_charts(s: PcSummary, origin: float) -> tuple[list[Chart], list[Chart]]:
    pc = s.pc

    def kept(obj: StatsObject) -> History | None:
        """The object's fields kept apart with their times (rtcstats dumps), else None."""
        return pc.stats_history.get(obj.id)

    outbound = sorted(pc.of_type("outbound-rtp"), key=_kind_order)
    inbound = sorted(pc.of_type("inbound-rtp"), key=_kind_order)
    remote = {o.id: _remote_report(pc, o) for o in outbound}
    pair = pc.stats.get(s.selected.stats_id) if s.selected is not None else None
    shown: list[Chart | None] = []
    more: list[Chart | None] = []
    for kind in ("audio", "video"):
        lines = [(_stream_name(o, "send"), rate(o, "bytesSent", KBITS, kept(o))) for o in outbound
                 if o.text("kind") == kind]
        lines += [(_stream_name(o, "receive"), rate(o, "bytesReceived", KBITS, kept(o))) for o in inbound
                  if o.text("kind") == kind]
        shown.append(_chart(f"{kind.capitalize()} bitrate", "kbit/s", lines, origin))
    pair_bitrate = None
    if pair is not None:
        pair_bitrate = _chart("Selected candidate pair bitrate (all media and data)", "kbit/s",
                              [("send", rate(pair, "bytesSent", KBITS, kept(pair))),
                               ("receive", rate(pair, "bytesReceived", KBITS, kept(pair)))], origin)
    has_rtp = bool(outbound or inbound)
    (more if has_rtp else shown).append(pair_bitrate)
    loss = [(_stream_name(o, "receive"), loss_percent(o, kept(o))) for o in inbound]
    loss += [(_stream_name(o, "send") + " (RTCP)", gauge(r, "fractionLost", 100, kept(r))) for o in outbound
             if (r := remote[o.id]) is not None]
    shown.append(_chart("Packet loss", "%", loss, origin))
    rtts: list[tuple[str, list[Point]]] = []
    if pair is not None:
        rtts.append(("selected pair (STUN)", gauge(pair, "currentRoundTripTime", 1000, kept(pair))))
    rtts += [(_stream_name(o, "send") + " (RTCP)", gauge(r, "roundTripTime", 1000, kept(r))) for o in outbound
             if (r := remote[o.id]) is not None]
    shown.append(_chart("Round-trip time", "ms", rtts, origin))
    jitter = [(_stream_name(o, "receive"), gauge(o, "jitter", 1000, kept(o))) for o in inbound]
    jitter += [(_stream_name(o, "send") + " (RTCP)", gauge(r, "jitter", 1000, kept(r))) for o in outbound
               if (r := remote[o.id]) is not None]
    shown.append(_chart("Jitter", "ms", jitter, origin))
    lost = [(_stream_name(o, "receive"), rate(o, "packetsLost", 1.0, kept(o))) for o in inbound]
    more.append(_chart("Packets lost", "packets/s", lost, origin))
    video = [(o, "send") for o in outbound if o.text("kind") == "video"] + \
        [(o, "receive") for o in inbound if o.text("kind") == "video"]
    fps = [(_stream_name(o, d), gauge(o, "framesPerSecond", 1.0, kept(o))) for o, d in video]
    more.append(_chart("Frames per second", "fps", fps, origin))
    resolution: list[tuple[str, list[Point]]] = []
    for o, d in video:
        size = f" {o.text('frameWidth')}x{o.text('frameHeight')}" if o.text("frameHeight") else ""
        label = _stream_name(o, d) + f" height (last{size})"
        resolution.append((label, gauge(o, "frameHeight", 1.0, kept(o))))
    more.append(_chart("Resolution (frame height)", "px", resolution, origin))
    available: list[tuple[str, list[Point]]] = []
    if pair is not None:
        available.append(("available outgoing (estimate)",
                          gauge(pair, "availableOutgoingBitrate", 1 / 1000, kept(pair))))
    available += [(_stream_name(o, "send") + " target", gauge(o, "targetBitrate", 1 / 1000, kept(o)))
                  for o in outbound if o.text("kind") == "video"]
    more.append(_chart("Available outgoing bitrate", "kbit/s", available, origin))
    limited: list[Lane] = []
    for o in outbound:
        reasons = runs(o, "qualityLimitationReason", kept(o)) if o.text("kind") == "video" else []
        if reasons:
            changes = [(_seconds(start, origin), reason) for start, _, reason in reasons]
            limited.append(Lane(_stream_name(o, "send"), _spans(changes, _seconds(reasons[-1][1], origin))))
    if limited:
        more.append(LaneChart(title="Quality limitation reason (send video)", lanes=tuple(limited)))
    return [c for c in shown if c is not None], [c for c in more if c is not None]


# ---- the tables --------------------------------------------------------------------------------------------

def _candidates(s: PcSummary) -> MarkedTable:
    chosen: set[str] = set()
    pair = s.pc.stats.get(s.selected.stats_id) if s.selected is not None else None
    if pair is not None:
        chosen = {pair.text("localCandidateId"), pair.text("remoteCandidateId")} - {""}
    rows: list[list[str]] = []
    marked: set[int] = set()
    for index, c in enumerate(s.candidates[:MAX_ROWS]):
        if c.stats_id and c.stats_id in chosen:
            marked.add(index)
        candidate = c.candidate
        rows.append([c.side, candidate.type, candidate.protocol, candidate.address, str(candidate.port),
                     c.relay_protocol or "-", c.url or "-", c.event.when if c.event else "(stats)"])
    title = f"{s.label} candidates" + (" (the selected pair's highlighted)" if marked else "")
    return MarkedTable(Table(title=title, columns=["Side", "Type", "Protocol", "Address", "Port",
                                                   "Relay protocol", "URL", "Time (UTC)"], rows=rows),
                       frozenset(marked))


def _describe(pc: PeerConnection, candidate_id: str) -> str:
    obj = pc.stats.get(candidate_id)
    if obj is None:
        return candidate_id or "-"
    address = obj.text("address") or obj.text("ip")
    return f"{obj.text('candidateType')} {obj.text('protocol')} {address}:{obj.text('port')}"


def _pairs(s: PcSummary) -> MarkedTable:
    selected = s.selected.stats_id if s.selected is not None else ""
    rows: list[list[str]] = []
    marked: set[int] = set()
    for index, pair in enumerate(sorted(s.pair_stats, key=lambda p: p.id)[:MAX_ROWS]):
        if pair.id == selected:
            marked.add(index)
        rtt = pair.number("currentRoundTripTime")
        rows.append([pair.id, _describe(s.pc, pair.text("localCandidateId")),
                     _describe(s.pc, pair.text("remoteCandidateId")), pair.text("state") or "-",
                     pair.text("nominated") or "-", "-" if rtt is None else f"{rtt * 1000:.1f}",
                     f"{pair.text('requestsSent') or '-'} / {pair.text('responsesReceived') or '-'}",
                     f"{pair.text('bytesSent') or '-'} / {pair.text('bytesReceived') or '-'}"])
    title = f"{s.label} candidate pairs" + (" (the selected pair highlighted)" if marked else "")
    return MarkedTable(Table(title=title, columns=["Stats id", "Local", "Remote", "State", "Nominated",
                                                   "RTT ms", "Requests / responses", "Bytes sent / received"],
                             rows=rows), frozenset(marked))
