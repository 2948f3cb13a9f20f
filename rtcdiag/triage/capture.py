"""Judge a packet capture: the facts of :mod:`rtcdiag.evidence.capture` -> findings with packet numbers.

Pure, no I/O. One step per area (read, turn, ice, dtls, media) about the capture file. A root cause is
said once: a 401 loop explains that nothing was relayed, so no "no data back" is added for that flow.
"""

from __future__ import annotations

import time as _time
from typing import Any, Protocol

from rtcdiag.evidence.capture import CaptureSummary, Flow, Kind, Observation
from rtcdiag.triage.finding import Subject, make_finding
from rtcdiag.triage.judgement import Facts, Judgement, StepOutcome, StepState

CHECK = "analyze"
STEPS = ("read", "turn", "ice", "dtls", "media")
MIN_UNANSWERED_CHECKS = 3  # check packets, retransmissions included; fewer: maybe a pruned pair (RFC 8445 §8)
MIN_ONE_WAY_RTP = 50  # RTP packets one way before "media one way" is said
MIN_NO_DATA_SENT = 2


class _Find(Protocol):  # the signature of _judge_one's ``find``
    def __call__(self, fid: str, step: str, flow: Flow, host: str, evidence: list[str],
                 **params: Any) -> None: ...


def when(summary: CaptureSummary, t: float) -> str:
    """Capture time as UTC plus the offset from the first packet."""
    stamp = _time.strftime("%H:%M:%S", _time.gmtime(t)) + f".{int((t % 1) * 1000):03d}"
    return f"{stamp} UTC (+{max(0.0, t - summary.first_time):.3f} s)"


def packets(obs: Observation) -> str:
    shown = ", ".join(str(n) for n in obs.numbers[:8])
    return shown + (", ..." if obs.count > len(obs.numbers[:8]) else "")


def _server(flow: Flow) -> str:
    """The TURN server's side of a client <-> server flow (the side that did not send Allocate)."""
    if flow.allocate_forward is False:
        return flow.a
    return flow.b


def _client(flow: Flow) -> str:
    return flow.b if flow.allocate_forward is False else flow.a


def _host(endpoint: str) -> str:
    return endpoint.rsplit(":", 1)[0].strip("[]")


def _evidence(summary: CaptureSummary, flow: Flow, obs: Observation, what: str) -> list[str]:
    return [f"{flow.label}: {what}: packets {packets(obs)} (first {when(summary, obs.first_time)})"]


def judge(summaries: list[CaptureSummary]) -> Judgement:
    judgement = Judgement(facts=Facts())
    for summary in summaries:
        _judge_one(summary, judgement)
    return judgement


def _judge_one(s: CaptureSummary, j: Judgement) -> None:
    subject = Subject(server=s.source)
    counts = {step: 0 for step in STEPS}

    def find(fid: str, step: str, flow: Flow, host: str, evidence: list[str], **params: Any) -> None:
        counts[step] += 1
        j.findings.append(make_finding(fid, Subject(server=s.source, host=host), check=CHECK, step=step,
                                       evidence=evidence, file=s.source, flow=flow.label, **params))

    turn_flows = ice_flows = dtls_flows = media_flows = 0
    stopped: set[str] = set()  # TURN clients whose server stopped answering mid-call
    for flow in s.flows:
        if flow.allocate_forward is not None:
            turn_flows += 1
            if _turn(s, flow, find):
                stopped.add(_client(flow))
        if any(o.count for o in flow.ice_sent):
            ice_flows += 1
            _ice(s, flow, find, stopped)
        if any(o.count for o in flow.client_hello) or flow.alerts.count:
            dtls_flows += 1
            _dtls(s, flow, find)
        if flow.kinds.get(Kind.RTP) or flow.kinds.get(Kind.RTCP):
            media_flows += 1
            _media(s, flow, find)
    turn_flows += _tls_turn(s, find)
    webrtc = sum(1 for f in s.flows if any(k in f.kinds for k in (Kind.STUN, Kind.CHANNEL_DATA, Kind.DTLS,
                                                                    Kind.RTP, Kind.RTCP)))
    read_detail = f"{s.packets} packet(s), {len(s.flows)} flow(s) ({s.format})"
    if s.truncated:
        read_detail += f"; cut short: analyzed up to packet {s.packets}"
    if not webrtc:
        j.findings.append(make_finding("CAPTURE-NO-WEBRTC", subject, check=CHECK, step="read", file=s.source,
                                       packets=s.packets))
        j.facts.inconclusive = True
        j.steps.append(StepOutcome(subject, CHECK, "read", StepState.UNDECIDED, detail=read_detail))
        for step in STEPS[1:]:
            j.steps.append(StepOutcome(subject, CHECK, step, StepState.SKIPPED, detail="no WebRTC traffic"))
        return
    j.steps.append(StepOutcome(subject, CHECK, "read", detail=read_detail))
    for step, n, what in (("turn", turn_flows, "TURN client flow(s)"), ("ice", ice_flows, "flow(s) with ICE "
                          "checks"), ("dtls", dtls_flows, "flow(s) with DTLS"), ("media", media_flows,
                          "flow(s) with RTP/RTCP")):
        if n:
            detail = f"{n} {what}" + (f", {counts[step]} finding(s)" if counts[step] else "")
            j.steps.append(StepOutcome(subject, CHECK, step, detail=detail))
        else:
            j.steps.append(StepOutcome(subject, CHECK, step, StepState.SKIPPED, detail=f"no {what}"))


