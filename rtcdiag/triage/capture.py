"""Judge a packet capture: the facts of :mod:`rtcdiag.evidence.capture` -> findings with packet numbers.

Pure, no I/O. One step per area (read, turn, ice, dtls, media) about the capture file. A root cause is
said once: a 401 loop explains that nothing was relayed, so no "no data back" is added for that flow; the
same refusal seen on the flows of several clients of one server is one finding
(:class:`~rtcdiag.triage.capture_findings.CaptureFindings`). ICE, DTLS and media are judged per call
(:mod:`rtcdiag.triage.capture_calls`), TLS per connection (:mod:`rtcdiag.triage.capture_tls`).
"""

from __future__ import annotations

from typing import Any, Protocol

from rtcdiag.addresses import parse_ip
from rtcdiag.evidence.capture import CaptureSummary, Flow, Kind, Observation
from rtcdiag.triage import ids
from rtcdiag.triage.capture_calls import judge_calls
from rtcdiag.triage.capture_findings import CHECK, STEPS, CaptureFindings, host_of, packets, when
from rtcdiag.triage.capture_tls import TURNS_PORTS, judge_tls, turn_hosts
from rtcdiag.triage.finding import Finding, Subject, make_finding
from rtcdiag.triage.judgement import Facts, Judgement, StepOutcome, StepState

MIN_NO_DATA_SENT = 2
_host = host_of

__all__ = ["CHECK", "STEPS", "judge", "packets", "when"]


class _Find(Protocol):  # how the TURN rules report: one finding per server and statement
    def __call__(self, fid: str, step: str, flow: Flow, host: str, evidence: list[str],
                 **params: Any) -> None: ...


def _server(flow: Flow) -> str:
    """The TURN server's side of a client <-> server flow (the side that did not send Allocate)."""
    if flow.allocate_forward is False:
        return flow.a
    return flow.b


def _client(flow: Flow) -> str:
    return flow.b if flow.allocate_forward is False else flow.a


def _evidence(summary: CaptureSummary, flow: Flow, obs: Observation, what: str) -> list[str]:
    return [f"{flow.label}: {what}: packets {packets(obs)} (first {when(summary, obs.first_time)})"]


def judge(summaries: list[CaptureSummary]) -> Judgement:
    judgement = Judgement(facts=Facts())
    for summary in summaries:
        _judge_one(summary, judgement)
    return judgement


