"""``rtcdiag analyze``'s short view: one line per peer connection, and per capture and coturn log analysed
beside the dumps (what the console shows under the verdict; the timeline, candidates, RTP, flows and
sessions tables come with -v)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rtcdiag.evidence.webrtc_internals import InternalsDump
from rtcdiag.report.model import Table
from rtcdiag.triage.analyze import PcSummary, Transition, summarize_all

if TYPE_CHECKING:
    from rtcdiag.evidence.capture import CaptureSummary
    from rtcdiag.evidence.coturn_log import CoturnLog

MAX_ROWS = 50  # peer connections listed; the rest are counted


def _offset(s: PcSummary, transition: Transition | None) -> str:
    stamps = [e.timestamp_ms for e in s.pc.events if e.timestamp_ms is not None]
    if transition is None or transition.event is None or transition.event.timestamp_ms is None or not stamps:
        return ""
    return f" at +{transition.event.timestamp_ms - min(stamps):.0f} ms"


def pc_line(s: PcSummary) -> str:
    """``connected at +160 ms, relay udp 127.0.0.1:56826 <-> relay udp 127.0.0.1:61986, rtt 1.0 ms, DTLS
    connected``: the last states, the selected pair and its RTT."""
    if s.pc.sdp_only:
        return f"SDP only: {s.local_type or 'offer'} / {s.remote_type or 'answer'}"
    words: list[str] = []
    state = s.last_state("connection") if s.states("connection") else s.last_state("ice")
    up = s.reached("connection", "connected") or s.reached("ice", "connected", "completed")
    words.append(f"{state}{_offset(s, up) if state in ('connected', 'completed') else ''}")
    if s.selected is not None:
        pair = f"{s.selected.local} <-> {s.selected.remote}"
        if s.selected.rtt_ms is not None:
            pair += f", rtt {s.selected.rtt_ms:.1f} ms"
        words.append(pair)
    else:
        words.append("no selected pair")
    if s.dtls_state:
        words.append(f"DTLS {s.dtls_state}")
    if s.errors:
        codes = ", ".join(dict.fromkeys(str(e.code or "?") for e in s.errors))
        words.append(f"{len(s.errors)} ICE server error(s) ({codes})")
    return ", ".join(words)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def capture_line(capture: CaptureSummary) -> str:
    """``412 packets, 6 flows, 1 call, 2 TURN allocations, 1 TLS connection``."""
    allocations = sum(len(f.allocations) for f in capture.flows)
    words = [_plural(capture.packets, "packet"), _plural(len(capture.flows), "flow"),
             _plural(len(capture.sessions), "call")]
    if allocations:
        words.append(_plural(allocations, "TURN allocation"))
    if capture.tls:
        words.append(_plural(len(capture.tls), "TLS connection"))
    return ", ".join(words)


def log_line(log: CoturnLog) -> str:
    """``3 sessions, 1 user refused (401)``."""
    words = [_plural(len(log.sessions) + log.sessions_dropped, "session")]
    if log.auth_401:
        words.append(f"{_plural(len(log.auth_401), 'user')} refused (401)")
    if log.peers_403:
        words.append(f"{_plural(len(log.peers_403), 'peer')} refused (403)")
    return ", ".join(words)


def short_table(dumps: list[InternalsDump], summaries: list[PcSummary] | None = None,
                captures: list[CaptureSummary] | None = None, logs: list[CoturnLog] | None = None) -> Table:
    """One line per peer connection, at most :data:`MAX_ROWS` (the cut is said), then one per capture and
    coturn log of the same run; ``summaries``: those of ``dumps`` when already made (``summarize_all``)."""
    summaries = summaries if summaries is not None else summarize_all(dumps)
    rows = [[s.label, pc_line(s)] for s in summaries]
    total = len(rows) if len(rows) > MAX_ROWS else None
    rows = rows[:MAX_ROWS]
    rows += [[c.source, capture_line(c)] for c in captures or []]
    rows += [[log.source, log_line(log)] for log in logs or []]
    return Table(title="Peer connections", columns=["peer connection", "result"], rows=rows,
                 total=total + len(rows) - MAX_ROWS if total is not None else None, unit="peer connections")
