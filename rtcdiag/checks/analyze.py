"""The ``analyze`` check: read every evidence file (dumps, packet captures, coturn logs: a file that is none
of them is a usage error before any report), judge each, put one call's files together, and the tables of
the report."""

from __future__ import annotations

import gc
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rtcdiag.checks.engine import Check
from rtcdiag.checks.registry import Entry
from rtcdiag.evidence.webrtc_internals import InternalsDump, StatsObject
from rtcdiag.report.model import Table
from rtcdiag.triage.analyze import MAX_CANDIDATE_ROWS, MAX_TIMELINE_ROWS, PcSummary, judge, summarize_all
from rtcdiag.triage.judgement import Judgement

if TYPE_CHECKING:  # the capture and log readers are imported only when such a file is given
    from rtcdiag.evidence.capture import CaptureSummary
    from rtcdiag.evidence.coturn_log import CoturnLog


@dataclass
class AnalyzePlan:
    paths: list[Path]


@dataclass
class Evidence:
    """Every file of one ``analyze`` run, read by its reader, and the facts of each dump's peer connections
    (made once for the rules and the tables)."""

    dumps: list[InternalsDump] = field(default_factory=list)
    summaries: list[PcSummary] = field(default_factory=list)
    captures: list[CaptureSummary] = field(default_factory=list)
    logs: list[CoturnLog] = field(default_factory=list)
    refused: str = ""  # the one line for a file that is not evidence (the command exits 2 with it)

    def __repr__(self) -> str:  # short: asyncio reprs a task's result, and a big dump has thousands
        return (f"Evidence({len(self.dumps)} dumps, {len(self.summaries)} peer connections, "
                f"{len(self.captures)} captures, {len(self.logs)} logs)")

    @property
    def wire(self) -> bool:
        return bool(self.captures or self.logs)


def read_files(paths: list[Path]) -> Evidence:
    """Every file read by its reader, in one pass: dumps (webrtc-internals, rtcstats, getStats; SDP files
    paired), packet captures (streamed) and coturn logs, the kind sniffed from the content.
    :class:`EvidenceError` (exit 2) for the first file that is none of them."""
    from rtcdiag.evidence.load import load_all
    from rtcdiag.evidence.sniff import wire_kind

    kinds = [(path, wire_kind(path)) for path in paths]
    # Reading makes millions of objects that all live on (a dump of 1,655 connections): the cyclic collector
    # would walk each young batch of them, and every string they hold, for nothing (about 4% of the run,
    # issue 19). It is off while the dumps are read and summarised, and what was read is frozen out of its
    # reach after: the dumps and their facts live until the report is written and hold no reference cycle
    # (refcounts still free them).
    collecting = gc.isenabled()
    gc.disable()
    try:
        dumps = load_all([path for path, kind in kinds if kind is None])
        evidence = Evidence(dumps=dumps, summaries=summarize_all(dumps))
    finally:
        if collecting:
            gc.enable()
    gc.freeze()
    wire = [(path, kind) for path, kind in kinds if kind is not None]
    if wire:  # (the capture reader is imported only then)
        from rtcdiag.checks.capture import read_wire

        plan = read_wire(wire)
        evidence.captures, evidence.logs = plan.captures, plan.logs
    return evidence


async def _run(plan: AnalyzePlan) -> Evidence:
    from rtcdiag.evidence.sniff import EvidenceError

    try:
        return read_files(plan.paths)
    except EvidenceError as exc:  # not evidence: a usage error (exit 2) before any report, not a crash
        return Evidence(refused=str(exc))


def judge_evidence(evidence: Evidence) -> Judgement:
    """Each file judged by its own rules, then put together: which files are one call, and the root causes
    only they together show (rtcdiag.triage.correlate)."""
    if evidence.refused:
        return Judgement()
    judgement = Judgement()
    dumps = judge(evidence.dumps, evidence.summaries) if evidence.dumps or not evidence.wire else Judgement()
    judgement.extend(dumps)
    if not evidence.wire:
        return judgement
    from rtcdiag.triage.call_facts import capture_call, dump_call, log_call
    from rtcdiag.triage.capture import judge as judge_captures
    from rtcdiag.triage.correlate import correlate
    from rtcdiag.triage.coturn_log import judge as judge_logs

    captures, logs = judge_captures(evidence.captures), judge_logs(evidence.logs)
    judgement.extend(captures)
    judgement.extend(logs)
    calls = []
    start = 0
    for dump in evidence.dumps:  # summaries are in the order of the dumps' peer connections
        end = start + len(dump.peer_connections)
        calls.append(dump_call(dump, evidence.summaries[start:end]))
        start = end
    judgement.extend(correlate(calls, [capture_call(c) for c in evidence.captures],
                               [log_call(log) for log in evidence.logs], dumps.findings, captures.findings,
                               logs.findings))
    return judgement


