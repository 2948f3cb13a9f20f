"""What the HTML page draws below the verdict (``--html``): typed chart data, made once from the evidence by
the checks (rtcdiag.checks.call_charts, wire_charts, fleet_charts) and carried in ``Report.visuals``; drawn
only by rtcdiag.report.svg. Not part of the JSON report (its schema is unchanged).

Times on an axis are seconds from the section's origin (a peer connection's first event, a capture's first
packet); strings are as the evidence gave them (escaped where they are drawn).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rtcdiag.report.model import Table


class Tone(StrEnum):
    """How a state or a bar reads: its colour on the page."""

    GOOD = "good"
    BUSY = "busy"  # on its way (checking, connecting, gathering)
    IDLE = "idle"  # new, closed: nothing wrong, nothing happening
    WARN = "warn"
    BAD = "bad"


@dataclass(frozen=True)
class Line:
    label: str
    points: tuple[tuple[float, float | None], ...]  # (x seconds, y); y None: a gap


@dataclass(frozen=True)
class Mark:
    """Something at one time: an error (across the chart) or an event (a tick in its lane)."""

    at: float
    label: str
    tone: Tone = Tone.BAD


@dataclass(frozen=True)
class LineChart:
    title: str
    unit: str
    lines: tuple[Line, ...]
    marks: tuple[Mark, ...] = ()
    # The section's time axis, so that its charts line up (None: the data's own range).
    x_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class Span:
    start: float
    end: float
    state: str
    tone: Tone


@dataclass(frozen=True)
class Lane:
    label: str
    spans: tuple[Span, ...]
    ticks: tuple[Mark, ...] = ()


@dataclass(frozen=True)
class LaneChart:
    """States over time, one lane each (signalling, ICE, DTLS...; allocations), errors marked across."""

    title: str
    lanes: tuple[Lane, ...]
    marks: tuple[Mark, ...] = ()
    more_lanes: int = 0  # lanes not drawn (bounded), said under the chart
    x_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as shown
    tone: Tone = Tone.BUSY


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: tuple[Bar, ...]
    more_bars: int = 0


@dataclass(frozen=True)
class Message:
    """One arrow of a sequence diagram."""

    at: float  # seconds from the capture's first packet
    forward: bool  # left to right
    text: str
    packet: int
    tone: Tone = Tone.IDLE


@dataclass(frozen=True)
class Ladder:
    title: str
    left: str
    right: str
    messages: tuple[Message, ...]
    more_messages: int = 0  # not drawn (bounded)


Chart = LineChart | LaneChart | BarChart | Ladder


@dataclass(frozen=True)
class MarkedTable:
    """A table with some rows highlighted (the selected candidate pair and its candidates)."""

    table: Table
    marked: frozenset[int] = frozenset()


@dataclass
class Section:
    """One part of the page: a peer connection, a capture, a coturn log, the fleet."""

    title: str
    charts: list[Chart] = field(default_factory=list)  # shown
    more: list[Chart] = field(default_factory=list)  # one click away
    tables: list[MarkedTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
