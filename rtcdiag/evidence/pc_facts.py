"""The facts of one peer connection, from a parsed dump (webrtc-internals, rtcstats, getStats, Firefox):
its state timeline, candidates (from events and stats, merged), candidate errors, the selected pair, the
descriptions applied on each side and the DTLS state. Typed facts only; the rules that judge them are in
``rtcdiag.triage.analyze`` (and correlate, browser). Pure: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rtcdiag.evidence.sdp import Candidate, SessionDescription, parse_candidate, parse_sdp
from rtcdiag.evidence.webrtc_internals import (
    Description,
    InternalsDump,
    PeerConnection,
    StatsObject,
    UpdateEvent,
    description_value,
    fields_value,
    state_value,
)

_STATE_EVENTS = {"onsignalingstatechange": "signaling", "onicegatheringstatechange": "gathering",
                 "oniceconnectionstatechange": "ice", "onconnectionstatechange": "connection"}


@dataclass(frozen=True)
class Transition:
    what: str  # signaling / gathering / ice / connection / dtls
    state: str
    event: UpdateEvent | None  # None for a state seen only in stats (dtls)


@dataclass(frozen=True)
class CandidateFact:
    side: str  # local / remote
    candidate: Candidate
    url: str = ""  # the ICE server URL that produced a local srflx/relay candidate (when the dump says)
    relay_protocol: str = ""  # udp / tcp / tls: how a local relay candidate reaches its TURN server
    event: UpdateEvent | None = None
    stats_id: str = ""


@dataclass(frozen=True)
class CandidateError:
    url: str
    code: int | None
    text: str
    address: str
    event: UpdateEvent


@dataclass(frozen=True)
class SelectedPair:
    stats_id: str
    local: str  # "relay udp 127.0.0.1:50000"
    remote: str
    rtt_ms: float | None
    local_type: str = ""
    relay_protocol: str = ""
    url: str = ""


@dataclass
class PcSummary:
    label: str  # "pc 8-1" (prefixed with the file when several files are analysed)
    pc: PeerConnection
    timeline: list[Transition] = field(default_factory=list)
    candidates: list[CandidateFact] = field(default_factory=list)
    errors: list[CandidateError] = field(default_factory=list)
    failures: list[UpdateEvent] = field(default_factory=list)  # ...OnFailure events
    add_candidate_failures: list[UpdateEvent] = field(default_factory=list)
    glare: UpdateEvent | None = None  # a remote offer applied while this side had its own offer out
    remote_set: UpdateEvent | None = None  # the first successful setRemoteDescription
    local_set: UpdateEvent | None = None
    remote_fingerprints: list[str] = field(default_factory=list)
    local_sdp: SessionDescription | None = None  # the last description applied on each side
    local_type: str = ""
    local_sdp_event: UpdateEvent | None = None
    remote_sdp: SessionDescription | None = None
    remote_type: str = ""
    remote_sdp_event: UpdateEvent | None = None
    remote_has_candidates: bool = False
    ice_restart: bool = False
    selected: SelectedPair | None = None
    dtls_state: str = ""
    dtls_stats_id: str = ""
    pair_stats: list[StatsObject] = field(default_factory=list)
    dumped_at_ms: float | None = None  # when the dump was made: how long the connection had to get going

    # The timeline by kind, for states() and reached() (the rules ask a few dozen times per connection);
    # made again when the timeline is another list or has grown (it is only ever appended to).
    _by_kind: dict[str, list[Transition]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _indexed: tuple[list[Transition], int] | None = field(default=None, init=False, repr=False, compare=False)

    def _kind(self, what: str) -> list[Transition]:
        timeline, indexed = self.timeline, self._indexed
        if indexed is None or indexed[0] is not timeline or indexed[1] != len(timeline):
            by_kind: dict[str, list[Transition]] = {}
            for t in timeline:
                by_kind.setdefault(t.what, []).append(t)
            self._by_kind, self._indexed = by_kind, (timeline, len(timeline))
        return self._by_kind.get(what, [])

    def states(self, what: str) -> list[Transition]:
        return list(self._kind(what))

    def reached(self, what: str, *states: str) -> Transition | None:
        for t in self._kind(what):
            if t.state in states:
                return t
        return None

    def last_state(self, what: str) -> str:
        seen = self._kind(what)
        return seen[-1].state if seen else "new"

    def of(self, side: str, kind: str | None = None) -> list[CandidateFact]:
        if kind is None:
            return [c for c in self.candidates if c.side == side]
        return [c for c in self.candidates if c.side == side and c.candidate.type == kind]

    @property
    def connected(self) -> bool:
        return self.reached("ice", "connected", "completed") is not None

    @property
    def gathered(self) -> bool:
        # Without a state log (getStats output, a Firefox report) a local description applied is where
        # gathering started (JSEP §5.5: setLocalDescription starts it).
        return self.reached("gathering", "gathering", "complete") is not None or bool(self.of("local")) or (
            self.pc.stats_only and self.local_set is not None)


def when(event: UpdateEvent | None) -> str:
    return event.when if event is not None else "-"


def applied(event: UpdateEvent | None) -> str:
    """How a description came to be, for a sentence: ``applied at 03:11:47.442``, or ``in the SDP file``
    (SDP files have no update log: no time to say)."""
    return f"applied at {event.when}" if event is not None and event.when not in ("", "-") \
        else "in the SDP file"




def _candidate_from_event(event: UpdateEvent, side: str) -> CandidateFact | None:
    values = fields_value(event.value)
    text = values.get("candidate", "")
    if not text and "candidate:" in event.value:
        text = event.value[event.value.index("candidate:"):]
    candidate = parse_candidate(text) if text else None
    if candidate is None:
        return None
    return CandidateFact(side=side, candidate=candidate, url=values.get("url", "")[:500], event=event)


def _merge_candidates(from_events: list[CandidateFact], from_stats: list[tuple[StatsObject, str]],
                      ufrag: bool) -> list[CandidateFact]:
    """Events first (they carry times); the candidate stats objects (each with its side) add what the events
    do not say (relay protocol, url) and the candidates the log does not have (e.g. peer-reflexive ones).
    A candidate object without an address or a port is none. ``ufrag``: read its usernameFragment too
    (getStats output, which has no descriptions to name the connection's ufrags; a dump's events carry
    them). Each stats field read costs a series decode: a candidate the events have is matched on its
    address, port, protocol and type, and only what it adds is read (issue 19)."""
    merged = list(from_events)
    for obj, side in from_stats:
        address = obj.text("address") or obj.text("ip")
        port = obj.number("port")
        if not address or port is None:
            continue
        key = (address, int(port), obj.text("protocol").lower(), obj.text("candidateType"))
        for i, known in enumerate(merged):
            seen = known.candidate
            if known.side == side and (seen.address, seen.port, seen.protocol, seen.type) == key:
                merged[i] = CandidateFact(side=known.side, candidate=seen, url=known.url or obj.text("url"),
                                          relay_protocol=known.relay_protocol or obj.text("relayProtocol"),
                                          event=known.event, stats_id=obj.id)
                break
        else:
            candidate = Candidate(foundation=obj.text("foundation"), component=1, protocol=key[2],
                                  priority=int(obj.number("priority") or 0), address=address, port=key[1],
                                  type=key[3], ufrag=obj.text("usernameFragment")[:256] if ufrag else "")
            merged.append(CandidateFact(side=side, candidate=candidate, url=obj.text("url"),
                                        relay_protocol=obj.text("relayProtocol"), stats_id=obj.id))
    return merged


def _candidate_error(event: UpdateEvent) -> CandidateError:
    values = fields_value(event.value)
    code_text = values.get("error_code", values.get("errorCode", "")).strip()
    code = int(code_text) if code_text.isdigit() and len(code_text) < 6 else None
    return CandidateError(url=values.get("url", "")[:500], code=code,
                          text=values.get("error_text", values.get("errorText", ""))[:300],
                          address=values.get("address", "")[:100], event=event)


def _selected_pair(pc: PeerConnection, summary: PcSummary) -> None:
    transports = pc.of_type("transport")
    summary.pair_stats = pc.of_type("candidate-pair")
    for transport in transports:
        state = transport.text("dtlsState")
        if state:
            summary.dtls_state, summary.dtls_stats_id = state, transport.id
            if state == "failed":
                break
    pair: StatsObject | None = None
    for transport in transports:
        chosen = transport.text("selectedCandidatePairId")
        if chosen and chosen in pc.stats:
            pair = pc.stats[chosen]
            break
    if pair is None:  # older dumps: the nominated, succeeded pair (legacy googActiveConnection too)
        pair = next((p for p in summary.pair_stats if p.last("nominated") is True
                     and p.text("state") == "succeeded"), None)
    if pair is None:
        return

    def describe(candidate_id: str) -> tuple[str, StatsObject | None]:
        obj = pc.stats.get(candidate_id)
        if obj is None:
            return candidate_id or "-", None
        address = obj.text("address") or obj.text("ip")
        text = f"{obj.text('candidateType')} {obj.text('protocol')} {address}:{obj.text('port')}"
        return text, obj

    local, local_obj = describe(pair.text("localCandidateId"))
    remote, _ = describe(pair.text("remoteCandidateId"))
    rtt = pair.number("currentRoundTripTime")
    summary.selected = SelectedPair(
        stats_id=pair.id, local=local, remote=remote, rtt_ms=None if rtt is None else rtt * 1000,
        local_type=local_obj.text("candidateType") if local_obj else "",
        relay_protocol=local_obj.text("relayProtocol") if local_obj else "",
        url=local_obj.text("url") if local_obj else "")


def summarize(pc: PeerConnection, label: str, dumped_at_ms: float | None = None) -> PcSummary:
    """The facts of one peer connection, from its update log and its stats."""
    s = PcSummary(label=label, pc=pc, dumped_at_ms=dumped_at_ms)
    signaling = "stable"
    local_events: list[CandidateFact] = []
    remote_events: list[CandidateFact] = []
    ufrags: set[str] = set()
    pending_remote: UpdateEvent | None = None
    pending_description: Description | None = None  # pending_remote's (read once: an SDP is long)
    for event in pc.events:
        kind = event.type
        if kind in _STATE_EVENTS:
            state = state_value(event.value)
            s.timeline.append(Transition(_STATE_EVENTS[kind], state, event))
            if kind == "onsignalingstatechange":
                signaling = state
        elif kind == "onicecandidate":
            found = _candidate_from_event(event, "local")
            if found is not None:
                local_events.append(found)
        elif kind == "addIceCandidate":
            found = _candidate_from_event(event, "remote")
            if found is not None:
                remote_events.append(found)
        elif kind in ("addIceCandidateFailed", "addIceCandidateOnFailure"):
            s.add_candidate_failures.append(event)
        elif kind == "onicecandidateerror":
            s.errors.append(_candidate_error(event))
        elif kind == "setRemoteDescription":
            description = description_value(event.value)
            if description is not None and description.type == "offer" and signaling == "have-local-offer":
                s.glare = s.glare or event
            pending_remote, pending_description = event, description
        elif kind == "setRemoteDescriptionOnSuccess" and pending_remote is not None:
            description = pending_description
            if s.remote_set is None:
                s.remote_set = pending_remote
            if description is not None and description.sdp:
                sdp = parse_sdp(description.sdp)
                s.remote_sdp, s.remote_type, s.remote_sdp_event = sdp, description.type, pending_remote
                s.remote_fingerprints = sdp.all_fingerprints() or s.remote_fingerprints
                s.remote_has_candidates = s.remote_has_candidates or bool(sdp.candidates())
                for candidate in sdp.candidates()[:100]:
                    remote_events.append(CandidateFact("remote", candidate, event=pending_remote))
        elif kind == "setLocalDescriptionOnSuccess":
            s.local_set = s.local_set or event
            description = description_value(event.value)
            if description is not None and description.sdp:
                sdp = parse_sdp(description.sdp)
                s.local_sdp, s.local_type, s.local_sdp_event = sdp, description.type, event
                frags = {m.ice_ufrag or sdp.ice_ufrag for m in sdp.media} - {""}
                if ufrags and frags and not frags & ufrags:
                    s.ice_restart = True
                ufrags |= frags
        elif kind.endswith("OnFailure") or kind.endswith("Failure"):
            s.failures.append(event)
        if kind == "createOffer" and "iceRestart" in event.value and "true" in event.value:
            s.ice_restart = True
    if pc.ice_restarts:  # the browser's own count (Firefox's iceRestarts)
        s.ice_restart = True
    s.candidates = _merge_candidates(
        local_events + remote_events,
        [(obj, "local") for obj in pc.of_type("local-candidate")]
        + [(obj, "remote") for obj in pc.of_type("remote-candidate")], pc.stats_only)
    _selected_pair(pc, s)
    if pc.stats_only:
        s.timeline = _stats_timeline(pc)
    elif s.dtls_state:
        s.timeline.append(Transition("dtls", s.dtls_state, _dtls_event(s)))
    return s


def _dtls_event(s: PcSummary) -> UpdateEvent | None:
    """When the DTLS transport reached its last state: the connection state's own event for "connected" and
    "failed" (RTCPeerConnectionState is connected only once DTLS is, W3C webrtc-pc §4.3.3), else the first
    stats sample of the transport that shows it ("stats <id>.dtlsState"), else None (no time known)."""
    if s.dtls_state in ("connected", "failed"):
        seen = s.reached("connection", s.dtls_state)
        if seen is not None and seen.event is not None and seen.event.timestamp_ms is not None:
            return seen.event
    transport = s.pc.stats.get(s.dtls_stats_id)
    if transport is None or "dtlsState" not in transport.series or "timestamp" not in transport.series:
        return None
    states, stamps = transport.series["dtlsState"].values(), transport.series["timestamp"].values()
    for state, raw in zip(states, stamps, strict=False):
        stamp = stats_stamp(raw)
        if str(state) == s.dtls_state and stamp is not None:
            return UpdateEvent(f"stats {transport.id}.dtlsState", s.dtls_state, stamp)
    return None


def _connection_state(ice: str, dtls: str) -> str:
    """RTCPeerConnectionState from one transport's ICE and DTLS states (W3C webrtc-pc §4.3.3)."""
    if "failed" in (ice, dtls):
        return "failed"
    if ice == "disconnected":
        return "disconnected"
    if ice in ("connected", "completed") and dtls in ("connected", "closed"):
        return "connected"
    return "new" if ice == "new" and dtls in ("new", "") else "connecting"


