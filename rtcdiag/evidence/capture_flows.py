"""What a packet capture is read into (:func:`rtcdiag.evidence.capture.read_capture`): per flow its
ladder (:class:`Event`), STUN transactions (:class:`Txn`, RFC 8489 §6.2), TURN allocations
(:class:`Allocation`, RFC 8656 §7), counts and observations (:class:`Flow`); the whole capture
(:class:`CaptureSummary`); and the bounds that keep every list of them small."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, auto

from rtcdiag.evidence.dtls import DtlsSent, DtlsVersion
from rtcdiag.evidence.ice_session import IceSession
from rtcdiag.evidence.kinds import Kind
from rtcdiag.evidence.observation import Observation
from rtcdiag.evidence.tls import TlsConnection

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


class Seen(IntEnum):
    """What a flow can be seen doing, one :class:`Observation` each (``Flow.observed``; read through Flow's
    properties). ICE checks per direction: FORWARD is a -> b, BACK is b -> a."""

    MALFORMED = auto()  # not a whole STUN message, or one that does not parse
    AUTH_401 = auto()  # an authenticated request refused with 401 (not the first challenge)
    STALE_438 = auto()
    FORBIDDEN_403 = auto()
    QUOTA_486 = auto()
    CAPACITY_508 = auto()
    MISMATCH_437 = auto()
    OTHER_ERRORS = auto()  # other error responses, ICE checks' aside
    UNANSWERED_TURN = auto()  # TURN (and other non-ICE) requests never answered
    ICE_SENT_FORWARD = auto()
    ICE_SENT_BACK = auto()
    ICE_ANSWERED_FORWARD = auto()
    ICE_ANSWERED_BACK = auto()
    ICE_UNANSWERED_FORWARD = auto()
    ICE_UNANSWERED_BACK = auto()
    ICE_LATE_FORWARD = auto()  # unanswered after the sender's last answered check
    ICE_LATE_BACK = auto()


# The ICE observations of one direction, indexed by side (0: forward a -> b, 1: back)
ICE_SENT = (Seen.ICE_SENT_FORWARD, Seen.ICE_SENT_BACK)
ICE_ANSWERED = (Seen.ICE_ANSWERED_FORWARD, Seen.ICE_ANSWERED_BACK)
ICE_UNANSWERED = (Seen.ICE_UNANSWERED_FORWARD, Seen.ICE_UNANSWERED_BACK)
ICE_LATE = (Seen.ICE_LATE_FORWARD, Seen.ICE_LATE_BACK)

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
    # What was seen, made on first use (most flows see few of them: a flow stays small)
    observed: dict[Seen, Observation] = field(default_factory=dict)
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

    def seen(self, what: Seen) -> Observation:
        """The observation ``what`` (read only: an empty one when nothing was seen)."""
        return self.observed.get(what, _NOTHING)

    def note(self, what: Seen) -> Observation:
        """The observation ``what``, made on first use, to add to."""
        obs = self.observed.get(what)
        if obs is None:
            obs = self.observed[what] = Observation()
        return obs

    @property
    def malformed(self) -> Observation:
        return self.seen(Seen.MALFORMED)

    @property
    def auth_401(self) -> Observation:
        return self.seen(Seen.AUTH_401)

    @property
    def stale_438(self) -> Observation:
        return self.seen(Seen.STALE_438)

    @property
    def forbidden_403(self) -> Observation:
        return self.seen(Seen.FORBIDDEN_403)

    @property
    def quota_486(self) -> Observation:
        return self.seen(Seen.QUOTA_486)

    @property
    def capacity_508(self) -> Observation:
        return self.seen(Seen.CAPACITY_508)

    @property
    def mismatch_437(self) -> Observation:
        return self.seen(Seen.MISMATCH_437)

    @property
    def other_errors(self) -> Observation:
        return self.seen(Seen.OTHER_ERRORS)

    @property
    def unanswered_turn(self) -> Observation:
        return self.seen(Seen.UNANSWERED_TURN)

    @property
    def ice_sent(self) -> tuple[Observation, Observation]:  # forward (a -> b), back
        return self.seen(Seen.ICE_SENT_FORWARD), self.seen(Seen.ICE_SENT_BACK)

    @property
    def ice_answered(self) -> tuple[Observation, Observation]:  # forward (a -> b), back
        return self.seen(Seen.ICE_ANSWERED_FORWARD), self.seen(Seen.ICE_ANSWERED_BACK)

    @property
    def ice_unanswered(self) -> tuple[Observation, Observation]:  # forward (a -> b), back
        return self.seen(Seen.ICE_UNANSWERED_FORWARD), self.seen(Seen.ICE_UNANSWERED_BACK)

    @property
    def ice_late(self) -> tuple[Observation, Observation]:  # unanswered after the last answer: a -> b, back
        return self.seen(Seen.ICE_LATE_FORWARD), self.seen(Seen.ICE_LATE_BACK)

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
