"""What each evidence form says about *one call*, as typed facts the others can be compared with: addresses
and ports, ICE ufrags, relayed addresses, TURN users, TLS handshakes and times (rtcdiag.triage.correlate
puts them together).

Pure: built from what the readers made (a dump's peer connection summaries, a capture's flows, a coturn
log's sessions), never from report text. Addresses are kept only when they are IP literals (an mDNS name or
a host name cannot be compared with a capture's addresses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from rtcdiag.addresses import parse_ip
from rtcdiag.evidence.capture import CaptureSummary, Flow
from rtcdiag.evidence.coturn_log import CoturnLog
from rtcdiag.evidence.pc_facts import PcSummary
from rtcdiag.evidence.tls import TlsOutcome
from rtcdiag.evidence.webrtc_internals import InternalsDump
from rtcdiag.targets import TargetError, parse_uri

MAX_FACTS = 100_000  # per kind and file, beyond the readers' own bounds (flows, sessions, events)


@dataclass(frozen=True, order=True)
class Endpoint:
    """An IP address (normalised: ``::1``, not ``0:0::1``) and a port."""

    ip: str
    port: int

    def __str__(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


def endpoint(ip: str, port: int | None) -> Endpoint | None:
    parsed = parse_ip(ip.strip("[]"))
    if parsed is None or port is None or not 0 < port < 65536:
        return None
    return Endpoint(str(parsed), port)


def parse_endpoint(text: str) -> Endpoint | None:
    """``ip:port`` or ``[ipv6]:port`` (as captures and coturn logs write them)."""
    host, colon, port = text.strip().rpartition(":")
    if not colon or not port.isdigit() or len(port) > 5:
        return None
    return endpoint(host, int(port))


@dataclass(frozen=True)
class Window:
    """When something happened: seconds since the epoch (UTC)."""

    start: float
    end: float

    def gap(self, other: Window) -> float:
        """Seconds between the two windows (0 when they overlap)."""
        return max(0.0, self.start - other.end, other.start - self.end)

    def contains(self, t: float, slack: float) -> bool:
        return self.start - slack <= t <= self.end + slack


def _window(times: list[float]) -> Window | None:
    known = [t for t in times if math.isfinite(t) and t > 0]
    return Window(min(known), max(known)) if known else None


@dataclass(frozen=True)
class IceServer:
    """An ICE server URL as a browser reads it (``turn:`` without ``?transport=`` is UDP, ``turns:`` TLS)."""

    url: str
    scheme: str
    host: str
    port: int | None
    transport: str  # udp / tcp / tls

    @property
    def is_turn(self) -> bool:
        return self.scheme in ("turn", "turns")

    @property
    def endpoint(self) -> Endpoint | None:
        return endpoint(self.host, self.port)

    def reached_at(self, where: Endpoint) -> bool:
        """Is ``where`` (a capture's or log's address) this server? By address when the URL holds one; by
        port alone when it holds a name (nothing here resolves names)."""
        mine = self.endpoint
        if mine is not None:
            return mine == where
        return self.port == where.port


def ice_server(url: str) -> IceServer | None:
    try:
        target = parse_uri(url, source="webrtc-internals dump")
    except TargetError:
        return None
    transport = "tls" if target.scheme in ("stuns", "turns") else (target.transport or "udp")
    return IceServer(url=url[:500], scheme=target.scheme, host=target.host, port=target.port,
                     transport="tcp" if transport == "tcp" and target.scheme == "turn" else transport)


# ---- a webrtc-internals / rtcstats dump ----------------------------------------------------------------

@dataclass(frozen=True)
class DumpError:
    """An icecandidateerror: the server it was about, its code and time."""

    server: IceServer
    code: int | None
    text: str
    time: float | None  # seconds since the epoch
    connection: str  # the peer connection's label


@dataclass(frozen=True)
class DumpCall:
    source: str
    ufrags: frozenset[str]  # ICE ufrags of both ends of every peer connection (its SDPs, its candidates)
    candidates: frozenset[Endpoint]  # every candidate address, local and remote (relay ones included)
    relays: frozenset[Endpoint]  # this side's relay candidates: addresses a TURN server allocated
    servers: tuple[IceServer, ...]  # the ICE servers configured, each once
    errors: tuple[DumpError, ...]
    window: Window | None  # first event .. the later of the last event and the dump's own time
    connected: bool  # some peer connection reached "connected" (or ICE connected, old dumps)
    # each peer connection (its label, the subject of its findings) and the ICE ufrags of both its ends
    connections: tuple[tuple[str, frozenset[str]], ...] = ()

    @property
    def label(self) -> str:
        return self.source


def dump_call(dump: InternalsDump, summaries: list[PcSummary]) -> DumpCall:
    """The call facts of ``dump`` from the summaries of its peer connections."""
    ufrags: set[str] = set()
    candidates: set[Endpoint] = set()
    relays: set[Endpoint] = set()
    servers: dict[str, IceServer] = {}
    errors: list[DumpError] = []
    times: list[float] = []
    connected = False
    connections: list[tuple[str, frozenset[str]]] = []
    for s in summaries:
        mine: set[str] = set()
        for sdp in (s.local_sdp, s.remote_sdp):
            if sdp is not None:
                mine |= {u for u in (sdp.ice_ufrag, *(m.ice_ufrag for m in sdp.media)) if u}
        for fact in s.candidates[:MAX_FACTS]:
            where = endpoint(fact.candidate.address, fact.candidate.port)
            if fact.candidate.ufrag:
                mine.add(fact.candidate.ufrag)
            if where is None:
                continue
            candidates.add(where)
            if fact.side == "local" and fact.candidate.type == "relay":
                relays.add(where)
        ufrags |= mine
        if len(connections) < MAX_FACTS:
            connections.append((s.label, frozenset(mine)))
        for url in s.pc.ice_servers[:100]:
            server = ice_server(url)
            if server is not None:
                servers.setdefault(url, server)
        for error in s.errors[:MAX_FACTS]:
            server = ice_server(error.url)
            if server is None:
                continue
            stamp = error.event.timestamp_ms
            errors.append(DumpError(server=server, code=error.code, text=error.text,
                                    time=stamp / 1000 if stamp is not None else None, connection=s.label))
        times += [e.timestamp_ms / 1000 for e in s.pc.events if e.timestamp_ms is not None]
        connected = connected or s.reached("connection", "connected") is not None or s.connected
    if dump.timestamp_ms is not None and times:
        times.append(dump.timestamp_ms / 1000)
    return DumpCall(source=dump.source, ufrags=frozenset(list(ufrags)[:MAX_FACTS]),
                    candidates=frozenset(list(candidates)[:MAX_FACTS]), relays=frozenset(relays),
                    servers=tuple(servers.values()), errors=tuple(errors[:MAX_FACTS]), window=_window(times),
                    connected=connected, connections=tuple(connections))


# ---- a packet capture ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TurnFlow:
    """A TURN client <-> server flow: who, the allocations it got, and the credentials refused on it."""

    flow: int
    label: str
    client: Endpoint
    server: Endpoint
    transport: str  # udp / tcp
    users: tuple[str, ...]  # USERNAME of its allocations (and of the refused requests)
    relays: tuple[Endpoint, ...]  # relayed addresses allocated
    relayed_both_ways: bool  # some allocation carried data to the peer and back
    refused: int  # authenticated requests answered 401 (RFC 8489 §9.2.4: not the first challenge)
    refused_packets: tuple[int, ...]
    refused_time: float


@dataclass(frozen=True)
class TlsHandshake:
    """A TLS connection (``turns:``) as the capture shows it, without decryption."""

    flow: int
    label: str
    client: Endpoint
    server: Endpoint
    client_hello: int  # packet numbers; 0 when not seen
    server_hello: int
    alert: str  # a readable alert the client sent ("certificate_unknown"), "" when none was read
    alert_packet: int
    time: float
    established: bool = False  # both sides went on past the handshake


@dataclass(frozen=True)
class SilentFlow:
    """A flow whose first sender got nothing back at all (a server that never answered)."""

    flow: int
    label: str
    client: Endpoint
    server: Endpoint
    transport: str
    packets: int
    first_packet: int
    time: float


@dataclass(frozen=True)
class CaptureCall:
    source: str
    ufrags: frozenset[str]  # from the USERNAME of the ICE checks (RFC 8445 §7.2.2)
    endpoints: frozenset[Endpoint]  # both ends of every flow
    relays: frozenset[Endpoint]  # relayed addresses of the allocations
    turn: tuple[TurnFlow, ...]
    tls: tuple[TlsHandshake, ...]
    silent: tuple[SilentFlow, ...]
    window: Window | None  # first .. last packet
    refused: tuple[SilentFlow, ...] = ()  # TCP connections refused: SYN answered by RST (packets: the SYNs)

    @property
    def label(self) -> str:
        return self.source

    @property
    def servers(self) -> frozenset[Endpoint]:
        """The TURN servers its clients talked to (over UDP, TCP or TLS)."""
        return frozenset([t.server for t in self.turn] + [t.server for t in self.tls])


def _turn_sides(flow: Flow) -> tuple[str, str]:
    """(client, server) of a TURN flow: the client is the side that sent Allocate."""
    return (flow.b, flow.a) if flow.allocate_forward is False else (flow.a, flow.b)


def _refused_user(flow: Flow) -> str:
    detail = flow.auth_401.detail  # "Allocate 401 Unauthorized user alice" (rtcdiag.evidence.capture)
    return detail.split(" user ", 1)[1] if " user " in detail else ""


def _tls_handshakes(summary: CaptureSummary) -> list[TlsHandshake]:
    """The TLS connections of the capture as its TLS reader saw them (rtcdiag.evidence.tls: handshake
    messages and alerts in clear, without decryption): ClientHello and ServerHello packets, the client's
    first readable fatal alert, whether the handshake completed."""
    out: list[TlsHandshake] = []
    for connection in summary.tls[:MAX_FACTS]:
        client, server = parse_endpoint(connection.client), parse_endpoint(connection.server)
        hello = connection.client_side.sent("ClientHello")
        if client is None or server is None or not hello:
            continue
        alert = connection.first_alert(True)
        readable = alert is not None and not alert.encrypted
        out.append(TlsHandshake(
            flow=connection.flow, label=f"tcp {connection.client} <-> {connection.server}", client=client,
            server=server, client_hello=hello, server_hello=connection.server_side.sent("ServerHello"),
            alert=alert.name if readable and alert is not None else "",
            alert_packet=alert.number if readable and alert is not None else 0,
            time=connection.client_side.first_time, established=connection.outcome is TlsOutcome.ESTABLISHED))
    return out


def capture_call(summary: CaptureSummary) -> CaptureCall:
    ufrags: set[str] = set()
    endpoints: set[Endpoint] = set()
    relays: set[Endpoint] = set()
    turn: list[TurnFlow] = []
    silent: list[SilentFlow] = []
    refused: list[SilentFlow] = []
    for flow in summary.flows:
        ufrags |= {u for u in flow.agents if u}
        for side in (flow.a, flow.b):
            where = parse_endpoint(side)
            if where is not None and len(endpoints) < MAX_FACTS:
                endpoints.add(where)
        if flow.transport == "tcp" and flow.refused and not any(flow.octets) and len(refused) < MAX_FACTS:
            a, b = parse_endpoint(flow.a), parse_endpoint(flow.b)
            if a is not None and b is not None:
                refused.append(SilentFlow(flow=flow.index, label=flow.label, client=a, server=b,
                                          transport="tcp", packets=flow.packets[0],
                                          first_packet=flow.syn_number, time=flow.first_time))
        if flow.transport in ("udp", "tcp") and flow.packets[0] and not flow.packets[1] and len(silent) < \
                MAX_FACTS:
            a, b = parse_endpoint(flow.a), parse_endpoint(flow.b)
            if a is not None and b is not None:
                silent.append(SilentFlow(flow=flow.index, label=flow.label, client=a, server=b,
                                         transport=flow.transport, packets=flow.packets[0],
                                         first_packet=flow.first_number, time=flow.first_time))
        if flow.allocate_forward is None or flow.transport not in ("udp", "tcp") or len(turn) >= MAX_FACTS:
            continue  # (a relayed-* flow is what a TURN client and its peers send inside the relay)
        client, server = (parse_endpoint(side) for side in _turn_sides(flow))
        if client is None or server is None:
            continue
        allocated = [parse_endpoint(a.relayed) for a in flow.allocations]
        relays |= {a for a in allocated if a is not None}
        users = dict.fromkeys([a.username for a in flow.allocations if a.username] + [_refused_user(flow)])
        turn.append(TurnFlow(
            flow=flow.index, label=flow.label, client=client, server=server, transport=flow.transport,
            users=tuple(u for u in users if u), relays=tuple(a for a in allocated if a is not None),
            relayed_both_ways=any(a.sent.count and a.received.count for a in flow.allocations),
            refused=flow.auth_401.count, refused_packets=tuple(flow.auth_401.numbers[:8]),
            refused_time=flow.auth_401.first_time))
    times = [summary.first_time, summary.last_time] if summary.packets else []
    return CaptureCall(source=summary.source, ufrags=frozenset(list(ufrags)[:MAX_FACTS]),
                       endpoints=frozenset(endpoints), relays=frozenset(relays), turn=tuple(turn),
                       tls=tuple(_tls_handshakes(summary)), silent=tuple(silent), window=_window(times),
                       refused=tuple(refused))


# ---- a coturn log ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogSession:
    id: str
    user: str
    client: Endpoint | None
    relay: Endpoint | None
    opened: float | None  # seconds since the epoch (None: the log has no absolute times)
    closed: float | None
    requests_seen: bool  # coturn received TURN bytes on it (rb > 0) or it allocated
    reason: str
    line: int


@dataclass(frozen=True)
class LogRefusal:
    """A user whose authenticated requests coturn answered 401."""

    user: str
    count: int
    lines: tuple[int, ...]
    first: str  # as the log writes it
    time: float | None  # seconds since the epoch (new-log-timestamp)
    reason: str  # "no such user" / "wrong password" (coturn's check_stun_auth line), "" when not logged


@dataclass(frozen=True)
class LogCall:
    source: str
    sessions: tuple[LogSession, ...]
    refusals: tuple[LogRefusal, ...]
    window: Window | None  # first .. last line, when the log has absolute times (new-log-timestamp)
    listeners: frozenset[Endpoint] = frozenset()  # where the server listened (its start lines)

    @property
    def label(self) -> str:
        return self.source

    @property
    def clients(self) -> frozenset[Endpoint]:
        return frozenset(s.client for s in self.sessions if s.client is not None)

    @property
    def relays(self) -> frozenset[Endpoint]:
        return frozenset(s.relay for s in self.sessions if s.relay is not None)


def log_time(text: str) -> float | None:
    """A ``new-log-timestamp`` time (``2026-12-07T01:39:38+0000``) as seconds since the epoch."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            return None


def log_call(log: CoturnLog) -> LogCall:
    absolute = log.absolute_times
    sessions = tuple(LogSession(
        id=s.id, user=s.user, client=parse_endpoint(s.client) if s.client else None,
        relay=parse_endpoint(s.relay) if s.relay else None, opened=s.opened if absolute else None,
        closed=s.closed if absolute else None, requests_seen=bool(s.rb or s.relay or s.lifetime),
        reason=s.reason, line=s.line) for s in list(log.sessions.values())[:MAX_FACTS])
    refusals = tuple(LogRefusal(
        user=user, count=c.count, lines=tuple(c.lines[:8]), first=c.first,
        time=log_time(c.first) if absolute and c.first else None,
        reason=log.refusal_reasons.get(user, "")) for user, c in list(log.auth_401.items())[:MAX_FACTS])
    window = None
    if absolute and log.first_time is not None and log.last_time is not None:
        window = Window(log.first_time, log.last_time)
    listeners = frozenset(e for e in map(parse_endpoint, log.listeners) if e is not None)
    return LogCall(source=log.source, sessions=sessions, refusals=refusals, window=window,
                   listeners=listeners)
