"""The HTML page's part for packet captures and coturn logs (``analyze CAPTURE|LOG --html``): the flows'
ladders as sequence diagrams, TURN allocations and coturn sessions on a time axis, relay usage per user and
the busiest hours as bar charts. Made from the typed values of rtcdiag.evidence.capture and
rtcdiag.evidence.coturn_log (the facts the rules read); it judges nothing. Bounded: the ladders of
:data:`MAX_LADDERS` flows (TURN client-server flows first, then ICE), :data:`MAX_MESSAGES` arrows each,
:data:`MAX_LANES` allocations or sessions per chart.
"""

from __future__ import annotations

from rtcdiag.checks.capture import WirePlan, log_result
from rtcdiag.evidence.capture import CaptureSummary, Flow, Kind
from rtcdiag.evidence.coturn_log import CoturnLog
from rtcdiag.report.visual import (
    Bar,
    BarChart,
    Chart,
    Ladder,
    Lane,
    LaneChart,
    Mark,
    Message,
    Section,
    Span,
    Tone,
)

MAX_LADDERS = 12  # flows drawn (the first SHOWN_LADDERS shown, the rest one click away)
SHOWN_LADDERS = 2
MAX_MESSAGES = 150  # arrows per ladder
MAX_LANES = 40
MAX_BARS = 24
MAX_TICKS = 40


def wire_sections(plan: WirePlan) -> list[Section]:
    return [capture_section(c) for c in plan.captures] + [log_section(log) for log in plan.logs]


# ---- captures ----------------------------------------------------------------------------------------------

def _order(flow: Flow) -> int:
    """TURN client-server flows first, then ICE flows, then the rest."""
    if flow.allocate_forward is not None:
        return 0
    if any(o.count for o in flow.ice_sent):
        return 1
    return 2 if set(flow.kinds) - {Kind.OTHER} else 3


def message_tone(text: str, request: str = "") -> Tone:
    """An arrow's colour from its ladder text: an error response red, a success green, the rest plain. A
    401 to a request without MESSAGE-INTEGRITY (``request``: the last request of that method the other
    side sent) is the challenge every first Allocate gets (RFC 8656 §7.2), not an error: plain."""
    if " error " in f" {text} ":
        challenge = " error 401" in text and request != "" and "(authenticated)" not in request
        return Tone.BUSY if challenge else Tone.BAD
    if " success" in f" {text}":
        return Tone.GOOD
    return Tone.IDLE


def ladder(summary: CaptureSummary, flow: Flow) -> Ladder:
    requests: dict[tuple[str, bool], str] = {}  # (method, direction) -> its last request's text
    drawn: list[Message] = []
    for e in flow.events[:MAX_MESSAGES]:
        method = e.text.split(" ", 1)[0]
        if " request" in e.text:
            requests[(method, e.forward)] = e.text
        asked = requests.get((method, not e.forward), "")
        drawn.append(Message(at=round(e.time - summary.first_time, 6), forward=e.forward, text=e.text,
                             packet=e.number, tone=message_tone(e.text, asked)))
    messages = tuple(drawn)
    hidden = max(len(flow.events) - MAX_MESSAGES, 0) + flow.events_dropped
    return Ladder(title=f"Flow {flow.index}: {flow.transport} {flow.a} <-> {flow.b}", left=flow.a,
                  right=flow.b, messages=messages, more_messages=hidden)


def _allocations(summary: CaptureSummary) -> LaneChart | None:
    lanes: list[Lane] = []
    total = 0
    for flow in summary.flows:
        for a in flow.allocations:
            total += 1
            if len(lanes) >= MAX_LANES:
                continue
            start = a.time - summary.first_time
            ticks: list[Mark] = []
            deleted_at = next((e.time for e in flow.events if a.deleted and e.number == a.deleted), None)
            for packet, time, lifetime in a.refreshes[:MAX_TICKS]:
                if lifetime:
                    ticks.append(Mark(time - summary.first_time, f"Refresh, lifetime {lifetime} s (packet "
                                      f"{packet})", Tone.GOOD))
            if a.deleted:
                end = (deleted_at if deleted_at is not None else flow.last_time) - summary.first_time
                ticks.append(Mark(end, f"deleted: Refresh with lifetime 0 (packet {a.deleted})", Tone.IDLE))
                spans = [Span(start, end, f"allocated {a.relayed}", Tone.GOOD)]
            else:
                capture_end = summary.last_time - summary.first_time
                expires = a.expires - summary.first_time
                spans = [Span(start, min(expires, capture_end), f"allocated {a.relayed}", Tone.GOOD)]
                if expires < capture_end:
                    ticks.append(Mark(expires, "lifetime over without a Refresh: expired", Tone.WARN))
            lanes.append(Lane(f"flow {flow.index} {a.username or ''}".strip(), tuple(spans), tuple(ticks)))
    if not lanes:
        return None
    return LaneChart(title="TURN allocations (s from the first packet)", lanes=tuple(lanes),
                     more_lanes=total - len(lanes))


