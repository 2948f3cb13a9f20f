"""The ``data-send-indication`` / ``data-channel-data`` steps of the TURN check: packets echoed through the
relay (RFC 8656 §11, §12), judged apart from floods and the tool's own drops."""

from __future__ import annotations

from rtcdiag.addresses import AddressScope
from rtcdiag.probes.record import Outcome
from rtcdiag.probes.turn_result import METHOD_CHANNEL, METHOD_INDICATION, DataPathResult, TransportResult
from rtcdiag.triage import ids
from rtcdiag.triage.failures import FLOOD_MIN_REPLIES, FLOOD_PER_REQUEST
from rtcdiag.triage.judgement import StepState
from rtcdiag.triage.turn_errors import ERROR_CODE_FINDINGS
from rtcdiag.triage.turn_exchanges import (
    DATA_METHOD_LABEL,
    answer_text,
    describe_exchange,
    final_exchanges,
    retried_note,
    rtt_s,
    unverified_detail,
)
from rtcdiag.triage.turn_leg import Leg, Rule, report_not_sent, report_server_stop


def data_rule(method: str) -> Rule:
    step = "data-" + method

    def rule(leg: Leg) -> None:
        t = leg.t
        dp = t.data_path(method)
        if dp is None:
            reason = "--no-peer-test: no data sent through the relay" if not leg.result.peer_test else \
                "not run (the check ended before the data path)"
            leg.outcome(step, reason, state=StepState.SKIPPED)
            return
        if dp.local_error is not None:  # this machine cannot host a peer of the relay's family
            leg.outcome(step, dp.local_error, state=StepState.UNDECIDED)
            return
        _data_path(leg, step, dp)
    return rule


def _data_path(leg: Leg, step: str, dp: DataPathResult) -> None:
    label = DATA_METHOD_LABEL.get(dp.method, dp.method)
    finals = final_exchanges(dp.steps)
    evidence = [*(describe_exchange(ex) for ex in dp.steps), _data_line(dp)]
    duration = _data_span_s(leg.t, dp)
    if leg.stopped is not None and leg.stopped.step == step:
        report_server_stop(leg, step, duration)
        return
    unsigned = next((ex for ex in finals if ex.outcome == Outcome.REJECTED and ex.unverified_count), None)
    if unsigned is not None:
        leg.add(step, ids.TURN_RESPONSE_NO_INTEGRITY, f"{unverified_detail(unsigned)} (peer {dp.peer})",
                evidence)
        if not unsigned.unverified_success or not dp.packets_sent:
            leg.outcome(step, f"{unsigned.request}: only {unsigned.unverified_response} without valid "
                        "MESSAGE-INTEGRITY", duration)
            return
        finals = [ex for ex in finals if ex is not unsigned]  # packets were sent anyway: judge them too
    refused = next((ex for ex in finals if ex.outcome == Outcome.ERROR_RESPONSE), None)
    if refused is not None:
        finding_id = ERROR_CODE_FINDINGS.get(refused.error_code or 0, ids.TURN_ERROR_OTHER)
        detail = f"{refused.request} for peer {dp.peer}" if finding_id != ids.TURN_ERROR_OTHER else \
            f"{refused.request} for peer {dp.peer} was answered {refused.response}"
        leg.add(step, finding_id, detail, evidence)
        leg.outcome(step, f"{refused.request} was answered {answer_text(refused)}{retried_note(dp.steps)}",
                    duration)
        return
    not_sent = next((ex for ex in finals if ex.outcome == Outcome.NOT_SENT), None)
    if not_sent is not None:  # e.g. a 438 whose new NONCE cannot be echoed: the server's doing, not the relay
        report_not_sent(leg, step, not_sent, evidence)
        leg.outcome(step, not_sent.error or "request not sent", duration)
        return
    unanswered = next((ex for ex in finals if ex.outcome != Outcome.SUCCESS), None)
    lost = dp.packets_sent - dp.packets_received
    if unanswered is None and dp.error is None and flooded(dp):
        # Packets nobody sent filled the client's inbox: echoes missing now say nothing about the relay.
        extra = f", {dp.dropped_packets} dropped: the client's inbox was full" if dp.dropped_packets else ""
        leg.add(step, ids.REPLY_FLOOD, f"{dp.unexpected_packets} packet(s) nobody sent came in via {label} "
                f"while {dp.packets_sent} were sent{extra}", evidence)
        if dp.packets_received < dp.packets_sent:
            leg.outcome(step, f"undecided under a flood: {_data_line(dp)}", duration,
                        state=StepState.UNDECIDED)
            return
    elif unanswered is None and dp.error is None and lost > 0 and dp.tool_drops:
        # The tool dropped packets itself (full socket buffer or inbox): what is missing may be its own
        # doing, so the loss says nothing about the relay or the network.
        why = f"{lost} of {dp.packets_sent} packet(s) missing, but rtcdiag itself dropped " \
              f"{_tool_drops(dp)}: the loss cannot be told apart from the tool's own"
        leg.outcome(step, why, duration, state=StepState.UNDECIDED)
        return
    elif unanswered is not None or dp.error is not None or (dp.packets_sent and not dp.packets_received):
        if unanswered is not None:
            why = f"{unanswered.request} got {unanswered.error or unanswered.outcome}"
        else:
            why = dp.error or f"{dp.packets_sent} packet(s) sent, none came back"
        other = _indications_flowed(leg, dp)
        if unanswered is None and dp.error is None and other is not None:
            # The same allocation relayed Send/Data to the same peer: the relay path works, ChannelData
            # alone is not relayed (RFC 8656 §12.6): the server's fault, not a firewall's.
            waited = f" (late echoes awaited {dp.late_wait_s:g} s more)" if dp.late_wait_s else ""
            leg.add(step, ids.TURN_CHANNELDATA_NOT_RELAYED,
                    f"ChannelBind for peer {dp.peer} was answered with a success, but {why}{waited}, while "
                    f"{_data_line(other)}",
                    [*evidence, _data_line(other)])
            leg.outcome(step, f"{why}; Send/Data on the same allocation worked", duration)
            return
        leg.add(step, ids.TURN_NO_DATA, f"via {label} to peer {dp.peer}: {why}", evidence)
        leg.outcome(step, why, duration)
        return
    if dp.packets_sent and dp.packets_received < dp.packets_sent and not flooded(dp):
        detail = f"via {label}: {dp.loss_pct}% loss ({dp.packets_received}/{dp.packets_sent} came back)" \
            f"{_where_lost(leg)}"
        leg.add(step, ids.TURN_DATA_LOSS, detail, evidence)
    leg.outcome(step, _data_line(dp) + retried_note(dp.steps), duration)


