"""``rtcdiag analyze``'s short view: one line per peer connection (what the console shows under the verdict;
the timeline, candidates and RTP tables come with -v)."""

from __future__ import annotations

from rtcdiag.evidence.webrtc_internals import InternalsDump
from rtcdiag.report.model import Table
from rtcdiag.triage.analyze import PcSummary, Transition, summarize_all

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


def short_table(dumps: list[InternalsDump], summaries: list[PcSummary] | None = None) -> Table:
    """One line per peer connection, at most :data:`MAX_ROWS` (the cut is said); ``summaries``: those of
    ``dumps`` when already made (``summarize_all``)."""
    summaries = summaries if summaries is not None else summarize_all(dumps)
    rows = [[s.label, pc_line(s)] for s in summaries]
    total = len(rows) if len(rows) > MAX_ROWS else None
    return Table(title="Peer connections", columns=["peer connection", "result"], rows=rows[:MAX_ROWS],
                 total=total, unit="peer connections")
