"""``rtcdiag analyze CAPTURE|COTURN-LOG``: packet captures and coturn logs read (the ``analyze`` check of
rtcdiag.checks.analyze judges them with the dumps of the same run), their report tables and JSON results,
and ``--ladder FLOW`` (one flow as a sequence diagram)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rtcdiag.evidence.capture import CaptureSummary, Flow, Kind
from rtcdiag.evidence.coturn_log import CoturnLog, Session
from rtcdiag.evidence.dtls import DtlsVersion
from rtcdiag.evidence.ice_session import IceAgent, IceSession
from rtcdiag.evidence.sniff import EvidenceKind
from rtcdiag.evidence.tls import TlsConnection
from rtcdiag.report.model import Table
from rtcdiag.textsafe import printable

MAX_ROWS = 200
LADDER_WIDTH = 88


@dataclass
class WirePlan:
    captures: list[CaptureSummary] = field(default_factory=list)
    logs: list[CoturnLog] = field(default_factory=list)


def read_wire(files: list[tuple[Path, EvidenceKind]]) -> WirePlan:
    """Every file read (captures streamed), by its kind (``CAPTURE`` or ``COTURN_LOG``, see
    rtcdiag.evidence.sniff.wire_kind); EvidenceError (exit 2) for one that cannot be read."""
    from rtcdiag.evidence.capture import CaptureError, read_capture
    from rtcdiag.evidence.coturn_log import read_coturn_log
    from rtcdiag.evidence.sniff import EvidenceError

    plan = WirePlan()
    for path, kind in files:
        name = printable(str(path))[:200]
        try:
            if kind is EvidenceKind.CAPTURE:
                plan.captures.append(read_capture(path, name))
            else:
                plan.logs.append(read_coturn_log(path, name))
        except CaptureError as exc:
            raise EvidenceError(f"{name}: {printable(str(exc))}") from None
        except OSError as exc:
            raise EvidenceError(f"{name}: cannot read: {printable(exc.strerror or str(exc))}") from None
    return plan


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
        calls = [c for c in s.sessions if any(a.checks_sent.count or a.dtls.records for a in c.agents)]
        if calls:
            out.append(Table(title=f"{s.source}: calls (ICE sessions, every path)", columns=[
                "Call (A <-> B)", "ICE ufrags", "Flows", "Checks answered A / B", "DTLS", "Handshake",
                "DTLS records after it A / B", "RTP A / B"], rows=[_call_row(c) for c in calls[:MAX_ROWS]],
                total=_total(len(calls)), unit="calls"))
        if s.tls:
            out.append(Table(title=f"{s.source}: TLS connections", columns=[
                "Flow", "Client", "Server", "Version", "Outcome", "Alerts", "Server sent"], rows=[
                [str(t.flow), t.client, t.server, t.version.value, t.outcome.value,
                 "; ".join(_alert(a.from_client, a.text) for a in t.alerts[:3]) or "-",
                 ", ".join(m for m, _ in t.server_side.handshake[:6]) or "-"] for t in s.tls[:MAX_ROWS]],
                total=_total(len(s.tls)), unit="TLS connections"))
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


def _call_row(c: IceSession) -> list[str]:
    a, b = (c.agents + [IceAgent(ufrag="?")] * 2)[:2]
    client = c.dtls_client
    hello = "-"
    if client is not None:
        other = c.other(client)
        hello = (f"{client.address} -> {other.address if other else '?'}"
                 + ("" if c.server_hello is not None else " (no ServerHello)"))
    return [f"{a.address} <-> {b.address}", c.key, ", ".join(str(f.index) for f in c.flows[:12]),
            f"{a.checks_answered.count} / {b.checks_answered.count}",
            c.version.value if any(x.dtls.records for x in c.agents) else "-", hello,
            f"{a.dtls.application.count} / {b.dtls.application.count}", f"{a.rtp} / {b.rtp}"]


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
    ice_ufrags: tuple[str, str]  # the ICE agent at a, at b ("" unknown)
    dtls_version: str  # DtlsVersion value
    dtls_application: tuple[int, int]  # DTLS records after the handshake (1.3: application epoch), a>b, b>a
    dtls_encrypted_handshake: tuple[int, int]  # DTLS 1.3 handshake-epoch records / DTLS 1.2 Finished


@dataclass(frozen=True)
class AgentResult:
    """One end of a call (:class:`rtcdiag.evidence.ice_session.IceAgent`)."""

    ufrag: str
    address: str  # its candidate address (a relay's for a relayed candidate)
    turn_clients: tuple[str, ...]
    checks_sent: int
    checks_answered: int
    checks_unanswered: int
    late_unanswered: int  # after its last answered check (RFC 7675 consent)
    last_answered: float | None  # capture time (epoch seconds)
    client_hello: int  # DTLS records
    client_hello_flow: int | None  # the flow its ClientHellos were read on (one call may use several)
    server_hello: int
    server_hello_flow: int | None
    hello_retry: int
    encrypted_handshake: int
    application: int
    application_bytes: int
    alerts: str  # the first readable alert ("" none)
    rtp: int
    rtcp: int


@dataclass(frozen=True)
class SessionResult:
    """One call: an ICE session with every path it took (:class:`rtcdiag.evidence.ice_session.IceSession`)."""

    key: str  # "ufrag1/ufrag2" or "flow N"
    label: str
    flows: tuple[int, ...]
    connected: bool  # some check answered
    dtls_version: str
    dtls_client: str  # the ufrag (or address) that sent the ClientHello ("" none)
    dtls_established: bool
    media: bool
    agents: tuple[AgentResult, ...]


@dataclass(frozen=True)
class TlsResult:
    """One TLS connection on a TCP flow (:class:`rtcdiag.evidence.tls.TlsConnection`)."""

    flow: int
    client: str
    server: str
    version: str
    outcome: str  # TlsOutcome value
    alerts: tuple[str, ...]  # "client: fatal certificate_unknown (46)"
    client_handshake: tuple[str, ...]  # handshake messages in clear, in order
    server_handshake: tuple[str, ...]
    client_encrypted: tuple[int, ...]  # sizes of the first encrypted records
    server_encrypted: tuple[int, ...]
    closed_by: str  # "client" / "server" / "" (first FIN or RST)


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
    sessions: tuple[SessionResult, ...]  # the calls, at most MAX_ROWS
    tls: tuple[TlsResult, ...]


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
        retransmissions=f.retransmissions, first_packet=f.first_number, ice_ufrags=(f.agents[0], f.agents[1]),
        dtls_version=f.dtls_version.value if f.dtls_sent is not None else "",
        dtls_application=(f.dtls(True).application.count, f.dtls(False).application.count),
        dtls_encrypted_handshake=(f.dtls(True).handshake_encrypted.count,
                                  f.dtls(False).handshake_encrypted.count))
        for f in _interesting(s)[:MAX_ROWS])
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
                         flows=flows, allocations=allocations, transactions=methods,
                         sessions=tuple(_session_result(c) for c in s.sessions[:MAX_ROWS]),
                         tls=tuple(_tls_result(t) for t in s.tls[:MAX_ROWS]))


def _flow_index(agent: IceAgent, what: str) -> int | None:
    flow = agent.dtls_flows.get(what)
    return flow.index if flow is not None else None


def _agent_result(a: IceAgent) -> AgentResult:
    d = a.dtls
    return AgentResult(
        ufrag=a.ufrag, address=a.address, turn_clients=tuple(a.turn_clients), checks_sent=a.checks_sent.count,
        checks_answered=a.checks_answered.count, checks_unanswered=a.checks_unanswered.count,
        late_unanswered=a.late_unanswered.count, last_answered=a.last_answered or None,
        client_hello=d.client_hello.count, server_hello=d.server_hello.count, hello_retry=d.hello_retry.count,
        client_hello_flow=_flow_index(a, "client_hello"), server_hello_flow=_flow_index(a, "server_hello"),
        encrypted_handshake=d.handshake_encrypted.count, application=d.application.count,
        application_bytes=d.application_bytes, alerts=d.alerts.detail, rtp=a.rtp, rtcp=a.rtcp)


def _alert(from_client: bool, text: str) -> str:
    return f"{'client' if from_client else 'server'}: {text}"


def _session_result(c: IceSession) -> SessionResult:
    client = c.dtls_client
    version = c.version if any(a.dtls.records for a in c.agents) else DtlsVersion.UNKNOWN
    return SessionResult(key=c.key, label=c.label, flows=tuple(f.index for f in c.flows),
                         connected=c.connected, dtls_version=version.value,
                         dtls_client=(client.ufrag or client.address) if client else "",
                         dtls_established=c.established, media=c.media,
                         agents=tuple(_agent_result(a) for a in c.agents))


def _tls_result(t: TlsConnection) -> TlsResult:
    c, s = t.client_side, t.server_side
    closed = ""
    if c.closed_number or s.closed_number:
        closed = "client" if c.closed_number and (not s.closed_number or c.closed_number <= s.closed_number) \
            else "server"
    return TlsResult(flow=t.flow, client=t.client, server=t.server, version=t.version.value,
                     outcome=t.outcome.value,
                     alerts=tuple(_alert(a.from_client, a.text) for a in t.alerts[:8]),
                     client_handshake=tuple(m for m, _ in c.handshake),
                     server_handshake=tuple(m for m, _ in s.handshake),
                     client_encrypted=tuple(c.encrypted_sizes), server_encrypted=tuple(s.encrypted_sizes),
                     closed_by=closed)


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
