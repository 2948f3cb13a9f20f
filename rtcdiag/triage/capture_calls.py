"""Judge the calls of a capture: ICE, DTLS and media per ICE session (the facts of
:mod:`rtcdiag.evidence.ice_session`), so that one call is one statement whatever paths it took (a
TURN client's relayed flow, coturn's relay-to-relay leg, the other client's relayed flow; IPv6 one way
and IPv4 the other). Pure, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rtcdiag.evidence.capture import CaptureSummary, Flow
from rtcdiag.evidence.dtls import ENCRYPTED_ALERT_SIZE, DtlsVersion
from rtcdiag.evidence.ice_session import MIN_APPLICATION_RECORDS, IceAgent, IceSession
from rtcdiag.evidence.kinds import Kind
from rtcdiag.evidence.observation import Observation
from rtcdiag.triage import ids
from rtcdiag.triage.capture_findings import CaptureFindings, host_of, packets, when

MIN_UNANSWERED_CHECKS = 3  # check packets, retransmissions included; fewer: maybe a pruned pair (RFC 8445 §8)
MIN_ONE_WAY_RTP = 50  # RTP packets one way before "media one way" is said
CONSENT_TIMEOUT_S = 30.0  # RFC 7675 §5.1: no consent response for 30 s ends the session
# Browsers give a path up before RFC 7675's 30 s: Chromium 156 failed a host pair 17 s after its last answer
# in tests/integration/test_analyze_capture_calls.py. Unanswered this long (RFC 7675 §5.1 asks for a
# response every ~5 s), the call is lost whether or not the capture reaches 30 s.
LOST_AFTER_S = 15.0
# Silent this long, but less than LOST_AFTER_S, at the end of the capture: the path was broken when the
# capture stopped, whether the call recovered is not in it (a warning, not a failure)
MIN_UNANSWERED_AT_END_S = 5.0
STILL_CHECKING_S = 5.0  # an agent whose last check is this close to the end was still checking
# ICE answered this long after the ServerHello with nothing over DTLS: a working session's first records
# (SCTP's INIT, RFC 8261 §6; SRTP, RFC 5764) follow the handshake within a round trip or two
MIN_AFTER_HANDSHAKE_S = 2.0
# ICE answered this long with not one DTLS record: a ClientHello follows ICE's first success at once and is
# sent again after 1 s (RFC 9147 §5.8.2, RFC 6347 §4.2.4.1)
NO_DTLS_S = 3.0


@dataclass
class CallCounts:
    """How many calls each step judged (for the step lines) and the DTLS versions seen."""

    ice: int = 0
    dtls: int = 0
    media: int = 0
    versions: list[str] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)  # calls the capture cannot judge, and why


def judge_calls(s: CaptureSummary, out: CaptureFindings, stopped_clients: set[str]) -> CallCounts:
    counts = CallCounts()
    for session in s.sessions:
        if any(a.checks_sent.count for a in session.agents):
            counts.ice += 1
            _ice(s, session, out, stopped_clients)
        if any(a.dtls.records for a in session.agents):
            counts.dtls += 1
            version = session.version
            if version is not DtlsVersion.UNKNOWN and version.value not in counts.versions:
                counts.versions.append(version.value)
            _dtls(s, session, out, counts)
        elif not session.media:
            _no_dtls(s, session, out)
        if session.media:
            counts.media += 1
            _media(s, session, out)
    return counts


def _flows(session: IceSession) -> list[str]:
    return [f.label for f in session.flows]


def _where(session: IceSession, flow: Flow | None) -> str:
    return flow.label if flow is not None else session.label


def _add(out: CaptureFindings, fid: str, step: str, session: IceSession, host: str, evidence: list[str],
         **params: Any) -> None:
    out.add(fid, step, session.label, host, evidence, flows=_flows(session), ice=session.key, **params)


def _endpoint(agent: IceAgent) -> str:
    return agent.address


# ---- ICE: per agent over every path of the call ---------------------------------------------------------

def _ice(s: CaptureSummary, session: IceSession, out: CaptureFindings, stopped: set[str]) -> None:
    lost: list[IceAgent] = []
    fading: list[IceAgent] = []
    never: list[IceAgent] = []
    for agent in session.agents:
        late = agent.late_unanswered
        if agent.checks_answered.count and late.count >= MIN_UNANSWERED_CHECKS:
            # it went on checking, unanswered, this long: a peer that hung up leaves the other side a few
            # unanswered checks before it closes too, not 15 s of them
            if late.last_time - agent.last_answered >= LOST_AFTER_S:
                lost.append(agent)
            elif (s.last_time - agent.last_answered >= MIN_UNANSWERED_AT_END_S
                  and s.last_time - agent.last_check <= STILL_CHECKING_S):
                fading.append(agent)
        elif agent.checks_unanswered.count >= MIN_UNANSWERED_CHECKS:
            never.append(agent)
    # a relay that stopped: CAPTURE-TURN-SERVER-STOPPED is the root cause of its call's silence
    relay_stopped = any(f.transport.startswith("relayed") and f.a in stopped for f in session.flows)
    if (lost or fading) and not relay_stopped:
        hung_up = _hung_up(s, session, lost or fading)
        if hung_up is not None:
            _peer_hung_up(s, session, out, lost or fading, hung_up)
        else:
            _consent(s, session, out, lost or fading, final=bool(lost))
    for agent in never[:1]:  # the call's checks never answered: said once, naming both ends
        other = session.other(agent)
        obs = agent.checks_unanswered
        receiver = _endpoint(other) if other is not None else "?"
        evidence = [f"{session.label}: checks from {agent.label} unanswered: packets {packets(obs)} "
                    f"(first {when(s, obs.first_time)})"]
        if other is not None and other.checks_answered.count:
            _add(out, ids.CAPTURE_ICE_ONE_WAY, "ice", session, host_of(receiver), evidence,
                 sender=_endpoint(agent), receiver=receiver, peer_checks=other.checks_sent.count,
                 count=obs.count, packets=packets(obs), when=when(s, obs.first_time))
        else:
            if len(never) > 1:
                evidence.append(f"and the {never[1].checks_unanswered.count} check packet(s) from "
                                f"{never[1].label} the other way: none answered either")
            _add(out, ids.CAPTURE_ICE_NO_RESPONSE, "ice", session, host_of(receiver), evidence,
                 sender=_endpoint(agent), receiver=receiver, count=obs.count, packets=packets(obs),
                 when=when(s, obs.first_time))


HANG_UP_S = 5.0  # a deallocation this close to the last answered check is why the answers stopped


def _hung_up(s: CaptureSummary, session: IceSession,
             agents: list[IceAgent]) -> tuple[Flow, int, float] | None:
    """The other end's TURN allocation deleted (a Refresh with LIFETIME 0 answered, RFC 8656 §7.2) when the
    answers stopped: its browser closed the connection (a hang-up; DTLS 1.3 encrypts the close_notify that
    says so), not a path that broke. (Its TURN client flow, the Refresh's packet and time.)"""
    agent = min(agents, key=lambda a: a.last_answered)
    other = session.other(agent)
    if other is None or not other.turn_clients:
        return None
    for flow in s.flows:
        if flow.allocate_forward is None:
            continue
        client = flow.b if flow.allocate_forward is False else flow.a
        if client not in other.turn_clients:
            continue
        for allocation in flow.allocations:
            when_deleted = next((t for n, t, _ in allocation.refreshes if n == allocation.deleted), None)
            if allocation.deleted and when_deleted is not None and \
                    abs(when_deleted - agent.last_answered) <= HANG_UP_S:
                return flow, allocation.deleted, when_deleted
    return None


def _peer_hung_up(s: CaptureSummary, session: IceSession, out: CaptureFindings, agents: list[IceAgent],
                  hung_up: tuple[Flow, int, float]) -> None:
    agent = min(agents, key=lambda a: a.last_answered)
    other = session.other(agent)
    flow, packet, at = hung_up
    late = agent.late_unanswered
    evidence = [f"{flow.label}: Refresh LIFETIME 0 answered (the allocation deleted): packet {packet} at "
                f"{when(s, at)}",
                f"{_where(session, agent.checks_flow)}: checks from {agent.label} answered until "
                f"{when(s, agent.last_answered)}, then {late.count} check packet(s) unanswered: packets "
                f"{packets(late)}"]
    _add(out, ids.CAPTURE_ICE_PEER_HUNG_UP, "ice", session, host_of(_endpoint(agent)), evidence,
         sender=_endpoint(agent), receiver=_endpoint(other) if other is not None else "?",
         turn_client=flow.b if flow.allocate_forward is False else flow.a, packet=packet, when=when(s, at),
         count=late.count, after=f"{s.last_time - agent.last_answered:.0f}")


def _consent(s: CaptureSummary, session: IceSession, out: CaptureFindings, agents: list[IceAgent],
             final: bool) -> None:
    agent = min(agents, key=lambda a: a.last_answered)
    other = session.other(agent)
    late = agent.late_unanswered
    receiver = _endpoint(other) if other is not None else "?"
    evidence = [f"{_where(session, a.checks_flow)}: checks from {a.label} answered until "
                f"{when(s, a.last_answered)}, then {a.late_unanswered.count} check packet(s) unanswered: "
                f"packets {packets(a.late_unanswered)}" for a in agents]
    if other is not None and other not in agents and other.checks_sent.count:
        evidence.append(f"{other.label}: its last check at {when(s, other.last_check)}")
    fid = ids.CAPTURE_ICE_CONSENT_LOST if final else ids.CAPTURE_ICE_UNANSWERED_AT_END
    _add(out, fid, "ice", session, host_of(receiver), evidence, sender=_endpoint(agent), receiver=receiver,
         last_answered=when(s, agent.last_answered), count=late.count, packets=packets(late),
         when=when(s, late.first_time), after=f"{s.last_time - agent.last_answered:.0f}")


# ---- DTLS: the handshake of the call, whichever paths its two directions took ----------------------------

def _no_dtls(s: CaptureSummary, session: IceSession, out: CaptureFindings) -> None:
    """ICE connected both ways, the capture holds its start, and for NO_DTLS_S not one DTLS record (nor
    media) crossed on any path of the call: neither end sent a ClientHello."""
    if len(session.agents) < 2 or not all(a.ufrag and a.checks_answered.count for a in session.agents):
        return
    if not any(a.began_in_capture for a in session.agents):
        return  # only consent checks: the capture may have started mid-call (an idle data channel)
    if any(f.malformed.count or f.kinds.get(Kind.OTHER) for f in session.flows):
        return  # the ends exchange something else over ICE (no DTLS by design: not a WebRTC call)
    first = min(a.checks_answered.first_time for a in session.agents)
    last = max(a.last_answered for a in session.agents)
    if last - first < NO_DTLS_S:
        return
    evidence = [f"{_where(session, a.checks_flow)}: checks from {a.label} answered from "
                f"{when(s, a.checks_answered.first_time)} to {when(s, a.last_answered)} "
                f"({a.checks_answered.count} answer(s)): packets {packets(a.checks_answered)}"
                for a in session.agents]
    evidence.append(f"no DTLS record and no RTP/RTCP on {len(session.flows)} flow(s) of the call")
    _add(out, ids.CAPTURE_DTLS_NOT_STARTED, "dtls", session, host_of(_endpoint(session.agents[-1])), evidence,
         when=when(s, first), seconds=f"{last - first:.0f}",
         answered=" and ".join(str(a.checks_answered.count) for a in session.agents))


def _dtls(s: CaptureSummary, session: IceSession, out: CaptureFindings, counts: CallCounts) -> None:
    agents = session.agents
    client = session.dtls_client
    hellos = [a for a in agents if a.dtls.client_hello.count]
    answered = any(a.dtls.server_hello.count or a.dtls.hello_retry.count for a in agents)
    alerts = [a for a in agents if a.dtls.alerts.count]
    encrypted_alerts = [a for a in agents if a.dtls.encrypted_alerts.count]
    version = session.version
    conflict = len(hellos) == 2 and not answered
    if conflict:
        both = Observation()
        for agent in sorted(hellos, key=lambda a: a.dtls.client_hello.first_time):
            for n in agent.dtls.client_hello.numbers[:4]:
                both.add(n, agent.dtls.client_hello.first_time)
        evidence = [f"{_where(session, a.dtls_flows.get('client_hello'))}: ClientHello from {a.label}: "
                    f"packets {packets(a.dtls.client_hello)}" for a in hellos]
        for agent in alerts:
            # A DTLS client that gets a ClientHello aborts with an alert (Chromium: fatal
            # unexpected_message): the conflict's consequence, said in its evidence, not a second cause.
            evidence.append(f"{_where(session, agent.dtls_flows.get('alerts'))}: then "
                            f"{agent.dtls.alerts.detail} from {agent.label}: packets "
                            f"{packets(agent.dtls.alerts)}")
        _add(out, ids.CAPTURE_DTLS_ROLE_CONFLICT, "dtls", session, host_of(_endpoint(hellos[1])), evidence,
             packets=packets(both), when=when(s, both.first_time))
    elif client is not None and not answered and not alerts \
            and s.last_time - client.dtls.client_hello.first_time >= 1.0:
        obs = client.dtls.client_hello
        _add(out, ids.CAPTURE_DTLS_NO_SERVERHELLO, "dtls", session, host_of(_endpoint(client)),
             [f"{_where(session, client.dtls_flows.get('client_hello'))}: ClientHello from {client.label} "
              f"without a ServerHello from the other end on any path of the call: packets {packets(obs)} "
              f"(first {when(s, obs.first_time)})"],
             sender=_endpoint(client), count=obs.count, packets=packets(obs), when=when(s, obs.first_time))
    readable = [a for a in alerts if "close_notify" not in a.dtls.alerts.detail]
    if not conflict and (readable or (encrypted_alerts and not session.established)):
        shown = readable or encrypted_alerts
        first = min(shown, key=lambda a: (a.dtls.alerts if readable else a.dtls.encrypted_alerts).first_time)
        name = "alerts" if readable else "encrypted_alerts"
        obs = getattr(first.dtls, name)
        evidence = [f"{_where(session, a.dtls_flows.get(name))}: {getattr(a.dtls, name).detail} from "
                    f"{a.label}: packets {packets(getattr(a.dtls, name))}" for a in shown]
        _add(out, ids.CAPTURE_DTLS_ALERT, "dtls", session, host_of(_endpoint(first)), evidence,
             alert=obs.detail + ("" if readable else " (DTLS 1.2: after ChangeCipherSpec, which alert is "
                                 "encrypted)"), count=sum(len(e) > 0 for e in evidence),
             packets=packets(obs), when=when(s, obs.first_time))
    elif not alerts and not encrypted_alerts:
        _nothing_after(s, session, out, version, counts)


def _media_both_ways(session: IceSession) -> bool:
    return len(session.agents) == 2 and all(a.rtp or a.rtcp for a in session.agents)


def _nothing_after(s: CaptureSummary, session: IceSession, out: CaptureFindings,
                   version: DtlsVersion, counts: CallCounts) -> None:
    """The handshake began (a ClientHello answered by a ServerHello) and ICE kept answering, yet DTLS never
    carried data both ways (DTLS 1.2: not one application_data record; DTLS 1.3: fewer than
    MIN_APPLICATION_RECORDS application-epoch records from one end) and no SRTP (RFC 5764) flowed both ways
    (a client sends its first SRTP packet before it hears whether the server accepted it).

    When ICE did not go on that long the capture cannot tell: the call ended (a refusal, which DTLS 1.3
    encrypts, or a hang-up) or the capture did: undecided, never a pass."""
    hello = session.server_hello
    if hello is None or session.established or _media_both_ways(session):
        return
    answered = max((a.last_answered for a in session.agents), default=0.0)
    if answered - hello.first_time < MIN_AFTER_HANDSHAKE_S:
        if s.last_time - hello.first_time < MIN_AFTER_HANDSHAKE_S:
            why = f"the capture ends {s.last_time - hello.first_time:.1f} s after its DTLS ServerHello"
        else:
            why = (f"its ICE checks stopped being answered {max(0.0, answered - hello.first_time):.1f} s "
                   "after its DTLS ServerHello")
        counts.undecided.append(
            f"{session.label}: DTLS handshake ({version}, ServerHello packet {packets(hello)}), then no "
            f"data both ways; {why}: a refusal (encrypted in DTLS 1.3) or a hang-up, this capture cannot "
            "tell")
        return
    client = session.dtls_client
    if version is DtlsVersion.DTLS_1_3:
        parts = []
        for agent in session.agents:
            app = agent.dtls.application
            sizes = ", ".join(str(n) for n in agent.dtls.application_sizes[:4])
            shown = f" ({sizes} bytes{_alert_size(agent.dtls.application_sizes)})" if app.count else ""
            parts.append(f"{app.count} record(s) in the application epoch from {agent.label}{shown}")
        followed = ("then no data both ways: " + "; ".join(parts) + " (DTLS 1.3 encrypts data, ACKs and "
                    "alerts alike; a session that carries data sends more than that each way)")
        alert_note = "DTLS 1.3 encrypts alerts, so a refusal is not readable in a capture"
    else:
        followed = "then not one DTLS application-data record"
        alert_note = "without an alert on the wire"
    evidence = [f"{_where(session, a.dtls_flows.get('server_hello'))}: DTLS ServerHello from {a.label} "
                f"(packet {a.dtls.server_hello.numbers[0]}, {version})"
                for a in session.agents if a.dtls.server_hello.numbers]
    evidence += [f"{_where(session, a.dtls_flows.get('application'))}: {a.dtls.application.count} "
                 f"application record(s) from {a.label}" for a in session.agents if a.dtls.application.count]
    hello_numbers = client.dtls.client_hello.numbers if client is not None else []
    rtp = [(a, a.rtp + a.rtcp) for a in session.agents if a.rtp or a.rtcp]
    media = ("no SRTP" if not rtp else "SRTP one way only: " + ", ".join(
        f"{n} packet(s) from {a.label}" for a, n in rtp))
    _add(out, ids.CAPTURE_DTLS_NOTHING_AFTER_HANDSHAKE, "dtls", session,
         host_of(_endpoint(session.agents[-1])),
         evidence, client_hello=hello_numbers[0] if hello_numbers else "-",
         server_hello=hello.numbers[0] if hello.numbers else "-", when=when(s, hello.first_time),
         after=f"{answered - hello.first_time:.1f}", version=version.value, followed=followed,
         alert_note=alert_note, min_records=MIN_APPLICATION_RECORDS, media=media)


def _alert_size(sizes: list[int]) -> str:
    if ENCRYPTED_ALERT_SIZE in sizes[:4]:
        return f"; {ENCRYPTED_ALERT_SIZE} bytes is the size of an encrypted alert, or of a little data"
    return ""


# ---- media ---------------------------------------------------------------------------------------------

def _media(s: CaptureSummary, session: IceSession, out: CaptureFindings) -> None:
    for agent in session.agents:
        other = session.other(agent)
        if other is None or agent.rtp < MIN_ONE_WAY_RTP or other.rtp or other.rtcp:
            continue
        first = min((f.first_number for f in session.flows), default=0)
        _add(out, ids.CAPTURE_MEDIA_ONE_WAY, "media", session, host_of(_endpoint(other)),
             [f"{session.label}: {agent.rtp} RTP packets from {agent.label}, none (and no RTCP) from "
              f"{other.label}"], sender=_endpoint(agent), receiver=_endpoint(other), sent=agent.rtp,
             packets=first)
        return