ANALYZE: Check[AnalyzePlan, Evidence] = Check("analyze", _run, judge_evidence)


def _first_ms(s: PcSummary) -> float | None:
    stamps = [e.timestamp_ms for e in s.pc.events if e.timestamp_ms is not None]
    return min(stamps) if stamps else None


# What each state is, in the timeline's words (a bare "gathering gathering" said nothing).
_STATE_LABEL = {"signaling": "signaling state", "gathering": "ICE gathering state",
                "ice": "ICE connection state", "connection": "connection state", "dtls": "DTLS state"}


def timeline_table(s: PcSummary) -> Table:
    """Signalling, gathering, ICE, connection and DTLS states, the first candidate of each type and the ICE
    server errors, in the order they happened (with + ms from the first event of the connection); a state
    known only from the last stats (no time) comes last."""
    start = _first_ms(s)
    timed: list[tuple[float, int, list[str]]] = []

    def offset(stamp: float | None) -> str:
        return "-" if stamp is None or start is None else f"+{stamp - start:.0f} ms"

    def add(stamp: float | None, row: list[str]) -> None:
        timed.append((stamp if stamp is not None else math.inf, len(timed), row))

    for t in s.timeline[:MAX_TIMELINE_ROWS]:
        stamp = t.event.timestamp_ms if t.event else None
        source = "" if t.event is None or not t.event.type.startswith("stats ") or t.what != "dtls" else \
            " (stats sample)"
        add(stamp, [t.event.when if t.event else "(stats)", offset(stamp), _STATE_LABEL.get(t.what, t.what),
                    t.state + source])
    for kind in ("host", "srflx", "relay"):
        first = next((c for c in s.of("local", kind) if c.event is not None), None)
        if first is not None and first.event is not None:
            add(first.event.timestamp_ms,
                [first.event.when, offset(first.event.timestamp_ms), "first candidate", kind])
    for error in s.errors[:20]:
        add(error.event.timestamp_ms, [error.event.when, offset(error.event.timestamp_ms), "candidate error",
                                       f"{error.code} {error.text} ({error.url})"])
    rows = [row for _, _, row in sorted(timed, key=lambda item: (item[0], item[1]))]
    total = len(s.timeline) + len(s.errors) if len(s.timeline) > MAX_TIMELINE_ROWS or len(s.errors) > 20 \
        else None
    return Table(title=f"{s.label} timeline ({s.pc.url or 'no url'})", columns=["Time (UTC)", "Since start",
                 "What", "State"], rows=rows, total=total, unit="events")


def candidate_table(s: PcSummary) -> Table:
    rows = [[c.side, c.candidate.type, c.candidate.protocol, c.candidate.address, str(c.candidate.port),
             c.relay_protocol or "-", c.url or "-", c.event.when if c.event else "(stats)"]
            for c in s.candidates[:MAX_CANDIDATE_ROWS]]
    total = len(s.candidates) if len(s.candidates) > MAX_CANDIDATE_ROWS else None
    return Table(title=f"{s.label} candidates", columns=["Side", "Type", "Protocol", "Address", "Port",
                 "Relay protocol", "URL", "Time (UTC)"], rows=rows, total=total, unit="candidates")


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


def _rate_kbps(obj: StatsObject, field_name: str) -> str:
    """Bitrate over the last two samples of a byte counter (webrtc-internals keeps the series; an rtcstats
    dump only the last value here: "-")."""
    series, stamps = obj.series.get(field_name), obj.series.get("timestamp")
    if series is None or stamps is None:
        return "-"
    values, times = series.values(), stamps.values()
    if len(values) < 2 or len(times) < 2:
        return "-"
    try:
        seconds = (float(times[-1]) - float(times[-2])) / 1000
        kbps = (float(values[-1]) - float(values[-2])) * 8 / 1000 / seconds
    except (TypeError, ValueError, ZeroDivisionError):
        return "-"
    return f"{kbps:.0f}" if kbps >= 0 else "-"


