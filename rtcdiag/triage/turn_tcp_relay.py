"""The ``tcp-relay`` step of the TURN check (RFC 6062, only with --tcp-relay): TCP Allocate, Connect,
ConnectionBind and bytes both ways, client- and peer-initiated."""

from __future__ import annotations

from rtcdiag.addresses import PUBLIC_LIKE as PUBLIC_LIKE_SCOPES
from rtcdiag.addresses import parse_ip, scope_of
from rtcdiag.probes.turn_result import TcpRelayResult, TurnCheckResult
from rtcdiag.triage import ids
from rtcdiag.triage.judgement import StepState
from rtcdiag.triage.turn_errors import ERROR_CODE_FINDINGS
from rtcdiag.triage.turn_exchanges import TCP_RELAY_STEP, describe_exchange, parse_scope, reason_text
from rtcdiag.triage.turn_leg import Leg


def judge_tcp_relay(leg: Leg) -> None:
    """RFC 6062: TCP Allocate -> Connect to the local TCP echo peer -> ConnectionBind on a data connection ->
    bytes both ways. A 442 to the TCP Allocate means no RFC 6062; 446/447 are the Connect's own errors."""
    t, step = leg.t, TCP_RELAY_STEP
    if t.transport == "udp":
        leg.outcome(step, "TCP relays exist for TURN over TCP/TLS only (RFC 6062 §4.1): not checked over UDP",
                    state=StepState.SKIPPED)
        return
    r = t.tcp_relay
    if r is None:
        leg.outcome(step, "not run (the check ended before the TCP relay)", state=StepState.SKIPPED)
        return
    evidence = [describe_exchange(ex) for ex in r.steps]
    duration = r.duration_ms / 1000.0
    peer = r.peer or "?"
    released = "; released" if r.released else "; release failed" if r.released is False else ""
    if r.error_code is not None:
        request = r.error_step or "request"
        reason = reason_text(r.error_reason)
        answered = f"{request} was answered {r.error_code}{reason}"
        if r.error_code == 442 and request.startswith("TCP Allocate"):
            leg.add(step, ids.TURN_TCP_RELAY_UNSUPPORTED, f"{request} (REQUESTED-TRANSPORT TCP) was answered "
                    f"442{reason}", evidence)
        elif r.error_code == 447 and _peer_unreachable(leg.result, r.peer):
            leg.outcome(step, f"{answered}: the relay cannot reach the local TCP peer {peer} (not a public "
                        f"address), so this says nothing about the server", duration, StepState.UNDECIDED)
            return
        else:
            finding_id = ERROR_CODE_FINDINGS.get(r.error_code, ids.TURN_ERROR_OTHER)
            detail = f"{request} (RFC 6062, peer {peer})" if finding_id != ids.TURN_ERROR_OTHER else \
                f"{request} (RFC 6062, peer {peer}) was answered {r.error_code}{reason}"
            leg.add(step, finding_id, detail, evidence)
        leg.outcome(step, answered + released, duration)
        return
    if not r.allocated:
        why = r.error or "the TCP Allocate got no answer"
        leg.add(step, ids.TURN_ALLOCATE_TIMEOUT, f"TCP Allocate request (RFC 6062): {why}", evidence)
        leg.outcome(step, why, duration)
        return
    if r.local_error is not None:
        leg.outcome(step, r.local_error + released, duration, StepState.UNDECIDED)
        return
    sent, back = r.chunks_sent, r.chunks_echoed
    if r.error is not None or not r.bound or not sent or back < sent:
        parts = [r.error] if r.error else []
        if r.bound and sent:
            parts.append(f"{back}/{sent} chunk(s) came back intact ({r.bytes_received}/{r.bytes_sent} "
                         f"bytes{f', {r.corrupted} altered' if r.corrupted else ''})")
        detail = "; ".join(parts) or "no bytes went through"
        leg.add(step, ids.TURN_TCP_RELAY_FAILED, detail, [*evidence, detail], peer=peer)
        leg.outcome(step, detail + released, duration)
        return
    rtt = f", rtt avg {r.rtt_avg_ms} ms" if r.rtt_avg_ms is not None else ""
    incoming = ""
    if r.incoming is not None:
        failed = _incoming_failure(r.incoming)
        if failed is not None:
            detail = f"peer-initiated connection (ConnectionAttempt, RFC 6062 §4.5): {failed}"
            leg.add(step, ids.TURN_TCP_RELAY_FAILED, detail,
                    [*evidence, *(describe_exchange(ex) for ex in r.incoming.steps), detail], peer=peer)
            leg.outcome(step, f"client-initiated: {back}/{sent} chunk(s) echoed intact; {detail}{released}",
                        duration)
            return
        incoming = f"; peer-initiated (ConnectionAttempt, connection id {r.incoming.connection_id}): " \
                   f"{r.incoming.chunks_echoed}/{r.incoming.chunks_sent} chunk(s) echoed intact"
    leg.outcome(step, f"TCP relay {r.relayed_address} to peer {peer} (connection id {r.connection_id}): "
                f"{back}/{sent} chunk(s), {r.bytes_received} bytes echoed intact{rtt}{incoming}{released}",
                duration)


def _incoming_failure(r: TcpRelayResult) -> str | None:
    """Why the peer-initiated direction failed, or None when its chunks all came back intact."""
    if r.error_code is not None:
        return f"{r.error_step or 'request'} was answered {r.error_code}" + \
            reason_text(r.error_reason)
    if r.error is not None:
        return r.error
    if not r.bound or not r.chunks_sent or r.chunks_echoed < r.chunks_sent:
        return f"{r.chunks_echoed}/{r.chunks_sent} chunk(s) came back intact" + \
            (f" ({r.corrupted} altered)" if r.corrupted else "")
    return None


def _peer_unreachable(result: TurnCheckResult, peer: str | None) -> bool:
    """A public server cannot open a TCP connection to a local peer behind NAT (no hole to punch)."""
    if peer is None or parse_scope(result.server_scope) not in PUBLIC_LIKE_SCOPES:
        return False
    ip = parse_ip(peer.rpartition(":")[0].strip("[]"))
    return ip is None or scope_of(ip) not in PUBLIC_LIKE_SCOPES