def _stats_timeline(pc: PeerConnection) -> list[Transition]:
    """getStats output has no update log: the transport's iceState/dtlsState in each snapshot give the
    ICE, DTLS and connection states, each change quoted as "stats <transport id>" at the snapshot's time."""
    timeline: list[Transition] = []
    for transport in pc.of_type("transport")[:4]:
        stamps = transport.series["timestamp"].values() if "timestamp" in transport.series else []
        ice = transport.series["iceState"].values() if "iceState" in transport.series else []
        dtls = transport.series["dtlsState"].values() if "dtlsState" in transport.series else []
        count = max(len(ice), len(dtls))
        last: dict[str, str] = {}
        for i in range(min(count, 10_000)):
            stamp = stats_stamp(stamps[i]) if i < len(stamps) else None
            states = {"ice": str(ice[i]) if i < len(ice) else "",
                      "dtls": str(dtls[i]) if i < len(dtls) else ""}
            states["connection"] = _connection_state(states["ice"], states["dtls"])
            for what in ("ice", "dtls", "connection"):
                state = states[what][:40]
                if state and last.get(what) != state:
                    field_name = {"ice": "iceState", "dtls": "dtlsState", "connection": "iceState+dtlsState"}
                    event = UpdateEvent(f"stats {transport.id}.{field_name[what]}", state, stamp)
                    timeline.append(Transition(what, state, event))
                    last[what] = state
    return timeline