def _turn(s: CaptureSummary, flow: Flow, find: _Find) -> bool:
    """The TURN findings of a client <-> server flow; True when the server stopped answering mid-call."""
    server, client = _server(flow), _client(flow)
    host = _host(server)
    refused = False
    if flow.auth_401.count:
        refused = True
        user = flow.auth_401.detail.split(" user ", 1)[1] if " user " in flow.auth_401.detail else "(none)"
        find("CAPTURE-TURN-401-LOOP", "turn", flow, host,
             _evidence(s, flow, flow.auth_401, "401 to authenticated requests"), server=server,
             method=flow.auth_401.detail.split(" ", 1)[0], count=flow.auth_401.count,
             packets=packets(flow.auth_401), when=when(s, flow.auth_401.first_time), user=user)
    if flow.stale_438.count >= 2:
        refused = True
        find("CAPTURE-TURN-438-LOOP", "turn", flow, host, _evidence(s, flow, flow.stale_438, "438"),
             server=server, count=flow.stale_438.count, packets=packets(flow.stale_438),
             when=when(s, flow.stale_438.first_time))
    if flow.forbidden_403.count:
        detail = flow.forbidden_403.detail
        peer = detail.rsplit(" peer ", 1)[1] if " peer " in detail else "(unknown)"
        reason = (detail.split(" 403 ", 1)[1].split(" user ", 1)[0].split(" peer ", 1)[0]
                  if " 403 " in detail else "")
        find("CAPTURE-TURN-403-PEER", "turn", flow, host, _evidence(s, flow, flow.forbidden_403, detail),
             server=server, peer=peer, method=detail.split(" ", 1)[0], reason=reason,
             count=flow.forbidden_403.count, packets=packets(flow.forbidden_403),
             when=when(s, flow.forbidden_403.first_time))
    for fid, obs in (("CAPTURE-TURN-486", flow.quota_486), ("CAPTURE-TURN-508", flow.capacity_508)):
        if obs.count:
            refused = True
            detail = obs.detail
            user = detail.split(" user ", 1)[1] if " user " in detail else "(none)"
            reason = detail.split(" ", 2)[2].split(" user ", 1)[0] if detail.count(" ") >= 2 else ""
            find(fid, "turn", flow, host, _evidence(s, flow, obs, detail), server=server, reason=reason,
                 count=obs.count, packets=packets(obs), when=when(s, obs.first_time), user=user)
    if flow.mismatch_437.count and not _expired_before(s, flow, flow.mismatch_437.first_time):
        obs = flow.mismatch_437
        method = obs.detail.split(" ", 1)[0]
        reason = obs.detail.split(" 437 ", 1)[1].split(" user ", 1)[0] if " 437 " in obs.detail else ""
        find("CAPTURE-TURN-437", "turn", flow, host, _evidence(s, flow, obs, obs.detail), server=server,
             method=method, reason=reason, count=obs.count, packets=packets(obs),
             when=when(s, obs.first_time),
             explanation=_MISMATCH_ALLOCATE if method == "Allocate" else _MISMATCH_OTHER)
        refused = True
    if flow.unanswered_turn.count and not flow.methods and flow.count(Kind.STUN, flow.allocate_forward
                                                                        is False) == 0:
        obs = flow.unanswered_turn
        find("CAPTURE-TURN-UNANSWERED", "turn", flow, host, _evidence(s, flow, obs, "unanswered"),
             server=server, count=obs.count, detail=obs.detail, packets=packets(obs),
             when=when(s, obs.first_time))
        refused = True
    if flow.transport == "tcp" and host not in _udp_turn_hosts(s):
        find("CAPTURE-TURN-OVER-TCP", "turn", flow, host, [f"{flow.label}: first packet {flow.first_number}"],
             server=server, transport="TCP", detail=f"from {client}, first packet {flow.first_number}")
    for alloc in flow.allocations:
        label = f"allocation {alloc.relayed} (packet {alloc.number})"
        if (not refused and alloc.sent.count >= MIN_NO_DATA_SENT and not alloc.received.count
                and s.last_time - alloc.sent.first_time >= 1.0 and not flow.forbidden_403.count):
            find("CAPTURE-TURN-NO-DATA-BACK", "turn", flow, host,
                 _evidence(s, flow, alloc.sent, f"{label}: data sent, none received"), server=server,
                 relayed=alloc.relayed, allocated=alloc.number, sent=alloc.sent.count,
                 first_sent=alloc.sent.numbers[0] if alloc.sent.numbers else "-")
        if not alloc.deleted and alloc.lifetime > 0 and s.last_time > alloc.expires + 1.0:
            last = alloc.refreshes[-1] if alloc.refreshes else None
            find("CAPTURE-TURN-REFRESH-MISSING", "turn", flow, host,
                 [f"{flow.label}: {label}, lifetime {alloc.lifetime} s, expired {when(s, alloc.expires)}, "
                  f"last packet of the capture {when(s, s.last_time)}"],
                 server=server, relayed=alloc.relayed, allocated=alloc.number, lifetime=alloc.lifetime,
                 last_refresh=f"packet {last[0]}" if last else "never",
                 expired=when(s, alloc.expires), after=f"{s.last_time - alloc.expires:.0f}")
    return not refused and _server_stopped(s, flow, find)


