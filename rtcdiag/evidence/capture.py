"""Packet captures (pcap, pcapng) read into flows: UDP and TCP (reassembled, framed as RFC 8489 §6.2.2 with
RFC 8656 §12.5 ChannelData padding), demultiplexed per RFC 7983 / RFC 9443 into STUN, ChannelData, DTLS,
RTP/RTCP; per flow a ladder of STUN transactions (request, retransmissions, response, RTT), per TURN
allocation its lifecycle, per flow the ICE checks (and the ICE agents' ufrags), DTLS records
(:mod:`rtcdiag.evidence.dtls`, 1.2 and 1.3) and media counts; TLS on TCP flows
(:mod:`rtcdiag.evidence.tls`). Then the calls: the flows grouped into ICE sessions
(:mod:`rtcdiag.evidence.ice_session`), what the correlation of several evidence files and the call rules use.

Typed facts on :class:`CaptureSummary`: ``flows`` (:class:`Flow`), ``sessions`` (``IceSession``: per call
its agents' checks sent/answered/unanswered, last answer and late checks, DTLS version, hellos, encrypted
handshake and application records, RTP/RTCP), ``tls`` (``TlsConnection``: per TCP flow speaking TLS its
versions, handshake messages, alerts, closes and ``TlsOutcome``).

Streaming: one pass, flat memory. Every list is bounded (flows, ladder events, open transactions,
allocations); what goes past a bound is counted, not kept. Strings from the wire are escaped here.
Pure facts: the verdicts are in :mod:`rtcdiag.triage.capture`.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path

from rtcdiag.evidence.dtls import DtlsSent, DtlsVersion, read_datagram
from rtcdiag.evidence.ice_session import IceSession, build_sessions, pair_key
from rtcdiag.evidence.kinds import Kind
from rtcdiag.evidence.observation import MAX_EXAMPLES, Observation
from rtcdiag.evidence.pcap import CaptureError, PacketReader
from rtcdiag.evidence.sniff import open_maybe_gzip
from rtcdiag.evidence.tls import TlsConnection, looks_like_tls
from rtcdiag.protocol.constants import AttrType, MessageClass, Method, method_name
from rtcdiag.protocol.errors import StunParseError
from rtcdiag.protocol.framing import FramingError, StreamDeframer
from rtcdiag.protocol.message import Message
from rtcdiag.textsafe import printable

MAX_FLOWS = 20_000
MAX_EVENTS_TOTAL = 200_000  # ladder lines kept over all flows
MAX_EVENTS_PER_FLOW = 2_000
MAX_FIRST_ANSWERS = 4  # per flow end: the times of its first answered ICE checks
MAX_OPEN_TXNS = 4_096  # per flow: older unanswered requests are closed as unanswered
MAX_OPEN_TOTAL = 50_000  # over all flows: beyond, a new request is counted but not followed
MAX_ALLOCATIONS_TOTAL = 20_000
MAX_ALLOCATIONS = 64  # per flow
MAX_PEERS = 64  # per allocation
END_GRACE_S = 2.0  # a request this close to the end of the capture may have been answered after it

ETH_IPV4, ETH_IPV6, ETH_VLAN, ETH_QINQ = 0x0800, 0x86DD, 0x8100, 0x88A8


@dataclass(slots=True)
class Event:
    """One line of a flow's ladder."""

    number: int
    time: float
    forward: bool  # from the flow's first sender (a) to b
    text: str


@dataclass(slots=True)
class Txn:
    """A STUN transaction (RFC 8489 §6.2): the request, its retransmissions, the response."""

    method: str
    forward: bool
    numbers: list[int]  # request packets (first + retransmissions, bounded)
    first_time: float
    sends: int = 1
    authenticated: bool = False  # MESSAGE-INTEGRITY(-SHA256) present (RFC 8489 §9.2)
    ice: bool = False  # a connectivity check: Binding with PRIORITY (RFC 8445 §7.1.1)
    username: str = ""
    peer: str = ""  # XOR-PEER-ADDRESS of CreatePermission/ChannelBind
    channel: int = 0  # CHANNEL-NUMBER of ChannelBind
    response_number: int = 0
    response_time: float = 0.0
    response_class: str = ""  # success / error
    code: int = 0
    reason: str = ""

    @property
    def rtt_ms(self) -> float | None:
        return (self.response_time - self.first_time) * 1000 if self.response_number else None


_NOTHING = Observation()  # what ``Flow.seen`` gives for something never seen; never added to
_NO_DTLS = DtlsSent()  # what ``Flow.dtls`` gives for a flow without DTLS; never added to


@dataclass(slots=True)
class Allocation:
    """A TURN allocation (RFC 8656 §7) as seen on its client <-> server flow."""

    number: int  # the Allocate success
    time: float
    relayed: str
    lifetime: int
    expires: float
    username: str = ""
    refreshes: list[tuple[int, float, int]] = field(default_factory=list)  # (packet, time, lifetime)
    permissions: list[str] = field(default_factory=list)
    channels: dict[int, str] = field(default_factory=dict)
    deleted: int = 0  # the packet of the Refresh with LIFETIME 0 that succeeded
    sent: Observation = field(default_factory=Observation)  # Send indications + ChannelData to the server
    received: Observation = field(default_factory=Observation)  # Data indications + ChannelData back
    sent_bytes: int = 0
    received_bytes: int = 0


