"""The ``refresh`` step of the TURN check: Refresh, then the release (Refresh LIFETIME=0, RFC 8656 §8)."""

from __future__ import annotations

from rtcdiag.probes.record import Outcome
from rtcdiag.probes.turn_result import TransportResult
from rtcdiag.triage import ids
from rtcdiag.triage.judgement import StepState
from rtcdiag.triage.turn_exchanges import (
    describe_exchange,
    exchanges_of,
    final_exchanges,
    retried_note,
    rtt_s,
    unverified_detail,
)
from rtcdiag.triage.turn_leg import Leg, report_not_sent, report_server_stop


def judge_refresh(leg: Leg) -> None:
    t = leg.t
    exchanges = exchanges_of(t, "refresh")
    duration = rtt_s(exchanges)
    if leg.stopped is not None and leg.stopped.step == "refresh":
        report_server_stop(leg, "refresh", duration + leg.elapsed_left_s())
        return
    if t.refreshed is None and t.released is None:
        leg.outcome("refresh", "not run (the check ended before the Refresh)", state=StepState.SKIPPED)
        return
    finals = final_exchanges(exchanges)
    not_sent = next((ex for ex in finals if ex.outcome == Outcome.NOT_SENT), None)
    if not_sent is not None:
        report_not_sent(leg, "refresh", not_sent, [describe_exchange(ex) for ex in finals])
        leg.outcome("refresh", not_sent.error or "request not sent", duration)
        return
    unsigned = [ex for ex in finals if ex.outcome == Outcome.REJECTED and ex.unverified_count]
    if unsigned:
        for ex in unsigned:
            leg.add("refresh", ids.TURN_RESPONSE_NO_INTEGRITY, unverified_detail(ex),
                    [describe_exchange(e) for e in exchanges])
        leg.outcome("refresh", "; ".join(f"{ex.step}: only {ex.unverified_response} without valid "
                                         "MESSAGE-INTEGRITY" for ex in unsigned), duration)
        return
    if t.refreshed and t.refresh_lifetime_s == 0 and t.refresh_requested_s:
        # RFC 8656 §7.3: the LIFETIME of a Refresh success is what is left; 0 means the allocation is gone.
        answer = next((ex for ex in reversed(finals) if ex.step == "refresh"), None)
        detail = f"Refresh asking for LIFETIME {t.refresh_requested_s} s was answered with a success " \
                 "carrying LIFETIME 0: the server deleted the allocation"
        leg.add("refresh", ids.TURN_REFRESH_LIFETIME_ZERO, detail,
                [describe_exchange(answer)] if answer is not None else None)
        leg.outcome("refresh", "the Refresh success says LIFETIME 0: allocation deleted (no release needed)",
                    duration)
        return
    if t.refreshed is False or t.released is False:
        failed = [describe_exchange(ex) for ex in finals if ex.outcome != Outcome.SUCCESS]
        if t.released is False and not any(ex.step.startswith("refresh (release") for ex in finals):
            failed.append("release (Refresh LIFETIME=0): no answer in time")
        what = "; ".join(failed) or "Refresh failed"
        leg.add("refresh", ids.TURN_REFRESH_FAILED, what, failed or None)
        leg.outcome("refresh", what, duration)
        return
    parts = []
    if t.refreshed:
        parts.append(f"refreshed{_refresh_lifetime(t)}")
    if t.released:
        parts.append("released with LIFETIME=0")
    leg.outcome("refresh", ", ".join(parts) + retried_note(exchanges), duration)


def _refresh_lifetime(t: TransportResult) -> str:
    """What the Refresh success granted; lower than asked is the server's right (RFC 8656 §7.3: capped by
    its maximum) and only recorded."""
    got, asked = t.refresh_lifetime_s, t.refresh_requested_s
    if got is None:
        return " (no LIFETIME in the success)"
    if asked is not None and 0 < got < asked:
        return f" (lifetime {got} s of {asked} s asked: capped by the server, RFC 8656 §7.3)"
    return f" (lifetime {got} s)"
