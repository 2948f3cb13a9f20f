"""The ``challenge`` step of the TURN check: the unauthenticated Allocate, which must get a 401 with REALM
and NONCE (RFC 8656 §7.2)."""

from __future__ import annotations

from rtcdiag.probes.record import ErrorKind, Exchange, Outcome, Redirect
from rtcdiag.redact import echo
from rtcdiag.triage import ids
from rtcdiag.triage.failures import failure_id
from rtcdiag.triage.judgement import StepState
from rtcdiag.triage.turn_connect import stun_only
from rtcdiag.triage.turn_errors import report_error_code
from rtcdiag.triage.turn_exchanges import (
    UNAUTH_STEP,
    answer_text,
    describe_exchange,
    exchanges_of,
    rejected_count,
    rtt_s,
)
from rtcdiag.triage.turn_leg import Leg
from rtcdiag.triage.turn_redirect import redirect_text, report_redirect


def judge_challenge(leg: Leg) -> None:
    t = leg.t
    unauth = exchanges_of(t, UNAUTH_STEP)
    duration = rtt_s(unauth)
    final = unauth[-1] if unauth else None
    if t.open_relay:
        leg.add("challenge", ids.TURN_OPEN_RELAY, t.relayed_address or "?")
        leg.outcome("challenge", "allocated without credentials", duration)
        return
    if final is None:
        leg.outcome("challenge", "no Allocate request was sent", state=StepState.UNDECIDED)
        leg.stop("no Allocate request was sent")
        return
    if final.outcome not in (Outcome.SUCCESS, Outcome.ERROR_RESPONSE):
        _unanswered_challenge(leg, final, len(unauth) > 1 and t.alternate_server is not None)
        return
    if report_redirect(leg, "challenge", unauth, duration):
        return
    code = t.challenge_code
    if final.error_code == 300 and t.redirect is Redirect.FOLLOWED and t.connect_error:
        # followed, but could not connect there
        text = t.connect_error or "connection failed"
        leg.add("challenge", failure_id(t.failure_kind),
                f"alternate server {t.alternate_server}: {text}", server=t.alternate_server)
        leg.outcome("challenge", f"redirected to {t.alternate_server}: {text}", duration)
        leg.stop(f"the alternate server {t.alternate_server} could not be reached: {text}")
        return
    if final.outcome == Outcome.ERROR_RESPONSE and final.error_code != 401:
        report_error_code(leg, "challenge", final)
        leg.outcome("challenge", f"the unauthenticated Allocate was answered {answer_text(final)}", duration)
        leg.stop(f"the unauthenticated Allocate was answered {answer_text(final)}")
        return
    if code == 401 and t.challenge_problem is not None and not t.authenticated:  # the first 401 itself
        # RFC 8489 §14.9/§14.10: a REALM/NONCE that cannot be echoed; no authenticated request was sent.
        leg.add("challenge", ids.TURN_CHALLENGE_UNUSABLE, t.challenge_problem)
        leg.outcome("challenge", f"401 challenge that cannot be answered: {t.challenge_problem}", duration)
        leg.stop(f"the 401 challenge cannot be answered ({t.challenge_problem}): nothing was authenticated")
        return
    if code == 401 and (t.realm is None or not t.nonce_seen):
        missing = " and ".join(n for n, gone in (("REALM", t.realm is None), ("NONCE", not t.nonce_seen))
                               if gone)
        leg.add("challenge", ids.TURN_CHALLENGE_INVALID, f"401 without {missing}")
        leg.outcome("challenge", f"401 without {missing}", duration)
        leg.stop(f"the 401 challenge has no {missing}: the Allocate cannot be authenticated")
        return
    algorithms = f", PASSWORD-ALGORITHMS {','.join(t.password_algorithms)}" if t.password_algorithms else ""
    detail = f"401 challenge with realm {echo(repr(t.realm))} and a nonce{algorithms}"
    if code == 401 and t.redirect is Redirect.CREDENTIALS_WITHHELD:
        leg.add("challenge", ids.TURN_REDIRECT_REALM, redirect_text(t),
                [describe_exchange(ex) for ex in unauth])
        leg.outcome("challenge", f"{detail}; credentials withheld: {t.redirect_detail}", duration,
                    state=StepState.UNDECIDED)
        leg.stop(f"credentials withheld from the alternate server {t.alternate_server}")
        return
    if code == 401 and not t.authenticated:
        leg.add("challenge", ids.TURN_NO_CREDENTIALS, echo(repr(t.realm)))
        leg.outcome("challenge", detail, duration)
        leg.stop(f"no credentials given: the server asks for them (realm {echo(repr(t.realm))})")
        return
    leg.outcome("challenge", detail, duration)


def _unanswered_challenge(leg: Leg, final: Exchange, at_alternate: bool) -> None:
    """The (first) Allocate got no STUN answer although the server was reached (stream) or answered (UDP)."""
    t = leg.t
    what = {Outcome.TIMEOUT: f"no reply to {final.attempts} request(s)", Outcome.REJECTED:
            f"{rejected_count(final)} reply(ies) were not valid STUN"}.get(final.outcome,
                                                                           final.error or final.outcome)
    evidence = [describe_exchange(ex) for ex in t.steps] + final.rejected[:5]
    waited = leg.elapsed_left_s() if final.outcome == Outcome.TIMEOUT else 0.0
    duration = rtt_s(exchanges_of(t, UNAUTH_STEP)) + waited
    if at_alternate:  # the ALTERNATE-SERVER we were sent to did not answer
        leg.add("challenge", ids.TURN_ALTERNATE_SERVER, t.alternate_server or "?", evidence)
        kind = final.error_kind if final.outcome == Outcome.TRANSPORT_ERROR else None
        finding_id = ids.MALFORMED_REPLY if final.outcome == Outcome.REJECTED else \
            failure_id(kind)
        leg.add("challenge", finding_id, f"alternate server {t.alternate_server}: {what}", evidence,
                server=t.alternate_server or t.server)
    elif stun_only(t) and t.binding_probe is not None:  # the Binding alongside was answered
        probe = t.binding_probe
        leg.add("challenge", ids.TURN_STUN_ONLY, f"{probe.response}, in {probe.rtt_ms} ms",
                [describe_exchange(probe), *evidence])
    elif final.error_kind == ErrorKind.SLOW_REPLY:  # the answer was dripping in when the time ran out
        leg.add("challenge", ids.SERVER_SLOW_REPLY, final.error or "the reply came too slowly", evidence)
    elif t.transport in ("tcp", "tls"):
        said = {Outcome.TIMEOUT: "an Allocate request got no reply",
                Outcome.REJECTED: "the replies to an Allocate request were not STUN"}.get(
            final.outcome, f"an Allocate request ended the connection ({final.error or final.outcome})")
        after = "the TLS handshake completed" if t.transport == "tls" else "the TCP connection was accepted"
        leg.add("challenge", ids.PORT_NOT_STUN, f"{said} after {after}", evidence)
    elif final.outcome == Outcome.REJECTED:
        leg.add("challenge", ids.MALFORMED_REPLY, f"{rejected_count(final)} reply(ies) rejected: "
                + "; ".join(final.rejected[:3]), evidence)
    else:
        leg.add("challenge", ids.SERVER_UNREACHABLE, what, evidence)
    leg.outcome("challenge", what, duration)
    leg.stop(f"no STUN answer to the Allocate request ({what})")