def _judge_one(s: CaptureSummary, j: Judgement) -> None:
    subject = Subject(server=s.source)
    out = CaptureFindings(s)

    def find(fid: str, step: str, flow: Flow, host: str, evidence: list[str], **params: Any) -> None:
        # the same statement about one server (and user or peer) from several client flows is one finding
        # (a peer ACL refuses addresses, not ports: the 403s for the other client's relay ports are one)
        merge = (flow.transport, params.get("server", host), host_of(str(params.get("peer", ""))),
                 params.get("method", ""))
        out.add(fid, step, flow.label, host, evidence, merge=merge, **params)

    turn_flows = 0
    stopped: set[str] = set()  # TURN clients whose server stopped answering mid-call
    for flow in s.flows:
        if flow.allocate_forward is not None:
            turn_flows += 1
            if _turn(s, flow, find):
                stopped.add(_client(flow))
    turn_flows += _tls_turn(s, find)
    tls_findings = judge_tls(s, out)
    calls = judge_calls(s, out, stopped)
    webrtc = sum(1 for f in s.flows if any(k in f.kinds for k in (Kind.STUN, Kind.CHANNEL_DATA, Kind.DTLS,
                                                                    Kind.RTP, Kind.RTCP)))
    j.findings += out.findings()
    read_detail = f"{s.packets} packet(s), {len(s.flows)} flow(s) ({s.format})"
    if s.tls:
        read_detail += f", {len(s.tls)} TLS connection(s)"
    if s.truncated:
        read_detail += f"; cut short: analyzed up to packet {s.packets}"
    refused = _refused(s) if not webrtc and not tls_findings and not s.tls else []
    if refused:
        j.findings.append(refused_finding(s, subject, refused))
        j.facts.judged.append(s.source)
        j.steps.append(StepOutcome(subject, CHECK, "read", detail=read_detail))
        j.steps.append(StepOutcome(subject, CHECK, "turn",
                                   detail=f"{len(refused)} TCP connection(s) refused"))
        for step in STEPS[2:]:
            j.steps.append(StepOutcome(subject, CHECK, step, StepState.SKIPPED, detail="no WebRTC traffic"))
        return
    if not webrtc and not tls_findings:
        turn_tls = [c for c in s.tls if c.server_port in TURNS_PORTS or host_of(c.server) in turn_hosts(s)]
        if s.tls:
            servers = sorted({c.server for c in s.tls})
            j.findings.append(make_finding(ids.CAPTURE_TLS_ONLY, subject, check=CHECK, step="read",
                                           file=s.source, count=len(s.tls), servers=", ".join(servers[:5]),
                                           turn=len(turn_tls)))
        else:
            j.findings.append(make_finding(ids.CAPTURE_NO_WEBRTC, subject, check=CHECK, step="read",
                                           file=s.source, packets=s.packets))
        j.facts.blank.append(s.source)  # nothing of a call: inconclusive unless another file holds one
        j.steps.append(StepOutcome(subject, CHECK, "read", StepState.UNDECIDED, detail=read_detail))
        for step in STEPS[1:]:
            j.steps.append(StepOutcome(subject, CHECK, step, StepState.SKIPPED, detail="no WebRTC traffic"))
        return
    j.facts.judged.append(s.source)
    if calls.undecided:
        j.facts.inconclusive = True
        j.findings.append(make_finding(ids.CAPTURE_DTLS_UNDECIDED, subject, check=CHECK, step="dtls",
                                       evidence=calls.undecided[:10], file=s.source,
                                       count=len(calls.undecided), calls="; ".join(calls.undecided[:3])))
    j.steps.append(StepOutcome(subject, CHECK, "read", detail=read_detail))
    turn_what = f"{turn_flows} TURN client flow(s)" + (f", {len(s.tls)} TLS connection(s)" if s.tls else "")
    for step, n, what in (("turn", turn_flows + len(s.tls), turn_what),
                          ("ice", calls.ice, f"{calls.ice} call(s) with ICE checks"),
                          ("dtls", calls.dtls, f"{calls.dtls} call(s) with DTLS"),
                          ("media", calls.media, f"{calls.media} call(s) with RTP/RTCP")):
        if n or out.counts[step]:
            found = out.counts[step]
            detail = what + (f", {found} finding(s)" if found else "")
            if step == "dtls" and calls.versions:
                detail += f" ({', '.join(calls.versions)})"
            undecided = step == "dtls" and calls.undecided
            j.steps.append(StepOutcome(subject, CHECK, step,
                                       StepState.UNDECIDED if undecided and not found else StepState.DONE,
                                       detail=detail + (f"; {len(calls.undecided)} not decided"
                                                        if undecided else "")))
        else:
            what = {"turn": "TURN client flow", "ice": "call with ICE checks", "dtls": "call with DTLS",
                    "media": "call with RTP/RTCP"}[step]
            j.steps.append(StepOutcome(subject, CHECK, step, StepState.SKIPPED, detail=f"no {what}"))


def _refused(s: CaptureSummary) -> list[Flow]:
    """TCP connections the other end refused (SYN answered by RST), to addresses off this machine: a capture
    on loopback also holds the browser talking to itself (a page on http://localhost), which says nothing
    about a call's servers."""
    out = []
    for flow in s.flows:
        if flow.transport != "tcp" or not flow.refused or any(flow.octets):
            continue
        where = parse_ip(host_of(flow.b))
        if where is not None and not where.is_loopback:
            out.append(flow)
    return out


def refused_finding(s: CaptureSummary, subject: Subject, refused: list[Flow]) -> Finding:
    servers: dict[str, list[Flow]] = {}
    for flow in refused:
        servers.setdefault(flow.b, []).append(flow)
    detail = "; ".join(f"{server}: {len(flows)} attempt(s), SYN packet(s) "
                       f"{', '.join(str(f.syn_number) for f in flows[:4])}, RST packet(s) "
                       f"{', '.join(str(f.reset_number) for f in flows[:4])}"
                       for server, flows in list(servers.items())[:5])
    evidence = [f"{f.label}: SYN packet {f.syn_number}, RST packet {f.reset_number} "
                f"({when(s, f.reset_time)})" for f in refused[:10]]
    first = next(iter(servers))
    return make_finding(ids.CAPTURE_TCP_REFUSED, Subject(s.source, host_of(first)), check=CHECK, step="turn",
                        evidence=evidence, file=s.source, servers=", ".join(list(servers)[:5]),
                        count=len(refused), detail=detail, first=first)


