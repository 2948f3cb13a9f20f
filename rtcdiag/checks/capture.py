"""``rtcdiag analyze CAPTURE|COTURN-LOG``: packet captures and coturn logs judged, their report tables, and
``--ladder FLOW`` (one flow as a sequence diagram)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rtcdiag.checks.engine import Check
from rtcdiag.evidence.capture import CaptureSummary, Flow, Kind
from rtcdiag.evidence.coturn_log import CoturnLog, Session
from rtcdiag.report.model import Table
from rtcdiag.textsafe import printable
from rtcdiag.triage.judgement import Judgement

MAX_ROWS = 200
LADDER_WIDTH = 88


@dataclass
class WirePlan:
    captures: list[CaptureSummary] = field(default_factory=list)
    logs: list[CoturnLog] = field(default_factory=list)


async def _run(plan: WirePlan) -> WirePlan:
    return plan  # read by the command, before the report (a file that is neither is a usage error)


def _judge(plan: WirePlan) -> Judgement:
    from rtcdiag.triage.capture import judge as judge_captures
    from rtcdiag.triage.coturn_log import judge as judge_logs

    judgement = judge_captures(plan.captures)
    judgement.extend(judge_logs(plan.logs))
    return judgement


WIRE: Check[WirePlan, WirePlan] = Check("analyze", _run, _judge)


def wire_kind(path: Path) -> str | None:
    """"capture" or "coturn-log" from the file's first bytes (None: something else, or unreadable)."""
    from rtcdiag.evidence.coturn_log import looks_like_coturn_log
    from rtcdiag.evidence.pcap import capture_format, open_maybe_gzip

    try:
        with open_maybe_gzip(path) as handle:
            head = handle.read(8192)
    except (OSError, EOFError):  # EOFError: a gzip file cut short
        return None
    if capture_format(head) is not None:
        return "capture"
    if looks_like_coturn_log(head):
        return "coturn-log"
    return None


def read_wire(paths: list[Path]) -> WirePlan:
    """Every file read (captures streamed); EvidenceError (exit 2) for one that is neither."""
    from rtcdiag.evidence.capture import CaptureError, read_capture
    from rtcdiag.evidence.coturn_log import read_coturn_log
    from rtcdiag.evidence.sniff import EvidenceError

    plan = WirePlan()
    for path in paths:
        name = printable(str(path))[:200]
        kind = wire_kind(path)
        try:
            if kind == "capture":
                plan.captures.append(read_capture(path, name))
            elif kind == "coturn-log":
                plan.logs.append(read_coturn_log(path, name))
            elif _is_dump(path):
                raise EvidenceError(f"{name}: a browser dump or SDP: analyze those and packet captures or "
                                    "coturn logs in separate runs")
            else:
                raise EvidenceError(f"{name}: not a packet capture (pcap, pcapng), a coturn log or a "
                                    "webrtc-internals dump")
        except CaptureError as exc:
            raise EvidenceError(f"{name}: {printable(str(exc))}") from None
        except OSError as exc:
            raise EvidenceError(f"{name}: cannot read: {printable(exc.strerror or str(exc))}") from None
    return plan


def _is_dump(path: Path) -> bool:
    from rtcdiag.evidence.sniff import sniff

    try:
        with path.open("rb") as handle:
            head = handle.read(65536)
    except OSError:
        return False
    return sniff(head) is not None


def _kinds(flow: Flow) -> str:
    return ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(flow.kinds.items())) or "-"


def _role(flow: Flow) -> str:
    if flow.allocate_forward is not None:
        return "TURN client-server"
    if any(o.count for o in flow.ice_sent):
        return "ICE"
    if flow.tls:
        return "TLS"
    if Kind.DTLS in flow.kinds or Kind.RTP in flow.kinds:
        return "media"
    return "-"


