"""Calls in a capture: each ICE session (RFC 8445), known by its two agents' ufrags, with every path it took
and what each agent sent over all of them.

One call's packets travel several flows: inside each TURN client's ChannelData/Send/Data (a ``relayed-*``
flow per client and peer), on coturn's relay-to-relay leg, over another IP family when the host is dual
stack (one agent sending over IPv6 while the other sends over IPv4), over a new pair after a path switch. A
5-tuple is therefore not a call. The connectivity checks name their call: USERNAME is "remote:local"
(RFC 8445 §7.2.2), so every flow that carries a check belongs to the session of those two ufrags, and each
end of the flow to one agent. A flow without any check (DTLS or media only) joins the session of an endpoint
seen sending checks; a flow that matches none is a session of its own ("flow N", its agents named by their
addresses).

The same record seen on three flows (a relayed flow, the leg, the other relayed flow) is one record: per
agent the path that saw the most is kept, never the sum. Pure; built once by
:func:`rtcdiag.evidence.capture.read_capture` (``CaptureSummary.sessions``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING

from rtcdiag.evidence.dtls import DtlsSent, DtlsVersion
from rtcdiag.evidence.kinds import Kind
from rtcdiag.evidence.observation import Observation

if TYPE_CHECKING:
    from rtcdiag.evidence.capture_flows import Flow

MAX_SESSIONS = 10_000
MAX_ENDPOINTS = 8  # per agent
# DTLS 1.3: application-epoch records each way before the session is said to carry data. Around the end of
# a handshake each side sends at most an ACK (RFC 9147 §7) and an alert in that epoch; a side whose peer
# refused its certificate sends one encrypted alert there, its peer its first data (RFC 8446 §4.4.4).
MIN_APPLICATION_RECORDS = 2
CHECK_PACING_S = 0.5  # answered checks closer than this: ICE was still connecting (Ta is 50 ms)
_DTLS_FIELDS = ("client_hello", "server_hello", "hello_retry", "change_cipher_spec", "handshake_encrypted",
                "application", "alerts", "encrypted_alerts")


def pair_key(ufrag_a: str, ufrag_b: str) -> str:
    """One call's ICE session, whichever end is named first: "ufrag1/ufrag2", sorted."""
    return "/".join(sorted((ufrag_a, ufrag_b)))


@dataclass
class IceAgent:
    """One end of a call: its connectivity checks (RFC 8445 §7.2), DTLS records and media over every path.

    ``ufrag`` is "" for an agent known only by its address (no check named it). Check counts are
    packets (retransmissions included) on the path that saw the most; ``late_unanswered``: its checks left
    unanswered after ``last_answered``, its last answered check on any path (RFC 7675 consent).
    """

    ufrag: str
    endpoints: list[str] = field(default_factory=list)  # its candidates' addresses that the capture shows
    turn_clients: list[str] = field(default_factory=list)  # its TURN client addresses (relayed flows)
    checks_sent: Observation = field(default_factory=Observation)
    checks_answered: Observation = field(default_factory=Observation)
    checks_unanswered: Observation = field(default_factory=Observation)
    late_unanswered: Observation = field(default_factory=Observation)
    last_answered: float = 0.0
    last_check: float = 0.0  # its last connectivity check sent, on any path
    dtls: DtlsSent = field(default_factory=DtlsSent)
    dtls_flows: dict[str, Flow] = field(default_factory=dict)  # DtlsSent field -> the flow it was read on
    checks_flow: Flow | None = None  # the path its late_unanswered (else checks_sent) were read on
    rtp: int = 0  # RTP packets it sent (path that saw most)
    rtcp: int = 0
    # Two of its first answered checks on one path less than CHECK_PACING_S apart: checks paced by Ta while
    # ICE connects (RFC 8445 §14.2: 50 ms), not consent checks seconds apart (RFC 7675 §5.1): the capture
    # holds the start of its connection, not only its middle. (Per path: one check seen on the relayed flow
    # and on the relay leg is one check.)
    began_in_capture: bool = False

    @property
    def address(self) -> str:
        """Its candidate address (for a relayed candidate: the relay's), else its TURN client address."""
        if self.endpoints:
            return self.endpoints[0]
        return self.turn_clients[0] if self.turn_clients else "?"

    @property
    def label(self) -> str:
        about = [f"ufrag {self.ufrag}"] if self.ufrag else []
        if self.turn_clients and self.endpoints:
            about.append(f"TURN client {self.turn_clients[0]}")
        return f"{self.address} ({', '.join(about)})" if about else self.address