def _transactions(summary: CaptureSummary) -> BarChart | None:
    bars: list[Bar] = []
    for flow in summary.flows:
        for method, (count, total, _low, high) in sorted(flow.methods.items()):
            if count:
                average = total / count
                bars.append(Bar(f"flow {flow.index} {method}", average,
                                f"{average:.1f} ms avg, {high:.1f} max ({count:.0f})"))
    if not bars:
        return None
    return BarChart(title="Answered STUN/TURN transactions: round-trip time (ms)",
                    bars=tuple(bars[:MAX_BARS]), more_bars=max(len(bars) - MAX_BARS, 0))


def capture_section(summary: CaptureSummary) -> Section:
    section = Section(title=f"Capture {summary.source} ({summary.packets} packets, {summary.duration:.1f} s)")
    flows = sorted((f for f in summary.flows if f.events), key=lambda f: (_order(f), f.index))
    ladders: list[Chart] = [ladder(summary, f) for f in flows[:MAX_LADDERS]]
    allocations = _allocations(summary)
    if allocations is not None:
        section.charts.append(allocations)
    section.charts += ladders[:SHOWN_LADDERS]
    section.more += ladders[SHOWN_LADDERS:]
    transactions = _transactions(summary)
    if transactions is not None:
        section.more.append(transactions)
    if len(flows) > MAX_LADDERS:
        section.notes.append(f"Ladders of {MAX_LADDERS} of {len(flows)} flows; `rtcdiag analyze "
                             f"{summary.source} --ladder N` prints any one.")
    return section


# ---- coturn logs -------------------------------------------------------------------------------------------

def _size(octets: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if octets >= scale:
            return f"{octets / scale:.1f} {unit}"
    return f"{octets} B"


def _sessions(log: CoturnLog) -> LaneChart | None:
    opened = [s for s in log.sessions.values() if s.opened is not None]
    if not opened:
        return None
    origin = min(s.opened for s in opened if s.opened is not None)
    end_of_log = log.last_time if log.last_time is not None else max(s.opened or 0.0 for s in opened)
    lanes: list[Lane] = []
    for s in opened[:MAX_LANES]:
        start = (s.opened or origin) - origin
        closed = s.closed is not None
        end = (s.closed if s.closed is not None else end_of_log) - origin
        state = f"{s.relay or 'relay'}" + (f" closed: {s.reason}" if closed and s.reason else
                                           " closed" if closed else " open at the end of the log")
        ticks = (Mark(end, f"closed: {s.reason or '-'}", Tone.IDLE),) if closed else ()
        lanes.append(Lane(f"{s.user or '(no user)'} #{s.id[-4:]}", (Span(start, max(end, start), state,
                                                                      Tone.GOOD),), ticks))
    return LaneChart(title="coturn sessions (allocations) over time (s from the first)", lanes=tuple(lanes),
                     more_lanes=len(opened) - len(lanes))


def log_section(log: CoturnLog) -> Section:
    section = Section(title=f"coturn log {log.source} ({log.lines} lines, {len(log.sessions)} sessions)")
    result = log_result(log)
    sessions = _sessions(log)
    if sessions is not None:
        section.charts.append(sessions)
    if result.usage:
        section.charts.append(BarChart(title="Relay usage per user (client bytes, rb+sb)", bars=tuple(
            Bar(u.user, u.client_bytes, f"{_size(u.client_bytes)}, {u.sessions} session(s)")
            for u in result.usage[:MAX_BARS]), more_bars=max(len(result.usage) - MAX_BARS, 0)))
        section.more.append(BarChart(title="Session-minutes per user", bars=tuple(
            Bar(u.user, u.session_minutes, f"{u.session_minutes:.1f} min") for u in result.usage[:MAX_BARS])))
    if result.busiest_hours:
        section.charts.append(BarChart(title="Busiest hours (sessions opened)", bars=tuple(
            Bar(hour, count, str(count)) for hour, count in result.busiest_hours[:MAX_BARS])))
    if result.refused_401:
        section.more.append(BarChart(title="401 to authenticated requests per user", bars=tuple(
            Bar(user, count, str(count), Tone.BAD)
            for user, count in list(result.refused_401.items())[:MAX_BARS])))
    return section