def stats_stamp(raw: object) -> float | None:
    """A stats timestamp (ms since the epoch) as a finite float, or None (a hostile dump's huge integer)."""
    small = isinstance(raw, float) or (isinstance(raw, int) and abs(raw) < 10**15)
    stamp = float(raw) if small and isinstance(raw, int | float) and not isinstance(raw, bool) else None
    return stamp if stamp is not None and math.isfinite(stamp) else None


def labels(dumps: list[InternalsDump]) -> list[list[str]]:
    """The report label of every peer connection (prefixed with the file when several files are read)."""
    several = len(dumps) > 1
    return [[f"{d.source}: pc {pc.key}" if several else f"pc {pc.key}" for pc in d.peer_connections]
            for d in dumps]


def summarize_all(dumps: list[InternalsDump]) -> list[PcSummary]:
    return [summarize(pc, label, d.timestamp_ms) for d, names in zip(dumps, labels(dumps), strict=True)
            for pc, label in zip(d.peer_connections, names, strict=True)]


def has_evidence(s: PcSummary) -> bool:
    """Does this connection hold anything a verdict can rest on: a candidate, an error, a description, a
    selected pair, or a state past its initial one?"""
    return bool(s.candidates or s.errors or s.failures or s.add_candidate_failures or s.local_set
                or s.remote_set or s.pc.sdp_only or s.selected is not None
                or any(t.state not in ("new", "stable", "closed") for t in s.timeline))