@dataclass
class IceSession:
    """A call's ICE session: two agents, the flows it used (``flows``, in the capture's order)."""

    key: str  # "ufrag1/ufrag2", or "flow N" for a flow no check names
    agents: list[IceAgent] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)

    @property
    def label(self) -> str:
        if len(self.agents) == 2:
            return f"call {self.agents[0].label} <-> {self.agents[1].label}"
        return f"call {self.key}"

    def other(self, agent: IceAgent) -> IceAgent | None:
        return next((a for a in self.agents if a is not agent), None)

    @property
    def version(self) -> DtlsVersion:
        """What the ServerHello selected; DTLS 1.3 also when only unified-header records were seen."""
        for agent in self.agents:
            if agent.dtls.version is not DtlsVersion.UNKNOWN and agent.dtls.server_hello.count:
                return agent.dtls.version
        if any(a.dtls.unified for a in self.agents):
            return DtlsVersion.DTLS_1_3
        return next((a.dtls.version for a in self.agents if a.dtls.version is not DtlsVersion.UNKNOWN),
                    DtlsVersion.UNKNOWN)

    @property
    def dtls_client(self) -> IceAgent | None:
        """The agent whose ClientHello came first."""
        hellos = [a for a in self.agents if a.dtls.client_hello.count]
        return min(hellos, key=lambda a: a.dtls.client_hello.first_time, default=None)

    @property
    def server_hello(self) -> Observation | None:
        hellos = [a.dtls.server_hello for a in self.agents if a.dtls.server_hello.count]
        return min(hellos, key=lambda o: o.first_time, default=None)

    @property
    def established(self) -> bool:
        """DTLS carried data after the handshake: application_data records (DTLS 1.2), or application-epoch
        records from both agents, at least MIN_APPLICATION_RECORDS each (DTLS 1.3: see the module doc of
        rtcdiag.evidence.dtls for why one or two are not enough)."""
        if len(self.agents) < 2:
            return False
        if self.version is DtlsVersion.DTLS_1_3:
            return all(a.dtls.application.count >= MIN_APPLICATION_RECORDS for a in self.agents)
        return any(a.dtls.application.count for a in self.agents)

    @property
    def media(self) -> bool:
        return any(a.rtp or a.rtcp for a in self.agents)

    @property
    def connected(self) -> bool:
        """Some connectivity check of this call was answered, on some path."""
        return any(a.checks_answered.count for a in self.agents)

    @property
    def relayed(self) -> bool:
        return any(f.transport.startswith("relayed") for f in self.flows)


def _relevant(flow: Flow) -> bool:
    if flow.allocate_forward is not None or flow.tls:  # a TURN client <-> server flow; TLS
        return False
    return bool(flow.agents[0] or flow.agents[1] or flow.ice_sent[0].count
                or flow.ice_sent[1].count or flow.dtls_sent is not None
                or Kind.RTP in flow.kinds or Kind.RTCP in flow.kinds)


def build_sessions(flows: list[Flow]) -> list[IceSession]:
    """Group the flows of a capture into ICE sessions (see the module doc)."""
    members: list[tuple[Flow, str, tuple[str, str]]] = []  # flow, session key, agent of its ends a, b
    by_endpoint: dict[str, tuple[str, str]] = {}  # "ip:port" -> (session key, ufrag) of the agent there
    pending: list[Flow] = []
    for flow in flows:
        if not _relevant(flow):
            continue
        if flow.agents[0] or flow.agents[1]:
            key = pair_key(*flow.agents)
            members.append((flow, key, (flow.agents[0], flow.agents[1])))
            for end, ufrag in ((flow.a, flow.agents[0]), (flow.b, flow.agents[1])):
                by_endpoint.setdefault(end, (key, ufrag))
        else:
            pending.append(flow)
    for flow in pending:
        at_a, at_b = by_endpoint.get(flow.a), by_endpoint.get(flow.b)
        if at_a is not None and (at_b is None or at_b[0] == at_a[0]):
            key, ufrag = at_a
            members.append((flow, key, (ufrag, at_b[1] if at_b else _other(key, ufrag))))
        elif at_b is not None:
            key, ufrag = at_b
            members.append((flow, key, (_other(key, ufrag), ufrag)))
        else:  # no check names either end: a session of its own, its agents named by their addresses
            members.append((flow, f"flow {flow.index}", ("", "")))
    sessions: dict[str, IceSession] = {}
    for flow, key, names in members:
        session = sessions.get(key)
        if session is None:
            if len(sessions) >= MAX_SESSIONS:
                continue
            session = sessions[key] = IceSession(key=key)
        session.flows.append(flow)
        for side, ufrag in enumerate(names):
            agent = _agent(session, ufrag, flow.b if side else flow.a)
            if agent is not None:
                _add(agent, flow, side)
    return list(sessions.values())