def _where_lost(leg: Leg) -> str:
    """Where packets missing over TCP/TLS can have gone (the tool's own drops are already ruled out): the
    client's leg is a stream and loses nothing (RFC 9293 §3.10), so never "the network" between the client and
    the server; with the server on this machine, its relay leg to the echo peer is on loopback too."""
    if leg.t.transport == "udp":
        return ""
    if leg.result.server_scope == AddressScope.LOOPBACK.value:
        return (f"; over {leg.t.transport.upper()} to a server on this machine no network is in between: the "
                "server dropped them (coturn `max-bps`?) or held them longer than rtcdiag waited")
    return (f"; over {leg.t.transport.upper()} nothing is lost between the client and the server: they were "
            "lost at the server or between its relay and the echo peer")


def flooded(dp: DataPathResult) -> bool:
    """Far more packets nobody asked for than were sent (a reply flood). A full inbox alone is the tool's own
    drop (see _tool_drops): with pacing, the echoes of what was sent cannot fill it."""
    return dp.unexpected_packets >= FLOOD_MIN_REPLIES \
        and dp.unexpected_packets > FLOOD_PER_REQUEST * max(dp.packets_sent, 1)


def _tool_drops(dp: DataPathResult) -> str:
    parts = [f"{n} {what}" for n, what in ((dp.socket_drops, "in a full socket receive buffer"),
                                           (dp.dropped_packets, "in a full inbox"),
                                           (dp.send_drops, "in a full send buffer")) if n]
    return ", ".join(parts)


def _data_span_s(t: TransportResult, dp: DataPathResult) -> float:
    """Wall time of one data path: from its first control request to the next request of the probe (the
    other method's, or the Refresh), from the probe's own timestamps; else control RTTs + slowest echo."""
    if dp.steps:
        start = dp.steps[0].started_ms
        others = [*t.steps, *(ex for other in t.data_paths if other is not dp for ex in other.steps)]
        later = [ex.started_ms for ex in others if ex.started_ms > start]
        if later:
            return (min(later) - start) / 1000.0
    return rtt_s(dp.steps) + (max(dp.rtts_ms) / 1000.0 if dp.rtts_ms else 0.0)


def _data_line(dp: DataPathResult) -> str:
    rtt = f", rtt min/avg/max {dp.rtt_min_ms}/{dp.rtt_avg_ms}/{dp.rtt_max_ms} ms" if dp.rtts_ms else ""
    extra = [f"{n} {what}" for n, what in ((dp.unexpected_packets, "unexpected packet(s) ignored"),
                                           (dp.dropped_packets, "packet(s) dropped: client inbox full"),
                                           (dp.socket_drops, "packet(s) dropped by rtcdiag's own full "
                                                             "socket receive buffer"),
                                           (dp.send_drops, "packet(s) not sent: rtcdiag's send buffer full"))
             if n]
    more = f" ({', '.join(extra)})" if extra else ""
    return f"{DATA_METHOD_LABEL.get(dp.method, dp.method)}: {dp.packets_received}/{dp.packets_sent} " \
           f"echoed back via the relay{rtt}{more}"


def _indications_flowed(leg: Leg, dp: DataPathResult) -> DataPathResult | None:
    """For a ChannelData path: the Send/Data path of the same allocation and peer, when it got echoes."""
    if dp.method != METHOD_CHANNEL or leg.stopped is not None:
        return None  # after the server went silent a missing echo proves nothing about channels
    other = leg.t.data_path(METHOD_INDICATION)
    return other if other is not None and other.peer == dp.peer and other.packets_received else None