def rtp_table(s: PcSummary) -> Table | None:
    """Loss and bitrate per RTP stream: inbound (packets received/lost, jitter), outbound (packets sent,
    retransmitted; loss and RTT as the other side reported them in RTCP)."""
    rows: list[list[str]] = []
    for obj in sorted(s.pc.of_type("inbound-rtp"), key=lambda o: o.id)[:20]:
        received, lost = obj.number("packetsReceived"), obj.number("packetsLost")
        loss = f"{lost / (lost + received):.1%}" if received is not None and lost is not None and \
            lost + received > 0 else "-"
        jitter = obj.number("jitter")
        spread = "-" if jitter is None else f"{jitter * 1000:.1f} ms jitter"
        rows.append([obj.id, "in", obj.text("kind") or "-", obj.text("packetsReceived") or "-", loss,
                     _rate_kbps(obj, "bytesReceived"), spread])
    remote = {o.text("localId"): o for o in s.pc.of_type("remote-inbound-rtp")}
    for obj in sorted(s.pc.of_type("outbound-rtp"), key=lambda o: o.id)[:20]:
        report = remote.get(obj.id)
        if report is None:
            same = [r for r in s.pc.of_type("remote-inbound-rtp") if r.text("ssrc") == obj.text("ssrc")]
            report = same[0] if same else None
        loss, rtt = "-", "-"
        if report is not None:
            fraction, seconds = report.number("fractionLost"), report.number("roundTripTime")
            loss = "-" if fraction is None else f"{fraction:.1%} (RTCP)"
            rtt = "-" if seconds is None else f"{seconds * 1000:.1f} ms RTT"
        rows.append([obj.id, "out", obj.text("kind") or "-", obj.text("packetsSent") or "-", loss,
                     _rate_kbps(obj, "bytesSent"), rtt])
    if not rows:
        return None
    return Table(title=f"{s.label} RTP streams", columns=["Stats id", "Direction", "Kind", "Packets", "Loss",
                 "kbit/s", "Jitter / RTT"], rows=rows)


def media_table(s: PcSummary) -> Table:
    """The m-lines of the offer and the answer side by side (SDP files)."""
    rows: list[list[str]] = []
    for side, sdp in (("offer", s.local_sdp), ("answer", s.remote_sdp)):
        if sdp is None:
            continue
        for m in sdp.media[:100]:
            codecs = " ".join(m.rtpmap.get(pt, pt) for pt in m.formats[:8])
            rows.append([side, m.kind, m.mid or "-", str(m.port), m.protocol, m.direction,
                         m.setup or sdp.setup or "-", "yes" if sdp.ice_lite else "no", codecs[:120]])
    return Table(title=f"{s.label} m-lines ({s.pc.url})", columns=["Side", "Kind", "Mid", "Port", "Protocol",
                 "Direction", "Setup", "ICE-lite", "Codecs"], rows=rows)


def tables(dumps: list[InternalsDump], summaries: list[PcSummary] | None = None) -> list[Table]:
    summaries = summarize_all(dumps) if summaries is None else summaries
    out: list[Table] = []
    live = [s for s in summaries if not s.pc.sdp_only]
    if live:
        out.append(selected_table(live))
    for s in summaries[:50]:
        if s.pc.sdp_only:
            out.append(media_table(s))
            continue
        out += [table for table in (timeline_table(s), candidate_table(s)) if table.rows]  # none empty
        rtp = rtp_table(s)
        if rtp is not None:
            out.append(rtp)
    return out


# ---- --summary DIR: many dumps, the numbers behind a relay budget ---------------------------------------

@dataclass
class FileSummary:
    """What one dump says, reduced to numbers (picklable: made in a worker process)."""

    file: str
    refused: str = ""  # why the file was not read (not a dump, truncated, ...)
    peer_connections: int = 0
    connected: int = 0
    relayed: dict[str, int] = field(default_factory=dict)  # relay protocol -> connections relayed over it
    connect_ms: list[float] = field(default_factory=list)  # first event -> connected, per connection
    turn_errors: list[tuple[str, str]] = field(default_factory=list)  # (url, code) per candidate error
    roots: list[str] = field(default_factory=list)  # root-cause ids of the dump's diagnosis


def summarize_file(path: str) -> FileSummary:
    """Read and judge one dump (run in a worker process by ``--summary``)."""
    from pathlib import Path

    from rtcdiag.evidence.load import load_dump
    from rtcdiag.evidence.sniff import EvidenceError
    from rtcdiag.triage.diagnosis import diagnose

    try:
        dump = load_dump(Path(path))
    except EvidenceError as exc:
        return FileSummary(file=path, refused=str(exc)[:300])
    summaries = summarize_all([dump])
    out = FileSummary(file=path, peer_connections=len(summaries))
    for s in summaries:
        out.turn_errors += [(e.url, str(e.code)) for e in s.errors]
        # Connected means the connection (DTLS included); old dumps without connection states: ICE.
        up = (s.reached("connection", "connected") if s.states("connection")
              else s.reached("ice", "connected", "completed"))
        if up is None:
            continue
        out.connected += 1
        stamps = [e.timestamp_ms for e in s.pc.events if e.timestamp_ms is not None]
        if up.event is not None and up.event.timestamp_ms is not None and stamps:
            out.connect_ms.append(up.event.timestamp_ms - min(stamps))
        if s.selected is not None and s.selected.local_type == "relay":
            key = s.selected.relay_protocol or "?"
            out.relayed[key] = out.relayed.get(key, 0) + 1
    judgement = judge([dump], summaries)
    out.roots = sorted({f.id for f in diagnose(judgement.findings).roots})
    return out