def _other(key: str, ufrag: str) -> str:
    first, _, second = key.partition("/")
    return second if first == ufrag else first


def _agent(session: IceSession, ufrag: str, endpoint: str) -> IceAgent | None:
    for agent in session.agents:
        named = agent.ufrag == ufrag if ufrag else not agent.ufrag and endpoint in (*agent.endpoints,
                                                                                     *agent.turn_clients)
        if named:
            return agent
    if len(session.agents) >= 2:
        return None
    agent = IceAgent(ufrag=ufrag)
    session.agents.append(agent)
    return agent


def _more(theirs: Observation, mine: Observation) -> bool:
    return theirs.count > mine.count or (bool(theirs.count) and theirs.count == mine.count
                                         and theirs.first_time < mine.first_time)


def _add(agent: IceAgent, flow: Flow, side: int) -> None:
    """What ``flow``'s end ``side`` sent, into its agent (the path that saw most of each thing wins)."""
    end = flow.b if side else flow.a
    # a relayed flow's end a is the TURN client (its host address towards the server), not a candidate
    ends = agent.turn_clients if side == 0 and flow.transport.startswith("relayed") else agent.endpoints
    if end not in ends and len(ends) < MAX_ENDPOINTS:
        ends.append(end)
    sent = flow.ice_sent[side]
    if sent.count:
        agent.last_check = max(agent.last_check, sent.last_time)
    if _more(sent, agent.checks_sent):
        agent.checks_sent = sent
        if not agent.late_unanswered.count:
            agent.checks_flow = flow
    answered = flow.ice_answered[side]
    if _more(answered, agent.checks_answered):
        agent.checks_answered = answered
    if answered.count:
        agent.last_answered = max(agent.last_answered, answered.last_time)
        times = flow.ice_answer_times[side]
        agent.began_in_capture = agent.began_in_capture or any(
            b - a < CHECK_PACING_S for a, b in pairwise(times))
    unanswered = flow.ice_unanswered[side]
    if _more(unanswered, agent.checks_unanswered):
        agent.checks_unanswered = unanswered
    late = flow.ice_late[side]
    if _more(late, agent.late_unanswered):
        agent.late_unanswered = late
        agent.checks_flow = flow
    agent.rtp = max(agent.rtp, flow.kinds.get(Kind.RTP, (0, 0))[side])
    agent.rtcp = max(agent.rtcp, flow.kinds.get(Kind.RTCP, (0, 0))[side])
    if flow.dtls_sent is None:
        return
    sent_dtls = flow.dtls_sent[side]
    mine = agent.dtls
    for name in _DTLS_FIELDS:
        theirs = getattr(sent_dtls, name)
        if _more(theirs, getattr(mine, name)):
            setattr(mine, name, theirs)
            agent.dtls_flows[name] = flow
            if name == "application":
                mine.application_bytes = sent_dtls.application_bytes
                mine.application_sizes = sent_dtls.application_sizes
    mine.unified = max(mine.unified, sent_dtls.unified)
    mine.connection_id = max(mine.connection_id, sent_dtls.connection_id)
    if sent_dtls.version is not DtlsVersion.UNKNOWN and (mine.version is DtlsVersion.UNKNOWN
                                                         or sent_dtls.server_hello.count):
        mine.version, mine.cipher_suite = sent_dtls.version, sent_dtls.cipher_suite
    mine.application_epoch = mine.application_epoch or sent_dtls.application_epoch
