"""Triage a call from the browser's own evidence: parsed webrtc-internals dumps -> facts -> findings.

Pure: no I/O. :func:`summarize` turns one peer connection's update log and stats into facts (timeline,
candidates, candidate errors, selected pair, DTLS state); :func:`judge` applies the rules to every peer
connection of every dump and to the getUserMedia requests.

Root causes are stated once and their consequences are not repeated: a TURN error explains a relay-only
connection without a relay candidate (same TURN host, folded by the diagnosis), a signalling failure
explains that ICE never ran (the ICE step is then skipped with that reason), DTLS failing explains the
connection state "failed".
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from rtcdiag.addresses import AddressScope, parse_ip, reachable_from, scope_of
from rtcdiag.evidence.sdp import Candidate, SessionDescription, parse_candidate, parse_sdp
from rtcdiag.evidence.webrtc_internals import (
    Description,
    GetUserMediaEntry,
    InternalsDump,
    PeerConnection,
    StatsObject,
    UpdateEvent,
    description_value,
    fields_value,
    state_value,
)
from rtcdiag.targets import IceServerUrl, Transport
from rtcdiag.triage.finding import Severity, Subject, make_finding
from rtcdiag.triage.judgement import Facts, Judgement, RttFact, StepOutcome, StepState

CHECK = "analyze"
PC_STEPS = ("signaling", "gathering", "ice", "dtls")
_STATE_EVENTS = {"onsignalingstatechange": "signaling", "onicegatheringstatechange": "gathering",
                 "oniceconnectionstatechange": "ice", "onconnectionstatechange": "connection"}
MAX_CANDIDATE_ROWS = 200  # per peer connection, in the table
MAX_TIMELINE_ROWS = 200


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

    def states(self, what: str) -> list[Transition]:
        return [t for t in self.timeline if t.what == what]

    def reached(self, what: str, *states: str) -> Transition | None:
        return next((t for t in self.timeline if t.what == what and t.state in states), None)

    def last_state(self, what: str) -> str:
        seen = self.states(what)
        return seen[-1].state if seen else "new"

    def of(self, side: str, kind: str | None = None) -> list[CandidateFact]:
        return [c for c in self.candidates if c.side == side and (kind is None or c.candidate.type == kind)]

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


# ---- facts -----------------------------------------------------------------------------------------------

def _candidate_from_event(event: UpdateEvent, side: str) -> CandidateFact | None:
    values = fields_value(event.value)
    text = values.get("candidate", "")
    if not text and "candidate:" in event.value:
        text = event.value[event.value.index("candidate:"):]
    candidate = parse_candidate(text) if text else None
    if candidate is None:
        return None
    return CandidateFact(side=side, candidate=candidate, url=values.get("url", "")[:500], event=event)


def _candidate_from_stats(obj: StatsObject, side: str, ufrag: bool) -> CandidateFact | None:
    """``ufrag``: read its usernameFragment too (getStats output, which has no descriptions to name the
    connection's ufrags; a dump's events carry them, and each stats field read costs a series decode)."""
    address = obj.text("address") or obj.text("ip")
    port = obj.number("port")
    if not address or port is None:
        return None
    candidate = Candidate(foundation=obj.text("foundation"), component=1,
                          protocol=obj.text("protocol").lower(), priority=int(obj.number("priority") or 0),
                          address=address, port=int(port), type=obj.text("candidateType"),
                          ufrag=obj.text("usernameFragment")[:256] if ufrag else "")
    return CandidateFact(side=side, candidate=candidate, url=obj.text("url"),
                         relay_protocol=obj.text("relayProtocol"), stats_id=obj.id)


def _same(a: Candidate, b: Candidate) -> bool:
    return (a.address, a.port, a.protocol, a.type) == (b.address, b.port, b.protocol, b.type)


def _merge_candidates(from_events: list[CandidateFact],
                      from_stats: list[CandidateFact]) -> list[CandidateFact]:
    """Events first (they carry times); stats add what the events do not say (relay protocol, url) and
    the candidates the log does not have (e.g. peer-reflexive ones)."""
    merged = list(from_events)
    for stat in from_stats:
        for i, known in enumerate(merged):
            if known.side == stat.side and _same(known.candidate, stat.candidate):
                merged[i] = CandidateFact(side=known.side, candidate=known.candidate,
                                          url=known.url or stat.url,
                                          relay_protocol=known.relay_protocol or stat.relay_protocol,
                                          event=known.event, stats_id=stat.stats_id)
                break
        else:
            merged.append(stat)
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
        [c for obj in pc.of_type("local-candidate")
         if (c := _candidate_from_stats(obj, "local", pc.stats_only))]
        + [c for obj in pc.of_type("remote-candidate")
           if (c := _candidate_from_stats(obj, "remote", pc.stats_only))])
    _selected_pair(pc, s)
    if pc.stats_only:
        s.timeline = _stats_timeline(pc)
    elif s.dtls_state:
        s.timeline.append(Transition("dtls", s.dtls_state, None))
    return s


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
            stamp = _stats_stamp(stamps[i]) if i < len(stamps) else None
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


# ---- rules -----------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
@functools.lru_cache(maxsize=4096)
def ice_url(text: str) -> IceServerUrl:
    """A server URL from the evidence as a browser reads it: compared by its key, never as text (a dump
    names ``turn:h:3478`` of the configuration ``turn:h:3478?transport=udp`` in candidates and errors).
    Remembered: a dump of many connections names the same few servers in every one of them."""
    return IceServerUrl.lenient(text)


def server_subject(url: IceServerUrl) -> Subject:
    """The subject of a finding or step about one ICE server (``rtcdiag browser`` uses it too, so that the
    two meet): shown as written, with the host, port and transport the browser uses."""
    return Subject(url.text or url.key, url.host, url.port, url.transport)


def configured(s: PcSummary) -> list[IceServerUrl]:
    """The connection's configured servers, one per browser-equivalent URL, in the configuration's order."""
    return list(_configured(tuple(s.pc.ice_servers)))


@functools.lru_cache(maxsize=1024)
def _configured(texts: tuple[str, ...]) -> tuple[IceServerUrl, ...]:
    out: dict[str, IceServerUrl] = {}
    for text in texts:
        url = ice_url(text)
        out.setdefault(url.key, url)
    return tuple(out.values())


def _pc_subject(summary: PcSummary) -> Subject:
    # The host is the peer connection itself: the diagnosis folds one connection's consequences under
    # that connection's own root cause, never under another connection's.
    return Subject(summary.label, summary.label)


def _pcs_text(labels: Iterable[str]) -> str:
    names = sorted(set(labels))
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


# A TURN server's failure that the evidence cannot name (no icecandidateerror can be in it).
UNRECORDED = "no relay candidate, and the evidence does not record why"
_TURN_IDS = {401: "ANALYZE-TURN-401", 403: "ANALYZE-TURN-403", 437: "ANALYZE-TURN-437",
             486: "ANALYZE-TURN-486", 508: "ANALYZE-TURN-508"}


def _gathered_from(summary: PcSummary, server: IceServerUrl, kind: str) -> bool | None:
    """Did ``server`` give this connection a ``kind`` (relay/srflx) candidate? Old dumps do not name the
    URL (and older Chromium named a STUN server by its address, not the name configured): a candidate of
    that kind whose URL names no configured server counts when ``server`` is the only server of its family,
    and when there are several nobody can tell which one gave it (None)."""
    mine = summary.of("local", kind)
    if any(c.url and ice_url(c.url).key == server.key for c in mine):
        return True
    keys = {u.key for u in configured(summary)}
    unnamed = [c for c in mine if not c.url or ice_url(c.url).key not in keys]
    if not unnamed:
        return False
    same_family = [u for u in configured(summary) if u.is_turn == server.is_turn]
    return True if len(same_family) <= 1 else None


def _server_findings(summaries: list[PcSummary], judgement: Judgement) -> dict[str, str]:
    """One finding per (server, error code) over every connection; a step per configured server. Servers
    are told apart by what they are to the browser (:class:`IceServerUrl` key), shown as configured.
    Returns what each server's failure was, by URL key (for the consequences' words)."""
    errors: dict[tuple[str, int | None], list[tuple[PcSummary, CandidateError]]] = {}
    for summary in summaries:
        for error in summary.errors:
            errors.setdefault((ice_url(error.url).key, error.code), []).append((summary, error))
    servers: dict[str, IceServerUrl] = {}
    users_of: dict[str, list[PcSummary]] = {}
    for summary in summaries:
        for known in configured(summary):
            servers.setdefault(known.key, known)
            users_of.setdefault(known.key, []).append(summary)
    for seen in errors.values():
        if seen[0][1].url:
            servers.setdefault(ice_url(seen[0][1].url).key, ice_url(seen[0][1].url))
    failed: dict[str, str] = {}
    for key, server in list(servers.items())[:100]:
        url = server.text
        kind = "relay" if server.is_turn else "srflx"
        users = users_of.get(key, [])
        verdicts = [(s, _gathered_from(s, server, kind)) for s in users]
        got = [s for s, v in verdicts if v]
        unknown = [s for s, v in verdicts if v is None]
        details: list[str] = []
        for (error_key, code), seen in errors.items():
            if error_key != key:
                continue
            if code == 701 and got:  # one interface could not reach it, another did: not a failure
                details.append(f"701 on some interfaces, {kind} candidate gathered anyway")
                continue
            first = min((e for _, e in seen), key=lambda e: e.event.timestamp_ms or 0.0)
            if code == 701 and server.is_turn and server.transport is Transport.TLS:
                # Chromium's 701 "Failed to establish connection" over TLS: nothing listening and a refused
                # certificate read the same (real dumps: turns-dead-port, turns-self-signed).
                fid = "ANALYZE-TURNS-CONNECT-FAILED"
            elif code == 701:
                fid = "ANALYZE-TURN-UNREACHABLE" if server.is_turn else "ANALYZE-STUN-UNREACHABLE"
            elif server.is_turn:
                fid = _TURN_IDS.get(code or 0, "ANALYZE-TURN-ERROR")
            else:
                fid = "ANALYZE-TURN-ERROR"
            evidence = [f"{s.label} {e.event.when} onicecandidateerror url={e.url} address={e.address} "
                        f"error_code={e.code} error_text={e.text!r}" for s, e in seen[:10]]
            judgement.findings.append(make_finding(
                fid, server_subject(server), check=CHECK, step="gather", evidence=evidence, url=url,
                code=str(code), text=first.text, count=len(seen), when=first.event.when,
                pcs=_pcs_text(s.label for s, _ in seen), host=server.host or url))
            failed[key] = f"{code} {first.text}".strip()
            details.append(f"error {code} {first.text}")
        gathering_done = [s for s in users if s.reached("gathering", "complete")]
        # Silence from a server matters to a connection that did not connect: a browser stops gathering once
        # a pair works (Chromium surfaces no later relay or srflx candidate, and no error: real dumps, e.g.
        # tests/fixtures/analyze/mixed-urls), so a connected one says nothing about the server.
        needing = [s for s in users if s.gathered and not s.connected]
        silent = users and not got and key not in failed
        unrecorded = [s for s in needing if not s.pc.candidate_errors_recorded]
        if unknown and not got:
            details.append(f"{kind} candidates without a URL in the dump: which server gave them is unknown")
        elif server.is_turn and silent and needing and len(unrecorded) == len(needing):
            # No icecandidateerror can be in this evidence (a Firefox report without its ICE log): a refusal
            # (401) and a dead server look the same here. Neither is claimed.
            judgement.findings.append(make_finding(
                "ANALYZE-TURN-NO-RELAY-UNEXPLAINED", server_subject(server), check=CHECK, step="gather",
                evidence=[f"{s.label}: {len(s.of('local'))} local candidate(s), no relay candidate; "
                          f"{s.pc.stats_source} records no icecandidateerror" for s in needing[:10]],
                url=url, pcs=_pcs_text(s.label for s in needing), source=needing[0].pc.stats_source))
            judgement.facts.inconclusive = True
            failed[key] = UNRECORDED
            details.append("no relay candidate; the evidence does not record why")
            judgement.steps.append(StepOutcome(server_subject(server), CHECK, "gather", StepState.UNDECIDED,
                                               detail="; ".join(details)[:300]))
            continue
        elif server.is_turn and silent and needing:
            state = ("gathering completed" if gathering_done else "gathering never completed")
            judgement.findings.append(make_finding(
                "ANALYZE-TURN-NO-RELAY", server_subject(server), check=CHECK, step="gather",
                evidence=[f"{s.label}: {len(s.of('local'))} local candidate(s), gathering "
                          f"{s.last_state('gathering')}" for s in needing[:10]],
                url=url, pcs=_pcs_text(s.label for s in needing), gathering=state))
            failed[key] = "no relay candidate, no error"
            details.append("no relay candidate and no error")
        elif silent and not needing and any(s.gathered for s in users):
            details.append(f"no {kind} candidate and no error, and every connection connected without one "
                           "(a browser stops gathering once a pair works): nothing to say about the server")
        elif not server.is_turn and users and not got and not unknown and key not in failed and \
                any(s.reached("gathering", "complete") for s in users) and \
                any(c.candidate.type == "host" and not c.candidate.is_mdns
                    for s in users for c in s.of("local")):
            judgement.findings.append(make_finding(
                "ANALYZE-STUN-NO-SRFLX", server_subject(server), check=CHECK, step="gather",
                evidence=[f"{s.label}: {len(s.of('local'))} local candidate(s), none srflx; gathering "
                          f"{s.last_state('gathering')}" for s in users[:10]],
                url=url, pcs=_pcs_text(s.label for s in users)))
            details.append("no srflx candidate and no error")
        if got:
            details.insert(0, f"{kind} candidate gathered in {len(got)}/{len(users)} connection(s)")
        judgement.steps.append(StepOutcome(server_subject(server), CHECK, "gather",
                                           detail="; ".join(details) or "no candidate error reported"))
    return failed


def _said(event: UpdateEvent) -> str:
    """One evidence line for a signalling event: a description is quoted by its type, not its SDP."""
    description = description_value(event.value) if event.type.endswith("Description") else None
    if description is not None:
        return f"{event.when} {event.type} (type: {description.type or '?'})"
    return f"{event.when} {event.type}: {event.value[:300]}"


def _sdp_rules(s: PcSummary, subject: Subject, judgement: Judgement) -> None:
    """Offer/answer contents: m-lines the answer rejected, RTX without its payload type, DTLS roles."""
    local, remote = s.local_sdp, s.remote_sdp
    if local is None or remote is None:
        return
    offer, answer = (local, remote) if s.remote_type == "answer" else (remote, local)
    answer_event = s.remote_sdp_event if s.remote_type == "answer" else s.local_sdp_event
    if s.remote_type in ("answer", "pranswer") or s.local_type in ("answer", "pranswer"):
        for offered, answered in zip(offer.media, answer.media, strict=False):
            if not offered.rejected and answered.rejected and offered.kind in ("audio", "video"):
                judgement.findings.append(make_finding(
                    "ANALYZE-MLINE-REJECTED", subject, check=CHECK, step="signaling",
                    evidence=[f"{when(answer_event)} answer: m={answered.kind} 0 {answered.protocol} "
                              f"(mid {answered.mid or '-'})",
                              f"offered payload types: {' '.join(offered.formats[:20])}",
                              *(f"offered a=rtpmap:{pt} {codec}"
                                for pt, codec in list(offered.rtpmap.items())[:8])],
                    pc=s.label, kind=offered.kind, mid=offered.mid or "-", when=when(answer_event)))
        _data_channel_rejected(s, subject, judgement, offer, answer, answer_event)
        setups = (local.setups(), remote.setups())
        if setups[0] and setups[0] == setups[1] and setups[0][0] in ("active", "passive"):
            judgement.findings.append(make_finding(
                "ANALYZE-DTLS-ROLE-CONFLICT", subject, check=CHECK, step="signaling",
                evidence=[f"local a=setup:{setups[0][0]}", f"remote a=setup:{setups[1][0]}"],
                pc=s.label, role=setups[0][0],
                how=f"the local and the remote description both say a=setup:{setups[0][0]}"))
        _answer_rules(s, subject, judgement, offer, answer, answer_event)
        if local.ice_lite and remote.ice_lite:
            judgement.findings.append(make_finding(
                "ANALYZE-ICE-LITE-BOTH", subject, check=CHECK, step="signaling",
                evidence=["local a=ice-lite", "remote a=ice-lite"], pc=s.label))


def _data_channel_rejected(s: PcSummary, subject: Subject, judgement: Judgement, offer: SessionDescription,
                           answer: SessionDescription, answer_event: UpdateEvent | None) -> None:
    """This side made data channels and the answer rejected m=application (port 0): they cannot open."""
    created = [e for e in s.pc.events if e.type == "createDataChannel"]
    if not created or s.remote_type not in ("answer", "pranswer"):
        return  # only the offerer's own channels, refused by the other side's answer
    for offered, answered in zip(offer.media, answer.media, strict=False):
        if offered.kind == "application" and not offered.rejected and answered.rejected:
            labels = [fields_value(e.value).get("label", "").strip('"')[:60] for e in created[:5]]
            judgement.findings.append(make_finding(
                "ANALYZE-DATACHANNEL-REJECTED", subject, check=CHECK, step="signaling",
                evidence=[*(f"{e.when} createDataChannel {e.value[:200]}" for e in created[:5]),
                          f"{when(answer_event)} answer: m=application 0 {answered.protocol} "
                          f"(mid {answered.mid or '-'})",
                          f"answer a=group:BUNDLE {' '.join(answer.bundle) or '(none)'}"],
                pc=s.label, labels=", ".join(f'"{label}"' for label in labels if label) or "(unnamed)",
                when=when(answer_event), mid=answered.mid or "-"))
            return


# RFC 3264 §6.1: the answer's direction for each offered one (a sendonly offer is answered recvonly or
# inactive, ...); anything else is not a valid answer.
_VALID_ANSWER = {"sendrecv": {"sendrecv", "sendonly", "recvonly", "inactive"},
                 "sendonly": {"recvonly", "inactive"}, "recvonly": {"sendonly", "inactive"},
                 "inactive": {"inactive"}}


def _answer_rules(s: PcSummary, subject: Subject, judgement: Judgement, offer: SessionDescription,
                  answer: SessionDescription, answer_event: UpdateEvent | None) -> None:
    """The answer against its offer: directions (RFC 3264 §6.1) and BUNDLE groups (RFC 9143 §7.3)."""
    for offered, answered in zip(offer.media, answer.media, strict=False):
        if offered.rejected or answered.rejected:
            continue
        if answered.direction not in _VALID_ANSWER.get(offered.direction, set()):
            judgement.findings.append(make_finding(
                "ANALYZE-DIRECTION-MISMATCH", subject, check=CHECK, step="signaling",
                evidence=[f"offer m={offered.kind} mid {offered.mid or '-'}: a={offered.direction}",
                          f"{when(answer_event)} answer m={answered.kind} mid {answered.mid or '-'}: "
                          f"a={answered.direction}"],
                pc=s.label, kind=offered.kind, mid=offered.mid or "-", offered=offered.direction,
                answered=answered.direction))
            break
    _h264_rules(s, subject, judgement, offer, answer, answer_event)
    live_offer = {m.mid for m in offer.media if not m.rejected and m.mid}
    extra = [mid for mid in answer.bundle if mid not in offer.bundle or mid not in live_offer]
    if offer.bundle and (extra or not answer.bundle):
        judgement.findings.append(make_finding(
            "ANALYZE-BUNDLE-MISMATCH", subject, check=CHECK, step="signaling",
            evidence=[f"offer a=group:BUNDLE {' '.join(offer.bundle)}",
                      f"answer a=group:BUNDLE {' '.join(answer.bundle)}" if answer.bundle
                      else "answer: no a=group:BUNDLE"],
            pc=s.label, offered=" ".join(offer.bundle[:20]), answered=" ".join(answer.bundle[:20]) or "none"))


def _fmtp_params(line: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in line.split(";")[:30]:
        key, _, value = part.strip().partition("=")
        params[key.strip().lower()[:40]] = value.strip()[:40]
    return params


def _h264_rules(s: PcSummary, subject: Subject, judgement: Judgement, offer: SessionDescription,
                answer: SessionDescription, answer_event: UpdateEvent | None) -> None:
    """RFC 6184 §8.2.2: an answered H.264 payload type keeps the offer's packetization-mode (absent: 0) and
    profile (the first two bytes of profile-level-id: profile_idc, profile-iop); only the level may differ."""
    for offered, answered in zip(offer.media, answer.media, strict=False):
        if offered.kind != "video" or offered.rejected or answered.rejected:
            continue
        for pt in answered.formats[:64]:
            if not answered.rtpmap.get(pt, "").lower().startswith("h264/") or pt not in offered.rtpmap:
                continue
            if not offered.rtpmap[pt].lower().startswith("h264/"):
                continue
            mine, theirs = _fmtp_params(offered.fmtp.get(pt, "")), _fmtp_params(answered.fmtp.get(pt, ""))
            mode = (mine.get("packetization-mode") or "0", theirs.get("packetization-mode") or "0")
            profile = (mine.get("profile-level-id", "42000a")[:4].lower(),
                       theirs.get("profile-level-id", "42000a")[:4].lower())  # RFC 6184 §8.1 default
            what = ("packetization-mode" if mode[0] != mode[1] else
                    "profile" if profile[0] != profile[1] else "")
            if not what:
                continue
            judgement.findings.append(make_finding(
                "ANALYZE-H264-MISMATCH", subject, check=CHECK, step="signaling",
                evidence=[f"offer m=video mid {offered.mid or '-'}: a=rtpmap:{pt} {offered.rtpmap[pt]} "
                          f"a=fmtp:{pt} {offered.fmtp.get(pt, '(none)')[:200]}",
                          f"{when(answer_event)} answer m=video mid {answered.mid or '-'}: a=rtpmap:{pt} "
                          f"{answered.rtpmap[pt]} a=fmtp:{pt} {answered.fmtp.get(pt, '(none)')[:200]}"],
                pc=s.label, pt=pt, what=what, when=when(answer_event),
                offered=offered.fmtp.get(pt, "(no a=fmtp)")[:200],
                answered=answered.fmtp.get(pt, "(no a=fmtp)")[:200]))
            return


def _description_rules(s: PcSummary, subject: Subject, judgement: Judgement) -> None:
    """What is wrong in one description on its own: RTX without its payload type, ICE credentials shorter
    than RFC 8839 allows, no DTLS fingerprint. (A browser rejects a remote description with the last two,
    so they are mostly found in SDP files and in the descriptions of non-browser endpoints.)"""
    for side, sdp in (("remote", s.remote_sdp), ("local", s.local_sdp)):
        if sdp is None:
            continue
        for m in sdp.media:
            missing = sorted({apt for apt in m.rtx_apt.values() if apt not in m.formats})
            if missing and not m.rejected:
                judgement.findings.append(make_finding(
                    "ANALYZE-RTX-APT-MISSING", subject, check=CHECK, step="signaling",
                    evidence=[f"{side} m={m.kind} mid {m.mid or '-'}: payload types "
                              f"{' '.join(m.formats[:20])}",
                              *(f"a=fmtp:{rtx} apt={apt}" for rtx, apt in list(m.rtx_apt.items())[:8])],
                    pc=s.label, side=side, kind=m.kind, mid=m.mid or "-", apt=", ".join(missing[:5])))
                break
        live = [m for m in sdp.media if not m.rejected]
        # RFC 8839 §5.4: ice-ufrag 4-256 ice-chars, ice-pwd 22-256.
        ufrags = {m.ice_ufrag or sdp.ice_ufrag for m in live} - {""}
        pwds = {m.ice_pwd or sdp.ice_pwd for m in live} - {""}
        short = sorted({f"ice-ufrag of {len(u)} characters" for u in ufrags if len(u) < 4}
                       | {f"ice-pwd of {len(p)} characters" for p in pwds if len(p) < 22})
        if short:
            judgement.findings.append(make_finding(
                "ANALYZE-ICE-CREDENTIALS-SHORT", subject, check=CHECK, step="signaling",
                evidence=[f"{side} description: {item}" for item in short], pc=s.label, side=side,
                what=", ".join(short)))
        secured = [m for m in live if "TLS" in m.protocol.upper() or "DTLS" in m.protocol.upper()]
        if secured and not sdp.fingerprints and any(not m.fingerprints for m in secured):
            judgement.findings.append(make_finding(
                "ANALYZE-SDP-NO-FINGERPRINT", subject, check=CHECK, step="signaling",
                evidence=[f"{side} m={m.kind} {m.protocol} (mid {m.mid or '-'}): no a=fingerprint"
                          for m in secured if not m.fingerprints][:5], pc=s.label, side=side))


def _signaling(s: PcSummary, subject: Subject, judgement: Judgement) -> bool:
    """Findings about offer/answer; True when signalling failed (ICE then never had a chance)."""
    stable_failures = [e for e in s.failures if "wrong state: stable" in e.value.lower()]
    glare_text = [e for e in s.failures if "wrong state: have-local-offer" in e.value.lower()]
    failed = False
    if s.glare is not None or glare_text:
        first = s.glare or glare_text[0]
        follow = (stable_failures or glare_text)[:1]
        failure = (f"; then {follow[0].type} at {follow[0].when}: \"{follow[0].value[:200]}\""
                   if follow else "")
        judgement.findings.append(make_finding(
            "ANALYZE-SDP-GLARE", subject, check=CHECK, step="signaling",
            # Connected with no failed description: the app handled it (perfect negotiation's polite
            # side rolls back exactly like this): for the record only.
            severity=None if not s.connected else Severity.WARNING if follow else Severity.INFO,
            evidence=[_said(e) for e in [first, *stable_failures, *glare_text][:10]],
            pc=s.label, when=first.when, failure=failure))
        failed = not s.connected
    elif stable_failures:
        first = stable_failures[0]
        judgement.findings.append(make_finding(
            "ANALYZE-SDP-WRONG-STATE-STABLE", subject, check=CHECK, step="signaling",
            severity=Severity.WARNING if s.connected else None,
            evidence=[f"{e.when} {e.type}: {e.value[:300]}" for e in stable_failures[:10]],
            pc=s.label, operation=first.type.removesuffix("OnFailure"), when=first.when,
            error=first.value[:300]))
        failed = not s.connected
    for event in s.failures:
        if event in stable_failures or event in glare_text:
            continue
        judgement.findings.append(make_finding(
            "ANALYZE-SDP-FAILED", subject, check=CHECK, step="signaling",
            severity=Severity.WARNING if s.connected else None,
            evidence=[f"{event.when} {event.type}: {event.value[:300]}"], pc=s.label,
            operation=event.type.removesuffix("OnFailure"), when=event.when, error=event.value[:300]))
        failed = failed or not s.connected
    _sdp_rules(s, subject, judgement)
    _description_rules(s, subject, judgement)
    states = " -> ".join(t.state for t in s.states("signaling")) or (
        "descriptions from SDP files" if s.pc.sdp_only else "no signalling state change")
    judgement.steps.append(StepOutcome(subject, CHECK, "signaling", detail=states[:300]))
    return failed


def _turn_host(s: PcSummary) -> str:
    hosts = {u.host for u in configured(s) if u.is_turn}
    return hosts.pop() if len(hosts) == 1 else s.label


SLOW_GATHERING_MS = 10_000.0  # ICE gathering that takes longer delays every call set-up (no trickle)


def _slow_gathering(s: PcSummary, judgement: Judgement, failed_urls: dict[str, str]) -> None:
    started = s.reached("gathering", "gathering")
    done = s.reached("gathering", "complete")
    begin = started.event.timestamp_ms if started and started.event else None
    if begin is None:
        return
    if done is not None and done.event is not None and done.event.timestamp_ms is not None:
        end, finished = done.event.timestamp_ms, True
    else:
        stamps = [e.timestamp_ms for e in s.pc.events if e.timestamp_ms is not None]
        end, finished = (max(stamps) if stamps else begin), False
    if end - begin <= SLOW_GATHERING_MS:
        return
    # A server that never answered is why gathering waited: fold the delay under that server's finding.
    waited_for = [u for u in configured(s) if u.key in failed_urls]
    host = waited_for[0].host if waited_for else s.label
    seconds = f"{(end - begin) / 1000:.1f}"
    judgement.findings.append(make_finding(
        "ANALYZE-SLOW-GATHERING", Subject(s.label, host or s.label), check=CHECK, step="gathering",
        evidence=[f"{when(started.event if started else None)} onicegatheringstatechange gathering",
                  f"{when(done.event) if done else '-'} onicegatheringstatechange complete"],
        pc=s.label, seconds=seconds, outcome="" if finished else " and never completed",
        servers=", ".join(s.pc.ice_servers[:5]) or "none"))


def _gathering(s: PcSummary, subject: Subject, judgement: Judgement, failed_urls: dict[str, str]) -> None:
    local = s.of("local")
    counts = ", ".join(f"{n} {k}" for k in ("host", "srflx", "prflx", "relay")
                       if (n := len(s.of("local", k)))) or "no candidates"
    state = s.last_state("gathering")
    if not s.gathered:
        judgement.steps.append(StepOutcome(subject, CHECK, "gathering", StepState.SKIPPED,
                                           detail="gathering never started (no local description)"))
        return
    unexplained = not s.pc.candidate_errors_recorded and any(
        failed_urls.get(u.key) == UNRECORDED for u in configured(s))
    if s.pc.ice_transport_policy == "relay" and not s.of("local", "relay") and not unexplained:
        turn = [u for u in configured(s) if u.is_turn]
        why = "; ".join(f"{u.text}: {failed_urls[u.key]}" for u in turn if u.key in failed_urls) or (
            "no TURN server configured" if not turn else "no error reported")
        judgement.findings.append(make_finding(
            "ANALYZE-RELAY-ONLY-NO-CANDIDATE", Subject(s.label, _turn_host(s)), check=CHECK, step="gathering",
            evidence=[f"rtcConfiguration: {s.pc.configuration[:300]}", f"gathering {state}; {counts}"],
            pc=s.label, gathering=f"{counts}; {why}"))
    host = s.of("local", "host")
    others = [c for c in s.candidates if c.candidate.type in ("srflx", "relay")]
    if not s.pc.ice_servers and host and not others and all(c.candidate.is_mdns for c in host):
        judgement.findings.append(make_finding(
            "ANALYZE-MDNS-ONLY", subject, check=CHECK, step="gathering",
            evidence=[f"{c.event.when if c.event else '-'} onicecandidate {c.candidate.type} "
                      f"{c.candidate.protocol} {c.candidate.address}:{c.candidate.port}" for c in host[:5]],
            pc=s.label, count=len(host), example=host[0].candidate.address))
    for c in s.of("local", "relay"):
        ip = parse_ip(c.candidate.address)
        server = ice_url(c.url) if c.url else None
        server_ip = parse_ip(server.host) if server and server.host else None
        if ip is None:
            continue
        where = scope_of(ip)
        # A relay must be reachable from wherever the server was (a name: from the internet; "localhost"
        # and its subdomains are loopback, RFC 6761 §6.3).
        local_name = server is not None and (server.host == "localhost" or server.host.endswith(".localhost"))
        reached = (scope_of(server_ip) if server_ip is not None else
                   AddressScope.LOOPBACK if local_name else AddressScope.PUBLIC)
        if not reachable_from(where, reached):
            subject_url = (server_subject(server) if server and server.parsed
                           else Subject(c.url or s.label, _turn_host(s)))
            judgement.findings.append(make_finding(
                "ANALYZE-RELAY-PRIVATE", subject_url, check=CHECK, step="gather",
                evidence=[f"{s.label} {c.event.when if c.event else '-'} relay candidate "
                          f"{c.candidate.address}:{c.candidate.port} url={c.url or '-'}"],
                url=c.url or "the TURN server", scope=where.value, address=c.candidate.address,
                when=c.event.when if c.event else "-"))
            break
    _candidate_mix(s, subject, judgement)
    _slow_gathering(s, judgement, failed_urls)
    judgement.steps.append(StepOutcome(subject, CHECK, "gathering",
                                       detail=f"{state}: {counts} ({len(local)} local, "
                                              f"{len(s.of('remote'))} remote)"))


def _listed(facts: list[CandidateFact]) -> str:
    shown = [f"{c.candidate.type} {c.candidate.protocol} {c.candidate.address}" for c in facts[:4]]
    more = f" and {len(facts) - 4} more" if len(facts) > 4 else ""
    return (", ".join(dict.fromkeys(shown)) + more) or "no candidate"


def _candidate_mix(s: PcSummary, subject: Subject, judgement: Judgement) -> None:
    """What the candidates themselves say: only private host addresses on both sides (no srflx/relay),
    only TCP, only IPv6 (RFC 8445 §6.1.2.2: a pair needs both candidates of one address family)."""
    local, remote = s.of("local"), s.of("remote")
    if not local:
        return
    failed = s.reached("ice", "failed") is not None and not s.connected
    relay = s.of("local", "relay")
    real_local = [c for c in local if not c.candidate.is_mdns]
    if real_local and not relay and all(c.candidate.protocol == "tcp" for c in local):
        no_tcp_peer = bool(remote) and not any(c.candidate.protocol == "tcp" for c in remote)
        judgement.findings.append(make_finding(
            "ANALYZE-TCP-ONLY", subject, check=CHECK, step="gathering",
            severity=Severity.ERROR if failed or (no_tcp_peer and not s.connected) else None,
            evidence=[f"local {c.candidate.type} {c.candidate.protocol} {c.candidate.address}:"
                      f"{c.candidate.port}{' ' + c.stats_id if c.stats_id else ''}" for c in local[:6]],
            pc=s.label, candidates=_listed(local), remote=_listed(remote)))
    ips = [(c, parse_ip(c.candidate.address)) for c in real_local]
    if ips and not relay and all(ip is not None and ip.version == 6 for _, ip in ips):
        remote_ips = [parse_ip(c.candidate.address) for c in remote if not c.candidate.is_mdns]
        v4_peer = bool(remote_ips) and all(ip is not None and ip.version == 4 for ip in remote_ips)
        judgement.findings.append(make_finding(
            "ANALYZE-IPV6-ONLY", subject, check=CHECK, step="gathering",
            severity=Severity.ERROR if failed or (v4_peer and not s.connected) else None,
            evidence=[f"{c.side} {c.candidate.type} {c.candidate.protocol} {c.candidate.address}:"
                      f"{c.candidate.port}" for c in real_local[:6] + remote[:4]],
            pc=s.label, candidates=_listed(real_local), remote=_listed(remote),
            common=" and the other side only IPv4: no pair is possible" if v4_peer else ""))
    both = local + remote
    if not remote or any(c.candidate.type in ("srflx", "relay") for c in both):
        return
    if s.pc.ice_servers or all(c.candidate.is_mdns for c in local):
        return  # servers configured: their own findings say why; mDNS only: ANALYZE-MDNS-ONLY
    addresses = [(c, parse_ip(c.candidate.address)) for c in both if not c.candidate.is_mdns]
    if addresses and all(ip is not None and scope_of(ip) is not AddressScope.PUBLIC for _, ip in addresses):
        scopes = sorted({f"{c.candidate.address} ({scope_of(ip).value})" for c, ip in addresses if ip})
        judgement.findings.append(make_finding(
            "ANALYZE-PRIVATE-HOST-ONLY", subject, check=CHECK, step="gathering",
            evidence=[f"{c.side} {c.candidate.type} {c.candidate.protocol} {c.candidate.address}:"
                      f"{c.candidate.port}" + (f" ({c.stats_id})" if c.stats_id else
                                              f" at {c.event.when}" if c.event else "") for c in both[:8]],
            severity=Severity.ERROR if failed else None, pc=s.label, addresses=", ".join(scopes[:6]),
            servers=f"not in {s.pc.stats_source}" if s.pc.stats_only and not s.pc.configuration
            else "none configured"))


# Unanswered connectivity checks take seconds to fail (RFC 8445 §14.3: Rc retransmissions); a relay-only
# connection that fails within this long after checking started was refused, not left unanswered.
REFUSED_WITHIN_MS = 1000.0


def _relay_refused(s: PcSummary, failed: Transition) -> tuple[str, float] | None:
    """A relay-only connection whose checks failed at once (the TURN server refused the permission for the
    peer: CreatePermission 403, RFC 8656 §9.1): the TURN URL and how fast, or None."""
    local = s.of("local")
    checking = s.reached("ice", "checking")
    if not local or any(c.candidate.type != "relay" for c in local) or checking is None:
        return None
    start = checking.event.timestamp_ms if checking.event else None
    end = failed.event.timestamp_ms if failed.event else None
    if start is None or end is None or not 0 <= end - start <= REFUSED_WITHIN_MS:
        return None
    urls = [c.url for c in local if c.url] or [u.text for u in configured(s) if u.is_turn]
    return (urls[0] if urls else "the TURN server"), end - start


def _consent(s: PcSummary) -> tuple[list[str], str]:
    """The consent-freshness evidence (RFC 7675) of the pair that carried the call: its requests, responses
    and consentRequestsSent from the last stats sample; and a clause for the symptom."""
    pair = s.pc.stats.get(s.selected.stats_id) if s.selected is not None else None
    if pair is None:
        pair = next((p for p in s.pair_stats if p.last("nominated") is True), None)
    if pair is None:
        return [], ""
    sent = pair.number("requestsSent")
    answered = pair.number("responsesReceived")
    consent = pair.number("consentRequestsSent")
    line = (f"stats {pair.id}: state={pair.text('state') or '-'} "
            f"requestsSent={pair.text('requestsSent') or '-'} "
            f"responsesReceived={pair.text('responsesReceived') or '-'} "
            f"consentRequestsSent={pair.text('consentRequestsSent') or '-'} "
            f"requestsReceived={pair.text('requestsReceived') or '-'}")
    if sent is None or answered is None or sent <= answered:
        return [line], ""
    clause = (f"; on the selected pair {pair.id}, {sent - answered:.0f} of {sent:.0f} connectivity/consent "
              f"requests went unanswered" + (f" ({consent:.0f} consent requests sent)" if consent else ""))
    return [line], clause


NO_REMOTE_WAIT_MS = 5000.0  # trickled candidates arrive within a second or two of the description


def _waited_ms(s: PcSummary) -> float:
    """How long after the remote description the dump was made (0 when either time is unknown)."""
    start = s.remote_set.timestamp_ms if s.remote_set is not None else None
    if start is None or s.dumped_at_ms is None:
        return 0.0
    return s.dumped_at_ms - start


def _waited(s: PcSummary, ms: float) -> bool:
    return _waited_ms(s) >= ms


def _ufrags(sdp: SessionDescription | None) -> set[str]:
    return {m.ice_ufrag or sdp.ice_ufrag for m in sdp.media} - {""} if sdp is not None else set()


def _stats_ufrags(s: PcSummary, side: str) -> set[str]:
    """getStats output has no descriptions: the ufrags of its candidates (and of its transport's own end)."""
    found = {c.candidate.ufrag for c in s.of(side) if c.candidate.ufrag}
    if side == "local":
        transport = s.pc.stats.get(s.dtls_stats_id) if s.dtls_stats_id else None
        if transport is not None and transport.text("iceLocalUsernameFragment"):
            found.add(transport.text("iceLocalUsernameFragment"))
    return found


def _own_ufrags(s: PcSummary) -> set[str]:
    # Stats-only evidence may still carry descriptions (Firefox's report keeps its sdpHistory): both count.
    return _stats_ufrags(s, "local") | _ufrags(s.local_sdp) if s.pc.stats_only else _ufrags(s.local_sdp)


def _their_ufrags(s: PcSummary) -> set[str]:
    return _stats_ufrags(s, "remote") | _ufrags(s.remote_sdp) if s.pc.stats_only else _ufrags(s.remote_sdp)


def local_ufrags(summaries: list[PcSummary]) -> dict[str, PcSummary]:
    """Every connection by the ICE ufrags of its own description (RFC 8839 §5.4; getStats output: of its own
    candidates): how the other end of a connection is found when both are in the evidence (two peer
    connections of one page, or files of one call)."""
    out: dict[str, PcSummary] = {}
    for summary in summaries:
        for ufrag in sorted(_own_ufrags(summary)):
            out.setdefault(ufrag, summary)
    return out


def _other_side(s: PcSummary, by_ufrag: dict[str, PcSummary]) -> PcSummary | None:
    mine = _own_ufrags(s)
    found = (by_ufrag.get(u) for u in sorted(_their_ufrags(s) - mine))
    return next((o for o in found if o is not None and o is not s), None)


def why_no_remote(s: PcSummary, by_ufrag: dict[str, PcSummary],
                  failed_urls: dict[str, str]) -> tuple[IceServerUrl, str] | None:
    """The TURN failure that explains why no remote candidate ever reached ``s`` (and the words for it), or
    None. Either the other side is in the evidence, gathered no candidate at all, and one of its TURN
    servers failed; or the other side is unknown and this relay-only side's own TURN server refused it (the
    other side, configured with the same servers, most likely met the same)."""
    other = _other_side(s, by_ufrag)
    if other is not None:
        if other.of("local"):
            return None  # it had candidates to send: they were not delivered (signalling)
        for url in configured(other):
            if url.is_turn and url.key in failed_urls:
                return url, (f"; the other side ({other.label}, in this evidence) gathered no candidate to "
                             f"send: {url.text}: {failed_urls[url.key]}")
        return None
    if s.pc.ice_transport_policy != "relay":
        return None
    mine = {ice_url(e.url).key for e in s.errors}
    for url in configured(s):
        if url.is_turn and url.key in failed_urls and url.key in mine:
            return url, (f"; the other side is not in this evidence, and this relay-only side's own TURN "
                         f"server refused it ({url.text}: {failed_urls[url.key]}): with the same servers the "
                         "other side most likely met the same")
    return None


def _stats_stamp(raw: object) -> float | None:
    """A stats timestamp (ms since the epoch) as a finite float, or None (a hostile dump's huge integer)."""
    small = isinstance(raw, float) or (isinstance(raw, int) and abs(raw) < 10**15)
    stamp = float(raw) if small and isinstance(raw, int | float) and not isinstance(raw, bool) else None
    return stamp if stamp is not None and math.isfinite(stamp) else None


def closed_by_other_side(s: PcSummary) -> tuple[str, str] | None:
    """(transport stats id, when first seen) when this connection's DTLS transport went "closed" while the
    connection itself was never closed here: only a close_notify from the other side does that (W3C
    webrtc-pc RTCDtlsTransportState; RFC 8446 §6.1). A path lost in the network cannot carry one."""
    if any(e.type == "close" for e in s.pc.events) or s.reached("connection", "closed") or \
            s.reached("signaling", "closed"):
        return None
    for transport in s.pc.of_type("transport")[:4]:
        series = transport.series.get("dtlsState")
        states = [str(v) for v in series.values()] if series is not None else []
        if "closed" not in states:
            continue
        index = states.index("closed")
        stamps = transport.series["timestamp"].values() if "timestamp" in transport.series else []
        stamp = _stats_stamp(stamps[index]) if len(stamps) == len(states) else None
        return transport.id, (f"first seen in the stats sample of {UpdateEvent('', '', stamp).when}"
                              if stamp is not None else "in the stats")
    return None


WARNING_RANK = Severity.WARNING.rank


def _ice(s: PcSummary, subject: Subject, judgement: Judgement, signaling_failed: bool,
         failed_urls: dict[str, str], by_ufrag: dict[str, PcSummary] | None = None) -> None:
    ice_state = s.last_state("ice")
    # ICE failing without a relay candidate, when the TURN server failed: a consequence of that failure
    # (the same TURN host lets the diagnosis fold it); otherwise this connection's own finding.
    turn_failed = [u for u in configured(s) if u.is_turn and u.key in failed_urls]
    fold = subject
    if turn_failed and not s.of("local", "relay"):
        fold = Subject(subject.server, turn_failed[0].host)
    if signaling_failed:
        judgement.steps.append(StepOutcome(subject, CHECK, "ice", StepState.SKIPPED,
                                           detail=f"signalling failed; ICE {ice_state}"))
        return
    if s.add_candidate_failures:
        first = s.add_candidate_failures[0]
        judgement.findings.append(make_finding(
            "ANALYZE-ADD-CANDIDATE-FAILED", subject, check=CHECK, step="ice",
            severity=Severity.WARNING if s.connected else None,
            evidence=[f"{e.when} {e.type}: {e.value[:300]}" for e in s.add_candidate_failures[:10]],
            pc=s.label, count=len(s.add_candidate_failures), when=first.when, error=first.value[:300]))
    failed = s.reached("ice", "failed")
    if failed is None and not s.connected:  # Chromium may end in ICE "disconnected", connection "failed"
        failed = s.reached("connection", "failed")
    lost: Transition | None = None
    lost_failed: Transition | None = None
    up = s.reached("ice", "connected", "completed")
    if up is not None:
        after = s.timeline[s.timeline.index(up):]
        lost = next((t for t in after if t.what in ("ice", "connection") and t.state == "disconnected"), None)
        if lost is not None:  # then failed (ICE or the connection), with no reconnection in between
            rest = after[after.index(lost):]
            back = next((t for t in rest if t.what == "ice" and t.state in ("connected", "completed")), None)
            lost_failed = next((t for t in rest if t.state == "failed"
                                and (back is None or rest.index(t) < rest.index(back))), None)
    closed = closed_by_other_side(s) if up is not None else None
    unexplained = ""
    if closed is not None:
        then = "" if lost is None else (
            f"; then ICE went \"disconnected\" at {when(lost.event)}"
            + (f" and \"failed\" at {when(lost_failed.event)}" if lost_failed is not None else "")
            + " as the other side stopped answering consent checks")
        judgement.findings.append(make_finding(
            "ANALYZE-REMOTE-CLOSED", subject, check=CHECK, step="ice",
            evidence=[f"stats {closed[0]}: dtlsState=closed ({closed[1]})",
                      *(f"{when(t.event)} {t.what} {t.state}" for t in s.timeline
                        if t.what in ("ice", "connection") and t.event is not None)][:10],
            pc=s.label, stats_id=closed[0], closed=closed[1], after=then))
    elif lost is not None and lost_failed is not None and not s.ice_restart:
        judgement.findings.append(make_finding(
            "ANALYZE-CONNECTION-LOST", subject, check=CHECK, step="ice",
            evidence=[f"{when(t.event)} {t.what} {t.state}" for t in s.timeline
                      if t.what in ("ice", "connection") and t.event is not None][:10] + _consent(s)[0],
            pc=s.label, lost=when(lost.event), failed=when(lost_failed.event), consent=_consent(s)[1]))
    elif not s.connected and (failed is not None or _waited(s, NO_REMOTE_WAIT_MS)):
        local_ok = bool(s.of("local"))
        if s.remote_set is not None and local_ok and not s.of("remote") and not s.remote_has_candidates:
            end = (f"{when(failed.event)} {failed.what} failed" if failed is not None else
                   f"dump made {_waited_ms(s) / 1000:.1f} s after the remote description, ICE still "
                   f"{ice_state}")
            # A TURN failure that explains it: the finding is about that server's host, so the diagnosis
            # folds it under the TURN error (diagnosis.ALSO_EXPLAINS); otherwise it is this connection's own.
            no_remote = why_no_remote(s, by_ufrag or {}, failed_urls)
            about = subject if no_remote is None else Subject(s.label, no_remote[0].host or s.label)
            judgement.findings.append(make_finding(
                "ANALYZE-NO-REMOTE-CANDIDATES", about, check=CHECK, step="ice",
                evidence=[f"{when(s.remote_set)} setRemoteDescription (no a=candidate lines)",
                          "no addIceCandidate call", end,
                          *([no_remote[1].lstrip("; ")] if no_remote else [])],
                pc=s.label, when=when(s.remote_set), ice_state=ice_state,
                remote=no_remote[1] if no_remote else ""))
        elif failed is None:
            pass  # not failed (yet): nothing to say about the checks
        elif local_ok and s.of("remote"):
            sent = sum(int(p.number("requestsSent") or 0) for p in s.pair_stats)
            answered = sum(int(p.number("responsesReceived") or 0) for p in s.pair_stats)
            received = sum(int(p.number("requestsReceived") or 0) for p in s.pair_stats)
            evidence = [f"{p.id}: state={p.text('state')} requestsSent={p.text('requestsSent')} "
                        f"responsesReceived={p.text('responsesReceived')} "
                        f"requestsReceived={p.text('requestsReceived')}" for p in s.pair_stats[:10]]
            evidence += s.pc.check_log[:6]  # what the browser's ICE log says of the checks (Firefox)
            if sent and not answered:
                one_way = (f"; {received} check(s) from the other side did arrive (one-way: its packets "
                           "get here, ours do not get there)") if received else ""
                judgement.findings.append(make_finding(
                    "ANALYZE-ICE-NO-RESPONSES", fold, check=CHECK, step="ice", evidence=evidence,
                    pc=s.label, when=when(failed.event), pairs=len(s.pair_stats), sent=sent, one_way=one_way))
            elif (refused := _relay_refused(s, failed)) is not None:
                url, ms = refused
                server = ice_url(url)
                judgement.findings.append(make_finding(
                    "ANALYZE-RELAY-REFUSED", Subject(s.label, server.host or s.label, server.port,
                                                     server.transport),
                    check=CHECK, step="ice",
                    evidence=[f"{t.event.when if t.event else '-'} {t.what} {t.state}"
                              for t in s.timeline if t.what in ("ice", "connection")][:10]
                    + [f"local relay candidate {c.candidate.address}:{c.candidate.port} url={c.url or '-'}"
                       for c in s.of("local", "relay")[:3]],
                    pc=s.label, url=url, ms=f"{ms:.0f}", when=when(failed.event)))
            else:
                judgement.findings.append(make_finding(
                    "ANALYZE-ICE-FAILED", fold, check=CHECK, step="ice", evidence=evidence,
                    pc=s.label, when=when(failed.event), pairs=len(s.pair_stats)))
        elif not turn_failed and not any(f.subject.server == s.label and f.severity.rank >= WARNING_RANK
                                         for f in judgement.findings):
            # ICE failed, and the evidence holds nothing to say why (no finding about this connection or its
            # TURN servers): no remote candidate and no signalling (a caller's own getStats output), or no
            # local candidate. Never a pass; no cause to name.
            unexplained = (f"ICE failed ({when(failed.event)}); " +
                           ("no local candidate" if not local_ok else "no remote candidate and no pair")
                           + (" in the getStats output, which holds no signalling or candidate errors to "
                              "tell why" if s.pc.stats_only else " in the evidence to tell why"))
    if s.selected is not None and s.selected.local_type == "relay" and \
            s.selected.relay_protocol in ("tcp", "tls"):
        rtt = "-" if s.selected.rtt_ms is None else f"{s.selected.rtt_ms:.1f} ms"
        judgement.findings.append(make_finding(
            "ANALYZE-RELAY-TCP", subject, check=CHECK, step="ice",
            evidence=[f"{s.selected.stats_id}: {s.selected.local} <-> {s.selected.remote}"],
            pc=s.label, protocol=s.selected.relay_protocol.upper(), pair=f"{s.selected.local} <-> "
            f"{s.selected.remote}", url=s.selected.url or "-", rtt=rtt))
    if s.selected is not None and s.selected.rtt_ms is not None:
        judgement.facts.rtts.append(RttFact(s.label, f"selected pair {s.selected.stats_id}",
                                            s.selected.rtt_ms))
    states = " -> ".join(t.state for t in s.states("ice")) or "new"
    state = StepState.DONE if s.states("ice") or s.of("remote") else StepState.SKIPPED
    detail = f"ICE {states}"
    if unexplained:
        state, detail = StepState.UNDECIDED, unexplained
        judgement.facts.inconclusive = True
    elif not s.connected and failed is None and s.remote_set is not None and s.of("local") and \
            not _waited(s, NO_REMOTE_WAIT_MS):
        # ICE had not connected when the evidence ends, and nothing says how long it had: no verdict.
        state, detail = StepState.UNDECIDED, (f"ICE {states} when the evidence ends, "
                                              f"{_waited_ms(s) / 1000:.1f} s after the remote description")
        judgement.facts.inconclusive = True
    elif not s.connected and failed is None and s.pc.stats_only and has_evidence(s) and not (
            s.local_set is not None and s.remote_set is None):  # a description of its own only: no ICE yet
        # getStats output has no signalling: a connection that never connected (nor failed) may have been
        # setting up, or waiting for candidates that never came (its dump says which): no verdict.
        state, detail = StepState.UNDECIDED, (f"ICE {states} in the last sample of {s.pc.stats_source}, "
                                              f"never connected; {s.pc.stats_source} holds no state log to "
                                              "tell why")
        judgement.facts.inconclusive = True
    if s.pc.ice_restarts:
        rollbacks = "-" if s.pc.ice_rollbacks is None else str(s.pc.ice_rollbacks)
        judgement.findings.append(make_finding(
            "ANALYZE-ICE-RESTARTS", subject, check=CHECK, step="ice", severity=Severity.INFO,
            evidence=[f"{s.pc.stats_source}: iceRestarts={s.pc.ice_restarts}",
                      *(f"{when(t.event)} {t.what} {t.state}" for t in s.states("ice")[:6])],
            pc=s.label, restarts=s.pc.ice_restarts, rollbacks=rollbacks, ice=ice_state))
    judgement.steps.append(StepOutcome(subject, CHECK, "ice", state, detail=detail[:300]))


def dtls_role(s: PcSummary) -> tuple[str, str] | None:
    """This end's DTLS role ("client" / "server") and where it was read: its transport's dtlsRole, else its
    descriptions (RFC 8842 §5.2, RFC 5763 §5: an answer's a=setup:active is the client; an offer's actpass
    takes the opposite of the answer's choice). None when neither says."""
    transport = s.pc.stats.get(s.dtls_stats_id) if s.dtls_stats_id else None
    role = transport.text("dtlsRole") if transport is not None else ""
    if role in ("client", "server"):
        return role, f"stats {s.dtls_stats_id}: dtlsRole={role}"
    local = s.local_sdp.setups() if s.local_sdp is not None else []
    remote = s.remote_sdp.setups() if s.remote_sdp is not None else []
    if len(local) == 1 and local[0] in ("active", "passive"):
        return ("client" if local[0] == "active" else "server"), f"local a=setup:{local[0]}"
    if local == ["actpass"] and len(remote) == 1 and remote[0] in ("active", "passive"):
        return ("server" if remote[0] == "active" else "client"), f"local a=setup:actpass, remote " \
            f"a=setup:{remote[0]}"
    return None


def _dtls(s: PcSummary, subject: Subject, judgement: Judgement, by_ufrag: dict[str, PcSummary]) -> None:
    connection_failed = s.reached("connection", "failed")
    ice_up = s.reached("ice", "connected", "completed")
    if ice_up is None:
        judgement.steps.append(StepOutcome(subject, CHECK, "dtls", StepState.SKIPPED,
                                           detail="ICE never connected"))
        return
    ice_failed = s.reached("ice", "failed", "disconnected")
    if s.dtls_state == "failed" or (connection_failed is not None and ice_failed is None):
        _dtls_failed(s, subject, judgement, ice_up, connection_failed, by_ufrag)
    elif not _dtls_stuck(s, subject, judgement, ice_up):
        _data_channels(s, subject, judgement)
    if not s.dtls_state and s.pc.stats_only:
        # ICE connected and no DTLS state (a saved about:webrtc page: no transport states, and nothing that
        # only a connected DTLS transport carries arrived): DTLS may have failed; never a pass.
        judgement.steps.append(StepOutcome(subject, CHECK, "dtls", StepState.UNDECIDED,
                                           detail=f"ICE connected; {s.pc.stats_source} holds no DTLS state, "
                                                  "and no data channel opened nor RTP arrived to show it "
                                                  "connected"))
        judgement.facts.inconclusive = True
        return
    judgement.steps.append(StepOutcome(subject, CHECK, "dtls",
                                       detail=f"DTLS {s.dtls_state or 'state not in the stats'}"))


def _dtls_failed(s: PcSummary, subject: Subject, judgement: Judgement, ice_up: Transition,
                 connection_failed: Transition | None, by_ufrag: dict[str, PcSummary]) -> None:
    """ICE up, DTLS failed. Its cause by the roles (RFC 8842 §5): this end a DTLS server got a ClientHello,
    so the other end was a client: the certificate did not match the fingerprint. This end a client: the
    same, or both ends clients (a role conflict), which only the other end's role tells: when that end is
    in the evidence (two connections of one page), said; when not, both causes are said."""
    evidence = [f"{when(ice_up.event)} {_source(ice_up, 'oniceconnectionstatechange')} {ice_up.state}",
                f"{when(connection_failed.event if connection_failed else None)} "
                f"{_source(connection_failed, 'onconnectionstatechange')} failed",
                f"stats {s.dtls_stats_id or '-'}: dtlsState={s.dtls_state or '-'}"]
    mine = dtls_role(s)
    other = _other_side(s, by_ufrag)
    theirs = dtls_role(other) if other is not None else None
    failed_at = when(connection_failed.event if connection_failed else None)
    if mine is not None and mine[0] == "client" and theirs is not None and theirs[0] == "client":
        if any(f.id == "ANALYZE-DTLS-ROLE-CONFLICT" and f.subject == subject for f in judgement.findings):
            return  # the descriptions already said it (signalling step)
        assert other is not None
        judgement.findings.append(make_finding(
            "ANALYZE-DTLS-ROLE-CONFLICT", subject, check=CHECK, step="dtls",
            evidence=[*evidence, f"this end: {mine[1]}", f"the other end ({other.label}): {theirs[1]}"],
            pc=s.label, role="DTLS client",
            how=f"this end is the DTLS client ({mine[1]}) and so is the other end, {other.label}, in this "
                f"evidence ({theirs[1]}); ICE connected, then DTLS failed at {failed_at}"))
        return
    if mine is not None and mine[0] == "client" and theirs is None:  # both causes stand
        judgement.findings.append(make_finding(
            "ANALYZE-DTLS-FAILED-AS-CLIENT", subject, check=CHECK, step="dtls",
            evidence=[*evidence, f"this end: {mine[1]}",
                      f"the other end ({other.label}): its DTLS role is not in the evidence"
                      if other is not None else "the other end is not in this evidence"],
            pc=s.label, ice_when=when(ice_up.event), when=failed_at, stats_id=s.dtls_stats_id or "-",
            dtls=s.dtls_state or "-", role=mine[1]))
        return
    roles = [f"this end: {mine[1]}"] if mine is not None else []
    if other is not None and theirs is not None:
        roles.append(f"the other end ({other.label}): {theirs[1]}")
    judgement.findings.append(make_finding(
        "ANALYZE-DTLS-FAILED", subject, check=CHECK, step="dtls",
        evidence=[*evidence, *roles, *(f"remote a=fingerprint:{f}" for f in s.remote_fingerprints[:3])],
        pc=s.label, ice_when=when(ice_up.event), when=failed_at,
        stats_id=s.dtls_stats_id or "-", dtls=s.dtls_state or "-",
        fingerprint=(s.remote_fingerprints[0] if s.remote_fingerprints else
                     "not in the evidence (getStats output holds no SDP)" if s.pc.stats_only
                     else "absent")))


def _source(transition: Transition | None, default: str) -> str:
    """The name of what a transition was read from: the update-log event, or the stats field."""
    return transition.event.type if transition is not None and transition.event is not None else default


DTLS_STUCK_MS = 10_000.0  # a DTLS handshake takes a few round trips; RFC 6347 §4.2.4 retransmits from 1 s


def _dtls_stuck(s: PcSummary, subject: Subject, judgement: Judgement, ice_up: Transition) -> bool:
    """ICE connected, DTLS still "new"/"connecting" in the last sample seconds later: nobody started the
    handshake (both sides DTLS server: a=setup munged) or the handshake's packets are lost."""
    if s.dtls_state not in ("new", "connecting") or s.reached("connection", "connected") is not None:
        return False
    transport = s.pc.stats.get(s.dtls_stats_id)
    start = ice_up.event.timestamp_ms if ice_up.event is not None else None
    sampled = transport.number("timestamp") if transport is not None else None
    if start is None or sampled is None or sampled - start < DTLS_STUCK_MS:
        return False
    role = transport.text("dtlsRole") if transport is not None else ""
    setups = (f"local a=setup:{'/'.join(s.local_sdp.setups()[:1]) or '-'}" if s.local_sdp else "",
              f"remote a=setup:{'/'.join(s.remote_sdp.setups()[:1]) or '-'}" if s.remote_sdp else "")
    judgement.findings.append(make_finding(
        "ANALYZE-DTLS-STUCK", subject, check=CHECK, step="dtls",
        evidence=[f"{when(ice_up.event)} {_source(ice_up, 'oniceconnectionstatechange')} {ice_up.state}",
                  f"stats {s.dtls_stats_id}: dtlsState={s.dtls_state} dtlsRole={role or '-'} "
                  f"{(sampled - start) / 1000:.1f} s later", *(x for x in setups if x)],
        pc=s.label, ice_when=when(ice_up.event), stats_id=s.dtls_stats_id, dtls=s.dtls_state,
        seconds=f"{(sampled - start) / 1000:.1f}", role=role or "unknown"))
    return True


DATACHANNEL_WAIT_MS = 3000.0  # an SCTP association comes up within a few round trips of DTLS


def _data_channels(s: PcSummary, subject: Subject, judgement: Judgement) -> None:
    """A data channel still "connecting" in the last stats sample, seconds after the connection was up."""
    up = s.reached("connection", "connected")
    start = up.event.timestamp_ms if up is not None and up.event is not None else None
    if start is None:
        return
    for obj in s.pc.of_type("data-channel"):
        if obj.text("state") != "connecting":
            continue
        sampled = obj.number("timestamp")
        if sampled is None or sampled - start < DATACHANNEL_WAIT_MS:
            continue
        judgement.findings.append(make_finding(
            "ANALYZE-DATACHANNEL-NOT-OPEN", subject, check=CHECK, step="dtls",
            evidence=[f"{when(up.event if up else None)} onconnectionstatechange connected",
                      f"stats {obj.id}: label={obj.text('label')!r} state=connecting "
                      f"{(sampled - start) / 1000:.1f} s later"],
            pc=s.label, label=obj.text("label")[:100], stats_id=obj.id,
            seconds=f"{(sampled - start) / 1000:.1f}"))
        break


_GUM_IDS = {"NotAllowedError": "ANALYZE-GUM-NOT-ALLOWED", "PermissionDeniedError": "ANALYZE-GUM-NOT-ALLOWED",
            "SecurityError": "ANALYZE-GUM-NOT-ALLOWED", "NotFoundError": "ANALYZE-GUM-NOT-FOUND",
            "DevicesNotFoundError": "ANALYZE-GUM-NOT-FOUND", "NotReadableError": "ANALYZE-GUM-NOT-READABLE",
            "TrackStartError": "ANALYZE-GUM-NOT-READABLE",
            "OverconstrainedError": "ANALYZE-GUM-OVERCONSTRAINED",
            "ConstraintNotSatisfiedError": "ANALYZE-GUM-OVERCONSTRAINED"}
# Compared without case: Chromium 156 writes "OverConstrainedError" in webrtc-internals (its internal name)
# where the page sees the W3C "OverconstrainedError".
_GUM_BY_NAME = {name.lower(): fid for name, fid in _GUM_IDS.items()}


def _constraints(request: GetUserMediaEntry | None) -> str:
    if request is None:
        return "media"
    asked = (("audio", request.audio), ("video", request.video))
    parts = [f"{kind} {value or 'true'}" for kind, value in asked if value is not None]
    return ", ".join(parts)[:300] or "media"


def _get_user_media(entries: list[GetUserMediaEntry], label: str, judgement: Judgement) -> None:
    requests = {e.request_id: e for e in entries if e.audio is not None or e.video is not None}
    results = [e for e in entries if e.audio is None and e.video is None]
    subject = Subject(label)
    for result in results[:50]:
        request = requests.get(result.request_id)
        kind = result.request_type or "getUserMedia"
        if not result.error:
            judgement.steps.append(StepOutcome(subject, CHECK, "request", detail=f"{kind} succeeded"))
            continue
        fid = _GUM_BY_NAME.get(result.error.lower(), "ANALYZE-GUM-FAILED")
        when_text = UpdateEvent("", "", result.timestamp_ms).when
        judgement.findings.append(make_finding(
            fid, subject, check=CHECK, step="request",
            evidence=[f"{when_text} {kind} request {result.request_id}: error={result.error} "
                      f"error_message={result.error_message!r}", f"constraints: {_constraints(request)}"],
            request=kind, constraints=_constraints(request), when=when_text, message=result.error_message,
            error=result.error))
        judgement.steps.append(StepOutcome(subject, CHECK, "request", detail=f"{kind}: {result.error}"))


_FAILED_ICE = frozenset({"ANALYZE-PRIVATE-HOST-ONLY", "ANALYZE-ICE-FAILED", "ANALYZE-ICE-NO-RESPONSES"})


def _private_hosts_in_context(judgement: Judgement) -> None:
    """Private-host-only candidates are the root cause when ICE failed (an error then), the one thing to
    say about a call that otherwise worked (a warning), and only a note (info) when the call failed or was
    warned about for another reason: one failure, one root cause."""
    others = {f.severity for f in judgement.findings if f.id not in _FAILED_ICE}
    for finding in judgement.findings:
        if finding.id != "ANALYZE-PRIVATE-HOST-ONLY":
            continue
        if Severity.ERROR in others or (finding.severity is Severity.WARNING and Severity.WARNING in others):
            finding.severity = Severity.INFO  # e.g. TCP-only or IPv6-only: no pair was possible at all


def labels(dumps: list[InternalsDump]) -> list[list[str]]:
    """The report label of every peer connection (prefixed with the file when several files are read)."""
    several = len(dumps) > 1
    return [[f"{d.source}: pc {pc.key}" if several else f"pc {pc.key}" for pc in d.peer_connections]
            for d in dumps]


def summarize_all(dumps: list[InternalsDump]) -> list[PcSummary]:
    return [summarize(pc, label, d.timestamp_ms) for d, names in zip(dumps, labels(dumps), strict=True)
            for pc, label in zip(d.peer_connections, names, strict=True)]


def judge(dumps: list[InternalsDump], summaries: list[PcSummary] | None = None, *,
          alone: bool = True) -> Judgement:
    """Every rule over every dump: one finding per root cause, a step per connection x stage. ``alone``:
    the dumps are all the evidence (``rtcdiag analyze``), so dumps with nothing to judge are inconclusive;
    ``rtcdiag browser`` passes False (its page's own records stand beside its dump). ``summaries``: those of
    :func:`summarize_all` when the caller already made them (they are the costly part of a big dump)."""
    judgement = Judgement(facts=Facts())
    summaries = summarize_all(dumps) if summaries is None else summaries
    failed_urls = _server_findings(summaries, judgement)
    by_ufrag = local_ufrags(summaries)
    for s in summaries:
        subject = _pc_subject(s)
        signaling_failed = _signaling(s, subject, judgement)
        if s.pc.sdp_only:
            for step in ("gathering", "ice", "dtls"):
                judgement.steps.append(StepOutcome(subject, CHECK, step, StepState.SKIPPED,
                                                   detail="SDP files only: no ICE or DTLS events"))
            continue
        _gathering(s, subject, judgement, failed_urls)
        _ice(s, subject, judgement, signaling_failed, failed_urls, by_ufrag)
        _dtls(s, subject, judgement, by_ufrag)
    several = len(dumps) > 1
    for d in dumps:
        label = f"{d.source}: getUserMedia" if several else "getUserMedia"
        _get_user_media(d.get_user_media, label, judgement)
    _private_hosts_in_context(judgement)
    sources = [d.source for d in dumps]
    if alone and not any(e.error for d in dumps for e in d.get_user_media) and \
            not any(has_evidence(s) for s in summaries):
        # An empty dump, connections that never did anything (created and left "new"; what a file of another
        # shape read as getStats looks like), or only getUserMedia calls that succeeded (Chromium drops the
        # connections a page closed from webrtc-internals): nothing a verdict about a call can rest on, never
        # a pass. Beside another file that holds the call, it changes nothing (Facts.blank).
        judgement.facts.blank += sources
        gum = sum(1 for d in dumps for e in d.get_user_media if e.audio is not None or e.video is not None)
        detail = (f"no peer connection; {gum} getUserMedia request(s), none failed" if not summaries and gum
                  else "no peer connection and no getUserMedia call" if not summaries else
                  f"{len(summaries)} peer connection(s) without a candidate, a description or a state past "
                  "\"new\": nothing to judge")
        judgement.steps.append(StepOutcome(Subject("dump"), CHECK, "read", StepState.UNDECIDED,
                                           detail=detail))
    else:
        judgement.facts.judged += sources
    return judgement


def has_evidence(s: PcSummary) -> bool:
    """Does this connection hold anything a verdict can rest on: a candidate, an error, a description, a
    selected pair, or a state past its initial one?"""
    return bool(s.candidates or s.errors or s.failures or s.add_candidate_failures or s.local_set
                or s.remote_set or s.pc.sdp_only or s.selected is not None
                or any(t.state not in ("new", "stable", "closed") for t in s.timeline))