def capture_tables(summaries: list[CaptureSummary]) -> list[Table]:
    out: list[Table] = []
    for s in summaries:
        interesting = _interesting(s)
        out.append(Table(title=f"{s.source}: flows (--ladder N shows one)", columns=[
            "Flow", "Transport", "A (first sender)", "B", "Packets A>B / B>A", "Messages A>B / B>A", "Role",
            "Transactions", "Retransmissions"], rows=[
            [str(f.index), f.transport, f.a, f.b, f"{f.packets[0]}/{f.packets[1]}", _kinds(f), _role(f),
             str(f.done), str(f.retransmissions)] for f in interesting[:MAX_ROWS]],
            total=_total(len(interesting)), unit="flows"))
        every = [(f, a) for f in s.flows for a in f.allocations]
        allocs = every[:MAX_ROWS]
        if allocs:
            out.append(Table(title=f"{s.source}: TURN allocations", columns=[
                "Flow", "Relayed", "User", "Allocated (packet)", "Lifetime s", "Refreshes", "Permissions",
                "Channels", "Data sent / back (msgs)", "Deleted (packet)"], rows=[
                [str(f.index), a.relayed, a.username or "-", str(a.number), str(a.lifetime),
                 str(sum(1 for r in a.refreshes if r[2])), ", ".join(a.permissions[:5]) or "-",
                 ", ".join(f"0x{c:04x}" for c in list(a.channels)[:5]) or "-",
                 f"{a.sent.count} / {a.received.count}", str(a.deleted or "-")] for f, a in allocs],
                total=_total(len(every)), unit="allocations"))
        rows: list[list[str]] = []
        for f in s.flows:
            for method, (count, total, low, high) in sorted(f.methods.items()):
                rows.append([str(f.index), method, f"{count:.0f}", f"{low:.1f}", f"{total / count:.1f}",
                             f"{high:.1f}"])
        if rows:
            out.append(Table(title=f"{s.source}: answered STUN transactions", columns=[
                "Flow", "Method", "Answered", "RTT min ms", "RTT avg ms", "RTT max ms"],
                rows=rows[:MAX_ROWS], total=_total(len(rows)), unit="rows"))
    return out


def _total(count: int) -> int | None:
    """A table's row count before the cut to MAX_ROWS (None: nothing was cut)."""
    return count if count > MAX_ROWS else None


# ---- JSON results (the report's "results"): the facts behind the tables, typed and bounded ----------------

@dataclass(frozen=True)
class FlowResult:
    index: int
    transport: str  # udp / tcp / relayed-udp / relayed-tcp (read inside a TURN client's relayed data)
    a: str  # the first sender
    b: str
    role: str
    packets: tuple[int, int]  # a -> b, b -> a
    octets: tuple[int, int]
    messages: dict[str, tuple[int, int]]  # kind (stun, channel-data, dtls, rtp, rtcp, tls) -> (a>b, b>a)
    transactions: int
    retransmissions: int
    first_packet: int


@dataclass(frozen=True)
class AllocationResult:
    flow: int
    relayed: str
    username: str
    allocated_packet: int
    lifetime_s: int
    refreshes: int
    permissions: tuple[str, ...]
    channels: dict[str, str]  # "0x4000" -> peer
    data_sent: int  # Send indications + ChannelData to the server
    data_received: int  # Data indications + ChannelData back
    bytes_sent: int
    bytes_received: int
    deleted_packet: int | None


@dataclass(frozen=True)
class MethodResult:
    flow: int
    method: str
    answered: int
    rtt_min_ms: float
    rtt_avg_ms: float
    rtt_max_ms: float


@dataclass(frozen=True)
class CaptureResult:
    source: str
    format: str
    packets: int
    duration_s: float
    truncated: bool
    flows_total: int
    flows: tuple[FlowResult, ...]  # the WebRTC flows, at most MAX_ROWS
    allocations: tuple[AllocationResult, ...]
    transactions: tuple[MethodResult, ...]  # answered STUN/TURN transactions per flow and method


@dataclass(frozen=True)
class UserUsage:
    user: str
    sessions: int
    client_bytes: int  # rb + sb
    peer_bytes: int
    session_minutes: float