MIN_SILENT_PACKETS = 10  # client packets in a row without a packet from the server
MIN_SILENT_S = 5.0  # and the capture goes on this long after the server's last packet


def _server_stopped(s: CaptureSummary, flow: Flow, find: _Find) -> bool:
    """The server relayed (data came back through it), then sent nothing more while the client kept sending
    and a request the server always answers (Binding, Refresh, CreatePermission, ChannelBind: RFC 8489
    §6.3, RFC 8656 §7-11) went unanswered after its last packet: the server or the path to it stopped, not
    the peer (a peer that goes quiet leaves the server answering the client's requests)."""
    server_side = 1 if flow.allocate_forward else 0
    client_side = 1 - server_side
    last = flow.last_seen[server_side]
    unanswered = flow.unanswered_turn
    if not (flow.allocations and any(a.received.count for a in flow.allocations)
            and not all(a.deleted for a in flow.allocations)
            and flow.unreplied[client_side] >= MIN_SILENT_PACKETS and unanswered.count
            and unanswered.last_time > last and s.last_time - last >= MIN_SILENT_S):
        return False
    server = _server(flow)
    find("CAPTURE-TURN-SERVER-STOPPED", "turn", flow, _host(server),
         [f"{flow.label}: last packet from {server}: packet {flow.last_number[server_side]} "
          f"({when(s, last)}); then {flow.unreplied[client_side]} packet(s) from the client without a reply, "
          f"unanswered requests: packets {packets(unanswered)} ({unanswered.detail})"],
         server=server, client=_client(flow), last_packet=flow.last_number[server_side], last=when(s, last),
         sent=flow.unreplied[client_side], after=f"{s.last_time - last:.0f}", packets=packets(unanswered),
         relayed=", ".join(a.relayed for a in flow.allocations[:4]))
    return True


# RFC 8656 §7.2: an Allocate on a 5-tuple that has an allocation, with a new transaction ID, is a 437;
# §7.3, §9, §11: Refresh, CreatePermission and ChannelBind need an allocation on their 5-tuple.
_MISMATCH_ALLOCATE = ("The 5-tuple already has an allocation and this Allocate has a new transaction ID: the "
                      "client allocated twice from the same local port (a second Allocate after the first "
                      "succeeded, or a retry with a fresh transaction ID instead of a retransmission).")