def _turn(s: CaptureSummary, flow: Flow, find: _Find) -> bool:
    """The TURN findings of a client <-> server flow; True when the server stopped answering mid-call."""
    server, client = _server(flow), _client(flow)
    host = _host(server)
    refused = False
    if flow.auth_401.count:
        refused = True
        user = flow.auth_401.detail.split(" user ", 1)[1] if " user " in flow.auth_401.detail else "(none)"
        find(ids.CAPTURE_TURN_401_LOOP, "turn", flow, host,
             _evidence(s, flow, flow.auth_401, "401 to authenticated requests"), server=server,
             method=flow.auth_401.detail.split(" ", 1)[0], count=flow.auth_401.count,
             packets=packets(flow.auth_401), when=when(s, flow.auth_401.first_time), user=user)
    if flow.stale_438.count >= 2:
        refused = True
        find(ids.CAPTURE_TURN_438_LOOP, "turn", flow, host, _evidence(s, flow, flow.stale_438, "438"),
             server=server, count=flow.stale_438.count, packets=packets(flow.stale_438),
             when=when(s, flow.stale_438.first_time))
    if flow.forbidden_403.count:
        detail = flow.forbidden_403.detail
        peer = detail.rsplit(" peer ", 1)[1] if " peer " in detail else "(unknown)"
        reason = (detail.split(" 403 ", 1)[1].split(" user ", 1)[0].split(" peer ", 1)[0]
                  if " 403 " in detail else "")
        find(ids.CAPTURE_TURN_403_PEER, "turn", flow, host, _evidence(s, flow, flow.forbidden_403, detail),
             server=server, peer=peer, method=detail.split(" ", 1)[0], reason=reason,
             count=flow.forbidden_403.count, packets=packets(flow.forbidden_403),
             when=when(s, flow.forbidden_403.first_time))
    for fid, obs in ((ids.CAPTURE_TURN_486, flow.quota_486), (ids.CAPTURE_TURN_508, flow.capacity_508)):
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
        find(ids.CAPTURE_TURN_437, "turn", flow, host, _evidence(s, flow, obs, obs.detail), server=server,
             method=method, reason=reason, count=obs.count, packets=packets(obs),
             when=when(s, obs.first_time),
             explanation=_MISMATCH_ALLOCATE if method == "Allocate" else _MISMATCH_OTHER)
        refused = True
    if flow.unanswered_turn.count and not flow.methods and flow.count(Kind.STUN, flow.allocate_forward
                                                                        is False) == 0:
        obs = flow.unanswered_turn
        find(ids.CAPTURE_TURN_UNANSWERED, "turn", flow, host, _evidence(s, flow, obs, "unanswered"),
             server=server, count=obs.count, detail=obs.detail, packets=packets(obs),
             when=when(s, obs.first_time))
        refused = True
    if flow.transport == "tcp" and host not in _udp_turn_hosts(s):
        find(ids.CAPTURE_TURN_OVER_TCP, "turn", flow, host,
             [f"{flow.label}: first packet {flow.first_number}"],
             server=server, transport="TCP", detail=f"from {client}, first packet {flow.first_number}")
    for alloc in flow.allocations:
        label = f"allocation {alloc.relayed} (packet {alloc.number})"
        if (not refused and alloc.sent.count >= MIN_NO_DATA_SENT and not alloc.received.count
                and s.last_time - alloc.sent.first_time >= 1.0 and not flow.forbidden_403.count):
            find(ids.CAPTURE_TURN_NO_DATA_BACK, "turn", flow, host,
                 _evidence(s, flow, alloc.sent, f"{label}: data sent, none received"), server=server,
                 relayed=alloc.relayed, allocated=alloc.number, sent=alloc.sent.count,
                 first_sent=alloc.sent.numbers[0] if alloc.sent.numbers else "-")
        if not alloc.deleted and alloc.lifetime > 0 and s.last_time > alloc.expires + 1.0:
            last = alloc.refreshes[-1] if alloc.refreshes else None
            find(ids.CAPTURE_TURN_REFRESH_MISSING, "turn", flow, host,
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
    find(ids.CAPTURE_TURN_SERVER_STOPPED, "turn", flow, _host(server),
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


def _udp_turn_hosts(s: CaptureSummary) -> set[str]:
    """TURN servers to which a UDP Allocate succeeded in this capture."""
    return {_host(_server(f)) for f in s.flows if f.transport == "udp" and f.allocations}


def _tls_turn(s: CaptureSummary, find: _Find) -> int:
    """TLS over TCP to a port that also answered STUN/TURN in this capture's hosts, or to 5349/443 while
    the capture has TURN traffic: the client uses turns:. One finding per server endpoint."""
    hosts = turn_hosts(s)
    udp_hosts = _udp_turn_hosts(s)
    seen: set[str] = set()
    for connection in s.tls:
        flow = next((f for f in s.flows if f.index == connection.flow), None)
        server = connection.server
        if flow is None or server in seen or not hosts or (_host(server) not in hosts
                                                           and connection.server_port not in TURNS_PORTS):
            continue
        if _host(server) in udp_hosts:
            continue  # the client also has a UDP allocation there: TLS is not a fallback
        seen.add(server)
        find(ids.CAPTURE_TURN_OVER_TCP, "turn", flow, _host(server),
             [f"{flow.label}: TLS handshake at packet {flow.first_number}"], server=server, transport="TLS",
             detail=f"a TLS connection to {server}, a host that serves TURN in this capture, first packet "
                    f"{flow.first_number}")
    return len(seen)
