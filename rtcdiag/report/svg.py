"""Inline SVG for the HTML page's charts (rtcdiag.report.visual), written here as text: no script, no
style attribute (the page's Content-Security-Policy allows only its one style sheet), no reference to
anything outside the element (no href, no url(), no font). Colours come from the classes the page's style
sheet defines (``l0``..``l7`` for lines, ``tone-*`` for states and bars).

Every string from the evidence goes through :func:`safe`: secrets masked, control characters made
visible, length bounded, then HTML-escaped (``<``, ``>``, ``&`` and both quotes), so a dump's
``<script>`` or ``" onerror="`` is text in a ``<text>`` or ``<title>`` element, never markup. Every datum is
drawn as a ``<path class="datum ...">`` (lines, state spans, bars, arrows): the page's tests count them.
"""

from __future__ import annotations

import html
import math

from rtcdiag.redact import mask
from rtcdiag.report.visual import BarChart, Chart, Ladder, LaneChart, LineChart, Mark
from rtcdiag.textsafe import bounded, printable

WIDTH = 960  # timelines, bars and ladders: across the page
LINE_WIDTH = 540  # line charts: two abreast on a wide screen
PALETTE_SIZE = 8  # line colour classes l0..l7 in the page's style sheet
MAX_TITLE_CHARS = 600


def safe(text: str, limit: int = 1000) -> str:
    """Outside text as HTML text or an attribute value: masked, printable, bounded, escaped."""
    return html.escape(bounded(printable(mask(text)), limit), quote=True)


def _cut(text: str, limit: int) -> str:
    """A label shortened to ``limit`` characters (the full text goes in the element's <title>)."""
    clean = printable(mask(text))
    return html.escape(clean if len(clean) <= limit else clean[:limit - 1] + "\u2026", quote=True)


def _num(value: float) -> str:
    """A coordinate: one decimal, no trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def fmt(value: float) -> str:
    """A value for an axis or a tooltip: 3 significant digits, k/M for thousands and millions."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g}k"
    if magnitude >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.3g}"


def nice_step(span: float, count: int) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about ``count`` ticks over ``span``."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 5.0, 10.0):
        if raw <= factor * power:
            return factor * power
    return 10.0 * power


def _ticks(low: float, high: float, count: int) -> list[float]:
    step = nice_step(high - low, count)
    first = math.ceil(low / step) * step
    out: list[float] = []
    value = first
    while value <= high + step * 1e-9 and len(out) < 50:
        out.append(round(value, 10))
        value += step
    return out


def _open(kind: str, height: float, title: str, width: int = WIDTH) -> str:
    return (f'<svg class="chart {kind}" data-kind="{kind}" viewBox="0 0 {width} {_num(height)}" '
            f'role="img" aria-label="{safe(title, 300)}" xmlns="http://www.w3.org/2000/svg">')


def _title(text: str) -> str:
    return f"<title>{safe(text, MAX_TITLE_CHARS)}</title>"


