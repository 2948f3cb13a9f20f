"""The ``allocate`` step of the TURN check: the authenticated Allocate (a 438 Stale Nonce retried once is
judged on the retry)."""

from __future__ import annotations

from rtcdiag.probes.record import Outcome
from rtcdiag.triage import ids
from rtcdiag.triage.failures import failure_id
from rtcdiag.triage.judgement import StepState
from rtcdiag.triage.turn_errors import report_error_code
from rtcdiag.triage.turn_exchanges import (
    AUTH_STEP,
    answer_text,
    describe_exchange,
    exchanges_of,
    retried_note,
    rtt_s,
    unverified_detail,
)
from rtcdiag.triage.turn_leg import Leg, report_not_sent
from rtcdiag.triage.turn_redirect import report_redirect


def judge_allocate(leg: Leg) -> None:
    t = leg.t
    auth = exchanges_of(t, AUTH_STEP)
    duration = rtt_s(auth)
    final = auth[-1] if auth else None
    if t.open_relay:
        leg.outcome("allocate", f"open relay: allocated {t.relayed_address or '?'} without credentials",
                    duration)
        return
    if report_redirect(leg, "allocate", auth, duration):
        return
    userhash = f"; {t.userhash_error}" if t.userhash_error else ""
    if t.allocated:
        algorithm = t.auth_algorithm or "md5"
        lifetime = f", lifetime {t.lifetime_s} s" if t.lifetime_s is not None else ""
        leg.outcome("allocate", f"allocated ({algorithm}{', USERHASH' if t.userhash else ''}{lifetime})"
                    f"{retried_note(auth)}{userhash}", duration)
        return
    if final is not None and final.outcome == Outcome.ERROR_RESPONSE:
        report_error_code(leg, "allocate", final)
        leg.outcome("allocate",
                    f"the Allocate was answered {answer_text(final)}{retried_note(auth)}{userhash}", duration)
        leg.stop(f"no allocation: the Allocate was answered {answer_text(final)}")
        return
    if final is not None and final.outcome == Outcome.NOT_SENT:
        # What the server asked us to echo could not be sent: a 438's unusable NONCE, or a request that the
        # echoed attributes (NONCE, REALM, PASSWORD-ALGORITHMS) make larger than the transport carries.
        text = final.error or "request not sent"
        report_not_sent(leg, "allocate", final, [describe_exchange(ex) for ex in t.steps])
        leg.outcome("allocate", text, duration)
        leg.stop(f"no allocation: {text}")
        return
    if final is not None and final.outcome == Outcome.REJECTED and final.unverified_count:
        leg.add("allocate", ids.TURN_RESPONSE_NO_INTEGRITY, unverified_detail(final),
                [describe_exchange(ex) for ex in t.steps])
        what = f"{final.unverified_response} without valid MESSAGE-INTEGRITY: discarded, not an allocation"
        leg.outcome("allocate", what, duration + leg.elapsed_left_s())
        leg.stop("no trusted allocation: the Allocate success was not integrity-protected")
        return
    if final is not None and final.outcome in (Outcome.TIMEOUT, Outcome.REJECTED):
        why = t.timed_out_step or "authenticated Allocate request"
        leg.add("allocate", ids.TURN_ALLOCATE_TIMEOUT, why, [describe_exchange(ex) for ex in t.steps]
                + final.rejected[:5])
        leg.outcome("allocate", why, duration + leg.elapsed_left_s())
        leg.stop("no allocation: the authenticated Allocate got no answer")
        return
    if final is not None and final.outcome == Outcome.TRANSPORT_ERROR:
        text = final.error or "connection lost"
        finding_id = failure_id(final.error_kind)
        if finding_id in (ids.SERVER_UNREACHABLE, ids.SERVER_REFUSED):
            finding_id = ids.TURN_ALLOCATE_TIMEOUT  # it answered the challenge: the service, not the path
        leg.add("allocate", finding_id, f"authenticated Allocate request ({text})")
        leg.outcome("allocate", text, duration)
        leg.stop(f"no allocation: {text}")
        return
    if not t.connected and t.connect_error:  # e.g. the alternate server could not be reached
        leg.add("allocate", failure_id(t.failure_kind), t.connect_error)
        leg.outcome("allocate", t.connect_error, duration)
        leg.stop(f"no allocation: {t.connect_error}")
        return
    leg.outcome("allocate", "no authenticated Allocate was answered", duration, state=StepState.UNDECIDED)
    leg.stop("no allocation")