def summarize_files(paths: list[str], workers: int | None = None,
                    on_done: Callable[[int], None] | None = None) -> list[FileSummary]:
    """Every file judged on its own, in parallel over every core (in order of ``paths``); ``on_done(i)``
    once the ``i``-th file is (a progress view)."""
    import os

    count = workers or os.cpu_count() or 1
    out: list[FileSummary] = []
    if count <= 1 or len(paths) < 4:
        for index, path in enumerate(paths):
            out.append(summarize_file(path))
            if on_done is not None:
                on_done(index)
        return out
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=count) as pool:
        for index, summary in enumerate(pool.map(summarize_file, paths,
                                                 chunksize=max(1, len(paths) // (count * 8)))):
            out.append(summary)
            if on_done is not None:
                on_done(index)
    return out


def _percentile(values: list[float], q: float) -> str:
    """Nearest-rank percentile (``q`` in 0..100) in ms, or "-"."""
    if not values:
        return "-"
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return f"{ordered[rank - 1]:.0f}"


@dataclass
class SummaryNumbers:
    files: int
    refused: int
    peer_connections: int
    connected: int
    relayed: int
    relay_ratio: float | None
    relay_protocols: dict[str, int]
    connect_ms_p50: str
    connect_ms_p90: str
    connect_ms_p99: str
    turn_errors: dict[str, int]  # "url code" -> count
    causes: dict[str, int]  # root id -> files


def summary_numbers(files: list[FileSummary]) -> SummaryNumbers:
    read = [f for f in files if not f.refused]
    protocols: dict[str, int] = {}
    errors: dict[str, int] = {}
    causes: dict[str, int] = {}
    times: list[float] = []
    for f in read:
        for key, n in f.relayed.items():
            protocols[key] = protocols.get(key, 0) + n
        for url, code in f.turn_errors:
            errors[f"{url} {code}"] = errors.get(f"{url} {code}", 0) + 1
        for root in f.roots:
            causes[root] = causes.get(root, 0) + 1
        times += f.connect_ms
    connected = sum(f.connected for f in read)
    relayed = sum(protocols.values())
    return SummaryNumbers(
        files=len(files), refused=len(files) - len(read),
        peer_connections=sum(f.peer_connections for f in read),
        connected=connected, relayed=relayed, relay_ratio=(relayed / connected) if connected else None,
        relay_protocols=dict(sorted(protocols.items(), key=lambda kv: -kv[1])),
        connect_ms_p50=_percentile(times, 50), connect_ms_p90=_percentile(times, 90),
        connect_ms_p99=_percentile(times, 99),
        turn_errors=dict(sorted(errors.items(), key=lambda kv: -kv[1])[:50]),
        causes=dict(sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))[:50]))


def summary_tables(numbers: SummaryNumbers) -> list[Table]:
    ratio = "-" if numbers.relay_ratio is None else f"{numbers.relay_ratio:.0%}"
    mix = ", ".join(f"{k} {v}" for k, v in numbers.relay_protocols.items()) or "-"
    overview = Table(title="Summary", columns=["What", "Value"], rows=[
        ["dumps read", f"{numbers.files - numbers.refused} of {numbers.files}"],
        ["peer connections", str(numbers.peer_connections)],
        ["connected", str(numbers.connected)],
        ["relay ratio (selected pair relayed / connected)", f"{ratio} ({numbers.relayed})"],
        ["relay protocol mix", mix],
        ["time to connected p50 / p90 / p99 (ms)",
         f"{numbers.connect_ms_p50} / {numbers.connect_ms_p90} / {numbers.connect_ms_p99}"],
    ])
    errors = Table(title="ICE server errors per URL", columns=["URL and code", "Errors"],
                   rows=[[k, str(v)] for k, v in numbers.turn_errors.items()])
    causes = Table(title="Failure causes ranked", columns=["Root cause", "Dumps"],
                   rows=[[k, str(v)] for k, v in numbers.causes.items()])
    return [overview, errors, causes]


ENTRIES = (Entry(ANALYZE, Evidence),)
