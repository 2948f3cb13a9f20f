"""The HTML page's part for ``analyze --summary DIR --html``: the fleet's numbers as bar charts — how many
connections were relayed, over which protocol, how long they took to connect (percentiles and a
histogram), the ICE server errors by URL and code, and the root causes ranked. The numbers are the
summary's own (rtcdiag.checks.analyze.summary_numbers); nothing is judged here.
"""

from __future__ import annotations

from rtcdiag.checks.analyze import FileSummary, SummaryNumbers
from rtcdiag.report.visual import Bar, BarChart, Section, Tone

MAX_BARS = 20
# Time to connected: histogram buckets (upper bound ms, label).
BUCKETS = ((250, "< 250 ms"), (500, "250-500 ms"), (1000, "0.5-1 s"), (2000, "1-2 s"), (5000, "2-5 s"),
           (10_000, "5-10 s"), (float("inf"), ">= 10 s"))


def _top(counts: dict[str, int], tone: Tone) -> tuple[tuple[Bar, ...], int]:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(Bar(name, n, str(n), tone) for name, n in ranked[:MAX_BARS]), max(len(ranked) - MAX_BARS, 0)


def fleet_sections(files: list[FileSummary], numbers: SummaryNumbers) -> list[Section]:
    section = Section(title=f"Fleet: {numbers.files - numbers.refused} dump(s), "
                            f"{numbers.peer_connections} peer connection(s)")
    not_connected = max(numbers.peer_connections - numbers.connected, 0)
    ratio = "-" if numbers.relay_ratio is None else f"{numbers.relay_ratio:.0%}"
    section.charts.append(BarChart(title=f"Relay ratio: {ratio} of connected peer connections relayed", bars=(
        Bar("relayed (selected pair is a relay candidate)", numbers.relayed, str(numbers.relayed), Tone.BUSY),
        Bar("direct (host, srflx or prflx)", numbers.connected - numbers.relayed,
            str(numbers.connected - numbers.relayed), Tone.GOOD),
        Bar("never connected", not_connected, str(not_connected), Tone.BAD))))
    if numbers.relay_protocols:
        bars, more = _top(numbers.relay_protocols, Tone.BUSY)
        section.charts.append(BarChart(title="Relay protocol mix (client to TURN server)", bars=bars,
                                       more_bars=more))
    times = sorted(ms for f in files if not f.refused for ms in f.connect_ms)
    if times:
        percentiles = [("p50", numbers.connect_ms_p50), ("p90", numbers.connect_ms_p90),
                       ("p99", numbers.connect_ms_p99)]
        section.charts.append(BarChart(title=f"Time to connected, percentiles (ms; {len(times)} connections)",
                                       bars=tuple(Bar(name, float(value), f"{value} ms", Tone.GOOD)
                                                  for name, value in percentiles if value != "-")))
        counts = [0] * len(BUCKETS)
        for ms in times:
            counts[next(i for i, (bound, _) in enumerate(BUCKETS) if ms < bound)] += 1
        section.more.append(BarChart(title="Time to connected, histogram (connections)", bars=tuple(
            Bar(label, n, str(n), Tone.GOOD) for (_, label), n in zip(BUCKETS, counts, strict=True))))
    if numbers.turn_errors:
        bars, more = _top(numbers.turn_errors, Tone.BAD)
        section.charts.append(BarChart(title="ICE server errors by URL and code (icecandidateerror)",
                                       bars=bars, more_bars=more))
    if numbers.causes:
        bars, more = _top(numbers.causes, Tone.BAD)
        section.charts.append(BarChart(title="Root causes ranked (dumps)", bars=bars, more_bars=more))
    if numbers.refused:
        section.notes.append(f"{numbers.refused} file(s) were not dumps and are not counted (see the notes).")
    return [section]