_MISMATCH_OTHER = ("The server has no allocation for this 5-tuple: it was deleted or expired, the server "
                   "restarted, or a NAT gave the client a new public port, so its requests now come from a "
                   "5-tuple the server does not know.")


def _expired_before(s: CaptureSummary, flow: Flow, t: float) -> bool:
    """An allocation of ``flow`` ran out before ``t`` (CAPTURE-TURN-REFRESH-MISSING says so: a 437 after it is
    its consequence, not a second root cause)."""
    return any(not a.deleted and a.lifetime > 0 and a.expires < t and s.last_time > a.expires + 1.0
               for a in flow.allocations)


TURNS_PORTS = (5349, 443)  # turns: default port (RFC 8656 §3.1, RFC 7350) and the firewall-friendly one


def _udp_turn_hosts(s: CaptureSummary) -> set[str]:
    """TURN servers to which a UDP Allocate succeeded in this capture."""
    return {_host(_server(f)) for f in s.flows if f.transport == "udp" and f.allocations}


def _tls_turn(s: CaptureSummary, find: _Find) -> int:
    """TLS over TCP to a port that also answered STUN/TURN in this capture's hosts, or to 5349/443 while
    the capture has TURN traffic: the client uses turns:. One finding per server endpoint."""
    turn_hosts = {_host(_server(f)) for f in s.flows if f.allocate_forward is not None}
    udp_hosts = _udp_turn_hosts(s)
    seen: set[str] = set()
    for flow in s.flows:
        if not flow.tls or flow.transport != "tcp":
            continue
        server = flow.b if flow.count(Kind.TLS, True) else flow.a  # the side that got the ClientHello
        port = int(server.rsplit(":", 1)[1])
        if server in seen or not turn_hosts or (_host(server) not in turn_hosts and port not in TURNS_PORTS):
            continue
        if _host(server) in udp_hosts:
            continue  # the client also has a UDP allocation there: TLS is not a fallback
        seen.add(server)
        find("CAPTURE-TURN-OVER-TCP", "turn", flow, _host(server),
             [f"{flow.label}: TLS handshake at packet {flow.first_number}"], server=server, transport="TLS",
             detail=f"a TLS connection to {server}, a host that serves TURN in this capture, first packet "
                    f"{flow.first_number}")
    return len(seen)


CONSENT_TIMEOUT_S = 30.0  # RFC 7675 §5.1: no consent response for 30 s ends the session


def _ice(s: CaptureSummary, flow: Flow, find: _Find, stopped_clients: set[str]) -> None:
    for side in (0, 1):
        sender, receiver = (flow.a, flow.b) if side == 0 else (flow.b, flow.a)
        unanswered = flow.ice_unanswered[side]
        answered = flow.ice_answered[side]
        late = flow.ice_late[side]  # the unanswered checks sent after the last answer
        if (answered.count and late.count >= MIN_UNANSWERED_CHECKS
                and s.last_time - answered.last_time >= CONSENT_TIMEOUT_S):
            if flow.transport.startswith("relayed") and flow.a in stopped_clients:
                continue  # the relay carrying it stopped: CAPTURE-TURN-SERVER-STOPPED is the root cause
            find("CAPTURE-ICE-CONSENT-LOST", "ice", flow, _host(receiver),
                 _evidence(s, flow, late, f"checks from {sender} unanswered"),
                 sender=sender, receiver=receiver, last_answered=when(s, answered.last_time),
                 count=late.count, packets=packets(late), when=when(s, late.first_time),
                 after=f"{s.last_time - answered.last_time:.0f}")
            continue
        if not unanswered.count or answered.count:
            continue
        if unanswered.count < MIN_UNANSWERED_CHECKS:
            continue
        other = 1 - side
        if flow.ice_sent[other].count:
            find("CAPTURE-ICE-ONE-WAY", "ice", flow, _host(receiver),
                 _evidence(s, flow, unanswered, f"checks from {sender} unanswered"), sender=sender,
                 receiver=receiver, peer_checks=flow.ice_sent[other].count, count=unanswered.count,
                 packets=packets(unanswered), when=when(s, unanswered.first_time))
        else:
            find("CAPTURE-ICE-NO-RESPONSE", "ice", flow, _host(receiver),
                 _evidence(s, flow, unanswered, f"checks from {sender} unanswered"), sender=sender,
                 receiver=receiver, count=unanswered.count, packets=packets(unanswered),
                 when=when(s, unanswered.first_time))