@dataclass(frozen=True)
class LogResult:
    source: str
    lines: int
    sessions_total: int
    sessions: tuple[Session, ...]  # at most MAX_ROWS
    usage: tuple[UserUsage, ...]
    busiest_hours: tuple[tuple[str, int], ...]
    refused_401: dict[str, int]  # user -> authenticated requests answered 401


@dataclass(frozen=True)
class WireResults:
    captures: tuple[CaptureResult, ...]
    logs: tuple[LogResult, ...]


def _interesting(s: CaptureSummary) -> list[Flow]:
    return [f for f in s.flows if f.kinds and set(f.kinds) != {Kind.OTHER}]


def capture_result(s: CaptureSummary) -> CaptureResult:
    flows = tuple(FlowResult(
        index=f.index, transport=f.transport, a=f.a, b=f.b, role=_role(f),
        packets=(f.packets[0], f.packets[1]), octets=(f.octets[0], f.octets[1]),
        messages={str(k): (v[0], v[1]) for k, v in sorted(f.kinds.items())}, transactions=f.done,
        retransmissions=f.retransmissions, first_packet=f.first_number) for f in _interesting(s)[:MAX_ROWS])
    allocations = tuple([AllocationResult(
        flow=f.index, relayed=a.relayed, username=a.username, allocated_packet=a.number,
        lifetime_s=a.lifetime, refreshes=sum(1 for r in a.refreshes if r[2]),
        permissions=tuple(a.permissions),
        channels={f"0x{c:04x}": peer for c, peer in a.channels.items()}, data_sent=a.sent.count,
        data_received=a.received.count, bytes_sent=a.sent_bytes, bytes_received=a.received_bytes,
        deleted_packet=a.deleted or None) for f in s.flows for a in f.allocations][:MAX_ROWS])
    methods = tuple([MethodResult(flow=f.index, method=m, answered=int(v[0]), rtt_min_ms=round(v[2], 3),
                                  rtt_avg_ms=round(v[1] / v[0], 3), rtt_max_ms=round(v[3], 3))
                     for f in s.flows for m, v in sorted(f.methods.items())][:MAX_ROWS])
    return CaptureResult(source=s.source, format=s.format, packets=s.packets,
                         duration_s=round(s.duration, 6), truncated=s.truncated, flows_total=len(s.flows),
                         flows=flows, allocations=allocations, transactions=methods)


def _usage(log: CoturnLog) -> tuple[list[UserUsage], list[tuple[str, int]]]:
    """Per user: sessions, bytes, session-minutes (most peer traffic first); sessions opened per hour."""
    usage: dict[str, list[float]] = {}  # user -> sessions, client bytes, peer bytes, session-seconds
    hours: dict[str, int] = {}
    for s in log.sessions.values():
        row = usage.setdefault(s.user or "(none)", [0, 0, 0, 0.0])
        row[0] += 1
        row[1] += s.rb + s.sb
        row[2] += s.peer_rb + s.peer_sb
        end = _end(log, s)
        if s.opened is not None and end is not None:
            row[3] += max(0.0, end - s.opened)
        if s.opened is not None:
            key = (_clock(log, s.opened)[:13] + ":00") if log.absolute_times else \
                f"hour {int(s.opened // 3600)} after start"
            hours[key] = hours.get(key, 0) + 1
    users = [UserUsage(user=user, sessions=int(v[0]), client_bytes=int(v[1]), peer_bytes=int(v[2]),
                       session_minutes=round(v[3] / 60, 3))
             for user, v in sorted(usage.items(), key=lambda kv: -kv[1][2])[:MAX_ROWS]]
    return users, sorted(hours.items(), key=lambda kv: -kv[1])[:24]


def log_result(log: CoturnLog) -> LogResult:
    users, hours = _usage(log)
    return LogResult(source=log.source, lines=log.lines, sessions_total=len(log.sessions),
                     sessions=tuple(list(log.sessions.values())[:MAX_ROWS]), usage=tuple(users),
                     busiest_hours=tuple(hours),
                     refused_401={user: c.count for user, c in list(log.auth_401.items())[:MAX_ROWS]})