@dataclass(slots=True)
class Flow:
    index: int
    transport: str  # udp / tcp
    a: str  # "ip:port" of the first sender
    b: str
    a_port: int
    b_port: int
    first_number: int
    first_time: float
    last_time: float = 0.0
    packets: list[int] = field(default_factory=lambda: [0, 0])  # forward, back
    octets: list[int] = field(default_factory=lambda: [0, 0])
    # per direction (forward, back): time and number of the last packet, and how many packets in a row that
    # side has sent since the other side's last one (a side that went silent while the other kept sending)
    last_seen: list[float] = field(default_factory=lambda: [0.0, 0.0])
    last_number: list[int] = field(default_factory=lambda: [0, 0])
    unreplied: list[int] = field(default_factory=lambda: [0, 0])
    kinds: dict[Kind, list[int]] = field(default_factory=dict)  # kind -> [forward, back] messages
    events: list[Event] = field(default_factory=list)
    events_dropped: int = 0
    open: dict[bytes, Txn] = field(default_factory=dict)
    done: int = 0
    methods: dict[str, list[float]] = field(default_factory=dict)  # "Allocate" -> [count, rtt sum, min, max]
    retransmissions: int = 0
    # TURN (client = the side that sent Allocate)
    allocations: list[Allocation] = field(default_factory=list)
    allocate_forward: bool | None = None  # the side that sent TURN requests (Allocate, Refresh...): a
    # What was seen, made on first use (most flows see few of them: a flow stays small), see OBSERVED
    observed: dict[str, Observation] = field(default_factory=dict)
    # ICE: the ufrag of the agent at each end (a, b), from the USERNAME "remote:local" of the first
    # connectivity check with one (RFC 8445 §7.2.2); later ufrag pairs seen on it (an ICE restart reusing the
    # 5-tuple) in ice_keys, bounded
    agents: list[str] = field(default_factory=lambda: ["", ""])
    ice_keys: list[str] = field(default_factory=list)
    # DTLS records each end sent (a -> b, b -> a), made on the first DTLS datagram
    dtls_sent: tuple[DtlsSent, DtlsSent] | None = None
    # ICE: when each end's first answered checks were answered (at most MAX_FIRST_ANSWERS per end): checks
    # paced by Ta (RFC 8445 §14.2) show the session's start, consent checks (RFC 7675) come seconds apart
    ice_answer_times: list[list[float]] = field(default_factory=lambda: [[], []])
    # TCP
    tls: bool = False
    tls_connection: TlsConnection | None = None
    stream_problem: str = ""
    # the connection's opening (RFC 9293 §3.5): a's first SYN, whether b answered SYN+ACK, b's first RST
    syn_number: int = 0
    syn_acked: bool = False
    reset_number: int = 0  # b's RST (0: none)
    reset_time: float = 0.0

    @property
    def refused(self) -> bool:
        """A TCP connection b refused: a's SYN answered by RST, never SYN+ACK (nothing listens there)."""
        return bool(self.syn_number and self.reset_number and not self.syn_acked)

    def seen(self, name: str) -> Observation:
        """The observation ``name`` (read only: an empty one when nothing was seen)."""
        return self.observed.get(name, _NOTHING)

    def note(self, name: str) -> Observation:
        """The observation ``name``, made on first use, to add to."""
        obs = self.observed.get(name)
        if obs is None:
            obs = self.observed[name] = Observation()
        return obs

    @property
    def malformed(self) -> Observation:
        return self.seen("malformed")

    @property
    def auth_401(self) -> Observation:
        return self.seen("auth_401")

    @property
    def stale_438(self) -> Observation:
        return self.seen("stale_438")

    @property
    def forbidden_403(self) -> Observation:
        return self.seen("forbidden_403")

    @property
    def quota_486(self) -> Observation:
        return self.seen("quota_486")

    @property
    def capacity_508(self) -> Observation:
        return self.seen("capacity_508")

    @property
    def mismatch_437(self) -> Observation:
        return self.seen("mismatch_437")

    @property
    def other_errors(self) -> Observation:
        return self.seen("other_errors")

    @property
    def unanswered_turn(self) -> Observation:
        return self.seen("unanswered_turn")

    @property
    def ice_sent(self) -> tuple[Observation, Observation]:  # forward (a -> b), back
        return self.seen("ice_sent0"), self.seen("ice_sent1")

    @property
    def ice_answered(self) -> tuple[Observation, Observation]:  # forward (a -> b), back
        return self.seen("ice_answered0"), self.seen("ice_answered1")

    @property
    def ice_unanswered(self) -> tuple[Observation, Observation]:  # forward (a -> b), back
        return self.seen("ice_unanswered0"), self.seen("ice_unanswered1")

    @property
    def ice_late(self) -> tuple[Observation, Observation]:  # unanswered after the last answer: a -> b, back
        return self.seen("ice_late0"), self.seen("ice_late1")

    def dtls(self, forward: bool) -> DtlsSent:
        """The DTLS records sent a -> b (``forward``) or b -> a (empty when none)."""
        return self.dtls_sent[0 if forward else 1] if self.dtls_sent is not None else _NO_DTLS

    @property
    def client_hello(self) -> tuple[Observation, Observation]:  # forward (a -> b), back
        return self.dtls(True).client_hello, self.dtls(False).client_hello

    @property
    def server_hello(self) -> tuple[Observation, Observation]:  # forward (a -> b), back
        return self.dtls(True).server_hello, self.dtls(False).server_hello

    @property
    def dtls_version(self) -> DtlsVersion:
        """What the ServerHello selected (DTLS 1.3 also when a unified-header record was seen)."""
        for sent in (self.dtls(True), self.dtls(False)):
            if sent.version is not DtlsVersion.UNKNOWN:
                return sent.version
        return DtlsVersion.UNKNOWN

    @property
    def label(self) -> str:
        return f"{self.transport} {self.a} <-> {self.b}"

    def count(self, kind: Kind, forward: bool) -> int:
        return self.kinds.get(kind, [0, 0])[0 if forward else 1]