def _dtls(s: CaptureSummary, flow: Flow, find: _Find) -> None:
    hellos, servers = flow.client_hello, flow.server_hello
    answered = servers[0].count or servers[1].count
    conflict = bool(hellos[0].count and hellos[1].count and not answered)
    if conflict:
        both = Observation()
        for obs in sorted(hellos, key=lambda o: o.first_time):  # the first sender's hellos first
            for n in obs.numbers[:4]:
                both.add(n, obs.first_time)
        evidence = _evidence(s, flow, both, "ClientHello from both sides")
        if flow.alerts.count:
            # A DTLS client that gets a ClientHello aborts with an alert (Chromium: fatal
            # unexpected_message): the conflict's consequence, said in its evidence, not a second cause.
            evidence += _evidence(s, flow, flow.alerts, f"then {flow.alerts.detail}")
        find("CAPTURE-DTLS-ROLE-CONFLICT", "dtls", flow, _host(flow.b), evidence, packets=packets(both),
             when=when(s, both.first_time))
    elif not flow.alerts.count:  # an alert answers a ClientHello too (CAPTURE-DTLS-ALERT says it)
        for side in (0, 1):
            sender = flow.a if side == 0 else flow.b
            if hellos[side].count and not servers[1 - side].count and \
                    s.last_time - hellos[side].first_time >= 1.0:
                find("CAPTURE-DTLS-NO-SERVERHELLO", "dtls", flow, _host(sender),
                     _evidence(s, flow, hellos[side], "ClientHello without ServerHello"), sender=sender,
                     count=hellos[side].count, packets=packets(hellos[side]),
                     when=when(s, hellos[side].first_time))
    _dtls_nothing_after(s, flow, find)
    if flow.alerts.count and "close_notify" not in flow.alerts.detail and not conflict:
        find("CAPTURE-DTLS-ALERT", "dtls", flow, _host(flow.b), _evidence(s, flow, flow.alerts, "alerts"),
             alert=flow.alerts.detail, count=flow.alerts.count, packets=packets(flow.alerts),
             when=when(s, flow.alerts.first_time))


MIN_AFTER_HANDSHAKE_S = 3.0  # ICE answered this long after the ServerHello with nothing over DTLS


def _dtls_nothing_after(s: CaptureSummary, flow: Flow, find: _Find) -> None:
    """The handshake ran (ClientHello answered by a ServerHello) and ICE kept answering, yet no DTLS
    application data (the data channel's SCTP, RFC 8261) and no SRTP (RFC 5764) ever followed: one side
    dropped the DTLS session after the handshake, without an alert on the wire."""
    hello = flow.server_hello[0] if flow.server_hello[0].count else flow.server_hello[1]
    if not hello.count or flow.dtls_app.count or flow.alerts.count:
        return
    if flow.kinds.get(Kind.RTP) or flow.kinds.get(Kind.RTCP):
        return
    answered = max(flow.ice_answered[0].last_time, flow.ice_answered[1].last_time)
    if answered - hello.first_time < MIN_AFTER_HANDSHAKE_S:
        return
    clients = flow.client_hello[0] if flow.client_hello[0].count else flow.client_hello[1]
    find("CAPTURE-DTLS-NOTHING-AFTER-HANDSHAKE", "dtls", flow, _host(flow.b),
         _evidence(s, flow, hello, "DTLS ServerHello, then no application data and no SRTP"),
         client_hello=clients.numbers[0] if clients.numbers else "-", server_hello=hello.numbers[0],
         when=when(s, hello.first_time), after=f"{answered - hello.first_time:.0f}")


def _media(s: CaptureSummary, flow: Flow, find: _Find) -> None:
    rtp = flow.kinds.get(Kind.RTP, [0, 0])
    rtcp = flow.kinds.get(Kind.RTCP, [0, 0])
    for side in (0, 1):
        back = 1 - side
        if rtp[side] >= MIN_ONE_WAY_RTP and not rtp[back] and not rtcp[back]:
            sender, receiver = (flow.a, flow.b) if side == 0 else (flow.b, flow.a)
            find("CAPTURE-MEDIA-ONE-WAY", "media", flow, _host(receiver),
                 [f"{flow.label}: {rtp[side]} RTP packets {sender} -> {receiver}, 0 back"],
                 sender=sender, receiver=receiver, sent=rtp[side], packets=flow.first_number)