def wire_results(plan: WirePlan) -> WireResults:
    return WireResults(captures=tuple(capture_result(c) for c in plan.captures),
                       logs=tuple(log_result(log) for log in plan.logs))


def find_flow(summaries: list[CaptureSummary], key: str) -> tuple[CaptureSummary, Flow] | None:
    """A flow by its number (in the first capture) or by an endpoint "ip:port" it has."""
    for s in summaries:
        for flow in s.flows:
            if key == str(flow.index) or key in (flow.a, flow.b):
                return s, flow
    return None


def ladder(summary: CaptureSummary, flow: Flow) -> str:
    """The flow as a sequence diagram: one line per message, arrows between the two endpoints."""
    width = LADDER_WIDTH
    left, right = flow.a, flow.b
    lines = [f"flow {flow.index} of {summary.source}: {flow.transport} ({_role(flow)})",
             f"{'packet':>8} {'time':>10}  {left:<{width // 2}}{right:>{width // 2 + 2}}"]
    for e in flow.events:
        text = printable(e.text)
        inner = width - 4
        label = f" {text} "
        if e.forward:
            body = label.center(inner, "-")[:max(inner, len(label))] + "->"
            body = "|" + body + "|" if len(body) <= width else "|" + label + "->|"
        else:
            body = "<-" + label.center(inner, "-")
            body = "|" + body + "|" if len(body) <= width else "|<-" + label + "|"
        lines.append(f"{e.number:>8} {f'+{e.time - summary.first_time:.3f}s':>10}  {body}")
    if flow.events_dropped:
        lines.append(f"({flow.events_dropped} more message(s) not shown)")
    for a in flow.allocations:
        lines.append(f"allocation {a.relayed}: {a.sent.count} data message(s) sent ({a.sent_bytes} bytes), "
                     f"{a.received.count} back ({a.received_bytes} bytes)")
    if flow.stream_problem:
        lines.append(f"TCP stream: {printable(flow.stream_problem)}")
    return "\n".join(lines)


def _clock(log: CoturnLog, t: float | None) -> str:
    if t is None:
        return "-"
    if log.absolute_times:
        import time

        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
    return f"{t:.0f} s"


def _end(log: CoturnLog, session: Session) -> float | None:
    return session.closed if session.closed is not None else log.last_time


def log_tables(logs: list[CoturnLog]) -> list[Table]:
    out: list[Table] = []
    for log in logs:
        sessions = list(log.sessions.values())
        out.append(Table(title=f"{log.source}: sessions", columns=[
            "Session", "User", "Realm", "Client", "Relay", "Lifetime s", "TLS", "Opened", "Closed", "Reason",
            "Client rb/sb", "Peer rb/sb"], rows=[
            [s.id, s.user or "-", s.realm or "-", s.client or "-", s.relay or "-", str(s.lifetime),
             s.transport or "-", _clock(log, s.opened), _clock(log, s.closed), s.reason or "-",
             f"{s.rb}/{s.sb}", f"{s.peer_rb}/{s.peer_sb}"] for s in sessions[:MAX_ROWS]],
            total=_total(len(sessions) + log.sessions_dropped), unit="sessions"))
        users, busiest = _usage(log)
        out.append(Table(title=f"{log.source}: relay usage per user", columns=[
            "User", "Sessions", "Client bytes (rb+sb)", "Peer bytes (rb+sb)", "Session-minutes"], rows=[
            [u.user, str(u.sessions), str(u.client_bytes), str(u.peer_bytes), f"{u.session_minutes:.1f}"]
            for u in users]))
        if busiest:
            out.append(Table(title=f"{log.source}: busiest hours (sessions opened)",
                             columns=["Hour", "Sessions"], rows=[[h, str(n)] for h, n in busiest]))
        refused = [[user, str(c.count), c.first or "-"] for user, c in log.auth_401.items()]
        if refused:
            out.append(Table(title=f"{log.source}: 401 to authenticated requests per user", columns=[
                "User", "Refused", "First"], rows=refused[:MAX_ROWS], total=_total(len(refused)),
                unit="users"))
    return out