@dataclass
class CaptureSummary:
    source: str
    format: str
    packets: int = 0
    first_time: float = 0.0
    last_time: float = 0.0
    flows: list[Flow] = field(default_factory=list)
    # Per call: the ICE sessions (ufrag pairs) with every path they took and what each agent sent over them
    # (checks, DTLS, media): see rtcdiag.evidence.ice_session
    sessions: list[IceSession] = field(default_factory=list)
    # Per TCP flow that speaks TLS (turns:): its handshake and how it ended, see rtcdiag.evidence.tls
    tls: list[TlsConnection] = field(default_factory=list)
    flows_dropped: int = 0
    not_ip: int = 0
    fragments: int = 0
    untracked: int = 0  # requests not followed: more than MAX_OPEN_TOTAL unanswered at once
    truncated: bool = False
    damage: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return max(0.0, self.last_time - self.first_time)


class _Stream:
    """One direction of a TCP connection: in-order bytes into a STUN/ChannelData deframer."""

    __slots__ = ("dead", "deframer", "next_seq", "started")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.deframer = StreamDeframer(allow_channel_data=True)
        self.dead = ""
        self.started = False


class _Analyzer:
    def __init__(self, source: str, fmt: str) -> None:
        self.summary = CaptureSummary(source=source, format=fmt)
        self.flows: dict[tuple[object, ...], Flow] = {}
        self.routes: dict[tuple[object, ...], tuple[Flow, bool]] = {}  # 5-tuple either way -> flow, forward
        self.streams: dict[tuple[int, bool], _Stream] = {}
        self.events_left = MAX_EVENTS_TOTAL
        self.open_total = 0
        self.allocations_left = MAX_ALLOCATIONS_TOTAL
        self.call_answers: dict[tuple[str, str], float] = {}  # (ICE session, sender ufrag) -> last answer

    # ---- link and network layers --------------------------------------------------------------------
    def packet(self, number: int, time: float, linktype: int, data: bytes) -> None:
        s = self.summary
        if not s.packets:
            s.first_time = time
        s.packets = number
        s.last_time = time
        if linktype == 1:  # Ethernet
            if len(data) < 14:
                s.not_ip += 1
                return
            ethertype = data[12] << 8 | data[13]
            off = 14
            while ethertype in (ETH_VLAN, ETH_QINQ) and len(data) >= off + 4:
                ethertype = data[off + 2] << 8 | data[off + 3]
                off += 4
        elif linktype == 113:  # Linux cooked capture v1 (tcpdump -i any)
            if len(data) < 16:
                s.not_ip += 1
                return
            ethertype, off = data[14] << 8 | data[15], 16
        elif linktype == 276:  # Linux cooked v2
            if len(data) < 20:
                s.not_ip += 1
                return
            ethertype, off = data[0] << 8 | data[1], 20
        elif linktype in (101, 12, 14, 228, 229):  # raw IP
            if not data:
                s.not_ip += 1
                return
            ethertype, off = (ETH_IPV4 if data[0] >> 4 == 4 else ETH_IPV6), 0
        elif linktype in (0, 108):  # BSD loopback: address family in host (0) or network (108) order
            if len(data) < 4:
                s.not_ip += 1
                return
            family = struct.unpack_from("<I" if linktype == 0 and data[0] else ">I", data, 0)[0]
            ethertype, off = (ETH_IPV4 if family == 2 else ETH_IPV6), 4
        else:
            s.not_ip += 1
            return
        if ethertype == ETH_IPV4:
            if len(data) < off + 20:
                s.not_ip += 1
                return
            ihl = (data[off] & 0x0F) * 4
            total = data[off + 2] << 8 | data[off + 3]
            if (data[off + 6] & 0x3F) or data[off + 7]:  # MF set or a fragment offset: not reassembled
                s.fragments += 1
                if (data[off + 6] & 0x1F) or data[off + 7]:
                    return
            proto = data[off + 9]
            src, dst = data[off + 12:off + 16], data[off + 16:off + 20]
            end = min(len(data), off + total) if total >= ihl else len(data)
            off += ihl
        elif ethertype == ETH_IPV6:
            if len(data) < off + 40:
                s.not_ip += 1
                return
            proto = data[off + 6]
            src, dst = data[off + 8:off + 24], data[off + 24:off + 40]
            end = min(len(data), off + 40 + (data[off + 4] << 8 | data[off + 5]))
            off += 40
            hops = 0
            while proto in (0, 43, 60, 44) and hops < 8 and off + 8 <= end:  # extension headers (RFC 8200)
                if proto == 44:
                    if (data[off + 2] << 8 | data[off + 3]) & 0xFFF8:  # not the first fragment
                        s.fragments += 1
                        return
                    proto, off = data[off], off + 8
                else:
                    proto, off = data[off], off + 8 + data[off + 1] * 8
                hops += 1
        else:
            s.not_ip += 1
            return
        if proto == 17:
            if off + 8 > end:
                return
            sport = data[off] << 8 | data[off + 1]
            dport = data[off + 2] << 8 | data[off + 3]
            self.udp(number, time, src, sport, dst, dport, data[off + 8:end])
        elif proto == 6:
            if off + 20 > end:
                return
            sport = data[off] << 8 | data[off + 1]
            dport = data[off + 2] << 8 | data[off + 3]
            seq = struct.unpack_from("!I", data, off + 4)[0]
            doff = (data[off + 12] >> 4) * 4
            flags = data[off + 13]
            self.tcp(number, time, src, sport, dst, dport, seq, flags, data[off + doff:end])

    def _flow(self, transport: str, number: int, time: float, src: bytes, sport: int, dst: bytes,
              dport: int) -> tuple[Flow | None, bool]:
        key = (transport, src, sport, dst, dport)
        route = self.routes.get(key)
        if route is not None:
            route[0].last_time = time
            return route
        if len(self.flows) >= MAX_FLOWS:
            self.summary.flows_dropped += 1
            return None, True
        flow = Flow(index=len(self.flows) + 1, transport=transport, a=_endpoint(src, sport),
                    b=_endpoint(dst, dport), a_port=sport, b_port=dport, first_number=number, first_time=time,
                    last_time=time)
        self.flows[key] = flow
        self.routes[(transport, dst, dport, src, sport)] = (flow, False)  # both directions: one lookup
        route = self.routes[key] = (flow, True)  # (a packet to itself: forward)
        return route

    # ---- transport ----------------------------------------------------------------------------------
    def udp(self, number: int, time: float, src: bytes, sport: int, dst: bytes, dport: int,
            payload: bytes) -> None:
        flow, forward = self._flow("udp", number, time, src, sport, dst, dport)
        if flow is None:
            return
        side = 0 if forward else 1
        flow.packets[side] += 1
        flow.octets[side] += len(payload)
        flow.last_seen[side] = time
        flow.last_number[side] = number
        flow.unreplied[side] += 1
        flow.unreplied[1 - side] = 0
        self.message(flow, number, time, forward, payload)

    def tcp(self, number: int, time: float, src: bytes, sport: int, dst: bytes, dport: int, seq: int,
            flags: int, payload: bytes) -> None:
        flow, forward = self._flow("tcp", number, time, src, sport, dst, dport)
        if flow is None:
            return
        side = 0 if forward else 1
        flow.packets[side] += 1
        flow.octets[side] += len(payload)
        flow.last_seen[side] = time
        flow.last_number[side] = number
        flow.unreplied[side] += 1
        flow.unreplied[1 - side] = 0
        key = (flow.index, forward)
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = _Stream()
        if flags & 0x04 and not forward and not flow.reset_number:
            flow.reset_number, flow.reset_time = number, time
        if flags & 0x02:  # SYN: data starts at ISN + 1 (RFC 9293 §3.4)
            stream.next_seq = (seq + 1) & 0xFFFFFFFF
            if forward and not flags & 0x10:
                flow.syn_number = flow.syn_number or number
            elif not forward and flags & 0x10:
                flow.syn_acked = True
            return
        tls = flow.tls_connection
        if flags & 0x05 and tls is not None:  # FIN or RST: who ended a TLS connection, and when
            tls.close(forward == tls.client_forward, number, time, bool(flags & 0x04))
        if not payload or (stream.dead and stream.dead != "TLS"):
            return
        if stream.next_seq is None:
            stream.next_seq = seq  # the capture started mid-connection
        diff = ((seq - stream.next_seq + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        if diff > 0:
            # A gap: bytes the capture missed (or a reordered segment). STUN and ChannelData frames
            # usually start at segment boundaries, so resynchronize here rather than lose the flow.
            flow.stream_problem = flow.stream_problem or (
                f"{diff} byte(s) missing from the capture before packet {number} (resynchronized there)")
            stream.deframer = StreamDeframer(allow_channel_data=True)
            stream.next_seq = seq
            if tls is not None:  # TLS records cannot be resynchronized: stop reading that side
                tls.lose(forward == tls.client_forward, f"{diff} byte(s) missing before packet {number}")
        if diff < 0:  # a retransmission overlapping what was delivered
            payload = payload[-diff:]
            if not payload:
                return
        self._deliver(flow, stream, number, time, forward, payload)

    def _deliver(self, flow: Flow, stream: _Stream, number: int, time: float, forward: bool,
                 payload: bytes) -> None:
        stream.next_seq = ((stream.next_seq or 0) + len(payload)) & 0xFFFFFFFF
        if not stream.started:
            stream.started = True
            # a TLS connection (RFC 8446 §5.1) starts with a handshake record; the other direction of one is
            # TLS whatever its first byte (a server may answer a ClientHello with an alert)
            if flow.tls_connection is not None or looks_like_tls(payload):
                flow.tls = True
                stream.dead = "TLS"
                if flow.tls_connection is None:
                    client_forward = forward == (payload[5] == 1)  # the side that sent the ClientHello
                    client, server = (flow.a, flow.b) if client_forward else (flow.b, flow.a)
                    flow.tls_connection = TlsConnection(flow=flow.index, client=client, server=server,
                                                        client_forward=client_forward)
                    self.summary.tls.append(flow.tls_connection)
        if stream.dead == "TLS":
            self._tls(flow, number, time, forward, payload)
            return
        try:
            frames = stream.deframer.feed(payload)
        except FramingError as exc:
            stream.dead = printable(str(exc))[:200]
            flow.stream_problem = flow.stream_problem or f"packet {number}: {stream.dead}"
            return
        for frame in frames:
            self.message(flow, number, time, forward, frame)

    def _tls(self, flow: Flow, number: int, time: float, forward: bool, payload: bytes) -> None:
        tls = flow.tls_connection
        if tls is None:
            return
        before = tls.client_side.records + tls.server_side.records
        notes = tls.feed(forward == tls.client_forward, payload, number, time)
        records = tls.client_side.records + tls.server_side.records - before
        if records:
            counts = flow.kinds.get(Kind.TLS)
            if counts is None:
                counts = flow.kinds[Kind.TLS] = [0, 0]
            counts[0 if forward else 1] += records
        for text in notes or ():
            self._event(flow, number, time, forward, text)

    # ---- RFC 7983 demultiplexing --------------------------------------------------------------------
    def message(self, flow: Flow, number: int, time: float, forward: bool, payload: bytes) -> None:
        if not payload:
            return
        first = payload[0]
        if 64 <= first <= 79:  # the most frequent on a TURN server: relayed media (RFC 8656 §12)
            counts = flow.kinds.get(Kind.CHANNEL_DATA)
            if counts is None:
                counts = flow.kinds[Kind.CHANNEL_DATA] = [0, 0]
            counts[0 if forward else 1] += 1
            self.channel_data(flow, number, time, forward, payload)
        elif first <= 3:
            self._count(flow, Kind.STUN, forward)
            size = len(payload)
            if size < 20 or (payload[2] << 8 | payload[3]) + 20 != size:  # RFC 8489 §5, without an exception
                flow.note("malformed").add(number, time, f"not a whole STUN message ({size} bytes)")
                return
            self.stun(flow, number, time, forward, payload)
        elif 20 <= first <= 63:
            self._count(flow, Kind.DTLS, forward)
            self.dtls(flow, number, time, forward, payload)
        elif 128 <= first <= 191:
            kind = Kind.RTCP if len(payload) > 1 and 192 <= payload[1] <= 223 else Kind.RTP  # RFC 5761 §4
            self._count(flow, kind, forward)
        else:
            self._count(flow, Kind.OTHER, forward)

    def _count(self, flow: Flow, kind: Kind, forward: bool) -> None:
        counts = flow.kinds.get(kind)
        if counts is None:
            counts = flow.kinds[kind] = [0, 0]
        counts[0 if forward else 1] += 1

    def _event(self, flow: Flow, number: int, time: float, forward: bool, text: str) -> None:
        if self.events_left <= 0 or len(flow.events) >= MAX_EVENTS_PER_FLOW:
            flow.events_dropped += 1
            return
        self.events_left -= 1
        flow.events.append(Event(number, time, forward, text))

    # ---- STUN and TURN ------------------------------------------------------------------------------
    def stun(self, flow: Flow, number: int, time: float, forward: bool, data: bytes) -> None:
        try:
            msg = Message.decode(data)
        except StunParseError as exc:
            flow.note("malformed").add(number, time, printable(str(exc))[:120])
            return
        cls = msg.msg_class
        method = msg.method
        name = method_name(method)
        tid = msg.transaction_id
        if cls is MessageClass.REQUEST:
            txn = flow.open.get(tid)
            if txn is not None and txn.forward == forward:  # a retransmission (RFC 8489 §6.2.1)
                txn.sends += 1
                flow.retransmissions += 1
                if len(txn.numbers) < 8:
                    txn.numbers.append(number)
                self._event(flow, number, time, forward, f"{name} request (retransmission {txn.sends - 1})")
                return
            if len(flow.open) >= MAX_OPEN_TXNS or (self.open_total >= MAX_OPEN_TOTAL and flow.open):
                oldest = next(iter(flow.open))
                self.open_total -= 1
                self._close(flow, flow.open.pop(oldest))
            elif self.open_total >= MAX_OPEN_TOTAL:
                self.summary.untracked += 1
                return
            txn = Txn(method=name, forward=forward, numbers=[number], first_time=time,
                      authenticated=msg.has(AttrType.MESSAGE_INTEGRITY) or msg.has(
                          AttrType.MESSAGE_INTEGRITY_SHA256))
            raw_user = msg.get_raw(AttrType.USERNAME)
            if raw_user is not None:
                txn.username = printable(raw_user[:128].decode("utf-8", "replace"))
            if method == Method.BINDING and msg.has(AttrType.PRIORITY):
                txn.ice = True
                flow.note(f"ice_sent{0 if forward else 1}").add(number, time)
                _ice_agents(flow, forward, txn.username)
            if method in (Method.CREATE_PERMISSION, Method.CHANNEL_BIND):
                txn.peer = _peer(msg)
            if flow.allocate_forward is None and method in _TURN_REQUESTS:  # the TURN client's side
                flow.allocate_forward = forward  # (a capture started mid-allocation has no Allocate)
            flow.open[tid] = txn
            self.open_total += 1
            text = f"{name} request" + (" (authenticated)" if txn.authenticated else "")
            if txn.peer:
                text += f" peer {txn.peer}"
            if method == Method.REFRESH:
                text += f" LIFETIME {_lifetime(msg)}"
            if method == Method.CHANNEL_BIND:
                txn.channel = _channel(msg)
                text += f" channel 0x{txn.channel:04x}"
            self._event(flow, number, time, forward, text)
            return
        if cls is MessageClass.INDICATION:
            alloc = flow.allocations[-1] if flow.allocations else None
            if method == Method.SEND and alloc is not None:
                alloc.sent.add(number, time)
                alloc.sent_bytes += len(data)
            elif method == Method.DATA and alloc is not None:
                alloc.received.add(number, time)
                alloc.received_bytes += len(data)
            if alloc is None or (alloc.sent.count + alloc.received.count) <= 3:
                self._event(flow, number, time, forward, f"{name} indication")
            if method in (Method.SEND, Method.DATA) and flow.allocate_forward is not None:
                inner = msg.get_raw(AttrType.DATA)
                if inner:
                    self._relayed(flow, _peer(msg), number, time, forward == flow.allocate_forward, inner)
            return
        txn = flow.open.pop(tid, None)
        if txn is None or txn.forward == forward:
            if txn is not None:
                flow.open[tid] = txn
                txn = None
            text = f"{name} response to no request in the capture"
            if cls is MessageClass.ERROR:  # the request was missed (capture started late, dropped):
                orphan = Txn(method=name, forward=not forward, numbers=[], first_time=time)  # the code counts
                orphan.code, orphan.reason = _error(msg)
                if orphan.code != 401:  # a 401 alone cannot tell a challenge from a refusal
                    self._turn_error(flow, orphan, number, time)
                text = f"{name} error {orphan.code} {orphan.reason} (its request is not in the capture)"
            self._event(flow, number, time, forward, text)
            return
        self.open_total -= 1
        txn.response_number = number
        txn.response_time = time
        rtt = (time - txn.first_time) * 1000
        if cls is MessageClass.SUCCESS:
            txn.response_class = "success"
            text = f"{name} success"
            if method == Method.ALLOCATE:
                relayed = _address(msg, AttrType.XOR_RELAYED_ADDRESS)
                lifetime = _lifetime(msg)
                text += f" relayed {relayed} LIFETIME {lifetime}"
                if len(flow.allocations) < MAX_ALLOCATIONS and self.allocations_left > 0:
                    self.allocations_left -= 1
                    flow.allocations.append(Allocation(number=number, time=time, relayed=relayed,
                                                       lifetime=lifetime, expires=time + lifetime,
                                                       username=txn.username))
            elif method == Method.REFRESH and flow.allocations:
                alloc = flow.allocations[-1]
                lifetime = _lifetime(msg)
                text += f" LIFETIME {lifetime}"
                if lifetime == 0:
                    alloc.deleted = alloc.deleted or number
                else:
                    alloc.expires = time + lifetime
                if len(alloc.refreshes) < 100:
                    alloc.refreshes.append((number, time, lifetime))
            elif method in (Method.CREATE_PERMISSION, Method.CHANNEL_BIND) and flow.allocations:
                alloc = flow.allocations[-1]
                if txn.peer and txn.peer not in alloc.permissions and len(alloc.permissions) < MAX_PEERS:
                    alloc.permissions.append(txn.peer)
                if txn.channel and txn.peer and len(alloc.channels) < MAX_PEERS:
                    alloc.channels[txn.channel] = txn.peer
            elif method == Method.BINDING:
                mapped = _address(msg, AttrType.XOR_MAPPED_ADDRESS)
                if mapped != "-":
                    text += f" mapped {mapped}"
        else:
            txn.response_class = "error"
            txn.code, txn.reason = _error(msg)
            text = f"{name} error {txn.code} {txn.reason}".rstrip()
            self._turn_error(flow, txn, number, time)
        self._close(flow, txn)
        self._event(flow, number, time, forward, f"{text} (RTT {rtt:.1f} ms)")

    def _turn_error(self, flow: Flow, txn: Txn, number: int, time: float) -> None:
        detail = f"{txn.method} {txn.code} {txn.reason}".rstrip()
        if txn.username:
            detail += f" user {txn.username}"
        if txn.code == 401:
            if txn.authenticated:  # an authenticated request refused: not the first challenge
                flow.note("auth_401").add(number, time, detail)
        elif txn.code == 438:
            flow.note("stale_438").add(number, time, detail)
        elif txn.code == 403:
            flow.note("forbidden_403").add(number, time, f"{detail} peer {txn.peer}" if txn.peer else detail)
        elif txn.code == 486:
            flow.note("quota_486").add(number, time, detail)
        elif txn.code == 508:
            flow.note("capacity_508").add(number, time, detail)
        elif txn.code == 437:
            flow.note("mismatch_437").add(number, time, detail)
        elif not txn.ice:
            flow.note("other_errors").add(number, time, detail)

    def _close(self, flow: Flow, txn: Txn) -> None:
        """A transaction ends: answered, or (at the end / evicted) unanswered."""
        flow.done += 1
        side = 0 if txn.forward else 1
        if txn.response_number:
            stats = flow.methods.get(txn.method)
            rtt = txn.rtt_ms or 0.0
            if stats is None:
                flow.methods[txn.method] = [1, rtt, rtt, rtt]
            else:
                stats[0] += 1
                stats[1] += rtt
                stats[2] = min(stats[2], rtt)
                stats[3] = max(stats[3], rtt)
            if txn.ice:
                flow.note(f"ice_answered{side}").add(txn.response_number, txn.response_time)
                times = flow.ice_answer_times[side]
                if len(times) < MAX_FIRST_ANSWERS:
                    times.append(txn.response_time)
            return
        if self.summary.last_time - txn.first_time < END_GRACE_S:
            return  # sent just before the capture stopped: the answer may have come after it
        if txn.ice:  # every packet of the check counts: one check retransmitted 4 times is 4 unanswered
            last = flow.seen(f"ice_answered{side}").last_time
            remote, colon, local = txn.username.partition(":")
            if colon:  # answered on another path of the same call
                last = max(last, self.call_answers.get((pair_key(local, remote), local), 0.0))
            late = last and txn.first_time > last  # after the sender's last answered check
            for n in txn.numbers:
                flow.note(f"ice_unanswered{side}").add(n, txn.first_time)
                if late:
                    flow.note(f"ice_late{side}").add(n, txn.first_time)
        else:
            flow.note("unanswered_turn").add(txn.numbers[0], txn.first_time, f"{txn.method} x{txn.sends}")

    def channel_data(self, flow: Flow, number: int, time: float, forward: bool, data: bytes) -> None:
        alloc = flow.allocations[-1] if flow.allocations else None
        if alloc is None or flow.allocate_forward is None:
            return
        to_peer = forward == flow.allocate_forward
        obs = alloc.sent if to_peer else alloc.received
        if obs.count and len(obs.numbers) >= MAX_EXAMPLES:  # the common case, without a call
            obs.count += 1
            obs.last_time = time
        else:
            obs.add(number, time)
        if to_peer:
            alloc.sent_bytes += len(data)
        else:
            alloc.received_bytes += len(data)
        if len(data) < 4:
            return
        channel = data[0] << 8 | data[1]
        if alloc.sent.count + alloc.received.count <= 3:
            self._event(flow, number, time, forward, f"ChannelData 0x{channel:04x} ({len(data)} bytes)")
        peer = alloc.channels.get(channel)
        if peer is not None:
            self._relayed(flow, peer, number, time, to_peer, data[4:4 + (data[2] << 8 | data[3])])

    def _relayed(self, flow: Flow, peer: str, number: int, time: float, to_peer: bool,
                 payload: bytes) -> None:
        """What the client and a peer send each other through the relay (Send/Data indications, ChannelData:
        RFC 8656 §11-12) is a flow of its own: ICE checks, DTLS and media between them, demultiplexed the
        same way (RFC 7983). Its A is the TURN client, its B the peer."""
        if flow.transport.startswith("relayed"):
            return  # no relay inside a relay
        key = ("relayed", flow.index, peer)
        inner = self.flows.get(key)
        if inner is None:
            if len(self.flows) >= MAX_FLOWS:
                self.summary.flows_dropped += 1
                return
            client = flow.a if flow.allocate_forward else flow.b
            inner = Flow(index=len(self.flows) + 1, transport=f"relayed-{flow.transport}", a=client, b=peer,
                         a_port=0, b_port=0, first_number=number, first_time=time)
            self.flows[key] = inner
        inner.last_time = time
        side = 0 if to_peer else 1
        inner.packets[side] += 1
        inner.octets[side] += len(payload)
        self.message(inner, number, time, to_peer, payload)

    # ---- DTLS (RFC 6347 §4.1, RFC 9147 §4): rtcdiag.evidence.dtls reads the records ---------------------
    def dtls(self, flow: Flow, number: int, time: float, forward: bool, data: bytes) -> None:
        sent = flow.dtls_sent
        if sent is None:
            sent = flow.dtls_sent = (DtlsSent(), DtlsSent())
        notes = read_datagram(sent[0 if forward else 1], data, number, time)
        if notes is not None:
            for text in notes:
                self._event(flow, number, time, forward, text)

    def finish(self) -> CaptureSummary:
        # An agent's last answered check anywhere in its call (its checks travel several paths: a relayed
        # flow, coturn's relay-to-relay leg, another IP family): the unanswered checks after it are the late
        # ones (RFC 7675 consent), whichever path they took.
        for flow in self.flows.values():
            if flow.agents[0] or flow.agents[1]:
                key = pair_key(*flow.agents)
                for side in (0, 1):
                    answered = flow.seen(f"ice_answered{side}")
                    if answered.count and flow.agents[side]:
                        at = (key, flow.agents[side])
                        self.call_answers[at] = max(self.call_answers.get(at, 0.0), answered.last_time)
        for flow in self.flows.values():
            for txn in list(flow.open.values()):
                self._close(flow, txn)
            flow.open.clear()
        s = self.summary
        s.flows = list(self.flows.values())
        self.streams.clear()
        for connection in s.tls:
            connection.finish(s.last_time)
        s.sessions = build_sessions(s.flows)
        return s


# RFC 8656 §7-11: requests only a TURN client sends its server
_TURN_REQUESTS = frozenset((Method.ALLOCATE, Method.REFRESH, Method.CREATE_PERMISSION, Method.CHANNEL_BIND))


def _ice_agents(flow: Flow, forward: bool, username: str) -> None:
    """The ufrags of a connectivity check's USERNAME, "remote:local" (RFC 8445 §7.2.2): the sender's and the
    receiver's ICE agents, known from here on for both ends of the flow."""
    remote, colon, local = username.partition(":")
    if not colon or not remote or not local:
        return
    side = 0 if forward else 1
    if not flow.agents[0] and not flow.agents[1]:
        flow.agents[side], flow.agents[1 - side] = local, remote
        return
    key = pair_key(local, remote)
    if key != pair_key(*flow.agents) and key not in flow.ice_keys and len(flow.ice_keys) < 8:
        flow.ice_keys.append(key)


def _ip(raw: bytes) -> str:
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    return socket.inet_ntop(socket.AF_INET6, raw)


def _endpoint(raw: bytes, port: int) -> str:
    ip = _ip(raw)
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _address(msg: Message, attr: int) -> str:
    try:
        value = msg.get(attr)
    except StunParseError:
        return "(malformed)"
    if value is None:
        return "-"
    ip = getattr(value, "ip", None)
    port = getattr(value, "port", None)
    if ip is None or port is None:
        return "(malformed)"
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _error(msg: Message) -> tuple[int, str]:
    """ERROR-CODE as (code, escaped reason); (0, "") when absent or malformed."""
    try:
        error = msg.error
    except StunParseError:
        return 0, ""
    return (error.code, printable(error.reason)[:80]) if error else (0, "")


def _peer(msg: Message) -> str:
    return _address(msg, AttrType.XOR_PEER_ADDRESS)


def _lifetime(msg: Message) -> int:
    raw = msg.get_raw(AttrType.LIFETIME)
    return struct.unpack("!I", raw)[0] if raw is not None and len(raw) == 4 else -1


def _channel(msg: Message) -> int:
    raw = msg.get_raw(AttrType.CHANNEL_NUMBER)
    return struct.unpack_from("!H", raw)[0] if raw is not None and len(raw) >= 2 else 0


def read_capture(path: Path, source: str) -> CaptureSummary:
    """Read the capture at ``path`` in one streaming pass. Raises :class:`CaptureError` when it is not one."""
    with open_maybe_gzip(path) as handle:
        reader = PacketReader(handle)
        packets = iter(reader)  # raises CaptureError on a bad header
        analyzer = _Analyzer(source, reader.format or "")
        handle_packet = analyzer.packet
        for number, stamp, linktype, data, _ in packets:
            handle_packet(number, stamp, linktype, data)
        summary = analyzer.finish()
    summary.truncated = reader.truncated
    summary.damage = reader.damage
    if reader.truncated:
        summary.notes.append(f"the capture is cut short: analyzed up to packet {summary.packets}, the last "
                             "whole one (verdicts about what came later cannot be made)")
    if reader.damage:
        summary.notes.append(f"reading stopped: {printable(reader.damage)}")
    if summary.flows_dropped:
        summary.notes.append(f"more than {MAX_FLOWS} flows: {summary.flows_dropped} packets of further flows "
                             "not analyzed")
    if summary.untracked:
        summary.notes.append(f"{summary.untracked} STUN requests not followed (more than {MAX_OPEN_TOTAL} "
                             "unanswered at once)")
    if summary.fragments:
        summary.notes.append(f"{summary.fragments} IP fragments (not reassembled)")
    return summary


__all__ = ["Allocation", "CaptureError", "CaptureSummary", "DtlsSent", "DtlsVersion", "Event", "Flow",
           "IceSession", "Kind", "Observation", "TlsConnection", "Txn", "pair_key", "read_capture"]