class _Axis:
    """Seconds on x, drawn from ``left`` to ``right``."""

    def __init__(self, low: float, high: float, left: float, right: float) -> None:
        if not high > low:
            high = low + 1.0
        self.low, self.high, self.left, self.right = low, high, left, right

    def x(self, value: float) -> float:
        return self.left + (value - self.low) / (self.high - self.low) * (self.right - self.left)

    def draw(self, top: float, bottom: float) -> list[str]:
        parts: list[str] = []
        count = max(int((self.right - self.left) // 90), 3)
        for tick in _ticks(self.low, self.high, count):
            x = _num(self.x(tick))
            parts.append(f'<path class="grid" d="M{x} {_num(top)}V{_num(bottom)}"/>')
            parts.append(f'<text class="axis" x="{x}" y="{_num(bottom + 14)}" text-anchor="middle">'
                         f"{fmt(tick)} s</text>")
        return parts


def _marks(marks: tuple[Mark, ...], axis: _Axis, top: float, bottom: float) -> list[str]:
    parts: list[str] = []
    for mark in marks:
        x = _num(axis.x(mark.at))
        parts.append(f'<path class="mark tone-{mark.tone.value}" d="M{x} {_num(top)}V{_num(bottom)}">'
                     f"{_title(f'+{mark.at:.3f} s: {mark.label}')}</path>")
        parts.append(f'<path class="mark-head tone-{mark.tone.value}" d="M{x} {_num(top)}l-4 -6h8z">'
                     f"{_title(f'+{mark.at:.3f} s: {mark.label}')}</path>")
    return parts


# ---- line charts -------------------------------------------------------------------------------------------

LINE_HEIGHT = 180
LINE_MARGIN = (60, 14, 12, 26)  # left, right, top, bottom


def line_chart(chart: LineChart) -> str:
    left, right, top, bottom = LINE_MARGIN
    height = LINE_HEIGHT
    xs = [x for line in chart.lines for x, _ in line.points] + [m.at for m in chart.marks]
    xs += list(chart.x_range or ())
    ys = [y for line in chart.lines for _, y in line.points if y is not None]
    axis = _Axis(min(xs, default=0.0), max(xs, default=1.0), left, LINE_WIDTH - right)
    y_low = min(0.0, min(ys, default=0.0))
    y_high = max(ys, default=1.0)
    if not y_high > y_low:
        y_high = y_low + 1.0
    step = nice_step(y_high - y_low, 4)
    y_high = math.ceil(y_high / step - 1e-9) * step
    plot_bottom = height - bottom

    def y(value: float) -> float:
        return plot_bottom - (value - y_low) / (y_high - y_low) * (plot_bottom - top)

    parts = [_open("line", height, chart.title, LINE_WIDTH)]
    for tick in _ticks(y_low, y_high, 4):
        parts.append(f'<path class="grid" d="M{left} {_num(y(tick))}H{LINE_WIDTH - right}"/>')
        parts.append(f'<text class="axis" x="{left - 6}" y="{_num(y(tick) + 4)}" text-anchor="end">'
                     f"{fmt(tick)}</text>")
    parts.append(f'<text class="axis unit" x="4" y="{top + 4}">{safe(chart.unit, 20)}</text>')
    parts += axis.draw(top, plot_bottom)
    for index, line in enumerate(chart.lines):
        commands: list[str] = []
        pen_down = False
        run = 0
        for x_value, y_value in line.points:
            if y_value is None:
                if run == 1:
                    commands.append("h0.1")  # a lone sample: a dot (round line caps)
                pen_down, run = False, 0
                continue
            commands.append(f"{'L' if pen_down else 'M'}{axis.x(x_value):.1f} {y(y_value):.1f}")
            pen_down = True
            run += 1
        if run == 1:
            commands.append("h0.1")
        last = next((v for _, v in reversed(line.points) if v is not None), None)
        summary = f"{line.label}: last {fmt(last)} {chart.unit}" if last is not None else line.label
        parts.append(f'<path class="datum line l{index % PALETTE_SIZE}" d="{"".join(commands)}">'
                     f"{_title(summary)}</path>")
    parts += _marks(chart.marks, axis, top, plot_bottom)
    parts.append("</svg>")
    return "".join(parts)


# ---- lanes (states over time) ------------------------------------------------------------------------------

LANE_HEIGHT = 22
LANE_GAP = 6
LANE_LABEL = 150


def lane_chart(chart: LaneChart) -> str:
    top, bottom = 10, 24
    height = top + len(chart.lanes) * (LANE_HEIGHT + LANE_GAP) + bottom
    times = [t for lane in chart.lanes for s in lane.spans for t in (s.start, s.end)]
    times += [m.at for lane in chart.lanes for m in lane.ticks] + [m.at for m in chart.marks]
    times += list(chart.x_range or ())
    axis = _Axis(min(times, default=0.0), max(times, default=1.0), LANE_LABEL, WIDTH - 14)
    plot_bottom = height - bottom
    parts = [_open("lanes", height, chart.title)]
    parts += axis.draw(top, plot_bottom)
    for index, lane in enumerate(chart.lanes):
        y0 = top + index * (LANE_HEIGHT + LANE_GAP)
        parts.append(f'<text class="lane" x="{LANE_LABEL - 8}" y="{_num(y0 + 15)}" text-anchor="end">'
                     f"{_cut(lane.label, 22)}{_title(lane.label)}</text>")
        for span in lane.spans:
            x0, x1 = axis.x(span.start), axis.x(span.end)
            width = max(x1 - x0, 2.0)
            tip = f"{lane.label}: {span.state} (+{span.start:.3f} s to +{span.end:.3f} s)"
            parts.append(f'<path class="datum span tone-{span.tone.value}" '
                         f'd="M{_num(x0)} {_num(y0)}h{_num(width)}v{LANE_HEIGHT}h{_num(-width)}z">'
                         f"{_title(tip)}</path>")
            fits = int(width // 6.5)
            if fits >= 4:
                parts.append(f'<text class="in" x="{_num(x0 + 4)}" y="{_num(y0 + 15)}">'
                             f"{_cut(span.state, fits)}</text>")
        for tick in lane.ticks:
            x = _num(axis.x(tick.at))
            parts.append(f'<path class="datum tick tone-{tick.tone.value}" d="M{x} {_num(y0 + 2)}'
                         f'V{_num(y0 + LANE_HEIGHT - 2)}">{_title(f"+{tick.at:.3f} s: {tick.label}")}</path>')
    parts += _marks(chart.marks, axis, top, plot_bottom)
    parts.append("</svg>")
    return "".join(parts)


# ---- bars --------------------------------------------------------------------------------------------------

BAR_ROW = 22
BAR_LABEL = 300
BAR_TEXT = 170


def bar_chart(chart: BarChart) -> str:
    top = 6
    height = top + len(chart.bars) * BAR_ROW + 6
    largest = max((b.value for b in chart.bars), default=0.0)
    room = WIDTH - BAR_LABEL - BAR_TEXT
    parts = [_open("bars", height, chart.title)]
    for index, bar in enumerate(chart.bars):
        y0 = top + index * BAR_ROW
        width = max(bar.value / largest * room if largest > 0 else 0.0, 1.0)
        parts.append(f'<text class="lane" x="{BAR_LABEL - 8}" y="{y0 + 15}" text-anchor="end">'
                     f"{_cut(bar.label, 44)}{_title(bar.label)}</text>")
        parts.append(f'<path class="datum bar tone-{bar.tone.value}" '
                     f'd="M{BAR_LABEL} {y0 + 3}h{_num(width)}v16h{_num(-width)}z">'
                     f"{_title(f'{bar.label}: {bar.text}')}</path>")
        parts.append(f'<text class="value" x="{_num(BAR_LABEL + width + 6)}" y="{y0 + 15}">'
                     f"{_cut(bar.text, 30)}</text>")
    parts.append("</svg>")
    return "".join(parts)


# ---- sequence diagrams -------------------------------------------------------------------------------------

LADDER_ROW = 20
LADDER_LEFT = 150
LADDER_RIGHT = WIDTH - 20
LADDER_HEAD = 34


def ladder(chart: Ladder) -> str:
    height = LADDER_HEAD + len(chart.messages) * LADDER_ROW + 10
    parts = [_open("ladder", height, chart.title)]
    parts.append(f'<text class="end" x="{LADDER_LEFT}" y="14" text-anchor="middle">{_cut(chart.left, 40)}'
                 f"{_title(chart.left)}</text>")
    parts.append(f'<text class="end" x="{LADDER_RIGHT}" y="14" text-anchor="end">{_cut(chart.right, 40)}'
                 f"{_title(chart.right)}</text>")
    for x in (LADDER_LEFT, LADDER_RIGHT):
        parts.append(f'<path class="life" d="M{x} 22V{_num(height - 4)}"/>')
    for index, message in enumerate(chart.messages):
        y = LADDER_HEAD + index * LADDER_ROW + 12
        start, end = (LADDER_LEFT, LADDER_RIGHT) if message.forward else (LADDER_RIGHT, LADDER_LEFT)
        head = "l-8 -4v8z" if message.forward else "l8 -4v8z"
        tip = f"packet {message.packet}, +{message.at:.3f} s: {message.text}"
        parts.append(f'<text class="axis" x="4" y="{y + 4}">#{message.packet} +{message.at:.3f} s</text>')
        parts.append(f'<path class="datum arrow tone-{message.tone.value}" d="M{start} {y}H{end}">'
                     f"{_title(tip)}</path>")
        parts.append(f'<path class="head tone-{message.tone.value}" d="M{end} {y}{head}"/>')
        parts.append(f'<text class="msg" x="{(LADDER_LEFT + LADDER_RIGHT) // 2}" y="{y - 4}" '
                     f'text-anchor="middle">{_cut(message.text, 86)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def draw(chart: Chart) -> str:
    if isinstance(chart, LineChart):
        return line_chart(chart)
    if isinstance(chart, LaneChart):
        return lane_chart(chart)
    if isinstance(chart, BarChart):
        return bar_chart(chart)
    return ladder(chart)


def legend(chart: Chart) -> list[tuple[str, str]]:
    """(colour class, label) per line of a line chart, or per tone used by a lane chart (for the legend)."""
    if isinstance(chart, LineChart):
        return [(f"l{i % PALETTE_SIZE}", line.label) for i, line in enumerate(chart.lines)]
    return []

