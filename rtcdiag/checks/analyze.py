"""The ``analyze`` check: triage parsed webrtc-internals dumps (the files were read by the command, so a
file that is not a dump is a usage error before anything runs) and the tables of the report."""

from __future__ import annotations

from dataclasses import dataclass

from rtcdiag.checks.engine import Check
from rtcdiag.evidence.webrtc_internals import InternalsDump
from rtcdiag.report.model import Table
from rtcdiag.triage.analyze import MAX_CANDIDATE_ROWS, MAX_TIMELINE_ROWS, PcSummary, judge, summarize_all


@dataclass
class AnalyzePlan:
    dumps: list[InternalsDump]


async def _run(plan: AnalyzePlan) -> list[InternalsDump]:
    return plan.dumps  # the I/O (reading and parsing) happened in the command, before the report


ANALYZE: Check[AnalyzePlan, list[InternalsDump]] = Check("analyze", _run, judge)


def _first_ms(s: PcSummary) -> float | None:
    stamps = [e.timestamp_ms for e in s.pc.events if e.timestamp_ms is not None]
    return min(stamps) if stamps else None


def timeline_table(s: PcSummary) -> Table:
    """Signalling, gathering, ICE, connection and DTLS states with their times (and + ms from the first
    event of the connection), then the time to the first candidate of each type."""
    start = _first_ms(s)
    rows: list[list[str]] = []

    def offset(stamp: float | None) -> str:
        return "-" if stamp is None or start is None else f"+{stamp - start:.0f} ms"

    for t in s.timeline[:MAX_TIMELINE_ROWS]:
        stamp = t.event.timestamp_ms if t.event else None
        rows.append([t.event.when if t.event else "(stats)", offset(stamp), t.what, t.state])
    for kind in ("host", "srflx", "relay"):
        first = next((c for c in s.of("local", kind) if c.event is not None), None)
        if first is not None and first.event is not None:
            rows.append([first.event.when, offset(first.event.timestamp_ms), "first candidate", kind])
    for error in s.errors[:20]:
        rows.append([error.event.when, offset(error.event.timestamp_ms), "candidate error",
                     f"{error.code} {error.text} ({error.url})"])
    return Table(title=f"{s.label} timeline ({s.pc.url or 'no url'})", columns=["Time (UTC)", "Since start",
                 "What", "State"], rows=rows)


def candidate_table(s: PcSummary) -> Table:
    rows = [[c.side, c.candidate.type, c.candidate.protocol, c.candidate.address, str(c.candidate.port),
             c.relay_protocol or "-", c.url or "-", c.event.when if c.event else "(stats)"]
            for c in s.candidates[:MAX_CANDIDATE_ROWS]]
    return Table(title=f"{s.label} candidates", columns=["Side", "Type", "Protocol", "Address", "Port",
                 "Relay protocol", "URL", "Time (UTC)"], rows=rows)


def selected_table(summaries: list[PcSummary]) -> Table:
    rows: list[list[str]] = []
    for s in summaries:
        p = s.selected
        if p is None:
            rows.append([s.label, "-", "-", "-", "-", s.last_state("ice"), s.dtls_state or "-"])
        else:
            rtt = "-" if p.rtt_ms is None else f"{p.rtt_ms:.1f}"
            rows.append([s.label, p.local, p.remote, p.relay_protocol or "-", rtt, s.last_state("ice"),
                         s.dtls_state or "-"])
    return Table(title="Selected candidate pairs", columns=["Peer connection", "Local", "Remote",
                 "Relay protocol", "RTT ms", "ICE", "DTLS"], rows=rows)


def tables(dumps: list[InternalsDump]) -> list[Table]:
    summaries = summarize_all(dumps)
    out: list[Table] = []
    if summaries:
        out.append(selected_table(summaries))
    for s in summaries[:50]:
        out += [timeline_table(s), candidate_table(s)]
    return out
